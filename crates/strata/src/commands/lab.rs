//! `strata lab up|down|status|ssh`: hosts for a spec on this machine.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{bail, Context};
use strata_lab::{LabSpec, LabState, UpOptions};

use crate::cli::SpecArgs;
use crate::printer::Printer;

pub fn up(
    home: &Path,
    args: &SpecArgs,
    disk_gib: u64,
    parallel: usize,
    out: &mut Printer,
) -> anyhow::Result<ExitCode> {
    let loaded = valid_or_exit!(args, out);
    let model = loaded.model.as_ref().expect("valid");
    let spec = LabSpec::from_model(model)?;
    let image = super::image::ensure(home, &super::image::inputs_for(&loaded), out)?;
    let exe = std::env::current_exe().context("locating the strata binary for the WAN router")?;
    let options = UpOptions {
        disk_size: disk_gib << 30,
        router_command: vec![exe.display().to_string(), "lab".into(), "wan-router".into()],
        parallel,
    };
    let shared = Mutex::new(&mut *out);
    let progress = |line: &str| {
        shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .note(&format!("strata: lab {}: {line}\n", spec.name))
    };
    let report = strata_lab::up(home, &spec, &image.key, &image.rootfs, &options, &progress);
    let out = shared.into_inner().unwrap_or_else(|e| e.into_inner());
    let report = report.with_context(|| {
        format!(
            "bringing lab `{}` up (`strata lab down {}` removes what was made)",
            spec.name,
            args.spec.display()
        )
    })?;
    for (host, how) in &report.differ {
        out.note(&format!("strata: lab {}: host {host} differs from the spec ({how}); `strata lab down` then `up` to remake it\n", spec.name));
    }
    out.out(&format!(
        "lab {}: {} host{} up ({} made, {} kept, {} removed) in {:.1} s\n  ssh: strata lab ssh {} [COMMAND]\n  status: strata lab status --lab {}\n  down: strata lab down {}\n",
        spec.name,
        spec.hosts.len(),
        if spec.hosts.len() == 1 { "" } else { "s" },
        report.created.len(),
        report.kept.len(),
        report.removed.len(),
        report.seconds,
        spec.hosts.first().map(|h| h.name.as_str()).unwrap_or("NODE"),
        spec.name,
        args.spec.display()
    ));
    Ok(ExitCode::SUCCESS)
}

/// The lab a command is about: named, or the cloud of a spec, or the only one there is.
fn pick(home: &Path, lab: Option<&str>, spec: Option<&Path>) -> anyhow::Result<LabState> {
    if let Some(name) = lab {
        return Ok(LabState::new(home, name));
    }
    if let Some(spec) = spec {
        // Only the cloud name is needed: a lab must come down even if its spec no longer validates.
        let mut sources = strata_source::SourceMap::new();
        let loaded = strata_spec::load(&mut sources, spec, &[])?;
        let name = loaded
            .spec
            .and_then(|s| s.cloud)
            .map(|c| c.value)
            .with_context(|| {
                format!(
                    "{} has no readable `cloud` name: use --lab NAME",
                    spec.display()
                )
            })?;
        return Ok(LabState::new(home, &name));
    }
    let labs = LabState::list(home);
    match labs.len() {
        0 => bail!("there is no lab; `strata lab up SPEC` makes one"),
        1 => Ok(labs.into_iter().next().expect("one")),
        _ => bail!(
            "there are several labs ({}): name one with --lab",
            labs.iter()
                .map(|l| l.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub fn down(
    home: &Path,
    spec: Option<&Path>,
    lab: Option<&str>,
    out: &mut Printer,
) -> anyhow::Result<ExitCode> {
    let lab = pick(home, lab, spec)?;
    let report = strata_lab::down(home, &lab.name)?;
    out.out(&format!(
        "lab {} down: {} process{} stopped, {} namespace{} and {} director{} removed\n",
        lab.name,
        report.processes,
        if report.processes == 1 { "" } else { "es" },
        report.namespaces,
        if report.namespaces == 1 { "" } else { "s" },
        report.directories,
        if report.directories == 1 { "y" } else { "ies" }
    ));
    Ok(ExitCode::SUCCESS)
}

pub fn status(
    home: &Path,
    lab: Option<&str>,
    json: bool,
    out: &mut Printer,
) -> anyhow::Result<ExitCode> {
    let labs = match lab {
        Some(name) => vec![LabState::new(home, name)],
        None => LabState::list(home),
    };
    if json {
        let doc: Vec<_> = labs
            .iter()
            .map(|l| serde_json::json!({ "lab": l.name, "image": l.image(), "hosts": l.status() }))
            .collect();
        out.out(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
        return Ok(ExitCode::SUCCESS);
    }
    if labs.is_empty() {
        out.note("no labs; `strata lab up SPEC` makes one\n");
    }
    for l in labs {
        if !l.exists() {
            bail!("no lab `{}`", l.name);
        }
        let hosts = l.status();
        let running = hosts.iter().filter(|h| h.running).count();
        let mut text = format!(
            "lab {} on image {}: {running} of {} hosts running\n",
            l.name,
            l.image().unwrap_or_default(),
            hosts.len()
        );
        text.push_str(&format!(
            "  {:<20} {:<10} {:<15} {:<8} {:>9} {:>6}\n",
            "HOST", "SITE", "IP", "STATE", "MEMORY", "PROCS"
        ));
        for h in hosts {
            text.push_str(&format!(
                "  {:<20} {:<10} {:<15} {:<8} {:>9} {:>6}\n",
                h.name,
                h.site,
                h.ip.to_string(),
                if h.running { "running" } else { "stopped" },
                super::image::size(h.memory_bytes),
                h.processes
            ));
        }
        out.out(&text);
    }
    Ok(ExitCode::SUCCESS)
}

/// `lab cut` and `lab heal`: the WAN links that are down, after the change.
pub fn cut(
    home: &Path,
    lab: Option<&str>,
    pair: Option<(&str, &str)>,
    cut: bool,
    out: &mut Printer,
) -> anyhow::Result<ExitCode> {
    let lab = pick(home, lab, None)?;
    let cuts = lab.set_cut(pair, cut)?;
    if cuts.is_empty() {
        out.out(&format!("lab {}: every WAN link is up\n", lab.name));
    } else {
        let list: Vec<String> = cuts.iter().map(|(a, b)| format!("{a} <-> {b}")).collect();
        out.out(&format!("lab {}: cut: {}\n", lab.name, list.join(", ")));
    }
    Ok(ExitCode::SUCCESS)
}

/// `lab unplug` and `lab plug`: a host's link to its site's network.
pub fn plug(
    home: &Path,
    lab: Option<&str>,
    node: &str,
    plugged: bool,
    out: &mut Printer,
) -> anyhow::Result<ExitCode> {
    let lab = pick(home, lab, None)?;
    strata_lab::set_plugged(&lab, node, plugged)?;
    out.out(&format!(
        "lab {}: {node} {}\n",
        lab.name,
        if plugged {
            "plugged back in (link up, default route back)"
        } else {
            "unplugged (link down)"
        }
    ));
    Ok(ExitCode::SUCCESS)
}

pub fn restart(
    home: &Path,
    lab: Option<&str>,
    node: &str,
    out: &mut Printer,
) -> anyhow::Result<ExitCode> {
    let lab = pick(home, lab, None)?;
    let key = lab
        .image()
        .with_context(|| format!("lab {} has no record of its image", lab.name))?;
    let image = strata_image::ImageStore::new(home)
        .get(&key)
        .with_context(|| format!("image {key} of lab {} is gone", lab.name))?;
    let started = std::time::Instant::now();
    strata_lab::restart(home, &lab.name, node, &image.rootfs)?;
    out.out(&format!(
        "lab {}: {node} restarted ({:.1} s)\n",
        lab.name,
        started.elapsed().as_secs_f64()
    ));
    Ok(ExitCode::SUCCESS)
}

pub fn ssh(
    home: &Path,
    lab: Option<&str>,
    node: &str,
    command: &[String],
) -> anyhow::Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    let lab = pick(home, lab, None)?;
    let argv = lab.ssh_argv(node, command)?;
    let err = std::process::Command::new(&argv[0]).args(&argv[1..]).exec();
    Err(err).context("running ssh")
}
