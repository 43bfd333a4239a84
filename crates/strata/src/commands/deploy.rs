//! `strata deploy` and `strata status`: the plan applied to the hosts, and where it stands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use strata_engine::{DeployLock, DeployOptions, Event, Inventory, Redactor, State};
use strata_transport::{Local, Ssh, Transport};

use crate::cli::SpecArgs;
use crate::printer::Printer;

/// The state directory of a cloud's deployment.
pub fn cloud_dir(home: &Path, cloud: &str) -> PathBuf {
    home.join("clouds").join(cloud)
}

/// The state of a cloud deployed from this machine, or an error saying to deploy it first.
pub fn deployed_state(
    home: &Path,
    model: &strata_model::Model,
    spec: &Path,
) -> anyhow::Result<State> {
    let dir = cloud_dir(home, &model.cloud);
    if !dir.join("state.db").exists() {
        anyhow::bail!(
            "`{}` has not been deployed from this machine (no {}): run `strata deploy {}` first",
            model.cloud,
            dir.display(),
            spec.display()
        );
    }
    Ok(State::open(&dir)?)
}

/// How to reach each host: through the lab's network when a lab of this cloud exists, else
/// directly at the node's address with the operator's ssh_config.
/// `servers`: the user asked for the nodes' own addresses (e.g. `plan --probe`), with the
/// system's ssh configuration when no `--ssh-config` is given.
pub(super) fn inventory(
    home: &Path,
    model: &strata_model::Model,
    state_dir: &Path,
    ssh_config: Option<&Path>,
    servers: bool,
) -> anyhow::Result<(Inventory, bool)> {
    let lab = strata_lab::LabState::new(home, &model.cloud);
    let in_lab = lab.exists() && !lab.hosts().is_empty();
    // Plain SSH to the nodes' addresses only when asked for: a cloud whose lab is gone or
    // stopped is said to be so, not tried at addresses nothing answers on.
    if in_lab && ssh_config.is_none() {
        // Whether each host's process lives (not `status()`, which also reads every
        // process of every host's network: work a no-op deploy does not need).
        let stopped: Vec<String> = lab
            .hosts()
            .into_iter()
            .filter(|h| !h.process().is_alive())
            .map(|h| h.name)
            .collect();
        if !stopped.is_empty() {
            anyhow::bail!(
                "the lab of `{}` is not running (stopped: {}): `strata lab up SPEC` starts it again",
                model.cloud,
                stopped.join(", ")
            );
        }
    } else if !in_lab && ssh_config.is_none() && !servers {
        anyhow::bail!(
            "`{}` has no lab on this machine: `strata lab up SPEC` makes one, or give `--ssh-config FILE` to reach real servers",
            model.cloud
        );
    }
    let control_dir = control_dir(state_dir)?;
    let mut inventory = Inventory::new();
    for h in &model.hosts {
        let transport = if in_lab {
            Ssh {
                host: h.name.clone(),
                address: h.ip.to_string(),
                user: "root".into(),
                config: Some(lab.ssh_config()),
                prefix: into_lab_network(&lab),
                control_dir: control_dir.clone(),
                connect_timeout: Duration::from_secs(10),
            }
        } else {
            Ssh {
                host: h.name.clone(),
                address: h.ip.to_string(),
                user: "root".into(),
                config: ssh_config.map(Path::to_owned),
                prefix: Vec::new(),
                control_dir: control_dir.clone(),
                connect_timeout: Duration::from_secs(10),
            }
        };
        inventory.insert(h.name.clone(), Arc::new(transport) as Arc<dyn Transport>);
    }
    Ok((inventory, in_lab))
}

/// This machine as the cloud's outside: inside the lab's network when the cloud is a lab
/// (where the lab's routers, and so the deployer's view of the sites, are), else as it is.
pub(super) fn deployer(home: &Path, model: &strata_model::Model, in_lab: bool) -> Local {
    Local {
        host: "the deployer".into(),
        prefix: if in_lab {
            into_lab_network(&strata_lab::LabState::new(home, &model.cloud))
        } else {
            Vec::new()
        },
    }
}

/// The words that run a command in the lab's network, where its sites' routers are.
fn into_lab_network(lab: &strata_lab::LabState) -> Vec<String> {
    vec![
        "nsenter".into(),
        format!("--net={}/{}", strata_sys::NETNS_DIR, lab.fabric_netns()),
    ]
}

/// How `strata deploy` was asked to run.
pub struct Flags {
    pub parallel: usize,
    /// Steps that only run commands, at once on a host beside its other step.
    pub beside: usize,
    pub json: bool,
    pub ssh_config: Option<PathBuf>,
    pub step_timeout: u64,
    /// Where to serve the deploy's page, if anywhere.
    pub web: Option<String>,
}

/// The deploy's page, served while it runs: every step's operations rendered offline with
/// secrets masked, the host logs of this cloud, and the events as they come.
fn serve_page(
    addr: &str,
    model: &strata_model::Model,
    catalog: &strata_catalog::Catalog,
    plan: &strata_plan::Plan,
    dir: &Path,
) -> anyhow::Result<(Arc<strata_web::Board>, strata_web::Served)> {
    let ops = strata_engine::render_offline_masked(model, catalog, plan)?
        .iter()
        .map(|s| (s.step.clone(), vec![super::render::step_text(s)]))
        .collect();
    let board = Arc::new(strata_web::Board::new(plan, ops, dir.join("logs")));
    let served = strata_web::serve(addr, board.clone())?;
    Ok((board, served))
}

pub fn run(
    home: &Path,
    args: &SpecArgs,
    flags: &Flags,
    out: &mut Printer,
) -> anyhow::Result<ExitCode> {
    let Flags {
        parallel,
        beside,
        json,
        step_timeout,
        ..
    } = *flags;
    let ssh_config = flags.ssh_config.as_deref();
    let loaded = valid_or_exit!(args, out);
    let model = loaded.model.as_ref().expect("valid");
    let plan = strata_plan::build(model, &loaded.catalog)?;
    let dir = cloud_dir(home, &model.cloud);
    // Where the hosts are is settled first: a cloud with nowhere to go gets no state.
    let (inventory, in_lab) = inventory(home, model, &dir, ssh_config, false)?;
    let state = Arc::new(State::open(&dir)?);
    let holder = format!(
        "pid {} (strata deploy {}) since {}",
        std::process::id(),
        args.spec.display(),
        unix_time_now()
    );
    let _lock = match DeployLock::take(&dir, &holder) {
        Ok(lock) => lock,
        Err(e) => {
            if json {
                // Automation reads events: a refused deploy is one too.
                out.out(&format!(
                    "{}\n",
                    serde_json::json!({ "event": "refused", "reason": e.to_string() })
                ));
            }
            return Err(e.into());
        }
    };
    // External clusters' client keys, from the deployer's keyrings, before any host is touched.
    strata_engine::import_external_keys(model, &state)?;
    if !json {
        out.note(&format!(
            "strata: deploying `{}`: {} steps on {} hosts{}\n",
            model.cloud,
            plan.steps.len(),
            model.hosts.len(),
            if in_lab { " (in the lab)" } else { "" }
        ));
    }
    let page = match &flags.web {
        Some(addr) => {
            let (board, served) = serve_page(addr, model, &loaded.catalog, &plan, &dir)?;
            out.note(&format!(
                "strata: the deploy's page: http://{}/\n",
                served.addr
            ));
            Some((board, served))
        }
        None => None,
    };
    let redactor = Arc::new(Redactor::default());
    let options = DeployOptions {
        parallel,
        beside,
        timeout: Duration::from_secs(step_timeout),
        log_dir: dir.join("logs"),
        lock_dir: strata_ops::LOCK_DIR.to_owned(),
    };
    // On a terminal, a live view of the run; plain lines otherwise (and with --json).
    let live = (!json && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .then(|| Mutex::new(crate::live::Live::new(&plan)));
    let shared = Mutex::new(&mut *out);
    let print = |text: String| {
        if let Some(live) = &live {
            live.lock()
                .unwrap_or_else(|e| e.into_inner())
                .println(&text);
            return;
        }
        let mut o = shared.lock().unwrap_or_else(|e| e.into_inner());
        if json {
            o.out(&text);
        } else {
            o.note(&text);
        }
    };
    // Steps left per host and per site, to say when each is done.
    let left = Mutex::new((
        count_by(&plan, |s| s.host.to_string()),
        count_by(&plan, |s| s.site.to_string()),
        std::collections::HashMap::<String, usize>::new(),
    ));
    let events = |event: Event| {
        if let Some((board, _)) = &page {
            board.push(&event);
        }
        if let Some(live) = &live {
            live.lock().unwrap_or_else(|e| e.into_inner()).see(&event);
        }
        if json {
            print(format!(
                "{}\n",
                serde_json::to_string(&event).expect("events serialize")
            ));
            return;
        }
        match &event {
            Event::Done {
                step,
                actions,
                seconds,
                ..
            } if !actions.is_empty() => print(format!(
                "  changed {step} ({seconds:.1} s): {}\n",
                summarize(actions)
            )),
            Event::Failed {
                step,
                action,
                status,
                ..
            } => print(format!(
                "  FAILED  {step}: {action}{}\n",
                status
                    .map(|s| format!(" ({})", strata_engine::exit_status_text(s)))
                    .unwrap_or_default()
            )),
            _ => {}
        }
        let finished = match &event {
            Event::Done {
                step,
                host,
                actions,
                ..
            } => Some((step.clone(), host.clone(), !actions.is_empty())),
            Event::Resumed { step, host }
            | Event::Skipped { step, host, .. }
            | Event::Failed { step, host, .. } => Some((step.clone(), host.clone(), false)),
            Event::Started { .. } => None,
        };
        if let Some((step, host, changed)) = finished {
            let site = step.split('/').next().unwrap_or_default().to_owned();
            let mut guard = left.lock().unwrap_or_else(|e| e.into_inner());
            let (hosts, sites, changes) = &mut *guard;
            if changed {
                *changes.entry(host.clone()).or_default() += 1;
            }
            let host_left = hosts.get_mut(&host).map(|n| {
                *n -= 1;
                *n
            });
            let site_left = sites.get_mut(&site).map(|n| {
                *n -= 1;
                *n
            });
            if host_left == Some(0) {
                let n = changes.get(&host).copied().unwrap_or(0);
                print(format!(
                    "  host {host} finished ({n} step{} changed something)\n",
                    if n == 1 { "" } else { "s" }
                ));
            }
            if site_left == Some(0) {
                print(format!("  site {site} finished\n"));
            }
        }
    };
    let target = strata_engine::Target {
        model,
        catalog: &loaded.catalog,
        plan: &plan,
        inventory: &inventory,
        state: state.clone(),
        redactor: redactor.clone(),
    };
    let result = strata_engine::deploy(&target, &options, &events);
    if let Some(live) = live {
        live.into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .finish();
    }
    for t in inventory.values() {
        t.close();
    }
    // The masters remove their sockets as they exit, shortly after `-O exit` returns: the
    // directory is removed once empty (left alone if a master outlives the wait).
    let sockets = control_dir(&dir)?;
    for _ in 0..50 {
        if std::fs::remove_dir(&sockets).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = shared.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some((board, served)) = &page {
        board.finish(&match &result {
            Ok(r) => format!(
                "{} changed, {} unchanged, {} failed in {:.0} s",
                r.changed,
                r.unchanged,
                r.failures.len(),
                r.seconds
            ),
            Err(e) => format!("stopped: {e}"),
        });
        if !json && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            out.note(&format!(
                "strata: the page at http://{}/ stays up until you press Enter\n",
                served.addr
            ));
            let _ = std::io::stdin().read_line(&mut String::new());
        }
    }
    let report = result?;
    if json {
        out.out(&format!(
            "{}\n",
            serde_json::json!({ "event": "report", "report": report })
        ));
    } else {
        out.out(&format!(
            "deploy of `{}`: {} steps: {} changed, {} unchanged ({} known from the look ahead), {} resumed, {} not deployed by this version (no operations yet), {} failed, {} skipped; {:.1} s\n",
            model.cloud,
            report.steps,
            report.changed,
            report.unchanged,
            report.looked_ahead,
            report.resumed,
            report.without_operations,
            report.failures.len(),
            report.failures.iter().map(|f| f.skipped.len()).sum::<usize>(),
            report.seconds
        ));
        for f in &report.failures {
            out.out(&format!(
                "\nfailed: {} on {}\n  while: {}\n",
                f.step, f.host, f.action
            ));
            if let Some(s) = f.status {
                out.out(&format!("  exit code: {s}\n"));
            }
            if !f.stderr.is_empty() {
                out.out(&format!(
                    "  stderr:\n{}\n",
                    f.stderr
                        .lines()
                        .map(|l| format!("    {l}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                ));
            }
            if !f.skipped.is_empty() {
                out.out(&format!(
                    "  not run because of it ({}): {}\n",
                    f.skipped.len(),
                    f.skipped.join(", ")
                ));
            }
        }
        if !report.failures.is_empty() {
            out.out(&format!(
                "\nlogs: {}; run `strata deploy {}` again to resume\n",
                dir.join("logs").display(),
                args.spec.display()
            ));
        }
    }
    if report.failures.is_empty() {
        let files = strata_engine::operator_files(model, &loaded.catalog, &state)?;
        for f in &files {
            let path = dir.join(&f.name);
            strata_sys::write_file(&path, &f.content, 0o600)?;
        }
        if !json && !files.is_empty() {
            out.note(&format!(
                "strata: admin credentials (mode 0600): {} (OS_CLOUD={}), {}\n",
                dir.join("clouds.yaml").display(),
                model.cloud,
                files[1..]
                    .iter()
                    .map(|f| dir.join(&f.name).display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn status(home: &Path, args: &SpecArgs, out: &mut Printer) -> anyhow::Result<ExitCode> {
    let loaded = valid_or_exit!(args, out);
    let model = loaded.model.as_ref().expect("valid");
    let plan = strata_plan::build(model, &loaded.catalog)?;
    let dir = cloud_dir(home, &model.cloud);
    if !dir.join("state.db").exists() {
        out.out(&format!(
            "`{}` has not been deployed: {} steps to run\n",
            model.cloud,
            plan.steps.len()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let state = State::open_read_only(&dir)?;
    let last = state.last_run()?;
    let states = strata_engine::step_states(
        &plan,
        &loaded.catalog,
        &state.steps()?,
        last.as_ref().map(|(id, _)| *id),
    );
    use strata_engine::StepState as S;
    let count = |f: &dyn Fn(&S) -> bool| states.iter().filter(|s| f(s)).count();
    let done = count(&|s| matches!(s, S::Done));
    let earlier = count(&|s| matches!(s, S::DoneEarlier));
    let skipped = count(&|s| matches!(s, S::Skipped));
    let not_run = count(&|s| matches!(s, S::NotRun));
    let not_deployed = count(&|s| matches!(s, S::NotDeployed));
    let failed: Vec<(&str, &str)> = plan
        .steps
        .iter()
        .zip(&states)
        .filter_map(|(step, s)| match s {
            S::Failed(detail) => Some((step.id.as_str(), detail.as_str())),
            _ => None,
        })
        .collect();
    let last = last
        .map(|(id, status)| format!("run {id}: {status}"))
        .unwrap_or_else(|| "no run".into());
    let mut text = format!(
        "`{}` ({last}): of {} steps, {done} done by the last run, {} failed, {skipped} skipped because of a failure, {not_run} not run",
        model.cloud,
        plan.steps.len() - not_deployed,
        failed.len(),
    );
    if earlier > 0 {
        text.push_str(&format!(", {earlier} done by an earlier run only"));
    }
    if not_deployed > 0 {
        text.push_str(&format!(
            "; {not_deployed} more with nothing to run ({})",
            if plan.not_deployed.is_empty() {
                "no operations".to_owned()
            } else {
                format!(
                    "not deployed by this version: {}",
                    plan.not_deployed.join(", ")
                )
            }
        ));
    }
    text.push('\n');
    for (id, detail) in failed {
        text.push_str(&format!("  failed: {id}: {detail}\n"));
    }
    out.out(&text);
    Ok(ExitCode::SUCCESS)
}

/// Now, as the holder of the lock writes it: a UTC date and time any reader can read.
fn unix_time_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc(secs)
}

/// `YYYY-MM-DD HH:MM:SS UTC` for seconds since the epoch (the civil-from-days algorithm).
fn utc(secs: u64) -> String {
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

/// "write 20, run 5, enable 1" rather than 26 lines: actions counted by their verb, with the
/// one thing when there is only one.
fn summarize(actions: &[String]) -> String {
    if actions.len() == 1 {
        return actions[0].clone();
    }
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for a in actions {
        let verb = a.split_whitespace().next().unwrap_or_default();
        match counts.iter_mut().find(|(v, _)| *v == verb) {
            Some((_, n)) => *n += 1,
            None => counts.push((verb, 1)),
        }
    }
    format!(
        "{} actions ({})",
        actions.len(),
        counts
            .iter()
            .map(|(v, n)| format!("{v} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Where the SSH ControlMaster sockets go: a short path (a Unix socket path is at most 107
/// bytes, and ssh adds 57 to it), private to root, one per cloud.
fn control_dir(state_dir: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let hash = state_dir
        .to_string_lossy()
        .bytes()
        .fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
    let dir = std::env::temp_dir().join(format!("strata-ssh-{:012x}", hash >> 16));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("chmod {}", dir.display()))?;
    Ok(dir)
}

fn count_by(
    plan: &strata_plan::Plan,
    key: impl Fn(&strata_plan::Step) -> String,
) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    for s in &plan.steps {
        *counts.entry(key(s)).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_reads_as_a_date() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(super::utc(1_796_171_696), "2026-12-02 00:34:56 UTC");
    }
}
