//! What a deploy would change now, host by host, without changing anything: every step's
//! operations rendered and its host's facts gathered, the actions listed. Steps whose
//! operations need outputs that only earlier steps will produce say so; hosts that cannot
//! be reached say so. It is a view of now: a change early on can make later steps need more.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::render::Renderer;
use crate::Target;

#[derive(Debug, Clone, Serialize)]
pub struct StepPreview {
    pub step: String,
    pub host: String,
    /// What would change (redacted; waits and fetches only look), empty when the host is
    /// already as desired.
    pub actions: Vec<String>,
    /// Why the step's changes are not known yet, when they are not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

/// The preview of every step with operations, in plan order; hosts probed in parallel.
pub fn preview(target: &Target, timeout: Duration) -> Vec<StepPreview> {
    let Target {
        model,
        catalog,
        plan,
        inventory,
        state,
        redactor,
    } = target;
    let _ = redactor.learn(state);
    let renderer = Renderer::new(model, catalog, state.clone(), redactor.clone());
    let outputs = crate::render::outputs(state.outputs().unwrap_or_default());
    let host_ids = model.host_index();
    let mut by_host: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, s) in plan.steps.iter().enumerate() {
        by_host.entry(&*s.host).or_default().push(i);
    }
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for (host, steps) in &by_host {
            let (renderer, results, redactor, outputs, host_ids) =
                (&renderer, &results, &redactor, &outputs, &host_ids);
            scope.spawn(move || {
                let transport = inventory.get(*host);
                let mut unreachable: Option<String> = None;
                for &i in steps {
                    let step = &plan.steps[i];
                    let result = match crate::step::step_ops(
                        model,
                        catalog,
                        renderer,
                        step,
                        host_ids[host],
                        outputs,
                    ) {
                        Err(e) => StepPreview {
                            step: step.id.clone(),
                            host: step.host.to_string(),
                            actions: Vec::new(),
                            unknown: Some(format!(
                                "known once earlier steps have run ({})",
                                redactor.redact(&e)
                            )),
                        },
                        Ok(ops) if ops.is_empty() => continue,
                        Ok(_) if unreachable.is_some() => StepPreview {
                            step: step.id.clone(),
                            host: step.host.to_string(),
                            actions: Vec::new(),
                            unknown: unreachable.clone(),
                        },
                        Ok(ops) => match transport
                            .map(|t| crate::step::needed_actions(t.as_ref(), &ops, timeout))
                        {
                            Some(Ok(actions)) => StepPreview {
                                step: step.id.clone(),
                                host: step.host.to_string(),
                                actions: actions
                                    .iter()
                                    .filter(|a| a.changes)
                                    .map(|a| redactor.redact(&a.describe))
                                    .collect(),
                                unknown: None,
                            },
                            Some(Err(e)) => {
                                let why = format!(
                                    "cannot {}: {}",
                                    e.what,
                                    redactor.redact(e.stderr.trim())
                                );
                                if e.what == "reach the host" {
                                    unreachable = Some(why.clone());
                                }
                                StepPreview {
                                    step: step.id.clone(),
                                    host: step.host.to_string(),
                                    actions: Vec::new(),
                                    unknown: Some(why),
                                }
                            }
                            None => StepPreview {
                                step: step.id.clone(),
                                host: step.host.to_string(),
                                actions: Vec::new(),
                                unknown: Some("no way to reach the host".into()),
                            },
                        },
                    };
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((i, result));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}
