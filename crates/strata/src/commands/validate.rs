//! `strata validate`: every check of the spec, nothing touched. Exit 0 when valid (warnings
//! are printed), 1 on errors, or on warnings with `--deny-warnings`.

use std::process::ExitCode;

use crate::cli::SpecArgs;
use crate::printer::Printer;

pub fn run(args: &SpecArgs, out: &mut Printer) -> anyhow::Result<ExitCode> {
    let mut loaded = super::load(args)?;
    let hosts = loaded.model.as_ref().map_or(0, |m| m.hosts.len());
    let prove = !loaded.failed(args.deny_warnings) && hosts <= PROVE_HOSTS;
    if prove {
        prove_operations(&mut loaded)?;
    }
    super::print_diagnostics(&loaded, out);
    if loaded.failed(args.deny_warnings) {
        return Ok(ExitCode::from(1));
    }
    let model = loaded.model.as_ref().expect("no errors means a model");
    let clusters = model.ceph.iter().filter(|c| c.external.is_none()).count();
    out.out(&format!(
        "{}: valid: cloud `{}`, {} site{}, {} node{}, {} Ceph cluster{}, {} Galera cluster{}\n",
        args.spec.display(),
        model.cloud,
        model.sites.len(),
        plural(model.sites.len()),
        model.hosts.len(),
        plural(model.hosts.len()),
        clusters,
        plural(clusters),
        model.galera.len(),
        plural(model.galera.len()),
    ));
    if !prove {
        out.note(&format!(
            "{}: operations not proved: {hosts} nodes is more than {PROVE_HOSTS}; `strata render --host NODE` renders one node's\n",
            args.spec.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// The most nodes whose every operation validate renders and checks. The proof grows with
/// the nodes (4.7 s of CPU for 1,006 nodes in a debug build, 20.7 s for 4,006), which a
/// cloud of thousands of edge sites would wait minutes for.
const PROVE_HOSTS: usize = 2000;

/// Every operation and check of the plan rendered for its host offline, its shell and
/// Python checked: each fault an error at its template (or its service's catalog file),
/// naming the steps where it would fail.
fn prove_operations(loaded: &mut super::Loaded) -> anyhow::Result<()> {
    let model = loaded.model.as_ref().expect("valid");
    let plan = strata_plan::build(model, &loaded.catalog)?;
    for problem in strata_engine::prove(model, &loaded.catalog, &plan)? {
        let Some(loc) = problem
            .at
            .or_else(|| loaded.catalog.service(&problem.service).map(|s| s.loc))
        else {
            continue;
        };
        let steps = match problem.steps.as_slice() {
            [one] => format!("step {one}"),
            [first, rest @ ..] => format!("step {first} and {} more", rest.len()),
            [] => String::new(),
        };
        loaded.diagnostics.push(
            strata_source::Diagnostic::error(
                loc,
                format!(
                    "{} would fail in {steps}: {}",
                    problem.service, problem.message
                ),
            )
            .with_help("fix the catalog's template or operation: nothing was run on any host"),
        );
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
