//! Every service's dependencies must be deployed where it can reach them: at its own site, or
//! at the central site whose control plane an edge uses. Ceph daemons belong to their site's
//! cluster, so those only count at the same site. Reported once per site and service.

use std::collections::{HashMap, HashSet};

use strata_catalog::Reach;
use strata_source::{Diagnostic, Diagnostics};

use crate::compile::Ctx;
use crate::model::*;

pub(crate) fn check(ctx: &Ctx, model: &Model, diags: &mut Diagnostics) {
    // Services per site, with the first host that runs each (to point at its role).
    let mut at: Vec<HashMap<&str, HostId>> = vec![HashMap::new(); model.sites.len()];
    for (id, host) in model.hosts.iter().enumerate() {
        for s in host.services.iter() {
            at[host.site].entry(s.as_str()).or_insert(id);
        }
    }
    for (site_id, site) in model.sites.iter().enumerate() {
        let cp = site.control_plane;
        let mut services: Vec<(&str, HostId)> = at[site_id].iter().map(|(s, h)| (*s, *h)).collect();
        services.sort_by_key(|(s, h)| (*h, *s));
        // Missing dependency -> (services that need it, first host, why), in discovery order.
        let mut missing: Vec<(String, Vec<&str>, HostId, &str)> = Vec::new();
        for (name, host) in services {
            let Some(service) = ctx.catalog.service(name) else {
                continue;
            };
            let reach = |dep: &str| -> bool {
                let local_only = ctx
                    .catalog
                    .service(dep)
                    .is_some_and(|d| d.reach == Reach::Site);
                at[site_id].contains_key(dep) || (!local_only && at[cp].contains_key(dep))
            };
            let mut lacks: Vec<(String, &str)> = service
                .needs
                .iter()
                .filter(|n| !reach(n))
                .map(|n| (n.clone(), "they depend on it"))
                .collect();
            lacks.extend(
                service
                    .site_needs
                    .iter()
                    .filter(|(n, _)| !at[site_id].contains_key(n.as_str()))
                    .map(|(n, why)| (n.clone(), why.as_str())),
            );
            let servers = &model.servers;
            if service.messaging && !reach(&servers.messaging) {
                lacks.push((
                    servers.messaging.clone(),
                    "they talk to each other over RabbitMQ",
                ));
            }
            if service.api.is_some() && name != servers.identity && !reach(&servers.identity) {
                lacks.push((
                    servers.identity.clone(),
                    "their APIs are registered in Keystone",
                ));
            }
            if service
                .databases
                .iter()
                .any(|db| model.database_cluster(site_id, &db.name).is_none())
            {
                lacks.push((servers.database.clone(), "their databases live on Galera"));
            }
            for (need, why) in lacks {
                match missing.iter_mut().find(|(n, ..)| *n == need) {
                    Some((_, users, ..)) => {
                        if !users.contains(&name) {
                            users.push(name)
                        }
                    }
                    None => missing.push((need, vec![name], host, why)),
                }
            }
        }
        for (need, users, host, why) in missing {
            // A service used at its own site only (`reach: site`, Ceph daemons, or one its
            // users need there) cannot come from the central site: offer only this one.
            let site_only = ctx
                .catalog
                .service(&need)
                .is_some_and(|d| d.reach == Reach::Site)
                || users.iter().any(|u| {
                    ctx.catalog
                        .service(u)
                        .is_some_and(|s| s.site_needs.iter().any(|(n, _)| *n == need))
                });
            let scope = if cp == site_id || site_only {
                format!("site `{}`", site.name)
            } else {
                format!(
                    "site `{}` or its central site `{}`",
                    site.name, model.sites[cp].name
                )
            };
            let h = &model.hosts[host];
            let who = users
                .iter()
                .map(|u| format!("`{u}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let (verb, why) = if users.len() == 1 {
                (
                    "needs",
                    why.replacen("they depend", "it depends", 1)
                        .replacen("their ", "its ", 1)
                        .replacen("they talk to each other", "it talks to the others", 1),
                )
            } else {
                ("need", why.to_owned())
            };
            diags.push(
                Diagnostic::error(ctx.role_loc(host), format!("{who} at site `{}` (role {} on node `{}` and others like it) {verb} `{need}`, which runs nowhere reachable: {why}", site.name, h.role, h.name))
                    .with_help(format!("run `{need}` at {scope} (a node whose role includes it), or use roles without {who}")),
            );
        }
        // Roles that need a service at their own site (ScaleOut nodes forward to the site's Glance).
        let mut roles_seen = HashSet::new();
        for &h in &site.hosts {
            let role = &model.hosts[h].role;
            let Some(def) = ctx.roles.get(role) else {
                continue;
            };
            for req in &def.site_requires {
                if !at[site_id].contains_key(req.as_str())
                    && roles_seen.insert((role.clone(), req.clone()))
                {
                    diags.push(
                        Diagnostic::error(ctx.role_loc(h), format!("node `{}` is a {role} but site `{}` runs no `{req}`: its HAProxy has nothing local to forward to", model.hosts[h].name, site.name))
                            .with_help(format!("add a node at `{}` whose role runs `{req}` (e.g. DistributedComputeHCI)", site.name)),
                    );
                }
            }
        }
    }
}
