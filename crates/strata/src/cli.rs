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
    /// Where strata keeps images, labs and deployments.
    #[arg(
        long,
        global = true,
        env = "STRATA_HOME",
        default_value = "/var/lib/strata"
    )]
    pub home: PathBuf,
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
        /// Do not probe the hosts, even when the cloud's lab is up.
        #[arg(long)]
        offline: bool,
        /// Probe the nodes' addresses (real servers reached with the system ssh config).
        #[arg(long)]
        probe: bool,
        /// An ssh_config for real servers (probing them shows what would change).
        #[arg(long, value_name = "FILE")]
        ssh_config: Option<PathBuf>,
    },
    /// Show what a deploy would write and run on each host, rendered offline from the spec
    /// and the catalog (secrets masked, values read from hosts stood in for).
    Render {
        #[command(flatten)]
        spec: SpecArgs,
        /// Only this host.
        #[arg(long, value_name = "NODE")]
        host: Option<String>,
    },
    /// Deploy the spec onto its hosts (the lab's, when a lab of this cloud runs): gather
    /// facts, apply only the difference, in dependency order; resumes an unfinished run.
    Deploy {
        #[command(flatten)]
        spec: SpecArgs,
        /// Steps running at once, over all hosts.
        #[arg(long, default_value_t = 8)]
        parallel: usize,
        /// Steps that only run commands (API calls, database syncs) running at once on a host
        /// beside its one step that writes files, units or packages; 0: one step at a time
        #[arg(long, value_name = "N", default_value_t = strata_engine::SHARING_PER_HOST)]
        beside: usize,
        /// One JSON event per line on stdout, for automation.
        #[arg(long)]
        json: bool,
        /// An ssh_config for real servers (identity, known_hosts); the lab provides its own.
        #[arg(long, value_name = "FILE")]
        ssh_config: Option<PathBuf>,
        /// Longest a host may take to answer one step, in seconds.
        #[arg(long, default_value_t = 900)]
        step_timeout: u64,
        /// Serve a page of the plan's graph, each step coloured as it runs, at this address
        /// (127.0.0.1:8417 when none is given; another interface only when named here).
        #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8417")]
        web: Option<String>,
    },
    /// Prove the deployed cloud works: every service's checks on its hosts (Galera synced,
    /// RabbitMQ clustered, HAProxy backends up, a token from every region...). Exit 1 when
    /// any fails, naming the host and the check.
    Check {
        #[command(flatten)]
        spec: SpecArgs,
        /// One JSON object per check on stdout.
        #[arg(long)]
        json: bool,
        /// Only this service's checks (repeat for several), e.g. `--service ceph-mon`.
        #[arg(long = "service", value_name = "SERVICE")]
        services: Vec<String>,
        /// An ssh_config for real servers; the lab provides its own.
        #[arg(long, value_name = "FILE")]
        ssh_config: Option<PathBuf>,
    },
    /// Hand a deployment's outputs to other tools.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Shell completions for bash, zsh or fish, on stdout
    /// (e.g. `strata completions bash > /etc/bash_completion.d/strata`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The man page (roff), on stdout (e.g. `strata man | man -l -`).
    Man,
    /// Where a deployment stands: its last run, and every step's state.
    Status {
        #[command(flatten)]
        spec: SpecArgs,
    },
    /// Host images for the lab: Debian bookworm plus the packages of a spec's services.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Virtual bare metal on this machine: a host per node of a spec.
    #[command(subcommand)]
    Lab(LabCommand),
}

#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// Each Ceph cluster's name, fsid, monitors and client key in TripleO's
    /// CephExternalMultiConfig shape, written with mode 0600 (it holds keys; never printed).
    Ceph {
        #[command(flatten)]
        spec: SpecArgs,
        /// Only this site's cluster.
        #[arg(long)]
        site: Option<String>,
        /// Where to write it (default: ceph-export.yaml, or ceph-export-<site>.yaml, in the
        /// cloud's state directory).
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// An Ansible inventory (YAML) of the cloud's hosts, grouped by site and by role, with
    /// how to reach them (the lab's ssh_config when the cloud runs in the lab).
    Inventory {
        #[command(flatten)]
        spec: SpecArgs,
        /// Write it here instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Build the image for a spec's services (the base image when no spec is given).
    /// An image with the same inputs is reused.
    Build {
        #[command(flatten)]
        spec: OptionalSpecArgs,
    },
    /// List the built images.
    List,
    /// Remove an image (refused while a lab runs on it).
    Rm { key: String },
}

#[derive(Subcommand, Debug)]
pub enum LabCommand {
    /// Bring up a host per node of the spec (building the image first if needed). On a running
    /// lab, makes only what is missing.
    Up {
        #[command(flatten)]
        spec: SpecArgs,
        /// Size of each sparse OSD disk file, in GiB.
        #[arg(long, default_value_t = 8)]
        disk_gib: u64,
        /// Hosts made at once.
        #[arg(long, default_value_t = 4)]
        parallel: usize,
    },
    /// Take a lab down completely: its processes, namespaces and files.
    Down {
        /// The spec the lab was made from (its cloud name names the lab).
        spec: Option<PathBuf>,
        /// The lab's name, instead of a spec (for a lab whose spec no longer validates).
        #[arg(long)]
        lab: Option<String>,
    },
    /// Show the labs' hosts: state, address, memory (each process's proportional share of the
    /// pages it uses, summed per host, so the hosts add up to what the lab uses).
    Status {
        #[arg(long)]
        lab: Option<String>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// SSH into a lab host (strict host key checking), or run a command there.
    Ssh {
        #[arg(long)]
        lab: Option<String>,
        node: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Restart a lab host as a server reboots: an orderly shutdown, then a boot on the same
    /// disks; what was enabled there starts again.
    Restart {
        #[arg(long)]
        lab: Option<String>,
        node: String,
    },
    /// Cut the WAN link between two sites of a lab (packets between them are dropped), to
    /// see what a partition does.
    Cut {
        #[arg(long)]
        lab: Option<String>,
        site_a: String,
        site_b: String,
    },
    /// Unplug a lab host from its site's network (its link goes down), to see what a lost
    /// host does to a deploy or a cluster.
    Unplug {
        #[arg(long)]
        lab: Option<String>,
        node: String,
    },
    /// Plug a lab host back: its link comes up, with its default route.
    Plug {
        #[arg(long)]
        lab: Option<String>,
        node: String,
    },
    /// Restore the WAN link between two sites, or every link when no site is named.
    Heal {
        #[arg(long)]
        lab: Option<String>,
        #[arg(requires = "site_b")]
        site_a: Option<String>,
        site_b: Option<String>,
    },
    /// The lab's WAN router (started by `lab up` inside the lab's network).
    #[command(hide = true)]
    WanRouter { config: PathBuf },
}

#[derive(Args, Debug)]
pub struct OptionalSpecArgs {
    /// The cloud spec (YAML).
    pub spec: Option<PathBuf>,
    /// Override files, applied in order on top of the spec (later wins).
    #[arg(short = 'e', long = "override", value_name = "FILE")]
    pub overrides: Vec<PathBuf>,
    /// A directory of extra catalog files.
    #[arg(long, value_name = "DIR", env = "STRATA_CATALOG")]
    pub catalog: Option<PathBuf>,
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
