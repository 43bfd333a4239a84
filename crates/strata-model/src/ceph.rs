//! Ceph clusters: one per site whose nodes run Ceph daemons, or an external one named in the
//! spec. Checks what seed 000 got wrong (pool size above the OSD hosts leaves every PG
//! undersized), the PG budget of tripleo-validations, and monitor quorum.

use std::collections::{BTreeMap, HashMap};

use strata_source::{Diagnostic, Diagnostics, Label, Loc};
use strata_spec::Spanned;

use crate::compile::{is_name, name_error, Ctx};
use crate::model::*;

const DEFAULT_POOLS: [&str; 4] = ["images", "volumes", "vms", "backups"];
const DEFAULT_SIZE: u32 = 3;
const DEFAULT_PG_NUM: u32 = 32;
/// tripleo-validations ceph-pg: sum(pg_num * size) <= 200 * max(OSDs, 3).
const PGS_PER_OSD: u64 = 200;

/// OSDs a node gives: one per disk, four per NVMe device.
pub(crate) fn osds_of(host: &Host) -> u32 {
    let per_disk = if host.osd_type == OsdKind::Nvme { 4 } else { 1 };
    host.disks.len() as u32 * per_disk
}

/// The first of several optional settings that is set, with where it was set.
fn pick<T: Copy>(candidates: [Option<&Spanned<T>>; 3], default: T) -> (T, Option<Loc>) {
    candidates
        .into_iter()
        .flatten()
        .next()
        .map(|s| (s.value, Some(s.loc)))
        .unwrap_or((default, None))
}

/// A service whose catalog file says it keeps its data in its site's cluster (`ceph: local`:
/// nova-compute's disks, Cinder's volumes) needs a cluster at the site of every host that runs
/// it; without one it would fall back to local disks, or not start, on a host minutes into a
/// deploy. One error per site and service, at its first such node.
pub(crate) fn local_users_have_a_cluster(ctx: &Ctx, model: &Model, diags: &mut Diagnostics) {
    let mut said: std::collections::HashSet<(SiteId, &str)> = std::collections::HashSet::new();
    for (id, host) in model.hosts.iter().enumerate() {
        let site = &model.sites[host.site];
        if site.ceph.is_some() {
            continue;
        }
        for name in host.services.iter() {
            let local = ctx
                .catalog
                .service(name)
                .is_some_and(|s| s.ceph == strata_catalog::CephUse::Local);
            if !local || !said.insert((host.site, name.as_str())) {
                continue;
            }
            diags.push(
                Diagnostic::error(
                    ctx.role_loc(id),
                    format!(
                        "`{name}` on node `{}` keeps its data in its site's Ceph cluster, and site `{}` has none",
                        host.name, site.name
                    ),
                )
                .with_help(format!(
                    "give site `{}` a cluster (`ceph: {{ cluster: {} }}` and nodes with {} and {}, as DCN's edges have), or a role without {name} there",
                    site.name, site.name, model.servers.ceph_monitor, model.servers.ceph_storage
                )),
            );
        }
    }
}

pub(crate) fn clusters(ctx: &Ctx, model: &mut Model, diags: &mut Diagnostics) {
    let defaults = &ctx.raw.defaults.ceph;
    let mut names: HashMap<String, Loc> = HashMap::new();
    for site_id in 0..model.sites.len() {
        let raw_site = ctx.sites[site_id];
        let site_name = model.sites[site_id].name.clone();
        let hosts = &model.sites[site_id].hosts;
        let with = |svc: &str| {
            hosts
                .iter()
                .copied()
                .filter(|&h| model.hosts[h].runs(svc))
                .collect::<Vec<_>>()
        };
        let servers = &model.servers;
        let (mons, mgrs, osd_hosts) = (
            with(&servers.ceph_monitor),
            with(&servers.ceph_manager),
            with(&servers.ceph_storage),
        );
        let deployed = !mons.is_empty() || !osd_hosts.is_empty() || !mgrs.is_empty();
        let block = raw_site.ceph.as_ref();
        let external = block.and_then(|b| b.external.as_ref());
        if !deployed && external.is_none() {
            if let Some(b) = block {
                diags.push(
                    Diagnostic::warning(b.loc, format!("site `{site_name}` has Ceph settings but no node runs Ceph and no external cluster is given"))
                        .with_help(format!("give nodes a role with {} and {} (e.g. ComputeHCI, CephAll), add `external:`, or remove the block", servers.ceph_monitor, servers.ceph_storage)),
                );
            }
            continue;
        }
        let cluster_loc = block
            .and_then(|b| b.cluster.as_ref())
            .map(|c| c.loc)
            .unwrap_or(raw_site.name.loc);
        let name = block
            .and_then(|b| b.cluster.clone())
            .unwrap_or_else(|| Spanned::new(site_name.clone(), raw_site.name.loc));
        if !is_name(&name.value) {
            diags.push(name_error(&name, "ceph cluster name"));
        }
        if let Some(first) = names.insert(name.value.clone(), cluster_loc) {
            diags.push(
                Diagnostic::error(cluster_loc, format!("ceph cluster name `{}` is used by two sites", name.value))
                    .with_label(Label::new(first, "first used here"))
                    .with_help("every cluster needs its own name: it names /etc/ceph/<cluster>.conf on hosts that use several"),
            );
        }
        let external = external.map(|e| {
            if deployed {
                let h = mons.first().or(osd_hosts.first()).or(mgrs.first()).copied().unwrap_or(0);
                diags.push(
                    Diagnostic::error(e.loc, format!("site `{site_name}` names an external Ceph cluster but node `{}` runs Ceph daemons", model.hosts[h].name))
                        .with_label(Label::new(ctx.role_loc(h), "Ceph daemons come from this role"))
                        .with_help("use either an external cluster or Ceph roles at this site, not both"),
                );
            }
            let fsid = match &e.fsid {
                Some(f) if is_uuid(&f.value) => f.value.clone(),
                Some(f) => {
                    diags.push(Diagnostic::error(f.loc, format!("fsid `{}` is not a UUID", f.value)).with_help("copy the fsid from `ceph fsid` on the existing cluster"));
                    f.value.clone()
                }
                None => {
                    diags.push(Diagnostic::error(e.loc, "the external cluster has no `fsid`").with_help("add `fsid:` (from `ceph fsid` on the existing cluster)"));
                    String::new()
                }
            };
            if e.mon_hosts.is_empty() {
                diags.push(Diagnostic::error(e.loc, "the external cluster has no `mon_hosts`").with_help("list the monitor addresses: `mon_hosts: [192.0.2.10, ...]`"));
            }
            let keyring = match &e.keyring {
                Some(k) if crate::grammar::absolute_path(&k.value) => k.value.clone(),
                Some(k) => {
                    diags.push(Diagnostic::error(k.loc, format!("keyring path `{}` is not absolute", k.value)).with_help("give the absolute path of the client keyring on the deployer (no `..`)"));
                    k.value.clone()
                }
                None => {
                    diags.push(
                        Diagnostic::error(e.loc, "the external cluster has no `keyring`")
                            .with_help("give the path of a keyring file with the client key (keys never go in the spec)"),
                    );
                    String::new()
                }
            };
            ExternalCeph {
                fsid,
                mon_hosts: e.mon_hosts.iter().map(|m| m.value).collect(),
                keyring,
                user: match &e.user {
                    Some(u) => {
                        crate::grammar::check_word(u, "ceph client user", diags);
                        u.value.clone()
                    }
                    None => "openstack".to_owned(),
                },
            }
        });
        let osds: u32 = osd_hosts.iter().map(|&h| osds_of(&model.hosts[h])).sum();
        let settings = block.map(|b| &b.settings);
        let pool_list = settings
            .and_then(|s| s.pools.as_ref())
            .or(defaults.pools.as_ref());
        let raw_pools: Vec<(String, Option<&strata_spec::RawPool>)> = match pool_list {
            Some(list) => list
                .value
                .iter()
                .map(|p| (p.name.value.clone(), Some(p)))
                .collect(),
            None => DEFAULT_POOLS
                .iter()
                .map(|p| (p.to_string(), None))
                .collect(),
        };
        let mut pools = Vec::new();
        // Where each pool's pg_num was set (its own setting, the site's, or the defaults).
        let mut pg_locs: Vec<Option<Loc>> = Vec::new();
        // Size problems are reported once per place that set the size.
        let mut oversized: BTreeMap<Option<Loc>, (u32, Vec<String>)> = BTreeMap::new();
        for (pool_name, raw) in &raw_pools {
            if let Some(raw) = raw {
                crate::grammar::check_word(&raw.name, "pool", diags);
            }
            let (size, size_loc) = pick(
                [
                    raw.and_then(|p| p.size.as_ref()),
                    settings.and_then(|s| s.size.as_ref()),
                    defaults.size.as_ref(),
                ],
                DEFAULT_SIZE,
            );
            let (pg_num, pg_loc) = pick(
                [
                    raw.and_then(|p| p.pg_num.as_ref()),
                    settings.and_then(|s| s.pg_num.as_ref()),
                    defaults.pg_num.as_ref(),
                ],
                DEFAULT_PG_NUM,
            );
            if external.is_none() {
                if osd_hosts.is_empty() {
                    // One error for the whole cluster, below.
                } else if size == 0 {
                    diags.push(
                        Diagnostic::error(
                            size_loc.unwrap_or(cluster_loc),
                            format!("pool `{pool_name}` has size 0"),
                        )
                        .with_help("size is the number of copies: use 1 or more"),
                    );
                } else if size as usize > osd_hosts.len() {
                    oversized
                        .entry(size_loc)
                        .or_insert((size, Vec::new()))
                        .1
                        .push(pool_name.clone());
                } else if size == 2 {
                    // min_size is size - 1: with two copies a write is acknowledged once
                    // one is on disk, and a lost disk then loses it.
                    diags.push(
                        Diagnostic::warning(
                            size_loc.unwrap_or(cluster_loc),
                            format!("pools of size 2 in cluster `{}` run with min_size 1: writes are accepted with a single copy", name.value),
                        )
                        .with_help(if osd_hosts.len() < 3 {
                            "add a third OSD host and use size 3 (min_size 2), or accept the risk"
                        } else {
                            "use size 3 (min_size 2): the cluster has the OSD hosts for it"
                        }),
                    );
                }
                if pg_num == 0 {
                    diags.push(
                        Diagnostic::error(
                            pg_loc.unwrap_or(cluster_loc),
                            format!("pool `{pool_name}` has pg_num 0"),
                        )
                        .with_help("a pool needs placement groups: use a power of two such as 32"),
                    );
                } else if !pg_num.is_power_of_two() {
                    diags.push(
                        Diagnostic::warning(
                            pg_loc.unwrap_or(cluster_loc),
                            format!("pool `{pool_name}` has pg_num {pg_num}, not a power of two"),
                        )
                        .with_help(format!(
                            "Ceph warns POOL_PG_NUM_NOT_POWER_OF_TWO: use {}",
                            pg_num.next_power_of_two()
                        )),
                    );
                }
            }
            pg_locs.push(pg_loc);
            pools.push(Pool {
                name: pool_name.clone(),
                size,
                pg_num,
                target_size_ratio: raw
                    .and_then(|p| p.target_size_ratio.as_ref())
                    .map(|r| r.value)
                    .or(match pool_name.as_str() {
                        "volumes" => Some(0.4),
                        "vms" => Some(0.3),
                        "images" => Some(0.1),
                        _ => None,
                    }),
            });
        }
        if external.is_none() && osd_hosts.is_empty() {
            let h = mons.first().or(mgrs.first()).copied().unwrap_or(0);
            diags.push(
                Diagnostic::error(ctx.role_loc(h), format!("ceph cluster `{}` at site `{site_name}` has monitors but no OSD host: its pools cannot hold data", name.value))
                    .with_help(format!("add nodes with {} (e.g. CephStorage or ComputeHCI), or use roles without Ceph at this site (a custom role with `remove: [{}, {}]`)", servers.ceph_storage, servers.ceph_monitor, servers.ceph_manager)),
            );
        }
        for (loc, (size, pool_names)) in oversized {
            let hosts = osd_hosts.len();
            diags.push(
                Diagnostic::error(
                    loc.unwrap_or(cluster_loc),
                    format!(
                        "pool size {size} of cluster `{}` ({}) is larger than its {hosts} OSD host{}: every PG would stay undersized+degraded and the cluster unhealthy",
                        name.value,
                        pool_names.join(", "),
                        if hosts == 1 { "" } else { "s" }
                    ),
                )
                .with_help(format!("each copy goes to a different host: set `size: {}`{}, or add OSD hosts to site `{site_name}`", hosts.max(1), if hosts > 1 { " or less" } else { "" })),
            );
        }
        if external.is_none() && osds > 0 {
            let used: u64 = pools.iter().map(|p| p.pg_num as u64 * p.size as u64).sum();
            let budget = PGS_PER_OSD * u64::from(osds.max(3));
            if used > budget {
                // At the setting of the pool that takes the most: a `defaults.ceph.pg_num`
                // is blamed there, not at the site that inherits it.
                let biggest =
                    (0..pools.len()).max_by_key(|&i| pools[i].pg_num as u64 * pools[i].size as u64);
                let loc = biggest
                    .and_then(|i| pg_locs[i])
                    .or(pool_list.map(|l| l.loc))
                    .or(block.map(|b| b.loc))
                    .unwrap_or(cluster_loc);
                diags.push(
                    Diagnostic::error(loc, format!("cluster `{}` would place {used} PG copies (sum of pg_num x size) on {osds} OSDs, over the budget of {budget} (200 x max(OSDs, 3))", name.value))
                        .with_help("lower pg_num or size of the pools, or add OSDs"),
                );
            }
        }
        if external.is_none() {
            quorum(ctx, model, site_id, &name.value, &mons, &osd_hosts, diags);
        }
        let id = model.ceph.len();
        model.ceph.push(CephCluster {
            name: name.value,
            site: site_id,
            mons,
            mgrs,
            osd_hosts,
            osds,
            pools,
            external,
        });
        model.sites[site_id].ceph = Some(id);
    }
}

/// Roles an edge site's monitors can have, as a hint: the given one when it fits an edge
/// (it runs ceph-mon and not the identity service), else up to two that do.
fn edge_monitor_roles(ctx: &Ctx, model: &Model, have: &str) -> String {
    let fits = |name: &str| {
        ctx.roles.get(name).is_some_and(|r| {
            r.services.contains(&model.servers.ceph_monitor)
                && !r.services.contains(&model.servers.identity)
        })
    };
    if fits(have) {
        return format!("`{have}`");
    }
    let mut names: Vec<&String> = ctx.roles.keys().filter(|n| fits(n)).collect();
    names.sort();
    names
        .iter()
        .take(2)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn quorum(
    ctx: &Ctx,
    model: &Model,
    site_id: SiteId,
    cluster: &str,
    mons: &[HostId],
    osd_hosts: &[HostId],
    diags: &mut Diagnostics,
) {
    let site = &model.sites[site_id];
    let n = mons.len();
    let loc = mons
        .first()
        .or(osd_hosts.first())
        .map(|&h| ctx.role_loc(h))
        .unwrap_or(ctx.sites[site_id].name.loc);
    if n == 0 {
        return; // reported by the dependency check: the OSDs need a monitor
    }
    if site.kind == SiteKind::Edge && n < 3 {
        diags.push(
            Diagnostic::error(loc, format!("edge site `{}` has storage but only {n} node{} with a Ceph monitor; an edge cluster needs 3 for quorum", site.name, if n == 1 { "" } else { "s" }))
                .with_help(format!(
                    "add {} more node{} at `{}` whose role runs {}, like {}",
                    3 - n,
                    if 3 - n == 1 { "" } else { "s" },
                    site.name,
                    model.servers.ceph_monitor,
                    edge_monitor_roles(ctx, model, &model.hosts[mons[0]].role)
                )),
        );
    } else if n < 3 {
        diags.push(
            Diagnostic::warning(
                loc,
                format!(
                    "ceph cluster `{cluster}` has {n} monitor{}: losing {} stops the cluster",
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "it" } else { "one" }
                ),
            )
            .with_help("3 monitors keep quorum through the loss of one"),
        );
    } else if n.is_multiple_of(2) {
        diags.push(
            Diagnostic::warning(loc, format!("ceph cluster `{cluster}` has {n} monitors, an even number: it tolerates no more failures than {} would", n - 1))
                .with_help("use an odd number of monitors"),
        );
    }
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}
