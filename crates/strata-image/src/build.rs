//! Making bases and images: debootstrap, the files every host image carries (apt sources,
//! sshd settings, units masked that a container does not need), and package installs in a
//! chroot whose mounts live in a private mount namespace (they vanish with it, even if the
//! build is killed).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::store::{io, ImageError, ImageStore};
use crate::ImageInputs;

/// An exclusive lock held while one build runs; released when dropped.
pub(crate) struct Lock(#[allow(dead_code)] File);

impl Lock {
    pub(crate) fn take(path: &Path) -> Result<Lock, ImageError> {
        let file = File::create(path).map_err(io("creating lock", path))?;
        // SAFETY: flock on a file we own; blocks until the other build is done.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(ImageError::Locked(path.to_owned()));
        }
        Ok(Lock(file))
    }
}

/// Units a lab host or a container-like server does not need: consoles, logind (SSH works
/// without it), periodic apt and filesystem jobs that would wake every host at once.
const MASKED_UNITS: &[&str] = &[
    "systemd-logind.service",
    "getty@.service",
    "console-getty.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "systemd-pstore.service",
];

const SSHD_CONFIG: &str = "# Written by strata: one host key (generated per host, never baked into the image),\n# keys only.\nHostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUseDNS no\n";

fn write(path: &Path, text: &str) -> Result<(), ImageError> {
    Ok(strata_sys::write_file(path, text, 0o644)?)
}

fn remove_if_present(path: &Path) -> Result<(), ImageError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("removing", path)(e)),
        _ => Ok(()),
    }
}

/// The base root filesystem for `inputs`, made by debootstrap if it is not there yet.
pub(crate) fn base(
    store: &ImageStore,
    inputs: &ImageInputs,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf, ImageError> {
    let dir = store.bases().join(inputs.base_key());
    let rootfs = dir.join("rootfs");
    if dir.join("done").exists() {
        progress(&format!("base {} cached", inputs.base_key()));
        return Ok(rootfs);
    }
    let tmp = store.bases().join(format!("{}.tmp", inputs.base_key()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io("removing an unfinished base", &tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io("creating", &tmp))?;
    let started = Instant::now();
    progress(&format!(
        "base {}: debootstrap {} from {} (about a minute)",
        inputs.base_key(),
        inputs.suite,
        inputs.mirror
    ));
    strata_sys::run(
        Command::new("debootstrap")
            .args([
                "--variant=minbase",
                &format!("--include={}", inputs.base_packages.join(",")),
            ])
            .arg(&inputs.suite)
            .arg(tmp.join("rootfs"))
            .arg(&inputs.mirror),
    )?;
    let root = tmp.join("rootfs");
    let s = &inputs.suite;
    write(
        &root.join("etc/apt/sources.list"),
        &format!(
            "deb {m} {s} main\ndeb {m} {s}-updates main\ndeb {sec} {s}-security main\n",
            m = inputs.mirror,
            sec = inputs.security_mirror
        ),
    )?;
    write(&root.join("etc/ssh/sshd_config.d/strata.conf"), SSHD_CONFIG)?;
    for entry in std::fs::read_dir(root.join("etc/ssh"))
        .map_err(io("reading", &root.join("etc/ssh")))?
        .filter_map(Result::ok)
    {
        if entry.file_name().to_string_lossy().starts_with("ssh_host_") {
            remove_if_present(&entry.path())?;
        }
    }
    // Each host gets its own name and machine id when it boots.
    remove_if_present(&root.join("etc/hostname"))?;
    write(&root.join("etc/machine-id"), "")?;
    remove_if_present(&root.join("var/lib/dbus/machine-id"))?;
    for unit in MASKED_UNITS {
        let link = root.join("etc/systemd/system").join(unit);
        remove_if_present(&link)?;
        std::os::unix::fs::symlink("/dev/null", &link).map_err(io("masking", &link))?;
    }
    let _ = std::fs::remove_dir_all(root.join("etc/systemd/system/getty.target.wants"));
    // Bring the base up to the point releases before anything else is installed on it.
    chroot(
        &root,
        "apt-get update -q && apt-get dist-upgrade -y -q && apt-get clean",
    )?;
    write(&tmp.join("done"), "")?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(io("removing a stale base", &dir))?;
    }
    std::fs::rename(&tmp, &dir).map_err(io("renaming into place", &dir))?;
    progress(&format!(
        "base {} made in {:.0} s",
        inputs.base_key(),
        started.elapsed().as_secs_f64()
    ));
    Ok(rootfs)
}

/// A new image in `tmp` (which ends up holding `rootfs/`): a copy of the base with the
/// service packages installed.
pub(crate) fn image_from_base(
    base: &Path,
    tmp: &Path,
    inputs: &ImageInputs,
    progress: &mut dyn FnMut(&str),
) -> Result<(), ImageError> {
    if tmp.exists() {
        std::fs::remove_dir_all(tmp).map_err(io("removing an unfinished image", tmp))?;
    }
    std::fs::create_dir_all(tmp).map_err(io("creating", tmp))?;
    let root = tmp.join("rootfs");
    let started = Instant::now();
    strata_sys::run(
        Command::new("cp")
            .args(["-a", "--reflink=auto"])
            .arg(base)
            .arg(&root),
    )?;
    progress(&format!(
        "copied the base in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    if inputs.packages.is_empty() && inputs.guest.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    progress(&format!(
        "installing {} packages: {}",
        inputs.packages.len(),
        inputs.packages.join(" ")
    ));
    // Package scripts must not start services in the image.
    let policy = root.join("usr/sbin/policy-rc.d");
    write(
        &policy,
        "#!/bin/sh\n# strata: no service starts while the image is built\nexit 101\n",
    )?;
    std::fs::set_permissions(&policy, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(io("chmod", &policy))?;
    let debconf = if inputs.debconf.is_empty() {
        String::new()
    } else {
        format!(
            "printf '%s\\n' {} | debconf-set-selections && ",
            inputs
                .debconf
                .iter()
                .map(|d| shell_quote(d))
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    // Every host gets every package of the spec, but runs only its own services: the units
    // the packages enabled are disabled again, and the engine enables each host's own.
    let script = format!(
        "{debconf}{ENABLED} > /tmp/enabled.before && apt-get update -q && apt-get install -y -q --no-install-recommends {} && apt-get clean && rm -rf /var/lib/apt/lists/* && {ENABLED} > /tmp/enabled.after && comm -13 /tmp/enabled.before /tmp/enabled.after | xargs -r rm -f",
        inputs.packages.iter().map(|p| shell_quote(p)).collect::<Vec<_>>().join(" ")
    );
    let result = chroot(&root, &script);
    remove_if_present(&policy)?;
    result?;
    // Packages such as openssh-server must not leave keys behind; hosts make their own.
    for entry in std::fs::read_dir(root.join("etc/ssh"))
        .map_err(io("reading", &root.join("etc/ssh")))?
        .filter_map(Result::ok)
    {
        if entry.file_name().to_string_lossy().starts_with("ssh_host_") {
            remove_if_present(&entry.path())?;
        }
    }
    progress(&format!(
        "installed the packages in {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    if !inputs.guest.is_empty() {
        let started = Instant::now();
        progress(&format!(
            "building the test guest from {}",
            inputs.guest.join(" ")
        ));
        crate::guest::build(&root, &inputs.guest)?;
        progress(&format!(
            "built the test guest in {:.0} s",
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(())
}

/// Lists the unit links that enable units at boot.
const ENABLED: &str = "find /etc/systemd/system -path '*.wants/*' | sort";

/// The chroot's own device directory, mounted over its /dev: a tmpfs with fresh device
/// nodes, a devpts instance of its own, and /dev/shm. Never the machine's /dev: package
/// scripts chgrp and chmod what they find there (the KVM, TUN and FUSE devices of the
/// machine were changed that way).
const PRIVATE_DEV: &str = concat!(
    "mount -t tmpfs -o mode=0755,nosuid tmpfs \"$R/dev\"; ",
    "mknod -m 0666 \"$R/dev/null\" c 1 3; mknod -m 0666 \"$R/dev/zero\" c 1 5; ",
    "mknod -m 0666 \"$R/dev/full\" c 1 7; mknod -m 0666 \"$R/dev/random\" c 1 8; ",
    "mknod -m 0666 \"$R/dev/urandom\" c 1 9; mknod -m 0666 \"$R/dev/tty\" c 5 0; ",
    "mkdir \"$R/dev/pts\" \"$R/dev/shm\"; ",
    "mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts \"$R/dev/pts\"; ",
    "ln -s pts/ptmx \"$R/dev/ptmx\"; ",
    "mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs \"$R/dev/shm\"; ",
    "ln -s /proc/self/fd \"$R/dev/fd\"; ln -s /proc/self/fd/0 \"$R/dev/stdin\"; ",
    "ln -s /proc/self/fd/1 \"$R/dev/stdout\"; ln -s /proc/self/fd/2 \"$R/dev/stderr\"; ",
);

/// Runs a shell script chrooted in `root`, with /proc, a /dev of its own, /run and /tmp
/// mounted in a private mount namespace, and the machine's resolv.conf for the duration.
/// Public for the test that proves a build leaves the machine's devices alone.
pub fn chroot(root: &Path, script: &str) -> Result<(), ImageError> {
    let resolv = root.join("etc/resolv.conf");
    remove_if_present(&resolv)?;
    std::fs::copy("/etc/resolv.conf", &resolv).map_err(io("copying resolv.conf to", &resolv))?;
    let outer = format!("set -eu; mount -t proc proc \"$R/proc\"; {PRIVATE_DEV}mount -t tmpfs tmpfs \"$R/run\"; mount -t tmpfs tmpfs \"$R/tmp\"; exec chroot \"$R\" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C sh -euc \"$S\"");
    let result = strata_sys::run(
        strata_sys::in_private_mount_namespace(&outer)
            .env("R", root)
            .env("S", script),
    );
    remove_if_present(&resolv)?;
    result.map(|_| ()).map_err(ImageError::from)
}

pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Bytes used by the files under `path` (not following symlinks).
pub(crate) fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_dir() {
        std::fs::read_dir(path)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| disk_usage(&e.path()))
                    .sum()
            })
            .unwrap_or(0)
            + meta.len()
    } else {
        meta.len()
    }
}
