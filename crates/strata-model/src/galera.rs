//! Galera clusters: one per central site by default, on its nodes that run galera, holding
//! that site's databases; plus clusters named in the spec that span sites and hold chosen
//! databases (seed 004: a stretched cluster with the shared Keystone database). Quorum is
//! checked by votes, and for a cluster across sites the warning names the site whose loss
//! stops it, which is what happens when the link is cut.

use std::collections::{BTreeSet, HashMap};

use strata_source::{Diagnostic, Diagnostics, Label, Loc};

use crate::compile::{is_name, name_error, unknown, Ctx};
use crate::model::*;

/// Members of a stretched cluster's primary site vote with this weight (`pc.weight`), so
/// that side keeps quorum when the sites are cut apart.
const PRIMARY_WEIGHT: u32 = 2;
const PORT_STRIDE: u16 = 10;

pub(crate) fn clusters(ctx: &Ctx, model: &mut Model, diags: &mut Diagnostics) {
    let galera_hosts = |site: SiteId| -> Vec<HostId> {
        model.sites[site]
            .hosts
            .iter()
            .copied()
            .filter(|&h| model.hosts[h].runs(&model.servers.database))
            .collect()
    };
    // Databases that the services of a central site and its edges use.
    let mut used: HashMap<SiteId, BTreeSet<String>> = HashMap::new();
    for host in &model.hosts {
        let cp = model.sites[host.site].control_plane;
        for s in host.services.iter() {
            for db in ctx.catalog.service(s).map_or(&[][..], |s| &s.databases) {
                used.entry(cp).or_default().insert(db.name.clone());
            }
        }
    }
    for (id, site) in model.sites.iter().enumerate() {
        if site.kind == SiteKind::Edge {
            if let Some(&h) = galera_hosts(id).first() {
                diags.push(
                    Diagnostic::error(ctx.role_loc(h), format!("node `{}` runs galera at edge site `{}`", model.hosts[h].name, site.name))
                        .with_help(format!("edge sites keep their data in the databases of `{}`: use a role without galera here", model.sites[site.control_plane].name)),
                );
            }
        }
    }
    let mut named = Vec::new();
    let mut claimed: HashMap<(SiteId, String), Loc> = HashMap::new();
    for (k, raw) in ctx.raw.galera.iter().enumerate() {
        let name = &raw.name;
        if !is_name(&name.value) {
            diags.push(name_error(name, "galera cluster name"));
        }
        if model.site_by_name(&name.value).is_some() {
            diags.push(
                Diagnostic::error(name.loc, format!("galera cluster `{}` has the name of a site", name.value))
                    .with_help("each central site's own cluster is named after it: choose another name, e.g. `stretch`"),
            );
        }
        let mut sites = Vec::new();
        for s in &raw.sites {
            match model.site_by_name(&s.value) {
                Some(id) if model.sites[id].kind == SiteKind::Edge => diags.push(
                    Diagnostic::error(
                        s.loc,
                        format!(
                            "galera cluster `{}` spans edge site `{}`",
                            name.value, s.value
                        ),
                    )
                    .with_help("a Galera cluster spans central sites (those with controllers)"),
                ),
                Some(id) if galera_hosts(id).is_empty() => diags.push(
                    Diagnostic::error(
                        s.loc,
                        format!(
                            "galera cluster `{}` spans site `{}`, where no node runs galera",
                            name.value, s.value
                        ),
                    )
                    .with_help("give that site's controllers a role with galera (e.g. Controller)"),
                ),
                Some(id) => sites.push(id),
                None => diags.push(unknown(
                    "site",
                    s,
                    model.sites.iter().map(|s| s.name.as_str()),
                )),
            }
        }
        if raw.sites.is_empty() {
            diags.push(
                Diagnostic::error(
                    name.loc,
                    format!("galera cluster `{}` lists no `sites`", name.value),
                )
                .with_help("list the central sites it spans: `sites: [east, west]`"),
            );
        }
        if raw.databases.is_empty() {
            diags.push(
                Diagnostic::error(name.loc, format!("galera cluster `{}` lists no `databases`", name.value))
                    .with_help("name the databases it holds, e.g. `databases: [keystone]` for a Keystone shared by its sites"),
            );
        }
        for db in &raw.databases {
            let anywhere = sites
                .iter()
                .any(|s| used.get(s).is_some_and(|u| u.contains(&db.value)));
            if !anywhere {
                let mut all: BTreeSet<&str> = BTreeSet::new();
                sites
                    .iter()
                    .filter_map(|s| used.get(s))
                    .for_each(|u| all.extend(u.iter().map(String::as_str)));
                let all: Vec<&str> = all.into_iter().collect();
                diags.push(
                    unknown("database", db, all.iter().copied()).with_help(format!(
                        "no service at the sites of `{}` uses database `{}`",
                        name.value, db.value
                    )),
                );
            }
            for &s in &sites {
                if let Some(first) = claimed.insert((s, db.value.clone()), db.loc) {
                    diags.push(
                        Diagnostic::error(
                            db.loc,
                            format!(
                                "database `{}` of site `{}` is placed in two galera clusters",
                                db.value, model.sites[s].name
                            ),
                        )
                        .with_label(Label::new(first, "also placed here")),
                    );
                }
            }
        }
        let primary = raw
            .primary
            .as_ref()
            .and_then(|p| match model.site_by_name(&p.value) {
                Some(id) if sites.contains(&id) => Some(id),
                _ => {
                    diags.push(
                        Diagnostic::error(
                            p.loc,
                            format!(
                                "primary `{}` is not one of the sites of galera cluster `{}`",
                                p.value, name.value
                            ),
                        )
                        .with_help("name one of the cluster's `sites`"),
                    );
                    None
                }
            });
        let members: Vec<HostId> = sites.iter().flat_map(|&s| galera_hosts(s)).collect();
        let weights = members
            .iter()
            .map(|&h| {
                if Some(model.hosts[h].site) == primary {
                    PRIMARY_WEIGHT
                } else {
                    1
                }
            })
            .collect();
        named.push((
            GaleraCluster {
                name: name.value.clone(),
                sites,
                members,
                weights,
                databases: raw.databases.iter().map(|d| d.value.clone()).collect(),
                named: true,
                port_offset: PORT_STRIDE * (k as u16 + 1),
            },
            name.loc,
            primary.is_some(),
        ));
    }
    // Each central site's own cluster holds the databases no named cluster took.
    for (id, site) in model.sites.iter().enumerate() {
        let members = galera_hosts(id);
        if site.kind == SiteKind::Edge || members.is_empty() {
            continue;
        }
        let databases: Vec<String> = used
            .get(&id)
            .into_iter()
            .flatten()
            .filter(|db| !claimed.contains_key(&(id, (*db).clone())))
            .cloned()
            .collect();
        if databases.is_empty() && named.iter().any(|(g, ..)| g.sites.contains(&id)) {
            continue;
        }
        let loc = ctx.role_loc(members[0]);
        let cluster = GaleraCluster {
            name: site.name.clone(),
            sites: vec![id],
            weights: vec![1; members.len()],
            members,
            databases,
            named: false,
            port_offset: 0,
        };
        quorum(model, &cluster, loc, false, diags);
        model.galera.push(cluster);
    }
    for (cluster, loc, has_primary) in named {
        quorum(model, &cluster, loc, has_primary, diags);
        model.galera.push(cluster);
    }
}

fn quorum(
    model: &Model,
    cluster: &GaleraCluster,
    loc: Loc,
    has_primary: bool,
    diags: &mut Diagnostics,
) {
    let n = cluster.members.len();
    let total: u32 = cluster.weights.iter().sum();
    let name = &cluster.name;
    if n == 0 {
        return;
    }
    if n < 3 {
        diags.push(
            Diagnostic::warning(loc, format!("galera cluster `{name}` has {n} member{}: losing {} stops every database on it", if n == 1 { "" } else { "s" }, if n == 1 { "it" } else { "one" }))
                .with_help("3 members keep quorum through the loss of one"),
        );
        return;
    }
    if cluster.sites.len() < 2 {
        if n.is_multiple_of(2) {
            diags.push(Diagnostic::warning(loc, format!("galera cluster `{name}` has {n} members, an even number: a split into halves stops both")).with_help("use an odd number of members"));
        }
        return;
    }
    let weight_of = |site: SiteId| -> u32 {
        cluster
            .members
            .iter()
            .zip(&cluster.weights)
            .filter(|(&h, _)| model.hosts[h].site == site)
            .map(|(_, w)| *w)
            .sum()
    };
    let fatal: Vec<SiteId> = cluster
        .sites
        .iter()
        .copied()
        .filter(|&s| (total - weight_of(s)) * 2 <= total)
        .collect();
    let names = |ids: &[SiteId]| {
        ids.iter()
            .map(|&s| format!("`{}`", model.sites[s].name))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    if fatal.len() == cluster.sites.len() && !has_primary {
        diags.push(
            Diagnostic::error(loc, format!("galera cluster `{name}` splits its {total} votes evenly across {}: losing either site, or the link between them, stops the whole cluster", cluster.sites.iter().map(|&s| format!("`{}`", model.sites[s].name)).collect::<Vec<_>>().join(" and ")))
                .with_help("set `primary: <site>`: its members get more weight (pc.weight) and keep quorum when the sites are cut apart"),
        );
        return;
    }
    for &s in &fatal {
        let rest = total - weight_of(s);
        diags.push(
            Diagnostic::warning(
                loc,
                format!("galera cluster `{name}` stops if site `{}` is lost or cut off: the other members hold {rest} of {total} votes, not a majority, and refuse writes (databases: {})", model.sites[s].name, cluster.databases.join(", ")),
            )
            .with_help(format!("the cluster survives the loss of {} only; a third site (or an arbitrator) would let it survive either", names(&cluster.sites.iter().copied().filter(|x| !fatal.contains(x)).collect::<Vec<_>>()))),
        );
    }
}
