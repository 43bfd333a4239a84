//! Bringing a lab up, or to its spec when it already runs: hosts that run as specified are
//! kept untouched (so `up` on a running lab changes nothing), missing or dead hosts are made,
//! hosts no longer in the spec are removed. A host whose definition changed is reported, not
//! remade: that would lose what was deployed on it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use strata_sys::ProcessId;

use crate::host::NewHost;
use crate::journal::Journal;
use crate::spec::LabSpec;
use crate::state::{HostState, LabRecord, LabState};
use crate::{io, LabError};

pub struct UpOptions {
    /// Size of each sparse OSD disk file.
    pub disk_size: u64,
    /// The command that runs the WAN router (`strata lab wan-router`), given its config path.
    pub router_command: Vec<String>,
    /// Hosts made at once.
    pub parallel: usize,
}

#[derive(Debug, Default)]
pub struct UpReport {
    pub created: Vec<String>,
    pub kept: Vec<String>,
    pub removed: Vec<String>,
    /// Hosts that run but differ from the spec, and how.
    pub differ: Vec<(String, String)>,
    pub seconds: f64,
    pub ssh_config: PathBuf,
}

/// Brings the lab for `spec` up on image `image_key` (root filesystem `rootfs`).
pub fn up(
    home: &Path,
    spec: &LabSpec,
    image_key: &str,
    rootfs: &Path,
    options: &UpOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<UpReport, LabError> {
    let started = Instant::now();
    let lab = LabState::new(home, &spec.name);
    std::fs::create_dir_all(&lab.dir).map_err(io("creating", &lab.dir))?;
    std::fs::set_permissions(&lab.dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io("chmod", &lab.dir))?;
    let journal = Journal::open(&lab.dir);
    let previous = lab.load();
    let deployer_key = crate::ssh::deployer_key(&lab)?;

    let router = previous.as_ref().and_then(|p| {
        p.router
            .map(|(pid, start_time)| (ProcessId { pid, start_time }, p.spec.sites == spec.sites))
    });
    let router = crate::net::fabric(&lab, &journal, spec, router, &options.router_command)?;

    let mut report = UpReport::default();
    let mut hosts: Vec<HostState> = Vec::new();
    let mut to_make = Vec::new();
    let old: Vec<HostState> = previous
        .as_ref()
        .map(|p| p.hosts.clone())
        .unwrap_or_default();
    for host in &spec.hosts {
        match old.iter().find(|h| h.name == host.name) {
            Some(h) if h.process().is_alive() => {
                let mut changes = Vec::new();
                if h.ip != host.ip {
                    changes.push(format!("address {} -> {}", h.ip, host.ip));
                }
                if h.site != host.site {
                    changes.push(format!("site {} -> {}", h.site, host.site));
                }
                if h.disks != host.disks {
                    changes.push("disks".to_owned());
                }
                let provider = |spec: &LabSpec| {
                    spec.site(&host.site)
                        .and_then(|s| s.provider.as_ref())
                        .map(|p| p.interface.clone())
                };
                let had = previous.as_ref().and_then(|p| provider(&p.spec));
                if had != provider(spec) {
                    changes.push(format!(
                        "provider interface {} -> {}",
                        had.as_deref().unwrap_or("none"),
                        provider(spec).as_deref().unwrap_or("none")
                    ));
                }
                if h.image != image_key {
                    changes.push(format!("image {} -> {image_key}", h.image));
                }
                if !changes.is_empty() {
                    report.differ.push((host.name.clone(), changes.join(", ")));
                }
                report.kept.push(host.name.clone());
                hosts.push(h.clone());
            }
            Some(h) => {
                progress(&format!(
                    "host {} is not running: making it again",
                    host.name
                ));
                crate::down::remove_host(&lab, &host.name, Some(h.process()))?;
                to_make.push(host);
            }
            None => {
                if crate::net::netns_exists(&lab.host_netns(&host.name))
                    || lab.host_dir(&host.name).exists()
                {
                    // Left half-made by an interrupted `up`.
                    crate::down::remove_host(&lab, &host.name, None)?;
                }
                to_make.push(host);
            }
        }
    }
    for h in old
        .iter()
        .filter(|h| spec.hosts.iter().all(|s| s.name != h.name))
    {
        progress(&format!(
            "host {} is no longer in the spec: removing it",
            h.name
        ));
        crate::down::remove_host(&lab, &h.name, Some(h.process()))?;
        report.removed.push(h.name.clone());
    }

    // Make the missing hosts, a few at a time.
    let queue = Mutex::new(to_make.into_iter());
    let made = Mutex::new(Vec::new());
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..options.parallel.max(1) {
            s.spawn(|| loop {
                let Some(host) = queue.lock().unwrap_or_else(|e| e.into_inner()).next() else {
                    break;
                };
                let t = Instant::now();
                let new = NewHost {
                    lab: &lab,
                    spec,
                    host,
                    image_key,
                    rootfs,
                    deployer_key: &deployer_key,
                    disk_size: options.disk_size,
                };
                match crate::host::create(&new, &journal) {
                    Ok(state) => {
                        progress(&format!(
                            "host {} up at {} ({:.1} s)",
                            host.name,
                            host.ip,
                            t.elapsed().as_secs_f64()
                        ));
                        made.lock().unwrap_or_else(|e| e.into_inner()).push(state);
                    }
                    Err(e) => failures.lock().unwrap_or_else(|e| e.into_inner()).push(e),
                }
            });
        }
    });
    let mut made = made.into_inner().unwrap_or_else(|e| e.into_inner());
    report.created = made.iter().map(|h| h.name.clone()).collect();
    hosts.append(&mut made);
    hosts.sort_by_key(|h| spec.hosts.iter().position(|s| s.name == h.name));
    let record = LabRecord {
        spec: spec.clone(),
        image: image_key.to_owned(),
        hosts: hosts.clone(),
        router: router.map(|p| (p.pid, p.start_time)),
    };
    lab.save(&record)?;
    report.ssh_config = crate::ssh::write_client_files(&lab, &hosts)?;
    if let Some(first) = failures
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .next()
    {
        return Err(first);
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Restarts one host of a running lab (see `host::restart`): an orderly shutdown, then a boot
/// on the same root, disks and network, its new process journaled and recorded. `rootfs` is
/// the image the lab runs on.
pub fn restart(home: &Path, lab_name: &str, node: &str, rootfs: &Path) -> Result<(), LabError> {
    let lab = LabState::new(home, lab_name);
    let mut record = lab
        .load()
        .ok_or_else(|| LabError::NoLab(lab_name.to_owned()))?;
    let Some(i) = record.hosts.iter().position(|h| h.name == node) else {
        return Err(LabError::NoNode {
            lab: lab_name.to_owned(),
            node: node.to_owned(),
            known: record
                .hosts
                .iter()
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let journal = Journal::open(&lab.dir);
    let process = crate::host::restart(&lab, &journal, &record.hosts[i], rootfs)?;
    record.hosts[i].pid = process.pid;
    record.hosts[i].start_time = process.start_time;
    lab.save(&record)
}
