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
    outputs: &HashMap<String, String>,
) -> Result<Vec<Op>, String> {
    if step.service == "base" && step.action == "packages" {
        return Ok(vec![Op::Packages {
            names: strata_plan::host_packages(model, catalog, host)
                .into_iter()
                .collect(),
        }]);
    }
    let defs = step_def(catalog, step)
        .map(|d| d.ops.as_slice())
        .unwrap_or(&[]);
    renderer.ops(defs, &renderer.context(model, host, step, outputs))
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
