//! Operations as data: facts in, actions out, no host needed; then the generated scripts run
//! for real on this machine (a temporary directory stands in for a host's files).

use strata_ops::*;

fn file(path: &str, content: &str) -> Op {
    Op::File {
        path: path.into(),
        content: content.into(),
        owner: "root".into(),
        group: "root".into(),
        mode: 0o640,
    }
}

/// What `id FLAG` says of the user running the tests (`-un`, `-gn`).
/// Runs a script with `sh -c`, as the transports do.
fn sh(script: &str) -> std::process::Output {
    std::process::Command::new("sh")
        .args(["-c", script])
        .output()
        .unwrap()
}

fn id(flag: &str) -> String {
    let out = std::process::Command::new("id").arg(flag).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn a_host_already_as_desired_gets_no_command() {
    let ops = vec![
        Op::Packages {
            names: vec!["memcached".into()],
        },
        file("/etc/a.conf", "a=1\n"),
        Op::Service {
            unit: "memcached".into(),
            running: true,
            no_block: false,
            restart_on_change: true,
            watch: vec![],
        },
        Op::Command {
            run: "make-db".into(),
            creates: Some("/var/lib/db".into()),
            unless: None,
        },
    ];
    let mut facts = Facts::default();
    facts.op(0).installed.insert("memcached".into());
    facts.set(1, "sha", &sha256_hex(b"a=1\n"));
    facts.set(1, "stat", "root root 640");
    facts.set(2, "enabled", "enabled");
    facts.set(2, "active", "active");
    facts.set(3, "done", "yes");
    assert_eq!(plan(&ops, &facts), vec![]);
}

#[test]
fn each_difference_gets_only_its_command() {
    let ops = vec![
        Op::Packages {
            names: vec!["memcached".into(), "haproxy".into()],
        },
        file("/etc/a.conf", "a=2\n"),
        file("/etc/b.conf", "b\n"),
        Op::Service {
            unit: "memcached".into(),
            running: true,
            no_block: false,
            restart_on_change: true,
            watch: vec![],
        },
        Op::Command {
            run: "make-db".into(),
            creates: None,
            unless: Some("test -e /x".into()),
        },
    ];
    let mut facts = Facts::default();
    facts.op(0).installed.insert("memcached".into());
    facts.set(1, "sha", &sha256_hex(b"a=1\n"));
    facts.set(1, "stat", "root root 640");
    facts.set(2, "sha", &sha256_hex(b"b\n"));
    facts.set(2, "stat", "root root 644");
    facts.set(3, "enabled", "enabled");
    facts.set(3, "active", "active");
    let actions = plan(&ops, &facts);
    let described: Vec<&str> = actions.iter().map(|a| a.describe.as_str()).collect();
    assert_eq!(
        described,
        vec![
            "install haproxy",
            "write /etc/a.conf",
            "set owner and mode of /etc/b.conf",
            "restart memcached (its configuration or packages changed)",
            "run `make-db`"
        ]
    );
}

#[test]
fn a_service_restarts_only_when_something_before_it_changed() {
    let ops = vec![
        file("/etc/a.conf", "a\n"),
        Op::Service {
            unit: "x".into(),
            running: true,
            no_block: false,
            restart_on_change: true,
            watch: vec![],
        },
    ];
    let mut facts = Facts::default();
    facts.set(0, "sha", &sha256_hex(b"a\n"));
    facts.set(0, "stat", "root root 640");
    facts.set(1, "enabled", "enabled");
    facts.set(1, "active", "active");
    assert!(plan(&ops, &facts).is_empty());
    let mut stopped = facts.clone();
    stopped.set(1, "active", "inactive");
    assert_eq!(
        plan(&ops, &stopped)
            .iter()
            .map(|a| a.describe.clone())
            .collect::<Vec<_>>(),
        vec!["start x"]
    );
}

#[test]
fn a_unit_that_should_not_run_is_disabled_and_stopped_and_then_left_alone() {
    let ops = vec![Op::Service {
        unit: "keepalived".into(),
        running: false,
        no_block: false,
        restart_on_change: true,
        watch: vec![],
    }];
    let mut facts = Facts::default();
    facts.set(0, "enabled", "enabled");
    facts.set(0, "active", "active");
    let described = |facts: &Facts| {
        plan(&ops, facts)
            .iter()
            .map(|a| a.describe.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        described(&facts),
        vec!["disable keepalived", "stop keepalived"]
    );
    facts.set(0, "enabled", "disabled");
    facts.set(0, "active", "inactive");
    assert!(described(&facts).is_empty());
}

#[test]
fn a_unit_older_than_a_watched_file_restarts_whichever_step_wrote_it() {
    let ops = vec![Op::Service {
        unit: "keystone".into(),
        running: true,
        no_block: false,
        restart_on_change: true,
        watch: vec!["/etc/keystone/keystone.conf".into()],
    }];
    let probe = probe_script(&ops);
    assert!(probe.contains("ActiveEnterTimestamp"), "{probe}");
    let mut facts = Facts::default();
    facts.set(0, "enabled", "enabled");
    facts.set(0, "active", "active");
    assert!(plan(&ops, &facts).is_empty());
    facts.set(0, "stale", "yes");
    assert_eq!(
        plan(&ops, &facts)
            .iter()
            .map(|a| a.describe.clone())
            .collect::<Vec<_>>(),
        vec!["restart keystone (its configuration or packages changed)"]
    );
}

#[test]
fn probes_and_applies_run_for_real() {
    let dir = std::env::temp_dir().join(format!("strata-ops-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("conf/app.conf").display().to_string();
    let marker = dir.join("ran-once").display().to_string();
    let (user, group) = (id("-un"), id("-gn"));
    let ops = vec![
        Op::File {
            path: path.clone(),
            content: "key = 'quoted' \"and\" $NOT_EXPANDED\n".into(),
            owner: user.clone(),
            group: group.clone(),
            mode: 0o600,
        },
        Op::Command {
            run: format!("echo once >> {}", quote(&marker)),
            creates: Some(marker.clone()),
            unless: None,
        },
        Op::Fetch {
            run: "echo secret-value".into(),
            output: "token".into(),
        },
    ];
    let run = |script: &str| {
        let out = sh(script);
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
        )
    };
    for round in 0..2 {
        let (probe_status, probe) = run(&probe_script(&ops));
        assert_eq!(probe_status, 0, "a probe succeeds whatever it finds");
        let actions = plan(&ops, &parse_facts(&ops, &probe));
        let changes = actions.iter().filter(|a| a.changes).count();
        assert_eq!(
            changes,
            if round == 0 { 2 } else { 0 },
            "round {round}: {actions:?}"
        );
        let (status, out) = run(&apply_script(&actions));
        assert_eq!(status, 0);
        let result = parse_apply(&actions, &out);
        assert_eq!(result.finished, actions.len());
        assert_eq!(
            result.outputs,
            vec![("token".to_string(), "secret-value".to_string())]
        );
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "key = 'quoted' \"and\" $NOT_EXPANDED\n"
    );
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "once\n",
        "the guarded command ran once"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failure_names_the_action_and_its_status_and_stops() {
    let actions = vec![
        Action {
            op: 0,
            command: "true".into(),
            describe: "a".into(),
            changes: true,
            fetch: None,
            recheck: None,
        },
        Action {
            op: 1,
            command: "echo boom >&2; exit 7".into(),
            describe: "b".into(),
            changes: true,
            fetch: None,
            recheck: None,
        },
        Action {
            op: 2,
            command: "touch /should-not-run".into(),
            describe: "c".into(),
            changes: true,
            fetch: None,
            recheck: None,
        },
    ];
    let out = sh(&apply_script(&actions));
    assert_eq!(out.status.code(), Some(7));
    let result = parse_apply(&actions, &String::from_utf8_lossy(&out.stdout));
    assert_eq!(result.finished, 1);
    assert_eq!(
        result.failure,
        Some(Failure {
            action: 1,
            status: 7
        })
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("boom"));
}

#[test]
fn a_wait_that_never_succeeds_fails_clearly() {
    let ops = vec![Op::Wait {
        what: WaitFor::Command("false".into()),
        timeout_s: 1,
    }];
    let actions = plan(&ops, &Facts::default());
    let out = sh(&apply_script(&actions));
    assert_eq!(out.status.code(), Some(124));
    assert!(String::from_utf8_lossy(&out.stderr).contains("waited 1 s for `false`, in vain"));
}

/// A wait pauses longer between tries as it goes (0.2 s, then half again each time, at most
/// 2 s): a condition that holds after 2.5 s is asked about 6 times, where a try every 0.2 s
/// would ask 12 or more.
#[test]
fn a_long_wait_asks_less_and_less_often() {
    let dir = std::env::temp_dir().join(format!("strata-ops-backoff-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (tries, since) = (dir.join("tries"), dir.join("since"));
    let since_s = quote(&since.display().to_string());
    let command = format!(
        "echo try >> {t}; test $(( $(date +%s%N) / 1000000 - $(cat {since_s}) )) -ge 2500",
        t = quote(&tries.display().to_string()),
    );
    let out = sh(&format!("echo $(( $(date +%s%N) / 1000000 )) > {since_s}"));
    assert!(out.status.success());
    let (_, out) = applied(Op::Wait {
        what: WaitFor::Command(command),
        timeout_s: 30,
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let asked = std::fs::read_to_string(&tries).unwrap().lines().count();
    assert!((2..=9).contains(&asked), "asked {asked} times");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_watching_service_restarts_only_for_its_own_files() {
    let ops = vec![
        file("/etc/other.conf", "new\n"),
        file("/etc/mine.conf", "same\n"),
        Op::Service {
            unit: "x".into(),
            running: true,
            no_block: false,
            restart_on_change: true,
            watch: vec!["/etc/mine.conf".into()],
        },
    ];
    let mut facts = Facts::default();
    facts.set(1, "sha", &sha256_hex(b"same\n"));
    facts.set(1, "stat", "root root 640");
    facts.set(2, "enabled", "enabled");
    facts.set(2, "active", "active");
    let described: Vec<String> = plan(&ops, &facts).into_iter().map(|a| a.describe).collect();
    assert_eq!(
        described,
        vec!["write /etc/other.conf"],
        "an unrelated file does not restart it"
    );
    facts.set(1, "sha", "stale");
    let described: Vec<String> = plan(&ops, &facts).into_iter().map(|a| a.describe).collect();
    assert_eq!(
        described,
        vec![
            "write /etc/other.conf",
            "write /etc/mine.conf",
            "restart x (its configuration or packages changed)"
        ]
    );
}

#[test]
fn the_look_ahead_settles_only_steps_already_as_desired_in_one_script() {
    let dir = std::env::temp_dir().join(format!("strata-ahead-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.conf").display().to_string();
    let as_desired = vec![
        Op::File {
            path: path.clone(),
            content: "a = 1\n".into(),
            owner: id("-un"),
            group: id("-gn"),
            mode: 0o640,
        },
        Op::Wait {
            what: WaitFor::Command("test -f ".to_owned() + &quote(&path)),
            timeout_s: 5,
        },
        Op::Fetch {
            run: "printf 'two\\nlines with \\047quotes\\047\\n'".into(),
            output: "value".into(),
        },
    ];
    let command_not_done = vec![Op::Command {
        run: "true".into(),
        creates: None,
        unless: Some("false".into()),
    }];
    let wait_not_ready = vec![Op::Wait {
        what: WaitFor::Command("false".into()),
        timeout_s: 600,
    }];
    let fetch_failing = vec![Op::Fetch {
        run: "exit 4".into(),
        output: "value".into(),
    }];
    let steps = [as_desired, command_not_done, wait_not_ready, fetch_failing];
    let mut probes: Vec<String> = steps.iter().map(|ops| ahead_probe(ops)).collect();
    probes.push("exit 3".into());
    probes.push("sleep 0.3".into());
    // CPU-bound for about 0.3 s: its CPU time is counted, the sleep's is not.
    probes.push("i=0; while [ $i -lt 300000 ]; do i=$((i + 1)); done".into());
    let run = || {
        let started = std::time::Instant::now();
        let out = sh(&ahead_script(&probes));
        assert!(out.status.success());
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "a wait is tried once, not waited for"
        );
        parse_ahead(probes.len(), &String::from_utf8(out.stdout).unwrap())
    };

    // The file is missing: its step needs a round trip (to write it).
    let sections = run();
    assert_eq!(sections.len(), 7);
    assert!(
        sections[5].millis >= 250,
        "each probe is timed: {sections:?}"
    );
    assert!(
        sections[5].cpu_millis < 100 && sections[6].cpu_millis >= 50,
        "each probe's CPU time is read: {sections:?}"
    );
    assert_eq!(sections[5].output.as_deref(), Some(""));
    assert!(
        sections[4].output.is_none(),
        "a failed probe gives no facts"
    );
    assert!(sections[2].millis < 60_000, "{sections:?}");
    let facts = |k: usize| parse_facts(&steps[k], sections[k].output.as_deref().unwrap());
    assert_eq!(settled(&steps[0], &facts(0)), None);

    std::fs::write(&path, "a = 1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let sections = run();
    let facts = |k: usize| parse_facts(&steps[k], sections[k].output.as_deref().unwrap());
    assert_eq!(
        settled(&steps[0], &facts(0)),
        Some(vec![(
            "value".to_owned(),
            "two\nlines with 'quotes'".to_owned()
        )])
    );
    assert_eq!(settled(&steps[1], &facts(1)), None, "a command not done");
    assert_eq!(settled(&steps[2], &facts(2)), None, "a wait not satisfied");
    assert_eq!(settled(&steps[3], &facts(3)), None, "a fetch that failed");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_http_wait_asks_a_real_server_and_reads_its_status() {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            // Read the headers to their end, as a server does: closing with unread bytes
            // resets the connection, and the client may lose the answer.
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 0) && header.trim() != "" {
                header.clear();
            }
            let status = if request.starts_with("GET /ok%20'x' HTTP/1.0") {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            let mut stream = stream;
            let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let wait = |path: &str, status: u16| {
        let ops = vec![Op::Wait {
            what: WaitFor::Http {
                url: format!("http://127.0.0.1:{port}{path}"),
                status,
            },
            timeout_s: 1,
        }];
        let actions = plan(&ops, &Facts::default());
        sh(&apply_script(&actions)).status.success()
    };
    assert!(
        wait("/ok%20'x'", 200),
        "the path goes as it is, quotes and all"
    );
    assert!(!wait("/other", 200), "503 is not 200");
    assert!(wait("/other", 503), "the status asked for");
}

#[test]
fn the_files_of_a_step_are_read_together_each_reported_for_its_operations() {
    let dir = std::env::temp_dir().join(format!("strata-ops-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("a dir")).unwrap();
    let (user, group) = (id("-un"), id("-gn"));
    let file = |name: &str, content: &str| Op::File {
        path: dir.join(name).display().to_string(),
        content: content.into(),
        owner: user.clone(),
        group: group.clone(),
        mode: 0o640,
    };
    std::fs::write(dir.join("same.conf"), "same\n").unwrap();
    std::fs::write(dir.join("other.conf"), "old\n").unwrap();
    std::fs::write(dir.join("with space's.conf"), "x\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    for name in ["same.conf", "other.conf", "with space's.conf"] {
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    let ops = vec![
        file("same.conf", "same\n"),
        file("other.conf", "new\n"),
        file("missing.conf", "x\n"),
        file("with space's.conf", "x\n"),
        file("a dir", "x\n"),
        // The same path twice: both operations get its facts.
        file("same.conf", "same\n"),
    ];
    let out = sh(&probe_script(&ops));
    assert!(out.status.success());
    let facts = parse_facts(&ops, &String::from_utf8(out.stdout).unwrap());
    let writes: Vec<String> = plan(&ops, &facts)
        .iter()
        .map(|a| a.describe.rsplit('/').next().unwrap().to_string())
        .collect();
    assert_eq!(writes, vec!["other.conf", "missing.conf", "a dir"]);
    let meta = Some((user.clone(), group.clone(), 0o640));
    assert_eq!(facts.of(0).owner, meta);
    assert_eq!(facts.of(5).owner, meta);
    assert_eq!(facts.of(3).owner, meta);
    assert_eq!(facts.of(2).sha256, None);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A temporary directory of one test's own, and a shell command that counts its runs in
/// it and dies of SIGSEGV on the first `crashes` of them (printing `out` before it does).
fn crashing(name: &str, crashes: u32, out: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("strata-ops-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let count = dir.join("runs").display().to_string();
    let command = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); echo $((n + 1)) > {c}; echo {out}; if [ $n -lt {crashes} ]; then sh -c 'kill -SEGV $$'; fi",
        c = quote(&count)
    );
    (dir, command)
}

fn runs(dir: &std::path::Path) -> u32 {
    std::fs::read_to_string(dir.join("runs"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// One operation planned on a host with no facts, and its apply script run.
fn applied(op: Op) -> (Vec<Action>, std::process::Output) {
    let actions = plan(&[op], &Facts::default());
    let out = sh(&apply_script(&actions));
    (actions, out)
}

#[test]
fn a_fetch_that_died_of_a_signal_is_read_again_and_says_so() {
    let (dir, command) = crashing("fetch-crash", 1, "fsid-1");
    let (actions, out) = applied(Op::Fetch {
        run: command,
        output: "ceph.fsid".into(),
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let result = parse_apply(&actions, &String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        result.outputs,
        vec![("ceph.fsid".to_owned(), "fsid-1".to_owned())],
        "the value once, not the crashed try's half"
    );
    assert_eq!(runs(&dir), 2);
    assert!(
        stderr.contains("strata: fetch ceph.fsid died of signal 11 (SEGV)")
            && stderr.contains("try 2 of 3"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_fetch_that_keeps_crashing_fails_with_its_signal_after_three_tries() {
    let (dir, command) = crashing("fetch-crashes", 10, "x");
    let (actions, out) = applied(Op::Fetch {
        run: command,
        output: "o".into(),
    });
    let result = parse_apply(&actions, &String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        result.failure,
        Some(Failure {
            action: 0,
            status: 139
        })
    );
    assert!(result.outputs.iter().all(|(_, v)| v.is_empty()));
    assert_eq!(runs(&dir), LOOK_TRIES);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_command_that_changes_things_is_never_repeated_after_a_crash() {
    let (dir, command) = crashing("command-crash", 1, "x");
    let (_, out) = applied(Op::Command {
        run: command,
        creates: None,
        unless: None,
    });
    assert_eq!(out.status.code(), Some(139));
    assert_eq!(runs(&dir), 1, "run once, crash and all");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_guard_that_crashed_is_asked_again_not_taken_for_not_done() {
    let (dir, guard) = crashing("guard-crash", 1, "x");
    let ops = [Op::Command {
        run: "echo must-not-run".into(),
        creates: None,
        unless: Some(guard),
    }];
    let out = sh(&probe_script(&ops));
    let facts = parse_facts(&ops, &String::from_utf8_lossy(&out.stdout));
    assert!(facts.of(0).done);
    assert_eq!(plan(&ops, &facts), vec![], "the command is not run");
    assert_eq!(runs(&dir), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_wait_whose_command_died_of_a_signal_says_so_and_asks_again() {
    let (dir, command) = crashing("wait-crash", 1, "x");
    let (_, out) = applied(Op::Wait {
        what: WaitFor::Command(command),
        timeout_s: 10,
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("died of signal 11 (SEGV); asking again"),
        "{stderr}"
    );
    assert_eq!(runs(&dir), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_guard_is_asked_again_when_an_earlier_action_of_the_step_changed_something() {
    let dir = std::env::temp_dir().join(format!("strata-ops-recheck-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (guard, ran) = (dir.join("guard"), dir.join("ran"));
    let (user, group) = (id("-un"), id("-gn"));
    let write_guard = Op::File {
        path: guard.display().to_string(),
        content: "x\n".into(),
        owner: user,
        group,
        mode: 0o644,
    };
    let command = |creates: Option<String>, unless: Option<String>| Op::Command {
        run: format!("touch {}", quote(&ran.display().to_string())),
        creates,
        unless,
    };
    let by_path = command(Some(guard.display().to_string()), None);
    let by_test = command(
        None,
        Some(format!("test -e {}", quote(&guard.display().to_string()))),
    );
    for guarded in [by_path, by_test] {
        let _ = std::fs::remove_file(&guard);
        // Facts from before the step ran: the guard did not hold, so the command is planned.
        let actions = plan(&[write_guard.clone(), guarded], &Facts::default());
        assert_eq!(actions.len(), 2);
        let out = sh(&apply_script(&actions));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let result = parse_apply(&actions, &String::from_utf8_lossy(&out.stdout));
        assert_eq!(result.skipped, vec![1], "the file made the guard hold");
        assert_eq!(result.finished, 2);
        assert!(!ran.exists(), "the command did not run");
    }
    // Nothing changed before it: the command runs on the facts it was planned from.
    let actions = plan(
        &[command(Some(guard.display().to_string()), None)],
        &Facts::default(),
    );
    let out = sh(&apply_script(&actions));
    assert!(out.status.success());
    assert!(
        ran.exists(),
        "planned from fresh facts, run without asking again"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An earlier run's lock held (as by a killed run's command that goes on): an apply waits
/// until it is free, runs nothing, and says it waited; once free, the next apply runs and
/// clears the earlier run's lock file away. A step of the same run holding the run's lock
/// does not hold up another.
#[test]
fn an_apply_waits_for_an_earlier_runs_step_and_then_runs_nothing() {
    let dir = std::env::temp_dir().join(format!("strata-ops-lock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let locks = dir.join("runs");
    std::fs::create_dir_all(&locks).unwrap();
    let ran = dir.join("ran");
    let hold = |file: &str, how: &str| {
        let lock = locks.join(file).display().to_string();
        let holder = std::process::Command::new("flock")
            .args([how, &lock, "sleep", "1.5"])
            .spawn()
            .unwrap();
        while sh(&format!("flock -n {} true", quote(&lock)))
            .status
            .success()
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        holder
    };
    let mut earlier = hold("run-1-earlier.lock", "-x");
    let actions = plan(
        &[Op::Command {
            run: format!("touch {}", quote(&ran.display().to_string())),
            creates: None,
            unless: None,
        }],
        &Facts::default(),
    );
    let script = after_earlier_runs(
        &apply_script(&actions),
        &locks.display().to_string(),
        "2-now",
        30,
    );
    let started = std::time::Instant::now();
    let out = sh(&script);
    assert_eq!(out.status.code(), Some(WAITED));
    assert!(started.elapsed() >= std::time::Duration::from_millis(800));
    let result = parse_apply(&actions, &String::from_utf8_lossy(&out.stdout));
    assert!(result.waited && result.finished == 0);
    assert!(
        !ran.exists(),
        "nothing ran while the earlier step held the host"
    );
    earlier.wait().unwrap();
    let mut sibling = hold("run-2-now.lock", "-s");
    let out = sh(&script);
    assert!(
        out.status.success(),
        "a step of the same run is no reason to wait: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!parse_apply(&actions, &String::from_utf8_lossy(&out.stdout)).waited);
    assert!(ran.exists());
    assert!(
        !locks.join("run-1-earlier.lock").exists(),
        "the earlier run's lock, free, is removed"
    );
    sibling.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_unit_started_without_blocking_is_left_to_a_later_wait() {
    let ops = vec![Op::Service {
        unit: "mariadb".into(),
        restart_on_change: false,
        watch: vec![],
        running: true,
        no_block: true,
    }];
    let actions = plan(&ops, &Facts::default());
    assert!(
        actions.iter().any(|a| a
            .command
            .contains("systemctl start --no-block 'mariadb' ||")),
        "{actions:?}"
    );
}

/// systemctl says only where to look when a unit does not start: the failure carries the
/// unit's last journal lines, and the start's exit status.
#[test]
fn a_unit_that_does_not_start_says_why() {
    let ops = vec![Op::Service {
        unit: "libvirtd".into(),
        restart_on_change: false,
        watch: vec![],
        running: true,
        no_block: false,
    }];
    let actions = plan(&ops, &Facts::default());
    let start = actions
        .iter()
        .find(|a| a.command.contains("systemctl start"))
        .expect("a start");
    // Stand-ins for systemd's tools: the unit fails, its journal says why.
    let script = format!(
        "systemctl() {{ [ \"$1\" = start ] && {{ echo 'Job for libvirtd.service failed.' >&2; return 1; }}; [ \"$*\" = 'show -p InvocationID --value libvirtd' ] && echo 5a7e9d; return 0; }}\n\
         journalctl() {{ echo \"journal $*\"; echo 'libvirtd: cannot create cgroup'; }}\n\
         ( {} ) 2>&1",
        start.command
    );
    let out = sh(&script);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("Job for libvirtd.service failed."), "{said}");
    // The lines of the failed start only: its invocation's, its processes' and systemd's.
    assert!(
        said.contains(
            "journal -n 20 --no-pager -o cat _SYSTEMD_INVOCATION_ID=5a7e9d + INVOCATION_ID=5a7e9d"
        ),
        "{said}"
    );
    assert!(said.contains("libvirtd: cannot create cgroup"), "{said}");
}
