//! One deploy of a cloud at a time: an exclusive flock on `deploy.lock` in the cloud's state
//! directory, held for the whole run, with who holds it written inside so that a refused
//! deploy can say so. The kernel drops the lock when the holder dies, even by SIGKILL.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another deploy of this cloud is running: {0}")]
    Held(String),
    #[error("cannot open the lock {0}: {1}")]
    Open(String, std::io::Error),
}

pub struct DeployLock {
    _file: File,
}

impl DeployLock {
    pub fn take(dir: &Path, holder: &str) -> Result<DeployLock, LockError> {
        let path = dir.join("deploy.lock");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| LockError::Open(path.display().to_string(), e))?;
        // SAFETY: flock on our own descriptor.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut who = String::new();
            let _ = file.read_to_string(&mut who);
            return Err(LockError::Held(if who.trim().is_empty() {
                "(holder unknown)".into()
            } else {
                who.trim().to_owned()
            }));
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{holder}");
        let _ = file.flush();
        Ok(DeployLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_deploy_is_refused_and_told_who_holds_the_lock() {
        let dir = std::env::temp_dir().join(format!("strata-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = DeployLock::take(&dir, "pid 1 on deployer since 12:00").unwrap();
        match DeployLock::take(&dir, "pid 2") {
            Err(LockError::Held(who)) => assert_eq!(who, "pid 1 on deployer since 12:00"),
            Ok(_) => panic!("two deploys at once"),
            Err(e) => panic!("{e}"),
        }
        drop(first);
        assert!(
            DeployLock::take(&dir, "pid 2").is_ok(),
            "free again once the holder is gone"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
