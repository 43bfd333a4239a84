//! The walk: steps start as soon as everything they need is done, in parallel across hosts,
//! and on each host one step at a time among those that write files, units or packages
//! (package managers and service restarts do not share a host well), with a few that only
//! run commands beside it (API calls, database syncs: mostly waiting). A failed step stops
//! its dependents, which are reported under it rather than as failures of their own;
//! independent branches go on. Each step: render its operations, skip it if a resumed run
//! already did it with these inputs, gather facts in one round trip, apply the difference in
//! one more (none when there is no difference), journal it. After a complete run, every
//! host's facts are first gathered for all its steps at once (the look ahead): until
//! something in the run changes a host, a step those facts show already done needs no round
//! trip of its own, so a re-run that changes nothing costs about one round trip per host.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::render::Renderer;
use crate::schedule::{Node, Schedule};
use crate::state::StepRecord;
use crate::{EngineError, Target};

/// What a step whose connection died under it was doing, as its failure says.
const LOST: &str = "stay connected to the host (lost while the step ran)";

/// Longest an apply waits for a step of an earlier, interrupted run that still runs on its
/// host (a killed deploy's commands go on there).
const LOCK_WAIT_S: u32 = 600;

/// Pause before a step that declared itself safe to repeat is tried again.
const RETRY_DELAY: Duration = Duration::from_secs(2);

pub struct DeployOptions {
    /// Steps running at once, over all hosts.
    pub parallel: usize,
    /// Steps that only run commands running at once on a host, beside its one step that
    /// writes (`SHARING_PER_HOST` unless told); 0: a host runs one step at a time.
    pub beside: usize,
    /// Longest a fact probe or an apply may take on a host.
    pub timeout: Duration,
    /// Per-host logs go here (`<host>.log`).
    pub log_dir: PathBuf,
    /// Where every apply keeps its run's lock on its host (`strata_ops::LOCK_DIR`).
    pub lock_dir: String,
}

/// What happened, as it happens. Every text in it has been redacted.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Started {
        step: String,
        host: String,
    },
    /// Done; `actions` lists what changed (empty: the host was already as desired).
    Done {
        step: String,
        host: String,
        actions: Vec<String>,
        seconds: f64,
        /// Found already done by the look ahead, without a round trip of its own.
        looked_ahead: bool,
    },
    /// Done by an earlier, interrupted run with the same inputs: not redone.
    Resumed {
        step: String,
        host: String,
    },
    Failed {
        step: String,
        host: String,
        action: String,
        status: Option<i32>,
        stderr: String,
    },
    Skipped {
        step: String,
        host: String,
        because: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub step: String,
    pub host: String,
    /// What was being done ("write /etc/x.conf", "reach the host", "render the operations").
    pub action: String,
    pub status: Option<i32>,
    /// The end of what the command printed on stderr, redacted.
    pub stderr: String,
    /// Steps not run because of this failure.
    pub skipped: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub steps: usize,
    /// Steps that changed something on their host.
    pub changed: usize,
    /// Steps whose host was already as desired.
    pub unchanged: usize,
    /// Of those, steps the look ahead found so (no round trip of their own).
    pub looked_ahead: usize,
    /// Steps the catalog defines no operations for yet.
    pub without_operations: usize,
    /// Steps a resumed run did not redo.
    pub resumed: usize,
    pub failures: Vec<Failure>,
    pub seconds: f64,
}

/// How a step that is done came to be so.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Found {
    /// The catalog has no operations for it yet.
    NoOperations,
    /// The look ahead's facts showed nothing to do.
    LookedAhead,
    /// Its own facts, then the difference applied (if any).
    Probed,
}

enum Outcome {
    Done {
        actions: Vec<String>,
        found: Found,
    },
    Resumed,
    Failed(Failure),
    /// Nothing ran: an earlier run's step held the host, and the step is to be asked again.
    Again,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// What a failure report shows of a command's output and of the logs its step names: the
/// lines that say what went wrong (an error, an exception, a refusal), wherever they are,
/// then the last lines. The command's own such lines come first and alone when it has any: a
/// service's log can be full of its own complaints that are not the cause. A Python
/// program's last lines are often a traceback of its shutdown, not the cause either.
pub(crate) fn why(said: &str, logs: &str) -> String {
    const SAYS_WHY: [&str; 7] = [
        "error",
        "exception",
        "fatal",
        "denied",
        "refused",
        "failed",
        "cannot",
    ];
    let last = tail(&format!("{said}{logs}"), 10);
    let causes_in = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                SAYS_WHY.iter().any(|w| l.contains(w))
            })
            .filter(|l| !last.contains(l.trim()))
            .map(str::to_owned)
            .collect()
    };
    let mut causes = causes_in(said);
    if causes.is_empty() {
        causes = causes_in(logs);
    }
    if causes.is_empty() {
        return last;
    }
    format!(
        "what it said went wrong:\n{}\n--- its last lines:\n{last}",
        causes[causes.len().saturating_sub(5)..].join("\n")
    )
}

/// A step that found its host held by earlier runs' steps every time it was asked.
fn held_too_long(step: &strata_plan::Step) -> Failure {
    Failure {
        step: step.id.clone(),
        host: step.host.to_string(),
        action: "wait for earlier runs' steps on the host".into(),
        status: Some(strata_ops::WAITED),
        stderr: "steps of earlier, interrupted runs held the host's lock each time".into(),
        skipped: Vec::new(),
    }
}

/// Each host's machine id ("unknown" for a host that does not answer), read in parallel.
fn host_identities(inventory: &crate::Inventory) -> HashMap<String, String> {
    crate::on_each_host(inventory.iter(), |(name, transport)| {
        let id = transport
            .run("cat /etc/machine-id", Duration::from_secs(30))
            .ok()
            .filter(|o| o.success())
            .map(|o| o.stdout.trim().to_owned());
        (name.clone(), id.unwrap_or_else(|| "unknown".to_owned()))
    })
    .into_iter()
    .collect()
}

/// Runs the target's plan on its hosts.
pub fn deploy(
    target: &Target,
    options: &DeployOptions,
    events: &(dyn Fn(Event) + Sync),
) -> Result<Report, EngineError> {
    let Target {
        model,
        catalog,
        plan,
        inventory,
        state,
        redactor,
    } = target;
    let started = Instant::now();
    redactor.learn(state)?;
    let after_complete_run = matches!(state.last_run()?, Some((_, status)) if status == "complete");
    let (run, resume) = state.begin_run()?;
    // This run's name in its lock files on the hosts: its number, and when it began (a
    // state made anew numbers its runs from 1 again, while an earlier deploy's commands may
    // still hold their locks).
    let run_tag = format!(
        "{run}-{}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    std::fs::create_dir_all(&options.log_dir)
        .map_err(strata_sys::io("creating", &options.log_dir))?;
    let renderer = Renderer::new(model, catalog, state.clone(), redactor.clone());
    let host_ids = model.host_index();
    for step in &plan.steps {
        if !inventory.contains_key(&*step.host) {
            return Err(EngineError::NoTransport(step.host.to_string()));
        }
    }
    // Each host's identity, part of every step's inputs: a host made again (a lab brought
    // down and up, a server reinstalled) has a new machine id, so nothing done on the one
    // before it is resumed.
    let identities = host_identities(inventory);

    let n = plan.steps.len();
    let nodes: Vec<Node> = plan
        .steps
        .iter()
        .map(|s| Node {
            host: &s.host,
            needs: &s.needs,
            estimate_ms: s.estimate_ms,
            shares_host: !crate::step::is_packages_step(s)
                && crate::step::step_def(catalog, s).is_some_and(|d| d.shares_host()),
        })
        .collect();
    let sched = Mutex::new(Schedule::new(&nodes, options.beside));
    let wake = Condvar::new();
    let report = Mutex::new(Report {
        steps: n,
        ..Report::default()
    });
    let logs = Mutex::new(HashMap::<String, std::fs::File>::new());
    let log = |host: &str, line: &str| {
        let mut files = logs.lock().unwrap_or_else(|e| e.into_inner());
        let file = files.entry(host.to_owned()).or_insert_with(|| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(options.log_dir.join(format!("{host}.log")))
                .expect("per-host log")
        });
        let _ = writeln!(file, "{:.3} {}", now(), redactor.redact(line));
    };

    let ahead = if after_complete_run {
        crate::step::look_ahead(target, &renderer, options.timeout, &log)
    } else {
        HashMap::new()
    };
    // Set before the first command that may change a host: from then on the look ahead's
    // facts may be out of date, and every step gathers its own.
    let touched = AtomicBool::new(false);

    let runner = StepRunner {
        target,
        renderer: &renderer,
        host_ids: &host_ids,
        identities: &identities,
        run,
        run_tag: &run_tag,
        resume,
        ahead: &ahead,
        touched: &touched,
        options,
        log: &log,
    };
    let reporter = Reporter {
        plan,
        redactor,
        events,
        log: &log,
    };

    std::thread::scope(|s| {
        for _ in 0..options.parallel.max(1) {
            s.spawn(|| loop {
                let next = {
                    let mut g = sched.lock().unwrap_or_else(|e| e.into_inner());
                    loop {
                        if g.finished() {
                            break None;
                        }
                        if let Some(i) = g.start_next() {
                            break Some(i);
                        }
                        g = wake.wait(g).unwrap_or_else(|e| e.into_inner());
                    }
                };
                let Some(i) = next else {
                    wake.notify_all();
                    break;
                };
                let step = &plan.steps[i];
                events(Event::Started {
                    step: step.id.clone(),
                    host: step.host.to_string(),
                });
                let t = Instant::now();
                let outcome = runner.run_with_retries(i);
                let mut g = sched.lock().unwrap_or_else(|e| e.into_inner());
                let mut rep = report.lock().unwrap_or_else(|e| e.into_inner());
                reporter.settle(i, outcome, t.elapsed().as_secs_f64(), &mut g, &mut rep);
                drop(rep);
                drop(g);
                wake.notify_all();
            });
        }
    });
    let mut report = report.into_inner().unwrap_or_else(|e| e.into_inner());
    report.seconds = started.elapsed().as_secs_f64();
    state.finish_run(run, report.failures.is_empty())?;
    Ok(report)
}

/// Runs one step on its host, the walk's unit of work: render its operations, skip it if a
/// resumed run already did it with these inputs, settle it from the look ahead's facts while
/// nothing has changed, else gather its facts and apply the difference; journal it.
struct StepRunner<'a> {
    target: &'a Target<'a>,
    renderer: &'a Renderer,
    host_ids: &'a HashMap<&'a str, usize>,
    /// Each host's machine id, part of every step's inputs.
    identities: &'a HashMap<String, String>,
    run: i64,
    /// Names this run's lock files on its hosts (see `strata_ops::after_earlier_runs`).
    run_tag: &'a str,
    /// The first run since the last complete one, when this run resumes.
    resume: Option<i64>,
    ahead: &'a HashMap<usize, (Vec<strata_ops::Op>, strata_ops::Facts)>,
    /// Set before the first command that may change a host.
    touched: &'a AtomicBool,
    options: &'a DeployOptions,
    log: &'a (dyn Fn(&str, &str) + Sync),
}

impl StepRunner<'_> {
    /// `run`, tried again after a failure as many times as the step declares itself safe to
    /// repeat (`retries:` in the catalog).
    fn run_with_retries(&self, i: usize) -> Outcome {
        let step = &self.target.plan.steps[i];
        let retries = crate::step::step_def(self.target.catalog, step)
            .map(|d| d.retries)
            .unwrap_or(0);
        let mut outcome = self.run_after_earlier_runs(i);
        for attempt in 1..=retries {
            let Outcome::Failed(f) = &outcome else { break };
            (self.log)(
                &step.host,
                &format!(
                    "{} failed ({}); try {} of {}",
                    step.id,
                    f.action,
                    attempt + 1,
                    retries + 1
                ),
            );
            std::thread::sleep(RETRY_DELAY);
            outcome = self.run_after_earlier_runs(i);
        }
        outcome
    }

    /// `run`, asked again when its apply found an earlier, interrupted run's step still
    /// running on the host and waited for it (its facts were from before that one ended);
    /// still `Again` after three waits, which the reporter settles as a failure.
    fn run_after_earlier_runs(&self, i: usize) -> Outcome {
        let mut waits = 0;
        loop {
            match self.run(i) {
                Outcome::Again if waits < 3 => waits += 1,
                outcome => return outcome,
            }
        }
    }

    /// The last lines of the logs the step's catalog names (`logs:`), read from its host
    /// for a failure report; empty when it names none or they cannot be read.
    fn logs_of(
        &self,
        step: &strata_plan::Step,
        host: usize,
        outputs: &crate::render::Outputs,
        transport: &dyn strata_transport::Transport,
    ) -> String {
        let Some(def) = crate::step::step_def(self.target.catalog, step) else {
            return String::new();
        };
        if def.logs.is_empty() {
            return String::new();
        }
        let ctx = self
            .renderer
            .context(self.target.model, host, step, outputs);
        let paths: Vec<String> = def
            .logs
            .iter()
            .filter_map(|l| self.renderer.render(l, &ctx).ok())
            .map(|p| strata_ops::quote(&p))
            .collect();
        let script = format!("tail -n 15 -v -- {} 2>/dev/null", paths.join(" "));
        match transport.run(&script, Duration::from_secs(20)) {
            Ok(out) if !out.stdout.trim().is_empty() => format!("\n{}", out.stdout),
            _ => String::new(),
        }
    }

    fn run(&self, i: usize) -> Outcome {
        let Target {
            model,
            catalog,
            plan,
            inventory,
            state,
            redactor,
        } = self.target;
        let (renderer, host_ids, identities, ahead, touched, options, log) = (
            self.renderer,
            self.host_ids,
            self.identities,
            self.ahead,
            self.touched,
            self.options,
            self.log,
        );
        let (run, resume) = (self.run, self.resume);
        let step = &plan.steps[i];
        let fail_with_logs = |action: &str, status: Option<i32>, stderr: &str, logs: &str| {
            Outcome::Failed(Failure {
                step: step.id.clone(),
                host: step.host.to_string(),
                action: redactor.redact(action),
                status,
                stderr: redactor.redact(&why(stderr, logs)),
                skipped: Vec::new(),
            })
        };
        let fail = |action: &str, status: Option<i32>, stderr: &str| {
            fail_with_logs(action, status, stderr, "")
        };
        let host = host_ids[&*step.host];
        let outputs = match state.outputs() {
            Ok(o) => crate::render::outputs(o),
            Err(e) => return fail("read the deployment's outputs", None, &e.to_string()),
        };
        let ops = match crate::step::step_ops(model, catalog, renderer, step, host, &outputs) {
            Ok(ops) => ops,
            Err(e) => return fail("render the step's operations", None, &e),
        };
        let inputs = strata_ops::sha256_hex(
            format!("{}\n{}\n{ops:?}", step.id, identities[&*step.host]).as_bytes(),
        );
        if resume.is_some_and(|since| state.done_with(&step.id, &inputs, since).unwrap_or(false)) {
            return Outcome::Resumed;
        }
        let t0 = now();
        let record = |status: &str, changed: bool, detail: Option<&str>| {
            let detail = detail.map(|d| redactor.redact(d));
            state.record_step(&StepRecord {
                run,
                step: &step.id,
                inputs: &inputs,
                status,
                started: t0,
                changed,
                detail: detail.as_deref(),
            })
        };
        // Fetched values into the outputs (and the redactor); the failure if one was not kept.
        let store = |outputs: &[(String, String)]| {
            for (name, value) in outputs {
                redactor.add(value);
                if let Err(e) = state.set_output(name, value) {
                    return Some(fail("store an output", None, &e.to_string()));
                }
            }
            None
        };
        // Journals the step done with nothing changed.
        let unchanged = |found: Found, detail: Option<&str>| match record("done", false, detail) {
            Err(e) => fail("journal the step", None, &e.to_string()),
            Ok(()) => Outcome::Done {
                actions: Vec::new(),
                found,
            },
        };
        if !touched.load(Ordering::SeqCst) {
            let known = ahead
                .get(&i)
                .filter(|(seen, _)| *seen == ops)
                .and_then(|(seen, facts)| strata_ops::settled(seen, facts));
            if let Some(outputs) = known {
                if let Some(failed) = store(&outputs) {
                    return failed;
                }
                return unchanged(Found::LookedAhead, Some("as the look ahead found it"));
            }
        }
        if ops.is_empty() {
            // Not deployed: nothing ran, so nothing is journaled as done.
            return Outcome::Done {
                actions: Vec::new(),
                found: Found::NoOperations,
            };
        }
        let transport = &inventory[&*step.host];
        let actions = match crate::step::needed_actions(transport.as_ref(), &ops, options.timeout) {
            Ok(actions) => actions,
            Err(e) => {
                let _ = record("failed", false, Some(&e.stderr));
                return fail(e.what, e.status, &e.stderr);
            }
        };
        let changes: Vec<String> = actions
            .iter()
            .filter(|a| a.changes)
            .map(|a| a.describe.clone())
            .collect();
        if actions.is_empty() {
            return unchanged(Found::Probed, None);
        }
        log(
            &step.host,
            &format!(
                "{}: {}",
                step.id,
                actions
                    .iter()
                    .map(|a| a.describe.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
        if !changes.is_empty() {
            touched.store(true, Ordering::SeqCst);
        }
        let script = strata_ops::after_earlier_runs(
            &strata_ops::apply_script(&actions),
            &options.lock_dir,
            self.run_tag,
            LOCK_WAIT_S,
        );
        let result = transport.run(&script, options.timeout);
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                let _ = record("failed", false, Some(&e.to_string()));
                let what = match e {
                    strata_transport::TransportError::Lost { .. } => LOST,
                    _ => "reach the host",
                };
                return fail(what, None, &e.to_string());
            }
        };
        if !out.stderr.trim().is_empty() {
            log(
                &step.host,
                &format!("{} stderr:\n{}", step.id, tail(&out.stderr, 40)),
            );
        }
        let parsed = strata_ops::parse_apply(&actions, &out.stdout);
        if parsed.waited && out.status == strata_ops::WAITED {
            log(
                &step.host,
                &format!(
                    "{}: waited for an earlier run's step on this host; asking again",
                    step.id
                ),
            );
            return Outcome::Again;
        }
        if let Some(failed) = store(&parsed.outputs) {
            return failed;
        }
        // A command whose guard held when asked again did not run: it changed nothing.
        let changes: Vec<String> = actions
            .iter()
            .enumerate()
            .filter(|(k, a)| a.changes && !parsed.skipped.contains(k))
            .map(|(_, a)| a.describe.clone())
            .collect();
        if !parsed.skipped.is_empty() {
            log(
                &step.host,
                &format!(
                    "{}: not run, its guard held once the step's earlier actions had run: {}",
                    step.id,
                    parsed
                        .skipped
                        .iter()
                        .map(|&k| actions[k].describe.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            );
        }
        if let Some(f) = parsed.failure {
            let _ = record("failed", true, Some(&actions[f.action].describe));
            let logs = self.logs_of(step, host, &outputs, transport.as_ref());
            return fail_with_logs(
                &actions[f.action].describe,
                Some(f.status),
                &out.stderr,
                &logs,
            );
        }
        if out.status == 255 {
            // ssh's own status, with no failure the script reported: the connection ended
            // under it (keepalives unanswered: the link or the host is gone).
            let _ = record("failed", true, Some("the connection was lost"));
            return fail(
                LOST,
                Some(out.status),
                &format!(
                    "{}\nssh ended with 255 while the step ran on {}",
                    out.stderr, step.host
                ),
            );
        }
        if !out.success() {
            let _ = record("failed", true, Some("the apply script failed"));
            return fail("apply", Some(out.status), &out.stderr);
        }
        if let Err(e) = record("done", !changes.is_empty(), None) {
            return fail("journal the step", None, &e.to_string());
        }
        Outcome::Done {
            actions: changes,
            found: Found::Probed,
        }
    }
}

/// Settles a finished step: the schedule learns its outcome, the report counts it, and the
/// events say it (a failure with what it stopped, each skipped step under it).
struct Reporter<'a> {
    plan: &'a strata_plan::Plan,
    redactor: &'a crate::Redactor,
    events: &'a (dyn Fn(Event) + Sync),
    log: &'a (dyn Fn(&str, &str) + Sync),
}

impl Reporter<'_> {
    fn settle(
        &self,
        i: usize,
        outcome: Outcome,
        seconds: f64,
        sched: &mut Schedule,
        report: &mut Report,
    ) {
        let Reporter {
            plan,
            redactor,
            events,
            log,
        } = self;
        let step = &plan.steps[i];
        let mut failure = match outcome {
            Outcome::Done { actions, found } => {
                sched.done(i);
                if found == Found::NoOperations {
                    report.without_operations += 1;
                } else if actions.is_empty() {
                    report.unchanged += 1;
                    report.looked_ahead += usize::from(found == Found::LookedAhead);
                } else {
                    report.changed += 1;
                }
                events(Event::Done {
                    step: step.id.clone(),
                    host: step.host.to_string(),
                    actions: actions.iter().map(|a| redactor.redact(a)).collect(),
                    seconds,
                    looked_ahead: found == Found::LookedAhead,
                });
                return;
            }
            Outcome::Resumed => {
                sched.done(i);
                report.resumed += 1;
                events(Event::Resumed {
                    step: step.id.clone(),
                    host: step.host.to_string(),
                });
                return;
            }
            Outcome::Failed(failure) => failure,
            // Earlier runs' steps held the host every time it was asked.
            Outcome::Again => held_too_long(step),
        };
        // Everything downstream is skipped, and reported under this failure.
        for d in sched.failed(i) {
            failure.skipped.push(plan.steps[d].id.clone());
            events(Event::Skipped {
                step: plan.steps[d].id.clone(),
                host: plan.steps[d].host.to_string(),
                because: step.id.clone(),
            });
        }
        log(
            &step.host,
            &format!(
                "{} FAILED: {} ({})\n{}",
                step.id,
                failure.action,
                failure
                    .status
                    .map(strata_ops::exit_status_text)
                    .unwrap_or_else(|| "no exit status: the host did not answer".into()),
                failure.stderr
            ),
        );
        events(Event::Failed {
            step: step.id.clone(),
            host: step.host.to_string(),
            action: failure.action.clone(),
            status: failure.status,
            stderr: failure.stderr.clone(),
        });
        report.failures.push(failure);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_failure_shows_what_went_wrong_before_the_last_lines() {
        let mut stderr = String::from("Running upgrade\nsqlalchemy.exc.OperationalError: (1050, \"Table 'application_credential' already exists\")\n");
        for i in 0..12 {
            stderr.push_str(&format!(
                "  File \"/usr/lib/python3/x.py\", line {i}, in shutdown\n"
            ));
        }
        let why = super::why(&stderr, "");
        assert!(
            why.starts_with("what it said went wrong:\nsqlalchemy.exc.OperationalError"),
            "{why}"
        );
        assert!(why.contains("--- its last lines:"), "{why}");
        assert_eq!(super::why("just this\n", ""), "just this");
    }

    /// A unit that failed to start, and the log of the service its step is for, which
    /// complains of other things: the unit's own words are the cause shown.
    #[test]
    fn a_commands_own_complaint_comes_before_its_services_log() {
        let said = "Job for libvirtd.service failed.\nerror : main:918 : Can't load config file: expected an unsigned integer for 'max_clients'\nlibvirtd.service: Failed with result 'exit-code'.\n";
        let mut logs = String::from("\n==> /var/log/nova/nova-compute.log <==\n");
        for i in 0..4 {
            logs.push_str(&format!(
                "INFO nova.privsep [-] Ignored error {i} reading the console\n"
            ));
        }
        for i in 0..10 {
            logs.push_str(&format!("INFO nova.compute.manager line {i}\n"));
        }
        let why = super::why(said, &logs);
        assert!(why.contains("'max_clients'"), "{why}");
        assert!(!why.contains("Ignored error"), "{why}");
        assert!(
            why.contains("line 9"),
            "the last lines are still shown: {why}"
        );
        // With nothing said by the command, the log's complaints are the cause.
        let why = super::why("", &logs);
        assert!(why.contains("Ignored error 3"), "{why}");
    }
}
