//! Taking a lab (or one host) down: stop the processes it started (by recorded identity,
//! SIGTERM then SIGKILL), kill anything still inside its namespaces (only the lab's processes
//! can be there), delete its namespaces, remove its directories. Driven by the journal, so a
//! half-made lab comes down too; anything missing already is skipped.

use std::time::{Duration, Instant};

use strata_sys::ProcessId;

use crate::journal::{Journal, Resource};
use crate::state::LabState;
use crate::{io, LabError};

const STOP_GRACE: Duration = Duration::from_secs(20);

/// Stops processes: SIGTERM (systemd-nspawn then shuts its container down cleanly), wait,
/// then SIGKILL whatever is left.
fn stop(processes: &[ProcessId]) {
    for p in processes {
        p.signal(libc::SIGTERM);
    }
    let deadline = Instant::now() + STOP_GRACE;
    while processes.iter().any(ProcessId::is_alive) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for p in processes {
        p.signal(libc::SIGKILL);
    }
}

/// Kills whatever still runs inside a namespace, then deletes it.
fn delete_netns(name: &str) -> Result<(), LabError> {
    let Some(inode) = strata_sys::netns_inode(name) else {
        return Ok(());
    };
    let inside = strata_sys::processes_in_netns(inode);
    if !inside.is_empty() {
        for p in &inside {
            p.signal(libc::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while inside.iter().any(ProcessId::is_alive) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    crate::net::ip(&["netns", "del", name])?;
    Ok(())
}

/// Removes a cgroup and the cgroups systemd made inside it, deepest first, killing whatever
/// is still in them (only the host's processes can be).
fn remove_cgroup(path: &std::path::Path) -> Result<(), LabError> {
    if !path.exists() {
        return Ok(());
    }
    let children: Vec<_> = std::fs::read_dir(path)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    for child in children {
        remove_cgroup(&child)?;
    }
    let procs = || -> Vec<ProcessId> {
        std::fs::read_to_string(path.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .filter_map(ProcessId::of)
            .collect()
    };
    let inside = procs();
    for p in &inside {
        p.signal(libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !procs().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::remove_dir(path).map_err(io("removing cgroup", path))
}

fn remove_dir(path: &std::path::Path) -> Result<(), LabError> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("removing", path)(e)),
        _ => Ok(()),
    }
}

/// What `down` removed.
#[derive(Debug, Default)]
pub struct DownReport {
    pub processes: usize,
    pub namespaces: usize,
    pub directories: usize,
}

/// Takes the lab `name` under `home` down completely, and removes its state directory.
pub fn down(home: &std::path::Path, name: &str) -> Result<DownReport, LabError> {
    let lab = LabState::new(home, name);
    if !lab.exists() {
        return Err(LabError::NoLab(name.to_owned()));
    }
    let resources = Journal::open(&lab.dir).read();
    let mut report = DownReport::default();
    let processes: Vec<ProcessId> = resources
        .iter()
        .filter_map(|r| match r {
            Resource::Process {
                pid, start_time, ..
            } => Some(ProcessId {
                pid: *pid,
                start_time: *start_time,
            }),
            _ => None,
        })
        .collect();
    report.processes = processes.iter().filter(|p| p.is_alive()).count();
    stop(&processes);
    // Hosts before the fabric: reverse order of creation.
    for r in resources.iter().rev() {
        if let Resource::Netns(ns) = r {
            if crate::net::netns_exists(ns) {
                delete_netns(ns)?;
                report.namespaces += 1;
            }
        }
    }
    for r in resources.iter().rev() {
        if let Resource::Cgroup(path) = r {
            remove_cgroup(path)?;
        }
    }
    for r in resources.iter().rev() {
        if let Resource::Dir(path) = r {
            if path.exists() {
                remove_dir(path)?;
                report.directories += 1;
            }
        }
    }
    remove_dir(&lab.dir)?;
    Ok(report)
}

/// Takes one host down (a host removed from the spec, or a dead one being made again).
pub(crate) fn remove_host(
    lab: &LabState,
    host: &str,
    process: Option<ProcessId>,
) -> Result<(), LabError> {
    if let Some(p) = process {
        stop(&[p]);
    }
    delete_netns(&lab.host_netns(host))?;
    for cg in crate::host::host_cgroups(&lab.host_netns(host)) {
        remove_cgroup(&cg)?;
    }
    remove_dir(&lab.host_dir(host))
}
