//! Ceph on real lab hosts, as an operator runs it: the hci example (three controllers with
//! monitors and managers, three hyperconverged nodes with two bluestore OSDs each on the
//! lab's disk files) deploys and passes `strata check`; a re-deploy changes nothing; an OSD
//! host stopped makes check report degraded PGs naming the host; after a deploy brings its
//! OSDs back, check passes and the data written before is intact.
#![cfg(feature = "lab-tests")]

use std::time::{Duration, Instant};

mod common;
use common::{lab_home as home, ok_in_lab_home as ok, strata_in_lab_home as strata, text};

const LAB: &str = "hci";
const SPEC: &str = "examples/hci.yaml";

fn on(node: &str, script: &str) -> (bool, String) {
    let out = strata(&["lab", "ssh", "--lab", LAB, node, script]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
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
        "python3 -c \"import rados, rbd, os, hashlib; c = rados.Rados(clustername='ceph', conffile='/etc/ceph/ceph.conf', name='client.openstack'); c.connect(timeout=20); io = c.open_ioctx('volumes'); {body}; print(hashlib.sha256(img.read(0, 4 << 20)).hexdigest()); img.close()\""
    );
    let (done, digest) = on(node, &script);
    assert!(done && digest.len() == 64, "rbd on {node}: {digest}");
    digest
}

#[test]
fn the_hci_cluster_deploys_heals_and_keeps_its_data() {
    if home().join("labs").join(LAB).exists() {
        ok(&["lab", "down", "--lab", LAB]);
    }
    let _ = std::fs::remove_dir_all(home().join("clouds").join(LAB));
    ok(&["lab", "up", SPEC]);
    ok(&["deploy", SPEC]);
    let check = ok(&["check", SPEC]);
    assert!(check.contains(" 0 failed"), "{check}");
    assert!(
        check.contains("ok   central/ctl-0 ceph-mon: the cluster is HEALTH_OK"),
        "{check}"
    );
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

    let written = rbd("hci-0", true);
    on("hci-2", "systemctl stop ceph-osd.target 'ceph-osd@*'");
    let start = Instant::now();
    let report = loop {
        let out = strata(&["check", SPEC]);
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
    while !strata(&["check", SPEC]).status.success() {
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
    ok(&["lab", "down", "--lab", LAB]);
    let _ = std::fs::remove_dir_all(home().join("clouds").join(LAB));
}
