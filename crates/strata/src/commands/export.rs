//! `strata export`: a deployment for other tools. `ceph`: its Ceph clusters in TripleO's
//! CephExternalMultiConfig shape (client keys: mode 0600, only its path shown).
//! `inventory`: its hosts as an Ansible inventory, by site and role.

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

/// An Ansible group name: letters, digits and `_` (spec names may hold `-`).
fn group(kind: &str, name: &str) -> String {
    format!(
        "{kind}_{}",
        name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    )
}

pub fn inventory(
    home: &Path,
    args: &SpecArgs,
    output: Option<&Path>,
    out: &mut Printer,
) -> anyhow::Result<ExitCode> {
    use std::collections::BTreeMap;
    let loaded = valid_or_exit!(args, out);
    let model = loaded.model.as_ref().expect("valid");
    let lab = strata_lab::LabState::new(home, &model.cloud);
    let mut text = format!(
        "# Ansible inventory of `{}`, written by strata from {}.\n",
        model.cloud,
        args.spec.display()
    );
    let in_lab = lab.exists() && !lab.hosts().is_empty();
    if in_lab {
        text.push_str(&format!(
            "# Its hosts are in the lab: run Ansible in the lab's network, e.g.\n#   nsenter --net={}/{} ansible-playbook -i THIS_FILE PLAYBOOK\n",
            strata_sys::NETNS_DIR,
            lab.fabric_netns()
        ));
    }
    text.push_str("all:\n  vars:\n    ansible_user: root\n");
    if in_lab {
        // Names are validated; the path is quoted as YAML single-quoted text.
        text.push_str(&format!(
            "    ansible_ssh_common_args: '-F {}'\n",
            lab.ssh_config().display().to_string().replace('\'', "''")
        ));
    }
    text.push_str("  hosts:\n");
    for h in &model.hosts {
        text.push_str(&format!(
            "    {}: {{ ansible_host: {}, strata_site: {}, strata_role: {} }}\n",
            h.name, h.ip, model.sites[h.site].name, h.role
        ));
    }
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for h in &model.hosts {
        groups
            .entry(group("site", &model.sites[h.site].name))
            .or_default()
            .push(&h.name);
        groups
            .entry(group("role", &h.role))
            .or_default()
            .push(&h.name);
    }
    text.push_str("  children:\n");
    for (name, hosts) in groups {
        text.push_str(&format!("    {name}:\n      hosts:\n"));
        for h in hosts {
            text.push_str(&format!("        {h}:\n"));
        }
    }
    match output {
        Some(path) => {
            strata_sys::write_file(path, &text, 0o644)?;
            out.note(&format!(
                "strata: the Ansible inventory of `{}`: {}\n",
                model.cloud,
                path.display()
            ));
        }
        None => out.out(&text),
    }
    Ok(ExitCode::SUCCESS)
}
