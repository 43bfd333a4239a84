//! The control plane on real lab hosts, run as an operator runs it: `strata deploy` then
//! `strata check` for the all-in-one and the stretched examples. A re-deploy changes nothing;
//! a user made through one region's Keystone is seen through the other's, and a token of one
//! is valid at the other; cutting the link between the sites leaves the primary site serving
//! and stops the other, as `validate` warns, and after the link is back no row is lost. No
//! program the all-in-one's deploys and checks start carries a secret on its command line.
#![cfg(feature = "lab-tests")]

use std::sync::Mutex;
use std::time::{Duration, Instant};

mod common;
use common::{
    assert_workloads, cloud_secrets, execs_with_a_secret, headless_chromium, http_get,
    lab_home as home, ok_in_lab_home as ok, on_lab_host, root, strata_in_lab_home as strata, text,
    ExecRecorder, LabGuard,
};

static SERIAL: Mutex<()> = Mutex::new(());

/// Polls `what` until it holds, for at most `limit`.
fn eventually(limit: Duration, what: &str, mut holds: impl FnMut() -> bool) {
    let start = Instant::now();
    while !holds() {
        assert!(
            start.elapsed() < limit,
            "still not true after {limit:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// The lab of `spec` from nothing; it goes down when the returned guard drops.
fn fresh(lab: &str, spec: &str) -> LabGuard {
    let guard = LabGuard::fresh(lab);
    ok(&["lab", "up", spec]);
    guard
}

/// Deploys from nothing, checks, and re-deploys: the re-run changes nothing. Returns the
/// checks' results (`check --json`), every one of them passed.
fn deploy_and_check(spec: &str) -> Vec<serde_json::Value> {
    ok(&["deploy", spec]);
    let check: Vec<serde_json::Value> = ok(&["check", "--json", spec])
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        !check.is_empty() && check.iter().all(|r| r["passed"] == true),
        "every check passes: {check:#?}"
    );
    let again = ok(&["deploy", "--json", spec]);
    let report = again
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "report")
        .expect("a report");
    assert_eq!(
        report["report"]["changed"], 0,
        "a re-deploy changes nothing"
    );
    check
}

/// The first deploy with its page served (`--web`), watched in Debian's headless Chromium
/// while it runs: the page draws every step of the plan and colours those that settled; a
/// step opened by its link shows its operations with secrets masked and its log lines. A
/// screenshot is kept in target/lab-tests-logs/web/.
fn deploy_watching_its_page(lab: &str, spec: &str) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let kept = root().join("target/lab-tests-logs/web");
    std::fs::create_dir_all(&kept).unwrap();
    let said = std::fs::File::create(kept.join(format!("{lab}-deploy.out"))).unwrap();
    let mut deploy = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["deploy", "--web", &addr, spec])
        .current_dir(root())
        .env("STRATA_HOME", home())
        .env_remove("STRATA_CATALOG")
        .stdout(said.try_clone().unwrap())
        .stderr(said)
        .spawn()
        .unwrap();
    let step = format!("central/{lab}-0/keystone:configure");
    eventually(
        Duration::from_secs(300),
        "keystone configured, on the page",
        || {
            http_get(&addr, "/events?from=0").is_some_and(|body| {
                let events: serde_json::Value = serde_json::from_str(&body).unwrap();
                events["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["step"] == step.as_str() && e["event"] == "done")
            })
        },
    );
    let plan: serde_json::Value =
        serde_json::from_str(&http_get(&addr, "/plan").expect("the plan")).unwrap();
    let steps = plan["steps"].as_array().unwrap().len();
    let url = format!("http://{addr}/#step={step}");
    let dom = headless_chromium(&["--virtual-time-budget=5000", "--dump-dom"], &url);
    assert_eq!(dom.matches(" data-id=").count(), steps, "every step drawn");
    assert!(
        dom.contains("site central") && dom.contains("data-state=\"changed\""),
        "steps coloured as they settle: {dom}"
    );
    assert!(
        dom.contains("operations (secrets masked)")
            && dom.contains("/etc/keystone/keystone.conf")
            && dom.contains(&format!("its lines in {lab}-0.log")),
        "the step's details: {dom}"
    );
    let (_, password) = on_lab_host(
        lab,
        &format!("{lab}-0"),
        "sed -n 's|^connection = [^:]*://keystone:\\([^@]*\\)@.*|\\1|p' /etc/keystone/keystone.conf",
    );
    assert_eq!(
        password.len(),
        32,
        "keystone's database password: {password:?}"
    );
    assert!(!dom.contains(&password), "a secret on the page");
    let shot = kept.join(format!("{lab}-deploy.png"));
    headless_chromium(
        &[
            "--virtual-time-budget=5000",
            "--window-size=1400,1600",
            &format!("--screenshot={}", shot.display()),
        ],
        &url,
    );
    assert!(
        std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000),
        "a screenshot of the page"
    );
    let status = deploy.wait().unwrap();
    assert!(
        status.success(),
        "the deploy with its page: {}",
        std::fs::read_to_string(kept.join(format!("{lab}-deploy.out"))).unwrap_or_default()
    );
}

/// The admin credentials written for the operator: private, one openrc per region.
fn assert_operator_files(cloud: &str, regions: &[&str]) {
    use std::os::unix::fs::PermissionsExt;
    let dir = home().join("clouds").join(cloud);
    let mut names = vec!["clouds.yaml".to_owned()];
    names.extend(regions.iter().map(|r| format!("openrc-{r}")));
    for name in names {
        let meta = std::fs::metadata(dir.join(&name)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
    }
    let clouds = std::fs::read_to_string(dir.join("clouds.yaml")).unwrap();
    for r in regions {
        assert!(clouds.contains(&format!("region_name: {r}")), "{clouds}");
    }
}

#[test]
fn all_in_one_deploys_and_passes_its_checks() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (lab, spec) = ("aio", "examples/all-in-one.yaml");
    let _lab = fresh(lab, spec);
    // With the lab up, plan asks the hosts what would change, and makes nothing here: no
    // state database, no secret (a step that needs one says the first deploy makes it).
    let planned = ok(&["plan", spec]);
    assert!(
        planned.contains("what would change now")
            && planned.contains("is made by the first deploy"),
        "{planned}"
    );
    assert!(
        !home().join("clouds").join(lab).join("state.db").exists(),
        "plan created the state database"
    );
    // Every program the deploys and the checks start on the host is recorded with its
    // command line: none carries a secret (they go through files and standard input).
    let recorder = ExecRecorder::attach(lab, "aio-0");
    deploy_watching_its_page(lab, spec);
    let check = deploy_and_check(spec);
    let execs = recorder.stop();
    for program in [
        "\"mysql\"",
        "\"keystone-manage\"",
        "\"rabbitmqctl\"",
        "\"ceph\"",
    ] {
        assert!(
            execs.iter().any(|e| e.contains(program)),
            "the recorder saw {program} run: {} execs recorded",
            execs.len()
        );
    }
    let secrets = cloud_secrets(lab);
    assert!(secrets.len() > 20, "the cloud's secrets: {}", secrets.len());
    let leaked = execs_with_a_secret(&execs, &secrets);
    assert!(
        leaked.is_empty(),
        "a secret on a command line, of {} execs: {leaked:#?}",
        execs.len()
    );
    #[allow(clippy::print_stderr)] // the figure, for the test's log
    {
        eprintln!(
            "{} execs recorded on aio-0, none with one of the {} secrets",
            execs.len(),
            secrets.len()
        );
    }
    for what in [
        "galera",
        "rabbitmq",
        "memcached",
        "haproxy",
        "keystone",
        "placement",
        "nova-api",
        "neutron-dhcp",
        "neutron-l3",
        "etcd",
        "cinder-volume",
        "cinder-backup",
        "heat",
    ] {
        assert!(
            check
                .iter()
                .any(|r| r["host"] == "aio-0" && r["service"] == what),
            "{what} checked: {check:#?}"
        );
    }
    let said = |service: &str| -> String {
        check
            .iter()
            .filter(|r| r["service"] == service)
            .filter_map(|r| r["detail"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    // The network check boots a server on the site's network: its console said it took its
    // address by DHCP and read its id from the metadata service; ping passed once allowed.
    let booted = said("neutron-dhcp");
    assert!(
        booted.contains("root disk a clone of images/")
            && booted.contains("metadata read")
            && booted.contains("ping blocked, then allowed by its security group"),
        "{booted}"
    );
    // The volume check: a volume from the guest image is a clone in the site's cluster, a
    // guest writes to an attached volume, and a backup restores identical.
    let volumes = said("cinder-volume");
    assert!(
        volumes.contains("a clone of images/")
            && volumes.contains("read back from volumes/volume-")
            && volumes.contains("restored identical")
            && volumes.contains("no other zone has volumes"),
        "{volumes}"
    );
    let stack = said("heat");
    assert!(
        stack.contains("a server in nova and a volume in nova: CREATE_COMPLETE")
            && stack.contains("deleted"),
        "{stack}"
    );
    // A server with a floating IP on the provider network answered ping from the deployer.
    let outside = said("neutron-l3");
    assert!(
        outside.contains("floating IP 192.168.10.")
            && outside.contains("from the deployer: 3 packets transmitted, 3 received"),
        "{outside}"
    );
    let here = [("aio-0", "nova")];
    assert_workloads(lab, "aio-0", &here, (&here, &here), 1);
    // Heat through the standard client: its engine up, and a stack it lists.
    let (ok_, engines) = on_lab_host(
        lab,
        "aio-0",
        ". /root/openrc && openstack orchestration service list -f value -c Binary -c Status | sort -u && openstack stack list -f value",
    );
    assert!(ok_ && engines == "heat-engine up", "{engines}");
    // The standard client makes a volume (Cinder's endpoint has no project in its path).
    let (made, status) = on_lab_host(
        lab,
        "aio-0",
        ". /root/openrc && openstack volume create --size 1 -f value -c id by-client >/tmp/vid && for i in $(seq 60); do s=$(openstack volume show -f value -c status $(cat /tmp/vid)); [ \"$s\" = available ] && break; sleep 2; done; echo $s; openstack volume delete $(cat /tmp/vid)",
    );
    assert!(
        made && status == "available",
        "a volume by the client: {status}"
    );
    assert_operator_files(lab, &["regionOne"]);
    let (ok_, regions) = on_lab_host(
        lab,
        "aio-0",
        ". /root/openrc && openstack region list -f value -c Region",
    );
    assert!(ok_ && regions == "regionOne", "{regions}");

    // A client that keeps its connection (as openstackclient does: GET /v3, then POST a
    // token) never has a request dropped by HAProxy. Before `http-server-close`, HAProxy
    // sent the POST on a pooled connection uwsgi had just closed: 35 of 300 were lost.
    let (ok_, lost) = on_lab_host(
        lab,
        "aio-0",
        "python3 -c \"import requests\nlost = 0\nfor i in range(200):\n  s = requests.Session()\n  try:\n    s.get('http://10.10.0.11:5000/v3', timeout=10); s.post('http://10.10.0.11:5000/v3/auth/tokens', json={'auth': {}}, timeout=10)\n  except requests.ConnectionError:\n    lost += 1\n  s.close()\nprint(lost)\"",
    );
    assert!(
        ok_ && lost == "0",
        "requests lost by HAProxy, of 200: {lost}"
    );

    // A service added from a catalog directory, with two databases of one user, a messaging
    // user and an API: every hook of the control plane runs for it, and HAProxy fronts it.
    let hooks = "crates/strata/tests/fixtures/engine/hooks";
    let (extra, catalog) = (format!("{hooks}/add-echo.yaml"), format!("{hooks}/catalog"));
    let with_echo = |command: &'static str| {
        [command, spec, "-e", &extra, "--catalog", &catalog].map(str::to_owned)
    };
    ok(&strs(&with_echo("deploy")));
    let checked = ok(&strs(&with_echo("check")));
    assert!(checked.contains(" 0 failed"), "{checked}");
    let sh = |script: &str| on_lab_host(lab, "aio-0", script);
    let secret_in = |key: &str| {
        let line = sh(&format!("sed -n 's/^{key} = //p' /etc/echo/echo.conf")).1;
        let secret = line
            .split(':')
            .nth(2)
            .and_then(|p| p.split('@').next())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(secret.len(), 32, "a generated password in {key}");
        secret
    };
    let (logged_in, _) = sh(&format!(
        "mysql -h 10.10.0.11 -u echo -p'{}' echo -e 'SELECT 1'",
        secret_in("connection")
    ));
    assert!(logged_in, "the echo user reaches its database");
    let (logged_in, _) = sh(&format!(
        "mysql -h 10.10.0.11 -u echo -p'{}' echo_log -e 'SELECT 1'",
        secret_in("log_connection")
    ));
    assert!(logged_in, "the same user reaches its second database");
    let (authenticated, _) = sh(&format!(
        "rabbitmqctl -q authenticate_user echo '{}'",
        secret_in("transport_url")
    ));
    assert!(authenticated, "the echo user authenticates to RabbitMQ");
    let (_, endpoints) = sh(". /root/openrc && out=$(openstack endpoint list --service echo -f value -c Region -c Interface -c URL 2>&1) || { echo \"openstack failed: $out\"; exit 1; }; echo \"$out\" | sort");
    assert_eq!(
        endpoints.lines().collect::<Vec<_>>(),
        [
            "regionOne admin http://10.10.0.11:8790/",
            "regionOne internal http://10.10.0.11:8790/",
            "regionOne public http://10.10.0.11:8790/"
        ]
    );
    let (user, _) = sh(". /root/openrc && openstack user show echo -f value -c name");
    assert!(user, "a service user for echo");
    let (_, page) = sh("python3 -c \"import urllib.request; print(urllib.request.urlopen('http://10.10.0.11:8790/').read().decode().strip())\"");
    assert_eq!(
        page, "echo from aio-0",
        "HAProxy on the host's address fronts the API on loopback"
    );

    // A libvirtd that cannot start fails its step at once and in its own words: here a bad
    // setting an operator left in libvirtd.conf (a file strata does not manage). Put right,
    // a re-run resumes and the host runs guests again (the server below).
    let (broken, _) = sh("cp /etc/libvirt/libvirtd.conf /root/libvirtd.conf.good && echo 'max_clients = \"many\"' >> /etc/libvirt/libvirtd.conf && systemctl stop libvirtd");
    assert!(broken, "libvirtd.conf broken and libvirtd stopped");
    let started = Instant::now();
    let failed = strata(&["deploy", spec]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&failed.stdout),
        String::from_utf8_lossy(&failed.stderr)
    );
    assert!(
        !failed.status.success()
            && said.contains("FAILED  central/aio-0/nova-compute:start: start libvirtd")
            && said.contains("expected an unsigned integer for 'max_clients'"),
        "{said}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the failure took {:?}",
        started.elapsed()
    );
    assert!(sh("cp /root/libvirtd.conf.good /etc/libvirt/libvirtd.conf").0);
    ok(&["deploy", spec]);

    // A guest still running when the lab goes down: nothing of it stays on the machine (its
    // qemu runs in the host's cgroup, its tap and bridge in the host's network namespace).
    let (booted, status) = sh(". /root/openrc && openstack server create --image strata-guest --flavor strata.tiny --network central-net --wait -f value -c status left-running");
    assert!(
        booted && status == "ACTIVE",
        "a server left running: {status}"
    );
    let qemu_of_lab = || {
        let ps = std::process::Command::new("ps")
            .args(["-eo", "args"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&ps.stdout)
            .lines()
            .filter(|l| l.contains("qemu-system") && l.contains("guest=instance-"))
            .count()
    };
    assert_eq!(qemu_of_lab(), 1, "the guest runs as a qemu process");
    ok(&["lab", "down", "--lab", lab]);
    assert_eq!(qemu_of_lab(), 0, "no qemu process outlives the lab");
    let netns = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("strata.aio"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(
        netns, 0,
        "no network namespace (and so no tap or bridge) of the lab"
    );
}

#[test]
fn a_stretched_control_plane_shares_keystone_and_a_cut_behaves_as_validate_warns() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (lab, spec) = ("stretch", "examples/stretch.yaml");
    let _lab = fresh(lab, spec);
    deploy_and_check(spec);
    assert_operator_files(lab, &["regionOne", "regionTwo"]);
    let sh = |node: &str, script: &str| on_lab_host(lab, node, script);
    let openstack =
        |node: &str, args: &str| sh(node, &format!(". /root/openrc && openstack {args}"));

    // One Keystone database, two regions: a user made in one is seen in the other, and a
    // token of one region's Keystone is valid at the other's (the same Fernet keys).
    let (made, _) = openstack(
        "east-0",
        "user create --password s3cret-pw alice -f value -c id",
    );
    assert!(made);
    let (seen, name) = openstack("west-0", "user show alice -f value -c name");
    assert!(seen && name == "alice", "west sees alice: {name}");
    let (_, endpoints) = openstack(
        "west-0",
        "endpoint list --service identity -f value -c Region",
    );
    assert!(
        endpoints.contains("regionOne") && endpoints.contains("regionTwo"),
        "{endpoints}"
    );
    let (_, east_token) = openstack("east-0", "token issue -f value -c id");
    let validate = format!(
        ". /root/openrc && T=$(openstack token issue -f value -c id) && python3 -c \"import urllib.request as u; r = u.Request('http://10.40.0.5:5000/v3/auth/tokens', headers={{'X-Auth-Token': '$T', 'X-Subject-Token': '{east_token}'}}); print(u.urlopen(r).status)\""
    );
    assert_eq!(
        sh("west-0", &validate),
        (true, "200".to_owned()),
        "east's token at west"
    );
    let keys: Vec<String> = ["east-0", "east-2", "west-1"]
        .iter()
        .map(|n| sh(n, "sha256sum /etc/keystone/fernet-keys/0 | cut -c1-64").1)
        .collect();
    assert!(
        keys.iter().all(|k| k == &keys[0] && k.len() == 64),
        "{keys:?}"
    );

    // Cut the link: east holds 6 of 9 votes and keeps serving; west refuses.
    let status = |node: &str| {
        sh(node, "mysql -N -B -e \"SHOW STATUS WHERE Variable_name IN ('wsrep_cluster_size','wsrep_cluster_status')\" | cut -f2 | tr '\\n' ' '").1
    };
    ok(&["lab", "cut", "--lab", lab, "east", "west"]);
    eventually(Duration::from_secs(60), "west non-Primary", || {
        status("west-0").contains("non-Primary")
    });
    // East drops west's members once they time out, and stays Primary throughout.
    eventually(
        Duration::from_secs(60),
        "east a Primary component of 3",
        || {
            let east = status("east-0");
            assert!(
                east.ends_with("Primary") && !east.contains("non-"),
                "east keeps quorum: {east}"
            );
            east == "3 Primary"
        },
    );
    let (written, _) = openstack(
        "east-0",
        "user create --password s3cret-pw during-cut -f value -c id",
    );
    assert!(written, "east takes writes during the cut");
    let (refused, _) = sh(
        "west-1",
        "mysql -N -B -e 'SELECT COUNT(*) FROM keystone.local_user'",
    );
    assert!(!refused, "west refuses queries while cut off");
    let check = strata(&["check", spec]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        report.contains("FAIL west/west-0 galera[stretch]"),
        "{report}"
    );
    assert!(report.contains("FAIL west/west-0 keystone"), "{report}");
    assert!(report.contains("ok   east/east-0 keystone"), "{report}");

    // The link back: west rejoins and catches up; nothing written during the cut is lost.
    ok(&["lab", "heal", "--lab", lab]);
    eventually(
        Duration::from_secs(90),
        "west back in a cluster of 6",
        || status("west-0") == "6 Primary",
    );
    let (_, users) = sh(
        "west-2",
        "mysql -N -B -e 'SELECT name FROM keystone.local_user ORDER BY name'",
    );
    assert_eq!(
        users.split_whitespace().collect::<Vec<_>>(),
        ["admin", "alice", "during-cut"]
    );
    eventually(Duration::from_secs(60), "every check passes again", || {
        strata(&["check", spec]).status.success()
    });
}
