//! Properties of plans built from the examples: DCN's two deploy orders (seed 001) are both
//! valid walks of the graph, edges cross sites where they must and nowhere else, and the
//! stretched Keystone database is migrated once for both regions.

use std::collections::HashMap;
use std::path::Path;

use strata_catalog::Catalog;
use strata_plan::{Plan, Step};
use strata_source::{Diagnostics, SourceMap};

fn plan_of(example: &str) -> Plan {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let text = std::fs::read_to_string(root.join(format!("{example}.yaml"))).unwrap();
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let catalog = Catalog::load(&mut sources, None, &mut diags).unwrap();
    let loaded = strata_spec::load_str(&mut sources, vec![(example.to_owned(), text)]);
    diags.extend(loaded.diagnostics);
    let model = strata_model::compile(&loaded.spec.unwrap(), &catalog, &mut diags)
        .expect("example is valid");
    strata_plan::build(&model, &catalog).unwrap()
}

/// The ids of the steps a step needs, by the step's id.
fn needs_of<'p>(plan: &'p Plan) -> impl Fn(&str) -> Vec<&'p str> + 'p {
    let ids: HashMap<&str, &Step> = plan.steps.iter().map(|s| (s.id.as_str(), s)).collect();
    move |id| {
        ids[id]
            .needs
            .iter()
            .map(|&n| plan.steps[n].id.as_str())
            .collect()
    }
}

/// Checks that running the phases one after the other never runs a step before a step it
/// needs: i.e. that the phase order is a valid walk of the graph.
fn assert_phases(plan: &Plan, phase_of: impl Fn(&Step) -> usize, what: &str) {
    for step in &plan.steps {
        let mine = phase_of(step);
        for &n in &step.needs {
            let theirs = phase_of(&plan.steps[n]);
            assert!(
                theirs <= mine,
                "{what}: {} (phase {mine}) needs {} (phase {theirs})",
                step.id,
                plan.steps[n].id
            );
        }
    }
}

fn is_ceph_daemon(s: &Step) -> bool {
    matches!(&*s.service, "ceph-mon" | "ceph-mgr" | "ceph-osd")
}

#[test]
fn dcn_classic_order_is_a_walk_of_the_graph() {
    // Seed 001, usual order: deploy central, then dcn0, then dcn1, then update central's
    // Glance with the edge stores (and then put images in them).
    let plan = plan_of("dcn");
    assert_phases(
        &plan,
        |s| match (&*s.site, &*s.action) {
            ("central", "add-store") => 3,
            ("central", _) if s.qualifier.as_deref().is_some_and(|q| q.starts_with("dcn")) => 3,
            // The test guest goes to every store once central's Glance knows them all.
            ("central", "guest") => 3,
            (_, "guest") => 4,
            ("central", _) => 0,
            ("dcn0", _) => 1,
            _ => 2,
        },
        "classic order",
    );
    let updates: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| &*s.site == "central" && &*s.action == "add-store")
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(
        updates.len(),
        6,
        "3 controllers learn 2 edge stores: {updates:?}"
    );
}

#[test]
fn dcn_ceph_first_order_is_a_walk_of_the_graph() {
    // Seed 001, second order: metal everywhere, Ceph everywhere, then the central control
    // plane with every store known, then the edges.
    let plan = plan_of("dcn");
    assert_phases(
        &plan,
        |s| {
            if &*s.service == "base" {
                0
            } else if is_ceph_daemon(s) {
                1
            } else if &*s.site == "central" {
                2
            } else if &*s.site == "dcn0" {
                3
            } else {
                4
            }
        },
        "ceph-first order",
    );
}

#[test]
fn central_never_waits_for_an_edge_except_to_learn_its_store() {
    let plan = plan_of("dcn");
    for step in plan.steps.iter().filter(|s| &*s.site == "central") {
        for &n in &step.needs {
            let need = &plan.steps[n];
            if &*need.site != "central" {
                assert_eq!(&*need.action, "export", "{} waits on {}", step.id, need.id);
                assert_eq!(
                    &*step.service, "ceph-client",
                    "{} waits on {}",
                    step.id, need.id
                );
            }
        }
    }
}

#[test]
fn edges_wait_for_the_central_control_plane_and_ceph_export() {
    let plan = plan_of("dcn");
    let needs = needs_of(&plan);
    // Its configuration runs early (`early:`): its start is what waits for central's Keystone.
    assert!(needs("dcn0/dcn0-0/glance-api:start").contains(&"central/ctl-0/keystone:ready"));
    assert!(needs("dcn0/dcn0-0/ceph-client[central]:configure")
        .contains(&"central/ctl-0/ceph-mon:export"));
    assert!(
        needs("central/ctl-0/ceph-client[dcn0]:configure").contains(&"dcn0/dcn0-0/ceph-mon:export")
    );
    // The edge's own cluster needs nothing from central: it can be built in parallel.
    for step in plan
        .steps
        .iter()
        .filter(|s| &*s.site == "dcn0" && is_ceph_daemon(s))
    {
        assert!(
            step.needs.iter().all(|&n| &*plan.steps[n].site == "dcn0"),
            "{}",
            step.id
        );
    }
    // Edge APIs wait for the site's HAProxy (on every DistributedComputeHCI node and the
    // ScaleOut one, its VIP placed by the first's ready step).
    assert!(needs("dcn0/dcn0-0/glance-api:ready").contains(&"dcn0/dcn0-0/haproxy:ready"));
}

/// Glance restarts to learn a store, and a restart drops the imports it runs: the guest's
/// registration comes after central's Glance learned every edge store, and an edge's copy
/// after the restarts that concern the edge, never another edge's.
#[test]
fn guest_images_wait_for_the_glance_restarts_of_their_stores() {
    let plan = plan_of("dcn");
    let needs = needs_of(&plan);
    // On whichever controller Nova's API leads from (`leader: least-busy`).
    let guest = plan
        .steps
        .iter()
        .find(|s| &*s.service == "nova-api" && &*s.action == "guest")
        .expect("Nova's API registers the guest");
    let registration = needs(&guest.id);
    for ctl in ["ctl-0", "ctl-1", "ctl-2"] {
        for store in ["dcn0", "dcn1"] {
            let restart = format!("central/{ctl}/glance-api[{store}]:add-store");
            assert!(registration.contains(&restart.as_str()), "{registration:?}");
        }
        let restart = format!("central/{ctl}/glance-api[dcn1]:add-store");
        assert!(needs("dcn1/dcn1-compute-0/nova-compute:guest").contains(&restart.as_str()));
    }
    let copy = needs("dcn1/dcn1-compute-0/nova-compute:guest");
    assert!(copy.contains(&"dcn1/dcn1-compute-0/glance-api[central]:add-store"));
    assert!(
        copy.iter()
            .all(|n| !n.starts_with("dcn0/") && !n.contains("[dcn0]")),
        "{copy:?}"
    );
}

#[test]
fn stretched_keystone_database_is_migrated_once_for_both_regions() {
    let plan = plan_of("stretch");
    let syncs: Vec<&Step> = plan
        .steps
        .iter()
        .filter(|s| &*s.service == "keystone" && &*s.action == "db-sync")
        .collect();
    assert_eq!(
        syncs.len(),
        1,
        "{:?}",
        syncs.iter().map(|s| &s.id).collect::<Vec<_>>()
    );
    let boots: Vec<&Step> = plan
        .steps
        .iter()
        .filter(|s| &*s.service == "keystone" && &*s.action == "bootstrap")
        .collect();
    assert_eq!(boots.len(), 2, "one bootstrap (region) per site");
    for b in boots {
        assert!(
            b.needs.iter().any(|&n| plan.steps[n].id == syncs[0].id),
            "{} waits for the shared db-sync",
            b.id
        );
    }
    // One Galera cluster across both sites: west's members join east's bootstrap.
    let join = plan
        .steps
        .iter()
        .find(|s| s.id == "west/west-0/galera[stretch]:join")
        .expect("west joins the stretch cluster");
    assert!(join
        .needs
        .iter()
        .any(|&n| plan.steps[n].id == "east/east-0/galera[stretch]:bootstrap"));
}

#[test]
fn every_host_installs_its_packages_first() {
    for example in ["all-in-one", "hci", "dcn", "stretch"] {
        let plan = plan_of(example);
        for step in plan.steps.iter().filter(|s| &*s.service != "base") {
            let packages = format!("{}/{}/base:packages", step.site, step.host);
            assert!(
                step.needs.iter().any(|&n| plan.steps[n].id == packages),
                "{example}: {}",
                step.id
            );
        }
    }
}

#[test]
fn hci_tuning_reaches_the_plan() {
    let plan = plan_of("hci");
    let hci = plan
        .hosts
        .iter()
        .find(|h| h.name == "hci-0")
        .unwrap()
        .hci
        .expect("HCI host is tuned");
    assert_eq!(hci.osds, 2);
    // 64 GB, 2 OSDs: guests = floor(54 / 2.5) = 21; reserved = 1024 * (10 + 10.5).
    assert_eq!(hci.reserved_host_memory_mb, 20992);
    assert!(plan
        .hosts
        .iter()
        .find(|h| h.name == "ctl-0")
        .unwrap()
        .hci
        .is_none());
}

/// Services marked `leader: least-busy` do their once-only steps on different controllers,
/// each on a host of its own instance; the others keep their first host (Galera and
/// RabbitMQ, whose templates name that host).
#[test]
fn once_only_duties_spread_over_the_controllers() {
    let plan = plan_of("dcn");
    let central = |s: &&Step| &*s.site == "central" && s.hook.is_none();
    let once = |service: &str, action: &str| -> String {
        let found: Vec<&Step> = plan
            .steps
            .iter()
            .filter(central)
            .filter(|s| &*s.service == service && &*s.action == action)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{service}:{action} once at central: {found:?}"
        );
        found[0].host.to_string()
    };
    let leaders: std::collections::BTreeSet<String> = [
        ("nova-api", "db-sync"),
        ("neutron-server", "db-sync"),
        ("cinder-api", "db-sync"),
        ("heat", "db-sync"),
        ("placement", "db-sync"),
    ]
    .iter()
    .map(|(service, action)| once(service, action))
    .collect();
    assert!(leaders.len() >= 2, "spread over controllers: {leaders:?}");
    assert!(leaders.iter().all(|h| h.starts_with("ctl-")), "{leaders:?}");
    // A service's database step and its first steps are on one host, its leader.
    assert_eq!(once("nova-api", "db-sync"), once("nova-api", "guest"));
    assert_eq!(once("galera", "ready"), "ctl-0");
    assert_eq!(once("rabbitmq", "start"), "ctl-0");
}

/// Every step `id` comes after, through the needs of the needs.
fn upstream<'p>(plan: &'p Plan, id: &str) -> std::collections::HashSet<&'p str> {
    let index: HashMap<&str, usize> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut todo = vec![index[id]];
    while let Some(i) = todo.pop() {
        for &n in &plan.steps[i].needs {
            if seen.insert(plan.steps[n].id.as_str()) {
                todo.push(n);
            }
        }
    }
    seen
}

/// An API's configuration and database sync (`early:`) wait only for its database and its
/// messaging user, so they run while the services it needs still start; its start waits for
/// them.
#[test]
fn database_syncs_run_while_the_services_they_need_still_start() {
    let plan = plan_of("all-in-one");
    let before_sync = upstream(&plan, "central/aio-0/nova-api:db-sync");
    for need in ["keystone", "neutron-server", "placement", "glance-api"] {
        let ready = format!("central/aio-0/{need}:ready");
        assert!(!before_sync.contains(ready.as_str()), "{ready}");
        assert!(
            upstream(&plan, "central/aio-0/nova-api:start").contains(ready.as_str()),
            "{ready}"
        );
    }
    for first in ["galera:db-nova_api", "rabbitmq:user-nova"] {
        let step = format!("central/aio-0/{first}");
        assert!(before_sync.contains(step.as_str()), "{step}");
    }
}

/// Registering an API type makes its one service entity in Keystone, and two registrations
/// at once would each make one: of any two registrations of an API, one comes after the other.
#[test]
fn registrations_of_one_api_run_one_after_another() {
    let plan = plan_of("dcn");
    let mut by_api: HashMap<&str, Vec<&str>> = HashMap::new();
    for s in &plan.steps {
        if let Some(hook) = s.hook.as_ref().filter(|h| h.name == "api-registration") {
            by_api.entry(hook.subject.as_str()).or_default().push(&s.id);
        }
    }
    let glance = &by_api["glance-api"];
    assert_eq!(glance.len(), 3, "central, dcn0 and dcn1: {glance:?}");
    for steps in by_api.values() {
        for (k, a) in steps.iter().enumerate() {
            for b in &steps[k + 1..] {
                assert!(
                    upstream(&plan, a).contains(b) || upstream(&plan, b).contains(a),
                    "{a} and {b} may run at once"
                );
            }
        }
    }
}
