//! The plan: every step of a deploy, over every site, host and service, with the steps each
//! one needs. Built by a fixed sequence of transformers (see [`build`]), each adding the
//! steps or edges of one concern, so that orders such as DCN's fall out of the graph instead
//! of being written down. The plan is plain data: print it, save it, diff it.

mod graph;
mod order;
mod packages;
mod render;
mod transform_ceph;
mod transform_needs;
mod transform_steps;
mod transform_traits;

use serde::Serialize;
use strata_catalog::Catalog;
use strata_model::Model;

pub use graph::{Hook, Plan, Step};
pub use order::chains_to_end;
pub use packages::{all_packages, guest_packages, host_packages};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("the plan has a dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

/// Builds the plan of `model`. Each transformer relies on the ones before it:
/// 1. steps: one instance per service and site (or Galera cluster), its catalog steps, and
///    the order among them; every host's packages first;
/// 2. traits: database and messaging users before a service starts, Keystone registration
///    and the site's HAProxy before its API counts as ready;
/// 3. needs: each dependency's ready step, at the same site or the central one;
/// 4. ceph: client keyrings from each cluster's export, and Glance's extra stores added once
///    that cluster is exported (this is where DCN's cross-site order comes from);
/// 5. order: topological order (a cycle is an error) and the critical path.
pub fn build(model: &Model, catalog: &Catalog) -> Result<Plan, PlanError> {
    let mut g = graph::Builder::new(model, catalog);
    transform_steps::apply(&mut g);
    transform_traits::apply(&mut g);
    transform_needs::apply(&mut g);
    transform_ceph::apply(&mut g);
    order::finish(g)
}

/// The HCI figures the plan shows for a host.
#[derive(Debug, Clone, Serialize)]
pub struct HostSummary {
    pub name: String,
    pub site: String,
    pub role: String,
    pub ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hci: Option<strata_model::HciTuning>,
}
