//! What the lab needs from a validated model: sites with their subnet, router address and
//! latency and provider network; hosts with their site, address and OSD disks.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use strata_model::Model;

use crate::LabError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabSite {
    pub name: String,
    pub subnet: IpNet,
    /// The lab router's address on this site: the first host address of the subnet.
    pub gateway: IpAddr,
    /// Added to every round trip into or out of this site.
    pub latency_ms: u32,
    /// The site's provider network: a bridge of its own in the fabric, with the router's
    /// address on it, and an interface on it in every host of the site.
    #[serde(default)]
    pub provider: Option<LabProvider>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabProvider {
    pub subnet: IpNet,
    /// The lab router's address on it: the spec's gateway.
    pub gateway: IpAddr,
    /// The hosts' interface on it.
    pub interface: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabHost {
    pub name: String,
    pub site: String,
    pub ip: IpAddr,
    pub prefix_len: u8,
    pub disks: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabSpec {
    /// The lab's name: the cloud's.
    pub name: String,
    pub sites: Vec<LabSite>,
    pub hosts: Vec<LabHost>,
}

impl LabSpec {
    /// The lab for a model. The router takes each site's first address, so a node or VIP on
    /// it is refused.
    pub fn from_model(model: &Model) -> Result<LabSpec, LabError> {
        let mut sites = Vec::new();
        let mut problems = Vec::new();
        for site in &model.sites {
            let IpNet::V4(net) = site.subnet else {
                problems.push(format!(
                    "site `{}`: the lab supports IPv4 subnets only",
                    site.name
                ));
                continue;
            };
            let Some(gateway) = net.hosts().next().map(IpAddr::V4) else {
                problems.push(format!(
                    "site `{}`: subnet {} has no room for the lab router",
                    site.name, site.subnet
                ));
                continue;
            };
            for &h in &site.hosts {
                if model.hosts[h].ip == gateway {
                    problems.push(format!("node `{}` has {gateway}, the address the lab router takes on site `{}`: give it another address", model.hosts[h].name, site.name));
                }
            }
            for (what, vip) in [("VIP", site.vip), ("public VIP", site.public_vip)] {
                if vip == Some(gateway) {
                    problems.push(format!("the {what} of site `{}` is {gateway}, the address the lab router takes: choose another", site.name));
                }
            }
            sites.push(LabSite {
                name: site.name.clone(),
                subnet: site.subnet,
                gateway,
                latency_ms: site.wan_latency_ms,
                provider: site.provider.as_ref().map(|p| LabProvider {
                    subnet: p.subnet,
                    gateway: p.gateway,
                    interface: p.interface.clone(),
                }),
            });
        }
        if !problems.is_empty() {
            return Err(LabError::Spec(problems.join("\n")));
        }
        let hosts = model
            .hosts
            .iter()
            .map(|h| LabHost {
                name: h.name.clone(),
                site: model.sites[h.site].name.clone(),
                ip: h.ip,
                prefix_len: model.sites[h.site].subnet.prefix_len(),
                disks: h.disks.clone(),
            })
            .collect();
        Ok(LabSpec {
            name: model.cloud.clone(),
            sites,
            hosts,
        })
    }

    pub fn site(&self, name: &str) -> Option<&LabSite> {
        self.sites.iter().find(|s| s.name == name)
    }
}
