//! `strata plan`: the steps of a deploy across every site, as text, JSON or Graphviz; and,
//! when the cloud's hosts can be asked (its lab is up, or `--ssh-config` / `--probe` for real
//! servers), what each step would change on its host now.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{PlanFormat, SpecArgs};
use crate::printer::Printer;

pub fn run(
    home: &Path,
    args: &SpecArgs,
    format: PlanFormat,
    offline: bool,
    probe: bool,
    ssh_config: Option<&Path>,
    out: &mut Printer,
) -> anyhow::Result<ExitCode> {
    let loaded = valid_or_exit!(args, out);
    let model = loaded.model.as_ref().expect("no errors means a model");
    let plan = strata_plan::build(model, &loaded.catalog)?;
    let dir = super::deploy::cloud_dir(home, &model.cloud);
    // Hosts are asked only when answers can be expected: the cloud's lab is up, or the
    // operator points at real servers (--ssh-config, --probe).
    let askable =
        probe || ssh_config.is_some() || strata_lab::LabState::new(home, &model.cloud).exists();
    let changes = if offline || !askable {
        None
    } else {
        // Looking only: nothing is created, and no secret generated (deploy makes them).
        let state = Arc::new(strata_engine::State::open_read_only(&dir)?);
        let (inventory, _) = super::deploy::inventory(home, model, &dir, ssh_config, probe)?;
        let target = strata_engine::Target {
            model,
            catalog: &loaded.catalog,
            plan: &plan,
            inventory: &inventory,
            state,
            redactor: Arc::new(strata_engine::Redactor::default()),
        };
        let preview = strata_engine::preview(&target, Duration::from_secs(60));
        for t in inventory.values() {
            t.close();
        }
        Some(preview)
    };
    match format {
        PlanFormat::Text => {
            let mut w = out.out_writer();
            plan.write_text(model, &mut w)?;
            if let Some(changes) = &changes {
                w.write_all(changes_text(changes).as_bytes())?;
            }
            w.flush()?;
        }
        PlanFormat::Json => match &changes {
            Some(changes) => {
                let mut doc: serde_json::Value = serde_json::from_str(&plan.to_json())?;
                doc["changes"] = serde_json::to_value(changes)?;
                out.out(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
            }
            None => {
                let mut w = out.out_writer();
                plan.write_json(&mut w)?;
                w.flush()?;
            }
        },
        PlanFormat::Dot => out.out(&plan.to_dot()),
    }
    // The process ends here: freeing a plan of a million steps one allocation at a time
    // would take a fifth of the command's time, and the system takes the memory back anyway.
    std::mem::forget(plan);
    std::mem::forget(loaded);
    Ok(ExitCode::SUCCESS)
}

fn changes_text(changes: &[strata_engine::StepPreview]) -> String {
    let mut text = String::from("\nwhat would change now, by host (facts gathered from the hosts; changes early on can make later steps need more):\n");
    let (mut same, mut unknown) = (0, 0);
    let mut current = "";
    for c in changes {
        if c.actions.is_empty() && c.unknown.is_none() {
            same += 1;
            continue;
        }
        if c.host != current {
            text.push_str(&format!("  {}\n", c.host));
            current = &c.host;
        }
        match &c.unknown {
            Some(why) => {
                unknown += 1;
                text.push_str(&format!("    {}: not known yet: {why}\n", c.step));
            }
            None => {
                for a in &c.actions {
                    text.push_str(&format!("    {}: {a}\n", c.step));
                }
            }
        }
    }
    text.push_str(&format!("  {} steps would change something, {same} are already as desired, {unknown} not known yet\n", changes.len() - same - unknown));
    text
}
