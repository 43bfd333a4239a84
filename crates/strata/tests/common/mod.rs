//! What the CLI tests share: where the repository is, and the STRATA_HOME of the tests on
//! real lab hosts (one image cached there for all of them).
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root: tests run the binary from there, as a user would.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The STRATA_HOME of the lab tests.
pub fn lab_home() -> PathBuf {
    root().join("target/lab-tests-home")
}

/// `strata ARGS` from the repository's root, in the lab tests' STRATA_HOME, with the
/// built-in catalog.
pub fn strata_in_lab_home(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .current_dir(root())
        .env("STRATA_HOME", lab_home())
        .env_remove("STRATA_CATALOG")
        .output()
        .unwrap()
}

/// What a command printed, stdout then stderr.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `strata ARGS` (in the lab tests' home), asserts it succeeded, and returns its stdout.
pub fn ok_in_lab_home(args: &[&str]) -> String {
    let out = strata_in_lab_home(args);
    assert!(
        out.status.success(),
        "strata {}: {}",
        args.join(" "),
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command on a lab host (in the lab tests' home): whether it succeeded, and its trimmed
/// stdout.
pub fn on_lab_host(lab: &str, node: &str, script: &str) -> (bool, String) {
    let out = strata_in_lab_home(&["lab", "ssh", "--lab", lab, node, script]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

/// Where a failed lab test keeps its lab's logs: `target/lab-tests-logs/<lab>/`.
pub fn kept_logs(lab: &str) -> PathBuf {
    root().join("target/lab-tests-logs").join(lab)
}

/// One lab test's lab, taken down however the test ends, a failed assertion included, so
/// the next test (or the next run on a developer's machine) never starts from its leftovers.
/// A test that fails first has every host's journal and the deploy's logs kept under
/// [`kept_logs`] for reading.
pub struct LabGuard {
    lab: String,
}

impl LabGuard {
    /// Takes down what an earlier run left of `lab` and removes its cloud's files; the test
    /// then brings the lab up itself (with its own spec and catalog).
    pub fn fresh(lab: &str) -> LabGuard {
        let guard = LabGuard {
            lab: lab.to_owned(),
        };
        guard.down().unwrap_or_else(|why| panic!("{why}"));
        let _ = std::fs::remove_dir_all(kept_logs(lab));
        guard
    }

    fn down(&self) -> Result<(), String> {
        if lab_home().join("labs").join(&self.lab).exists() {
            let out = strata_in_lab_home(&["lab", "down", "--lab", &self.lab]);
            if !out.status.success() {
                return Err(format!("lab down {}: {}", self.lab, text(&out)));
            }
        }
        let _ = std::fs::remove_dir_all(lab_home().join("clouds").join(&self.lab));
        Ok(())
    }

    /// Every host's journal of this boot, the lab's status and the deploy's per-host logs.
    fn keep_logs(&self) -> PathBuf {
        let dir = kept_logs(&self.lab);
        let _ = std::fs::create_dir_all(&dir);
        let status = strata_in_lab_home(&["lab", "status", "--json", "--lab", &self.lab]);
        let _ = std::fs::write(dir.join("status.json"), &status.stdout);
        let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap_or_default();
        let hosts = doc[0]["hosts"].as_array().cloned().unwrap_or_default();
        for host in hosts.iter().filter(|h| h["running"] == true) {
            let Some(name) = host["name"].as_str() else {
                continue;
            };
            let journal = strata_in_lab_home(&[
                "lab",
                "ssh",
                "--lab",
                &self.lab,
                name,
                "journalctl -b --no-pager -o short-precise -n 20000",
            ]);
            let _ = std::fs::write(dir.join(format!("{name}.journal")), &journal.stdout);
        }
        let logs = lab_home().join("clouds").join(&self.lab).join("logs");
        if let Ok(entries) = std::fs::read_dir(&logs) {
            for entry in entries.flatten() {
                let _ = std::fs::copy(entry.path(), dir.join(entry.file_name()));
            }
        }
        dir
    }
}

impl Drop for LabGuard {
    #[allow(clippy::print_stderr)] // a drop cannot fail the test: it says what went wrong
    fn drop(&mut self) {
        if std::thread::panicking() {
            let dir = self.keep_logs();
            eprintln!(
                "lab {}: the test failed; its logs are kept in {}",
                self.lab,
                dir.display()
            );
        }
        match self.down() {
            Ok(()) => {}
            // Already failing: say it, as a second panic would abort the whole binary.
            Err(why) if std::thread::panicking() => eprintln!("{why}"),
            Err(why) => panic!("{why}"),
        }
    }
}

/// A host and its availability zone.
pub type HostInZone<'a> = (&'a str, &'a str);

/// What an operator sees with the `openstack` client on `controller` once compute and
/// networking are deployed: every compute of the spec up and a hypervisor, in its site's
/// availability zone and in Placement, and every Neutron agent alive in its zone.
/// `computes` is (host, availability zone), `dhcp` and `l3` (host, zone) of each DHCP and
/// L3 agent, and `hosts_with_l2` the number of linuxbridge agents (one per host that has
/// one).
pub fn assert_workloads(
    lab: &str,
    controller: &str,
    computes: &[(&str, &str)],
    (dhcp, l3): (&[HostInZone], &[HostInZone]),
    hosts_with_l2: usize,
) {
    fn sorted(items: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut v: Vec<String> = items.into_iter().collect();
        v.sort();
        v
    }
    let run = |what: &str, script: &str| -> Vec<String> {
        let (ok, out) = on_lab_host(lab, controller, &format!(". /root/openrc && {script}"));
        assert!(ok, "{what}: {out}");
        sorted(out.lines().map(str::to_owned))
    };
    let want = sorted(
        computes
            .iter()
            .map(|(h, z)| format!("nova-compute {h} {z} up")),
    );
    let services = run(
        "compute services",
        "openstack compute service list --service nova-compute -f value -c Binary -c Host -c Zone -c State",
    );
    assert_eq!(services, want, "nova-compute in every zone");
    let hosts = sorted(computes.iter().map(|(h, _)| h.to_string()));
    let hypervisors = run(
        "hypervisors",
        "openstack hypervisor list -f value -c 'Hypervisor Hostname' -c State | sed 's/ up$//'",
    );
    assert_eq!(hypervisors, hosts, "a hypervisor per compute");
    let providers = run(
        "resource providers",
        "openstack resource provider list -f value -c name",
    );
    assert_eq!(providers, hosts, "a resource provider per compute");
    let mut zones = sorted(computes.iter().map(|(_, z)| z.to_string()));
    zones.dedup();
    let listed = run(
        "compute zones",
        "openstack availability zone list --compute -f value -c 'Zone Name' -c 'Zone Status' | grep ' available$' | sed 's/ available$//' | grep -vx internal",
    );
    assert_eq!(listed, zones, "a compute zone per site");
    // Cinder: every service up, and each zone of computes keeps its volumes and backups.
    let volume_services = run(
        "volume services",
        "openstack volume service list -f value -c Binary -c Zone -c State",
    );
    assert!(
        volume_services.iter().all(|s| s.ends_with(" up")),
        "every volume service up: {volume_services:?}"
    );
    for z in &zones {
        for binary in ["cinder-volume", "cinder-backup"] {
            assert!(
                volume_services.contains(&format!("{binary} {z} up")),
                "{binary} in zone {z}: {volume_services:?}"
            );
        }
    }
    let agents = run(
        "network agents",
        "openstack network agent list -f value -c Binary -c Host -c 'Availability Zone' -c Alive",
    );
    assert!(
        agents.iter().all(|a| a.contains(" True ")),
        "every agent alive: {agents:?}"
    );
    for (h, z, binary) in dhcp
        .iter()
        .map(|(h, z)| (h, z, "neutron-dhcp-agent"))
        .chain(l3.iter().map(|(h, z)| (h, z, "neutron-l3-agent")))
    {
        assert!(
            agents
                .iter()
                .any(|a| a.starts_with(&format!("{h} {z} ")) && a.ends_with(&format!(" {binary}"))),
            "{binary} on {h} in zone {z}: {agents:?}"
        );
    }
    // As many L3 and L2 agents as the spec puts.
    for (binary, want) in [
        ("neutron-l3-agent", l3.len()),
        ("neutron-linuxbridge-agent", hosts_with_l2),
    ] {
        let found = agents
            .iter()
            .filter(|a| a.ends_with(&format!(" {binary}")))
            .count();
        assert_eq!(found, want, "{binary}s: {agents:?}");
    }
}

/// A GET of `path` from the HTTP server at `addr`: the body, or None when nothing answers
/// 200.
pub fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).ok()?;
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    write!(conn, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    (head.split(' ').nth(1) == Some("200")).then(|| body.to_owned())
}

/// Debian's Chromium, headless, as the machine's probe starts it (no background networking:
/// this machine's network is closed): `extra` arguments, then `url`. Its stdout.
pub fn headless_chromium(extra: &[&str], url: &str) -> String {
    let profile = std::env::temp_dir().join(format!("strata-chromium-{}", std::process::id()));
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs (scripts/test installs Debian's package)");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium {extra:?} {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Records the command line of every program started through SSH on a lab host while it is
/// attached: strace, run on this machine, follows the host's sshd and every session it
/// forks, and writes each `execve` with its whole argument list. A recorder, not a sampler of
/// process lists: a process that lives a millisecond is recorded as surely as a daemon.
/// (What systemd starts is not followed: its units come from the catalog's templates, which
/// the catalog's unit test searches for secrets.)
pub struct ExecRecorder {
    strace: std::process::Child,
    out: PathBuf,
}

impl ExecRecorder {
    /// Attaches to `node`'s sshd and to every session it has open (a ControlMaster
    /// connection made before this call included).
    pub fn attach(lab: &str, node: &str) -> ExecRecorder {
        let (ok, main_pid) = on_lab_host(lab, node, "systemctl show -p MainPID --value ssh");
        assert!(ok && main_pid != "0", "{node}'s sshd: {main_pid:?}");
        let nspawn = lab_host_pid(lab, node);
        let table = processes();
        let in_host = descendants(&table, nspawn);
        // The sshd as this machine numbers it: in the host, with the host's number last.
        let sshd = in_host
            .iter()
            .copied()
            .find(|p| table[p].1.as_deref() == Some(main_pid.as_str()))
            .unwrap_or_else(|| panic!("{node}'s sshd ({main_pid} in the host) not found"));
        let mut traced = vec![sshd];
        traced.extend(descendants(&table, sshd));
        let out = std::env::temp_dir().join(format!(
            "strata-execs-{lab}-{node}-{}.txt",
            std::process::id()
        ));
        let mut cmd = Command::new("strace");
        cmd.args([
            "-f",
            "-qq",
            "-e",
            "trace=execve,execveat",
            "-e",
            "signal=none",
        ])
        .args(["-s", "131072", "-o"])
        .arg(&out);
        for pid in &traced {
            cmd.arg("-p").arg(pid.to_string());
        }
        // What strace says goes to a file: a session that ended between the listing and the
        // attach draws a "No such process" that means nothing, and shows only on failure.
        let said = out.with_extension("err");
        let strace = cmd
            .stdin(std::process::Stdio::null())
            .stderr(std::fs::File::create(&said).unwrap())
            .spawn()
            .expect("strace runs (scripts/test installs Debian's package)");
        // strace writes nothing until a traced process execs: wait until it has attached,
        // which it shows as a tracer in the sshd's status.
        let status = format!("/proc/{sshd}/status");
        let start = std::time::Instant::now();
        while !std::fs::read_to_string(&status)
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("TracerPid:") && l.split_whitespace().nth(1) != Some("0"))
        {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "strace did not attach to {node}'s sshd ({sshd}): {}",
                std::fs::read_to_string(&said).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        ExecRecorder { strace, out }
    }

    /// Detaches, and returns each recorded exec as strace wrote it (the program, then its
    /// arguments, all whole).
    pub fn stop(mut self) -> Vec<String> {
        // SIGINT to our own child: strace detaches from every traced process and exits.
        let _ = Command::new("kill")
            .args(["-INT", &self.strace.id().to_string()])
            .status();
        let _ = self.strace.wait();
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let _ = std::fs::remove_file(&self.out);
        let _ = std::fs::remove_file(self.out.with_extension("err"));
        text.lines()
            .filter(|l| l.contains(" execve(") || l.contains(" execveat("))
            .map(str::to_owned)
            .collect()
    }
}

/// The process of a lab host on this machine (its systemd-nspawn), as the lab recorded it.
pub fn lab_host_pid(lab: &str, node: &str) -> i64 {
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab_home().join("labs").join(lab).join("lab.json")).unwrap(),
    )
    .unwrap();
    record["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == node)
        .and_then(|h| h["pid"].as_i64())
        .unwrap_or_else(|| panic!("{node} in {lab}'s lab.json"))
}

/// Every process of this machine: its parent, and its number in its own PID namespace.
fn processes() -> std::collections::HashMap<i64, (i64, Option<String>)> {
    let mut table = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i64>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        };
        let parent = field("PPid:")
            .and_then(|v| v.first()?.parse().ok())
            .unwrap_or(0);
        let inner = field("NSpid:").and_then(|v| v.last().cloned());
        table.insert(pid, (parent, inner));
    }
    table
}

/// The processes below `root` in `table`, at any depth.
fn descendants(
    table: &std::collections::HashMap<i64, (i64, Option<String>)>,
    root: i64,
) -> Vec<i64> {
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        let children: Vec<i64> = table
            .iter()
            .filter(|(_, (parent, _))| *parent == p)
            .map(|(pid, _)| *pid)
            .collect();
        frontier.extend(&children);
        found.extend(children);
    }
    found
}

/// Every secret the deploys of `cloud` generated or were given, read as the engine reads
/// them (its state database, opened to look only).
/// UUIDs kept there (a Ceph cluster's fsid, the UUID libvirt's Ceph secret is filed under)
/// are left out: they name things, are written in world-readable files such as ceph.conf,
/// and commands take them as arguments.
pub fn cloud_secrets(cloud: &str) -> Vec<String> {
    let dir = lab_home().join("clouds").join(cloud);
    strata_engine::State::open_read_only(&dir)
        .and_then(|state| state.secret_values())
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .into_iter()
        .filter(|v| !is_uuid(v))
        .collect()
}

/// Whether `value` is a UUID in its usual text form (8-4-4-4-12 hex digits).
fn is_uuid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The recorded execs that carry one of `secrets` on their command line, with the secret
/// masked, so that a failing test does not print it.
pub fn execs_with_a_secret(execs: &[String], secrets: &[String]) -> Vec<String> {
    execs
        .iter()
        .filter_map(|e| {
            let mut masked = e.clone();
            for s in secrets.iter().filter(|s| s.len() >= 8) {
                masked = masked.replace(s.as_str(), "<secret>");
            }
            (masked != *e).then_some(masked)
        })
        .collect()
}
