//! Fact probes: one shell script that reports, for every operation of a step, how the host
//! is now, as lines `@F<op> <key> <value>`; and the parser of that output.

use std::collections::HashMap;

use crate::{quote, Op};

/// Facts per operation index: key -> value.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Facts {
    by_op: HashMap<usize, HashMap<String, String>>,
}

pub struct OpFacts<'a>(Option<&'a HashMap<String, String>>);

impl OpFacts<'_> {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0?.get(key).map(String::as_str)
    }
}

impl Facts {
    pub fn of(&self, op: usize) -> OpFacts<'_> {
        OpFacts(self.by_op.get(&op))
    }

    pub fn set(&mut self, op: usize, key: &str, value: &str) {
        self.by_op
            .entry(op)
            .or_default()
            .insert(key.to_owned(), value.to_owned());
    }
}

/// The probe script for `ops` (empty when no operation needs facts).
pub fn probe_script(ops: &[Op]) -> String {
    let mut script = String::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Packages { names } if !names.is_empty() => {
                let list = names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(" ");
                script.push_str(&format!("dpkg-query -W -f='@F{i} ${{Package}} ${{db:Status-Abbrev}}\\n' {list} 2>/dev/null || true\n"));
            }
            Op::File { path, .. } => {
                let p = quote(path);
                script.push_str(&format!("if [ -f {p} ]; then echo \"@F{i} sha $(sha256sum < {p} | cut -d' ' -f1)\"; echo \"@F{i} stat $(stat -c '%U %G %a' {p})\"; fi\n"));
            }
            Op::Service {
                unit,
                restart_on_change,
                watch,
                ..
            } => {
                let u = quote(unit);
                script.push_str(&format!("echo \"@F{i} enabled $(systemctl is-enabled {u} 2>/dev/null)\"; echo \"@F{i} active $(systemctl is-active {u} 2>/dev/null)\"\n"));
                // A watched file newer than the unit's start (changed by an earlier step, or
                // by a run that failed before restarting it): the unit runs an old config.
                if *restart_on_change && !watch.is_empty() {
                    let files = watch.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
                    script.push_str(&format!("S=$(date -d \"$(systemctl show -p ActiveEnterTimestamp --value {u} 2>/dev/null)\" +%s 2>/dev/null) && for W in {files}; do if [ -e \"$W\" ] && [ \"$(stat -c %Y \"$W\")\" -gt \"$S\" ]; then echo '@F{i} stale yes'; break; fi; done\n"));
                }
            }
            Op::Command {
                creates, unless, ..
            } => {
                if let Some(path) = creates {
                    script.push_str(&format!(
                        "if [ -e {} ]; then echo '@F{i} done yes'; fi\n",
                        quote(path)
                    ));
                } else if let Some(check) = unless {
                    script.push_str(&format!(
                        "if ( {check} ) >/dev/null 2>&1; then echo '@F{i} done yes'; fi\n"
                    ));
                }
            }
            _ => {}
        }
    }
    script
}

/// Reads probe output into facts. Package lines become `<package>: installed` when dpkg
/// says the package is installed (`ii`).
pub fn parse_facts(ops: &[Op], output: &str) -> Facts {
    let mut facts = Facts::default();
    for line in output.lines() {
        let Some(rest) = line.strip_prefix("@F") else {
            continue;
        };
        let Some((index, rest)) = rest.split_once(' ') else {
            continue;
        };
        let Ok(i) = index.parse::<usize>() else {
            continue;
        };
        let (key, value) = rest.split_once(' ').unwrap_or((rest, ""));
        match ops.get(i) {
            Some(Op::Packages { .. }) if value.trim() == "ii" => facts.set(i, key, "installed"),
            Some(Op::Packages { .. }) => {}
            Some(_) => facts.set(i, key, value.trim()),
            None => {}
        }
    }
    facts
}
