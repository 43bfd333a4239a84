//! Raw spec types: close to what the operator wrote, every value wrapped in [`Spanned`] so a
//! later check can point at it. Optional fields stay optional; defaults are applied by the model.

use std::net::IpAddr;

use ipnet::IpNet;
pub use strata_source::read::Spanned;
use strata_source::Loc;

#[derive(Debug, Clone, Default)]
pub struct RawSpec {
    pub loc: Loc,
    pub cloud: Option<Spanned<String>>,
    pub release: Option<Spanned<String>>,
    pub defaults: RawDefaults,
    pub sites: Vec<RawSite>,
    pub roles: Vec<RawRole>,
    pub galera: Vec<RawGalera>,
}

#[derive(Debug, Clone, Default)]
pub struct RawDefaults {
    pub ceph: RawCephSettings,
    pub wan_latency_ms: Option<Spanned<u32>>,
    pub hci: RawHci,
}

/// Settings shared by `defaults.ceph` and a site's `ceph` block.
#[derive(Debug, Clone, Default)]
pub struct RawCephSettings {
    pub size: Option<Spanned<u32>>,
    pub pg_num: Option<Spanned<u32>>,
    pub pools: Option<Spanned<Vec<RawPool>>>,
}

#[derive(Debug, Clone)]
pub struct RawPool {
    pub name: Spanned<String>,
    pub size: Option<Spanned<u32>>,
    pub pg_num: Option<Spanned<u32>>,
    pub target_size_ratio: Option<Spanned<f64>>,
}

/// Workload assumptions for HCI tuning (tripleo derive_params).
#[derive(Debug, Clone, Default)]
pub struct RawHci {
    pub avg_guest_memory_gb: Option<Spanned<f64>>,
    pub avg_guest_cpu_util: Option<Spanned<f64>>,
}

#[derive(Debug, Clone)]
pub struct RawSite {
    pub name: Spanned<String>,
    pub loc: Loc,
    pub edge_of: Option<Spanned<String>>,
    pub subnet: Option<Spanned<IpNet>>,
    pub vip: Option<Spanned<IpAddr>>,
    /// Where users reach the site's APIs, when not at `vip` (which then serves the cloud's own
    /// traffic: the internal and admin endpoints).
    pub public_vip: Option<Spanned<IpAddr>>,
    pub region: Option<Spanned<String>>,
    pub availability_zone: Option<Spanned<String>>,
    pub wan_latency_ms: Option<Spanned<u32>>,
    pub ceph: Option<RawSiteCeph>,
    pub glance: Option<RawGlance>,
    pub provider: Option<RawProvider>,
    pub nodes: Vec<RawNode>,
}

/// A site's flat provider network: where its servers and floating IPs meet the outside.
#[derive(Debug, Clone)]
pub struct RawProvider {
    pub loc: Loc,
    pub subnet: Option<Spanned<IpNet>>,
    /// The outside router's address on it (default: the subnet's first host address).
    pub gateway: Option<Spanned<IpAddr>>,
    /// `first-last`: the addresses Neutron hands out (ports, routers, floating IPs).
    pub range: Option<Spanned<(IpAddr, IpAddr)>>,
    /// The nodes' interface on it (default `eth1`).
    pub interface: Option<Spanned<String>>,
}

#[derive(Debug, Clone)]
pub struct RawSiteCeph {
    pub loc: Loc,
    pub cluster: Option<Spanned<String>>,
    pub settings: RawCephSettings,
    pub external: Option<RawExternalCeph>,
}

/// An existing Ceph cluster the site uses instead of deploying one. The client key is read
/// from a keyring file at deploy time: secrets never live in the spec.
#[derive(Debug, Clone)]
pub struct RawExternalCeph {
    pub loc: Loc,
    pub fsid: Option<Spanned<String>>,
    pub mon_hosts: Vec<Spanned<IpAddr>>,
    pub keyring: Option<Spanned<String>>,
    pub user: Option<Spanned<String>>,
}

#[derive(Debug, Clone)]
pub struct RawGlance {
    pub loc: Loc,
    pub stores: Option<Spanned<Vec<Spanned<String>>>>,
    pub default: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsdType {
    Hdd,
    Ssd,
    Nvme,
}

#[derive(Debug, Clone)]
pub struct RawNode {
    pub name: Spanned<String>,
    pub loc: Loc,
    pub role: Option<Spanned<String>>,
    pub ip: Option<Spanned<IpAddr>>,
    pub disks: Vec<Spanned<String>>,
    pub osd_type: Option<Spanned<OsdType>>,
    pub ram_gb: Option<Spanned<u32>>,
    pub vcpus: Option<Spanned<u32>>,
    pub bmc: Option<Spanned<IpAddr>>,
}

#[derive(Debug, Clone)]
pub struct RawRole {
    pub name: Spanned<String>,
    pub loc: Loc,
    pub extends: Option<Spanned<String>>,
    pub services: Option<Vec<Spanned<String>>>,
    pub add: Vec<Spanned<String>>,
    pub remove: Vec<Spanned<String>>,
}

/// A named Galera cluster that spans sites (seed 004's stretch cluster).
#[derive(Debug, Clone)]
pub struct RawGalera {
    pub name: Spanned<String>,
    pub loc: Loc,
    pub sites: Vec<Spanned<String>>,
    pub primary: Option<Spanned<String>>,
    pub databases: Vec<Spanned<String>>,
}
