//! Glance stores. By default central Glance has its own cluster as the default store plus a
//! store on every edge site's cluster; an edge Glance has its own cluster as default plus its
//! central site's. A site's `glance.stores` overrides the list; an edge Glance must keep the
//! central store (that is how images reach it).

use strata_source::{Diagnostic, Diagnostics};

use crate::compile::{unknown, Ctx};
use crate::model::*;

pub(crate) fn stores(ctx: &Ctx, model: &mut Model, diags: &mut Diagnostics) {
    for id in 0..model.sites.len() {
        let site = &model.sites[id];
        let raw = ctx.sites[id].glance.as_ref();
        let runs_glance = site
            .hosts
            .iter()
            .any(|&h| model.hosts[h].runs(&model.servers.image));
        if !runs_glance {
            if let Some(g) = raw {
                diags.push(
                    Diagnostic::warning(
                        g.loc,
                        format!(
                            "site `{}` sets Glance stores but no node there runs {}",
                            site.name, model.servers.image
                        ),
                    )
                    .with_help(format!(
                        "remove the `glance` block, or give a node a role with {}",
                        model.servers.image
                    )),
                );
            }
            continue;
        }
        let cp = site.control_plane;
        let reachable = |s: SiteId| s == id || s == cp || model.sites[s].control_plane == id;
        // The list of store sites, and where it was written (None when derived).
        let (store_sites, list_loc): (Vec<SiteId>, _) = match raw.and_then(|g| g.stores.as_ref()) {
            Some(list) => {
                let mut ids = Vec::new();
                for s in &list.value {
                    match model.site_by_name(&s.value) {
                        Some(sid) if model.sites[sid].ceph.is_none() => diags.push(
                            Diagnostic::error(s.loc, format!("Glance store `{}` names a site without a Ceph cluster", s.value))
                                .with_help("a store lives on a site's Ceph cluster: give that site Ceph nodes or an external cluster"),
                        ),
                        Some(sid) if !reachable(sid) => diags.push(
                            Diagnostic::error(s.loc, format!("Glance at `{}` cannot use the store of site `{}`", site.name, s.value))
                                .with_help("a Glance uses its own site's cluster, its central site's, and (at central) its edge sites'"),
                        ),
                        Some(sid) if ids.contains(&sid) => diags.push(Diagnostic::error(s.loc, format!("Glance store `{}` is listed twice", s.value))),
                        Some(sid) => ids.push(sid),
                        None => diags.push(unknown("site", s, model.sites.iter().map(|s| s.name.as_str()))),
                    }
                }
                (ids, Some(list.loc))
            }
            None => {
                let mut ids: Vec<SiteId> = Vec::new();
                if site.ceph.is_some() {
                    ids.push(id);
                }
                if cp != id {
                    if model.sites[cp].ceph.is_some() {
                        ids.push(cp);
                    }
                } else {
                    ids.extend((0..model.sites.len()).filter(|&e| {
                        e != id
                            && model.sites[e].control_plane == id
                            && model.sites[e].ceph.is_some()
                    }));
                }
                (ids, None)
            }
        };
        let where_loc = list_loc
            .or(raw.map(|g| g.loc))
            .unwrap_or(ctx.sites[id].name.loc);
        if cp != id && !store_sites.contains(&cp) {
            let central = &model.sites[cp].name;
            let help = if model.sites[cp].ceph.is_none() {
                format!(
                    "give `{central}` a Ceph cluster, so images can be copied from it to this edge"
                )
            } else {
                format!("add `{central}` to the stores: images reach this edge by being copied from the central store")
            };
            diags.push(
                Diagnostic::error(
                    where_loc,
                    format!(
                        "edge Glance at `{}` has no store on its central site `{central}`",
                        site.name
                    ),
                )
                .with_help(help),
            );
        }
        let default_site = match raw.and_then(|g| g.default.as_ref()) {
            Some(d) => match model.site_by_name(&d.value) {
                Some(sid) if store_sites.contains(&sid) => Some(sid),
                _ => {
                    diags.push(
                        Diagnostic::error(
                            d.loc,
                            format!(
                                "default Glance store `{}` is not one of the site's stores",
                                d.value
                            ),
                        )
                        .with_help("name one of the stores listed in `stores`"),
                    );
                    None
                }
            },
            None if store_sites.contains(&id) => Some(id),
            None => {
                diags.push(
                    Diagnostic::error(where_loc, format!("Glance at `{}` has no default store: the site has no Ceph cluster", site.name))
                        .with_help("give the site Ceph nodes (or an external cluster), or set `glance: { default: <site> }`"),
                );
                None
            }
        };
        let Some(default_site) = default_site else {
            continue;
        };
        let stores: Vec<GlanceStore> = store_sites
            .iter()
            .map(|&s| GlanceStore {
                name: model.sites[s].name.clone(),
                ceph: model.sites[s].ceph.expect("store sites have a cluster"),
            })
            .collect();
        let default = store_sites
            .iter()
            .position(|&s| s == default_site)
            .unwrap_or(0);
        model.sites[id].glance = Some(GlanceConfig { default, stores });
    }
}
