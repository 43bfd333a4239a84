//! Ceph on real lab hosts, as an operator runs it: the hci example (three controllers with
//! monitors and managers, three hyperconverged nodes with two bluestore OSDs each on the
//! lab's disk files) deploys and passes `strata check`; a re-deploy changes nothing; an OSD
//! host stopped makes check report degraded PGs naming the host; after a deploy brings its
//! OSDs back, check passes and the data written before is intact; the daemons come back when
//! their hosts restart. The HCI reservations of the plan are in nova-compute.conf.
//! `strata export ceph` hands the cluster over in TripleO's shape, and a site added with an
//! override file uses it as an external cluster, its key read from a keyring on the deployer.
#![cfg(feature = "lab-tests")]

use std::time::{Duration, Instant};

mod common;
use common::{
    assert_workloads, lab_home as home, ok_in_lab_home as ok, strata_in_lab_home as strata, text,
    LabGuard,
};

const LAB: &str = "hci";
const SPEC: &str = "examples/hci.yaml";
/// `strata check` of the Ceph services only: what the loops below wait on (a full check also
/// boots a server, about a minute each time).
const CEPH_CHECKS: [&str; 10] = [
    "check",
    "--service",
    "ceph-mon",
    "--service",
    "ceph-osd",
    "--service",
    "ceph-mgr",
    "--service",
    "ceph-client",
    SPEC,
];

fn on(node: &str, script: &str) -> (bool, String) {
    common::on_lab_host(LAB, node, script)
}

/// An rbd image of 4 MiB in `volumes`, through client.openstack: written from random bytes
/// (returns their digest), or read back (returns the digest of what is there).
fn rbd(node: &str, write: bool) -> String {
    let body = if write {
        "rbd.RBD().create(io, 'strata-test', 4 << 20); img = rbd.Image(io, 'strata-test'); img.write(os.urandom(4 << 20), 0)"
    } else {
        "img = rbd.Image(io, 'strata-test')"
    };
    let script = format!(
        "python3 -c \"import rados, rbd, os, hashlib; c = rados.Rados(clustername='ceph', conffile='/etc/ceph/ceph.conf', name='client.openstack'); c.connect(timeout=20); io = c.open_ioctx('volumes'); {body}; print(hashlib.sha256(img.read(0, 4 << 20)).hexdigest()); img.close(); io.close(); c.shutdown()\""
    );
    let (done, digest) = on(node, &script);
    assert!(done && digest.len() == 64, "rbd on {node}: {digest}");
    digest
}

#[test]
fn the_hci_cluster_deploys_heals_and_keeps_its_data() {
    let _lab = LabGuard::fresh(LAB);
    ok(&["lab", "up", SPEC]);
    ok(&["deploy", SPEC]);
    let check = ok(&["check", SPEC]);
    assert!(check.contains(" 0 failed"), "{check}");
    assert!(
        check.contains("ok   central/ctl-0 ceph-mon: the cluster is HEALTH_OK"),
        "{check}"
    );
    // Compute and networking: the check booted a server in the zone; every compute and
    // agent is where the spec puts it.
    assert!(
        check.contains("ok   central/ctl-0 neutron-dhcp: a server in this zone"),
        "{check}"
    );
    let computes = [("hci-0", "nova"), ("hci-1", "nova"), ("hci-2", "nova")];
    assert!(
        check.contains(
            "ok   central/ctl-0 neutron-l3: a server on this site's network, with a floating IP"
        ),
        "{check}"
    );
    let dhcp = [("ctl-0", "nova"), ("ctl-1", "nova"), ("ctl-2", "nova")];
    // One L3 agent, on the first controller (see catalog/services/neutron-l3.yaml).
    assert_workloads(LAB, "ctl-0", &computes, (&dhcp, &[("ctl-0", "nova")]), 6);
    // Internal traffic has endpoints of its own: every API's public endpoint is at the public
    // VIP, its internal and admin ones at the VIP; users' credentials name the public one.
    let (listed, endpoints) = on(
        "ctl-0",
        ". /root/openrc && openstack endpoint list -f value -c Interface -c URL",
    );
    assert!(listed, "{endpoints}");
    let endpoints: Vec<&str> = endpoints.lines().collect();
    assert_eq!(endpoints.len(), 21, "7 APIs x 3 interfaces: {endpoints:?}");
    for e in &endpoints {
        let at = if e.starts_with("public ") {
            "10.10.0.6"
        } else {
            "10.10.0.5"
        };
        assert!(
            e.contains(&format!(" http://{at}:")),
            "{e} at {at}: {endpoints:?}"
        );
    }
    let (_, openrc) = on("ctl-0", "grep OS_AUTH_URL /root/openrc || true");
    assert_eq!(openrc.trim(), "export OS_AUTH_URL=http://10.10.0.6:5000/v3");
    let (_, osds) = on("ctl-0", "ceph osd stat -f json");
    let osds: serde_json::Value = serde_json::from_str(&osds).unwrap();
    assert_eq!(
        osds["num_up_osds"], 6,
        "two OSDs on each of three hosts: {osds}"
    );
    let (_, size) = on("ctl-0", "ceph osd pool get volumes size -f json");
    assert!(size.contains("\"size\":3"), "the spec's size: {size}");
    let again = ok(&["deploy", "--json", SPEC]);
    assert!(
        again.contains("\"changed\":0"),
        "a re-deploy changes nothing: {}",
        again.lines().last().unwrap_or_default()
    );

    // The HCI reservations the plan shows are where nova-compute reads them.
    let plan = ok(&["plan", "--offline", SPEC]);
    let tuning = plan
        .lines()
        .find(|l| l.trim_start().starts_with("hci-0 "))
        .and_then(|l| l.split("hci: ").nth(1))
        .unwrap_or_else(|| panic!("the plan shows hci-0's reservations: {plan}"));
    let (_, conf) = on("hci-0", "cat /etc/nova/nova-compute.conf");
    for setting in tuning.split_whitespace() {
        let (name, value) = setting.split_once('=').unwrap();
        assert!(
            conf.contains(&format!("\n{name} = {value}\n")),
            "{name} = {value} in nova-compute.conf: {conf}"
        );
    }

    exports_and_uses_as_external();

    let written = rbd("hci-0", true);
    on("hci-2", "systemctl stop ceph-osd.target 'ceph-osd@*'");
    let start = Instant::now();
    let report = loop {
        let out = strata(&CEPH_CHECKS);
        let report = text(&out);
        // Down at once; degraded (undersized) once peering settles.
        if !out.status.success()
            && report.contains("on host hci-2 is down")
            && report.contains("undersized")
        {
            break report;
        }
        assert!(
            start.elapsed() < Duration::from_secs(150),
            "check never reported hci-2's OSDs down and PGs degraded: {report}"
        );
        std::thread::sleep(Duration::from_secs(2));
    };
    assert!(
        report.contains("PGs not active+clean"),
        "degraded PGs reported: {report}"
    );
    assert!(
        report.contains("FAIL central/hci-2 ceph-osd: every OSD of this host is up"),
        "{report}"
    );

    ok(&["deploy", SPEC]);
    let start = Instant::now();
    while !strata(&CEPH_CHECKS).status.success() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "check still fails after the OSDs came back"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    assert_eq!(
        rbd("hci-1", false),
        written,
        "the data written before is intact"
    );

    // Daemons survive a host restart: an OSD host and a controller (monitor, manager) are
    // shut down in order and booted again; no deploy, and check passes once PGs peer.
    ok(&["lab", "restart", "--lab", LAB, "hci-2"]);
    ok(&["lab", "restart", "--lab", LAB, "ctl-1"]);
    let start = Instant::now();
    loop {
        let out = strata(&CEPH_CHECKS);
        if out.status.success() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "check still fails after hci-2 and ctl-1 restarted: {}",
            text(&out)
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    assert_eq!(
        rbd("hci-2", false),
        written,
        "the data reads back after the restarts"
    );
}

/// `strata export ceph` writes the cluster's fsid, monitors and client key (mode 0600, the
/// key never printed); an edge site added by an override uses the cluster as an external one,
/// with the key read from a keyring file, and its check writes and reads an rbd image.
fn exports_and_uses_as_external() {
    use std::os::unix::fs::PermissionsExt;
    let dir = home().join("ceph-export-test");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let export = dir.join("export.yaml");
    let shown = ok(&["export", "ceph", SPEC, "-o", export.to_str().unwrap()]);
    let text = std::fs::read_to_string(&export).unwrap();
    let mode = std::fs::metadata(&export).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the export holds keys");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_else(|| panic!("no {name} in the export: {text}"))
    };
    let (fsid, key, mons) = (
        field("fsid"),
        field("key"),
        field("external_cluster_mon_ips"),
    );
    assert!(
        text.contains("CephExternalMultiConfig:") && text.contains("- cluster: ceph"),
        "{text}"
    );
    assert_eq!(on("ctl-0", "ceph fsid").1, fsid, "the cluster's own fsid");
    assert_eq!(mons, "10.10.0.11,10.10.0.12,10.10.0.13", "the monitors");
    let (_, keyring) = on("hci-0", "cat /etc/ceph/ceph.client.openstack.keyring");
    assert!(keyring.contains(&key), "the key hosts use: {keyring}");
    assert!(!shown.contains(&key), "the key is not printed: {shown}");

    let keyring_file = dir.join("client.openstack.keyring");
    std::fs::write(
        &keyring_file,
        format!("[client.openstack]\n\tkey = {key}\n"),
    )
    .unwrap();
    let far = dir.join("far.yaml");
    std::fs::write(
        &far,
        format!(
            // Central Glance keeps its one store: the borrowed cluster is its own cluster,
            // whose images pool already holds its images. A site with a compute has DHCP
            // agents of its own (validate says so).
            "roles:\n  FarCompute: {{ extends: Compute, add: [neutron-dhcp] }}\nsites:\n  central:\n    glance: {{ stores: [central] }}\n  far:\n    edge_of: central\n    subnet: 10.99.0.0/24\n    ceph:\n      cluster: borrowed\n      external: {{ fsid: {fsid}, mon_hosts: [{mons}], keyring: {}, user: openstack }}\n    nodes:\n      far-0: {{ role: FarCompute, ip: 10.99.0.11 }}\n",
            keyring_file.display()
        ),
    )
    .unwrap();
    let far = far.to_str().unwrap();
    ok(&["lab", "up", SPEC, "-e", far]);
    ok(&["deploy", SPEC, "-e", far]);
    // The client's check: the whole cloud's checks ran above, before far was added.
    let check = ok(&["check", "--service", "ceph-client", SPEC, "-e", far]);
    assert!(
        check.contains(
            "ok   far/far-0 ceph-client[borrowed]: an rbd image created, written and read back"
        ),
        "the external cluster used from far-0: {check}"
    );
    let (_, conf) = on("far-0", "cat /etc/ceph/borrowed.conf");
    assert!(conf.contains(&fsid), "{conf}");
}
