//! What templates see: the cloud, the step, its host and site, every host, and views of what
//! the step talks to (its Galera cluster and database, the servers of the messaging, cache
//! and identity traits, the site's APIs), computed from the model and the catalog so
//! templates hold no placement logic.

use std::collections::{BTreeMap, HashMap};

use minijinja::value::Serde;
use minijinja::Value;
use serde::Serialize;
use strata_catalog::{
    project, Catalog, Database, HOOK_API_REGISTRATION, HOOK_DATABASE, HOOK_MESSAGING_USER,
    SERVES_CACHE, SERVES_CEPH_CLIENT, SERVES_DATABASE, SERVES_MESSAGING,
};
use strata_model::{GaleraId, HostId, Model, SiteId, SiteKind};

#[derive(Serialize, Clone)]
struct HostView {
    name: String,
    ip: String,
    site: String,
    role: String,
    services: Vec<String>,
    /// The address this host's APIs listen on (loopback behind a local HAProxy without VIP).
    api_bind: String,
    vcpus: Option<u32>,
    ram_gb: Option<u32>,
    /// On a hyperconverged node: Nova's reserved memory and CPU allocation ratio (the
    /// formula in strata-model's hci.rs).
    hci: Option<strata_model::HciTuning>,
}

#[derive(Serialize, Clone)]
struct Member {
    name: String,
    ip: String,
    /// Where its APIs listen (see HostView::api_bind).
    api_bind: String,
}

/// An API as clients and HAProxy see it.
#[derive(Serialize, Clone)]
struct ApiView {
    service: String,
    project: String,
    #[serde(rename = "type")]
    service_type: String,
    port: u16,
    path: String,
    /// The endpoint the cloud's services use (internal and admin): the site's API address
    /// (VIP or HAProxy host), else the first API host.
    url: String,
    /// The endpoint users use: at the site's public VIP when it has one, else `url`.
    public_url: String,
    region: String,
    hosts: Vec<Member>,
}

#[derive(Serialize)]
struct GaleraMember {
    name: String,
    ip: String,
    /// `pc.weight`: members of a stretched cluster's primary site weigh more.
    weight: u32,
}

#[derive(Serialize)]
struct GaleraView {
    name: String,
    members: Vec<GaleraMember>,
    /// The client port (3306, plus an offset when several clusters share hosts).
    port: u16,
    /// The group communication port (4567, plus the same offset).
    gcomm_port: u16,
    /// This host's weight.
    weight: u32,
}

/// A Galera cluster as a site's HAProxy fronts it: its members at that site.
#[derive(Serialize)]
struct GaleraFront {
    name: String,
    port: u16,
    members: Vec<Member>,
}

/// A service's database: where to connect and as whom (the password is `secret('db-' ~ user)`).
#[derive(Serialize, Clone)]
struct DatabaseView {
    name: String,
    user: String,
    host: String,
    port: u16,
}

#[derive(Serialize)]
struct MessagingView {
    hosts: Vec<Member>,
    /// The client port (the messaging server's `client` port).
    port: u16,
    /// The user of the step's project (or the hook's subject).
    user: String,
}

#[derive(Serialize)]
struct IdentityView {
    /// The identity endpoint the step's site uses (internal).
    url: String,
    /// Its public endpoint, for users' credentials.
    public_url: String,
    /// The region of the step's site.
    region: String,
}

#[derive(Serialize)]
struct PoolView {
    name: String,
    size: u32,
    /// Writes continue with this many copies: one less than `size`, at least 1.
    min_size: u32,
    pg_num: u32,
}

/// A Ceph cluster as its daemons and clients see it. Keys and the fsid are secrets named
/// `ceph-<name>-<what>` (templates call `secret()`), unless the cluster is external.
#[derive(Serialize)]
struct CephView {
    name: String,
    site: String,
    public_network: String,
    mons: Vec<Member>,
    mgrs: Vec<Member>,
    osd_hosts: Vec<Member>,
    osds: u32,
    pools: Vec<PoolView>,
    /// Every OSD on one host: replicas go to OSDs, not hosts (`osd crush chooseleaf type = 0`).
    single_host: bool,
    /// For an existing cluster: its fsid, monitors and client user.
    external: Option<ExternalView>,
    /// This host's disks for OSDs (names; `strata-ceph-osds` finds the device or lab file).
    disks: Vec<String>,
    /// The client OpenStack uses (`client.<client>`): `openstack`, or an external cluster's user.
    client: String,
}

#[derive(Serialize)]
struct ExternalView {
    fsid: String,
    mon_hosts: Vec<String>,
    user: String,
}

fn ceph_view(model: &Model, host: HostId, cluster: usize) -> CephView {
    let c = &model.ceph[cluster];
    let members = |ids: &[HostId]| ids.iter().map(|&h| member(model, h)).collect::<Vec<_>>();
    CephView {
        name: c.name.clone(),
        site: model.sites[c.site].name.clone(),
        public_network: model.sites[c.site].subnet.to_string(),
        mons: members(&c.mons),
        mgrs: members(&c.mgrs),
        osd_hosts: members(&c.osd_hosts),
        osds: c.osds,
        pools: c
            .pools
            .iter()
            .map(|p| PoolView {
                name: p.name.clone(),
                size: p.size,
                min_size: p.size.saturating_sub(1).max(1),
                pg_num: p.pg_num,
            })
            .collect(),
        single_host: c.osd_hosts.len() == 1,
        external: c.external.as_ref().map(|e| ExternalView {
            fsid: e.fsid.clone(),
            mon_hosts: e.mon_hosts.iter().map(|m| m.to_string()).collect(),
            user: e.user.clone(),
        }),
        client: client_user(c),
        disks: if c.osd_hosts.contains(&host) {
            model.hosts[host].disks.clone()
        } else {
            Vec::new()
        },
    }
}

/// The Ceph user OpenStack's services use on a cluster.
fn client_user(c: &strata_model::CephCluster) -> String {
    c.external
        .as_ref()
        .map(|e| e.user.clone())
        .unwrap_or_else(|| "openstack".into())
}

/// A site's Glance stores: each an RBD store named after its site, on that site's cluster.
#[derive(Serialize)]
struct GlanceView {
    default: String,
    stores: Vec<GlanceStoreView>,
}

#[derive(Serialize)]
struct GlanceStoreView {
    name: String,
    cluster: String,
    /// The pool images go to: the cluster's `images` pool, else its first.
    pool: String,
    /// The Keystone region whose Glance has this store as its default.
    region: String,
    /// The cluster's client user (`client.<user>`).
    user: String,
}

fn glance_view(model: &Model, glance: &strata_model::GlanceConfig) -> GlanceView {
    GlanceView {
        default: glance.stores[glance.default].name.clone(),
        stores: glance
            .stores
            .iter()
            .map(|s| {
                let c = &model.ceph[s.ceph];
                let pool = c
                    .pools
                    .iter()
                    .find(|p| p.name == "images")
                    .or(c.pools.first())
                    .map(|p| p.name.clone())
                    .unwrap_or_else(|| "images".into());
                GlanceStoreView {
                    name: s.name.clone(),
                    cluster: c.name.clone(),
                    pool,
                    region: model.api_region(c.site),
                    user: client_user(c),
                }
            })
            .collect(),
    }
}

/// Parts of the context that do not depend on the step, computed once per deploy.
pub(crate) struct Views {
    cloud: String,
    hosts: Value,
    /// Per site: the APIs strata deploys there.
    apis: Vec<Vec<ApiView>>,
    /// The databases of each service that has some (the catalog's trait), its own first.
    databases: HashMap<String, Vec<Database>>,
    /// The service that serves the Ceph client (its steps' qualifier names their cluster).
    ceph_client: String,
    /// The Debian packages of the test guest each service registers (the catalog's `guest:`).
    guests: HashMap<String, Vec<String>>,
    /// The named ports of the services that serve others (the catalog's `ports:`).
    database_port: u16,
    gcomm_port: u16,
    cache_port: u16,
    messaging_port: u16,
}

impl Views {
    pub(crate) fn new(model: &Model, catalog: &Catalog) -> Views {
        let hosts: Vec<HostView> = (0..model.hosts.len())
            .map(|h| host_view(model, h))
            .collect();
        let apis = (0..model.sites.len())
            .map(|site| {
                catalog
                    .services
                    .values()
                    .filter(|s| s.is_deployed())
                    .filter_map(|s| {
                        let api = s.api.as_ref()?;
                        let hosts = model.hosts_running(site, &s.name);
                        let first = *hosts.first()?;
                        let address = model.api_address(site).unwrap_or(model.hosts[first].ip);
                        let public = model.sites[site].public_vip.unwrap_or(address);
                        Some(ApiView {
                            service: s.name.clone(),
                            project: project(&s.name).to_owned(),
                            service_type: api.service_type.clone(),
                            port: api.port,
                            path: api.path.clone(),
                            url: format!("http://{address}:{}{}", api.port, api.path),
                            public_url: format!("http://{public}:{}{}", api.port, api.path),
                            region: model.api_region(site),
                            hosts: hosts.iter().map(|&h| member(model, h)).collect(),
                        })
                    })
                    .collect()
            })
            .collect();
        Views {
            cloud: model.cloud.clone(),
            hosts: Value::from(Serde(hosts)),
            apis,
            databases: by_service(catalog, |s| &s.databases),
            ceph_client: catalog.server_name(SERVES_CEPH_CLIENT).to_owned(),
            guests: by_service(catalog, |s| &s.guest),
            database_port: server_port(catalog, SERVES_DATABASE, "client"),
            gcomm_port: server_port(catalog, SERVES_DATABASE, "gcomm"),
            cache_port: server_port(catalog, SERVES_CACHE, "client"),
            messaging_port: server_port(catalog, SERVES_MESSAGING, "client"),
        }
    }

    fn api(&self, model: &Model, site: SiteId, service: &str) -> Option<&ApiView> {
        let serving = model.site_serving(site, service)?;
        self.apis[serving].iter().find(|a| a.service == service)
    }
}

/// The outputs fetched so far, as templates read them (`outputs["interface.ctl-0"]`):
/// looked up, never copied into each step's context.
#[derive(Debug, Default)]
pub(crate) struct OutputsView(pub HashMap<String, String>);

impl minijinja::value::Object for OutputsView {
    fn get_value(self: &std::sync::Arc<Self>, key: &Value) -> Option<Value> {
        self.0.get(key.as_str()?).map(|v| Value::from(v.as_str()))
    }

    fn enumerate(self: &std::sync::Arc<Self>) -> minijinja::value::Enumerator {
        let mut keys: Vec<Value> = self.0.keys().map(|k| Value::from(k.as_str())).collect();
        keys.sort();
        minijinja::value::Enumerator::Values(keys)
    }
}

/// The context of `step` on `host`.
pub(crate) fn context(
    views: &Views,
    model: &Model,
    host: HostId,
    step: &strata_plan::Step,
    outputs: &crate::render::Outputs,
) -> Value {
    let h = &model.hosts[host];
    let site_id = h.site;
    let site = &model.sites[site_id];
    // A hook's subject lives at the hook's site (an edge's API is registered in its region).
    let subject_site = step
        .hook
        .as_ref()
        .and_then(|k| model.site_by_name(&k.site))
        .unwrap_or(site_id);
    let hook = step.hook.as_ref().map(|k| k.name.as_str());
    let subject = step.hook.as_ref().map(|k| k.subject.clone());
    let galera = galera_of(model, host, step.qualifier.as_deref());
    // The step's service's databases by name (`databases.nova_api.host`); `database` is the
    // hook's subject, or the service's own (its first).
    let own: Vec<DatabaseView> = views
        .databases
        .get(&*step.service)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|db| {
            let cluster = model.database_cluster(site_id, &db.name)?;
            Some(database_view(views, model, site_id, cluster, db))
        })
        .collect();
    let database = match hook {
        Some(HOOK_DATABASE) => galera.map(|g| {
            let name = subject.as_deref().unwrap_or_default();
            let user = views
                .databases
                .values()
                .flatten()
                .find(|d| d.name == name)
                .map_or(name, |d| d.user.as_str());
            database_view(
                views,
                model,
                site_id,
                g,
                &Database {
                    name: name.to_owned(),
                    user: user.to_owned(),
                },
            )
        }),
        _ => None,
    }
    .or_else(|| own.first().cloned());
    let databases: BTreeMap<String, DatabaseView> =
        own.into_iter().map(|d| (d.name.clone(), d)).collect();
    let messaging_user = match hook {
        Some(HOOK_MESSAGING_USER) => subject.clone(),
        _ => None,
    }
    .unwrap_or_else(|| project(&step.service).to_owned());
    let servers = &model.servers;
    let messaging = model
        .site_serving(site_id, &servers.messaging)
        .map(|s| MessagingView {
            hosts: model
                .hosts_running(s, &servers.messaging)
                .into_iter()
                .map(|m| member(model, m))
                .collect(),
            port: views.messaging_port,
            user: messaging_user,
        });
    let cache: Vec<String> = model
        .site_serving(site_id, &servers.cache)
        .map(|s| {
            model
                .hosts_running(s, &servers.cache)
                .into_iter()
                .map(|m| format!("{}:{}", model.hosts[m].ip, views.cache_port))
                .collect()
        })
        .unwrap_or_default();
    let identity = views
        .api(model, site_id, &servers.identity)
        .map(|k| IdentityView {
            url: k.url.clone(),
            public_url: k.public_url.clone(),
            region: site.region.clone(),
        });
    // Every deployed API as this site reaches it (its own, else its central site's), by
    // service: `endpoints.placement.url`.
    let endpoints: BTreeMap<&str, &ApiView> = views
        .apis
        .iter()
        .flatten()
        .filter_map(|a| Some((a.service.as_str(), views.api(model, site_id, &a.service)?)))
        .collect();
    let api = match hook {
        Some(HOOK_API_REGISTRATION) => subject
            .as_deref()
            .and_then(|s| views.apis[subject_site].iter().find(|a| a.service == s)),
        _ => None,
    };
    let fronts: Vec<GaleraFront> = model
        .galera
        .iter()
        .map(|c| GaleraFront {
            name: c.name.clone(),
            port: views.database_port + c.port_offset,
            members: c
                .members
                .iter()
                .filter(|&&m| model.hosts[m].site == site_id)
                .map(|&m| member(model, m))
                .collect(),
        })
        .filter(|f| !f.members.is_empty())
        .collect();
    // Every service of the site and the hosts that run it (`site.running.haproxy`).
    let mut running: std::collections::BTreeMap<&str, Vec<Member>> = Default::default();
    for &m in &site.hosts {
        for s in model.hosts[m].services.iter() {
            running.entry(s).or_default().push(member(model, m));
        }
    }
    // The Ceph cluster of the step: a client's names it (its qualifier), a daemon's is its site's.
    let ceph = if *step.service == *views.ceph_client {
        step.qualifier
            .as_deref()
            .and_then(|q| model.ceph.iter().position(|c| c.name == q))
    } else {
        site.ceph
    }
    .map(|c| ceph_view(model, host, c));
    minijinja::context! {
        cloud => views.cloud.clone(),
        host => Value::from(Serde(host_view(model, host))),
        site => minijinja::context! {
            name => site.name.clone(),
            region => site.region.clone(),
            availability_zone => site.availability_zone.clone(),
            vip => site.vip.map(|v| v.to_string()),
            public_vip => site.public_vip.map(|v| v.to_string()),
            api_address => model.api_address(site_id).map(|a| a.to_string()),
            kind => if site.kind == SiteKind::Edge { "edge" } else { "central" },
            // The sites whose control plane this one is (a central site's edges).
            edges => model
                .sites
                .iter()
                .enumerate()
                .filter(|&(id, s)| id != site_id && s.control_plane == site_id)
                .map(|(_, s)| s.name.clone())
                .collect::<Vec<_>>(),
            prefix => site.subnet.prefix_len(),
            // A VRRP router id per site, stable across runs (sites of one subnet differ).
            vrid => 1 + (stable_hash(&site.name) % 254),
            // The site's flat provider network (Neutron's physical network of the site's name).
            provider => site.provider.as_ref().map(|p| minijinja::context! {
                subnet => p.subnet.to_string(),
                gateway => p.gateway.to_string(),
                first => p.first.to_string(),
                last => p.last.to_string(),
                interface => p.interface.clone(),
            }),
            running => Value::from(Serde(running)),
            apis => Value::from(Serde(views.apis[site_id].clone())),
            galera => Value::from(Serde(fronts)),
        },
        step => minijinja::context! {
            service => step.service.clone(),
            action => step.action.clone(),
            qualifier => step.qualifier.clone(),
            // The packages its service's test guest is built from, where it has one.
            guest => views.guests.get(&*step.service).cloned().unwrap_or_default(),
        },
        hosts => views.hosts.clone(),
        outputs => Value::from_dyn_object(outputs.clone()),
        galera => galera.map(|g| Value::from(Serde(galera_view(views, model, host, g)))),
        database => database.map(|d| Value::from(Serde(d))),
        databases => Value::from(Serde(databases)),
        messaging => messaging.map(|r| Value::from(Serde(r))),
        cache => cache,
        identity => identity.map(|k| Value::from(Serde(k))),
        endpoints => Value::from(Serde(endpoints)),
        subject => subject,
        api => api.map(|a| Value::from(Serde(a.clone()))),
        ceph => ceph.map(|c| Value::from(Serde(c))),
        glance => site.glance.as_ref().map(|g| Value::from(Serde(glance_view(model, g)))),
    }
}

fn database_view(
    views: &Views,
    model: &Model,
    site: SiteId,
    cluster: GaleraId,
    db: &Database,
) -> DatabaseView {
    let c = &model.galera[cluster];
    let local: Vec<HostId> = c
        .members
        .iter()
        .copied()
        .filter(|&m| model.hosts[m].site == site)
        .collect();
    // The site's HAProxy fronts a cluster only where it has members (an edge's VIP fronts its
    // own APIs, not central's database).
    let fronted = !local.is_empty()
        && model.sites[site].vip.is_some()
        && !model
            .hosts_running(site, &model.servers.api_front)
            .is_empty();
    let host = match (fronted, local.first().or(c.members.first())) {
        (true, _) => model.sites[site]
            .vip
            .map(|v| v.to_string())
            .unwrap_or_default(),
        (false, Some(&m)) => model.hosts[m].ip.to_string(),
        (false, None) => String::new(),
    };
    DatabaseView {
        name: db.name.clone(),
        user: db.user.clone(),
        host,
        port: views.database_port + c.port_offset,
    }
}

/// The Galera cluster a step of `host` is about: the named one its qualifier names, else the
/// host's site's own.
fn galera_of(model: &Model, host: HostId, qualifier: Option<&str>) -> Option<GaleraId> {
    model.galera.iter().position(|g| {
        g.members.contains(&host)
            && if g.named {
                qualifier == Some(g.name.as_str())
            } else {
                qualifier.is_none()
            }
    })
}

fn galera_view(views: &Views, model: &Model, host: HostId, cluster: GaleraId) -> GaleraView {
    let cluster = &model.galera[cluster];
    let members: Vec<GaleraMember> = cluster
        .members
        .iter()
        .zip(&cluster.weights)
        .map(|(&m, &w)| GaleraMember {
            name: model.hosts[m].name.clone(),
            ip: model.hosts[m].ip.to_string(),
            weight: w,
        })
        .collect();
    let weight = cluster
        .members
        .iter()
        .position(|&m| m == host)
        .map(|i| cluster.weights[i])
        .unwrap_or(1);
    GaleraView {
        name: cluster.name.clone(),
        members,
        port: views.database_port + cluster.port_offset,
        gcomm_port: views.gcomm_port + cluster.port_offset,
        weight,
    }
}

/// Each service's list `of` it (databases, guest packages), by name, where it has one.
fn by_service<T: Clone>(
    catalog: &Catalog,
    of: impl Fn(&strata_catalog::Service) -> &Vec<T>,
) -> HashMap<String, Vec<T>> {
    catalog
        .services
        .values()
        .filter(|s| !of(s).is_empty())
        .map(|s| (s.name.clone(), of(s).clone()))
        .collect()
}

/// The port called `name` of the service that serves `what` (0 when it names none: the
/// catalog's check refuses that).
fn server_port(catalog: &Catalog, what: &str, name: &str) -> u16 {
    catalog
        .server_of(what)
        .and_then(|s| s.port(name))
        .unwrap_or_default()
}

fn member(model: &Model, h: HostId) -> Member {
    Member {
        name: model.hosts[h].name.clone(),
        ip: model.hosts[h].ip.to_string(),
        api_bind: model.api_bind(h).to_string(),
    }
}

fn host_view(model: &Model, host: HostId) -> HostView {
    let h = &model.hosts[host];
    HostView {
        name: h.name.clone(),
        ip: h.ip.to_string(),
        site: model.sites[h.site].name.clone(),
        role: h.role.clone(),
        services: h.services.to_vec(),
        api_bind: model.api_bind(host).to_string(),
        vcpus: h.vcpus,
        ram_gb: h.ram_gb,
        hci: h.hci,
    }
}

/// FNV-1a: a small stable hash (the standard library's is randomized per process).
fn stable_hash(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Every region with APIs and the (public) identity endpoint that serves it, in site order:
/// a central site's region, and an edge site's own region (its APIs, served by its central
/// site's Keystone).
pub(crate) fn identity_endpoints(model: &Model, catalog: &Catalog) -> Vec<(String, String)> {
    let views = Views::new(model, catalog);
    let mut out: Vec<(String, String)> = Vec::new();
    for id in 0..model.sites.len() {
        let Some(identity) = views.api(model, id, &model.servers.identity) else {
            continue;
        };
        let region = model.api_region(id);
        let own = views.apis[id]
            .iter()
            .any(|a| a.service == model.servers.identity);
        if (own || !views.apis[id].is_empty()) && !out.iter().any(|(r, _)| *r == region) {
            out.push((region, identity.public_url.clone()));
        }
    }
    out
}
