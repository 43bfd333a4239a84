//! First transformer: every host's packages step, the service instances (one per site, or
//! per Galera cluster), their catalog steps on the right hosts, and the order among a
//! service's own steps (`after` in the catalog).

use std::collections::HashMap;

use strata_catalog::{Group, Leader, On, SERVES_CEPH_CLIENT};
use strata_model::{GaleraId, HostId, SiteId};

use crate::graph::{Builder, Instance, StepId};

pub fn apply(g: &mut Builder) {
    for host in 0..g.model.hosts.len() {
        let (id, _) = g.step(
            host,
            "base",
            None,
            "packages",
            1000,
            Some("every package of the host's services, in one apt run"),
        );
        g.packages.push(id);
    }
    make_instances(g);
    let mut once_per_database: HashMap<(String, String, usize), StepId> = HashMap::new();
    // (instance, action) of database steps an instance reuses from another: the owner alone
    // orders them, or central's migration would wait for an edge's configuration.
    let mut borrowed: std::collections::HashSet<(usize, String)> = std::collections::HashSet::new();
    for i in 0..g.instances.len() {
        let service = g.instances[i].service;
        let hosts = g.instances[i].hosts.clone();
        let site = g.instances[i].site;
        let qualifier = g.instances[i]
            .galera
            .map(|gid| &g.model.galera[gid])
            .filter(|c| c.named)
            .map(|c| c.name.clone());
        let leader = leader(g, service.leader, &hosts);
        for def in &service.steps {
            let targets: Vec<usize> = match def.on {
                On::Each => hosts.clone(),
                On::First => vec![leader],
                On::Rest => hosts.iter().copied().filter(|&h| h != leader).collect(),
                // Placed per store by the Ceph transformer.
                On::Store => continue,
                On::Database => {
                    let db = service.database().map_or("", |d| d.name.as_str());
                    let cluster = g.model.database_cluster(site, db).unwrap_or(usize::MAX);
                    let key = (service.name.clone(), def.action.clone(), cluster);
                    if let Some(&shared) = once_per_database.get(&key) {
                        g.instances[i]
                            .steps
                            .insert(def.action.clone(), vec![shared]);
                        borrowed.insert((i, def.action.clone()));
                        continue;
                    }
                    let (id, _) = g.step(
                        leader,
                        &service.name,
                        qualifier.as_deref(),
                        &def.action,
                        def.estimate_ms,
                        def.doc.as_deref(),
                    );
                    once_per_database.insert(key, id);
                    g.instances[i].steps.insert(def.action.clone(), vec![id]);
                    continue;
                }
            };
            let ids: Vec<StepId> = targets
                .into_iter()
                .map(|h| {
                    g.step(
                        h,
                        &service.name,
                        qualifier.as_deref(),
                        &def.action,
                        def.estimate_ms,
                        def.doc.as_deref(),
                    )
                    .0
                })
                .collect();
            g.instances[i].steps.insert(def.action.clone(), ids);
        }
    }
    for i in 0..g.instances.len() {
        let service = g.instances[i].service;
        for def in &service.steps {
            if def.on == On::Store || borrowed.contains(&(i, def.action.clone())) {
                continue;
            }
            let refs = def
                .after
                .iter()
                .map(|r| (r, false))
                .chain(def.after_all.iter().map(|r| (r, true)));
            for (after, every_host) in refs {
                let other = match &after.service {
                    None => i,
                    Some(name) => {
                        let inst = &g.instances[i];
                        let found = match inst.galera {
                            Some(gid) => g.on_galera.get(&(name.as_str(), gid)).copied(),
                            None => g.at_site.get(&(name.as_str(), inst.site)).copied(),
                        };
                        match found {
                            Some(o) => o,
                            None => continue,
                        }
                    }
                };
                let mine = g.instances[i]
                    .steps
                    .get(&def.action)
                    .cloned()
                    .unwrap_or_default();
                let theirs = g.instances[other]
                    .steps
                    .get(&after.action)
                    .cloned()
                    .unwrap_or_default();
                for step in mine {
                    let host = g.host_of[step];
                    let same: Vec<StepId> = theirs
                        .iter()
                        .copied()
                        .filter(|&t| g.host_of[t] == host)
                        .collect();
                    if !every_host && other == i && !same.is_empty() {
                        g.need(step, same);
                    } else {
                        g.need(step, theirs.iter().copied());
                    }
                }
            }
        }
    }
}

/// The host of an instance that does its once-only steps: its first, or (`least-busy`) the
/// one with the least work planned so far, the first of those on a tie. The plan is built
/// in one order, so the choice is the same on every plan of the same spec and catalog.
fn leader(g: &Builder, rule: Leader, hosts: &[HostId]) -> HostId {
    match rule {
        Leader::First => hosts[0],
        Leader::LeastBusy => *hosts
            .iter()
            .min_by_key(|&&h| g.load_ms[h])
            .expect("an instance has hosts"),
    }
}

fn make_instances(g: &mut Builder) {
    let model = g.model;
    for service in g.catalog.services.values() {
        // The Ceph client is placed per host and cluster (transform_ceph), not by instance.
        if service.serves.iter().any(|s| s == SERVES_CEPH_CLIENT) {
            continue;
        }
        // Candidate groups of hosts: each site's, or each Galera cluster's members.
        let groups: Vec<(Option<GaleraId>, Option<SiteId>, &[HostId])> = match service.group {
            Group::Site => model
                .sites
                .iter()
                .enumerate()
                .map(|(id, site)| (None, Some(id), site.hosts.as_slice()))
                .collect(),
            Group::Galera => model
                .galera
                .iter()
                .enumerate()
                .map(|(gid, c)| (Some(gid), None, c.members.as_slice()))
                .collect(),
        };
        for (galera, site, candidates) in groups {
            let hosts: Vec<usize> = candidates
                .iter()
                .copied()
                .filter(|&h| model.hosts[h].runs(&service.name))
                .collect();
            if hosts.is_empty() {
                continue;
            }
            let index = g.instances.len();
            match galera {
                Some(gid) => g.on_galera.insert((service.name.as_str(), gid), index),
                None => g
                    .at_site
                    .insert((service.name.as_str(), site.expect("a site group")), index),
            };
            let site = site.unwrap_or(model.hosts[hosts[0]].site);
            g.instances.push(Instance {
                service,
                site,
                hosts,
                galera,
                steps: HashMap::new(),
            });
        }
    }
}
