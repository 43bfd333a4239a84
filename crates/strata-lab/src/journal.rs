//! The lab's journal of what it made: one JSON line per resource, written and synced *before*
//! the resource is created (a process right after it starts). `down` reads it back and
//! removes each resource if it still exists, so a lab left half-made by a crash or a SIGKILL
//! comes down completely, and nothing the lab did not make is touched.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::{io, LabError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// A network namespace made with `ip netns add` (its interfaces go with it).
    Netns(String),
    /// A process we started, by PID and start time.
    Process {
        pid: i32,
        start_time: u64,
        what: String,
    },
    /// A directory we made (removed with its contents).
    Dir(PathBuf),
    /// A cgroup we made for a host (removed bottom-up once its processes are gone).
    Cgroup(PathBuf),
}

pub struct Journal {
    path: PathBuf,
    lock: Mutex<()>,
}

impl Journal {
    pub fn open(dir: &Path) -> Journal {
        Journal {
            path: dir.join("resources.jsonl"),
            lock: Mutex::new(()),
        }
    }

    /// Records a resource durably. Call before creating it.
    pub fn record(&self, resource: &Resource) -> Result<(), LabError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io("opening", &self.path))?;
        let mut line = serde_json::to_string(resource).expect("resources serialize");
        line.push('\n');
        file.write_all(line.as_bytes())
            .map_err(io("writing", &self.path))?;
        file.sync_data().map_err(io("syncing", &self.path))
    }

    /// Every resource recorded, in order; lines cut short by a crash are skipped.
    pub fn read(&self) -> Vec<Resource> {
        std::fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_and_a_torn_line_is_skipped() {
        let dir = std::env::temp_dir().join(format!("strata-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let j = Journal::open(&dir);
        j.record(&Resource::Netns("strata.x.a".into())).unwrap();
        j.record(&Resource::Process {
            pid: 42,
            start_time: 7,
            what: "host a".into(),
        })
        .unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("resources.jsonl"))
            .unwrap()
            .write_all(b"{\"dir\":\"/tm")
            .unwrap();
        let read = Journal::open(&dir).read();
        assert_eq!(read.len(), 2);
        assert_eq!(read[0], Resource::Netns("strata.x.a".into()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
