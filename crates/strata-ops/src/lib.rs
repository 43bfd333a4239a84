//! Operations. Each is a fact probe (a few shell lines whose output says how the host is)
//! and a function from those facts to the commands that close the difference, so that a
//! host already as desired gets no command at all. The probes of every operation of a step
//! run in one script (one round trip), and the commands in one more when there are any.
//! Everything here is pure: tests give facts and check the commands (see `tests`).

mod ahead;
mod probe;
mod render;

use serde::{Deserialize, Serialize};

pub use ahead::{ahead_probe, ahead_script, parse_ahead, settled, AheadSection};
pub use probe::{parse_facts, probe_script, Facts, OpFacts};
pub use render::{
    after_earlier_runs, apply_script, parse_apply, Action, ApplyResult, Failure, LOCK_DIR,
    LOOK_TRIES, WAITED,
};

/// What to wait for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitFor {
    /// A TCP port accepting connections.
    Tcp { host: String, port: u16 },
    /// An HTTP URL answering with this status.
    Http { url: String, status: u16 },
    /// A command succeeding.
    Command(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Debian packages installed (one apt run for every missing one).
    Packages { names: Vec<String> },
    /// A file with this content, owner, group and mode, written atomically.
    File {
        path: String,
        content: String,
        owner: String,
        group: String,
        mode: u32,
    },
    /// A systemd unit enabled and running; restarted when `restart_on_change` is set and an
    /// earlier operation of the same step changed a package, or a file: one listed in
    /// `watch`, or any file when `watch` is empty; or when a watched file (written by any
    /// step, in any run) is newer than the unit's start, to the second.
    Service {
        unit: String,
        restart_on_change: bool,
        watch: Vec<String>,
        /// Whether the unit should run; a unit that should not is disabled and stopped.
        running: bool,
        /// Start or restart without waiting for the unit to be ready (`--no-block`).
        no_block: bool,
    },
    /// A command, run only while its guard says it has not taken effect: `creates` (a path
    /// that exists afterwards) or `unless` (a command that succeeds afterwards).
    Command {
        run: String,
        creates: Option<String>,
        unless: Option<String>,
    },
    /// Waits until something answers, or fails after `timeout_s` with what it waited for.
    Wait { what: WaitFor, timeout_s: u32 },
    /// Reads a value from the host into the deployment's outputs (e.g. a Ceph key).
    Fetch { run: String, output: String },
}

impl Op {
    /// Whether running the op can change the host (waits and fetches only look).
    pub fn changes(&self) -> bool {
        !matches!(self, Op::Wait { .. } | Op::Fetch { .. })
    }

    pub fn describe(&self) -> String {
        match self {
            Op::Packages { names } => format!("packages {}", names.join(" ")),
            Op::File { path, .. } => format!("file {path}"),
            Op::Service { unit, .. } => format!("service {unit}"),
            Op::Command { run, .. } => format!("command `{}`", first_line(run)),
            Op::Wait { what, timeout_s } => match what {
                WaitFor::Tcp { host, port } => {
                    format!("wait for tcp {host}:{port} ({timeout_s} s)")
                }
                WaitFor::Http { url, status } => {
                    format!("wait for {url} to answer {status} ({timeout_s} s)")
                }
                WaitFor::Command(c) => format!("wait for `{}` ({timeout_s} s)", first_line(c)),
            },
            Op::Fetch { output, .. } => format!("fetch {output}"),
        }
    }
}

/// The first line of a command, for messages about it.
pub fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// A shell exit status as people read it: `exit 139: killed by signal 11 (SIGSEGV)` for a
/// command that died of a signal (sh reports 128 + the signal's number).
pub fn exit_status_text(status: i32) -> String {
    const NAMES: [(i32, &str); 9] = [
        (1, "SIGHUP"),
        (2, "SIGINT"),
        (4, "SIGILL"),
        (6, "SIGABRT"),
        (7, "SIGBUS"),
        (8, "SIGFPE"),
        (9, "SIGKILL"),
        (11, "SIGSEGV"),
        (15, "SIGTERM"),
    ];
    match status - 128 {
        signal @ 1..=64 => match NAMES.iter().find(|(n, _)| *n == signal) {
            Some((_, name)) => format!("exit {status}: killed by signal {signal} ({name})"),
            None => format!("exit {status}: killed by signal {signal}"),
        },
        _ => format!("exit {status}"),
    }
}

/// Single-quotes a word for sh.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The SHA-256 of content, as `sha256sum` prints it.
pub fn sha256_hex(content: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The actions that bring a host from `facts` to what `ops` describe. Empty when the host is
/// already there (waits and fetches always run: they look, they do not change).
pub fn plan(ops: &[Op], facts: &Facts) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut packages_changed = false;
    let mut files_changed: Vec<&str> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let f = facts.of(i);
        match op {
            Op::Packages { names } => {
                let missing: Vec<&String> =
                    names.iter().filter(|n| !f.installed.contains(*n)).collect();
                if !missing.is_empty() {
                    let list = missing
                        .iter()
                        .map(|n| quote(n))
                        .collect::<Vec<_>>()
                        .join(" ");
                    actions.push(Action::change(i, format!(
                            "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends {list} && for p in {list}; do dpkg-query -W -f='${{db:Status-Abbrev}}' \"$p\" 2>/dev/null | grep -q '^ii' || {{ echo \"package $p is still not installed by that name after apt installed it: it is a virtual package; name the package that provides it instead\" >&2; exit 3; }}; done"
                        ), format!("install {}", missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "))));
                }
            }
            Op::File {
                path,
                content,
                owner,
                group,
                mode,
            } => {
                let same_content =
                    f.sha256.as_deref() == Some(sha256_hex(content.as_bytes()).as_str());
                let same_meta = f
                    .owner
                    .as_ref()
                    .is_some_and(|(u, g, m)| u == owner && g == group && *m == *mode);
                if !same_content {
                    actions.push(Action::change(
                        i,
                        render::write_file(path, content, owner, group, *mode),
                        format!("write {path}"),
                    ));
                } else if !same_meta {
                    actions.push(Action::change(
                        i,
                        format!(
                            "chown {}:{} {p} && chmod {mode:o} {p}",
                            quote(owner),
                            quote(group),
                            p = quote(path)
                        ),
                        format!("set owner and mode of {path}"),
                    ));
                }
            }
            Op::Service {
                unit,
                running: false,
                ..
            } => {
                let u = quote(unit);
                if f.enabled() {
                    actions.push(Action::change(
                        i,
                        format!("systemctl disable -q {u}"),
                        format!("disable {unit}"),
                    ));
                }
                if f.active() {
                    actions.push(Action::change(
                        i,
                        format!("systemctl stop {u}"),
                        format!("stop {unit}"),
                    ));
                }
            }
            Op::Service {
                unit,
                restart_on_change,
                watch,
                running: true,
                no_block,
            } => {
                let nb = if *no_block { " --no-block" } else { "" };
                let changed_before = packages_changed
                    || f.stale
                    || files_changed
                        .iter()
                        .any(|f| watch.is_empty() || watch.iter().any(|w| w == f));
                let u = quote(unit);
                if !f.enabled() {
                    actions.push(Action::change(
                        i,
                        format!("systemctl enable -q {u}"),
                        format!("enable {unit}"),
                    ));
                }
                if !f.active() {
                    actions.push(Action::change(
                        i,
                        // A unit that failed too often refuses to start until reset.
                        format!(
                            "systemctl reset-failed {u} 2>/dev/null; {}",
                            or_say_why(&format!("systemctl start{nb} {u}"), &u)
                        ),
                        format!("start {unit}"),
                    ));
                } else if *restart_on_change && changed_before {
                    actions.push(Action::change(
                        i,
                        or_say_why(&format!("systemctl restart{nb} {u}"), &u),
                        format!("restart {unit} (its configuration or packages changed)"),
                    ));
                }
            }
            Op::Command {
                run,
                creates,
                unless,
            } => {
                if !f.done {
                    let recheck = match (creates, unless) {
                        (Some(path), _) => Some(format!("[ -e {} ]", quote(path))),
                        (None, Some(guard)) => Some(format!("( {guard}\n) >/dev/null 2>&1")),
                        (None, None) => None,
                    };
                    actions.push(Action {
                        recheck,
                        ..Action::change(i, run.clone(), format!("run `{}`", first_line(run)))
                    });
                }
            }
            Op::Wait { what, timeout_s } => actions.push(Action::look(
                i,
                render::wait(what, *timeout_s),
                op.describe(),
            )),
            Op::Fetch { run, output } => actions.push(Action {
                fetch: Some(output.clone()),
                ..Action::look(i, run.clone(), op.describe())
            }),
        }
        let changed = actions.iter().any(|a| a.op == i && a.changes);
        match op {
            Op::Packages { .. } => packages_changed |= changed,
            Op::File { path, .. } if changed => files_changed.push(path),
            _ => {}
        }
    }
    actions
}

/// `command` (a start or restart of the already quoted `unit`), followed where it fails by
/// what the unit said in that failed start (the journal of its last invocation: the unit's
/// whole journal can end with lines of other runs): systemctl only says to go and look there.
fn or_say_why(command: &str, unit: &str) -> String {
    format!(
        "{command} || {{ rc=$?; echo 'the last lines of its journal:'; \
         inv=$(systemctl show -p InvocationID --value {unit} 2>/dev/null); \
         if [ -n \"$inv\" ]; then journalctl -n 20 --no-pager -o cat _SYSTEMD_INVOCATION_ID=\"$inv\" + INVOCATION_ID=\"$inv\" 2>/dev/null; \
         else journalctl -u {unit} -n 15 --no-pager -o cat 2>/dev/null; fi; exit $rc; }}"
    )
}

#[cfg(test)]
mod tests {
    use super::exit_status_text;

    #[test]
    fn a_status_says_the_signal_a_command_died_of() {
        assert_eq!(exit_status_text(1), "exit 1");
        assert_eq!(exit_status_text(124), "exit 124");
        assert_eq!(
            exit_status_text(139),
            "exit 139: killed by signal 11 (SIGSEGV)"
        );
        assert_eq!(exit_status_text(170), "exit 170: killed by signal 42");
        assert_eq!(exit_status_text(255), "exit 255");
    }
}
