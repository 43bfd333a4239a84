//! The `strata` binary as a user runs it: every validation rule against a bad-spec fixture
//! (diagnostic and location snapshotted), the examples validated and planned, override files,
//! and inputs that must never crash it.

use std::collections::BTreeMap;
use std::process::Command;

mod common;
use common::root;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn strata(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .current_dir(root())
        .env("STRATA_HOME", root().join("target/cli-tests-home"))
        .env_remove("STRATA_CATALOG")
        .output()
        .unwrap();
    Run {
        code: out.status.code().expect("exited, not killed by a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

const FIXTURES: &str = "crates/strata/tests/fixtures";
const EXAMPLES: [&str; 4] = ["all-in-one", "hci", "dcn", "stretch"];

fn invalid_fixtures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join(FIXTURES).join("invalid"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn every_validation_rule_has_a_located_diagnostic() {
    let warnings_only = [
        "fronts-without-vip",
        "galera-stretch-uneven",
        "quorum-even",
        "quorum-too-few",
    ];
    let names = invalid_fixtures();
    assert!(names.len() >= 20, "one fixture per rule: {names:?}");
    for name in names {
        let path = format!("{FIXTURES}/invalid/{name}.yaml");
        let run = strata(&["validate", &path]);
        let expected = if warnings_only.contains(&name.as_str()) {
            0
        } else {
            1
        };
        assert_eq!(run.code, expected, "{name}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("--> {path}:")),
            "{name}: diagnostics name file:line:col\n{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("= help:"),
            "{name}: every diagnostic says how to fix it"
        );
        insta::assert_snapshot!(format!("invalid__{name}"), run.transcript());
    }
}

#[test]
fn warnings_fail_only_when_denied() {
    let path = format!("{FIXTURES}/invalid/quorum-even.yaml");
    assert_eq!(strata(&["validate", &path]).code, 0);
    let denied = strata(&["validate", "--deny-warnings", &path]);
    assert_eq!(denied.code, 1);
    assert!(
        denied.stdout.is_empty(),
        "no 'valid' line when warnings are denied"
    );
}

#[test]
fn seed_001_layout_says_what_it_lacks() {
    let run = strata(&["validate", &format!("{FIXTURES}/seed-001.yaml")]);
    assert_eq!(run.code, 1);
    // Central has one OSD host for size-3 pools; both edges lack monitor quorum.
    assert!(run.stderr.contains("pool size 3 of cluster `central`"));
    assert!(run
        .stderr
        .contains("edge site `dcn0` has storage but only 1 node with a Ceph monitor"));
    assert!(run
        .stderr
        .contains("edge site `dcn1` has storage but only 1 node with a Ceph monitor"));
    insta::assert_snapshot!(run.transcript());
}

#[test]
fn examples_validate_without_errors() {
    for name in EXAMPLES {
        let run = strata(&["validate", &format!("examples/{name}.yaml")]);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        assert!(!run.stderr.contains("error:"), "{name}: {}", run.stderr);
        assert!(run.stdout.contains(": valid: cloud"), "{name}");
    }
    // hci is clean of warnings too; all-in-one and stretch warn about quorum, and dcn about
    // central's pools of size 2 (two OSD hosts there), on purpose.
    assert_eq!(
        strata(&["validate", "--deny-warnings", "examples/hci.yaml"]).code,
        0
    );
    let dcn = strata(&["validate", "examples/dcn.yaml"]);
    assert!(
        dcn.stderr
            .contains("pools of size 2 in cluster `central` run with min_size 1"),
        "{}",
        dcn.stderr
    );
}

#[test]
fn examples_plans_are_stable() {
    for name in EXAMPLES {
        let run = strata(&["plan", &format!("examples/{name}.yaml")]);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        insta::assert_snapshot!(format!("plan_text__{name}"), run.stdout);
    }
    let json = strata(&["plan", "--format", "json", "examples/all-in-one.yaml"]);
    insta::assert_snapshot!("plan_json__all-in-one", json.stdout);
}

#[test]
fn plan_json_has_the_documented_shape() {
    for name in EXAMPLES {
        let run = strata(&["plan", "--format", "json", &format!("examples/{name}.yaml")]);
        assert_eq!(run.code, 0);
        let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let steps = doc["steps"].as_array().unwrap();
        let mut seen = std::collections::HashSet::new();
        for s in steps {
            for key in ["id", "site", "host", "service", "action", "needs"] {
                assert!(!s[key].is_null(), "{name}: step without {key}: {s}");
            }
            for need in s["needs"].as_array().unwrap() {
                assert!(
                    seen.contains(need.as_str().unwrap()),
                    "{name}: {} needs {need}, which comes later or not at all",
                    s["id"]
                );
            }
            assert!(
                seen.insert(s["id"].as_str().unwrap().to_owned()),
                "{name}: duplicate id {}",
                s["id"]
            );
        }
        let path = doc["critical_path"].as_array().unwrap();
        assert!(!path.is_empty());
        for pair in path.windows(2) {
            let later = steps.iter().find(|s| s["id"] == pair[1]).unwrap();
            assert!(
                later["needs"].as_array().unwrap().contains(&pair[0]),
                "{name}: critical path is a chain of needs"
            );
        }
    }
}

#[test]
fn plan_dot_is_a_graphviz_digraph_with_every_edge() {
    let json: serde_json::Value =
        serde_json::from_str(&strata(&["plan", "--format", "json", "examples/dcn.yaml"]).stdout)
            .unwrap();
    let edges: usize = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["needs"].as_array().unwrap().len())
        .sum();
    let dot = strata(&["plan", "--format", "dot", "examples/dcn.yaml"]).stdout;
    assert!(dot.starts_with("digraph plan {"));
    assert!(dot.trim_end().ends_with('}'));
    assert_eq!(dot.matches(" -> ").count(), edges);
    for site in ["central", "dcn0", "dcn1"] {
        assert!(dot.contains(&format!("subgraph \"cluster_{site}\"")));
    }
}

#[test]
fn override_errors_point_into_the_override_file() {
    let over = format!("{FIXTURES}/overrides/bigger-pools.yaml");
    let run = strata(&["validate", "examples/hci.yaml", "-e", &over]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&format!("--> {over}:5:13")),
        "{}",
        run.stderr
    );
    insta::assert_snapshot!(run.transcript());
}

#[test]
fn overrides_merge_in_order_and_null_removes() {
    let drop = format!("{FIXTURES}/overrides/drop-scaleout.yaml");
    let base: serde_json::Value =
        serde_json::from_str(&strata(&["plan", "--format", "json", "examples/dcn.yaml"]).stdout)
            .unwrap();
    let run = strata(&["plan", "--format", "json", "examples/dcn.yaml", "-e", &drop]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let merged: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let hosts = |doc: &serde_json::Value| {
        doc["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(hosts(&base).contains(&"dcn0-3".to_owned()));
    assert!(!hosts(&merged).contains(&"dcn0-3".to_owned()));
    assert_eq!(
        hosts(&merged).len(),
        hosts(&base).len() - 1,
        "only that node went"
    );
    // Later files win: the size from the first override is replaced by a second one.
    let over = format!("{FIXTURES}/overrides/bigger-pools.yaml");
    let fixed = root().join("target/size-2.yaml");
    std::fs::write(&fixed, "sites: { central: { ceph: { size: 2 } } }\n").unwrap();
    assert_eq!(
        strata(&[
            "validate",
            "examples/hci.yaml",
            "-e",
            &over,
            "-e",
            fixed.to_str().unwrap()
        ])
        .code,
        0
    );
    assert_eq!(
        strata(&[
            "validate",
            "examples/hci.yaml",
            "-e",
            fixed.to_str().unwrap(),
            "-e",
            &over
        ])
        .code,
        1
    );
}

#[test]
fn broken_input_never_panics() {
    let dir = root().join("target/broken-specs");
    std::fs::create_dir_all(&dir).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", b"".to_vec()),
        ("list-root", b"- a\n- b\n".to_vec()),
        ("scalar-root", b"just text\n".to_vec()),
        ("binary", vec![0, 159, 146, 150, 255, 10]),
        (
            "deep",
            "a: ".bytes().chain("[".repeat(5000).into_bytes()).collect(),
        ),
        ("tabs", b"cloud: x\n\tsites: {}\n".to_vec()),
        ("sites-list", b"cloud: x\nsites: [a, b]\n".to_vec()),
        (
            "nodes-scalar",
            b"cloud: x\nsites:\n  a:\n    subnet: 10.0.0.0/8\n    nodes: 7\n".to_vec(),
        ),
        ("two-docs", b"cloud: x\n---\ncloud: y\n".to_vec()),
        ("alias-loop", b"a: &x [*x]\n".to_vec()),
    ];
    for (name, bytes) in cases {
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, bytes).unwrap();
        for cmd in ["validate", "plan"] {
            let run = strata(&[cmd, path.to_str().unwrap()]);
            assert!(
                run.code == 1,
                "{name} {cmd}: exit {} (a panic exits 101)\n{}",
                run.code,
                run.stderr
            );
            assert!(!run.stderr.contains("panicked"), "{name}: {}", run.stderr);
        }
    }
}

/// Input that cannot be read exits 1, like any error of the input, with its cause said
/// once; only a wrong command line exits 2.
#[test]
fn unreadable_input_is_one_clear_error_and_exit_1() {
    let dir = root().join("target/unreadable");
    std::fs::create_dir_all(&dir).unwrap();
    let utf16 = dir.join("utf16.yaml");
    std::fs::write(&utf16, b"\xff\xfec\x00l\x00").unwrap();
    let garbage = dir.join("garbage.yaml");
    std::fs::write(&garbage, b"cloud: x\n\x00\x9f\x92\x96").unwrap();
    let cases: [(Vec<&str>, &str); 5] = [
        (
            vec!["validate", "examples/nope.yaml"],
            "cannot read examples/nope.yaml: No such file or directory (os error 2)",
        ),
        (
            vec!["validate", "examples/dcn.yaml", "-e", "nope.yaml"],
            "cannot read nope.yaml",
        ),
        (
            vec!["plan", "examples"],
            "cannot read examples: Is a directory",
        ),
        (
            vec!["validate", utf16.to_str().unwrap()],
            "is not UTF-8 text (it is UTF-16",
        ),
        (
            vec!["validate", garbage.to_str().unwrap()],
            "is not UTF-8 text (byte 10 is not)",
        ),
    ];
    for (args, says) in cases {
        let run = strata(&args);
        assert_eq!(run.code, 1, "{}", run.transcript());
        assert!(run.stderr.contains(says), "{says}\n{}", run.transcript());
        let first = run.stderr.lines().next().unwrap_or_default();
        let cause = first.rsplit(": ").next().unwrap_or_default();
        assert_eq!(first.matches(cause).count(), 1, "said once: {first}");
    }
    assert_eq!(strata(&["validate"]).code, 2, "a wrong command line");
}

#[test]
fn exporting_ceph_before_a_deploy_says_to_deploy_first() {
    let run = strata(&["export", "ceph", "examples/hci.yaml"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("has not been deployed from this machine")
            && run.stderr.contains("strata deploy examples/hci.yaml"),
        "{}",
        run.stderr
    );
}

#[test]
fn checking_a_service_the_catalog_lacks_says_so_before_any_host() {
    let run = strata(&[
        "check",
        "--service",
        "nova-cmpute",
        "examples/all-in-one.yaml",
    ]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("no service `nova-cmpute` in the catalog"),
        "{}",
        run.stderr
    );
}

#[test]
fn services_come_from_a_catalog_directory_without_code() {
    let dir = root().join("target/extra-catalog/services");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("horizon.yaml"),
        "# Horizon, added at run time.\nname: horizon\nkind: api\npackages: [openstack-dashboard]\nneeds: [keystone, memcached]\nsteps:\n  - { action: configure }\n  - { action: start, after: [configure] }\n",
    )
    .unwrap();
    let spec = root().join("target/extra-catalog-spec.yaml");
    std::fs::write(
        &spec,
        std::fs::read_to_string(root().join("examples/hci.yaml"))
            .unwrap()
            .replace(
                "sites:\n",
                "roles:\n  ControllerDashboard: { extends: Controller, add: [horizon] }\nsites:\n",
            )
            .replace(
                "ctl-0: { role: Controller",
                "ctl-0: { role: ControllerDashboard",
            ),
    )
    .unwrap();
    let catalog = dir.parent().unwrap().to_str().unwrap().to_owned();
    let run = strata(&[
        "plan",
        "--format",
        "json",
        "--catalog",
        &catalog,
        spec.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let start = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "central/ctl-0/horizon:configure")
        .expect("horizon planned");
    assert!(
        start["needs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "central/ctl-0/keystone:ready"),
        "{start}"
    );
    // Without the directory the role names an unknown service.
    assert_eq!(strata(&["validate", spec.to_str().unwrap()]).code, 1);
}

/// `validate` renders every operation offline: a template error in a catalog copy is an
/// error at that template's `file:line:col`, a shell script that does not parse and Python
/// that does not compile are errors at their template, and nothing else in the examples is.
#[test]
fn validate_proves_every_operation_before_any_host() {
    let dir = root().join("target/broken-catalog");
    let _ = std::fs::remove_dir_all(&dir);
    let copy = |rel: &str, edit: &dyn Fn(String) -> String| {
        let to = dir.join("templates").join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        let text = std::fs::read_to_string(root().join("catalog/templates").join(rel)).unwrap();
        let edited = edit(text.clone());
        assert_ne!(edited, text, "{rel} edited");
        std::fs::write(to, edited).unwrap();
    };
    copy("memcached/memcached.conf.j2", &|t| {
        t.replacen("{{ host.ip }}", "{{ host.adress }}", 1)
    });
    copy("galera/bootstrap.sh.j2", &|t| {
        format!("{t}\nif true; then\n")
    });
    copy("ceph/strata-ceph.py.j2", &|t| {
        t.replacen("def quorum():", "def quorum(:", 1)
    });
    let catalog = dir.to_str().unwrap();
    let run = strata(&["validate", "--catalog", catalog, "examples/all-in-one.yaml"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    let memcached = format!("--> {catalog}/templates/memcached/memcached.conf.j2:5:");
    for expected in [
        "memcached would fail in step central/aio-0/memcached:configure",
        "`host.adress` is undefined",
        memcached.as_str(),
        "strata-galera-bootstrap: `sh -n` rejects it",
        "templates/galera/bootstrap.sh.j2:1:1",
        "/usr/local/sbin/strata-ceph: Python does not compile it",
        "templates/ceph/strata-ceph.py.j2:1:1",
    ] {
        assert!(
            run.stderr.contains(expected),
            "{expected}\n{}",
            run.transcript()
        );
    }
    for example in EXAMPLES {
        let run = strata(&["validate", &format!("examples/{example}.yaml")]);
        assert_eq!(run.code, 0, "{}", run.transcript());
    }
}

/// The configuration each example's deploy would write, rendered offline (`strata render`),
/// held as snapshots: a change to a generated file shows in review. A file written alike
/// on several hosts is held once, with the steps that write it.
#[test]
fn an_edge_with_a_vip_reaches_central_s_database_not_its_own_vip() {
    // dcn0 has a VIP fronting its APIs; its HAProxy has no database frontend (no Galera member
    // there), so its services' database URLs name a central member, as dcn1's do.
    let mut urls = std::collections::BTreeMap::new();
    for (step, text) in rendered_steps(&["render", "examples/dcn.yaml"]) {
        let site = step.split('/').next().unwrap_or_default().to_owned();
        for line in text.lines().filter(|l| l.contains("mysql+pymysql://")) {
            let at = line.split('@').nth(1).and_then(|r| r.split('/').next());
            urls.entry(site.clone())
                .or_insert_with(std::collections::BTreeSet::new)
                .insert(at.unwrap_or_default().to_owned());
        }
    }
    assert_eq!(
        urls["dcn0"].iter().collect::<Vec<_>>(),
        ["10.10.0.11:3306"],
        "{urls:?}"
    );
    assert_eq!(urls["dcn0"], urls["dcn1"], "{urls:?}");
}

#[test]
fn rendered_configuration_of_the_examples() {
    for name in EXAMPLES {
        // (file header and content) -> steps that write it, in first-seen order.
        let mut files: Vec<(String, Vec<String>)> = Vec::new();
        for (step, text) in rendered_steps(&["render", &format!("examples/{name}.yaml")]) {
            let mut current: Option<String> = None;
            for line in text.lines() {
                if let Some(block) = current.as_mut() {
                    block.push_str(line);
                    block.push('\n');
                    if line == "-- end of file" {
                        let block = current.take().unwrap();
                        match files.iter_mut().find(|(b, _)| *b == block) {
                            Some((_, steps)) => steps.push(step.clone()),
                            None => files.push((block, vec![step.clone()])),
                        }
                    }
                } else if line.starts_with("-- file ") {
                    current = Some(format!("{line}\n"));
                }
            }
        }
        assert!(!files.is_empty(), "{name} writes files");
        let text: String = files
            .iter()
            .map(|(block, steps)| format!("@@ written by {}\n{block}", steps.join(", ")))
            .collect();
        insta::assert_snapshot!(format!("rendered__{name}"), text);
    }
}

/// What `strata render` writes and runs, by step (`site/host/step`) in its order, each with
/// its text.
fn rendered_steps(args: &[&str]) -> Vec<(String, String)> {
    let run = strata(args);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    let mut steps = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in run.stdout.lines() {
        if let Some(step) = line.strip_prefix("== ") {
            steps.extend(current.take());
            current = Some((step.to_owned(), String::new()));
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    steps.extend(current);
    steps
}

/// The example's growth by a third edge site (`-e examples/dcn-add-dcn2.yaml`), offline:
/// outside dcn2 only central Glance's configuration, its dcn2 store and client files and
/// dcn2's registration are new or different. (The dcn lab test grows the cloud by dcn1 and
/// asserts the same of the steps that changed.)
#[test]
fn adding_an_edge_site_changes_only_it_and_central_glance() {
    let before: BTreeMap<String, String> = rendered_steps(&["render", "examples/dcn.yaml"])
        .into_iter()
        .collect();
    let after: BTreeMap<String, String> = rendered_steps(&[
        "render",
        "examples/dcn.yaml",
        "-e",
        "examples/dcn-add-dcn2.yaml",
    ])
    .into_iter()
    .collect();
    assert!(
        before.keys().all(|step| after.contains_key(step)),
        "no step removed"
    );
    let elsewhere: Vec<&str> = after
        .iter()
        .filter(|(step, text)| !step.starts_with("dcn2/") && before.get(*step) != Some(*text))
        .map(|(step, _)| step.as_str())
        .collect();
    let expected: Vec<String> = ["ctl-0", "ctl-1", "ctl-2"]
        .iter()
        .flat_map(|ctl| {
            let mut steps = vec![
                format!("central/{ctl}/ceph-client[dcn2]:configure"),
                format!("central/{ctl}/glance-api:configure"),
                format!("central/{ctl}/glance-api[dcn2]:add-store"),
            ];
            if *ctl == "ctl-0" {
                steps.push(format!("central/{ctl}/keystone[glance-api@dcn2]:register"));
            }
            steps
        })
        .collect();
    assert_eq!(elsewhere, expected);
    assert!(
        after
            .keys()
            .any(|step| step.starts_with("dcn2/dcn2-compute-0/")),
        "dcn2's own steps are rendered"
    );
}

/// Past 2,000 nodes validate says it did not prove the operations (the proof grows with the
/// nodes), and stays fast.
#[test]
fn a_cloud_of_thousands_of_nodes_is_validated_without_the_proof_and_says_so() {
    let mut spec = String::from(
        "cloud: big\nsites:\n  central:\n    subnet: 10.0.0.0/24\n    vip: 10.0.0.5\n    nodes:\n",
    );
    for i in 0..3 {
        spec.push_str(&format!(
            "      ctl-{i}: {{ role: Controller, ip: 10.0.0.{} }}\n",
            11 + i
        ));
        spec.push_str(&format!(
            "      hci-{i}: {{ role: ComputeHCI, ip: 10.0.0.{}, disks: [vdb], ram_gb: 64, vcpus: 16 }}\n",
            21 + i
        ));
    }
    for s in 0..101 {
        let net = format!("10.{}.{}", 100 + s / 256, s % 256);
        spec.push_str(&format!(
            "  e{s}:\n    edge_of: central\n    subnet: {net}.0/24\n    nodes:\n"
        ));
        for n in 0..20 {
            let role = if n < 3 {
                "DistributedComputeHCI"
            } else {
                "DistributedComputeHCIScaleOut"
            };
            spec.push_str(&format!("      e{s}-{n}: {{ role: {role}, ip: {net}.{}, disks: [vdb], ram_gb: 64, vcpus: 16 }}\n", 10 + n));
        }
    }
    let path = root().join("target/big-spec.yaml");
    std::fs::write(&path, spec).unwrap();
    let run = strata(&["validate", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("operations not proved: 2026 nodes is more than 2000"),
        "{}",
        run.transcript()
    );
}

/// Hostile values never reach a host: every spec value that ends up in a path, a shell word
/// or a configuration line is checked against its grammar, and each is an error at its
/// place. Two spellings of one disk are one disk.
#[test]
fn hostile_values_are_refused_at_their_place() {
    let base = std::fs::read_to_string(root().join("examples/hci.yaml")).unwrap();
    let dir = root().join("target/hostile");
    std::fs::create_dir_all(&dir).unwrap();
    let cases: [(&str, &str, &str); 7] = [
        (
            "disks: [vdb, vdc], ram_gb: 64, vcpus: 16 }\n      hci-1",
            "disks: ['../../etc/passwd', vdc], ram_gb: 64, vcpus: 16 }\n      hci-1",
            "disk `../../etc/passwd` of node `hci-0` is not a device name",
        ),
        (
            "disks: [vdb, vdc], ram_gb: 64, vcpus: 16 }\n      hci-1",
            "disks: ['vd b', vdc], ram_gb: 64, vcpus: 16 }\n      hci-1",
            "disk `vd b` of node `hci-0` is not a device name",
        ),
        (
            "disks: [vdb, vdc], ram_gb: 64, vcpus: 16 }\n      hci-1",
            "disks: [vdb, /dev/vdb], ram_gb: 64, vcpus: 16 }\n      hci-1",
            "disk `/dev/vdb` is listed twice on node `hci-0`",
        ),
        (
            "images: { pg_num: 32 }",
            "\"images; rm -rf /\": { pg_num: 32 }",
            "pool `images; rm -rf /` is not a valid name",
        ),
        (
            "region: regionOne",
            "region: \"r'1\"",
            "region `r'1` is not a valid name",
        ),
        (
            "region: regionOne",
            "region: regionOne\n    availability_zone: \"a $(id)\"",
            "availability zone `a $(id)` is not a valid name",
        ),
        (
            "cluster: ceph",
            "cluster: \"ceph/../x\"",
            "ceph cluster name `ceph/../x` is not a valid name",
        ),
    ];
    for (k, (from, to, says)) in cases.iter().enumerate() {
        assert!(base.contains(from), "{from}");
        let spec = dir.join(format!("case-{k}.yaml"));
        std::fs::write(&spec, base.replacen(from, to, 1)).unwrap();
        let run = strata(&["validate", spec.to_str().unwrap()]);
        assert_eq!(run.code, 1, "{}", run.transcript());
        assert!(run.stderr.contains(says), "{says}\n{}", run.transcript());
        assert!(
            run.stderr.contains(&format!("{}:", spec.display())),
            "located in the file: {}",
            run.stderr
        );
    }
}

/// A small deterministic generator (xorshift), so a failing case can be replayed by its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One careless or hostile edit of a spec's text.
fn mutate(text: &str, rng: &mut Rng) -> String {
    const VALUES: [&str; 20] = [
        "",
        "0",
        "-1",
        "1e309",
        "null",
        "~",
        "[",
        "{",
        "}",
        "&a",
        "*a",
        "'",
        "\"",
        ": x",
        "- x",
        "../../etc/passwd",
        "$(id)",
        "\u{0}",
        "99999999999999999999",
        "[a, [b, {c: d}]]",
    ];
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if lines.is_empty() {
        return String::new();
    }
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(lines.len());
        match rng.below(7) {
            0 => {
                lines.remove(at);
                if lines.is_empty() {
                    break;
                }
            }
            1 => {
                let line = lines[at].clone();
                lines.insert(at, line);
            }
            2 => {
                let other = rng.below(lines.len());
                lines.swap(at, other);
            }
            3 => lines[at] = format!(" {}", lines[at]),
            4 => {
                let trimmed = lines[at].trim_start().to_owned();
                lines[at] = trimmed;
            }
            _ => {
                // A value replaced: after the last `: `, or the whole line.
                let value = VALUES[rng.below(VALUES.len())];
                lines[at] = match lines[at].rfind(": ") {
                    Some(i) => format!("{}: {value}", &lines[at][..i]),
                    None => value.to_owned(),
                };
            }
        }
    }
    lines.join("\n") + "\n"
}

/// Mutated examples never panic or hang: validated and planned in this process (bounded in
/// count and time), and through the binary for a sample, which exits only 0 or 1.
#[test]
fn mutated_examples_never_panic_hang_or_exit_otherwise() {
    let started = std::time::Instant::now();
    let mut sources = strata_source::SourceMap::new();
    let mut diags = strata_source::Diagnostics::new();
    let catalog = strata_catalog::Catalog::load(&mut sources, None, &mut diags).unwrap();
    let dir = root().join("target/mutated");
    std::fs::create_dir_all(&dir).unwrap();
    let mut cases = 0;
    for (e, name) in EXAMPLES.iter().enumerate() {
        let text = std::fs::read_to_string(root().join(format!("examples/{name}.yaml"))).unwrap();
        for k in 0..300u64 {
            if started.elapsed() > std::time::Duration::from_secs(60) {
                break;
            }
            let seed = 0x9e37_79b9_7f4a_7c15 ^ ((e as u64) << 32 | k);
            let spec = mutate(&text, &mut Rng(seed.max(1)));
            let one = std::time::Instant::now();
            let outcome = std::panic::catch_unwind(|| {
                let mut sources = strata_source::SourceMap::new();
                let loaded =
                    strata_spec::load_str(&mut sources, vec![("m.yaml".into(), spec.clone())]);
                let mut diags = loaded.diagnostics;
                if let Some(raw) = loaded.spec {
                    if let Some(model) = strata_model::compile(&raw, &catalog, &mut diags) {
                        let _ = strata_plan::build(&model, &catalog);
                    }
                }
            });
            assert!(outcome.is_ok(), "{name} seed {seed:#x} panicked:\n{spec}");
            assert!(
                one.elapsed() < std::time::Duration::from_secs(5),
                "{name} seed {seed:#x} took {:?}:\n{spec}",
                one.elapsed()
            );
            if k < 10 {
                let path = dir.join(format!("{name}-{k}.yaml"));
                std::fs::write(&path, &spec).unwrap();
                let run = strata(&["validate", path.to_str().unwrap()]);
                assert!(
                    run.code == 0 || run.code == 1,
                    "{name} seed {seed:#x}: exit {}\n{}",
                    run.code,
                    run.stderr
                );
            }
            cases += 1;
        }
    }
    assert!(cases >= 400, "only {cases} cases in the time bound");
}

/// What an override's `key: null` took away is reported where it was taken away.
#[test]
fn a_key_removed_by_an_override_is_missed_at_the_override() {
    let path = root().join("target/remove-subnet.yaml");
    std::fs::write(&path, "sites:\n  central:\n    subnet: null\n").unwrap();
    let run = strata(&[
        "validate",
        "examples/all-in-one.yaml",
        "-e",
        path.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("site `central` has no `subnet`")
            && run.stderr.contains(&format!("--> {}:3:5", path.display())),
        "{}",
        run.transcript()
    );
}

/// A deploy with no lab of its cloud and no `--ssh-config` says so at once and makes
/// nothing, instead of trying the nodes' addresses until they time out.
#[test]
fn deploying_without_a_lab_or_servers_says_how_to_get_one() {
    let home = root().join("target/no-lab-home");
    let _ = std::fs::remove_dir_all(&home);
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["deploy", "examples/all-in-one.yaml"])
        .current_dir(root())
        .env("STRATA_HOME", &home)
        .env_remove("STRATA_CATALOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("`aio` has no lab on this machine: `strata lab up SPEC` makes one, or give `--ssh-config FILE`"),
        "{stderr}"
    );
    assert!(!home.join("clouds/aio/state.db").exists(), "nothing made");
}

/// What operators reach for: completions for three shells and a man page from the CLI's
/// own definition, and an Ansible inventory of a spec's hosts by site and role.
#[test]
fn completions_man_page_and_an_ansible_inventory() {
    for (shell, mark) in [
        ("bash", "_strata()"),
        ("zsh", "#compdef strata"),
        ("fish", "complete -c strata"),
    ] {
        let run = strata(&["completions", shell]);
        assert_eq!(run.code, 0, "{}", run.transcript());
        assert!(
            run.stdout.contains(mark),
            "{shell}: {}",
            &run.stdout[..200.min(run.stdout.len())]
        );
        for sub in ["validate", "deploy", "render"] {
            assert!(run.stdout.contains(sub), "{shell} completes {sub}");
        }
    }
    let man = strata(&["man"]);
    assert!(
        man.stdout.contains(".TH strata 1") && man.stdout.contains("validate"),
        "{}",
        man.stdout
    );

    let run = strata(&["export", "inventory", "examples/dcn.yaml"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let doc = strata_source::parse_yaml(strata_source::FileId(0), &run.stdout).unwrap();
    let all = doc.get("all").unwrap();
    assert_eq!(
        all.get("hosts")
            .unwrap()
            .get("dcn0-3")
            .unwrap()
            .get("ansible_host")
            .unwrap()
            .as_str(),
        Some("10.20.0.14")
    );
    let children = all.get("children").unwrap();
    let members = |group: &str| -> Vec<String> {
        children
            .get(group)
            .and_then(|g| g.get("hosts"))
            .and_then(|h| h.as_map())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, _)| k.scalar_text().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(members("site_dcn1").len(), 4, "{}", run.stdout);
    assert_eq!(members("role_Controller"), ["ctl-0", "ctl-1", "ctl-2"]);
}

/// scripts/package makes a Debian package a deployer without Rust can install: the binary
/// (which runs from it), completions for three shells, the man page and the docs.
#[test]
fn the_debian_package_holds_a_working_strata() {
    let out = root().join("target/package-test");
    let _ = std::fs::remove_dir_all(&out);
    let built = Command::new("bash")
        .args(["scripts/package", out.to_str().unwrap()])
        .current_dir(root())
        .env("STRATA_BIN", env!("CARGO_BIN_EXE_strata"))
        // A debug binary is large; compressing it well is for releases.
        .env("STRATA_DEB_COMPRESSION", "none")
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let deb = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .expect("a .deb");
    let listing = Command::new("dpkg-deb")
        .arg("-c")
        .arg(&deb)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    for path in [
        "./usr/bin/strata",
        "./usr/share/bash-completion/completions/strata",
        "./usr/share/zsh/vendor-completions/_strata",
        "./usr/share/fish/vendor_completions.d/strata.fish",
        "./usr/share/man/man1/strata.1.gz",
        "./usr/share/doc/strata/catalog.md",
    ] {
        assert!(listing.contains(path), "{path} in the package:\n{listing}");
    }
    let unpacked = out.join("root");
    assert!(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&unpacked)
        .status()
        .unwrap()
        .success());
    let run = Command::new(unpacked.join("usr/bin/strata"))
        .args(["validate", "examples/hci.yaml"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    std::fs::remove_dir_all(&out).unwrap();
}
