//! What strata needs from the local machine: commands run with errors that say what failed
//! (program, arguments, exit code, the tail of stderr), processes identified by PID and start
//! time so a reused PID is never signalled, work done inside a network namespace, and file
//! errors that name their file.

mod cmd;
mod fs;
mod netns;
mod process;

pub use cmd::{in_private_mount_namespace, run, run_ok, CmdError};
pub use fs::{io, write_file, IoError};
pub use netns::{netns_inode, tcp_probe_in_netns, NETNS_DIR};
pub use process::{processes_in_netns, ProcessId};
