//! `strata validate`: every check of the spec, nothing touched. Exit 0 when valid (warnings
//! are printed), 1 on errors, or on warnings with `--deny-warnings`.

use std::process::ExitCode;

use crate::cli::SpecArgs;
use crate::printer::Printer;

pub fn run(args: &SpecArgs, out: &mut Printer) -> anyhow::Result<ExitCode> {
    let loaded = super::load(args)?;
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
    Ok(ExitCode::SUCCESS)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
