//! The engine on real lab hosts, run as a user runs it: `strata deploy` of the demo service
//! (bench/engine: 20 templated files, a generated secret, 5 guarded commands, memcached) on
//! three hosts at two sites. A second run applies nothing; a deploy killed at random points
//! and started again converges without redoing finished steps; a host that goes down fails
//! clearly while the others finish, and a re-run converges once it is back; no generated
//! secret shows in any log, event or terminal output; two deploys never run at once; a
//! failure shows the reason its service logged, `status` counts what it stopped as skipped,
//! and a stopped lab host is named at once; the recorder of execs finds a secret put on a
//! command line.
#![cfg(feature = "lab-tests")]
#![allow(clippy::print_stderr)]

use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

static SERIAL: Mutex<()> = Mutex::new(());

const SPEC: &str = "bench/engine/spec.yaml";
const CATALOG: &str = "bench/engine/catalog";
const LAB: &str = "enginetest";
const HOSTS: [&str; 3] = ["e-0", "e-1", "w-0"];

mod common;
use common::{
    cloud_secrets, execs_with_a_secret, lab_home as home, lab_host_pid, root, text, ExecRecorder,
    LabGuard,
};

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
    cmd.args(args)
        .current_dir(root())
        .env("STRATA_HOME", home())
        .env("STRATA_CATALOG", root().join(CATALOG));
    cmd
}

fn strata(args: &[&str]) -> Output {
    command(args).output().unwrap()
}

/// `strata ARGS` with the catalog of the engine's fixtures (crates/strata/tests/fixtures/engine:
/// the flaky, once, slow and reasons services) in place of the demo's.
fn with_fixtures(args: &[&str]) -> Command {
    let mut cmd = command(args);
    cmd.env(
        "STRATA_CATALOG",
        root().join("crates/strata/tests/fixtures/engine/catalog"),
    );
    cmd
}

fn fixtures(args: &[&str]) -> Output {
    with_fixtures(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = strata(args);
    assert!(
        out.status.success(),
        "strata {}: {}",
        args.join(" "),
        text(&out)
    );
    text(&out)
}

fn ssh(node: &str, script: &str) -> String {
    let out = strata(&["lab", "ssh", "--lab", LAB, node, script]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The JSON events of a `deploy --json` run, by kind.
fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn report(stdout: &str) -> serde_json::Value {
    events(stdout)
        .into_iter()
        .find(|e| e["event"] == "report")
        .map(|e| e["report"].clone())
        .expect("a report line")
}

/// The demo lab from nothing; it goes down when the returned guard drops.
fn fresh_lab() -> LabGuard {
    let guard = LabGuard::fresh(LAB);
    ok(&["lab", "up", SPEC]);
    guard
}

/// Every host as the demo service wants it: files, each guarded command run exactly once,
/// memcached running.
fn assert_converged() {
    for h in HOSTS {
        let out = ssh(h, "ls /etc/demo | wc -l; cat /var/lib/demo/ran-1 /var/lib/demo/ran-2 /var/lib/demo/ran-3 /var/lib/demo/ran-4 /var/lib/demo/ran-5 | wc -l; systemctl is-active memcached; grep -c '^host = ' /etc/demo/file-11.conf");
        assert_eq!(
            out.split_whitespace().collect::<Vec<_>>(),
            vec!["20", "5", "active", "1"],
            "{h}: files, one run of each guarded command, memcached"
        );
    }
}

#[test]
fn a_second_run_applies_nothing_and_drift_is_corrected() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _lab = fresh_lab();
    let first = strata(&["deploy", "--json", SPEC]);
    assert!(first.status.success(), "{}", text(&first));
    let r = report(&String::from_utf8_lossy(&first.stdout));
    assert_eq!(r["changed"], 3, "{r}");
    assert_converged();
    let second = strata(&["deploy", "--json", SPEC]);
    let r = report(&String::from_utf8_lossy(&second.stdout));
    assert_eq!(
        (
            r["changed"].as_u64(),
            r["unchanged"].as_u64(),
            r["failures"].as_array().map(Vec::len)
        ),
        (Some(0), Some(8), Some(0)),
        "{r}"
    );
    assert_eq!(
        r["looked_ahead"], 8,
        "after a complete run, the look ahead finds every step done: {r}"
    );
    // Drift: a file removed and memcached's config edited are put back, memcached restarted.
    ssh(
        "w-0",
        "rm /etc/demo/file-05.conf; sed -i 's/-m 32/-m 64/' /etc/memcached.conf",
    );
    let third = strata(&["deploy", "--json", SPEC]);
    let done: Vec<serde_json::Value> = events(&String::from_utf8_lossy(&third.stdout))
        .into_iter()
        .filter(|e| e["event"] == "done" && !e["actions"].as_array().unwrap().is_empty())
        .collect();
    assert_eq!(done.len(), 1, "only w-0's step changed: {done:?}");
    // The look ahead saw west's ready step done (memcached answering, the fetch read), but
    // w-0's configure restarted memcached before it: it waited for itself, on the host.
    let west_ready: Vec<serde_json::Value> = events(&String::from_utf8_lossy(&third.stdout))
        .into_iter()
        .filter(|e| {
            e["event"] == "done"
                && e["step"].as_str().unwrap().starts_with("west/")
                && e["step"].as_str().unwrap().contains("ready")
        })
        .collect();
    assert_eq!(west_ready.len(), 1, "{west_ready:?}");
    assert_eq!(
        west_ready[0]["looked_ahead"], false,
        "a step after a change gathers its own facts: {west_ready:?}"
    );
    assert_eq!(
        done[0]["actions"],
        serde_json::json!([
            "write /etc/demo/file-05.conf",
            "write /etc/memcached.conf",
            "restart memcached (its configuration or packages changed)"
        ])
    );
    assert_converged();
}

#[test]
fn a_deploy_killed_at_random_points_converges_without_redoing_steps() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    for round in 0..3u64 {
        let _lab = fresh_lab();
        let delay = 150
            + (seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(round * 1442695040888963407)
                >> 33)
                % 750;
        let mut child = command(&["deploy", "--json", SPEC])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let killed = child.wait_with_output().unwrap();
        let before: Vec<String> = events(&String::from_utf8_lossy(&killed.stdout))
            .into_iter()
            .filter(|e| e["event"] == "done")
            .map(|e| e["step"].as_str().unwrap().to_owned())
            .collect();
        let again = strata(&["deploy", "--json", SPEC]);
        assert!(again.status.success(), "{}", text(&again));
        let after = events(&String::from_utf8_lossy(&again.stdout));
        let resumed: Vec<&str> = after
            .iter()
            .filter(|e| e["event"] == "resumed")
            .map(|e| e["step"].as_str().unwrap())
            .collect();
        eprintln!(
            "round {round}: killed after {delay} ms with {} steps done; the next run resumed {}",
            before.len(),
            resumed.len()
        );
        // A kill that lands after the deploy finished leaves nothing to resume: the next run
        // is an ordinary one.
        let finished = events(&String::from_utf8_lossy(&killed.stdout))
            .iter()
            .any(|e| e["event"] == "report");
        if finished {
            assert!(
                resumed.is_empty(),
                "a finished run is not resumed: {resumed:?}"
            );
        }
        for step in before.iter().filter(|_| !finished) {
            assert!(
                resumed.contains(&step.as_str()),
                "{step} finished before the kill and must not be redone\nkilled run:\n{}\nnext run:\n{}",
                String::from_utf8_lossy(&killed.stdout),
                String::from_utf8_lossy(&again.stdout)
            );
        }
        assert_converged();
        let r = report(&String::from_utf8_lossy(
            &strata(&["deploy", "--json", SPEC]).stdout,
        ));
        assert_eq!(
            r["changed"], 0,
            "converged: a further run changes nothing: {r}"
        );
    }
}

#[test]
fn a_host_that_goes_down_fails_clearly_while_the_others_finish() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _lab = fresh_lab();
    ok(&["lab", "unplug", "--lab", LAB, "w-0"]);
    let run = strata(&["deploy", SPEC]);
    ok(&["lab", "plug", "--lab", LAB, "w-0"]);
    let route = Command::new("ip")
        .args([
            "-n",
            &format!("strata.{LAB}.w-0"),
            "route",
            "show",
            "default",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&route.stdout).contains("via 10.72.0.1"),
        "plugged back in, the host has its default route again"
    );
    let out = text(&run);
    assert_eq!(run.status.code(), Some(1), "{out}");
    assert!(
        out.contains("host e-0 finished") && out.contains("site east finished"),
        "progress per host and site: {out}"
    );
    assert!(
        out.contains("failed: west/w-0/base:packages on w-0")
            && out.contains("while: reach the host"),
        "{out}"
    );
    assert!(
        out.contains("not run because of it (2): west/w-0/demo:configure, west/w-0/demo:ready"),
        "dependents are reported under the failure: {out}"
    );
    assert_eq!(
        out.matches("FAILED").count(),
        1,
        "only the cause is reported as a failure: {out}"
    );
    for h in ["e-0", "e-1"] {
        assert_eq!(ssh(h, "ls /etc/demo | wc -l").trim(), "20", "{h} finished");
    }
    // The host's log says it did not answer, in words (once "(status None)").
    let log =
        std::fs::read_to_string(home().join("clouds").join(LAB).join("logs/w-0.log")).unwrap();
    assert!(
        log.contains("west/w-0/base:packages FAILED: reach the host (no exit status: the host did not answer)")
            && !log.contains("None"),
        "{log}"
    );
    let status = ok(&["status", SPEC]);
    assert!(
        status.contains("failed: west/w-0/base:packages"),
        "{status}"
    );
    // Back: the next run converges.
    let again = strata(&["deploy", SPEC]);
    assert!(again.status.success(), "{}", text(&again));
    assert_converged();
}

#[test]
fn secrets_never_reach_logs_events_or_the_terminal_and_deploys_do_not_overlap() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _lab = fresh_lab();
    let mut seen = String::new();
    // A deploy that is slowed down, to try a second one while it holds the lock.
    let first = command(&["deploy", SPEC])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let second = strata(&["deploy", SPEC]);
    let first = first.wait_with_output().unwrap();
    seen.push_str(&text(&first));
    seen.push_str(&text(&second));
    if !second.status.success() {
        assert!(
            text(&second).contains("another deploy of this cloud is running: pid"),
            "{}",
            text(&second)
        );
    } else {
        eprintln!("the first deploy ended before the second started; the lock is also unit-tested");
    }
    for args in [
        vec!["deploy", "--json", SPEC],
        vec!["deploy", SPEC],
        vec!["status", SPEC],
        vec!["plan", SPEC],
    ] {
        seen.push_str(&text(&strata(&args)));
    }
    let secret = ssh("e-0", "cut -d' ' -f3 /etc/demo/secret.conf")
        .trim()
        .to_owned();
    assert_eq!(secret.len(), 32, "the host got the generated secret");
    assert_eq!(
        ssh("w-0", "cut -d' ' -f3 /etc/demo/secret.conf").trim(),
        secret,
        "one secret for the cloud"
    );
    assert!(
        !seen.contains(&secret),
        "a secret reached the terminal or the event stream"
    );
    let dir = home().join("clouds").join(LAB);
    for entry in std::fs::read_dir(dir.join("logs")).unwrap() {
        let log = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!log.contains(&secret), "a secret reached a log");
    }
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(dir.join("state.db"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(ssh("e-0", "stat -c %a /etc/demo/secret.conf").trim(), "600");
}

#[test]
fn a_step_that_declares_it_safe_is_tried_again() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let spec = "crates/strata/tests/fixtures/engine/flaky.yaml";
    let run = fixtures;
    let _lab = LabGuard::fresh("retrytest");
    assert!(run(&["lab", "up", spec]).status.success());
    let deploy = run(&["deploy", spec]);
    assert!(deploy.status.success(), "{}", text(&deploy));
    let tries = String::from_utf8_lossy(
        &run(&[
            "lab",
            "ssh",
            "--lab",
            "retrytest",
            "f-0",
            "wc -l < /var/lib/flaky/tries",
        ])
        .stdout,
    )
    .trim()
    .to_owned();
    assert_eq!(tries, "2", "failed once, then worked on the retry");
    let log = std::fs::read_to_string(home().join("clouds/retrytest/logs/f-0.log")).unwrap();
    assert!(log.contains("try 2 of 3"), "{log}");
}

#[test]
fn a_galera_cluster_forms_replicates_and_recovers_from_its_most_advanced_member() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let spec = "crates/strata/tests/fixtures/engine/galera.yaml";
    // The built-in catalog: no STRATA_CATALOG.
    let run = |args: &[&str]| command(args).env_remove("STRATA_CATALOG").output().unwrap();
    let on = |node: &str, script: &str| {
        let out = run(&["lab", "ssh", "--lab", "galeratest", node, script]);
        assert!(out.status.success(), "{node}: {script}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let sql = |node: &str, query: &str| on(node, &format!("mysql -N -B -e \"{query}\""));
    // Deploys, and checks every member holds `rows`; returns the bootstrap choice made.
    let recover = |rows: &str| {
        let deploy = run(&["deploy", spec]);
        assert!(deploy.status.success(), "{}", text(&deploy));
        for node in ["db-0", "db-1", "db-2"] {
            assert_eq!(
                sql(node, "SELECT GROUP_CONCAT(id ORDER BY id) FROM t.r"),
                rows,
                "{node} has every row"
            );
            assert_eq!(
                sql(node, "SHOW STATUS LIKE 'wsrep_cluster_size'"),
                "wsrep_cluster_size\t3",
                "{node}"
            );
        }
        on("db-0", "cat /var/lib/strata/galera-db.last-choice")
    };
    let _lab = LabGuard::fresh("galeratest");
    let up = run(&["lab", "up", spec]);
    assert!(up.status.success(), "{}", text(&up));
    let deploy = run(&["deploy", spec]);
    assert!(deploy.status.success(), "{}", text(&deploy));
    for node in ["db-0", "db-1", "db-2"] {
        assert_eq!(
            sql(node, "SHOW STATUS LIKE 'wsrep_cluster_size'"),
            "wsrep_cluster_size\t3",
            "{node}"
        );
        assert_eq!(
            sql(node, "SHOW STATUS LIKE 'wsrep_local_state_comment'"),
            "wsrep_local_state_comment\tSynced",
            "{node}"
        );
    }
    sql(
        "db-0",
        "CREATE DATABASE t; CREATE TABLE t.r (id INT PRIMARY KEY); INSERT INTO t.r VALUES (42)",
    );
    assert_eq!(
        sql("db-2", "SELECT id FROM t.r"),
        "42",
        "written on one member, read on another"
    );
    let status = on("db-2", "python3 -c \"import urllib.request; print(urllib.request.urlopen('http://10.74.0.11:9200/').status)\"");
    assert_eq!(
        status, "200",
        "clustercheck answers 200 for a Synced member"
    );
    let again = run(&["deploy", "--json", spec]);
    assert_eq!(
        report(&String::from_utf8_lossy(&again.stdout))["changed"],
        0,
        "a re-run changes nothing"
    );

    // Every member stopped, the first one stale: the cluster restarts from the member with
    // the highest committed seqno, and no row is lost.
    let stop = |node: &str| on(node, "systemctl stop mariadb");
    stop("db-0");
    sql("db-1", "INSERT INTO t.r VALUES (43)");
    stop("db-2");
    sql("db-1", "INSERT INTO t.r VALUES (44)");
    stop("db-1");
    assert_eq!(
        recover("42,43,44"),
        "bootstrap db-1",
        "the most advanced member, not the first"
    );

    // Every member crashed (seqno -1 in grastate.dat): positions come from
    // mariadbd --wsrep-recover, and the cluster comes back from a most advanced member.
    let crash = |node: &str| {
        on(
            node,
            "systemctl kill -s KILL mariadb; systemctl stop mariadb",
        )
    };
    crash("db-0");
    sql("db-1", "INSERT INTO t.r VALUES (45)");
    crash("db-2");
    crash("db-1");
    let grastate = on("db-1", "grep seqno /var/lib/mysql/grastate.dat");
    assert!(
        grastate.contains("-1"),
        "a crash leaves no seqno: {grastate}"
    );
    let choice = recover("42,43,44,45");
    assert!(
        choice == "bootstrap db-1" || choice == "bootstrap db-2",
        "a most advanced member, not the stale db-0: {choice}"
    );
}

#[test]
fn hosts_made_again_are_not_trusted_with_steps_done_on_their_predecessors() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _lab = fresh_lab();
    let mut child = command(&["deploy", "--json", SPEC])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let _ = child.kill();
    let killed = child.wait_with_output().unwrap();
    let done = events(&String::from_utf8_lossy(&killed.stdout))
        .iter()
        .filter(|e| e["event"] == "done")
        .count();
    // The lab made again: same names and addresses, new hosts (new machine ids).
    ok(&["lab", "down", "--lab", LAB]);
    ok(&["lab", "up", SPEC]);
    let again = strata(&["deploy", "--json", SPEC]);
    assert!(again.status.success(), "{}", text(&again));
    let r = report(&String::from_utf8_lossy(&again.stdout));
    eprintln!(
        "{done} steps were done on the old hosts; the next run resumed {}",
        r["resumed"]
    );
    assert_eq!(
        r["resumed"], 0,
        "nothing done on the old hosts is resumed on the new ones: {r}"
    );
    assert_converged();
}

/// A link lost while a step runs on its host fails that step within seconds, naming the
/// host, instead of holding the deploy until the step's timeout (ssh keepalives). While it
/// runs, a second deploy is refused, as an event too.
#[test]
fn a_link_lost_mid_step_fails_that_step_within_seconds() {
    use std::io::BufRead;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let spec = "crates/strata/tests/fixtures/engine/slow.yaml";
    let _lab = LabGuard::fresh("losttest");
    let up = fixtures(&["lab", "up", spec]);
    assert!(up.status.success(), "{}", text(&up));
    let mut deploy = with_fixtures(&["deploy", "--json", spec])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Events through a channel, so that a step that never fails fails the test in bounded
    // time instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = deploy.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |what: &str, limit: Duration| -> Option<String> {
        let until = std::time::Instant::now() + limit;
        loop {
            let left = until.checked_duration_since(std::time::Instant::now())?;
            let line = rx.recv_timeout(left).ok()?;
            if line.contains(what) && line.contains("slow:settle") {
                return Some(line);
            }
        }
    };
    // Wait until the slow step runs on its host, then cut the host's link.
    wait_for("\"started\"", Duration::from_secs(60)).expect("the slow step started");
    // A second deploy meanwhile is refused, and says so as an event too, with the holder's
    // start as a date.
    let second = fixtures(&["deploy", "--json", spec]);
    let refused = String::from_utf8_lossy(&second.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "refused")
        .unwrap_or_else(|| panic!("a refused event: {}", text(&second)));
    let reason = refused["reason"].as_str().unwrap_or_default();
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    assert!(
        reason.contains("another deploy of this cloud is running: pid") && reason.contains(" UTC"),
        "{reason}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let plug = |verb: &str| {
        let out = strata(&["lab", verb, "--lab", "losttest", "s-0"]);
        assert!(out.status.success(), "{}", text(&out));
    };
    plug("unplug");
    let cut = std::time::Instant::now();
    let failed = wait_for("\"failed\"", Duration::from_secs(45)).map(|l| (cut.elapsed(), l));
    let _ = deploy.kill();
    let _ = deploy.wait();
    plug("plug");
    let (after, event) = failed.expect("the step failed within 45 s of the cut");
    eprintln!("the step failed {after:?} after the cut: {event}");
    assert!(after < Duration::from_secs(30), "{after:?}: {event}");
    assert!(
        event.contains("s-0") && event.contains("stay connected to the host"),
        "{event}"
    );
}

/// A deploy killed while its command runs on a host, and started again at once, never
/// runs that command beside the killed run's copy (which goes on there): the re-run waits
/// for it, then asks its guard again. Six rounds, each on fresh hosts.
#[test]
fn a_rerun_at_once_never_races_the_killed_runs_command() {
    use std::io::BufRead;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let spec = "crates/strata/tests/fixtures/engine/once.yaml";
    for round in 0..6 {
        let _lab = LabGuard::fresh("oncetest");
        let up = with_fixtures(&["lab", "up", spec]).output().unwrap();
        assert!(up.status.success(), "{}", text(&up));
        let mut first = with_fixtures(&["deploy", "--json", spec])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(first.stdout.take().unwrap()).lines();
        let started = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("\"started\"") && l.contains("once:work"));
        assert!(started, "the command's step started");
        std::thread::sleep(Duration::from_millis(500));
        let _ = first.kill(); // its command goes on, on the host
        let _ = first.wait();
        let again = with_fixtures(&["deploy", spec]).output().unwrap();
        assert!(again.status.success(), "round {round}: {}", text(&again));
        let runs = command(&[
            "lab",
            "ssh",
            "--lab",
            "oncetest",
            "o-0",
            "cat /var/lib/once/runs",
        ])
        .output()
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&runs.stdout).lines().count(),
            1,
            "round {round}: the command ran once (the killed run's copy)"
        );
    }
}

/// A failed step's report shows the reason its service logged (the step's `logs:`), not only
/// the shutdown traceback its command printed last; `strata status` then counts the step
/// the failure stopped as skipped, not done, and the independent step as done.
#[test]
fn a_failure_shows_the_reason_its_service_logged_and_status_counts_honestly() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let spec = "crates/strata/tests/fixtures/engine/reasons.yaml";
    let run = fixtures;
    let _lab = LabGuard::fresh("reasonstest");
    let up = run(&["lab", "up", spec]);
    assert!(up.status.success(), "{}", text(&up));
    let recorder = ExecRecorder::attach("reasonstest", "r-0");
    let deploy = run(&["deploy", spec]);
    let execs = recorder.stop();
    let out = text(&deploy);
    assert_eq!(deploy.status.code(), Some(1), "{out}");
    // The recorder saw the steps' programs, and the one secret put on a command line (the
    // lab tests of the real catalog trust it to find none there).
    assert!(
        execs
            .iter()
            .any(|e| e.contains("\"touch\", \"/var/lib/reasons/noted\"")),
        "the recorder saw `touch /var/lib/reasons/noted`: {execs:#?}"
    );
    let leaked = execs_with_a_secret(&execs, &cloud_secrets("reasonstest"));
    assert!(
        leaked.len() == 1 && leaked[0].contains("\"leak-<secret>\""),
        "the recorder found the leak step's secret, and only it: {leaked:#?}"
    );
    assert!(
        out.contains("failed: solo/r-0/reasons:migrate on r-0"),
        "{out}"
    );
    assert!(
        out.contains("==> /var/log/reasons/manage.log <==")
            && out.contains("Access denied for user reasons@10.74.3.11"),
        "the reason from the service's own log: {out}"
    );
    assert!(
        out.contains("not run because of it (1): solo/r-0/reasons:start"),
        "{out}"
    );
    let noted = run(&[
        "lab",
        "ssh",
        "--lab",
        "reasonstest",
        "r-0",
        "test -f /var/lib/reasons/noted && ! test -e /var/lib/reasons/started && echo yes",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&noted.stdout).trim(),
        "yes",
        "the independent step ran, the dependent one did not"
    );
    let status = run(&["status", spec]);
    let status = text(&status);
    assert!(
        status.contains(", 1 failed, 1 skipped because of a failure, 0 not run"),
        "{status}"
    );
    assert!(
        status.contains("failed: solo/r-0/reasons:migrate"),
        "{status}"
    );

    // The host stopped, as after the machine's reboot: a deploy says so at once and names the
    // way back, rather than trying the node's address until a timeout.
    let pid = lab_host_pid("reasonstest", "r-0");
    let stop = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(stop.success(), "r-0's systemd-nspawn ({pid}) takes SIGTERM");
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    let asked = std::time::Instant::now();
    while proc_dir.exists() && asked.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!proc_dir.exists(), "r-0 shut down within 60 s");
    let started = std::time::Instant::now();
    let refused = run(&["deploy", spec]);
    let took = started.elapsed();
    let said = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(
        said.contains("the lab of `reasonstest` is not running (stopped: r-0): `strata lab up SPEC` starts it again"),
        "{said}"
    );
    assert!(
        took < Duration::from_secs(5),
        "said at once, not after a timeout: {took:?}"
    );
}
