//! `strata validate`'s proof of the operations: every step's operations and every check,
//! rendered offline for every host (secrets generated in memory and forgotten, fetched
//! outputs stood in for), then the rendered shell checked with `sh -n` and the rendered
//! Python compiled, so that a template typo or a broken script shows before any host is
//! touched, not minutes into a deploy.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use strata_catalog::Catalog;
use strata_model::Model;
use strata_ops::{first_line, Op, WaitFor};
use strata_plan::Plan;
use strata_source::Loc;

use crate::render::{RenderError, Renderer};
use crate::{EngineError, Redactor, State};

/// One thing that would fail on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpProblem {
    /// The service whose catalog file holds the operation (a hook's provider).
    pub service: String,
    /// The catalog template and the place in it, when the fault is in a template file.
    pub at: Option<Loc>,
    pub message: String,
    /// Steps (`site/host/service:action`) where it happens.
    pub steps: Vec<String>,
}

/// A text to check, and where it came from.
struct Script {
    language: Language,
    text: String,
    /// The template file it was rendered from, if any.
    at: Option<Loc>,
    service: String,
    what: String,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Language {
    Sh,
    Bash,
    Python,
}

/// Every step's operations rendered with no host and no deployment, in plan order.
struct Offline {
    renderer: Renderer,
    redactor: Arc<Redactor>,
    outputs: crate::render::Outputs,
    ops: Vec<Result<Vec<Op>, RenderError>>,
}

/// Renders every step's operations for its host: secrets from a scratch state (derived from
/// their names), outputs that a fetch would read stood in for once some step fetches them
/// (the steps that needed them render again).
fn render_offline(model: &Model, catalog: &Catalog, plan: &Plan) -> Result<Offline, EngineError> {
    let redactor = Arc::new(Redactor::default());
    let renderer = Renderer::new(
        model,
        catalog,
        Arc::new(State::scratch()?),
        redactor.clone(),
    );
    let host_ids = model.host_index();
    let mut outputs: HashMap<String, String> = HashMap::new();
    let mut rendered: Vec<Option<Result<Vec<Op>, RenderError>>> = vec![None; plan.steps.len()];
    loop {
        let mut grew = false;
        let known = crate::render::outputs(outputs.clone());
        for (i, step) in plan.steps.iter().enumerate() {
            if matches!(rendered[i], Some(Ok(_))) {
                continue;
            }
            let result = crate::step::step_ops_located(
                model,
                catalog,
                &renderer,
                step,
                host_ids[&*step.host],
                &known,
            );
            if let Ok(ops) = &result {
                for op in ops {
                    if let Op::Fetch { output, .. } = op {
                        if !outputs.contains_key(output) {
                            outputs.insert(output.clone(), stand_in(output));
                            grew = true;
                        }
                    }
                }
            }
            rendered[i] = Some(result);
        }
        if !grew {
            break;
        }
    }
    Ok(Offline {
        renderer,
        redactor,
        outputs: crate::render::outputs(outputs),
        ops: rendered
            .into_iter()
            .map(|r| r.expect("every step rendered"))
            .collect(),
    })
}

/// A step's operations as `strata render` shows them (secrets masked).
#[derive(Debug, Clone)]
pub struct RenderedStep {
    pub step: String,
    pub host: String,
    /// The operations, or why they did not render.
    pub ops: Result<Vec<Op>, String>,
}

/// Every step's operations rendered offline, secrets masked: what a deploy of the spec
/// would write and run, before any host is touched.
pub fn render_offline_masked(
    model: &Model,
    catalog: &Catalog,
    plan: &Plan,
) -> Result<Vec<RenderedStep>, EngineError> {
    let offline = render_offline(model, catalog, plan)?;
    let mask = |t: &str| offline.redactor.redact(t);
    Ok(plan
        .steps
        .iter()
        .zip(&offline.ops)
        .map(|(step, ops)| RenderedStep {
            step: step.id.clone(),
            host: step.host.to_string(),
            ops: match ops {
                Err(e) => Err(mask(&e.message)),
                Ok(ops) => Ok(ops.iter().map(|op| masked(op, &mask)).collect()),
            },
        })
        .collect())
}

/// An operation with every text it holds passed through `mask`.
fn masked(op: &Op, mask: &dyn Fn(&str) -> String) -> Op {
    match op {
        Op::File {
            path,
            content,
            owner,
            group,
            mode,
        } => Op::File {
            path: path.clone(),
            content: mask(content),
            owner: owner.clone(),
            group: group.clone(),
            mode: *mode,
        },
        Op::Command {
            run,
            creates,
            unless,
        } => Op::Command {
            run: mask(run),
            creates: creates.clone(),
            unless: unless.as_deref().map(mask),
        },
        Op::Wait {
            what: WaitFor::Command(c),
            timeout_s,
        } => Op::Wait {
            what: WaitFor::Command(mask(c)),
            timeout_s: *timeout_s,
        },
        Op::Fetch { run, output } => Op::Fetch {
            run: mask(run),
            output: output.clone(),
        },
        other => other.clone(),
    }
}

/// Renders every operation and check of the plan offline and checks the shell and Python
/// they hold. Problems found on several hosts are reported once, with every step.
pub fn prove(model: &Model, catalog: &Catalog, plan: &Plan) -> Result<Vec<OpProblem>, EngineError> {
    let Offline {
        renderer,
        outputs,
        ops: rendered,
        ..
    } = render_offline(model, catalog, plan)?;
    let host_ids = model.host_index();
    let mut found: BTreeMap<(String, Option<Loc>, String), OpProblem> = BTreeMap::new();
    let mut report = |service: &str, at: Option<Loc>, message: String, step: &str| {
        let entry = found
            .entry((service.to_owned(), at, message.clone()))
            .or_insert_with(|| OpProblem {
                service: service.to_owned(),
                at,
                message,
                steps: Vec::new(),
            });
        if !entry.steps.iter().any(|s| s == step) {
            entry.steps.push(step.to_owned());
        }
    };

    let mut scripts: Vec<(Script, String)> = Vec::new();
    for (step, result) in plan.steps.iter().zip(rendered) {
        let service = owner(step);
        match result {
            Err(e) => report(&service, located(catalog, &e), e.message, &step.id),
            Ok(ops) => {
                // One operation per catalog operation, in order: a file's template is known.
                let defs = crate::step::step_def(catalog, step).map_or(&[][..], |d| &d.ops);
                for (k, op) in ops.iter().enumerate() {
                    let template = match defs.get(k) {
                        Some(strata_catalog::OpDef::File {
                            template: Some(t), ..
                        }) => catalog.template_files.get(t).map(|&f| Loc::new(f, 1, 1, 1)),
                        _ => None,
                    };
                    for script in scripts_of(op, &service, template) {
                        scripts.push((script, step.id.clone()));
                    }
                }
            }
        }
    }
    for (step, index) in crate::check::targets(catalog, plan) {
        let def = &catalog.service(&step.service).expect("planned").checks[index];
        let ctx = renderer.context(model, host_ids[&*step.host], step, &outputs);
        // The deployer's part sees what the host's part printed: an address stands in.
        let deployer_ctx = minijinja::context! { printed => "192.0.2.1", ..ctx.clone() };
        let parts = [
            (Some(&def.run), &ctx, ""),
            (def.deployer.as_ref(), &deployer_ctx, " (on the deployer)"),
            (def.finally.as_ref(), &ctx, " (finally)"),
        ];
        for (template, ctx, part) in parts {
            let Some(template) = template else { continue };
            match renderer.render(template, ctx) {
                Err(message) => report(&step.service, None, message, &step.id),
                Ok(text) => scripts.push((
                    Script {
                        language: Language::Sh,
                        text,
                        at: None,
                        service: step.service.to_string(),
                        what: format!("check `{}`{part}", def.name),
                    },
                    step.id.clone(),
                )),
            }
        }
    }
    for ((script, step), error) in syntax_errors(scripts) {
        report(
            &script.service,
            script.at,
            format!("{}: {error}", script.what),
            &step,
        );
    }
    Ok(found.into_values().collect())
}

/// The service whose catalog file defines a step's operations.
fn owner(step: &strata_plan::Step) -> String {
    match &step.hook {
        Some(hook) => hook.provider.clone(),
        None => step.service.to_string(),
    }
}

/// A fetched value's stand-in, of the shape the real one has where templates use it.
fn stand_in(output: &str) -> String {
    if output.ends_with("fsid") {
        "00000000-0000-4000-8000-000000000000".to_owned()
    } else if output.starts_with("interface.") {
        "eth0".to_owned()
    } else {
        format!("stand-in-for-{output}")
    }
}

/// The place in its template file of a render error, when it arose in one.
fn located(catalog: &Catalog, e: &RenderError) -> Option<Loc> {
    let (name, line, range) = e.at.as_ref()?;
    let file = *catalog.template_files.get(name)?;
    let text = catalog.templates.get(name)?;
    Some(match range {
        Some(r) if r.start <= text.len() => {
            let before = &text[..r.start];
            let line = before.matches('\n').count() + 1;
            let col = before[before.rfind('\n').map_or(0, |n| n + 1)..]
                .chars()
                .count()
                + 1;
            Loc::new(
                file,
                line as u32,
                col as u32,
                (r.end - r.start).max(1) as u32,
            )
        }
        _ => Loc::new(file, *line as u32, 1, 1),
    })
}

/// The shell and Python an operation runs or installs.
fn scripts_of(op: &Op, service: &str, template: Option<Loc>) -> Vec<Script> {
    let sh = |text: &str, what: String| Script {
        language: Language::Sh,
        text: text.to_owned(),
        at: None,
        service: service.to_owned(),
        what,
    };
    match op {
        Op::Command { run, unless, .. } => {
            let mut out = vec![sh(run, format!("command `{}`", first_line(run)))];
            if let Some(u) = unless {
                out.push(sh(u, format!("the guard `{}`", first_line(u))));
            }
            out
        }
        Op::Wait {
            what: WaitFor::Command(c),
            ..
        } => vec![sh(c, format!("wait for `{}`", first_line(c)))],
        Op::Fetch { run, output } => vec![sh(run, format!("fetch {output}"))],
        Op::File { path, content, .. } => {
            let first = content.lines().next().unwrap_or_default();
            let language = if !first.starts_with("#!") {
                None
            } else if first.contains("python") {
                Some(Language::Python)
            } else if first.contains("bash") {
                Some(Language::Bash)
            } else if first.ends_with("/sh") || first.contains("/sh ") {
                Some(Language::Sh)
            } else {
                None
            };
            language
                .map(|language| Script {
                    language,
                    text: content.clone(),
                    at: template,
                    service: service.to_owned(),
                    what: format!("file {path}"),
                })
                .into_iter()
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Each script whose syntax is wrong, with the checker's message. Identical texts are
/// checked once; shell by `sh -n` / `bash -n` each, Python in one interpreter for all.
fn syntax_errors<T>(scripts: Vec<(Script, T)>) -> Vec<((Script, T), String)> {
    let mut verdicts: HashMap<(Language, String), Option<String>> = HashMap::new();
    let python: Vec<String> = {
        let mut texts: Vec<String> = scripts
            .iter()
            .filter(|(s, _)| s.language == Language::Python)
            .map(|(s, _)| parse_shape(&s.text))
            .collect();
        texts.sort();
        texts.dedup();
        texts
    };
    for (text, verdict) in python.iter().zip(python_errors(&python)) {
        verdicts.insert((Language::Python, text.clone()), verdict);
    }
    let mut out = Vec::new();
    for (script, tag) in scripts {
        let key = (script.language, parse_shape(&script.text));
        let verdict = verdicts
            .entry(key)
            .or_insert_with_key(|(language, shape)| shell_error(*language, shape))
            .clone();
        if let Some(error) = verdict {
            out.push(((script, tag), error));
        }
    }
    out
}

/// A script with every digit made 0: whether shell or Python parses it does not depend on
/// its digits (addresses, ports, host numbers), so the scripts of a thousand hosts that
/// differ only there are checked once.
fn parse_shape(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_digit() { '0' } else { c })
        .collect()
}

/// What `sh -n` (or `bash -n`) says of a script, `None` when it parses.
fn shell_error(language: Language, text: &str) -> Option<String> {
    let shell = if language == Language::Bash {
        "bash"
    } else {
        "sh"
    };
    let mut child = Command::new(shell)
        .arg("-n")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let _ = child.stdin.take()?.write_all(text.as_bytes());
    let out = child.wait_with_output().ok()?;
    if out.status.success() {
        return None;
    }
    let said = String::from_utf8_lossy(&out.stderr);
    Some(format!(
        "`{shell} -n` rejects it: {}",
        said.lines().next().unwrap_or("a syntax error").trim()
    ))
}

/// For each Python source, why it does not compile (`None` when it does), from one
/// `python3` for all of them. Without python3 on this machine nothing is said.
fn python_errors(sources: &[String]) -> Vec<Option<String>> {
    if sources.is_empty() {
        return Vec::new();
    }
    const COMPILE: &str = "import json, sys\nfor src in json.load(sys.stdin):\n    try:\n        compile(src, '<rendered>', 'exec')\n        print('')\n    except SyntaxError as e:\n        print(f'line {e.lineno}: {e.msg}'.replace('\\n', ' '))\n";
    let run = || -> Option<Vec<Option<String>>> {
        let mut child = Command::new("python3")
            .args(["-c", COMPILE])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let input = serde_json::to_vec(sources).ok()?;
        let mut stdin = child.stdin.take()?;
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().ok()?;
        let _ = writer.join();
        let lines: Vec<Option<String>> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| (!l.is_empty()).then(|| format!("Python does not compile it: {l}")))
            .collect();
        (lines.len() == sources.len()).then_some(lines)
    };
    run().unwrap_or_else(|| vec![None; sources.len()])
}
