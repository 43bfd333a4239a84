//! `strata deploy --web`: a page on a local address that draws the plan's graph by site and
//! host and colours every step as the deploy runs, from the same events as `--json`. The
//! page is built into the binary (it needs no internet), and nothing served holds a secret:
//! events and host logs are redacted by the engine, operations are shown masked.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use serde::Serialize;
use strata_engine::Event;
use strata_plan::Plan;

/// The page: markup, style and script in one file.
const PAGE: &str = include_str!("page/index.html");

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot serve the page on {addr}: {why}")]
    Bind { addr: String, why: String },
}

/// What the page shows of one step beyond the plan: its operations, described and masked.
pub type StepOps = HashMap<String, Vec<String>>;

/// Everything the server answers from: the plan, each step's operations, the deploy's
/// events so far, and where the host logs are.
pub struct Board {
    plan: String,
    hosts: HashMap<String, String>,
    ops: StepOps,
    log_dir: PathBuf,
    started: Instant,
    events: Mutex<Vec<String>>,
    finished: Mutex<Option<String>>,
}

#[derive(Serialize)]
struct PagePlan<'a> {
    cloud: &'a str,
    critical_path_ms: u64,
    not_deployed: &'a [String],
    steps: Vec<PageStep<'a>>,
}

#[derive(Serialize)]
struct PageStep<'a> {
    id: &'a str,
    site: &'a str,
    host: &'a str,
    service: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    qualifier: Option<&'a str>,
    action: &'a str,
    /// Indices into `steps`.
    needs: &'a [usize],
    estimate_ms: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    doc: Option<&'a str>,
    critical: bool,
}

impl Board {
    pub fn new(plan: &Plan, ops: StepOps, log_dir: PathBuf) -> Board {
        let critical: std::collections::HashSet<usize> =
            plan.critical_path.iter().copied().collect();
        let page = PagePlan {
            cloud: &plan.cloud,
            critical_path_ms: plan.critical_path_ms,
            not_deployed: &plan.not_deployed,
            steps: plan
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| PageStep {
                    id: &s.id,
                    site: &s.site,
                    host: &s.host,
                    service: &s.service,
                    qualifier: s.qualifier.as_deref(),
                    action: &s.action,
                    needs: &s.needs,
                    estimate_ms: s.estimate_ms,
                    doc: s.doc.as_deref(),
                    critical: critical.contains(&i),
                })
                .collect(),
        };
        Board {
            plan: serde_json::to_string(&page).expect("the plan serializes"),
            hosts: plan
                .steps
                .iter()
                .map(|s| (s.id.clone(), s.host.to_string()))
                .collect(),
            ops,
            log_dir,
            started: Instant::now(),
            events: Mutex::new(Vec::new()),
            finished: Mutex::new(None),
        }
    }

    /// Learns an event of the deploy, stamped with the seconds since the board was made.
    pub fn push(&self, event: &Event) {
        let mut value = serde_json::to_value(event).expect("events serialize");
        if let Some(fields) = value.as_object_mut() {
            fields.insert(
                "t".into(),
                serde_json::json!(self.started.elapsed().as_secs_f64()),
            );
        }
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(value.to_string());
    }

    /// The deploy has ended; `summary` is its last line.
    pub fn finish(&self, summary: &str) {
        *self.finished.lock().unwrap_or_else(|e| e.into_inner()) = Some(summary.to_owned());
    }

    /// The events from the `from`-th on, and whether the deploy has ended.
    fn events_from(&self, from: usize) -> String {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        let from = from.min(events.len());
        format!(
            "{{\"next\":{},\"finished\":{},\"events\":[{}]}}",
            events.len(),
            serde_json::to_string(&*finished).expect("a string serializes"),
            events[from..].join(",")
        )
    }

    /// A step's operations and its lines in its host's log.
    fn step(&self, id: &str) -> Option<String> {
        let host = self.hosts.get(id)?;
        let log = std::fs::read_to_string(self.log_dir.join(format!("{host}.log")))
            .map(|text| step_lines(&text, id))
            .unwrap_or_default();
        Some(
            serde_json::json!({
                "id": id,
                "ops": self.ops.get(id).cloned().unwrap_or_default(),
                "log": log,
            })
            .to_string(),
        )
    }

    /// The answer to a GET of `url`: status, content type and body.
    pub fn answer(&self, url: &str) -> (u16, &'static str, String) {
        const JSON: &str = "application/json";
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let param = |name: &str| {
            query
                .split('&')
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| percent_decoded(v))
        };
        match path {
            "/" => (200, "text/html; charset=utf-8", PAGE.to_owned()),
            "/plan" => (200, JSON, self.plan.clone()),
            "/events" => {
                let from = param("from").and_then(|v| v.parse().ok()).unwrap_or(0);
                (200, JSON, self.events_from(from))
            }
            "/step" => match param("id").and_then(|id| self.step(&id)) {
                Some(body) => (200, JSON, body),
                None => (404, JSON, "{\"error\":\"no such step\"}".into()),
            },
            _ => (404, "text/plain", "not found".into()),
        }
    }
}

/// The lines a host log holds for `step`: each entry starts `<seconds> <step> ...` and runs
/// until the next entry; the last 200 lines.
fn step_lines(log: &str, step: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut ours = false;
    for line in log.lines() {
        let mut words = line.splitn(3, ' ');
        let stamp = words.next().unwrap_or("");
        let starts_entry = !stamp.is_empty()
            && stamp.chars().all(|c| c.is_ascii_digit() || c == '.')
            && stamp.contains('.');
        if starts_entry {
            ours = words.next() == Some(step);
        }
        if ours {
            out.push(line.to_owned());
        }
    }
    let skip = out.len().saturating_sub(200);
    out.split_off(skip)
}

/// `%XX` escapes and `+` decoded (a step id in a query string).
fn percent_decoded(text: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The server, running on its own thread until dropped.
pub struct Served {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    pub addr: SocketAddr,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves `board` on `addr` (e.g. `127.0.0.1:8417`; port 0 picks a free one).
pub fn serve(addr: &str, board: Arc<Board>) -> Result<Served, WebError> {
    let server = tiny_http::Server::http(addr).map_err(|e| WebError::Bind {
        addr: addr.to_owned(),
        why: e.to_string(),
    })?;
    let bound = server.server_addr().to_ip().ok_or_else(|| WebError::Bind {
        addr: addr.to_owned(),
        why: "not an IP address".into(),
    })?;
    let server = Arc::new(server);
    let serving = server.clone();
    let thread = std::thread::spawn(move || {
        for request in serving.incoming_requests() {
            let (status, kind, body) = if *request.method() == tiny_http::Method::Get {
                board.answer(request.url())
            } else {
                (405, "text/plain", "only GET".into())
            };
            let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], kind.as_bytes())
                .expect("a valid header");
            let no_cache = tiny_http::Header::from_bytes(&b"Cache-Control"[..], &b"no-store"[..])
                .expect("a valid header");
            let response = tiny_http::Response::from_string(body)
                .with_status_code(status)
                .with_header(header)
                .with_header(no_cache);
            let _ = request.respond(response);
        }
    });
    Ok(Served {
        server,
        thread: Some(thread),
        addr: bound,
    })
}

#[cfg(test)]
mod tests;
