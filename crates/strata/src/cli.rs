//! Command-line arguments: subcommands and their options.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "strata",
    version,
    about = "Deploys OpenStack + Ceph clouds, one site or many, from one declarative spec"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check a spec (and its override files) without touching any host.
    Validate(SpecArgs),
    /// Show the steps a deploy would run, ordered by their dependencies across sites.
    Plan {
        #[command(flatten)]
        spec: SpecArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
    },
}

#[derive(Args, Debug)]
pub struct SpecArgs {
    /// The cloud spec (YAML).
    pub spec: PathBuf,
    /// Override files, applied in order on top of the spec (later wins).
    #[arg(short = 'e', long = "override", value_name = "FILE")]
    pub overrides: Vec<PathBuf>,
    /// Treat warnings as errors (exit code 1).
    #[arg(long)]
    pub deny_warnings: bool,
    /// A directory of extra catalog files (services/*.yaml, roles.yaml) that add to or
    /// replace the built-in ones.
    #[arg(long, value_name = "DIR", env = "STRATA_CATALOG")]
    pub catalog: Option<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanFormat {
    Text,
    Json,
    Dot,
}
