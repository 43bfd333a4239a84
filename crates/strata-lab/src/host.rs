//! One lab host: its directory (overlay upper and work, sparse OSD disk files, console log),
//! its network, its own SSH host key and the deployer's key authorized, then systemd booted
//! by systemd-nspawn on an overlay of the image. The overlay is mounted in a private mount
//! namespace that nspawn then runs in, so the mount goes away with the host, whatever happens.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use strata_sys::ProcessId;

use crate::journal::{Journal, Resource};
use crate::spec::{LabHost, LabSpec};
use crate::state::{HostState, LabState};
use crate::{io, LabError};

/// Where a host sees its OSD disk files.
pub const DISKS_IN_HOST: &str = "/srv/strata/disks";

const BOOT_TIMEOUT: Duration = Duration::from_secs(90);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);

fn write(path: &Path, text: &str, mode: u32) -> Result<(), LabError> {
    Ok(strata_sys::write_file(path, text, mode)?)
}

pub(crate) struct NewHost<'a> {
    pub lab: &'a LabState,
    pub spec: &'a LabSpec,
    pub host: &'a LabHost,
    pub image_key: &'a str,
    pub rootfs: &'a Path,
    pub deployer_key: &'a str,
    pub disk_size: u64,
}

/// The cgroup hierarchies systemd uses (its named v1 hierarchy and the unified one on a
/// hybrid machine, or the single v2 one), with a directory for a host in each.
pub(crate) fn host_cgroups(name: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let roots: Vec<PathBuf> = if root.join("cgroup.controllers").exists() {
        vec![root.to_owned()]
    } else {
        ["systemd", "unified"]
            .iter()
            .map(|h| root.join(h))
            .filter(|p| p.join("cgroup.procs").exists())
            .collect()
    };
    roots.into_iter().map(|r| r.join(name)).collect()
}

/// Boots a made host (its directory, network and keys exist): the overlay root mounted in a
/// private mount namespace, systemd under systemd-nspawn in the host's own cgroups, and
/// waits until its sshd answers. The process is journaled before the wait.
fn boot(
    lab: &LabState,
    journal: &Journal,
    name: &str,
    ip: std::net::IpAddr,
    has_disks: bool,
    rootfs: &Path,
) -> Result<ProcessId, LabError> {
    let dir = lab.host_dir(name);
    let upper = dir.join("upper");
    // CAP_NET_ADMIN: the host owns its network namespace, and keepalived moves a site's
    // virtual IP between hosts as on real servers.
    let mut nspawn = format!(
        "exec systemd-nspawn --quiet -D \"$M\" --boot --register=no --keep-unit --network-namespace-path=\"{}/{}\" --machine=\"$NAME\" --console=read-only --capability=CAP_NET_ADMIN --resolv-conf=off",
        strata_sys::NETNS_DIR,
        lab.host_netns(name)
    );
    if has_disks {
        nspawn.push_str(&format!(" --bind=\"$D:{DISKS_IN_HOST}\""));
    }
    // Each host in cgroups of its own: systemd inside manages its units' cgroups below its
    // root, and hosts sharing one root collide (units failing with 219/CGROUP).
    let cgroups = host_cgroups(&lab.host_netns(name));
    for cg in &cgroups {
        journal.record(&Resource::Cgroup(cg.clone()))?;
        std::fs::create_dir_all(cg).map_err(io("creating cgroup", cg))?;
    }
    let join: String = cgroups
        .iter()
        .map(|cg| format!("echo $$ > '{}/cgroup.procs'; ", cg.display()))
        .collect();
    let script = format!("set -e; {join}mount -t overlay overlay -o \"lowerdir=$L,upperdir=$U,workdir=$W\" \"$M\"; {nspawn}");
    let log_path = dir.join("console.log");
    let log = std::fs::File::create(&log_path).map_err(io("creating", &log_path))?;
    let mut cmd = strata_sys::in_private_mount_namespace(&script);
    // /proc/sys/net writable (it is the host's own network namespace's): Neutron's agents and
    // os-vif set per-bridge and per-interface sysctls, as they do on a server.
    cmd.env("SYSTEMD_NSPAWN_API_VFS_WRITABLE", "network")
        .env("L", rootfs)
        .env("U", &upper)
        .env("W", dir.join("work"))
        .env("M", dir.join("root"))
        .env("D", dir.join("disks"))
        .env("NAME", name);
    let pid = crate::net::spawn_detached(&mut cmd, log)?;
    let console = || {
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    };
    let process = ProcessId::of(pid as i32).ok_or_else(|| LabError::Boot {
        host: name.to_owned(),
        why: "systemd-nspawn exited at once".into(),
        console: console(),
    })?;
    journal.record(&Resource::Process {
        pid: process.pid,
        start_time: process.start_time,
        what: format!("host {name}"),
    })?;

    let addr = SocketAddr::new(ip, 22);
    let deadline = Instant::now() + BOOT_TIMEOUT;
    loop {
        if !process.is_alive() {
            return Err(LabError::Boot {
                host: name.to_owned(),
                why: "systemd-nspawn exited".into(),
                console: console(),
            });
        }
        if strata_sys::tcp_probe_in_netns(&lab.fabric_netns(), addr, Duration::from_millis(200)) {
            break;
        }
        if Instant::now() > deadline {
            return Err(LabError::Boot {
                host: name.to_owned(),
                why: format!(
                    "sshd did not answer on {addr} within {} s",
                    BOOT_TIMEOUT.as_secs()
                ),
                console: console(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(process)
}

/// Restarts a host as a server reboots: its systemd shuts down in order (systemd-nspawn
/// passes SIGTERM on as a shutdown request), then it boots again on the same root and disks
/// in the same network. What was enabled there starts again; nothing is made anew.
pub(crate) fn restart(
    lab: &LabState,
    journal: &Journal,
    host: &HostState,
    rootfs: &Path,
) -> Result<ProcessId, LabError> {
    let process = host.process();
    if process.is_alive() {
        process.signal(libc::SIGTERM);
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        while process.is_alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if process.is_alive() {
            return Err(LabError::Boot {
                host: host.name.clone(),
                why: format!("did not shut down within {} s", SHUTDOWN_TIMEOUT.as_secs()),
                console: String::new(),
            });
        }
    }
    boot(
        lab,
        journal,
        &host.name,
        host.ip,
        !host.disks.is_empty(),
        rootfs,
    )
}

/// Makes and boots a host, and waits until its sshd accepts connections.
pub(crate) fn create(new: &NewHost, journal: &Journal) -> Result<HostState, LabError> {
    let (lab, host) = (new.lab, new.host);
    let dir = lab.host_dir(&host.name);
    journal.record(&Resource::Dir(dir.clone()))?;
    let upper = dir.join("upper");
    for d in ["upper", "work", "root", "disks"] {
        std::fs::create_dir_all(dir.join(d)).map_err(io("creating", &dir.join(d)))?;
    }
    crate::net::host_network(lab, journal, new.spec, host)?;
    crate::ssh::host_key(&upper.join("etc/ssh"), &host.name)?;
    std::fs::create_dir_all(upper.join("root/.ssh")).map_err(io("creating", &upper))?;
    std::fs::set_permissions(
        upper.join("root/.ssh"),
        std::fs::Permissions::from_mode(0o700),
    )
    .map_err(io("chmod", &upper))?;
    write(
        &upper.join("root/.ssh/authorized_keys"),
        &format!("{}\n", new.deployer_key),
        0o600,
    )?;
    write(
        &upper.join("etc/hostname"),
        &format!("{}\n", host.name),
        0o644,
    )?;
    let mut hosts = String::from("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n");
    for h in &new.spec.hosts {
        hosts.push_str(&format!("{} {}\n", h.ip, h.name));
    }
    write(&upper.join("etc/hosts"), &hosts, 0o644)?;
    // Lab hosts reach nothing outside the lab: a lookup of an outside name must fail at
    // once (nothing listens on the loopback's port 53: refused), not wait 20 s on the
    // machine's resolver, which nspawn would otherwise copy in. Lab names are in /etc/hosts.
    write(
        &upper.join("etc/resolv.conf"),
        "# Written by strata: a lab host has no DNS; the lab's hosts are in /etc/hosts.\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        0o644,
    )?;
    for disk in &host.disks {
        let path = dir.join("disks").join(disk);
        let file = std::fs::File::create(&path).map_err(io("creating disk", &path))?;
        file.set_len(new.disk_size)
            .map_err(io("sizing disk", &path))?;
    }

    let process = boot(
        lab,
        journal,
        &host.name,
        host.ip,
        !host.disks.is_empty(),
        new.rootfs,
    )?;
    Ok(HostState {
        name: host.name.clone(),
        site: host.site.clone(),
        ip: host.ip,
        image: new.image_key.to_owned(),
        pid: process.pid,
        start_time: process.start_time,
        disks: host.disks.clone(),
    })
}
