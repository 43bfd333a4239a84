//! Actions as shell: the script that runs a step's actions in order on a host, stopping at
//! the first failure, with markers on stdout so the result says which action failed and with
//! what status, and what each fetch read. Commands' own output goes to stderr.

use crate::{quote, WaitFor};

/// One command an operation needs run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// Index of the operation in its step.
    pub op: usize,
    pub command: String,
    /// What it does, for people ("write /etc/keystone/keystone.conf").
    pub describe: String,
    /// Whether it changes the host (false for waits and fetches).
    pub changes: bool,
    /// For a fetch: the output name its stdout goes to.
    pub fetch: Option<String>,
    /// For a guarded command: the guard as a shell condition that holds once the command
    /// has taken effect. The facts it was planned from were gathered before the step's
    /// earlier actions ran; when one of those changed something (a service started), the
    /// guard is asked again right before the command, which is skipped if it now holds.
    pub recheck: Option<String>,
}

impl Action {
    pub(crate) fn change(op: usize, command: String, describe: String) -> Action {
        Action {
            op,
            command,
            describe,
            changes: true,
            fetch: None,
            recheck: None,
        }
    }

    pub(crate) fn look(op: usize, command: String, describe: String) -> Action {
        Action {
            op,
            command,
            describe,
            changes: false,
            fetch: None,
            recheck: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Index of the action that failed.
    pub action: usize,
    pub status: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyResult {
    /// Actions that finished, in order (skipped ones included).
    pub finished: usize,
    /// Actions not run because their guard held when asked again (see `Action::recheck`).
    pub skipped: Vec<usize>,
    /// An earlier run's step still ran on the host, and the apply waited for it and
    /// ran nothing (see `after_earlier_runs`).
    pub waited: bool,
    pub failure: Option<Failure>,
    /// Values read by fetches: (output name, value).
    pub outputs: Vec<(String, String)>,
}

/// The script running `actions` in order.
pub fn apply_script(actions: &[Action]) -> String {
    let mut script = String::new();
    for (k, a) in actions.iter().enumerate() {
        if a.fetch.is_some() {
            // Read into a variable first: a try that printed and then crashed must not
            // leave its half in the output when the next try prints it whole.
            let read = again_if_killed(
                &format!("strata_out=$( {}\n)\nrc=$?", a.command),
                &a.describe,
            );
            script.push_str(&format!(
                "echo '@O{k}'\n{read}[ $rc -eq 0 ] && printf '%s\\n' \"$strata_out\"\necho\necho '@E{k}'\n"
            ));
        } else {
            let earlier_changed = actions[..k].iter().any(|e| e.changes);
            match a.recheck.as_deref().filter(|_| earlier_changed) {
                Some(guard) => script.push_str(&format!(
                    "if {guard}; then echo '@K{k}'; rc=0; else ( {}\n) >&2\nrc=$?\nfi\n",
                    a.command
                )),
                None => script.push_str(&format!("( {}\n) >&2\nrc=$?\n", a.command)),
            }
        }
        script.push_str(&format!(
            "if [ $rc -ne 0 ]; then echo \"@X{k} $rc\"; exit $rc; fi\necho '@A{k}'\n"
        ));
    }
    script
}

/// Where a host's apply scripts keep their runs' locks: one file per run, `run-<tag>.lock`.
pub const LOCK_DIR: &str = "/run/strata/runs";

/// The status of an apply that found an earlier run's step still running on its host and
/// waited for it to end: nothing of the step ran, its facts are out of date, ask again.
pub const WAITED: i32 = 75;

/// `script` run after every earlier run's commands on the host have ended. Each apply holds
/// its own run's lock file in `dir` (shared: the steps of one run that may share a host run
/// side by side), and every process it starts inherits it: when a deploy is killed, the
/// commands its ssh sessions had started go on and hold that run's lock until they end. An
/// apply first takes each other run's lock for itself, which it gets at once when nothing
/// of that run still runs (and then removes the file), else waits for it (at most `wait_s`)
/// and exits `WAITED` having run nothing, so that the step is asked again on fresh facts.
/// `run` names this run in the file's name: letters, digits and `-` only.
pub fn after_earlier_runs(script: &str, dir: &str, run: &str, wait_s: u32) -> String {
    debug_assert!(run.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    let d = quote(dir);
    format!(
        "mkdir -p {d} && exec 9>>{d}/run-{run}.lock && flock -s 9 || exit 1\n\
         waited=\n\
         for f in {d}/run-*.lock; do\n\
         \x20 [ \"$f\" = {d}/run-{run}.lock ] && continue\n\
         \x20 if ! flock -n -x \"$f\" true 2>/dev/null; then\n\
         \x20   if [ -z \"$waited\" ]; then\n\
         \x20     echo '@W'\n\
         \x20     echo 'strata: a step of an earlier, interrupted run still runs on this host: waiting for it to end' >&2\n\
         \x20   fi\n\
         \x20   waited=1\n\
         \x20   flock -w {wait_s} -x \"$f\" true || {{ echo 'strata: it still runs after {wait_s} s; see `ps -ef` on the host' >&2; exit 1; }}\n\
         \x20 fi\n\
         \x20 rm -f \"$f\"\n\
         done\n\
         if [ -n \"$waited\" ]; then exit {WAITED}; fi\n{script}"
    )
}

/// Reads what an apply script printed.
pub fn parse_apply(actions: &[Action], stdout: &str) -> ApplyResult {
    let mut result = ApplyResult::default();
    let mut capture: Option<(usize, String)> = None;
    for line in stdout.lines() {
        if let Some((k, buf)) = &mut capture {
            if line == format!("@E{k}") {
                let name = actions
                    .get(*k)
                    .and_then(|a| a.fetch.clone())
                    .unwrap_or_default();
                result
                    .outputs
                    .push((name, buf.trim_end_matches('\n').to_owned()));
                capture = None;
            } else {
                buf.push_str(line);
                buf.push('\n');
            }
            continue;
        }
        if line == "@W" {
            result.waited = true;
        } else if let Some(k) = line.strip_prefix("@K").and_then(|k| k.parse().ok()) {
            result.skipped.push(k);
        } else if let Some(k) = line.strip_prefix("@O").and_then(|k| k.parse().ok()) {
            capture = Some((k, String::new()));
        } else if line
            .strip_prefix("@A")
            .and_then(|k| k.parse::<usize>().ok())
            .is_some()
        {
            result.finished += 1;
        } else if let Some((k, rc)) = line.strip_prefix("@X").and_then(|r| r.split_once(' ')) {
            if let (Ok(action), Ok(status)) = (k.parse(), rc.trim().parse()) {
                result.failure = Some(Failure { action, status });
            }
        }
    }
    result
}

/// Writes a file atomically: content to a temporary file beside it, owner and mode set,
/// then renamed over the old one.
pub(crate) fn write_file(path: &str, content: &str, owner: &str, group: &str, mode: u32) -> String {
    let tmp = quote(&format!("{path}.strata-new"));
    let p = quote(path);
    format!(
        "mkdir -p \"$(dirname {p})\" && base64 -d > {tmp} <<'STRATA_EOF'\n{}\nSTRATA_EOF\nchown {}:{} {tmp} && chmod {mode:o} {tmp} && mv -f {tmp} {p}",
        base64(content.as_bytes()),
        quote(owner),
        quote(group)
    )
}

/// How many times a command that only reads (a fetch, a guard) runs while it keeps dying
/// of a signal. A crash (a client library's threads torn down under an exiting process,
/// say) says nothing about what the command read, so it is asked again, and the run says
/// so; a command that changes things is never repeated this way.
pub const LOOK_TRIES: u32 = 3;

/// Shell that runs `run` (which leaves its exit status in `rc`) once more each time it died
/// of a signal (a status of 129-192, as sh reports one), up to `LOOK_TRIES` runs, saying on
/// stderr which signal and what it was.
pub(crate) fn again_if_killed(run: &str, what: &str) -> String {
    format!(
        "strata_try=1\nwhile :; do\n{run}\nif [ $rc -gt 128 ] && [ $rc -le 192 ] && [ $strata_try -lt {LOOK_TRIES} ]; then\n  echo \"strata: \"{}\" died of signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null)); it only reads, so it runs again (try $((strata_try + 1)) of {LOOK_TRIES})\" >&2\n  strata_try=$((strata_try + 1))\nelse\n  break\nfi\ndone\n",
        quote(what)
    )
}

/// The first pause of a wait between its tries, and the longest, in milliseconds: each pause
/// is half again the one before. A service that comes up in a second is seen within a fifth
/// of one; a wait of a minute asks some 35 times, not 300 (a try can be a Python client
/// asking three APIs, on hosts whose cores the deploy keeps busy).
const WAIT_FIRST_PAUSE_MS: u32 = 200;
const WAIT_LONGEST_PAUSE_MS: u32 = 2000;

pub(crate) fn wait(what: &WaitFor, timeout_s: u32) -> String {
    let (check, describe) = wait_check(what);
    // A wait asks again anyway; a try that died of a signal is said, so a crash that
    // keeps it waiting until the deadline is not mistaken for an answer of "not yet".
    format!(
        "deadline=$(( $(date +%s) + {timeout_s} ))\npause={WAIT_FIRST_PAUSE_MS}\nuntil {check}; do\n  rc=$?\n  if [ $rc -gt 128 ] && [ $rc -le 192 ]; then echo {}\" died of signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null)); asking again\" >&2; fi\n  if [ \"$(date +%s)\" -ge \"$deadline\" ]; then echo {} >&2; exit 124; fi\n  sleep $((pause / 1000)).$(printf %03d $((pause % 1000)))\n  pause=$((pause * 3 / 2))\n  if [ $pause -gt {WAIT_LONGEST_PAUSE_MS} ]; then pause={WAIT_LONGEST_PAUSE_MS}; fi\ndone",
        quote(&format!("strata: waiting for {describe}: a try")),
        quote(&format!("waited {timeout_s} s for {describe}, in vain"))
    )
}

/// A wait's condition as one shell command that succeeds when it holds, and what it is.
pub(crate) fn wait_check(what: &WaitFor) -> (String, String) {
    match what {
        WaitFor::Tcp { host, port } => (format!("bash -c {} 2>/dev/null", quote(&format!("exec 3<>/dev/tcp/{host}/{port}"))), format!("tcp {host}:{port}")),
        WaitFor::Http { url, status } => (
            match plain_http(url) {
                // One request from bash itself: no interpreter to start for each try (a
                // re-run asks dozens of these at once).
                Some((authority, host, port, path)) => format!(
                    "timeout 5 bash -c {} 2>/dev/null",
                    quote(&format!(
                        "exec 3<>/dev/tcp/{host}/{port} && printf 'GET %s HTTP/1.0\\r\\nHost: %s\\r\\nConnection: close\\r\\n\\r\\n' {} {} >&3 && read -r _ code _ <&3 && [ \"$code\" = {status} ]",
                        quote(path),
                        quote(authority)
                    ))
                ),
                None => format!(
                    "python3 -c {} 2>/dev/null",
                    quote(&format!(
                        "import sys, urllib.request, urllib.error\ntry:\n    code = urllib.request.urlopen({url:?}, timeout=3).status\nexcept urllib.error.HTTPError as e:\n    code = e.code\nexcept Exception:\n    sys.exit(1)\nsys.exit(0 if code == {status} else 1)"
                    ))
                ),
            },
            format!("{url} to answer {status}"),
        ),
        WaitFor::Command(c) => (format!("( {c} ) >/dev/null 2>&1"), format!("`{c}`")),
    }
}

/// A plain `http://host[:port][/path]` URL as (authority, host, port, path); `None` for
/// anything else (https, a user, an IPv6 literal), which Python's urllib then asks.
fn plain_http(url: &str) -> Option<(&str, &str, u16, &str)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().ok()?),
        None => (authority, 80),
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let path_ok = path.chars().all(|c| c.is_ascii_graphic());
    (host_ok && path_ok).then_some((authority, host, port, path))
}

/// Standard base64 with line breaks every 76 characters.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() * 4 / 3 + 4);
    for (n, chunk) in data.chunks(3).enumerate() {
        if n > 0 && n % 19 == 0 {
            out.push('\n');
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(v >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls_are_asked_by_bash() {
        assert_eq!(
            plain_http("http://10.0.0.1:9292/healthcheck"),
            Some(("10.0.0.1:9292", "10.0.0.1", 9292, "/healthcheck"))
        );
        assert_eq!(
            plain_http("http://api.example"),
            Some(("api.example", "api.example", 80, "/"))
        );
        assert_eq!(plain_http("https://10.0.0.1/"), None);
        assert_eq!(plain_http("http://[::1]:80/"), None);
        assert_eq!(plain_http("http://u@h/"), None);
        assert_eq!(plain_http("http://h:x/"), None);
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        let long = base64(&[0u8; 60]);
        assert_eq!(long.lines().next().unwrap().len(), 76);
    }
}
