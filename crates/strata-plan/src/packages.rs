//! The Debian packages each host needs: those of its services, plus the Ceph client's where
//! one of its services uses a Ceph cluster (the planner places the client there). The
//! union over all hosts is what a lab image carries.

use std::collections::BTreeSet;

use strata_catalog::{Catalog, CephUse, SERVES_CEPH_CLIENT};
use strata_model::{HostId, Model};

/// Packages of one host, sorted.
pub fn host_packages(model: &Model, catalog: &Catalog, host: HostId) -> BTreeSet<String> {
    let mut packages = BTreeSet::new();
    let mut ceph = false;
    for name in model.hosts[host].services.iter() {
        if let Some(service) = catalog.service(name) {
            packages.extend(service.packages.iter().cloned());
            ceph |= service.ceph != CephUse::None;
        }
    }
    if ceph {
        if let Some(client) = catalog.server_of(SERVES_CEPH_CLIENT) {
            packages.extend(client.packages.iter().cloned());
        }
    }
    packages
}

/// Packages of every host of the model.
pub fn all_packages(model: &Model, catalog: &Catalog) -> BTreeSet<String> {
    (0..model.hosts.len())
        .flat_map(|h| host_packages(model, catalog, h))
        .collect()
}

/// Packages the test guest is built from: those its registering services name (`guest:`).
pub fn guest_packages(model: &Model, catalog: &Catalog) -> BTreeSet<String> {
    model
        .hosts
        .iter()
        .flat_map(|h| h.services.iter())
        .filter_map(|name| catalog.service(name))
        .filter(|s| s.is_deployed())
        .flat_map(|s| s.guest.iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_gets_the_packages_of_its_services() {
        let mut sources = strata_source::SourceMap::new();
        let mut diags = strata_source::Diagnostics::new();
        let catalog = Catalog::load(&mut sources, None, &mut diags).unwrap();
        let text = "cloud: t\nroles:\n  Cache: { services: [memcached] }\nsites:\n  a:\n    subnet: 10.0.0.0/24\n    nodes:\n      m: { role: Cache, ip: 10.0.0.11 }\n";
        let loaded = strata_spec::load_str(&mut sources, vec![("t".into(), text.into())]);
        let model =
            strata_model::compile(&loaded.spec.unwrap(), &catalog, &mut diags).expect("valid");
        assert_eq!(
            host_packages(&model, &catalog, 0)
                .into_iter()
                .collect::<Vec<_>>(),
            vec!["memcached".to_string()]
        );
    }
}
