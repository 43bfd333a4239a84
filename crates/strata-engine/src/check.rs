//! `strata check`: after a deploy, the catalog's checks run on the hosts (each service's
//! `checks:`, rendered like its operations) and say, per host, what works and what does not.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde::Serialize;
use strata_catalog::{Catalog, On};
use strata_plan::Plan;

use crate::render::Renderer;
use crate::{EngineError, Target};

/// One check on one host.
#[derive(Debug, Clone, Serialize)]
pub struct CheckOutcome {
    pub site: String,
    pub host: String,
    pub service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
    pub check: String,
    pub passed: bool,
    /// What the check printed (its last lines), secrets masked.
    pub detail: String,
    /// When it started, in seconds after the check run began.
    pub started: f64,
    pub seconds: f64,
}

/// What a check run reports as it goes, for a live view: first every check it will run
/// (as `site/host/service[qualifier]: check`), then each as it starts and ends. A check
/// that does not apply on its host (its command renders to nothing) is dropped.
#[derive(Debug, Clone)]
pub enum CheckProgress {
    /// Every check of the run: (id, site, host).
    Planned(Vec<(String, String, String)>),
    Started(String),
    Finished {
        id: String,
        passed: bool,
    },
    Dropped(String),
}

/// The id of a check on a host in `CheckProgress`.
fn progress_id(step: &strata_plan::Step, check: &str) -> String {
    match &step.qualifier {
        Some(q) => format!("{}/{}/{}[{q}]: {check}", step.site, step.host, step.service),
        None => format!("{}/{}/{}: {check}", step.site, step.host, step.service),
    }
}

/// What one command of a check did: whether it passed, its last lines, and the last line
/// it printed on stdout.
struct Ran {
    passed: bool,
    detail: String,
    printed: String,
}

/// Runs a check's command: whether it passed, and its last lines. It runs under coreutils'
/// `timeout` on its host: one that takes longer than `limit` is stopped there (its process
/// group TERMed, KILLed 5 s later) instead of running on to race the next check run, as a
/// check the transport gave up on did. The transport's own limit, a little later, covers a
/// host that stops answering.
fn run_one(transport: &dyn strata_transport::Transport, script: &str, limit: Duration) -> Ran {
    let seconds = limit.as_secs().max(1);
    let stopped = format!("timeout -k 5 {seconds} sh -c {}", strata_ops::quote(script));
    let started = Instant::now();
    match transport.run(&stopped, limit + Duration::from_secs(10)) {
        Ok(out) => {
            let mut text = format!("{}\n{}", out.stdout, out.stderr);
            if out.status == 124 && started.elapsed().as_secs() >= seconds {
                text.push_str(&format!(
                    "\nno answer within {seconds} s: stopped on {}",
                    transport.host()
                ));
            } else if out.status > 128 {
                // A crash is the cause, whatever the command printed before.
                text.push_str(&format!("\n({})", strata_ops::exit_status_text(out.status)));
            }
            Ran {
                passed: out.success(),
                detail: crate::walk::tail(&text, 5),
                printed: crate::walk::tail(&out.stdout, 1).trim().to_owned(),
            }
        }
        Err(e) => Ran {
            passed: false,
            detail: e.to_string(),
            printed: String::new(),
        },
    }
}

/// Whether `printed` may go into the deployer's command: letters, digits and `.:_-` only
/// (an address, a name), so nothing a host prints can run on the deployer.
fn plain_word(printed: &str) -> bool {
    !printed.is_empty()
        && printed
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".:_-".contains(&c))
}

/// The commands of one check: `run` on the host; when it passed, `deployer` on the deployer
/// with what `run` printed last; then `finally` on the host, whatever happened. Whether all
/// passed, and what they said.
struct CheckRun<'a> {
    host: &'a dyn strata_transport::Transport,
    deployer: &'a dyn strata_transport::Transport,
    renderer: &'a Renderer,
    ctx: &'a minijinja::Value,
    limit: Duration,
}

impl CheckRun<'_> {
    fn run(&self, def: &strata_catalog::CheckDef, script: &str) -> (bool, String) {
        let ran = run_one(self.host, script, self.limit);
        let (mut passed, mut detail) = (ran.passed, ran.detail);
        if let (true, Some(template)) = (passed, &def.deployer) {
            (passed, detail) = self.on_deployer(template, &ran.printed, detail);
        }
        if let Some(template) = &def.finally {
            match self.renderer.render(template, self.ctx) {
                Err(why) => {
                    passed = false;
                    detail.push_str(&format!("\nfinally: {why}"));
                }
                Ok(script) => {
                    let after = run_one(self.host, &script, self.limit);
                    if !after.passed {
                        passed = false;
                        detail.push_str(&format!(
                            "\nfinally, on {}: {}",
                            self.host.host(),
                            after.detail
                        ));
                    }
                }
            }
        }
        (passed, detail)
    }

    fn on_deployer(&self, template: &str, printed: &str, said: String) -> (bool, String) {
        if !plain_word(printed) {
            return (
                false,
                format!("{said}\nthe check printed `{printed}` last, not a plain word for the deployer's command"),
            );
        }
        let ctx = minijinja::context! { printed => printed, ..self.ctx.clone() };
        match self.renderer.render(template, &ctx) {
            Err(why) => (false, format!("{said}\non the deployer: {why}")),
            Ok(script) => {
                let ran = run_one(self.deployer, &script, self.limit);
                let head = if ran.passed { "" } else { "FAILED " };
                (
                    ran.passed,
                    format!("{said}\n{head}from the deployer: {}", ran.detail),
                )
            }
        }
    }
}

/// Where each check runs: for `each`, every host with a step of the service (per cluster
/// for a Galera-grouped one); for `first`, the host of each instance's ready step. The
/// step found there gives the check its context.
pub(crate) fn targets<'p>(
    catalog: &Catalog,
    plan: &'p Plan,
) -> Vec<(&'p strata_plan::Step, usize)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for step in plan.steps.iter().filter(|s| s.hook.is_none()) {
        let Some(service) = catalog.service(&step.service) else {
            continue;
        };
        for (index, def) in service.checks.iter().enumerate() {
            let here = match def.on {
                On::First => service
                    .ready_step()
                    .is_some_and(|r| *r.action == *step.action),
                _ => service
                    .steps
                    .first()
                    .is_some_and(|f| *f.action == *step.action),
            };
            if here
                && seen.insert((
                    step.host.clone(),
                    step.service.clone(),
                    step.qualifier.clone(),
                    index,
                ))
            {
                out.push((step, index));
            }
        }
    }
    out
}

/// Runs every check of the plan's services (only those of `services` when it names any),
/// in parallel across hosts. `deployer` runs the checks' parts that look at the cloud from
/// outside (this machine, in the lab's network when the cloud is a lab).
pub fn check(
    target: &Target,
    deployer: &dyn strata_transport::Transport,
    services: &[String],
    timeout: Duration,
) -> Result<Vec<CheckOutcome>, EngineError> {
    check_reporting(target, deployer, services, timeout, &|_| {})
}

/// [`check`], telling `progress` what it plans, starts and finishes.
pub fn check_reporting(
    target: &Target,
    deployer: &dyn strata_transport::Transport,
    services: &[String],
    timeout: Duration,
    progress: &(dyn Fn(CheckProgress) + Sync),
) -> Result<Vec<CheckOutcome>, EngineError> {
    let Target {
        model,
        catalog,
        plan,
        inventory,
        state,
        redactor,
    } = target;
    redactor.learn(state)?;
    let outputs = crate::render::outputs(state.outputs()?);
    let renderer = Renderer::new(model, catalog, state.clone(), redactor.clone());
    let host_ids = model.host_index();
    let mut by_host: HashMap<&str, Vec<(&strata_plan::Step, usize)>> = HashMap::new();
    for (step, index) in targets(catalog, plan)
        .into_iter()
        .filter(|(step, _)| services.is_empty() || services.iter().any(|x| **x == *step.service))
    {
        if !inventory.contains_key(&*step.host) {
            return Err(EngineError::NoTransport(step.host.to_string()));
        }
        by_host.entry(&*step.host).or_default().push((step, index));
    }
    let name = |step: &strata_plan::Step, index: usize| {
        let def = &catalog.service(&step.service).expect("checked").checks[index];
        progress_id(step, &def.name)
    };
    progress(CheckProgress::Planned(
        by_host
            .values()
            .flatten()
            .map(|&(step, index)| {
                (
                    name(step, index),
                    step.site.to_string(),
                    step.host.to_string(),
                )
            })
            .collect(),
    ));
    let began = Instant::now();
    let mut results: Vec<CheckOutcome> = crate::on_each_host(by_host, |(host, checks)| {
        let transport = &inventory[host];
        let host_id = host_ids[host];
        // Every check of the host rendered first: one whose command renders to nothing does
        // not apply here (its template says so), and leaves the totals before any runs.
        let rendered: Vec<_> = checks
            .into_iter()
            .filter_map(|(step, index)| {
                let ctx = renderer.context(model, host_id, step, &outputs);
                let def = &catalog.service(&step.service).expect("checked").checks[index];
                let id = name(step, index);
                match renderer.render(&def.run, &ctx) {
                    Ok(script) if script.trim().is_empty() => {
                        progress(CheckProgress::Dropped(id));
                        None
                    }
                    script => Some((step, def, id, script, ctx)),
                }
            })
            .collect();
        rendered
            .into_iter()
            .map(|(step, def, id, script, ctx)| {
                let started = Instant::now();
                let (passed, detail) = match script {
                    Err(why) => (false, why),
                    Ok(script) => {
                        progress(CheckProgress::Started(id.clone()));
                        let run = CheckRun {
                            host: transport.as_ref(),
                            deployer,
                            renderer: &renderer,
                            ctx: &ctx,
                            limit: timeout.max(Duration::from_secs(u64::from(def.timeout_s))),
                        };
                        run.run(def, &script)
                    }
                };
                progress(CheckProgress::Finished { id, passed });
                CheckOutcome {
                    site: step.site.to_string(),
                    host: step.host.to_string(),
                    service: step.service.to_string(),
                    qualifier: step.qualifier.as_deref().map(str::to_owned),
                    check: def.name.clone(),
                    passed,
                    detail: redactor.redact(&detail),
                    started: started.duration_since(began).as_secs_f64(),
                    seconds: started.elapsed().as_secs_f64(),
                }
            })
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    results.sort_by(|a, b| (&a.site, &a.host, &a.service).cmp(&(&b.site, &b.host, &b.service)));
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A check that outlives its limit fails naming it, and is stopped on its host: what it
    /// would have done after the limit never happens.
    #[test]
    fn a_check_that_takes_too_long_is_stopped_on_its_host() {
        let dir = std::env::temp_dir().join(format!("strata-check-limit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let finished = dir.join("finished");
        let host = strata_transport::Local {
            host: "here".into(),
            prefix: Vec::new(),
        };
        let started = Instant::now();
        let Ran { passed, detail, .. } = run_one(
            &host,
            // In a subshell of its own, as a remote command outlives the ssh that started it.
            &format!(
                "echo started; (sleep 3; touch '{}') & wait",
                finished.display()
            ),
            Duration::from_secs(1),
        );
        assert!(!passed, "{detail}");
        assert!(
            detail.contains("started") && detail.contains("no answer within 1 s: stopped on here"),
            "{detail}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_secs(4));
        assert!(!finished.exists(), "the check ran on after its limit");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_check_passes_or_fails_by_its_exit_status() {
        let host = strata_transport::Local {
            host: "here".into(),
            prefix: Vec::new(),
        };
        let quoted = "printf '%s\\n' \"it's fine\"";
        let ran = run_one(&host, quoted, Duration::from_secs(5));
        assert!(ran.passed && ran.detail == "it's fine" && ran.printed == "it's fine");
        let Ran { passed, detail, .. } =
            run_one(&host, "echo broken; exit 3", Duration::from_secs(5));
        assert!(
            !passed && detail.contains("broken") && !detail.contains("no answer"),
            "{detail}"
        );
    }
}
