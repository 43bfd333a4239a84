//! Second transformer: what a service's traits imply. A database (and its user) on the right
//! Galera cluster and a RabbitMQ user exist before the service's first step; an API is
//! registered in Keystone, and fronted by the site's HAProxy, before it counts as ready.

use std::collections::HashMap;

use crate::graph::{Builder, StepId};

/// The project a service belongs to (nova-api, nova-compute -> nova): one RabbitMQ user each.
fn project(service: &str) -> &str {
    service.split('-').next().unwrap_or(service)
}

pub fn apply(g: &mut Builder) {
    let mut databases: HashMap<(usize, String), StepId> = HashMap::new();
    let mut users: HashMap<(usize, String), StepId> = HashMap::new();
    for i in 0..g.instances.len() {
        let service = g.instances[i].service;
        let site = g.instances[i].site;
        let roots = g.instances[i].roots();
        if let Some(db) = &service.database {
            if let Some(cluster) = g.model.database_cluster(site, db) {
                if let Some(&galera) = g.on_galera.get(&("galera", cluster)) {
                    let step = *databases.entry((cluster, db.clone())).or_insert_with(|| {
                        let c = &g.model.galera[cluster];
                        let qualifier = c.named.then(|| c.name.clone());
                        let host = c.members[0];
                        let (id, _) = g.step(
                            host,
                            "galera",
                            qualifier.as_deref(),
                            &format!("db-{db}"),
                            1000,
                            Some("database and its user, with a generated password"),
                        );
                        let ready = g.instances[galera].ready().to_vec();
                        g.need(id, ready);
                        id
                    });
                    for &r in &roots {
                        g.need(r, [step]);
                    }
                }
            }
        }
        if service.messaging {
            if let Some(rabbit) = g.reach("rabbitmq", site) {
                let proj = project(&service.name).to_owned();
                let step = *users.entry((rabbit, proj.clone())).or_insert_with(|| {
                    let host = g.instances[rabbit].hosts[0];
                    let (id, _) = g.step(
                        host,
                        "rabbitmq",
                        None,
                        &format!("user-{proj}"),
                        1000,
                        Some("a RabbitMQ user with a generated password"),
                    );
                    let ready = g.instances[rabbit].ready().to_vec();
                    g.need(id, ready);
                    id
                });
                for &r in &roots {
                    g.need(r, [step]);
                }
            }
        }
        if let Some(api) = &service.api {
            let ready = g.instances[i].ready().to_vec();
            // Keystone registers itself in its bootstrap; every other API registers there.
            if api.service_type != "identity" {
                if let Some(keystone) = g.reach("keystone", site) {
                    let host = g.instances[i].hosts[0];
                    let (id, _) = g.step(
                        host,
                        &service.name,
                        None,
                        "register",
                        2000,
                        Some(
                            "service, endpoints in the site's region, and service user in Keystone",
                        ),
                    );
                    let keystone_ready = g.instances[keystone].ready().to_vec();
                    g.need(id, keystone_ready);
                    for &r in &ready {
                        g.need(r, [id]);
                    }
                }
            }
            if let Some(&haproxy) = g.at_site.get(&("haproxy", site)) {
                let front = g.instances[haproxy].ready().to_vec();
                for &r in &ready {
                    g.need(r, front.iter().copied());
                }
            }
        }
    }
}
