//! The service and role catalog. Services (packages, ports, units, traits such as "has a
//! database" or "is an API behind HAProxy", dependencies, and lifecycle steps) and roles are
//! YAML files under `catalog/`; the planner reads them and has no per-service code.

mod load;

use std::collections::BTreeMap;

use strata_source::Loc;

pub use load::{builtin_files, CatalogError};

/// Where a service's instances come from: one per site, or one per Galera cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Site,
    Galera,
}

/// What a service is, for people and for summaries; behaviour comes from its traits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Infra,
    Api,
    Worker,
    Agent,
    Ceph,
}

/// Which Ceph clusters a service reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CephUse {
    None,
    /// The cluster of its own site, when the site has one.
    Local,
    /// Every cluster the site's image stores name (the spec's `glance:` stores); the default
    /// store first. Only the service that serves `image` may use them (validated).
    Stores,
}

/// The project a service belongs to (nova-api, nova-compute -> nova): it has one RabbitMQ
/// user and one Keystone service user.
pub fn project(service: &str) -> &str {
    service.split('-').next().unwrap_or(service)
}

/// The hooks a service can provide for others' traits.
pub const HOOK_DATABASE: &str = "database";
pub const HOOK_MESSAGING_USER: &str = "messaging-user";
pub const HOOK_API_REGISTRATION: &str = "api-registration";

/// What a service can serve for the others (`serves:` in its file): the planner, the model's
/// checks and the templates' context ask the catalog which service serves each, so no
/// service is named in code. One service serves each.
pub const SERVES_DATABASE: &str = "database";
pub const SERVES_MESSAGING: &str = "messaging";
pub const SERVES_IDENTITY: &str = "identity";
pub const SERVES_API_FRONT: &str = "api-front";
pub const SERVES_CACHE: &str = "cache";
/// A Ceph cluster's conf and keyring on each host whose services use the cluster (`ceph:`):
/// the planner places its steps per host and cluster, qualified by the cluster's name.
pub const SERVES_CEPH_CLIENT: &str = "ceph-client";
/// A site's Ceph cluster is made of the hosts that serve these: its monitors (quorum and
/// maps; at least one makes a cluster), managers, and object storage daemons (one per disk
/// of the host).
pub const SERVES_CEPH_MONITOR: &str = "ceph-monitor";
pub const SERVES_CEPH_MANAGER: &str = "ceph-manager";
pub const SERVES_CEPH_STORAGE: &str = "ceph-storage";
/// Runs guests: a host that serves it and `ceph-storage` is hyperconverged, and its
/// reserved memory and CPU allocation ratio are derived.
pub const SERVES_COMPUTE: &str = "compute";
/// Keeps images in the stores the spec gives a site (`glance:`).
pub const SERVES_IMAGE: &str = "image";
pub const SERVES: [&str; 11] = [
    SERVES_DATABASE,
    SERVES_MESSAGING,
    SERVES_IDENTITY,
    SERVES_API_FRONT,
    SERVES_CACHE,
    SERVES_CEPH_CLIENT,
    SERVES_CEPH_MONITOR,
    SERVES_CEPH_MANAGER,
    SERVES_CEPH_STORAGE,
    SERVES_COMPUTE,
    SERVES_IMAGE,
];

/// From where a service may be used (`reach:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// By its own site only (a Ceph daemon belongs to its site's cluster).
    Site,
    /// By its site, and by the edge sites whose control plane that site is (the default).
    Central,
}

/// Which host of an instance does its once-only steps (`on: first` and `on: database`), and
/// is left out of `on: rest` (`leader:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leader {
    /// The first of its hosts in the spec's order (the default): for services whose
    /// templates name that host, as RabbitMQ's joins and Galera's bootstrap do.
    First,
    /// The host of the instance with the least planned work so far (the steps' estimates),
    /// so no one controller does every service's bootstrap duties one after another.
    LeastBusy,
}

/// A port a service listens on, named when others need to find it (`client`, `gcomm`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: Option<String>,
    pub number: u16,
}

/// On which hosts of a service instance a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// Every host of the instance.
    Each,
    /// The first host of the instance (by name order).
    First,
    /// Every host but the first.
    Rest,
    /// Once per database, on the first host of the first instance that uses it (a database
    /// shared by two sites is migrated once).
    Database,
    /// Once per further image store of the site (`ceph: stores`), on every host, qualified by
    /// the store: the planner places these once the store's cluster is exported. Only the
    /// service that serves `image` has such steps (validated).
    Store,
}

/// A step that must finish first: one of the same service, or of another service of the
/// same instance group (`ceph-osd:ready` from ceph-mon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRef {
    pub service: Option<String>,
    pub action: String,
}

#[derive(Debug, Clone)]
pub struct StepDef {
    pub action: String,
    pub on: On,
    /// Steps that finish first: on the same host where that step runs there, else wherever
    /// it runs (a bootstrap after its own host's configure; a join after the bootstrap).
    pub after: Vec<StepRef>,
    /// Steps that finish first on every host they run on (ready after every host started).
    pub after_all: Vec<StepRef>,
    /// Expected duration, used for the critical path estimate.
    pub estimate_ms: u32,
    pub doc: Option<String>,
    /// What the step does on its host; every string is a template rendered at deploy time.
    pub ops: Vec<OpDef>,
    /// How many times the step is run again after failing, when its operations are safe to
    /// repeat (e.g. joining a cluster whose first member is still starting). 0 by default.
    pub retries: u32,
    /// Logs on the host that say why the step failed when its commands' output does not
    /// (`keystone-manage` writes its errors to /var/log/keystone): their last lines go into
    /// the failure report. Templates, like the operations.
    pub logs: Vec<String>,
    /// Never shares its host with another step, though it only runs commands (a command that
    /// restarts a unit other steps of the host may be using). False by default.
    pub alone: bool,
}

impl StepDef {
    /// Whether the step may run on its host beside other steps: it only runs commands, waits
    /// and reads (no package, file or unit of its own, which steps of the host may share),
    /// and the catalog did not say `alone`. Such steps are API calls, database syncs and
    /// cluster commands, much of a first deploy, and mostly waiting on something else.
    pub fn shares_host(&self) -> bool {
        !self.alone
            && !self.ops.is_empty()
            && self.ops.iter().all(|op| {
                matches!(
                    op,
                    OpDef::Command { .. } | OpDef::Wait { .. } | OpDef::Fetch { .. }
                )
            })
    }
}

/// An operation as the catalog writes it (see strata-ops for what each does).
#[derive(Debug, Clone, PartialEq)]
pub enum OpDef {
    Packages(Vec<String>),
    File {
        path: String,
        /// A template file under the catalog's `templates/`, or
        template: Option<String>,
        /// inline content (itself a template).
        content: Option<String>,
        owner: String,
        group: String,
        mode: u32,
    },
    Service {
        unit: String,
        restart_on_change: bool,
        watch: Vec<String>,
        /// `running` (enabled and started) or `stopped` (disabled and stopped); a template,
        /// so a unit can run only where the spec asks for it (keepalived with a VIP).
        state: String,
        /// Start or restart without waiting for the unit to be ready: a later wait of the
        /// step judges readiness (a Galera joiner that falls out of the cluster would hold
        /// `systemctl start` until the unit's start timeout).
        no_block: bool,
    },
    Command {
        run: String,
        creates: Option<String>,
        unless: Option<String>,
    },
    Wait {
        tcp: Option<String>,
        http: Option<String>,
        status: u16,
        command: Option<String>,
        timeout_s: u32,
    },
    Fetch {
        run: String,
        output: String,
    },
}

/// A database on Galera and the user that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    pub name: String,
    pub user: String,
}

#[derive(Debug, Clone)]
pub struct Api {
    pub service_type: String,
    pub port: u16,
    pub path: String,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub loc: Loc,
    pub description: String,
    pub kind: Kind,
    pub group: Group,
    pub packages: Vec<String>,
    /// Debian packages of the test guest this service registers (`guest:`); a lab image
    /// builds the guest from them.
    pub guest: Vec<String>,
    pub units: Vec<String>,
    pub ports: Vec<Port>,
    /// What it serves for the others (see `SERVES`).
    pub serves: Vec<String>,
    pub reach: Reach,
    pub leader: Leader,
    /// The databases this service keeps on Galera, each with its user (whose password is
    /// generated: `secret('db-' ~ user)`). The first is the service's own: `database` in its
    /// templates, and what its once-per-database steps are counted by.
    pub databases: Vec<Database>,
    /// Whether it has a RabbitMQ user.
    pub messaging: bool,
    /// An API behind HAProxy, registered in Keystone.
    pub api: Option<Api>,
    /// `deployed: false`: its steps prepare hosts (a configuration others will read) but do
    /// not run it yet; planned and listed as not deployed, with no traits served.
    pub prepared_only: bool,
    pub ceph: CephUse,
    pub needs: Vec<String>,
    /// Steps that do not wait for `needs` (a configuration and a database sync need only
    /// the host, the service's database and its messaging user): the service's needs gate
    /// its first steps outside this list instead.
    pub early: Vec<String>,
    /// Services that must run at the service's own site, each with why (nova-compute's
    /// guests take their addresses from the site's DHCP agents). Checked by validate only:
    /// no order follows from it.
    pub site_needs: Vec<(String, String)>,
    pub steps: Vec<StepDef>,
    /// Steps done for other services' traits, by hook (`database`, `messaging-user`,
    /// `api-registration`); the planner places them, the subject is in their context.
    pub provides: BTreeMap<String, StepDef>,
    /// What `strata check` asks of the service after a deploy.
    pub checks: Vec<CheckDef>,
}

/// A check: a command (a template, like an operation) that exits 0 when the service works,
/// run on every host of an instance or on its first. Its output says what is wrong.
#[derive(Debug, Clone)]
pub struct CheckDef {
    pub name: String,
    pub on: On,
    pub run: String,
    /// How long the check may run (`timeout_s:`, default [`DEFAULT_CHECK_TIMEOUT_S`]).
    pub timeout_s: u32,
    /// Run on the deployer once `run` passed, where the template sees `printed`: the last
    /// line `run` printed, a plain word such as an address. What users outside the cloud
    /// see: a floating IP answers ping from there.
    pub deployer: Option<String>,
    /// Run on the host after `run` (and `deployer`) whether they passed or not, to remove what
    /// `run` left for the deployer to reach.
    pub finally: Option<String>,
}

/// How long a check may run unless its file says otherwise.
pub const DEFAULT_CHECK_TIMEOUT_S: u32 = 60;

impl Service {
    /// The port called `name` (`ports: { client: 3306 }`).
    pub fn port(&self, name: &str) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name))
            .map(|p| p.number)
    }

    /// The service's own database (the first it lists).
    pub fn database(&self) -> Option<&Database> {
        self.databases.first()
    }

    pub fn step(&self, action: &str) -> Option<&StepDef> {
        self.steps.iter().find(|s| s.action == action)
    }

    /// Whether strata deploys this service yet: some step has operations, and the catalog
    /// does not say `deployed: false`. A service whose steps are all empty is a placeholder
    /// (planned, nothing run, nothing fronted).
    pub fn is_deployed(&self) -> bool {
        !self.prepared_only && self.steps.iter().any(|s| !s.ops.is_empty())
    }

    /// The step others wait for when they need this service: `ready` if it has one, else its last.
    pub fn ready_step(&self) -> Option<&StepDef> {
        self.step("ready").or_else(|| self.steps.last())
    }
}

#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub loc: Loc,
    pub description: String,
    pub services: Vec<String>,
    /// Services that must run somewhere on the same site (ScaleOut needs the site's Glance).
    pub site_requires: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub services: BTreeMap<String, Service>,
    pub roles: BTreeMap<String, Role>,
    /// Templates by path under `templates/` (e.g. `memcached/memcached.conf.j2`).
    pub templates: BTreeMap<String, String>,
    /// Where each template was read, in the source map: diagnostics about a template
    /// (`strata validate` renders them all) point into its file.
    pub template_files: BTreeMap<String, strata_source::FileId>,
}

impl Catalog {
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.get(name)
    }

    /// The service that serves `what` (one of `SERVES`) for the others.
    pub fn server_of(&self, what: &str) -> Option<&Service> {
        self.services
            .values()
            .find(|s| s.serves.iter().any(|x| x == what))
    }

    /// The name of the service that serves `what`, or "" when none does.
    pub fn server_name(&self, what: &str) -> &str {
        self.server_of(what).map_or("", |s| s.name.as_str())
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    /// Composes a role's services: start from `extends` (or nothing), replace with
    /// `services` if given, then `add` and `remove`. Order is kept, duplicates dropped.
    pub fn compose(
        base: Option<&Role>,
        services: Option<&[String]>,
        add: &[String],
        remove: &[String],
    ) -> Vec<String> {
        let mut list: Vec<String> = match (services, base) {
            (Some(s), _) => s.to_vec(),
            (None, Some(b)) => b.services.clone(),
            (None, None) => Vec::new(),
        };
        for s in add {
            if !list.contains(s) {
                list.push(s.clone());
            }
        }
        list.retain(|s| !remove.contains(s));
        list
    }
}
