//! The server's answers, without a socket, on a plan of three steps.

use std::sync::Arc;

use super::*;

fn plan() -> Plan {
    let step = |id: &str, host: &str, action: &str, needs: Vec<usize>| strata_plan::Step {
        id: id.to_owned(),
        site: Arc::from("central"),
        host: Arc::from(host),
        service: Arc::from("demo"),
        qualifier: None,
        action: Arc::from(action),
        needs,
        estimate_ms: 1000,
        doc: Some(Arc::from("what it does")),
        hook: None,
    };
    Plan {
        cloud: "lab".into(),
        steps: vec![
            step("central/a/demo:configure", "a", "configure", vec![]),
            step("central/a/demo:start", "a", "start", vec![0]),
            step("central/b/demo:start", "b", "start", vec![1]),
        ],
        critical_path: vec![0, 1, 2],
        critical_path_ms: 3000,
        hosts: Vec::new(),
        sites: Vec::new(),
        not_deployed: Vec::new(),
    }
}

fn board(dir: &std::path::Path) -> Board {
    let mut ops = StepOps::new();
    ops.insert(
        "central/a/demo:start".into(),
        vec!["run `printf '%s' ******** | demo-login`".into()],
    );
    Board::new(&plan(), ops, dir.to_owned())
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).expect("JSON")
}

#[test]
fn the_page_the_plan_and_unknown_paths() {
    let dir = std::env::temp_dir();
    let b = board(&dir);
    let (status, kind, page) = b.answer("/");
    assert_eq!((status, kind), (200, "text/html; charset=utf-8"));
    assert!(
        page.contains("fetch(\"/plan\")")
            && !page.contains("http://")
            && !page.contains("https://"),
        "the page loads nothing from outside"
    );
    let (status, _, body) = b.answer("/plan");
    assert_eq!(status, 200);
    let plan = json(&body);
    assert_eq!(plan["steps"].as_array().unwrap().len(), 3);
    assert_eq!(plan["steps"][2]["needs"], serde_json::json!([1]));
    assert_eq!(plan["steps"][1]["critical"], true);
    assert_eq!(b.answer("/nothing").0, 404);
    assert_eq!(b.answer("/step?id=central%2Fz%2Fdemo%3Astart").0, 404);
}

#[test]
fn events_are_paged_and_say_when_the_deploy_ended() {
    let b = board(&std::env::temp_dir());
    b.push(&Event::Started {
        step: "central/a/demo:configure".into(),
        host: "a".into(),
    });
    b.push(&Event::Done {
        step: "central/a/demo:configure".into(),
        host: "a".into(),
        actions: vec!["write /etc/demo.conf".into()],
        seconds: 0.5,
        looked_ahead: false,
    });
    let all = json(&b.answer("/events?from=0").2);
    assert_eq!(all["next"], 2);
    assert_eq!(all["finished"], serde_json::Value::Null);
    assert_eq!(all["events"][1]["event"], "done");
    assert!(all["events"][1]["t"].as_f64().is_some(), "{all}");
    let rest = json(&b.answer("/events?from=1").2);
    assert_eq!(rest["events"].as_array().unwrap().len(), 1);
    let none = json(&b.answer("/events?from=99").2);
    assert_eq!(none["events"].as_array().unwrap().len(), 0);
    b.finish("3 steps: 1 changed");
    assert_eq!(
        json(&b.answer("/events?from=2").2)["finished"],
        "3 steps: 1 changed"
    );
}

#[test]
fn a_step_shows_its_masked_operations_and_its_own_log_lines() {
    let dir = std::env::temp_dir().join(format!("strata-web-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a.log"),
        "1796213680.001 central/a/demo:configure wrote /etc/demo.conf\n\
         1796213681.008 central/a/demo:start stderr:\n\
         Job for demo.service failed.\n\
         1796213681.021 central/a/demo:start FAILED: start demo (exit 1)\n\
         1796213682.000 central/a/other:start started\n",
    )
    .unwrap();
    let b = board(&dir);
    let (status, _, body) = b.answer("/step?id=central%2Fa%2Fdemo%3Astart");
    assert_eq!(status, 200);
    let step = json(&body);
    assert_eq!(
        step["log"],
        serde_json::json!([
            "1796213681.008 central/a/demo:start stderr:",
            "Job for demo.service failed.",
            "1796213681.021 central/a/demo:start FAILED: start demo (exit 1)"
        ])
    );
    assert_eq!(step["ops"][0], "run `printf '%s' ******** | demo-login`");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_query_is_percent_decoded() {
    assert_eq!(
        percent_decoded("a%2Fb%5Bq%5D%3Ax+y%zz%4"),
        "a/b[q]:x y%zz%4"
    );
}

#[test]
fn the_server_answers_on_a_local_port() {
    let served = serve("127.0.0.1:0", Arc::new(board(&std::env::temp_dir()))).unwrap();
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(served.addr).unwrap();
    conn.write_all(b"GET /plan HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
        "{answer}"
    );
    assert!(answer.contains("\"cloud\":\"lab\""), "{answer}");
}
