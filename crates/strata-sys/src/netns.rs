//! Network namespaces made with `ip netns add` (bind mounts under /run/netns): their inode,
//! to find the processes inside, and a TCP probe run from inside one (a thread that enters
//! it with setns(2); the rest of the process stays where it was).

use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

pub const NETNS_DIR: &str = "/run/netns";

/// The inode of a named network namespace, if it exists.
pub fn netns_inode(name: &str) -> Option<u64> {
    std::fs::metadata(format!("{NETNS_DIR}/{name}"))
        .ok()
        .map(|m| m.ino())
}

/// Whether a TCP connection to `addr` succeeds from inside the network namespace `name`.
pub fn tcp_probe_in_netns(name: &str, addr: SocketAddr, timeout: Duration) -> bool {
    let path = format!("{NETNS_DIR}/{name}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let Ok(file) = std::fs::File::open(&path) else {
                return false;
            };
            // SAFETY: setns on this thread only; the thread ends right after the probe.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return false;
            }
            TcpStream::connect_timeout(&addr, timeout).is_ok()
        })
        .join()
        .unwrap_or(false)
    })
}
