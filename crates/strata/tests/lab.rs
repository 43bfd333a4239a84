//! The lab on real hosts, run as a user runs it: build a small image (once, then cached),
//! bring up a two-site lab of three hosts, reach each over SSH with strict host key checking,
//! check systemd, measure the latency between sites, bring it down and check that nothing
//! of it remains; and the same after `lab up` is killed part-way. Needs root, debootstrap,
//! systemd-nspawn and Debian's mirror: `cargo test --features lab-tests` (scripts/test).
#![cfg(feature = "lab-tests")]
// The tests report what they measured (latency, kill points) on stderr.
#![allow(clippy::print_stderr)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lab tests share one image and run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const SPEC: &str = "crates/strata/tests/fixtures/lab/two-sites.yaml";
const LAB: &str = "labtest";

mod common;
use common::{
    kept_logs, lab_home as home, ok_in_lab_home as ok, root, strata_in_lab_home as strata, LabGuard,
};

fn ssh(node: &str, command: &str) -> Output {
    strata(&["lab", "ssh", "--lab", LAB, node, command])
}

/// Network namespaces of the test lab that exist now.
fn lab_namespaces() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n == "strata.labtest" || n.starts_with("strata.labtest."))
                .collect()
        })
        .unwrap_or_default()
}

fn lab_dir() -> PathBuf {
    home().join("labs").join(LAB)
}

/// A lab left by an earlier, failed run is taken down first.
fn clean_start() {
    if lab_dir().exists() {
        ok(&["lab", "down", "--lab", LAB]);
    }
    assert!(
        lab_namespaces().is_empty(),
        "namespaces of an earlier run remain: {:?}",
        lab_namespaces()
    );
}

/// PIDs and start times of every process a lab recorded in its journal.
fn recorded_processes() -> Vec<(i32, u64)> {
    std::fs::read_to_string(lab_dir().join("resources.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            Some((
                v["process"]["pid"].as_i64()? as i32,
                v["process"]["start_time"].as_u64()?,
            ))
        })
        .collect()
}

fn alive(pid: i32, start_time: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[0] != "Z" && fields[19].parse::<u64>().ok() == Some(start_time)
}

/// Nothing of the lab remains: namespaces, overlay mounts, processes, files.
fn assert_gone(processes: &[(i32, u64)]) {
    assert!(
        lab_namespaces().is_empty(),
        "namespaces remain: {:?}",
        lab_namespaces()
    );
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    let lab = lab_dir().display().to_string();
    assert!(
        !mounts.lines().any(|l| l.contains(&lab)),
        "mounts of the lab remain"
    );
    for &(pid, start) in processes {
        assert!(!alive(pid, start), "process {pid} of the lab still runs");
    }
    assert!(!lab_dir().exists(), "the lab's state directory remains");
    for hierarchy in [
        "/sys/fs/cgroup/systemd",
        "/sys/fs/cgroup/unified",
        "/sys/fs/cgroup",
    ] {
        let left: Vec<String> = std::fs::read_dir(hierarchy)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("strata.labtest"))
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            left.is_empty(),
            "cgroups of the lab remain in {hierarchy}: {left:?}"
        );
    }
    let loops = Command::new("losetup")
        .arg("-a")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(
        !loops.contains(&lab),
        "loop devices of the lab remain: {loops}"
    );
}

fn rtt_ms(from: &str, to: &str) -> f64 {
    let out = ssh(from, &format!("ping -c 5 -i 0.2 -q {to}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("min/avg/max"))
        .unwrap_or_else(|| panic!("no ping summary from {from} to {to}: {text}"));
    line.split('=')
        .nth(1)
        .unwrap()
        .trim()
        .split('/')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn image_is_built_once_and_reused() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let key = ok(&["image", "build", SPEC]).trim().to_owned();
    let again = strata(&["image", "build", SPEC]);
    assert!(again.status.success());
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        key,
        "same inputs, same image"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("(cached)"));
    assert!(ok(&["image", "list"]).contains(&key));
    let rootfs = home().join("images").join(&key).join("rootfs");
    let sources = std::fs::read_to_string(rootfs.join("etc/apt/sources.list")).unwrap();
    for suite in [
        "bookworm main",
        "bookworm-updates main",
        "bookworm-security main",
    ] {
        assert!(
            sources.contains(suite),
            "sources.list lacks {suite}: {sources}"
        );
    }
    let keys: Vec<_> = std::fs::read_dir(rootfs.join("etc/ssh"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("ssh_host_"))
        .collect();
    assert!(keys.is_empty(), "no SSH host key is baked into the image");
    assert!(
        !rootfs.join("usr/sbin/policy-rc.d").exists(),
        "policy-rc.d is only there while packages install"
    );
    assert!(
        rootfs.join("usr/bin/memcached").exists(),
        "the spec's service packages are installed"
    );
}

#[test]
fn two_site_lab_comes_up_reachable_isolated_and_goes_away() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _lab = LabGuard::fresh(LAB);
    clean_start();
    let up = ok(&["lab", "up", SPEC]);
    assert!(up.contains("3 hosts up (3 made"), "{up}");

    // SSH with the deployer's key, against known_hosts pinned from each host's key file.
    let config = std::fs::read_to_string(lab_dir().join("ssh/config")).unwrap();
    assert!(config.contains("StrictHostKeyChecking yes") && config.contains("BatchMode yes"));
    let known = std::fs::read_to_string(lab_dir().join("ssh/known_hosts")).unwrap();
    for node in ["alpha-0", "alpha-1", "beta-0"] {
        let key = std::fs::read_to_string(lab_dir().join(format!(
            "hosts/{node}/upper/etc/ssh/ssh_host_ed25519_key.pub"
        )))
        .unwrap();
        let body = key.split_whitespace().nth(1).unwrap();
        assert!(
            known.lines().any(|l| l.contains(node) && l.contains(body)),
            "{node}'s own key is pinned"
        );
        // systemd inside boots to "running" (every unit fine).
        let deadline = Instant::now() + Duration::from_secs(30);
        let state = loop {
            let out = ssh(node, "systemctl is-system-running");
            let state = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if state != "starting" || Instant::now() > deadline {
                break state;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        assert_eq!(
            state,
            "running",
            "{node}: {}",
            String::from_utf8_lossy(&ssh(node, "systemctl --failed --no-legend").stdout)
        );
        assert_eq!(
            String::from_utf8_lossy(&ssh(node, "hostname").stdout).trim(),
            node
        );
    }
    // Names: every lab host by its name, and an outside name fails at once (a lab host
    // reaches nothing outside; a resolver that never answers held lookups for 20 s).
    let resolved = ssh("alpha-0", "getent hosts beta-0");
    assert!(
        String::from_utf8_lossy(&resolved.stdout).starts_with("10.92.0.11 "),
        "{}",
        String::from_utf8_lossy(&resolved.stdout)
    );
    let started = Instant::now();
    let outside = ssh("alpha-0", "getent hosts deb.debian.org");
    assert!(
        !outside.status.success(),
        "an outside name does not resolve"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "and fails at once: {:?}",
        started.elapsed()
    );

    // An operator's Ansible reaches the same hosts through the exported inventory.
    ansible_pings_every_host();

    // A host whose key does not match the pinned one is refused.
    let pinned = lab_dir().join("ssh/known_hosts");
    let original = std::fs::read_to_string(&pinned).unwrap();
    let alpha = std::fs::read_to_string(
        lab_dir().join("hosts/alpha-0/upper/etc/ssh/ssh_host_ed25519_key.pub"),
    )
    .unwrap();
    let beta = std::fs::read_to_string(
        lab_dir().join("hosts/beta-0/upper/etc/ssh/ssh_host_ed25519_key.pub"),
    )
    .unwrap();
    std::fs::write(
        &pinned,
        original.replace(
            alpha.split_whitespace().nth(1).unwrap(),
            beta.split_whitespace().nth(1).unwrap(),
        ),
    )
    .unwrap();
    let refused = ssh("alpha-0", "true");
    std::fs::write(&pinned, &original).unwrap();
    assert!(
        !refused.status.success(),
        "a wrong host key must be refused"
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .to_lowercase()
            .contains("host key"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // Latency: within a site none; between sites the sum of both sites' (10 + 30 ms).
    let local = rtt_ms("alpha-0", "10.91.0.12");
    let remote = rtt_ms("alpha-0", "10.92.0.11");
    eprintln!("rtt alpha-0 -> alpha-1 {local:.2} ms, alpha-0 -> beta-0 {remote:.2} ms");
    assert!(local < 5.0, "{local}");
    assert!((38.0..50.0).contains(&remote), "{remote}");

    // No way out: the fabric has only the lab's links and no default route.
    let links = Command::new("ip")
        .args(["-n", "strata.labtest", "-o", "link"])
        .output()
        .unwrap();
    for line in String::from_utf8_lossy(&links.stdout).lines() {
        let name = line.split(": ").nth(1).unwrap().split('@').next().unwrap();
        assert!(
            name == "lo" || name == "wan0" || name.starts_with('b') || name.starts_with('v'),
            "unexpected link in the fabric: {line}"
        );
    }
    let routes = Command::new("ip")
        .args(["-n", "strata.labtest", "route", "show", "table", "main"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&routes.stdout).contains("default"),
        "the fabric has no way out"
    );

    // The OSD disk is a sparse file the host sees.
    let disk = ssh("beta-0", "stat -c %s /srv/strata/disks/vdb");
    assert_eq!(
        String::from_utf8_lossy(&disk.stdout).trim(),
        (8u64 << 30).to_string()
    );

    // Status, and `up` on a running lab changes nothing.
    let status: serde_json::Value =
        serde_json::from_str(&ok(&["lab", "status", "--lab", LAB, "--json"])).unwrap();
    let hosts = status[0]["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 3);
    for h in hosts {
        assert_eq!(h["running"], true);
        let mib = h["memory_bytes"].as_u64().unwrap() >> 20;
        assert!(mib > 5 && mib < 80, "{}: {mib} MiB", h["name"]);
    }
    let before = recorded_processes();
    let again = ok(&["lab", "up", SPEC]);
    assert!(again.contains("0 made, 3 kept, 0 removed"), "{again}");
    assert_eq!(recorded_processes(), before, "no process was started again");

    let processes = recorded_processes();
    let down = ok(&["lab", "down", SPEC]);
    assert!(down.contains("4 namespaces"), "{down}");
    assert_gone(&processes);
}

#[test]
fn a_lab_killed_half_way_still_comes_down_completely() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _lab = LabGuard::fresh(LAB);
    clean_start();
    ok(&["image", "build", SPEC]); // the kill points fall in the lab's own work
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    for round in 0..3u64 {
        let delay = Duration::from_millis(
            (seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(round * 1442695040888963407)
                >> 33)
                % 600,
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["lab", "up", SPEC])
            .current_dir(root())
            .env("STRATA_HOME", home())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        eprintln!(
            "round {round}: killed `lab up` after {} ms; journal has {} processes",
            delay.as_millis(),
            recorded_processes().len()
        );
        let processes = recorded_processes();
        if lab_dir().exists() {
            ok(&["lab", "down", "--lab", LAB]);
        }
        assert_gone(&processes);
    }
}

/// A lab test that fails half-way (a failed assertion while its lab runs) leaves no
/// namespace, process, mount, cgroup or file of the lab behind, and keeps the lab's logs:
/// every host's journal, with what the test wrote to it before failing.
#[test]
fn a_failing_lab_test_leaves_nothing_but_its_logs() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    clean_start();
    let marker = format!("strata-failing-test-{}", std::process::id());
    let processes = Mutex::new(Vec::new());
    let failed = std::panic::catch_unwind(|| {
        let _lab = LabGuard::fresh(LAB);
        ok(&["lab", "up", SPEC]);
        *processes.lock().unwrap() = recorded_processes();
        let logged = ssh("beta-0", &format!("logger {marker} && journalctl --sync"));
        assert!(logged.status.success());
        panic!("this lab test fails on purpose, with its lab running");
    });
    assert!(failed.is_err(), "the inner test failed");
    let processes = processes.into_inner().unwrap();
    assert!(processes.len() >= 3, "the lab ran processes: {processes:?}");
    assert_gone(&processes);
    let journal = std::fs::read_to_string(kept_logs(LAB).join("beta-0.journal"))
        .expect("beta-0's journal is kept");
    assert!(
        journal.contains(&marker),
        "the kept journal holds what the test logged: {} lines",
        journal.lines().count()
    );
    for node in ["alpha-0", "alpha-1"] {
        assert!(
            kept_logs(LAB).join(format!("{node}.journal")).exists(),
            "{node}"
        );
    }
}

/// Every character and block device of the machine with its mode, owner and group.
fn machine_devices() -> Vec<String> {
    let out = Command::new("find")
        .args([
            "/dev",
            "-xdev",
            "(",
            "-type",
            "c",
            "-o",
            "-type",
            "b",
            ")",
            "-printf",
            "%p %m %U %G\\n",
        ])
        .output()
        .unwrap();
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// A build's package scripts run in a chroot with a /dev of its own: whatever they do to
/// the devices they find (chmod, chgrp, new nodes), the machine's devices stay as they were.
/// The script here does what package scripts did to the machine (the KVM, TUN and FUSE
/// devices' modes and groups) to the chroot's own nodes.
#[test]
fn an_image_build_leaves_the_machines_devices_alone() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    ok(&["image", "build", SPEC]); // the base rootfs, cached
    let base = std::fs::read_dir(home().join("bases"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path().join("rootfs"))
        .find(|p| p.join("usr/bin").exists())
        .expect("a base rootfs");
    let probe = format!("strata-probe-{}", std::process::id());
    let before = machine_devices();
    strata_image::chroot(
        &base,
        &format!("chmod 0600 /dev/null /dev/zero; chgrp 7 /dev/urandom; touch /dev/{probe}; test -c /dev/null; test \"$(stat -c %a /dev/null)\" = 600"),
    )
    .unwrap();
    let after = machine_devices();
    assert_eq!(before, after, "the machine's devices changed");
    assert!(
        !std::path::Path::new(&format!("/dev/{probe}")).exists(),
        "a file appeared in the machine's /dev"
    );
    assert!(
        !base.join("dev").join(&probe).exists(),
        "the chroot's /dev was a mount of its own, not the base's directory"
    );
}

/// `ansible all -m ping` with ansible-core from PyPI (a venv under target/, made once),
/// through `strata export inventory`, run in the lab's network: every host answers pong.
/// Ansible's own files go under target/ too, not the user's home.
fn ansible_pings_every_host() {
    let venv = root().join("target/lab-tests-ansible");
    let ansible = venv.join("bin/ansible");
    // pip's and Ansible's files (caches, ~/.ansible) go here, not in the user's home.
    let ansible_home = root().join("target/lab-tests-ansible-home");
    std::fs::create_dir_all(&ansible_home).unwrap();
    if !ansible.exists() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .unwrap();
        assert!(made.success(), "python3 -m venv");
        let pip = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "--no-cache-dir", "ansible-core"])
            .env("HOME", &ansible_home)
            .output()
            .unwrap();
        assert!(
            pip.status.success(),
            "{}",
            String::from_utf8_lossy(&pip.stderr)
        );
    }
    let inventory = home().join("labtest-inventory.yaml");
    ok(&[
        "export",
        "inventory",
        SPEC,
        "-o",
        inventory.to_str().unwrap(),
    ]);
    let out = Command::new("nsenter")
        .arg("--net=/run/netns/strata.labtest")
        .arg(&ansible)
        .args(["all", "-i"])
        .arg(&inventory)
        .args(["-m", "ping", "-o"])
        .env("HOME", &ansible_home)
        .env("ANSIBLE_HOME", &ansible_home)
        .env("ANSIBLE_LOCAL_TEMP", ansible_home.join("tmp"))
        .env("ANSIBLE_SSH_CONTROL_PATH_DIR", ansible_home.join("cp"))
        .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for node in ["alpha-0", "alpha-1", "beta-0"] {
        assert!(
            said.lines()
                .any(|l| l.starts_with(node) && l.contains("SUCCESS") && l.contains("pong")),
            "{node}: {said}"
        );
    }
}

/// A server has no test guest in its image: its first controller builds one with the
/// catalog's script (the one lab images are built with), outside any chroot, from packages
/// apt downloads and never installs. Run here on the machine as on such a controller.
#[test]
fn the_test_guest_builds_on_a_plain_debian_host_as_on_a_server() {
    let catalog = root().join("catalog/templates/nova/guest");
    let dir = home().join(format!("guest-build-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The names the nova-api service's guest step installs them under.
    for (name, template) in [
        ("strata-guest-build.sh", "build.sh.j2"),
        ("strata-guest-initramfs.py", "initramfs.py.j2"),
        ("strata-guest-init.sh", "init.sh.j2"),
        ("strata-guest-udhcpc.sh", "udhcpc.sh.j2"),
    ] {
        std::fs::copy(catalog.join(template), dir.join(name)).unwrap();
    }
    let out = dir.join("guest");
    let dpkg_before = std::fs::read("/var/lib/dpkg/status").unwrap();
    let built = Command::new("sh")
        .arg(dir.join("strata-guest-build.sh"))
        .args(["linux-image-amd64", "busybox-static"])
        .env("STRATA_GUEST_OUT", &out)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "the guest build failed: {}{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
    assert_eq!(
        std::fs::read("/var/lib/dpkg/status").unwrap(),
        dpkg_before,
        "the build installed or removed a package"
    );
    let kernel = std::fs::read(out.join("vmlinuz")).unwrap();
    assert_eq!(
        kernel.get(0x202..0x206),
        Some(&b"HdrS"[..]),
        "vmlinuz is not a bootable Linux kernel"
    );
    let release = std::fs::read_to_string(out.join("kernel-release")).unwrap();
    assert!(
        release.trim().ends_with("-amd64"),
        "kernel-release: {release:?}"
    );
    // The initramfs's member names, read with Python's gzip (the build's own tool).
    let listed = Command::new("python3")
        .args([
            "-c",
            "import gzip,re,sys; d=gzip.open(sys.argv[1]).read(); print('\\n'.join(m.decode() for m in re.findall(rb'070701[0-9A-F]{104}([^\\0]+)\\0', d)))",
        ])
        .arg(out.join("initrd.img"))
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&listed.stdout);
    for wanted in ["init", "bin/busybox", "bin/udhcpc", "etc/udhcpc.sh"] {
        assert!(
            names.lines().any(|n| n == wanted),
            "{wanted} not in the initramfs: {names}"
        );
    }
    for module in ["virtio_net", "virtio_blk", "virtio_pci"] {
        assert!(
            names.lines().any(|n| n.ends_with(&format!("-{module}.ko"))),
            "module {module} not in the initramfs: {names}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
