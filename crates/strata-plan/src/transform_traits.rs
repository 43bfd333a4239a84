//! Second transformer: what a service's traits imply. A database (and its user) on the right
//! Galera cluster and a RabbitMQ user exist before the service's first step; an API is
//! registered in Keystone (one site's registration of an API type after another's), and
//! fronted by the site's HAProxy, before it counts as ready.
//! The operations of these steps are the providers' (`provides:` in the catalog); services
//! strata does not deploy yet (no operations) get none of them.

use std::collections::HashMap;

use strata_catalog::{project, HOOK_API_REGISTRATION, HOOK_DATABASE, HOOK_MESSAGING_USER};
use strata_model::HostId;

use crate::graph::{Builder, Hook, StepId};

/// A step for a trait, on `host`, doing `provider`'s `hook` for `subject`.
struct HookStep<'s> {
    host: HostId,
    provider: &'s str,
    qualifier: Option<&'s str>,
    action: &'s str,
    hook: &'static str,
    subject: &'s str,
    site: &'s str,
}

fn hook_step(g: &mut Builder, h: HookStep) -> StepId {
    let def = g
        .catalog
        .service(h.provider)
        .and_then(|s| s.provides.get(h.hook));
    let estimate = def.map(|d| d.estimate_ms).unwrap_or(1000);
    let doc = def.and_then(|d| d.doc.clone());
    let (id, _) = g.step(
        h.host,
        h.provider,
        h.qualifier,
        h.action,
        estimate,
        doc.as_deref(),
    );
    g.steps[id].hook = Some(Box::new(Hook {
        provider: h.provider.to_owned(),
        name: h.hook.to_owned(),
        subject: h.subject.to_owned(),
        site: h.site.to_owned(),
    }));
    id
}

/// One of `hosts` for `subject`, the same on every plan: the hooks of a trait are spread
/// over the provider's hosts instead of queueing on its first (one step at a time per host).
fn spread(hosts: &[HostId], subject: &str) -> HostId {
    let h = subject.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hosts[h as usize % hosts.len()]
}

pub fn apply(g: &mut Builder) {
    // Who serves each trait is the catalog's to say (`serves:`).
    let servers = g.model.servers.clone();
    let mut databases: HashMap<(usize, String), StepId> = HashMap::new();
    let mut users: HashMap<(usize, String), StepId> = HashMap::new();
    // The last registration of each API type: registering a type makes its one service
    // entity in Keystone, which two registrations at once would each make (Keystone takes
    // two services of a type), so each site's waits for the one before it.
    let mut registered: HashMap<String, StepId> = HashMap::new();
    for i in 0..g.instances.len() {
        let service = g.instances[i].service;
        // A service not deployed yet gets no database, user or registration; its order
        // (behind the site's HAProxy) still holds.
        let deployed = service.is_deployed();
        let site = g.instances[i].site;
        let site_name = g.model.sites[site].name.clone();
        let roots = g.instances[i].roots();
        for db in service.databases.iter().filter(|_| deployed) {
            let db = &db.name;
            if let Some(cluster) = g.model.database_cluster(site, db) {
                if let Some(&galera) = g.on_galera.get(&(servers.database.as_str(), cluster)) {
                    let step = match databases.get(&(cluster, db.clone())) {
                        Some(&s) => s,
                        None => {
                            let c = &g.model.galera[cluster];
                            let qualifier = c.named.then(|| c.name.clone());
                            // Any member can create it (replication is synchronous): spread
                            // over the first member's site, so no one host does them all.
                            let home = g.model.hosts[c.members[0]].site;
                            let local: Vec<HostId> = c
                                .members
                                .iter()
                                .copied()
                                .filter(|&m| g.model.hosts[m].site == home)
                                .collect();
                            let host = spread(&local, db);
                            let id = hook_step(
                                g,
                                HookStep {
                                    host,
                                    provider: &servers.database,
                                    qualifier: qualifier.as_deref(),
                                    action: &format!("db-{db}"),
                                    hook: HOOK_DATABASE,
                                    subject: db,
                                    site: &site_name,
                                },
                            );
                            let ready = g.instances[galera].ready().to_vec();
                            g.need(id, ready);
                            databases.insert((cluster, db.clone()), id);
                            id
                        }
                    };
                    for &r in &roots {
                        g.need(r, [step]);
                    }
                }
            }
        }
        if service.messaging && deployed {
            if let Some(rabbit) = g.reach(&servers.messaging, site) {
                let proj = project(&service.name).to_owned();
                let step = match users.get(&(rabbit, proj.clone())) {
                    Some(&s) => s,
                    None => {
                        // Any node can add it once every node has joined (the cluster
                        // shares its users).
                        let host = spread(&g.instances[rabbit].hosts, &proj);
                        let id = hook_step(
                            g,
                            HookStep {
                                host,
                                provider: &servers.messaging,
                                qualifier: None,
                                action: &format!("user-{proj}"),
                                hook: HOOK_MESSAGING_USER,
                                subject: &proj,
                                site: &site_name,
                            },
                        );
                        let ready = g.instances[rabbit].ready().to_vec();
                        g.need(id, ready);
                        users.insert((rabbit, proj), id);
                        id
                    }
                };
                for &r in &roots {
                    g.need(r, [step]);
                }
            }
        }
        if let Some(api) = &service.api {
            let ready = g.instances[i].ready().to_vec();
            // The identity service registers itself in its bootstrap; every other API is
            // registered by the identity service its site reaches, in the site's region.
            if service.name != servers.identity && deployed {
                if let Some(keystone) = g.reach(&servers.identity, site) {
                    let qualifier = if g.instances[keystone].site == site {
                        service.name.clone()
                    } else {
                        format!("{}@{site_name}", service.name)
                    };
                    // Every Keystone host can register (each talks to its local API).
                    let host = spread(&g.instances[keystone].hosts, &qualifier);
                    let id = hook_step(
                        g,
                        HookStep {
                            host,
                            provider: &servers.identity,
                            qualifier: Some(&qualifier),
                            action: "register",
                            hook: HOOK_API_REGISTRATION,
                            subject: &service.name,
                            site: &site_name,
                        },
                    );
                    let keystone_ready = g.instances[keystone].ready().to_vec();
                    g.need(id, keystone_ready);
                    match registered.insert(api.service_type.clone(), id) {
                        Some(before) if before != id => g.need(id, [before]),
                        _ => {}
                    }
                    for &r in &ready {
                        g.need(r, [id]);
                    }
                }
            }
            if let Some(&haproxy) = g.at_site.get(&(servers.api_front.as_str(), site)) {
                let front = g.instances[haproxy].ready().to_vec();
                for &r in &ready {
                    g.need(r, front.iter().copied());
                }
            }
        }
    }
}
