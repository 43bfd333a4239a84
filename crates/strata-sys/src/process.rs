//! A process identified by PID *and* start time (field 22 of /proc/PID/stat), so that a
//! recorded process is only ever signalled while it is the same process: a PID reused by
//! something else after a crash is left alone.

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessId {
    pub pid: i32,
    /// Clock ticks since boot at which the process started.
    pub start_time: u64,
}

fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl ProcessId {
    /// The identity of a running process.
    pub fn of(pid: i32) -> Option<ProcessId> {
        start_time(pid).map(|start_time| ProcessId { pid, start_time })
    }

    /// Whether this very process still exists (not a zombie left to reap, not a reused PID).
    pub fn is_alive(&self) -> bool {
        if start_time(self.pid) != Some(self.start_time) {
            return false;
        }
        let state = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        let zombie = state.rfind(')').and_then(|i| state[i + 2..].chars().next()) == Some('Z');
        !zombie
    }

    /// Sends `signal` if the process is still this one. Returns whether it was sent.
    pub fn signal(&self, signal: i32) -> bool {
        if !self.is_alive() {
            return false;
        }
        // SAFETY: kill(2) has no memory effects; the identity check above guards PID reuse.
        unsafe { libc::kill(self.pid, signal) == 0 }
    }

    /// Resident memory of the process in bytes (VmRSS), if it still runs.
    pub fn rss_bytes(&self) -> Option<u64> {
        if !self.is_alive() {
            return None;
        }
        rss_of(self.pid)
    }

    /// Its proportional set size in bytes (see `pss_of`), if it still runs.
    pub fn pss_bytes(&self) -> Option<u64> {
        if !self.is_alive() {
            return None;
        }
        pss_of(self.pid)
    }
}

/// The value in bytes of the `field:` line (in kB) of a /proc file's text.
fn kb_field(text: &str, field: &str) -> Option<u64> {
    let kb: u64 = text
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

pub(crate) fn rss_of(pid: i32) -> Option<u64> {
    kb_field(
        &std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        "VmRSS:",
    )
}

/// The process's proportional set size in bytes: each page it maps counted as its share among
/// the processes that map it, so the figures of many processes add up to the memory they use
/// together (RSS counts a shared library's pages again in every process). RSS where the
/// kernel does not say (no smaps_rollup, before Linux 4.14).
pub(crate) fn pss_of(pid: i32) -> Option<u64> {
    match std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
        Ok(text) => kb_field(&text, "Pss:"),
        Err(_) => rss_of(pid),
    }
}

/// Every process whose network namespace is the one with inode `netns`.
pub fn processes_in_netns(netns: u64) -> Vec<ProcessId> {
    let want = format!("net:[{netns}]");
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(Path::new("/proc").join(pid.to_string()).join("ns/net"))
                .is_ok_and(|l| l.to_string_lossy() == want)
        })
        .filter_map(ProcessId::of)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_survives_only_as_long_as_the_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let id = ProcessId::of(child.id() as i32).unwrap();
        assert!(id.is_alive());
        let other = ProcessId {
            start_time: id.start_time + 1,
            ..id
        };
        assert!(
            !other.is_alive(),
            "a different start time is a different process"
        );
        assert!(
            !other.signal(libc::SIGKILL),
            "never signal a process that is not the recorded one"
        );
        assert!(id.rss_bytes().unwrap() > 0);
        let pss = id.pss_bytes().unwrap();
        assert!(
            pss > 0 && pss <= id.rss_bytes().unwrap(),
            "a process's share is at most its resident set: {pss}"
        );
        assert!(id.signal(libc::SIGKILL));
        child.wait().unwrap();
        assert!(!id.is_alive());
    }
}
