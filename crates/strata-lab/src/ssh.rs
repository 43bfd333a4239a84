//! SSH material of a lab: the deployer's key (made once, mode 0600), each host's ed25519 host
//! key (made on the deployer before the host boots, so the known_hosts entry is pinned from
//! the key file itself, never trusted on first use), and the ssh_config that uses them.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::state::{HostState, LabState};
use crate::{io, LabError};

/// The deployer's key pair, made if missing. Returns the public key line.
pub(crate) fn deployer_key(lab: &LabState) -> Result<String, LabError> {
    let dir = lab.ssh_dir();
    std::fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io("chmod", &dir))?;
    let key = dir.join("id_ed25519");
    if !key.exists() {
        strata_sys::run(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C"])
                .arg(format!("strata-deployer@{}", lab.name))
                .arg("-f")
                .arg(&key),
        )?;
    }
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
        .map_err(io("chmod", &key))?;
    let public = key.with_extension("pub");
    Ok(std::fs::read_to_string(&public)
        .map_err(io("reading", &public))?
        .trim()
        .to_owned())
}

/// Makes a host key in the host's (not yet booted) root: `etc/ssh/ssh_host_ed25519_key`.
pub(crate) fn host_key(etc_ssh: &Path, host: &str) -> Result<String, LabError> {
    std::fs::create_dir_all(etc_ssh).map_err(io("creating", etc_ssh))?;
    let key = etc_ssh.join("ssh_host_ed25519_key");
    if !key.exists() {
        strata_sys::run(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C"])
                .arg(format!("root@{host}"))
                .arg("-f")
                .arg(&key),
        )?;
    }
    let public = key.with_extension("pub");
    Ok(std::fs::read_to_string(&public)
        .map_err(io("reading", &public))?
        .trim()
        .to_owned())
}

/// The public host key of a host, read from its own key file.
pub(crate) fn host_public_key(lab: &LabState, host: &str) -> Result<String, LabError> {
    let path = lab
        .host_dir(host)
        .join("upper/etc/ssh/ssh_host_ed25519_key.pub");
    Ok(std::fs::read_to_string(&path)
        .map_err(io("reading the host key", &path))?
        .trim()
        .to_owned())
}

/// Writes known_hosts (each host under its address and its name) and the ssh_config.
pub(crate) fn write_client_files(lab: &LabState, hosts: &[HostState]) -> Result<PathBuf, LabError> {
    let dir = lab.ssh_dir();
    let mut known = String::new();
    for h in hosts {
        let key = host_public_key(lab, &h.name)?;
        // "ssh-ed25519 AAAA... comment": keep type and key.
        let mut parts = key.split_whitespace();
        let (kind, body) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        known.push_str(&format!("{},{} {kind} {body}\n", h.ip, h.name));
    }
    let known_path = dir.join("known_hosts");
    std::fs::write(&known_path, known).map_err(io("writing", &known_path))?;
    let config = format!(
        "# Written by strata for lab `{}`: reach its hosts with `nsenter --net=/run/netns/{}` ssh -F this-file.\nHost *\n  User root\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 10\n  LogLevel ERROR\n",
        lab.name,
        lab.fabric_netns(),
        dir.join("id_ed25519").display(),
        known_path.display()
    );
    let path = lab.ssh_config();
    std::fs::write(&path, config).map_err(io("writing", &path))?;
    Ok(path)
}
