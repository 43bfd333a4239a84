//! One step on its host, the parts `deploy` and `plan` share: its concrete operations, and
//! the actions its host needs now (facts gathered in one round trip).

use std::collections::HashMap;
use std::time::Duration;

use strata_catalog::Catalog;
use strata_model::{HostId, Model};
use strata_ops::{Action, Op};
use strata_transport::Transport;

use crate::render::Renderer;

/// The operations of `step` on `host`: the host's packages for `base:packages`, else the
/// catalog step's operations rendered. An error says what did not render.
pub(crate) fn step_ops(
    model: &Model,
    catalog: &Catalog,
    renderer: &Renderer,
    step: &strata_plan::Step,
    host: HostId,
    outputs: &crate::render::Outputs,
) -> Result<Vec<Op>, String> {
    step_ops_located(model, catalog, renderer, step, host, outputs).map_err(|e| e.message)
}

/// `step_ops`, with an error that keeps where in which template it arose.
pub(crate) fn step_ops_located(
    model: &Model,
    catalog: &Catalog,
    renderer: &Renderer,
    step: &strata_plan::Step,
    host: HostId,
    outputs: &crate::render::Outputs,
) -> Result<Vec<Op>, crate::render::RenderError> {
    if is_packages_step(step) {
        return Ok(vec![Op::Packages {
            names: strata_plan::host_packages(model, catalog, host)
                .into_iter()
                .collect(),
        }]);
    }
    let defs = step_def(catalog, step)
        .map(|d| d.ops.as_slice())
        .unwrap_or(&[]);
    renderer.ops_located(defs, &renderer.context(model, host, step, outputs))
}

/// The step that installs a host's packages (the planner's own, with no catalog entry).
pub(crate) fn is_packages_step(step: &strata_plan::Step) -> bool {
    &*step.service == "base" && &*step.action == "packages"
}

/// The catalog's definition of a plan step: the service's own step, or what a provider
/// does for a trait (`provides:`).
pub(crate) fn step_def<'c>(
    catalog: &'c Catalog,
    step: &strata_plan::Step,
) -> Option<&'c strata_catalog::StepDef> {
    match &step.hook {
        Some(hook) => catalog
            .service(&hook.provider)
            .and_then(|s| s.provides.get(&hook.name)),
        None => catalog
            .service(&step.service)
            .and_then(|s| s.step(&step.action)),
    }
}

/// Why a host could not say what it needs.
pub(crate) struct NotKnown {
    pub what: &'static str,
    pub status: Option<i32>,
    pub stderr: String,
}

/// The actions that bring the host to what `ops` describe, from its facts now.
pub(crate) fn needed_actions(
    transport: &dyn Transport,
    ops: &[Op],
    timeout: Duration,
) -> Result<Vec<Action>, NotKnown> {
    let probe = strata_ops::probe_script(ops);
    let facts = if probe.is_empty() {
        strata_ops::Facts::default()
    } else {
        match transport.run(&probe, timeout) {
            Ok(out) if out.success() => strata_ops::parse_facts(ops, &out.stdout),
            Ok(out) => {
                return Err(NotKnown {
                    what: "gather facts",
                    status: Some(out.status),
                    stderr: out.stderr,
                })
            }
            Err(e) => {
                return Err(NotKnown {
                    what: "reach the host",
                    status: None,
                    stderr: e.to_string(),
                })
            }
        }
    };
    Ok(strata_ops::plan(ops, &facts))
}

/// The look ahead of a run (see `strata_ops::ahead_probe`): each step's operations as
/// rendered now and its host's facts for them, gathered in one round trip per host, hosts
/// in parallel. Steps that do not render yet (an output not known) are left out, as are
/// hosts that did not answer: those steps probe for themselves. Each host's log gets what
/// its look ahead took, and its slowest probes.
pub(crate) fn look_ahead(
    target: &crate::Target,
    renderer: &Renderer,
    timeout: Duration,
    log: &(dyn Fn(&str, &str) + Sync),
) -> HashMap<usize, (Vec<Op>, strata_ops::Facts)> {
    let outputs = crate::render::outputs(target.state.outputs().unwrap_or_default());
    let host_ids = target.model.host_index();
    let mut by_host: HashMap<&str, Vec<(usize, Vec<Op>)>> = HashMap::new();
    for (i, step) in target.plan.steps.iter().enumerate() {
        let Some(&host) = host_ids.get(&*step.host) else {
            continue;
        };
        if let Ok(ops) = step_ops(target.model, target.catalog, renderer, step, host, &outputs) {
            if !ops.is_empty() {
                by_host.entry(&*step.host).or_default().push((i, ops));
            }
        }
    }
    let hosts = by_host
        .into_iter()
        .filter_map(|(host, steps)| Some((host, target.inventory.get(host)?, steps)));
    crate::on_each_host(hosts, |(host, transport, steps)| {
        let probes: Vec<String> = steps
            .iter()
            .map(|(_, ops)| strata_ops::ahead_probe(ops))
            .collect();
        let started = std::time::Instant::now();
        let out = transport.run(&strata_ops::ahead_script(&probes), timeout);
        let Some(out) = out.ok().filter(|o| o.success()) else {
            log(
                host,
                "look ahead: the host did not answer; its steps probe for themselves",
            );
            return Vec::new();
        };
        let sections = strata_ops::parse_ahead(steps.len(), &out.stdout);
        let top = |key: fn(&strata_ops::AheadSection) -> u64| {
            let mut by: Vec<(u64, &str)> = sections
                .iter()
                .zip(&steps)
                .map(|(s, (i, _))| (key(s), target.plan.steps[*i].id.as_str()))
                .collect();
            by.sort_unstable_by(|a, b| b.cmp(a));
            by.iter()
                .take(5)
                .map(|(ms, id)| format!("{id} {:.1} s", *ms as f64 / 1000.0))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let cpu: u64 = sections.iter().map(|s| s.cpu_millis).sum();
        log(
            host,
            &format!(
                "look ahead: {} steps probed in {:.1} s, {:.1} CPU-s; slowest: {}; most CPU: {}",
                steps.len(),
                started.elapsed().as_secs_f64(),
                cpu as f64 / 1000.0,
                top(|s| s.millis),
                top(|s| s.cpu_millis),
            ),
        );
        sections
            .into_iter()
            .zip(steps)
            .filter_map(|(section, (i, ops))| {
                let facts = strata_ops::parse_facts(&ops, &section.output?);
                Some((i, (ops, facts)))
            })
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect()
}
