//! From the YAML tree to raw spec types. Every problem (unknown field, wrong type, bad
//! address) becomes a diagnostic at the value's location and decoding goes on, so one run
//! reports everything that is wrong with a file.

use std::net::IpAddr;

use ipnet::IpNet;
use strata_source::read::{float, named_entries, string, string_list, type_error, uint, MapReader};
use strata_source::{Diagnostic, Diagnostics, Node};

use crate::raw::*;

pub(crate) fn ip(
    node: Option<&Node>,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<Spanned<IpAddr>> {
    let node = node?;
    match node.scalar_text().map(str::parse::<IpAddr>) {
        Some(Ok(addr)) => Some(Spanned::new(addr, node.loc)),
        _ => {
            diags.push(
                Diagnostic::error(
                    node.loc,
                    format!(
                        "{what} `{}` is not an IP address",
                        node.scalar_text().unwrap_or("?")
                    ),
                )
                .with_help("write an address such as 10.10.0.11 (no prefix length)"),
            );
            None
        }
    }
}

pub(crate) fn subnet(
    node: Option<&Node>,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<Spanned<IpNet>> {
    let node = node?;
    match node.scalar_text().map(str::parse::<IpNet>) {
        Some(Ok(net)) if net.trunc() == net => Some(Spanned::new(net, node.loc)),
        Some(Ok(net)) => {
            diags.push(
                Diagnostic::error(node.loc, format!("{what} `{net}` has host bits set"))
                    .with_help(format!("did you mean `{}`?", net.trunc())),
            );
            None
        }
        _ => {
            diags.push(
                Diagnostic::error(
                    node.loc,
                    format!(
                        "{what} `{}` is not a subnet",
                        node.scalar_text().unwrap_or("?")
                    ),
                )
                .with_help("write a subnet in CIDR form, such as 10.10.0.0/24"),
            );
            None
        }
    }
}

/// Decodes a whole (merged) spec document.
pub fn decode_spec(root: &Node, diags: &mut Diagnostics) -> RawSpec {
    let top = MapReader::new(
        root,
        "the spec",
        &["cloud", "release", "defaults", "sites", "roles", "galera"],
        diags,
    );
    let mut spec = RawSpec {
        loc: root.loc,
        cloud: string(
            top.require(
                "cloud",
                "the spec",
                "add `cloud: <name>` at the top of the spec",
                diags,
            ),
            "`cloud`",
            diags,
        ),
        release: string(top.get("release"), "`release`", diags),
        ..RawSpec::default()
    };
    if let Some(defaults) = top.get("defaults") {
        let d = MapReader::new(defaults, "`defaults`", &["ceph", "wan", "hci"], diags);
        if let Some(ceph) = d.get("ceph") {
            let c = MapReader::new(ceph, "`defaults.ceph`", &["size", "pg_num", "pools"], diags);
            spec.defaults.ceph = ceph_settings(&c, diags);
        }
        spec.defaults.wan_latency_ms = wan(d.get("wan"), "`defaults.wan`", diags);
        if let Some(hci) = d.get("hci") {
            let h = MapReader::new(
                hci,
                "`defaults.hci`",
                &["avg_guest_memory_gb", "avg_guest_cpu_util"],
                diags,
            );
            spec.defaults.hci = RawHci {
                avg_guest_memory_gb: float(
                    h.get("avg_guest_memory_gb"),
                    "`avg_guest_memory_gb`",
                    diags,
                ),
                avg_guest_cpu_util: float(
                    h.get("avg_guest_cpu_util"),
                    "`avg_guest_cpu_util`",
                    diags,
                ),
            };
        }
    }
    for (name, node) in named_entries(top.get("sites"), "`sites`", diags) {
        spec.sites.push(site(name, node, diags));
    }
    for (name, node) in named_entries(top.get("roles"), "`roles`", diags) {
        let what = format!("role `{}`", name.value);
        let r = MapReader::new(
            node,
            &what,
            &["extends", "services", "add", "remove"],
            diags,
        );
        spec.roles.push(RawRole {
            loc: node.loc,
            extends: string(r.get("extends"), "`extends`", diags),
            services: string_list(r.get("services"), "`services`", diags).map(|l| l.value),
            add: string_list(r.get("add"), "`add`", diags)
                .map(|l| l.value)
                .unwrap_or_default(),
            remove: string_list(r.get("remove"), "`remove`", diags)
                .map(|l| l.value)
                .unwrap_or_default(),
            name,
        });
    }
    for (name, node) in named_entries(top.get("galera"), "`galera`", diags) {
        let what = format!("galera cluster `{}`", name.value);
        let g = MapReader::new(node, &what, &["sites", "primary", "databases"], diags);
        spec.galera.push(RawGalera {
            loc: node.loc,
            sites: string_list(g.get("sites"), "`sites`", diags)
                .map(|l| l.value)
                .unwrap_or_default(),
            primary: string(g.get("primary"), "`primary`", diags),
            databases: string_list(g.get("databases"), "`databases`", diags)
                .map(|l| l.value)
                .unwrap_or_default(),
            name,
        });
    }
    spec
}

fn wan(node: Option<&Node>, what: &str, diags: &mut Diagnostics) -> Option<Spanned<u32>> {
    let w = MapReader::new(node?, what, &["latency_ms"], diags);
    uint(w.get("latency_ms"), "`latency_ms`", 10_000, diags)
}

fn ceph_settings(c: &MapReader, diags: &mut Diagnostics) -> RawCephSettings {
    RawCephSettings {
        size: uint(c.get("size"), "`size`", 10, diags),
        pg_num: uint(c.get("pg_num"), "`pg_num`", 32768, diags),
        pools: c.get("pools").and_then(|p| pools(p, diags)),
    }
}

/// `pools: [images, vms]` (defaults for each) or `pools: { images: { pg_num: 64 } }`.
fn pools(node: &Node, diags: &mut Diagnostics) -> Option<Spanned<Vec<RawPool>>> {
    let plain = |name: Spanned<String>| RawPool {
        name,
        size: None,
        pg_num: None,
        target_size_ratio: None,
    };
    if let Some(items) = node.as_seq() {
        let list = items
            .iter()
            .filter_map(|i| string(Some(i), "a pool name", diags))
            .map(plain)
            .collect();
        return Some(Spanned::new(list, node.loc));
    }
    if node.as_map().is_none() {
        type_error(
            node,
            "`pools`",
            "a list of pool names or a map of pool settings",
            diags,
        );
        return None;
    }
    let mut list = Vec::new();
    for (name, settings) in named_entries(Some(node), "`pools`", diags) {
        let what = format!("pool `{}`", name.value);
        let p = MapReader::new(
            settings,
            &what,
            &["size", "pg_num", "target_size_ratio"],
            diags,
        );
        list.push(RawPool {
            size: uint(p.get("size"), "`size`", 10, diags),
            pg_num: uint(p.get("pg_num"), "`pg_num`", 32768, diags),
            target_size_ratio: float(p.get("target_size_ratio"), "`target_size_ratio`", diags),
            name,
        });
    }
    Some(Spanned::new(list, node.loc))
}

fn site(name: Spanned<String>, node: &Node, diags: &mut Diagnostics) -> RawSite {
    let what = format!("site `{}`", name.value);
    let s = MapReader::new(
        node,
        &what,
        &[
            "edge_of",
            "subnet",
            "vip",
            "public_vip",
            "region",
            "availability_zone",
            "wan",
            "ceph",
            "glance",
            "provider",
            "nodes",
        ],
        diags,
    );
    let ceph = s.get("ceph").map(|c| {
        let cr = MapReader::new(
            c,
            &format!("the ceph block of {what}"),
            &["cluster", "size", "pg_num", "pools", "external"],
            diags,
        );
        RawSiteCeph {
            loc: c.loc,
            cluster: string(cr.get("cluster"), "`cluster`", diags),
            settings: ceph_settings(&cr, diags),
            external: cr.get("external").map(|e| {
                let er = MapReader::new(
                    e,
                    "`external`",
                    &["fsid", "mon_hosts", "keyring", "user"],
                    diags,
                );
                let mon_hosts = match er.get("mon_hosts") {
                    Some(m) => match m.as_seq() {
                        Some(items) => items
                            .iter()
                            .filter_map(|i| ip(Some(i), "a monitor address", diags))
                            .collect(),
                        None => {
                            type_error(m, "`mon_hosts`", "a list of IP addresses", diags);
                            Vec::new()
                        }
                    },
                    None => Vec::new(),
                };
                RawExternalCeph {
                    loc: e.loc,
                    fsid: string(er.get("fsid"), "`fsid`", diags),
                    mon_hosts,
                    keyring: string(er.get("keyring"), "`keyring`", diags),
                    user: string(er.get("user"), "`user`", diags),
                }
            }),
        }
    });
    let glance = s.get("glance").map(|g| {
        let gr = MapReader::new(
            g,
            &format!("the glance block of {what}"),
            &["stores", "default"],
            diags,
        );
        RawGlance {
            loc: g.loc,
            stores: string_list(gr.get("stores"), "`stores`", diags),
            default: string(gr.get("default"), "`default`", diags),
        }
    });
    let provider = s.get("provider").map(|p| provider(p, &what, diags));
    let nodes = named_entries(s.get("nodes"), "`nodes`", diags)
        .into_iter()
        .map(|(n, node)| host(n, node, diags))
        .collect();
    RawSite {
        loc: node.loc,
        edge_of: string(s.get("edge_of"), "`edge_of`", diags),
        subnet: subnet(
            s.require(
                "subnet",
                &what,
                "add `subnet: <cidr>` (its nodes' addresses must be in it)",
                diags,
            ),
            &format!("the subnet of {what}"),
            diags,
        ),
        vip: ip(s.get("vip"), &format!("the vip of {what}"), diags),
        public_vip: ip(
            s.get("public_vip"),
            &format!("the public_vip of {what}"),
            diags,
        ),
        region: string(s.get("region"), "`region`", diags),
        availability_zone: string(s.get("availability_zone"), "`availability_zone`", diags),
        wan_latency_ms: wan(s.get("wan"), "`wan`", diags),
        ceph,
        glance,
        provider,
        nodes,
        name,
    }
}

fn provider(node: &Node, site: &str, diags: &mut Diagnostics) -> RawProvider {
    let what = format!("the provider network of {site}");
    let p = MapReader::new(
        node,
        &what,
        &["subnet", "gateway", "range", "interface"],
        diags,
    );
    RawProvider {
        loc: node.loc,
        subnet: subnet(
            p.require(
                "subnet",
                &what,
                "add `subnet: <cidr>`, the provider network's own (not the site's)",
                diags,
            ),
            &format!("the subnet of {what}"),
            diags,
        ),
        gateway: ip(p.get("gateway"), &format!("the gateway of {what}"), diags),
        range: p
            .require(
                "range",
                &what,
                "add `range: <first>-<last>`, the addresses Neutron may hand out",
                diags,
            )
            .and_then(|r| address_range(r, &what, diags)),
        interface: string(p.get("interface"), "`interface`", diags),
    }
}

/// `first-last`: two addresses of one family, the first not after the last.
fn address_range(
    node: &Node,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<Spanned<(IpAddr, IpAddr)>> {
    let text = node.scalar_text().unwrap_or("?");
    let parsed = text.split_once('-').and_then(|(a, b)| {
        Some((
            a.trim().parse::<IpAddr>().ok()?,
            b.trim().parse::<IpAddr>().ok()?,
        ))
    });
    match parsed {
        Some((a, b)) if a.is_ipv4() == b.is_ipv4() && a <= b => {
            Some(Spanned::new((a, b), node.loc))
        }
        Some((a, b)) => {
            diags.push(
                Diagnostic::error(
                    node.loc,
                    format!("the range of {what} `{text}` runs from {a} back to {b}"),
                )
                .with_help("write the lower address first, both of one family"),
            );
            None
        }
        None => {
            diags.push(
                Diagnostic::error(
                    node.loc,
                    format!("the range of {what} `{text}` is not two addresses joined by `-`"),
                )
                .with_help("write it as `192.168.10.100-192.168.10.199`"),
            );
            None
        }
    }
}

fn host(name: Spanned<String>, node: &Node, diags: &mut Diagnostics) -> RawNode {
    let what = format!("node `{}`", name.value);
    let n = MapReader::new(
        node,
        &what,
        &["role", "ip", "disks", "osd_type", "ram_gb", "vcpus", "bmc"],
        diags,
    );
    let osd_type = string(n.get("osd_type"), "`osd_type`", diags).and_then(|t| {
        let kind = match t.value.as_str() {
            "hdd" => OsdType::Hdd,
            "ssd" => OsdType::Ssd,
            "nvme" => OsdType::Nvme,
            other => {
                diags.push(
                    Diagnostic::error(t.loc, format!("unknown osd_type `{other}` in {what}"))
                        .with_help("use hdd, ssd or nvme"),
                );
                return None;
            }
        };
        Some(Spanned::new(kind, t.loc))
    });
    RawNode {
        loc: node.loc,
        role: string(
            n.require(
                "role",
                &what,
                "add `role: <role>`, e.g. Controller, Compute or ComputeHCI",
                diags,
            ),
            "`role`",
            diags,
        ),
        ip: ip(
            n.require(
                "ip",
                &what,
                "add `ip: <address in the site's subnet>`",
                diags,
            ),
            &format!("the ip of {what}"),
            diags,
        ),
        disks: string_list(n.get("disks"), "`disks`", diags)
            .map(|l| l.value)
            .unwrap_or_default(),
        osd_type,
        ram_gb: uint(n.get("ram_gb"), "`ram_gb`", 1 << 20, diags),
        vcpus: uint(n.get("vcpus"), "`vcpus`", 1 << 16, diags),
        bmc: ip(n.get("bmc"), "`bmc`", diags),
        name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_source::read::closest;
    use strata_source::{parse_yaml, FileId};

    fn decode(text: &str) -> (RawSpec, Diagnostics) {
        let mut diags = Diagnostics::new();
        let root = parse_yaml(FileId(0), text).unwrap();
        let spec = decode_spec(&root, &mut diags);
        (spec, diags)
    }

    #[test]
    fn every_unknown_field_is_reported_with_a_suggestion() {
        // `subnett` also leaves the site without its required subnet; that is reported too.
        let (_, diags) = decode("cloud: x\nsites:\n  a:\n    subnett: 10.0.0.0/24\n    nodes:\n      n1: { role: Compute, dsks: [vdb] }\n");
        let msgs: Vec<_> = diags
            .iter()
            .map(|d| (d.message.clone(), d.help.clone().unwrap_or_default()))
            .collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert!(msgs[3].0.contains("site `a` has no `subnet`"));
        assert!(msgs[0].0.contains("unknown field `subnett` in site `a`"));
        assert!(msgs[0].1.contains("did you mean `subnet`"));
        assert!(msgs[1].0.contains("unknown field `dsks` in node `n1`"));
        assert!(msgs[1].1.contains("did you mean `disks`"));
    }

    #[test]
    fn wrong_types_and_bad_addresses_are_all_reported() {
        let (spec, diags) = decode("cloud: x\nsites:\n  a:\n    subnet: 10.0.0.1/24\n    nodes:\n      n1: { role: Compute, ip: 10.0.0.300, ram_gb: lots, disks: vdb }\n");
        assert_eq!(diags.iter().count(), 4, "{:?}", diags);
        assert!(spec.sites[0].subnet.is_none());
        assert!(
            !diags.iter().any(|d| d.message.contains("has no")),
            "a malformed value is not also reported missing"
        );
    }

    #[test]
    fn pools_as_list_or_map() {
        let (spec, diags) = decode("cloud: x\ndefaults:\n  ceph:\n    pools: [images, vms]\nsites:\n  a:\n    subnet: 10.0.0.0/24\n    ceph:\n      pools: { images: { pg_num: 64 } }\n");
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(spec.defaults.ceph.pools.unwrap().value.len(), 2);
        let site_pools = spec.sites[0]
            .ceph
            .as_ref()
            .unwrap()
            .settings
            .pools
            .as_ref()
            .unwrap();
        assert_eq!(site_pools.value[0].pg_num.as_ref().unwrap().value, 64);
    }

    #[test]
    fn closest_finds_typos_only() {
        assert_eq!(
            closest("Controler", ["Controller", "Compute"].into_iter()),
            Some("Controller")
        );
        assert_eq!(
            closest("banana", ["Controller", "Compute"].into_iter()),
            None
        );
    }
}
