//! The lab: a host per node of a spec, on this machine. Each host is a network namespace with
//! a veth into its site's bridge, an overlay root on a built image, and systemd booted by
//! systemd-nspawn, with sshd on its own host key. Sites are bridges inside one "fabric"
//! namespace that routes between them through a userspace WAN router adding each site's
//! latency (this kernel has no netem). Nothing is added to the machine's own network
//! namespace, so lab hosts reach nothing beyond the lab.
//!
//! Every namespace, directory and process is journaled before it is made (see `journal`),
//! and `down` removes exactly what the journal lists, even after a crash or SIGKILL.

mod down;
mod host;
mod journal;
mod net;
mod spec;
mod ssh;
mod state;
mod up;
pub mod wan;

pub use down::down;
pub use net::set_plugged;
pub use spec::{LabHost, LabProvider, LabSite, LabSpec};
pub use state::{HostState, HostStatus, LabState};
pub use up::{restart, up, UpOptions, UpReport};

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(transparent)]
    Io(#[from] strata_sys::IoError),
    #[error(transparent)]
    Command(#[from] strata_sys::CmdError),
    #[error("{0}")]
    Spec(String),
    #[error("host `{host}` did not come up: {why}\n{console}")]
    Boot {
        host: String,
        why: String,
        console: String,
    },
    #[error("no lab `{0}` here (`strata lab status` lists the labs)")]
    NoLab(String),
    #[error("no node `{node}` in lab `{lab}`; nodes: {known}")]
    NoNode {
        lab: String,
        node: String,
        known: String,
    },
}

pub(crate) fn io<'a>(
    what: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> LabError + 'a {
    move |source| LabError::Io(strata_sys::io(what, path)(source))
}

/// Short, stable interface names (at most 15 bytes) derived from a name.
pub(crate) fn ifname(prefix: char, name: &str) -> String {
    let h = name.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    format!("{prefix}{:014x}", h >> 8)
}
