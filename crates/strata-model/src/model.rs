//! Model types. Ids are indices into the model's vectors; names are kept for output.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use serde::Serialize;
use strata_spec::OsdType;

pub type SiteId = usize;
pub type HostId = usize;
pub type CephId = usize;
pub type GaleraId = usize;

#[derive(Debug, Clone, Serialize)]
pub struct Model {
    pub cloud: String,
    pub release: String,
    pub sites: Vec<Site>,
    pub hosts: Vec<Host>,
    pub ceph: Vec<CephCluster>,
    pub galera: Vec<GaleraCluster>,
    /// Every role used, with its composed services.
    pub roles: BTreeMap<String, Arc<Vec<String>>>,
    /// The catalog's services that serve others' traits (`serves:`), by trait.
    pub servers: Servers,
}

/// Who serves what (the catalog's `serves:`), kept with the model so that its answers
/// (where a site's APIs are reached, what a site lacks) name no service in code.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Servers {
    pub database: String,
    pub messaging: String,
    pub identity: String,
    pub api_front: String,
    pub cache: String,
    pub ceph_monitor: String,
    pub ceph_manager: String,
    pub ceph_storage: String,
    pub compute: String,
    pub image: String,
}

impl Servers {
    pub fn of(catalog: &strata_catalog::Catalog) -> Servers {
        use strata_catalog::*;
        let name = |what| catalog.server_name(what).to_owned();
        Servers {
            database: name(SERVES_DATABASE),
            messaging: name(SERVES_MESSAGING),
            identity: name(SERVES_IDENTITY),
            api_front: name(SERVES_API_FRONT),
            cache: name(SERVES_CACHE),
            ceph_monitor: name(SERVES_CEPH_MONITOR),
            ceph_manager: name(SERVES_CEPH_MANAGER),
            ceph_storage: name(SERVES_CEPH_STORAGE),
            compute: name(SERVES_COMPUTE),
            image: name(SERVES_IMAGE),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SiteKind {
    /// Runs its own control plane (Keystone) and has its own region.
    Central,
    /// Uses the control plane of another site; has its own availability zone.
    Edge,
}

#[derive(Debug, Clone, Serialize)]
pub struct Site {
    pub name: String,
    pub kind: SiteKind,
    /// The site whose control plane this site uses (itself for a central site).
    pub control_plane: SiteId,
    pub subnet: IpNet,
    pub vip: Option<IpAddr>,
    /// Where users reach the site's APIs (the public endpoints), when not at `vip`.
    pub public_vip: Option<IpAddr>,
    pub region: String,
    pub availability_zone: String,
    pub wan_latency_ms: u32,
    pub hosts: Vec<HostId>,
    pub ceph: Option<CephId>,
    pub glance: Option<GlanceConfig>,
    pub provider: Option<Provider>,
}

/// A site's flat provider network (Neutron's physical network named after the site): the
/// nodes' `interface` is on it, the outside router has `gateway`, and Neutron hands out
/// `first..=last` (router gateways, floating IPs, ports of servers on it).
#[derive(Debug, Clone, Serialize)]
pub struct Provider {
    pub subnet: IpNet,
    pub gateway: IpAddr,
    pub first: IpAddr,
    pub last: IpAddr,
    pub interface: String,
}

/// The Glance stores of a site's Glance: each an RBD store on a Ceph cluster.
#[derive(Debug, Clone, Serialize)]
pub struct GlanceConfig {
    /// Index into `stores` of the default store.
    pub default: usize,
    pub stores: Vec<GlanceStore>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GlanceStore {
    /// Store id, the name of the site whose cluster holds it (TripleO's convention).
    pub name: String,
    pub ceph: CephId,
}

#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub name: String,
    pub site: SiteId,
    pub ip: IpAddr,
    pub role: String,
    pub services: Arc<Vec<String>>,
    pub disks: Vec<String>,
    pub osd_type: OsdKind,
    pub ram_gb: Option<u32>,
    pub vcpus: Option<u32>,
    pub bmc: Option<IpAddr>,
    /// Reserved memory and CPU allocation ratio, for hosts that run compute and OSDs.
    pub hci: Option<HciTuning>,
}

impl Host {
    pub fn runs(&self, service: &str) -> bool {
        self.services.iter().any(|s| s == service)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OsdKind {
    Hdd,
    Ssd,
    Nvme,
}

impl From<OsdType> for OsdKind {
    fn from(t: OsdType) -> Self {
        match t {
            OsdType::Hdd => OsdKind::Hdd,
            OsdType::Ssd => OsdKind::Ssd,
            OsdType::Nvme => OsdKind::Nvme,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HciTuning {
    pub osds: u32,
    pub guests: u32,
    pub reserved_host_memory_mb: u64,
    pub cpu_allocation_ratio: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CephCluster {
    pub name: String,
    pub site: SiteId,
    pub mons: Vec<HostId>,
    pub mgrs: Vec<HostId>,
    pub osd_hosts: Vec<HostId>,
    pub osds: u32,
    pub pools: Vec<Pool>,
    /// Set when the cluster exists already and is only used, not deployed.
    pub external: Option<ExternalCeph>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pool {
    pub name: String,
    pub size: u32,
    pub pg_num: u32,
    pub target_size_ratio: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExternalCeph {
    pub fsid: String,
    pub mon_hosts: Vec<IpAddr>,
    /// Path of the client keyring on the deployer; read at deploy time, never stored in the spec.
    pub keyring: String,
    pub user: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GaleraCluster {
    pub name: String,
    pub sites: Vec<SiteId>,
    pub members: Vec<HostId>,
    /// `pc.weight` of each member, in `members` order.
    pub weights: Vec<u32>,
    /// Databases it holds; for a site's own cluster, every database not held elsewhere.
    pub databases: Vec<String>,
    /// True for a cluster named in the spec's `galera` section.
    pub named: bool,
    /// Offset added to the Galera ports (3306, 4444, 4567, 4568, 9200) when several clusters
    /// share hosts.
    pub port_offset: u16,
}

impl Model {
    /// The Galera cluster holding `database` for services of `site`.
    pub fn database_cluster(&self, site: SiteId, database: &str) -> Option<GaleraId> {
        let cp = self.sites[site].control_plane;
        let named = self.galera.iter().position(|g| {
            g.named && g.sites.contains(&cp) && g.databases.iter().any(|d| d == database)
        });
        named.or_else(|| self.galera.iter().position(|g| !g.named && g.sites == [cp]))
    }

    pub fn site_by_name(&self, name: &str) -> Option<SiteId> {
        self.sites.iter().position(|s| s.name == name)
    }

    /// Host ids by name.
    pub fn host_index(&self) -> std::collections::HashMap<&str, HostId> {
        self.hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.name.as_str(), i))
            .collect()
    }

    /// The hosts of `site` that run `service`, in host order.
    pub fn hosts_running(&self, site: SiteId, service: &str) -> Vec<HostId> {
        self.sites[site]
            .hosts
            .iter()
            .copied()
            .filter(|&h| self.hosts[h].runs(service))
            .collect()
    }

    /// The site whose `service` serves `site`: its own when it runs one, else its control
    /// plane's (an edge uses central's Keystone and RabbitMQ).
    pub fn site_serving(&self, site: SiteId, service: &str) -> Option<SiteId> {
        let cp = self.sites[site].control_plane;
        [site, cp]
            .into_iter()
            .find(|&s| !self.hosts_running(s, service).is_empty())
    }

    /// Where clients reach the APIs of `site`: its virtual IP, else its first HAProxy host,
    /// else `None` (each API at its own host's address).
    pub fn api_address(&self, site: SiteId) -> Option<IpAddr> {
        self.sites[site].vip.or_else(|| {
            self.hosts_running(site, &self.servers.api_front)
                .first()
                .map(|&h| self.hosts[h].ip)
        })
    }

    /// The Keystone region a site's APIs are registered in: a central site's own; an edge
    /// site's APIs (its Glance) go in a region named after the edge, a child of its central
    /// site's, so a client picks the edge's endpoint by region rather than by chance.
    pub fn api_region(&self, site: SiteId) -> String {
        let s = &self.sites[site];
        match s.kind {
            SiteKind::Edge => s.name.clone(),
            _ => s.region.clone(),
        }
    }

    /// The address a host's APIs listen on: its own, unless HAProxy runs on it without a
    /// virtual IP and takes that address; then loopback, behind the local HAProxy.
    pub fn api_bind(&self, host: HostId) -> IpAddr {
        let h = &self.hosts[host];
        if h.runs(&self.servers.api_front) && self.sites[h.site].vip.is_none() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            h.ip
        }
    }
}
