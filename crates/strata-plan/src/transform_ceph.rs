//! Fourth transformer: Ceph clients. A host whose services use a cluster gets that cluster's
//! conf and keyring (the steps of the service that serves `ceph-client`, qualified by
//! cluster) once the cluster is
//! exported; the service waits for the client of its default cluster only. Glance's further
//! stores are added by their own steps (`on: store`) once their cluster is exported, so a
//! central Glance can run before the edges exist and learn each edge store when it comes:
//! DCN's two orders are both valid walks of this graph. A step naming a per-store step in
//! `after` waits for the Glance restarts that concern its site.

use std::collections::HashMap;

use strata_catalog::{CephUse, On, SERVES_CEPH_CLIENT};
use strata_model::{HostId, SiteId};

use crate::graph::{Builder, StepId};

pub fn apply(g: &mut Builder) {
    let Some(client) = g.catalog.server_of(SERVES_CEPH_CLIENT) else {
        return;
    };
    let model = g.model;
    for host in 0..model.hosts.len() {
        let site = model.hosts[host].site;
        for name in model.hosts[host].services.iter() {
            let Some(service) = g.catalog.service(name) else {
                continue;
            };
            let (default, extra): (Option<usize>, Vec<(String, usize)>) = match service.ceph {
                CephUse::None => continue,
                CephUse::Local => (model.sites[site].ceph, Vec::new()),
                CephUse::Stores => match &model.sites[site].glance {
                    Some(glance) => (
                        Some(glance.stores[glance.default].ceph),
                        glance
                            .stores
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| *i != glance.default)
                            .map(|(_, s)| (s.name.clone(), s.ceph))
                            .collect(),
                    ),
                    None => (None, Vec::new()),
                },
            };
            let Some(&instance) = g.at_site.get(&(name.as_str(), site)) else {
                continue;
            };
            let on_host = |g: &Builder, ids: &[StepId]| {
                ids.iter()
                    .copied()
                    .filter(|&s| g.host_of[s] == host)
                    .collect::<Vec<_>>()
            };
            if let Some(cluster) = default {
                let ready = client_steps(g, client, host, cluster);
                let roots = on_host(g, &g.instances[instance].roots());
                for r in roots {
                    g.need(r, ready.iter().copied());
                }
            }
            // The service's last per-host step (for Glance: start) comes before extra stores.
            let last_local = service
                .steps
                .iter()
                .rev()
                .find(|d| d.on == On::Each)
                .and_then(|d| g.instances[instance].steps.get(&d.action))
                .map(|ids| on_host(g, ids))
                .unwrap_or_default();
            // The service's per-store steps (`on: store`), e.g. Glance's add-store.
            let per_store: Vec<&strata_catalog::StepDef> =
                service.steps.iter().filter(|d| d.on == On::Store).collect();
            for (store, cluster) in extra {
                let ready = client_steps(g, client, host, cluster);
                for def in &per_store {
                    let (id, _) = g.step(
                        host,
                        name,
                        Some(&store),
                        &def.action,
                        def.estimate_ms,
                        def.doc.as_deref(),
                    );
                    g.need(id, ready.iter().copied());
                    g.need(id, last_local.iter().copied());
                }
            }
        }
    }
    order_after_store_steps(g);
}

/// A step whose `after` names a per-store step (`glance-api:add-store`) waits for the Glance
/// restarts that concern its site: every one on the site's own hosts, and its control
/// plane's Glance learning the site's store. An import or copy then never runs in a Glance
/// about to restart (a restart drops it, and Glance keeps the image locked an hour); another
/// edge's Glance is never waited for.
fn order_after_store_steps(g: &mut Builder) {
    let model = g.model;
    // Qualified steps by (service, action, site of their host), and by qualifier too.
    type Key<'s> = (&'s str, &'s str, SiteId);
    let mut at_site: HashMap<Key, Vec<StepId>> = HashMap::new();
    let mut at_site_for: HashMap<(Key, &str), Vec<StepId>> = HashMap::new();
    for (id, step) in g.steps.iter().enumerate() {
        if let Some(q) = &step.qualifier {
            let key = (
                &*step.service,
                &*step.action,
                model.hosts[g.host_of[id]].site,
            );
            at_site.entry(key).or_default().push(id);
            at_site_for.entry((key, &**q)).or_default().push(id);
        }
    }
    let mut needs: Vec<(StepId, Vec<StepId>)> = Vec::new();
    for instance in &g.instances {
        let site = &model.sites[instance.site];
        let Some(glance) = &site.glance else {
            continue;
        };
        let own_store = glance.stores[glance.default].name.as_str();
        for def in &instance.service.steps {
            let mine = instance.steps.get(&def.action);
            for after in def.after.iter().chain(&def.after_all) {
                let Some(other) = after.service.as_deref() else {
                    continue;
                };
                let is_per_store = g.catalog.service(other).is_some_and(|s| {
                    s.steps
                        .iter()
                        .any(|d| d.action == after.action && d.on == On::Store)
                });
                if !is_per_store {
                    continue;
                }
                let action = after.action.as_str();
                let mut theirs: Vec<StepId> = at_site
                    .get(&(other, action, instance.site))
                    .cloned()
                    .unwrap_or_default();
                if site.control_plane != instance.site {
                    let key = (other, action, site.control_plane);
                    theirs.extend(at_site_for.get(&(key, own_store)).into_iter().flatten());
                }
                for &step in mine.into_iter().flatten() {
                    needs.push((step, theirs.clone()));
                }
            }
        }
    }
    for (step, theirs) in needs {
        g.need(step, theirs);
    }
}

/// The ceph-client steps for `cluster` on `host`, created once; returns the last ones.
fn client_steps(
    g: &mut Builder,
    client: &strata_catalog::Service,
    host: HostId,
    cluster: usize,
) -> Vec<StepId> {
    let c = &g.model.ceph[cluster];
    let mut last = Vec::new();
    for def in &client.steps {
        let (id, created) = g.step(
            host,
            &client.name,
            Some(&c.name),
            &def.action,
            def.estimate_ms,
            def.doc.as_deref(),
        );
        if created {
            for after in &def.after {
                let deps: Vec<StepId> = match &after.service {
                    // Another service's step: at the cluster's own site (an external cluster has none).
                    Some(other) => g
                        .at_site
                        .get(&(other.as_str(), c.site))
                        .and_then(|&i| g.instances[i].steps.get(&after.action))
                        .cloned()
                        .unwrap_or_default(),
                    None => {
                        let (own, _) =
                            g.step(host, &client.name, Some(&c.name), &after.action, 0, None);
                        vec![own]
                    }
                };
                g.need(id, deps);
            }
        }
        last = vec![id];
    }
    last
}
