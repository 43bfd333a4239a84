//! The look ahead: before a run, every step's probe on a host in one round trip, waits tried
//! once and fetches read, so that a step found already as desired, while nothing in the run
//! has changed anything since, is done without a round trip of its own (a no-op re-run).

use crate::{plan, probe_script, render, Facts, Op};

/// The look-ahead probe of one step: its facts, plus `@F<i> ready yes` for a wait whose
/// condition holds now and `@F<i> value <hex>` for what a fetch reads now.
pub fn ahead_probe(ops: &[Op]) -> String {
    let mut script = probe_script(ops);
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Wait { what, .. } => script.push_str(&format!(
                "if {}; then echo '@F{i} ready yes'; fi\n",
                render::wait_check(what).0
            )),
            Op::Fetch { run, .. } => script.push_str(&format!(
                "if v=$( ( {run}\n) 2>/dev/null ); then echo \"@F{i} value $(printf '%s' \"$v\" | od -An -v -tx1 | tr -d ' \\n')\"; fi\n"
            )),
            _ => {}
        }
    }
    script
}

/// One script probing many steps at once on a host, each in a subshell of its own (a step
/// whose probe fails gets no facts, not the others'); read back with `parse_ahead`. Each
/// probe's CPU time is read with the shell's `times` (its children's user and system time:
/// the probe's processes), so a slow probe can be told from a starved one.
pub fn ahead_script(probes: &[String]) -> String {
    let mut script = String::from("d=$(mktemp -d) || exit 1\n");
    for (k, probe) in probes.iter().enumerate() {
        let probe = if probe.trim().is_empty() { ":" } else { probe };
        script.push_str(&format!(
            "{{ t=$(date +%s%N); ( {probe}\n) >\"$d/{k}\" 2>/dev/null; r=$?; times >\"$d/{k}.cpu\"; echo \"$r $(( ($(date +%s%N) - t) / 1000000 ))\" >\"$d/{k}.rc\"; }} &\n"
        ));
    }
    script.push_str("wait\n");
    // Read back with the shell's own `read`: no process per probe to print its status.
    script.push_str(&format!(
        "for k in $(seq 0 {}); do read -r rc <\"$d/$k.rc\"; {{ read -r _; read -r cpu; }} <\"$d/$k.cpu\"; echo \"@S$k $rc $cpu\"; cat \"$d/$k\"; done\nrm -rf \"$d\"\n",
        probes.len() as i64 - 1
    ));
    script
}

/// One step's part of a look ahead.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AheadSection {
    /// What its probe printed; `None` when the probe failed (or printed nothing to read).
    pub output: Option<String>,
    /// How long its probe took on the host.
    pub millis: u64,
    /// The CPU time (user and system) its processes took.
    pub cpu_millis: u64,
}

/// Each probe's output and time from what `ahead_script` printed.
pub fn parse_ahead(count: usize, output: &str) -> Vec<AheadSection> {
    let mut sections = vec![AheadSection::default(); count];
    let mut current: Option<usize> = None;
    for line in output.lines() {
        if let Some((k, rest)) = line.strip_prefix("@S").and_then(|r| r.split_once(' ')) {
            current = k.parse::<usize>().ok().filter(|&k| k < count);
            if let Some(k) = current {
                let mut fields = rest.split_whitespace();
                sections[k].output = (fields.next() == Some("0")).then(String::new);
                sections[k].millis = fields.next().and_then(|m| m.parse().ok()).unwrap_or(0);
                sections[k].cpu_millis = fields.filter_map(shell_time_millis).sum();
            }
            continue;
        }
        if let Some(text) = current.and_then(|k| sections[k].output.as_mut()) {
            text.push_str(line);
            text.push('\n');
        }
    }
    sections
}

/// Whether a step is already as desired by its look-ahead facts: the outputs its fetches
/// read when it is (nothing to change, every wait satisfied), `None` when it needs its
/// own round trip.
pub fn settled(ops: &[Op], facts: &Facts) -> Option<Vec<(String, String)>> {
    let mut outputs = Vec::new();
    for action in plan(ops, facts) {
        let f = facts.of(action.op);
        match &ops[action.op] {
            Op::Wait { .. } if f.ready => {}
            Op::Fetch { output, .. } => outputs.push((output.clone(), f.value.clone()?)),
            _ => return None,
        }
    }
    Some(outputs)
}

/// Milliseconds of a time as the shell's `times` prints it: `0m0.120s` (bash) or
/// `0m0.120000s` (dash).
fn shell_time_millis(text: &str) -> Option<u64> {
    let (minutes, seconds) = text.strip_suffix('s')?.split_once('m')?;
    let seconds: f64 = seconds.parse().ok()?;
    Some(minutes.parse::<u64>().ok()? * 60_000 + (seconds * 1000.0).round() as u64)
}

pub(crate) fn from_hex(hex: &str) -> Option<String> {
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_times_read_as_bash_and_dash_print_them() {
        assert_eq!(shell_time_millis("0m0.120s"), Some(120));
        assert_eq!(shell_time_millis("1m2.500000s"), Some(62_500));
        assert_eq!(shell_time_millis("0m0.000000s"), Some(0));
        assert_eq!(shell_time_millis("12"), None);
        assert_eq!(shell_time_millis("xm1s"), None);
    }

    #[test]
    fn hex_round_trips_and_rejects_odd_input() {
        assert_eq!(from_hex("6869").as_deref(), Some("hi"));
        assert_eq!(from_hex("").as_deref(), Some(""));
        assert_eq!(from_hex("686"), None);
        assert_eq!(from_hex("zz"), None);
    }
}
