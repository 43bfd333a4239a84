//! Fact probes: one shell script that reports, for every operation of a step, how the host
//! is now, as lines `@F<op> <key> <value>`; and the parser of that output.

use std::collections::{BTreeSet, HashMap};

use crate::{quote, Op};

/// What a host said about one operation. Every field starts as "not seen", which plans the
/// operation's command: a probe that could not tell leads to doing, never to skipping.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OpFacts {
    /// Packages dpkg reports installed (`ii`).
    pub installed: BTreeSet<String>,
    /// A file's SHA-256 (a directory or a missing file has none).
    pub sha256: Option<String>,
    /// A file's owner, group and mode.
    pub owner: Option<(String, String, u32)>,
    /// A unit's UnitFileState (`enabled`, `disabled`, ...).
    pub unit_file_state: Option<String>,
    /// A unit's ActiveState (`active`, `inactive`, `failed`, ...).
    pub active_state: Option<String>,
    /// A file the unit watches is newer than the unit's start.
    pub stale: bool,
    /// A command's guard holds: it has taken effect.
    pub done: bool,
    /// A wait's condition holds now (the look ahead).
    pub ready: bool,
    /// What a fetch reads now (the look ahead).
    pub value: Option<String>,
}

impl OpFacts {
    /// Learns one probe line's `key value` (see the probe scripts for who says what).
    fn learn(&mut self, key: &str, value: &str) {
        match key {
            "sha" => self.sha256 = Some(value.to_owned()),
            "stat" => {
                let mut words = value.split_whitespace();
                if let (Some(u), Some(g), Some(mode), None) =
                    (words.next(), words.next(), words.next(), words.next())
                {
                    if let Ok(mode) = u32::from_str_radix(mode, 8) {
                        self.owner = Some((u.to_owned(), g.to_owned(), mode));
                    }
                }
            }
            "enabled" => self.unit_file_state = Some(value.to_owned()),
            "active" => self.active_state = Some(value.to_owned()),
            "stale" => self.stale = value == "yes",
            "done" => self.done = value == "yes",
            "ready" => self.ready = value == "yes",
            "value" => self.value = crate::ahead::from_hex(value),
            _ => {}
        }
    }

    pub fn enabled(&self) -> bool {
        self.unit_file_state.as_deref() == Some("enabled")
    }

    pub fn active(&self) -> bool {
        self.active_state.as_deref() == Some("active")
    }
}

/// Facts per operation index.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Facts {
    by_op: HashMap<usize, OpFacts>,
}

static NOTHING_SEEN: std::sync::LazyLock<OpFacts> = std::sync::LazyLock::new(OpFacts::default);

impl Facts {
    /// What is known of operation `op` (nothing seen when the probe said nothing).
    pub fn of(&self, op: usize) -> &OpFacts {
        self.by_op.get(&op).unwrap_or(&NOTHING_SEEN)
    }

    /// Operation `op`'s facts, to set.
    pub fn op(&mut self, op: usize) -> &mut OpFacts {
        self.by_op.entry(op).or_default()
    }

    /// Learns a probe line of operation `op`, as the parser does: `sha <hex>`, `stat <owner>
    /// <group> <octal mode>`, `enabled <state>`, `active <state>`, `stale yes`, `done yes`,
    /// `ready yes`, `value <hex>`.
    pub fn set(&mut self, op: usize, key: &str, value: &str) {
        self.op(op).learn(key, value);
    }
}

/// The probe script for `ops` (empty when no operation needs facts).
pub fn probe_script(ops: &[Op]) -> String {
    let mut script = String::new();
    let files: Vec<(usize, &str)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::File { path, .. } => Some((i, path.as_str())),
            _ => None,
        })
        .collect();
    script.push_str(&files_probe(&files));
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Packages { names } if !names.is_empty() => {
                let list = names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(" ");
                script.push_str(&format!("dpkg-query -W -f='@F{i} ${{Package}} ${{db:Status-Abbrev}}\\n' {list} 2>/dev/null || true\n"));
            }
            Op::Service {
                unit,
                restart_on_change,
                watch,
                ..
            } => {
                // One systemctl for whether it is enabled, whether it runs, and since when.
                let u = quote(unit);
                let stale = if *restart_on_change && !watch.is_empty() {
                    // A watched file newer than the unit's start (changed by an earlier
                    // step, or by a run that failed before restarting it): the unit runs
                    // an old config.
                    let files = watch.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
                    format!(" ActiveEnterTimestamp=@[0-9]*) S=${{line#*@}}; for W in $(stat -c %Y -- {files} 2>/dev/null); do if [ \"$W\" -gt \"$S\" ]; then echo '@F{i} stale yes'; break; fi; done ;;")
                } else {
                    String::new()
                };
                script.push_str(&format!("systemctl show --timestamp=unix -p UnitFileState -p ActiveState -p ActiveEnterTimestamp -- {u} 2>/dev/null | while read -r line; do case $line in UnitFileState=*) echo \"@F{i} enabled ${{line#*=}}\" ;; ActiveState=*) echo \"@F{i} active ${{line#*=}}\" ;;{stale} esac; done\n"));
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
                    // A guard only reads: one that crashed is asked again rather than
                    // taken for "not done", which would run its command for nothing.
                    let ask = crate::render::again_if_killed(
                        &format!("( {check}\n) >/dev/null 2>&1\nrc=$?"),
                        &format!("the guard `{}`", crate::first_line(check)),
                    );
                    script.push_str(&format!(
                        "{ask}if [ $rc -eq 0 ]; then echo '@F{i} done yes'; fi\n"
                    ));
                }
            }
            _ => {}
        }
    }
    script
}

/// The content and owner of every file of a step, in two processes however many files:
/// `sha256sum` and `stat` each take all the paths, and a path that is not there prints
/// nothing (a directory gets no checksum, so it counts as not written either).
fn files_probe(files: &[(usize, &str)]) -> String {
    let mut paths: Vec<&str> = Vec::new();
    for (_, path) in files {
        if !paths.contains(path) {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return String::new();
    }
    let list = paths.iter().map(|p| quote(p)).collect::<Vec<_>>().join(" ");
    // One case arm per path, reporting for every operation that names it.
    let arms = |fact: &str, value: &str| -> String {
        paths
            .iter()
            .map(|path| {
                let echoes: Vec<String> = files
                    .iter()
                    .filter(|(_, p)| p == path)
                    .map(|(i, _)| format!("echo \"@F{i} {fact} {value}\""))
                    .collect();
                format!(" {}) {} ;;", quote(path), echoes.join("; "))
            })
            .collect()
    };
    format!(
        "sha256sum -- {list} 2>/dev/null | while read -r sum path; do case $path in{} esac; done\n\
         stat -c '%U %G %a %n' -- {list} 2>/dev/null | while read -r u g a path; do case $path in{} esac; done\n",
        arms("sha", "$sum"),
        arms("stat", "$u $g $a"),
    )
}

/// Reads probe output into facts. A package is installed when dpkg says `ii`.
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
            Some(Op::Packages { .. }) if value.trim() == "ii" => {
                facts.op(i).installed.insert(key.to_owned());
            }
            Some(Op::Packages { .. }) => {}
            Some(_) => facts.set(i, key, value.trim()),
            None => {}
        }
    }
    facts
}
