//! `strata render`: what a deploy would write and run on each host, rendered offline from
//! the spec and the catalog: every file in full, every command, with secrets masked and
//! values read from hosts stood in for. The snapshot tests of the examples are this output.

use std::process::ExitCode;

use strata_engine::RenderedStep;

use crate::cli::SpecArgs;
use crate::printer::Printer;

pub fn run(args: &SpecArgs, host: Option<&str>, out: &mut Printer) -> anyhow::Result<ExitCode> {
    let loaded = valid_or_exit!(args, out);
    let model = loaded.model.as_ref().expect("valid");
    if let Some(h) = host {
        if !model.hosts.iter().any(|m| m.name == h) {
            anyhow::bail!(
                "no node `{h}` in {}: name one of {}",
                args.spec.display(),
                model
                    .hosts
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let plan = strata_plan::build(model, &loaded.catalog)?;
    let steps = strata_engine::render_offline_masked(model, &loaded.catalog, &plan)?;
    let mut failed = false;
    let mut text = String::new();
    for step in steps.iter().filter(|s| host.is_none_or(|h| s.host == h)) {
        failed |= step.ops.is_err();
        text.push_str(&step_text(step));
    }
    out.out(&text);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// One step as text: a header, then each operation; files in full.
pub(crate) fn step_text(step: &RenderedStep) -> String {
    use strata_ops::{Op, WaitFor};
    let ops = match &step.ops {
        Err(why) => return format!("== {}\n  DOES NOT RENDER: {why}\n", step.step),
        Ok(ops) if ops.is_empty() => return String::new(),
        Ok(ops) => ops,
    };
    let mut text = format!("== {}\n", step.step);
    for op in ops {
        match op {
            Op::File {
                path,
                content,
                owner,
                group,
                mode,
            } => {
                text.push_str(&format!("-- file {path} ({owner}:{group} {mode:o})\n"));
                text.push_str(content);
                if !content.ends_with('\n') {
                    text.push_str("\n(no newline at the end)\n");
                }
                text.push_str("-- end of file\n");
            }
            Op::Command {
                run,
                creates,
                unless,
            } => {
                text.push_str(&format!("-- command: {run}\n"));
                if let Some(c) = creates {
                    text.push_str(&format!("   creates: {c}\n"));
                }
                if let Some(u) = unless {
                    text.push_str(&format!("   unless: {u}\n"));
                }
            }
            Op::Wait {
                what: WaitFor::Command(c),
                timeout_s,
            } => text.push_str(&format!("-- wait ({timeout_s} s): {c}\n")),
            other => text.push_str(&format!("-- {}\n", other.describe())),
        }
    }
    text
}
