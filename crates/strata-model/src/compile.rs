//! Raw spec + catalog -> model. Runs the checks in an order where each can rely on what the
//! previous ones established (sites before Ceph, Ceph before Glance stores), reporting every
//! problem; returns a model only when there is no error.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use strata_catalog::{Catalog, Role};
use strata_source::read::closest;
use strata_source::{Diagnostic, Diagnostics, Label, Loc};
use strata_spec::{RawNode, RawSite, RawSpec, Spanned};

use crate::model::*;

/// A composed role: its services and what it requires of its site.
pub(crate) struct RoleDef {
    pub services: Arc<Vec<String>>,
    pub site_requires: Vec<String>,
}

/// Where things were written, for checks that run after the model is built.
pub(crate) struct Ctx<'a> {
    pub raw: &'a RawSpec,
    pub catalog: &'a Catalog,
    pub sites: Vec<&'a RawSite>,
    pub hosts: Vec<&'a RawNode>,
    pub roles: HashMap<String, RoleDef>,
}

impl Ctx<'_> {
    /// The location of a host's role (where a problem with its services was caused).
    pub fn role_loc(&self, host: HostId) -> Loc {
        let raw = self.hosts[host];
        raw.role.as_ref().map(|r| r.loc).unwrap_or(raw.loc)
    }
}

/// Validates `raw` against `catalog`. Every problem goes to `diags`; a model comes back only
/// when none of them is an error.
pub fn compile(raw: &RawSpec, catalog: &Catalog, diags: &mut Diagnostics) -> Option<Model> {
    let cloud = match &raw.cloud {
        Some(c) if is_name(&c.value) => c.value.clone(),
        Some(c) => {
            diags.push(name_error(c, "cloud name"));
            String::new()
        }
        None => String::new(), // reported by the decoder
    };
    let release = match &raw.release {
        Some(r) if r.value != "zed" => {
            diags.push(
                Diagnostic::error(r.loc, format!("release `{}` is not supported", r.value))
                    .with_help("strata deploys OpenStack Zed from Debian bookworm: use `release: zed` or leave it out"),
            );
            r.value.clone()
        }
        _ => "zed".to_owned(),
    };
    let mut ctx = Ctx {
        raw,
        catalog,
        sites: Vec::new(),
        hosts: Vec::new(),
        roles: roles(raw, catalog, diags),
    };
    let mut model = Model {
        cloud,
        release,
        sites: Vec::new(),
        hosts: Vec::new(),
        ceph: Vec::new(),
        galera: Vec::new(),
        roles: BTreeMap::new(),
        servers: crate::model::Servers::of(catalog),
    };
    sites_and_hosts(&mut ctx, &mut model, diags);
    crate::ceph::clusters(&ctx, &mut model, diags);
    crate::ceph::local_users_have_a_cluster(&ctx, &model, diags);
    crate::hci::tune(&ctx, &mut model, diags);
    crate::galera::clusters(&ctx, &mut model, diags);
    crate::glance::stores(&ctx, &mut model, diags);
    crate::deps::check(&ctx, &model, diags);
    fronts_without_a_vip(&ctx, &model, diags);
    (!diags.has_errors()).then_some(model)
}

/// A site whose APIs have fronts on several nodes but no VIP is reached through the first of
/// them only: that node's loss takes the site's APIs, though others could serve them.
fn fronts_without_a_vip(ctx: &Ctx, model: &Model, diags: &mut Diagnostics) {
    for site in model.sites.iter().filter(|s| s.vip.is_none()) {
        let fronts: Vec<HostId> = site
            .hosts
            .iter()
            .copied()
            .filter(|&h| model.hosts[h].runs(&model.servers.api_front))
            .collect();
        if let [first, _, ..] = fronts[..] {
            let names: Vec<&str> = fronts
                .iter()
                .map(|&h| model.hosts[h].name.as_str())
                .collect();
            diags.push(
                Diagnostic::warning(
                    ctx.role_loc(first),
                    format!(
                        "site `{}` has {} on {} nodes ({}) but no `vip`: clients reach its APIs through `{}` alone, and its loss takes them",
                        site.name,
                        model.servers.api_front,
                        fronts.len(),
                        names.join(", "),
                        names[0]
                    ),
                )
                .with_help(format!(
                    "add `vip: <a free address of {}>` to site `{}`: keepalived moves it between those nodes",
                    site.subnet, site.name
                )),
            );
        }
    }
}

/// Host, site and cluster names become host names, step ids and file names: keep them plain.
pub(crate) fn is_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

pub(crate) fn name_error(name: &Spanned<String>, what: &str) -> Diagnostic {
    Diagnostic::error(name.loc, format!("{what} `{}` is not a valid name", name.value))
        .with_help("use 1 to 63 lowercase letters, digits and `-`, not starting or ending with `-` (it becomes a host name)")
}

fn roles(raw: &RawSpec, catalog: &Catalog, diags: &mut Diagnostics) -> HashMap<String, RoleDef> {
    let mut roles: HashMap<String, RoleDef> = catalog
        .roles
        .values()
        .map(|r| {
            (
                r.name.clone(),
                RoleDef {
                    services: Arc::new(r.services.clone()),
                    site_requires: r.site_requires.clone(),
                },
            )
        })
        .collect();
    // Custom roles may extend each other in any order; resolve until nothing changes.
    let mut pending: Vec<_> = raw.roles.iter().collect();
    for role in &raw.roles {
        if catalog.role(&role.name.value).is_some() {
            diags.push(
                Diagnostic::error(
                    role.name.loc,
                    format!("role `{}` is built in", role.name.value),
                )
                .with_help(format!(
                    "give the custom role another name, e.g. `{}Custom` with `extends: {}`",
                    role.name.value, role.name.value
                )),
            );
        }
        for s in role
            .services
            .iter()
            .flatten()
            .chain(&role.add)
            .chain(&role.remove)
        {
            if catalog.service(&s.value).is_none() {
                diags.push(unknown(
                    "service",
                    s,
                    catalog.services.keys().map(String::as_str),
                ));
            }
        }
    }
    pending.retain(|r| catalog.role(&r.name.value).is_none());
    loop {
        let before = pending.len();
        pending.retain(|role| {
            let base = match &role.extends {
                Some(e) => match roles.get(&e.value) {
                    Some(b) => Some(Role {
                        name: e.value.clone(),
                        loc: e.loc,
                        description: String::new(),
                        services: b.services.to_vec(),
                        site_requires: b.site_requires.clone(),
                    }),
                    None => return true,
                },
                None => None,
            };
            let list =
                |v: &[Spanned<String>]| v.iter().map(|s| s.value.clone()).collect::<Vec<_>>();
            let services = Catalog::compose(
                base.as_ref(),
                role.services.as_ref().map(|s| list(s)).as_deref(),
                &list(&role.add),
                &list(&role.remove),
            );
            if services.is_empty() {
                diags.push(
                    Diagnostic::error(
                        role.name.loc,
                        format!("role `{}` has no services", role.name.value),
                    )
                    .with_help("give it `services: [...]` or `extends: <role>`"),
                );
            }
            roles.insert(
                role.name.value.clone(),
                RoleDef {
                    services: Arc::new(services),
                    site_requires: base.map(|b| b.site_requires).unwrap_or_default(),
                },
            );
            false
        });
        if pending.is_empty() || pending.len() == before {
            break;
        }
    }
    for role in pending {
        let e = role
            .extends
            .as_ref()
            .expect("pending roles extend something");
        let mut known: Vec<&str> = roles.keys().map(String::as_str).collect();
        known.sort();
        let mut d = Diagnostic::error(
            e.loc,
            format!(
                "role `{}` extends `{}`, which is not a role (or extends it back)",
                role.name.value, e.value
            ),
        );
        d = match closest(&e.value, known.iter().copied()) {
            Some(near) => d.with_help(format!("did you mean `{near}`?")),
            None => d.with_help(format!("roles: {}", known.join(", "))),
        };
        diags.push(d);
    }
    roles
}

pub(crate) fn unknown<'a>(
    what: &str,
    name: &Spanned<String>,
    known: impl Iterator<Item = &'a str> + Clone,
) -> Diagnostic {
    let d = Diagnostic::error(name.loc, format!("unknown {what} `{}`", name.value));
    match closest(&name.value, known.clone()) {
        Some(near) => d.with_help(format!("did you mean `{near}`?")),
        None => {
            let mut all: Vec<&str> = known.collect();
            all.sort();
            d.with_help(format!("known {what}s: {}", all.join(", ")))
        }
    }
}

fn sites_and_hosts<'a>(ctx: &mut Ctx<'a>, model: &mut Model, diags: &mut Diagnostics) {
    let raw = ctx.raw;
    if raw.sites.is_empty() {
        diags.push(
            Diagnostic::error(raw.loc, "the spec has no sites")
                .with_help("add `sites:` with at least one site and its nodes"),
        );
        return;
    }
    let default_latency = raw
        .defaults
        .wan_latency_ms
        .as_ref()
        .map(|l| l.value)
        .unwrap_or(10);
    let names: HashMap<&str, usize> = raw
        .sites
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.value.as_str(), i))
        .collect();
    let mut node_names: HashMap<&str, Loc> = HashMap::new();
    let mut addresses: HashMap<IpAddr, (Loc, String)> = HashMap::new();
    // BMC addresses, on a management network of their own (not the site's subnet).
    let mut bmcs: HashMap<IpAddr, (Loc, String)> = HashMap::new();
    let mut regions: HashMap<String, Loc> = HashMap::new();
    let mut subnets = SubnetIndex::default();

    for (site_id, site) in raw.sites.iter().enumerate() {
        let site_name = &site.name.value;
        if !is_name(site_name) {
            diags.push(name_error(&site.name, "site name"));
        }
        // Edge or central.
        let mut control_plane = site_id;
        let mut kind = SiteKind::Central;
        if let Some(parent) = &site.edge_of {
            kind = SiteKind::Edge;
            match names.get(parent.value.as_str()) {
                Some(&p) if p == site_id => diags.push(
                    Diagnostic::error(
                        parent.loc,
                        format!("site `{site_name}` is an edge of itself"),
                    )
                    .with_help("name the central site whose control plane it uses"),
                ),
                Some(&p) if raw.sites[p].edge_of.is_some() => {
                    // Follow the chain: it ends at a central site, or comes back (a cycle).
                    let mut chain = vec![site_id, p];
                    let mut at = p;
                    let end = loop {
                        let next = raw.sites[at]
                            .edge_of
                            .as_ref()
                            .and_then(|e| names.get(e.value.as_str()).copied());
                        match next {
                            None => break Some(at).filter(|&a| raw.sites[a].edge_of.is_none()),
                            Some(n) if chain.contains(&n) => {
                                chain.push(n);
                                break None;
                            }
                            Some(n) => {
                                chain.push(n);
                                at = n;
                            }
                        }
                    };
                    let path = chain
                        .iter()
                        .map(|&i| raw.sites[i].name.value.as_str())
                        .collect::<Vec<_>>()
                        .join(" -> ");
                    diags.push(match end {
                        Some(central) => Diagnostic::error(
                            parent.loc,
                            format!("site `{site_name}` is an edge of `{}`, which is itself an edge site ({path})", parent.value),
                        )
                        .with_help(format!(
                            "edge sites hang off a central site: use `edge_of: {}`",
                            raw.sites[central].name.value
                        )),
                        None => Diagnostic::error(
                            parent.loc,
                            format!("`edge_of` makes a cycle: {path}"),
                        )
                        .with_help("a cycle has no central site to use: remove `edge_of` from one of these sites to make it central"),
                    });
                }
                Some(&p) => control_plane = p,
                None => diags.push(unknown(
                    "site",
                    parent,
                    raw.sites.iter().map(|s| s.name.value.as_str()),
                )),
            }
        }
        let subnet = match &site.subnet {
            Some(s) => {
                overlaps(&subnets, s, SUBNET, site_name, diags);
                subnets.push(s.value, s.loc, site_name, SUBNET);
                s.value
            }
            None => "0.0.0.0/0".parse().expect("a valid subnet"), // reported by the decoder
        };
        // Regions belong to sites that run a control plane; edges use their central's.
        let region = match (&site.region, kind) {
            (Some(r), SiteKind::Edge) => {
                diags.push(
                    Diagnostic::error(r.loc, format!("edge site `{site_name}` sets a region"))
                        .with_help("an edge site uses its central site's Keystone and region; remove `region` (it gets its own availability zone)"),
                );
                r.value.clone()
            }
            (Some(r), SiteKind::Central) => {
                crate::grammar::check_word(r, "region", diags);
                if let Some(first) = regions.get(&r.value) {
                    diags.push(
                        Diagnostic::error(
                            r.loc,
                            format!("region `{}` is used by two sites", r.value),
                        )
                        .with_label(Label::new(*first, "also used here"))
                        .with_help("give each site that runs a control plane its own region"),
                    );
                }
                regions.insert(r.value.clone(), r.loc);
                r.value.clone()
            }
            (None, SiteKind::Central) if runs_identity(ctx, site, &model.servers.identity) => {
                // Two control planes left to the default would share a region (and one
                // Keystone catalog entry per service for both).
                if let Some(first) = regions.get("regionOne") {
                    diags.push(
                        Diagnostic::error(
                            site.name.loc,
                            format!("site `{site_name}` takes the default region `regionOne`, which another site has"),
                        )
                        .with_label(Label::new(*first, "regionOne here"))
                        .with_help(format!("give each central site its own region: add `region: {site_name}` (or another name) to this site")),
                    );
                } else {
                    regions.insert("regionOne".to_owned(), site.name.loc);
                }
                "regionOne".to_owned()
            }
            (None, _) => "regionOne".to_owned(),
        };
        if let Some(az) = &site.availability_zone {
            crate::grammar::check_word(az, "availability zone", diags);
        }
        let availability_zone = site
            .availability_zone
            .as_ref()
            .map(|a| a.value.clone())
            .unwrap_or_else(|| match kind {
                SiteKind::Central => "nova".to_owned(),
                SiteKind::Edge => site_name.clone(),
            });
        if let Some(vip) = &site.vip {
            check_address(
                vip,
                &format!("VIP of site `{site_name}`"),
                subnet,
                site_name,
                &mut addresses,
                diags,
            );
        }
        if let Some(public) = &site.public_vip {
            check_address(
                public,
                &format!("public VIP of site `{site_name}`"),
                subnet,
                site_name,
                &mut addresses,
                diags,
            );
            if site.vip.is_none() {
                diags.push(
                    Diagnostic::error(public.loc, format!("site `{site_name}` has a public VIP but no `vip`"))
                        .with_help("add `vip:`, the address the cloud's own services use (internal endpoints); users use the public one"),
                );
            }
        }
        let mut hosts = Vec::new();
        for node in &site.nodes {
            let name = &node.name;
            if !is_name(&name.value) {
                diags.push(name_error(name, "node name"));
            }
            if let Some(first) = node_names.get(name.value.as_str()) {
                diags.push(
                    Diagnostic::error(
                        name.loc,
                        format!("node name `{}` is used twice", name.value),
                    )
                    .with_label(Label::new(*first, "first used here"))
                    .with_help("node names are host names: make each unique across all sites"),
                );
            } else {
                node_names.insert(&name.value, name.loc);
            }
            if let Some(bmc) = &node.bmc {
                match bmcs.get(&bmc.value) {
                    Some((first, other)) => diags.push(
                        Diagnostic::error(
                            bmc.loc,
                            format!(
                                "node `{}` has BMC address {}, which node `{other}` has too",
                                name.value, bmc.value
                            ),
                        )
                        .with_label(Label::new(*first, "also here"))
                        .with_help("each node has a BMC of its own: correct one of the addresses"),
                    ),
                    None => {
                        bmcs.insert(bmc.value, (bmc.loc, name.value.clone()));
                    }
                }
            }
            let ip = match &node.ip {
                Some(ip) => {
                    check_address(
                        ip,
                        &format!("node `{}`", name.value),
                        subnet,
                        site_name,
                        &mut addresses,
                        diags,
                    );
                    ip.value
                }
                None => IpAddr::from([0, 0, 0, 0]), // reported by the decoder
            };
            let (role, services) = match &node.role {
                Some(r) => match ctx.roles.get(&r.value) {
                    Some(def) => {
                        model.roles.insert(r.value.clone(), def.services.clone());
                        (r.value.clone(), def.services.clone())
                    }
                    None => {
                        diags.push(unknown("role", r, ctx.roles.keys().map(String::as_str)));
                        (r.value.clone(), Arc::new(Vec::new()))
                    }
                },
                None => (String::new(), Arc::new(Vec::new())), // reported by the decoder
            };
            check_disks(node, &services, &model.servers.ceph_storage, diags);
            hosts.push(model.hosts.len());
            model.hosts.push(Host {
                name: name.value.clone(),
                site: site_id,
                ip,
                role,
                services,
                disks: node
                    .disks
                    .iter()
                    .filter_map(|d| crate::grammar::device(&d.value))
                    .collect(),
                osd_type: node
                    .osd_type
                    .as_ref()
                    .map(|t| t.value.into())
                    .unwrap_or(OsdKind::Hdd),
                ram_gb: node.ram_gb.as_ref().map(|v| v.value),
                vcpus: node.vcpus.as_ref().map(|v| v.value),
                bmc: node.bmc.as_ref().map(|v| v.value),
                hci: None,
            });
            ctx.hosts.push(node);
        }
        if site.nodes.is_empty() {
            diags.push(
                Diagnostic::warning(site.name.loc, format!("site `{site_name}` has no nodes"))
                    .with_help("add nodes under `nodes:` or remove the site"),
            );
        }
        let provider = site
            .provider
            .as_ref()
            .and_then(|p| provider(p, site_name, &mut subnets, diags));
        model.sites.push(Site {
            name: site_name.clone(),
            kind,
            control_plane,
            subnet,
            vip: site.vip.as_ref().map(|v| v.value),
            public_vip: site.public_vip.as_ref().map(|v| v.value),
            region,
            availability_zone,
            wan_latency_ms: site
                .wan_latency_ms
                .as_ref()
                .map(|l| l.value)
                .unwrap_or(default_latency),
            hosts,
            ceph: None,
            glance: None,
            provider,
        });
        ctx.sites.push(site);
    }
    provider_ranges(raw, &addresses, diags);
    // Edges use their central site's region; a site with its own Keystone is no edge.
    for id in 0..model.sites.len() {
        let cp = model.sites[id].control_plane;
        if cp != id {
            model.sites[id].region = model.sites[cp].region.clone();
            let raw_site = ctx.sites[id];
            if let Some(&h) = model.sites[id]
                .hosts
                .iter()
                .find(|&&h| model.hosts[h].runs(&model.servers.identity))
            {
                diags.push(
                    Diagnostic::error(ctx.role_loc(h), format!("node `{}` runs {} at edge site `{}`", model.hosts[h].name, model.servers.identity, raw_site.name.value))
                        .with_help(format!("edge sites use the control plane of `{}`: give this node a Distributed* role, or remove `edge_of` to make the site central", model.sites[cp].name)),
                );
            }
        }
    }
}

/// Whether a site of the spec runs the identity service on some node (by its role).
fn runs_identity(ctx: &Ctx, site: &strata_spec::RawSite, identity: &str) -> bool {
    site.nodes.iter().any(|n| {
        n.role
            .as_ref()
            .and_then(|r| ctx.roles.get(&r.value))
            .is_some_and(|d| d.services.iter().any(|s| s == identity))
    })
}

fn check_address(
    ip: &Spanned<IpAddr>,
    what: &str,
    subnet: ipnet::IpNet,
    site: &str,
    seen: &mut HashMap<IpAddr, (Loc, String)>,
    diags: &mut Diagnostics,
) {
    if !subnet.contains(&ip.value) {
        diags.push(
            Diagnostic::error(
                ip.loc,
                format!(
                    "{what} has address {} outside site `{site}`'s subnet {subnet}",
                    ip.value
                ),
            )
            .with_help(format!(
                "use an address in {subnet}, or change the site's subnet"
            )),
        );
    } else if !host_address(subnet, ip.value) {
        diags.push(
            Diagnostic::error(
                ip.loc,
                format!(
                    "{what} has address {}, the network or broadcast address of {subnet}",
                    ip.value
                ),
            )
            .with_help("use a host address inside the subnet"),
        );
    }
    if let Some((first, owner)) = seen.get(&ip.value) {
        diags.push(
            Diagnostic::error(
                ip.loc,
                format!("{what} has address {}, already used by {owner}", ip.value),
            )
            .with_label(Label::new(*first, "first used here"))
            .with_help("give every node and VIP its own address"),
        );
    } else {
        seen.insert(ip.value, (ip.loc, what.to_owned()));
    }
}

/// A site's provider network: its subnet (overlapping no other site's network or provider
/// network), its gateway and range inside it, the range leaving the gateway out, and an
/// interface name Linux allows.
fn provider<'a>(
    p: &'a strata_spec::RawProvider,
    site: &'a str,
    subnets: &mut SubnetIndex<'a>,
    diags: &mut Diagnostics,
) -> Option<Provider> {
    let what = format!("the provider network of site `{site}`");
    let subnet = p.subnet.as_ref()?;
    overlaps(subnets, subnet, PROVIDER_SUBNET, site, diags);
    subnets.push(subnet.value, subnet.loc, site, PROVIDER_SUBNET);
    let net = subnet.value;
    let inside = |a: IpAddr| net.contains(&a) && host_address(net, a);
    let gateway = match &p.gateway {
        Some(g) if !inside(g.value) => {
            diags.push(
                Diagnostic::error(
                    g.loc,
                    format!(
                        "the gateway {} of {what} is not a host address of its subnet {net}",
                        g.value
                    ),
                )
                .with_help(format!("use an address inside {net}")),
            );
            return None;
        }
        Some(g) => g.value,
        None => net.hosts().next()?,
    };
    let range = p.range.as_ref()?;
    let (first, last) = range.value;
    if !inside(first) || !inside(last) {
        diags.push(
            Diagnostic::error(
                range.loc,
                format!("the range {first}-{last} of {what} is not inside its subnet {net}"),
            )
            .with_help(format!("use host addresses of {net}")),
        );
        return None;
    }
    if first <= gateway && gateway <= last {
        diags.push(
            Diagnostic::error(
                range.loc,
                format!("the range {first}-{last} of {what} holds its gateway {gateway}"),
            )
            .with_help("narrow the range so the gateway is outside it (Neutron would hand it out)"),
        );
    }
    let interface = match &p.interface {
        Some(i) if !crate::grammar::interface(&i.value) => {
            diags.push(
                Diagnostic::error(i.loc, format!("interface `{}` of {what} is not an interface name", i.value))
                    .with_help("use 1 to 15 letters, digits, `_`, `-` and `.`, starting with a letter (e.g. eth1)"),
            );
            return None;
        }
        Some(i) => i.value.clone(),
        None => "eth1".to_owned(),
    };
    Some(Provider {
        subnet: net,
        gateway,
        first,
        last,
        interface,
    })
}

/// No provider range holds a node's or a VIP's address: Neutron would hand it out again.
fn provider_ranges(
    raw: &RawSpec,
    addresses: &HashMap<IpAddr, (Loc, String)>,
    diags: &mut Diagnostics,
) {
    for site in &raw.sites {
        let Some(range) = site.provider.as_ref().and_then(|p| p.range.as_ref()) else {
            continue;
        };
        let (first, last) = range.value;
        let mut held: Vec<_> = addresses
            .iter()
            .filter(|(a, _)| first <= **a && **a <= last)
            .collect();
        held.sort_by_key(|(a, _)| **a);
        for (address, (loc, owner)) in held {
            diags.push(
                Diagnostic::error(range.loc, format!("the range {first}-{last} of the provider network of site `{}` holds {address}, the address of {owner}", site.name.value))
                    .with_label(Label::new(*loc, "that address"))
                    .with_help("narrow the range so it leaves out every node's and VIP's address"),
            );
        }
    }
}

/// Whether `ip` of `subnet` may be a host's: neither its network nor its broadcast address
/// (a /31 or /32 has neither).
fn host_address(subnet: ipnet::IpNet, ip: IpAddr) -> bool {
    ip != subnet.network()
        && (subnet.prefix_len() >= subnet.max_prefix_len() - 1 || ip != subnet.broadcast())
}

/// A node's disks against its role: `osd_service` (the catalog's `ceph-storage` server) needs
/// at least one, and nothing else uses them.
fn check_disks(node: &RawNode, services: &[String], osd_service: &str, diags: &mut Diagnostics) {
    let osd = services.iter().any(|s| s == osd_service);
    let name = &node.name.value;
    if let (true, true, Some(role)) = (osd, node.disks.is_empty(), &node.role) {
        diags.push(
            Diagnostic::error(
                role.loc,
                format!("node `{name}` runs {osd_service} but lists no disks"),
            )
            .with_help(format!(
                "add `disks: [vdb]` (one OSD per disk), or use a role without {osd_service}"
            )),
        );
    }
    if !osd && !services.is_empty() {
        if let Some(first) = node.disks.first() {
            diags.push(
                Diagnostic::warning(
                    first.loc,
                    format!(
                        "node `{name}` lists disks but runs no {osd_service}; they stay unused"
                    ),
                )
                .with_help(format!(
                    "remove `disks`, or use a role with {osd_service} (e.g. ComputeHCI)"
                )),
            );
        }
    }
    // One spelling per disk (`vdb` and `/dev/vdb` are one disk), and nothing but a device.
    let mut seen: HashMap<String, Loc> = HashMap::new();
    for disk in &node.disks {
        let Some(device) = crate::grammar::device(&disk.value) else {
            diags.push(
                Diagnostic::error(disk.loc, format!("disk `{}` of node `{name}` is not a device name", disk.value))
                    .with_help("name a device under /dev: `vdb`, `/dev/nvme0n1` or `disk/by-id/...` (letters, digits, `_-.:+`, no `..`)"),
            );
            continue;
        };
        if let Some(first) = seen.insert(device, disk.loc) {
            diags.push(
                Diagnostic::error(
                    disk.loc,
                    format!("disk `{}` is listed twice on node `{name}`", disk.value),
                )
                .with_label(Label::new(first, "first listed here")),
            );
        }
    }
}

const SUBNET: &str = "subnet";
const PROVIDER_SUBNET: &str = "provider subnet";

/// Reports every earlier block that `s` (a `kind` of site `site`) overlaps.
fn overlaps(
    subnets: &SubnetIndex,
    s: &Spanned<ipnet::IpNet>,
    kind: &str,
    site: &str,
    diags: &mut Diagnostics,
) {
    for (other, loc, other_site, other_kind) in subnets.overlapping(s.value) {
        diags.push(
            Diagnostic::error(
                s.loc,
                format!(
                    "{kind} {} of site `{site}` overlaps {other_kind} {other} of site `{other_site}`",
                    s.value
                ),
            )
            .with_label(Label::new(loc, format!("the other {other_kind}")))
            .with_help("give every site's network and provider network subnets of their own"),
        );
    }
}

/// The subnets of the sites seen so far, indexed so that finding those that overlap a new one
/// does not compare it with every one of thousands (two CIDR blocks overlap when one holds
/// the other's network address).
#[derive(Default)]
struct SubnetIndex<'a> {
    /// Each block, where it is written, and what it is (`subnet ... of site `a``).
    seen: Vec<(ipnet::IpNet, Loc, &'a str, &'static str)>,
    /// By the block itself (network address and prefix).
    exact: HashMap<ipnet::IpNet, Vec<usize>>,
    /// By family and network address.
    starts: std::collections::BTreeMap<(bool, u128), Vec<usize>>,
}

/// An address as (is IPv6, value), ordered within its family.
fn ordinal(addr: IpAddr) -> (bool, u128) {
    match addr {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

impl<'a> SubnetIndex<'a> {
    fn push(&mut self, net: ipnet::IpNet, loc: Loc, site: &'a str, kind: &'static str) {
        let i = self.seen.len();
        self.seen.push((net, loc, site, kind));
        self.exact.entry(net.trunc()).or_default().push(i);
        self.starts
            .entry(ordinal(net.network()))
            .or_default()
            .push(i);
    }

    /// The earlier subnets that overlap `net`, in the order they were seen.
    fn overlapping(&self, net: ipnet::IpNet) -> Vec<(ipnet::IpNet, Loc, &'a str, &'static str)> {
        let mut found: Vec<usize> = Vec::new();
        // Those that hold its network address: one block per shorter or equal prefix.
        for prefix in 0..=net.prefix_len() {
            if let Ok(holder) = ipnet::IpNet::new(net.network(), prefix) {
                found.extend(self.exact.get(&holder.trunc()).into_iter().flatten());
            }
        }
        // Those whose network address it holds.
        for (_, ids) in self
            .starts
            .range(ordinal(net.network())..=ordinal(net.broadcast()))
        {
            found.extend(ids);
        }
        found.sort_unstable();
        found.dedup();
        found.into_iter().map(|i| self.seen[i]).collect()
    }
}

#[cfg(test)]
mod subnet_tests {
    use super::*;

    #[test]
    fn overlapping_subnets_are_found_by_either_holding_the_other() {
        let net = |s: &str| s.parse::<ipnet::IpNet>().unwrap();
        let loc = Loc::default();
        let mut index = SubnetIndex::default();
        index.push(net("10.0.0.0/8"), loc, "big", SUBNET);
        index.push(net("192.168.1.0/24"), loc, "home", PROVIDER_SUBNET);
        let names = |found: Vec<(ipnet::IpNet, Loc, &str, &str)>| -> Vec<String> {
            found.into_iter().map(|(_, _, n, _)| n.to_owned()).collect()
        };
        // Held by an earlier block whose start is not the nearest below it.
        index.push(net("10.1.0.0/24"), loc, "small", SUBNET);
        assert_eq!(names(index.overlapping(net("10.2.0.0/24"))), ["big"]);
        assert_eq!(
            names(index.overlapping(net("10.1.0.128/25"))),
            ["big", "small"]
        );
        // Holding earlier blocks.
        assert_eq!(
            names(index.overlapping(net("0.0.0.0/0"))),
            ["big", "home", "small"]
        );
        assert_eq!(names(index.overlapping(net("192.168.0.0/16"))), ["home"]);
        // The same block, and none.
        assert_eq!(names(index.overlapping(net("192.168.1.0/24"))), ["home"]);
        assert!(index.overlapping(net("172.16.0.0/12")).is_empty());
        assert!(index.overlapping(net("fd00::/8")).is_empty());
    }
}
