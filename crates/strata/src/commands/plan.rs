//! `strata plan`: the steps of a deploy across every site, as text, JSON or Graphviz.

use std::process::ExitCode;

use crate::cli::{PlanFormat, SpecArgs};
use crate::printer::Printer;

pub fn run(args: &SpecArgs, format: PlanFormat, out: &mut Printer) -> anyhow::Result<ExitCode> {
    let loaded = super::load(args)?;
    super::print_diagnostics(&loaded, out);
    if loaded.failed(args.deny_warnings) {
        return Ok(ExitCode::from(1));
    }
    let model = loaded.model.as_ref().expect("no errors means a model");
    let plan = strata_plan::build(model, &loaded.catalog)?;
    out.out(&match format {
        PlanFormat::Text => plan.to_text(model),
        PlanFormat::Json => plan.to_json(),
        PlanFormat::Dot => plan.to_dot(),
    });
    Ok(ExitCode::SUCCESS)
}
