//! The WAN router: a small daemon in the lab's fabric namespace that holds each packet
//! crossing between sites for the sum of half of each site's latency (so a round trip
//! between sites A and B takes latency(A) + latency(B)), in order, then sends it on. It
//! exists because this machine's kernel has no netem. Inter-site packets reach it through a
//! TUN device (policy routing by incoming bridge); it writes them back to the same device,
//! from where the kernel routes them to the destination site's bridge. Packets to addresses
//! outside every site are dropped: the lab has no way out. Site pairs listed in the cuts
//! file (`[["east", "west"]]`) are dropped too, to cut a link.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::{io, LabError};

pub const WAN_DEVICE: &str = "wan0";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WanSite {
    pub name: String,
    pub subnet: IpNet,
    pub latency_ms: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WanConfig {
    pub sites: Vec<WanSite>,
    pub cuts_file: PathBuf,
}

impl WanConfig {
    fn site_of(&self, addr: Ipv4Addr) -> Option<usize> {
        self.sites
            .iter()
            .position(|s| s.subnet.contains(&std::net::IpAddr::V4(addr)))
    }

    /// One-way delay between two sites.
    pub fn delay(&self, a: usize, b: usize) -> Duration {
        Duration::from_micros(
            (u64::from(self.sites[a].latency_ms) + u64::from(self.sites[b].latency_ms)) * 500,
        )
    }
}

#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

const TUNSETIFF: libc::c_ulong = 0x400454ca;

fn open_tun(name: &str) -> Result<File, LabError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .map_err(io("opening", Path::new("/dev/net/tun")))?;
    let mut req = IfReq {
        name: [0; 16],
        flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short,
        _pad: [0; 22],
    };
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: TUNSETIFF reads a struct ifreq, which IfReq lays out.
    if unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF as _, &mut req) } < 0 {
        return Err(io("creating TUN device", Path::new(name))(
            std::io::Error::last_os_error(),
        ));
    }
    Ok(file)
}

/// Site pairs whose link is cut, reloaded when the cuts file changes.
fn load_cuts(config: &WanConfig) -> HashSet<(usize, usize)> {
    let pairs: Vec<(String, String)> = std::fs::read_to_string(&config.cuts_file)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let index = |n: &str| config.sites.iter().position(|s| s.name == n);
    pairs
        .iter()
        .filter_map(|(a, b)| Some((index(a)?, index(b)?)))
        .flat_map(|(a, b)| [(a, b), (b, a)])
        .collect()
}

/// A packet held until it is due: (due, arrival order, bytes).
type Held = Reverse<(Instant, u64, Vec<u8>)>;

struct Queue {
    heap: Mutex<BinaryHeap<Held>>,
    ready: Condvar,
}

/// Runs the router until killed.
pub fn serve(config_path: &Path) -> Result<(), LabError> {
    let config: WanConfig = serde_json::from_str(
        &std::fs::read_to_string(config_path).map_err(io("reading", config_path))?,
    )
    .map_err(|e| LabError::Spec(format!("{}: {e}", config_path.display())))?;
    let tun = open_tun(WAN_DEVICE)?;
    // SAFETY: dup gives the writer its own descriptor of the same device.
    let mut writer = unsafe { File::from_raw_fd(libc::dup(tun.as_raw_fd())) };
    let config = Arc::new(config);
    let cuts = Arc::new(RwLock::new(load_cuts(&config)));
    let queue = Arc::new(Queue {
        heap: Mutex::new(BinaryHeap::new()),
        ready: Condvar::new(),
    });
    {
        let (config, cuts) = (config.clone(), cuts.clone());
        std::thread::spawn(move || {
            let mut seen: Option<SystemTime> = None;
            loop {
                let modified = std::fs::metadata(&config.cuts_file)
                    .and_then(|m| m.modified())
                    .ok();
                if modified != seen {
                    seen = modified;
                    *cuts.write().unwrap_or_else(|e| e.into_inner()) = load_cuts(&config);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
    }
    {
        let queue = queue.clone();
        std::thread::spawn(move || loop {
            let mut heap = queue.heap.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            match heap.peek() {
                Some(Reverse((due, ..))) if *due <= now => {
                    let Reverse((_, _, packet)) = heap.pop().expect("peeked");
                    drop(heap);
                    let _ = writer.write_all(&packet);
                }
                Some(Reverse((due, ..))) => {
                    let wait = *due - now;
                    drop(queue.ready.wait_timeout(heap, wait));
                }
                None => {
                    drop(queue.ready.wait(heap));
                }
            }
        });
    }
    let mut reader = tun;
    let mut buf = vec![0u8; 65536];
    let mut seq = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(io("reading", Path::new(WAN_DEVICE)))?;
        let packet = &buf[..n];
        if n < 20 || packet[0] >> 4 != 4 {
            continue; // not IPv4: the lab's sites are IPv4
        }
        let src = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
        let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
        let (Some(a), Some(b)) = (config.site_of(src), config.site_of(dst)) else {
            continue;
        };
        if cuts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&(a, b))
        {
            continue;
        }
        seq += 1;
        queue
            .heap
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Reverse((
                Instant::now() + config.delay(a, b),
                seq,
                packet.to_vec(),
            )));
        queue.ready.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_trip_costs_both_sites_latency() {
        let config = WanConfig {
            sites: vec![
                WanSite {
                    name: "central".into(),
                    subnet: "10.10.0.0/24".parse().unwrap(),
                    latency_ms: 10,
                },
                WanSite {
                    name: "dcn0".into(),
                    subnet: "10.20.0.0/24".parse().unwrap(),
                    latency_ms: 20,
                },
            ],
            cuts_file: PathBuf::from("/nonexistent"),
        };
        assert_eq!(config.delay(0, 1) * 2, Duration::from_millis(30));
        assert_eq!(config.site_of(Ipv4Addr::new(10, 20, 0, 11)), Some(1));
        assert_eq!(
            config.site_of(Ipv4Addr::new(8, 8, 8, 8)),
            None,
            "nothing beyond the lab"
        );
    }
}
