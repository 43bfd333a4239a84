//! The walk without hosts and without root: a spec of two nodes whose catalog service runs
//! only commands (each writes a line to a file of this test's own), deployed through the
//! local transport (`sh` on this machine). A first run does every step once, in order; a
//! second changes nothing; a failing step stops only what depends on it, which is reported
//! under it, while the other host finishes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_catalog::Catalog;
use strata_engine::{
    deploy, step_states, DeployOptions, Event, Inventory, Redactor, Report, State, StepState,
    Target,
};
use strata_source::{Diagnostics, SourceMap};
use strata_transport::{Local, Transport};

/// A scratch directory of one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("strata-walk-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `demo` service: `configure`, `start`, `check` on every host; each step appends its
/// name to `<dir>/<host>` once (guarded), and `start` fails on a host listed in
/// `<dir>/fail` while that file exists, writing why to the log its catalog names.
fn catalog_dir(dir: &Path) -> PathBuf {
    let log = |action: &str| {
        format!(
            "{{ run: \"echo {action} >> {d}/{{{{ host.name }}}}\", unless: \"grep -qx {action} {d}/{{{{ host.name }}}}\" }}",
            d = dir.display()
        )
    };
    catalog_of(
        dir,
        "demo",
        &format!(
            "name: demo\nsteps:\n  - action: configure\n    ops:\n      - command: {}\n  - action: start\n    after: [configure]\n    logs: [\"{d}/{{{{ host.name }}}}.why\"]\n    ops:\n      - command: {{ run: \"if grep -qx {{{{ host.name }}}} {d}/fail; then echo the real reason is in the log > {d}/{{{{ host.name }}}}.why; echo Traceback of a shutdown >&2; exit 1; fi\", unless: \"test ! -e {d}/fail\" }}\n      - command: {}\n  - action: check\n    after: [start]\n    ops:\n      - command: {}\nchecks:\n  - name: its log says it was checked\n    on: each\n    run: \"grep -qx check {d}/{{{{ host.name }}}}\"\n  - name: only on a\n    on: each\n    run: \"{{% if host.name == 'a' %}}grep -qx start {d}/a{{% endif %}}\"\n  - name: seen from the deployer\n    on: each\n    run: \"{{% if host.name == 'b' %}}touch {d}/b.left; echo b-left-this{{% endif %}}\"\n    deployer: \"test -e {d}/b.left && echo {{{{ printed }}}} >> {d}/deployer\"\n    finally: \"rm {d}/{{{{ host.name }}}}.left\"\n",
            log("configure"),
            log("start"),
            log("check"),
            d = dir.display()
        ),
    )
}

/// A catalog in `<dir>/catalog` of one service, `<name>.yaml` with `text`.
fn catalog_of(dir: &Path, name: &str, text: &str) -> PathBuf {
    let catalog = dir.join("catalog");
    std::fs::create_dir_all(catalog.join("services")).unwrap();
    std::fs::write(catalog.join(format!("services/{name}.yaml")), text).unwrap();
    catalog
}

const SPEC: &str = "cloud: walk\nroles:\n  Demo: { services: [demo] }\nsites:\n  one:\n    subnet: 10.99.0.0/24\n    nodes:\n      a: { role: Demo, ip: 10.99.0.11 }\n      b: { role: Demo, ip: 10.99.0.12 }\n";

/// Deploys the spec with the local transport for every host; the report and the events.
fn run(dir: &Path) -> (Report, Vec<Event>) {
    let (report, events, _) = run_and_look(dir);
    (report, events)
}

/// Where every apply keeps its run's lock (`DeployOptions::lock_dir`), as the deploy names it.
fn lock_of_the_deploy(dir: &Path) -> String {
    dir.join("runs").display().to_string()
}

/// A host's own lock directory. Each real host has one; the hosts of these tests share a
/// machine, and one for both would make a host's steps wait for the other's earlier runs.
fn lock_of_host(dir: &Path, host: &str) -> PathBuf {
    dir.join(format!("runs-{host}"))
}

/// The local transport with its host's own lock in place of the deploy's.
struct OwnLock {
    local: Local,
    deploy_lock: String,
    own_lock: String,
}

impl Transport for OwnLock {
    fn host(&self) -> &str {
        self.local.host()
    }

    fn run(
        &self,
        script: &str,
        timeout: Duration,
    ) -> Result<strata_transport::Output, strata_transport::TransportError> {
        self.local
            .run(&script.replace(&self.deploy_lock, &self.own_lock), timeout)
    }
}

/// Builds the spec's target (the local transport for every host) and hands it to `f`.
fn on_target<R>(dir: &Path, f: impl FnOnce(&Target) -> R) -> R {
    on_target_of(dir, &catalog_dir(dir), SPEC, f)
}

/// `on_target` for another catalog and spec.
fn on_target_of<R>(dir: &Path, catalog: &Path, spec: &str, f: impl FnOnce(&Target) -> R) -> R {
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let catalog = Catalog::load(&mut sources, Some(catalog), &mut diags).unwrap();
    let loaded = strata_spec::load_str(&mut sources, vec![("spec.yaml".into(), spec.into())]);
    diags.extend(loaded.diagnostics);
    let model = strata_model::compile(&loaded.spec.unwrap(), &catalog, &mut diags)
        .unwrap_or_else(|| panic!("{}", diags.render(&sources)));
    assert!(!diags.has_errors(), "{}", diags.render(&sources));
    let plan = strata_plan::build(&model, &catalog).unwrap();
    let mut inventory = Inventory::new();
    for h in &model.hosts {
        let local: Arc<dyn Transport> = Arc::new(OwnLock {
            local: Local {
                host: h.name.clone(),
                prefix: Vec::new(),
            },
            deploy_lock: lock_of_the_deploy(dir),
            own_lock: lock_of_host(dir, &h.name).display().to_string(),
        });
        inventory.insert(h.name.clone(), local);
    }
    let target = Target {
        model: &model,
        catalog: &catalog,
        plan: &plan,
        inventory: &inventory,
        state: Arc::new(State::open(&dir.join("state")).unwrap()),
        redactor: Arc::new(Redactor::default()),
    };
    f(&target)
}

fn deploy_on(target: &Target, dir: &Path) -> (Report, Vec<Event>) {
    let options = DeployOptions {
        parallel: 4,
        beside: strata_engine::SHARING_PER_HOST,
        timeout: Duration::from_secs(30),
        log_dir: dir.join("logs"),
        lock_dir: lock_of_the_deploy(dir),
    };
    let events = Mutex::new(Vec::new());
    let report = deploy(target, &options, &|e| events.lock().unwrap().push(e)).unwrap();
    (report, events.into_inner().unwrap())
}

/// `run`, and each step's state afterwards as `strata status` reads it, by step id.
fn run_and_look(dir: &Path) -> (Report, Vec<Event>, HashMap<String, StepState>) {
    on_target(dir, |target| {
        let (report, events) = deploy_on(target, dir);
        let last = target.state.last_run().unwrap().map(|(id, _)| id);
        let rows = target.state.steps().unwrap();
        let states = step_states(target.plan, target.catalog, &rows, last);
        let by_id = target
            .plan
            .steps
            .iter()
            .map(|s| s.id.clone())
            .zip(states)
            .collect();
        (report, events, by_id)
    })
}

fn lines(dir: &Path, host: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(host))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_step_runs_once_in_order_and_a_second_run_changes_nothing() {
    let dir = scratch("once");
    let (first, _) = run(&dir);
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    assert_eq!(first.changed, 6, "configure, start and check on two hosts");
    for host in ["a", "b"] {
        assert_eq!(lines(&dir, host), ["configure", "start", "check"], "{host}");
    }
    let (second, events) = run(&dir);
    assert_eq!(
        second.changed, 0,
        "a host already as desired gets no command"
    );
    assert_eq!(second.unchanged, first.changed + first.unchanged);
    assert!(events.iter().all(|e| !matches!(e, Event::Failed { .. })));
    for host in ["a", "b"] {
        assert_eq!(
            lines(&dir, host),
            ["configure", "start", "check"],
            "{host}: nothing ran again"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_step_stops_only_what_depends_on_it() {
    let dir = scratch("fail");
    std::fs::write(dir.join("fail"), "b\n").unwrap();
    let (report, events) = run(&dir);
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    let failure = &report.failures[0];
    assert_eq!(failure.step, "one/b/demo:start");
    assert_eq!(failure.status, Some(1));
    assert!(
        failure.action.starts_with("run `if grep"),
        "{}",
        failure.action
    );
    assert!(
        failure.stderr.contains("the real reason is in the log"),
        "the step's log is in the report: {}",
        failure.stderr
    );
    assert_eq!(
        lines(&dir, "a"),
        ["configure", "start", "check"],
        "a finishes"
    );
    assert_eq!(
        lines(&dir, "b"),
        ["configure"],
        "b stops at its failed start"
    );
    assert_eq!(
        failure.skipped,
        ["one/b/demo:check"],
        "reported under the failure"
    );
    let failed: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Failed { step, .. } => Some(step.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(failed, ["one/b/demo:start"], "only the cause is a failure");
    // The next run, with the cause gone, finishes b and leaves a alone.
    std::fs::remove_file(dir.join("fail")).unwrap();
    let (again, _) = run(&dir);
    assert!(again.failures.is_empty(), "{:?}", again.failures);
    assert_eq!(lines(&dir, "b"), ["configure", "start", "check"]);
    assert_eq!(lines(&dir, "a"), ["configure", "start", "check"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// While an earlier, interrupted run's command still holds a host (its lock), the steps
/// there wait for it, then are asked again on fresh facts: each still runs exactly once.
#[test]
fn a_step_waits_for_an_earlier_runs_command_still_running_on_its_host() {
    let dir = scratch("held");
    // On each host, an earlier run's command that holds its run's lock for 4 s: long enough
    // that the run reaches its steps while it is held, on a machine busy with other work
    // (1.5 s was not, beside a lab deploy).
    let mut holders = Vec::new();
    for host in ["a", "b"] {
        std::fs::create_dir_all(lock_of_host(&dir, host)).unwrap();
        let lock = lock_of_host(&dir, host).join("run-1-earlier.lock");
        holders.push(
            std::process::Command::new("flock")
                .arg(&lock)
                .args(["sleep", "4"])
                .spawn()
                .unwrap(),
        );
        while std::process::Command::new("flock")
            .arg("-n")
            .arg(&lock)
            .arg("true")
            .status()
            .unwrap()
            .success()
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let started = std::time::Instant::now();
    let (report, _) = run(&dir);
    for mut holder in holders {
        holder.wait().unwrap();
    }
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(started.elapsed() >= Duration::from_millis(800), "it waited");
    for host in ["a", "b"] {
        assert_eq!(
            lines(&dir, host),
            ["configure", "start", "check"],
            "{host}: once each"
        );
    }
    let log = std::fs::read_to_string(dir.join("logs/a.log")).unwrap();
    assert!(
        log.contains("waited for an earlier run's step on this host"),
        "{log}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What `strata status` reads after a run that failed: a step the failure stopped is
/// "skipped", even though an earlier run did it; nothing skipped counts as done.
#[test]
fn status_after_a_failure_counts_skipped_steps_as_skipped() {
    let dir = scratch("status");
    let (first, _, states) = run_and_look(&dir);
    assert!(first.failures.is_empty());
    assert!(states
        .values()
        .all(|s| matches!(s, StepState::Done | StepState::NotDeployed)));
    std::fs::write(dir.join("fail"), "b\n").unwrap();
    let (second, _, states) = run_and_look(&dir);
    assert_eq!(second.failures.len(), 1);
    assert!(matches!(states["one/b/demo:start"], StepState::Failed(_)));
    assert_eq!(
        states["one/b/demo:check"],
        StepState::Skipped,
        "done earlier, skipped now"
    );
    assert_eq!(states["one/a/demo:check"], StepState::Done);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A check runs on each of its hosts and says whether it passed; one whose command renders to
/// nothing on a host (its template says it does not apply there) is neither run nor counted.
/// What it reports as it goes (for the live view) adds up: every planned check is either
/// dropped or started and then finished, and a host's dropped ones before any of its starts.
#[test]
fn checks_run_where_they_apply() {
    let dir = scratch("checks");
    let told = std::sync::Mutex::new(Vec::new());
    let outcomes = on_target(&dir, |target| {
        let (report, _) = deploy_on(target, &dir);
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        let deployer = Local {
            host: "deployer".into(),
            prefix: Vec::new(),
        };
        strata_engine::check_reporting(target, &deployer, &[], Duration::from_secs(30), &|e| {
            told.lock().unwrap().push(e)
        })
        .unwrap()
    });
    let told = told.into_inner().unwrap();
    let Some(strata_engine::CheckProgress::Planned(planned)) = told.first() else {
        panic!("the run says first what it will check: {told:?}");
    };
    let (mut dropped, mut started, mut finished) = (0, 0, 0);
    for event in &told[1..] {
        match event {
            strata_engine::CheckProgress::Dropped(_) => dropped += 1,
            strata_engine::CheckProgress::Started(_) => started += 1,
            strata_engine::CheckProgress::Finished { passed, .. } => {
                assert!(passed);
                finished += 1
            }
            strata_engine::CheckProgress::Planned(_) => panic!("planned twice"),
        }
    }
    assert_eq!(
        (planned.len(), dropped, started, finished),
        (6, 2, 4, 4),
        "{told:?}"
    );
    // A host's checks that do not apply leave the totals before any of its checks starts, so
    // a live view never counts them as still to come.
    let host_of = |id: &str| id.split('/').nth(1).unwrap_or_default().to_owned();
    for (k, event) in told.iter().enumerate() {
        if let strata_engine::CheckProgress::Dropped(id) = event {
            assert!(
                !told[..k].iter().any(|e| matches!(e,
                    strata_engine::CheckProgress::Started(s) if host_of(s) == host_of(id))),
                "{id} dropped after a check of its host started: {told:?}"
            );
        }
    }
    let ran: Vec<(&str, &str, bool)> = outcomes
        .iter()
        .map(|o| (o.host.as_str(), o.check.as_str(), o.passed))
        .collect();
    assert_eq!(
        ran,
        [
            ("a", "its log says it was checked", true),
            ("a", "only on a", true),
            ("b", "its log says it was checked", true),
            ("b", "seen from the deployer", true),
        ]
    );
    // The deployer ran once, with what the host printed last, while what the host left was
    // there; then the host removed it.
    assert_eq!(
        std::fs::read_to_string(dir.join("deployer")).unwrap(),
        "b-left-this\n"
    );
    assert!(!dir.join("b.left").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two steps of one host that only run commands run at the same time: each waits (at most
/// 10 s) for the other to have started, so one at a time would fail them both. A step of the
/// host that writes a file runs beside them, and waits for nothing.
#[test]
fn steps_that_only_run_commands_share_their_host() {
    let dir = scratch("share");
    let meet = |me: &str, other: &str| {
        format!(
            "{{ run: \"touch {d}/{me}; i=0; until test -e {d}/{other}; do i=$((i + 1)); test $i -lt 200 || exit 1; sleep 0.05; done; touch {d}/{me}.done\", creates: \"{d}/{me}.done\" }}",
            d = dir.display()
        )
    };
    let catalog = catalog_of(
        &dir,
        "pair",
        &format!(
            "name: pair\nsteps:\n  - action: left\n    ops:\n      - command: {}\n  - action: right\n    ops:\n      - command: {}\n  - action: write\n    ops:\n      - file: {{ path: \"{d}/written\", content: \"x\" }}\n",
            meet("left", "right"),
            meet("right", "left"),
            d = dir.display()
        ),
    );
    let spec = "cloud: share\nroles:\n  Pair: { services: [pair] }\nsites:\n  one:\n    subnet: 10.99.0.0/24\n    nodes:\n      a: { role: Pair, ip: 10.99.0.11 }\n";
    let (report, events) = on_target_of(&dir, &catalog, spec, |target| deploy_on(target, &dir));
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.changed, 3, "{events:?}");
    assert!(dir.join("left.done").exists() && dir.join("right.done").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
