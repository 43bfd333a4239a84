//! `strata check`: the catalog's checks on the deployed hosts, one line per check, and a
//! non-zero exit naming the host and the check when any fails; on a terminal, a live view
//! of the checks while they run.

use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_engine::{CheckProgress, Redactor};

use crate::cli::SpecArgs;
use crate::printer::Printer;

pub fn run(
    home: &Path,
    args: &SpecArgs,
    json: bool,
    services: &[String],
    ssh_config: Option<&Path>,
    out: &mut Printer,
) -> anyhow::Result<ExitCode> {
    let loaded = valid_or_exit!(args, out);
    let model = loaded.model.as_ref().expect("valid");
    if let Some(unknown) = services
        .iter()
        .find(|s| loaded.catalog.service(s).is_none())
    {
        out.note(&format!(
            "strata: no service `{unknown}` in the catalog; `strata plan {}` lists the spec's services\n",
            args.spec.display()
        ));
        return Ok(ExitCode::from(2));
    }
    let plan = strata_plan::build(model, &loaded.catalog)?;
    let dir = super::deploy::cloud_dir(home, &model.cloud);
    let state = Arc::new(super::deploy::deployed_state(home, model, &args.spec)?);
    let (inventory, in_lab) = super::deploy::inventory(home, model, &dir, ssh_config, false)?;
    let deployer = super::deploy::deployer(home, model, in_lab && ssh_config.is_none());
    let target = strata_engine::Target {
        model,
        catalog: &loaded.catalog,
        plan: &plan,
        inventory: &inventory,
        state,
        redactor: Arc::new(Redactor::default()),
    };
    // On a terminal, a live view of the checks as they run, failures named as they come; the
    // results print at the end.
    let on_terminal = !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let live: Mutex<Option<crate::live::Live>> = Mutex::new(None);
    let progress = |event: CheckProgress| {
        if !on_terminal {
            return;
        }
        let mut live = live.lock().unwrap_or_else(|e| e.into_inner());
        match (&mut *live, &event) {
            (None, CheckProgress::Planned(checks)) => {
                *live = Some(crate::live::Live::of_checks(checks));
            }
            (Some(view), _) => {
                // A failure is named above the view at once; what it said prints at the end.
                if let CheckProgress::Finished { id, passed: false } = &event {
                    view.println(&format!("FAIL {id}"));
                }
                view.see_check(&event)
            }
            (None, _) => {}
        }
    };
    let results = strata_engine::check_reporting(
        &target,
        &deployer,
        services,
        Duration::from_secs(60),
        &progress,
    );
    if let Some(view) = live.into_inner().unwrap_or_else(|e| e.into_inner()) {
        view.finish();
    }
    for t in inventory.values() {
        t.close();
    }
    let results = results?;
    let failed = results.iter().filter(|r| !r.passed).count();
    for r in &results {
        if json {
            out.out(&format!("{}\n", serde_json::to_string(r)?));
            continue;
        }
        let service = match &r.qualifier {
            Some(q) => format!("{}[{q}]", r.service),
            None => r.service.clone(),
        };
        out.out(&format!(
            "{} {}/{} {service}: {} ({:.1} s)\n",
            if r.passed { "ok  " } else { "FAIL" },
            r.site,
            r.host,
            r.check,
            r.seconds
        ));
        if !r.passed {
            for line in r.detail.lines() {
                out.out(&format!("       {line}\n"));
            }
        }
    }
    if !json {
        out.out(&format!(
            "{} checks on {} hosts: {} passed, {failed} failed\n",
            results.len(),
            results
                .iter()
                .map(|r| &r.host)
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            results.len() - failed
        ));
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
