//! Every service's dependencies must be deployed where it can reach them: at its own site, or
//! at the central site whose control plane an edge uses. Ceph daemons belong to their site's
//! cluster, so those only count at the same site. Reported once per site and service.

use std::collections::{HashMap, HashSet};

use strata_catalog::Kind;
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
        services.sort_by_key(|(_, h)| *h);
        let mut reported: HashSet<(&str, &str)> = HashSet::new();
        for (name, host) in services {
            let Some(service) = ctx.catalog.service(name) else {
                continue;
            };
            let reach = |dep: &str| -> bool {
                let local_only = ctx
                    .catalog
                    .service(dep)
                    .is_some_and(|d| d.kind == Kind::Ceph);
                at[site_id].contains_key(dep) || (!local_only && at[cp].contains_key(dep))
            };
            let mut missing: Vec<(String, &str)> = Vec::new();
            for need in &service.needs {
                if !reach(need) {
                    missing.push((need.clone(), "it depends on it"));
                }
            }
            if service.messaging && !reach("rabbitmq") {
                missing.push(("rabbitmq".into(), "it talks to the others over RabbitMQ"));
            }
            if service.api.is_some() && name != "keystone" && !reach("keystone") {
                missing.push(("keystone".into(), "its API is registered in Keystone"));
            }
            if let Some(db) = &service.database {
                if model.database_cluster(site_id, db).is_none()
                    && !missing.iter().any(|(m, _)| m == "galera")
                {
                    missing.push(("galera".into(), "its database lives on Galera"));
                }
            }
            for (need, why) in missing {
                if !reported.insert((name, if need == "galera" { "galera" } else { "" }))
                    && need == "galera"
                {
                    continue;
                }
                let host_name = &model.hosts[host].name;
                let scope = if cp == site_id {
                    format!("site `{}`", site.name)
                } else {
                    format!(
                        "site `{}` or its central site `{}`",
                        site.name, model.sites[cp].name
                    )
                };
                diags.push(
                    Diagnostic::error(
                        ctx.role_loc(host),
                        format!("service `{name}` (role {} on node `{host_name}`) needs `{need}`, which runs nowhere it can reach: {why}", model.hosts[host].role),
                    )
                    .with_help(format!("run `{need}` at {scope} (e.g. a node with a role that includes it), or use a role without `{name}`")),
                );
            }
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
