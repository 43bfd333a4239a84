//! `strata export ceph`: a deployment's Ceph clusters for other tools, in TripleO's
//! CephExternalMultiConfig shape. The file holds client keys: mode 0600, only its path shown.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::SpecArgs;
use crate::printer::Printer;

pub fn ceph(
    home: &Path,
    args: &SpecArgs,
    site: Option<&str>,
    output: Option<&Path>,
    out: &mut Printer,
) -> anyhow::Result<ExitCode> {
    let loaded = valid_or_exit!(args, out);
    let model = loaded.model.as_ref().expect("valid");
    let dir = super::deploy::cloud_dir(home, &model.cloud);
    let state = super::deploy::deployed_state(home, model, &args.spec)?;
    let text = strata_engine::ceph_export(model, &state, site)?;
    let path = match output {
        Some(p) => p.to_path_buf(),
        None => dir.join(match site {
            Some(s) => format!("ceph-export-{s}.yaml"),
            None => "ceph-export.yaml".into(),
        }),
    };
    strata_sys::write_file(&path, &text, 0o600)?;
    out.note(&format!(
        "strata: Ceph clusters of `{}` (mode 0600, holds client keys): {}\n",
        model.cloud,
        path.display()
    ));
    Ok(ExitCode::SUCCESS)
}
