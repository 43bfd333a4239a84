//! A lab's state directory (`<home>/labs/<name>/`): the journal, `lab.json` (the spec it was
//! made from, the image, and each host's process), SSH material, and per-host directories.
//! Also what `lab status` and `lab ssh` read.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strata_sys::ProcessId;

use crate::spec::LabSpec;
use crate::{io, LabError};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HostState {
    pub name: String,
    pub site: String,
    pub ip: IpAddr,
    pub image: String,
    pub pid: i32,
    pub start_time: u64,
    pub disks: Vec<String>,
}

impl HostState {
    pub fn process(&self) -> ProcessId {
        ProcessId {
            pid: self.pid,
            start_time: self.start_time,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LabRecord {
    pub spec: LabSpec,
    pub image: String,
    pub hosts: Vec<HostState>,
    /// The WAN router, when the lab has more than one site.
    pub router: Option<(i32, u64)>,
}

/// What `lab status` shows for a host.
#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    pub name: String,
    pub site: String,
    pub ip: IpAddr,
    pub running: bool,
    /// Memory of every process in the host, in bytes: the sum of their proportional set
    /// sizes, so that the hosts' figures add up to what the lab uses of the machine.
    pub memory_bytes: u64,
    pub processes: usize,
}

#[derive(Debug, Clone)]
pub struct LabState {
    pub name: String,
    pub dir: PathBuf,
}

impl LabState {
    pub fn new(home: &Path, name: &str) -> LabState {
        LabState {
            name: name.to_owned(),
            dir: home.join("labs").join(name),
        }
    }

    /// Every lab with a state directory under `home`.
    pub fn list(home: &Path) -> Vec<LabState> {
        let Ok(dir) = std::fs::read_dir(home.join("labs")) else {
            return Vec::new();
        };
        let mut labs: Vec<LabState> = dir
            .filter_map(Result::ok)
            .filter_map(|e| Some(LabState::new(home, e.file_name().to_str()?)))
            .collect();
        labs.sort_by(|a, b| a.name.cmp(&b.name));
        labs
    }

    pub fn exists(&self) -> bool {
        self.dir.exists()
    }

    /// The namespace holding the site bridges and the router.
    pub fn fabric_netns(&self) -> String {
        format!("strata.{}", self.name)
    }

    pub fn host_netns(&self, host: &str) -> String {
        format!("strata.{}.{host}", self.name)
    }

    pub fn host_dir(&self, host: &str) -> PathBuf {
        self.dir.join("hosts").join(host)
    }

    pub fn ssh_dir(&self) -> PathBuf {
        self.dir.join("ssh")
    }

    /// The ssh_config that reaches this lab's hosts: the deployer key, the pinned
    /// known_hosts, strict host key checking.
    pub fn ssh_config(&self) -> PathBuf {
        self.ssh_dir().join("config")
    }

    pub(crate) fn record_path(&self) -> PathBuf {
        self.dir.join("lab.json")
    }

    pub(crate) fn load(&self) -> Option<LabRecord> {
        serde_json::from_str(&std::fs::read_to_string(self.record_path()).ok()?).ok()
    }

    pub(crate) fn save(&self, record: &LabRecord) -> Result<(), LabError> {
        let path = self.record_path();
        let tmp = path.with_extension("json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_string_pretty(record).expect("lab record serializes"),
        )
        .map_err(io("writing", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("writing", &path))
    }

    pub fn hosts(&self) -> Vec<HostState> {
        self.load().map(|r| r.hosts).unwrap_or_default()
    }

    /// The image the lab's hosts run on.
    pub fn image(&self) -> Option<String> {
        self.load().map(|r| r.image)
    }

    pub fn status(&self) -> Vec<HostStatus> {
        self.hosts()
            .into_iter()
            .map(|h| {
                let running = h.process().is_alive();
                let inside = strata_sys::netns_inode(&self.host_netns(&h.name))
                    .map(strata_sys::processes_in_netns)
                    .unwrap_or_default();
                HostStatus {
                    running,
                    memory_bytes: inside.iter().filter_map(ProcessId::pss_bytes).sum(),
                    processes: inside.len(),
                    name: h.name,
                    site: h.site,
                    ip: h.ip,
                }
            })
            .collect()
    }

    /// The command that runs `ssh` to `node` (a login shell, or `command`), from inside the
    /// lab's network with its pinned host keys.
    /// Cuts the WAN link between two sites (`cut`), or restores it; `None` restores every
    /// link. The lab's WAN router rereads the list within 100 ms. Returns the links cut now.
    pub fn set_cut(
        &self,
        pair: Option<(&str, &str)>,
        cut: bool,
    ) -> Result<Vec<(String, String)>, LabError> {
        if !self.exists() {
            return Err(LabError::NoLab(self.name.clone()));
        }
        let file = self.dir.join("wan-cuts.json");
        let mut cuts: Vec<(String, String)> = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        match pair {
            Some((a, b)) => {
                let sites: std::collections::BTreeSet<String> =
                    self.hosts().into_iter().map(|h| h.site).collect();
                for site in [a, b] {
                    if !sites.contains(site) {
                        return Err(LabError::Spec(format!(
                            "no site `{site}` in lab `{}`; sites: {}",
                            self.name,
                            sites.iter().cloned().collect::<Vec<_>>().join(", ")
                        )));
                    }
                }
                let same = |(x, y): &(String, String)| (x == a && y == b) || (x == b && y == a);
                cuts.retain(|c| !same(c));
                if cut {
                    cuts.push((a.to_owned(), b.to_owned()));
                }
            }
            None => cuts.clear(),
        }
        let text = serde_json::to_string(&cuts).expect("pairs serialize");
        let tmp = file.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(io("writing", &tmp))?;
        std::fs::rename(&tmp, &file).map_err(io("renaming", &tmp))?;
        Ok(cuts)
    }

    pub fn ssh_argv(&self, node: &str, command: &[String]) -> Result<Vec<String>, LabError> {
        let hosts = self.hosts();
        let Some(host) = hosts.iter().find(|h| h.name == node) else {
            return Err(LabError::NoNode {
                lab: self.name.clone(),
                node: node.to_owned(),
                known: hosts
                    .iter()
                    .map(|h| h.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let mut argv = vec![
            "nsenter".to_owned(),
            format!("--net={}/{}", strata_sys::NETNS_DIR, self.fabric_netns()),
            "ssh".to_owned(),
            "-F".to_owned(),
            self.ssh_config().display().to_string(),
        ];
        if command.is_empty() {
            argv.push("-t".to_owned());
        }
        argv.push(format!("root@{}", host.ip));
        argv.extend(command.iter().cloned());
        Ok(argv)
    }
}
