//! One function per subcommand, and the loading they share: spec + overrides + catalog ->
//! validated model, with every diagnostic printed the same way.

/// The spec loaded and valid, or the command returns the exit code its diagnostics call
/// for (they are printed).
macro_rules! valid_or_exit {
    ($args:expr, $out:expr) => {
        match super::valid_model($args, $out)? {
            Ok(loaded) => loaded,
            Err(code) => return Ok(code),
        }
    };
}

mod check;
mod deploy;
mod export;
mod image;
mod lab;
mod plan;
mod render;
mod validate;

use std::process::ExitCode;

use anyhow::Context;
use strata_catalog::Catalog;
use strata_model::Model;
use strata_source::{Diagnostics, Severity, SourceMap};

use crate::cli::{Cli, Command, ExportCommand, ImageCommand, LabCommand, SpecArgs};
use crate::printer::Printer;

pub fn run(cli: Cli, out: &mut Printer) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => validate::run(&args, out),
        Command::Render { spec, host } => render::run(&spec, host.as_deref(), out),
        Command::Plan {
            spec,
            format,
            offline,
            probe,
            ssh_config,
        } => plan::run(
            &cli.home,
            &spec,
            format,
            offline,
            probe,
            ssh_config.as_deref(),
            out,
        ),
        Command::Deploy {
            spec,
            parallel,
            beside,
            json,
            ssh_config,
            step_timeout,
            web,
        } => deploy::run(
            &cli.home,
            &spec,
            &deploy::Flags {
                parallel,
                beside,
                json,
                ssh_config,
                step_timeout,
                web,
            },
            out,
        ),
        Command::Check {
            spec,
            json,
            services,
            ssh_config,
        } => check::run(
            &cli.home,
            &spec,
            json,
            &services,
            ssh_config.as_deref(),
            out,
        ),
        Command::Status { spec } => deploy::status(&cli.home, &spec, out),
        Command::Export(ExportCommand::Ceph { spec, site, output }) => {
            export::ceph(&cli.home, &spec, site.as_deref(), output.as_deref(), out)
        }
        Command::Export(ExportCommand::Inventory { spec, output }) => {
            export::inventory(&cli.home, &spec, output.as_deref(), out)
        }
        Command::Completions { shell } => {
            let mut command = <crate::cli::Cli as clap::CommandFactory>::command();
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut command, "strata", &mut text);
            out.out(&String::from_utf8_lossy(&text));
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let command = <crate::cli::Cli as clap::CommandFactory>::command();
            let mut text = Vec::new();
            clap_mangen::Man::new(command).render(&mut text)?;
            out.out(&String::from_utf8_lossy(&text));
            Ok(ExitCode::SUCCESS)
        }
        Command::Image(ImageCommand::Build { spec }) => image::build(&cli.home, &spec, out),
        Command::Image(ImageCommand::List) => image::list(&cli.home, out),
        Command::Image(ImageCommand::Rm { key }) => image::remove(&cli.home, &key, out),
        Command::Lab(LabCommand::Up {
            spec,
            disk_gib,
            parallel,
        }) => lab::up(&cli.home, &spec, disk_gib, parallel, out),
        Command::Lab(LabCommand::Down { spec, lab }) => {
            lab::down(&cli.home, spec.as_deref(), lab.as_deref(), out)
        }
        Command::Lab(LabCommand::Status { lab, json }) => {
            lab::status(&cli.home, lab.as_deref(), json, out)
        }
        Command::Lab(LabCommand::Ssh { lab, node, command }) => {
            lab::ssh(&cli.home, lab.as_deref(), &node, &command)
        }
        Command::Lab(LabCommand::Cut {
            lab,
            site_a,
            site_b,
        }) => lab::cut(
            &cli.home,
            lab.as_deref(),
            Some((&site_a, &site_b)),
            true,
            out,
        ),
        Command::Lab(LabCommand::Restart { lab, node }) => {
            lab::restart(&cli.home, lab.as_deref(), &node, out)
        }
        Command::Lab(LabCommand::Heal {
            lab,
            site_a,
            site_b,
        }) => {
            let pair = site_a.as_deref().zip(site_b.as_deref());
            lab::cut(&cli.home, lab.as_deref(), pair, false, out)
        }
        Command::Lab(LabCommand::Unplug { lab, node }) => {
            lab::plug(&cli.home, lab.as_deref(), &node, false, out)
        }
        Command::Lab(LabCommand::Plug { lab, node }) => {
            lab::plug(&cli.home, lab.as_deref(), &node, true, out)
        }
        Command::Lab(LabCommand::WanRouter { config }) => {
            strata_lab::wan::serve(&config)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A spec loaded as far as it would go.
pub struct Loaded {
    pub sources: SourceMap,
    pub diagnostics: Diagnostics,
    pub catalog: Catalog,
    pub model: Option<Model>,
}

impl Loaded {
    /// Whether the diagnostics stop the command (errors, or warnings when denied).
    pub fn failed(&self, deny_warnings: bool) -> bool {
        self.model.is_none()
            || self.diagnostics.has_errors()
            || (deny_warnings && self.diagnostics.count(Severity::Warning) > 0)
    }
}

/// Reads the catalog, the spec and its overrides, and validates them. Never touches a host.
pub fn load(args: &SpecArgs) -> anyhow::Result<Loaded> {
    let mut sources = SourceMap::new();
    let mut diagnostics = Diagnostics::new();
    let catalog = Catalog::load(&mut sources, args.catalog.as_deref(), &mut diagnostics)
        .context("loading the service catalog")?;
    let loaded = strata_spec::load(&mut sources, &args.spec, &args.overrides)?;
    diagnostics.extend(loaded.diagnostics);
    let model = match loaded.spec {
        Some(raw) if !diagnostics.has_errors() => {
            strata_model::compile(&raw, &catalog, &mut diagnostics)
        }
        Some(raw) => {
            // Decoding found errors; still run the model checks to report everything at once.
            let _ = strata_model::compile(&raw, &catalog, &mut diagnostics);
            None
        }
        None => None,
    };
    Ok(Loaded {
        sources,
        diagnostics,
        catalog,
        model,
    })
}

/// Loads a spec and insists it is valid (printing its diagnostics): for commands that act.
pub fn valid_model(args: &SpecArgs, out: &mut Printer) -> anyhow::Result<Result<Loaded, ExitCode>> {
    let loaded = load(args)?;
    print_diagnostics(&loaded, out);
    if loaded.failed(args.deny_warnings) {
        return Ok(Err(ExitCode::from(1)));
    }
    Ok(Ok(loaded))
}

/// Prints diagnostics (if any) to stderr with a summary line.
pub fn print_diagnostics(loaded: &Loaded, out: &mut Printer) {
    if !loaded.diagnostics.is_empty() {
        out.note(&loaded.diagnostics.render(&loaded.sources));
    }
}
