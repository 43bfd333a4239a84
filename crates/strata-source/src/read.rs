//! Reading a YAML map into typed values: unknown keys reported with the closest known field,
//! wrong types reported at the value, and reading goes on so one run finds every problem.
//! Shared by the spec and the service catalog.

use crate::{Diagnostic, Diagnostics, Node, Value};

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub loc: crate::Loc,
}

impl<T> Spanned<T> {
    pub fn new(value: T, loc: crate::Loc) -> Self {
        Spanned { value, loc }
    }
}

/// A YAML map whose keys were checked against the fields a place allows.
pub struct MapReader<'a> {
    node: Option<&'a Node>,
}

impl<'a> MapReader<'a> {
    /// Reads `node` as a map of `what` (e.g. "node `ctl-0`") with the given fields. Unknown
    /// keys are reported with the closest known field. A null node reads as an empty map.
    pub fn new(node: &'a Node, what: &str, allowed: &[&str], diags: &mut Diagnostics) -> Self {
        if node.is_null() {
            return MapReader { node: None };
        }
        let Some(entries) = node.as_map() else {
            diags.push(
                Diagnostic::error(
                    node.loc,
                    format!("{what} must be a map, found {}", node.type_name()),
                )
                .with_help(format!(
                    "write it as `key: value` lines; its fields are: {}",
                    allowed.join(", ")
                )),
            );
            return MapReader { node: None };
        };
        for (key, _) in entries {
            let name = key.scalar_text().unwrap_or_default();
            if !allowed.contains(&name) {
                let help = match closest(name, allowed.iter().copied()) {
                    Some(near) => format!(
                        "did you mean `{near}`? {what} takes: {}",
                        allowed.join(", ")
                    ),
                    None => format!("{what} takes: {}", allowed.join(", ")),
                };
                diags.push(
                    Diagnostic::error(key.loc, format!("unknown field `{name}` in {what}"))
                        .with_help(help),
                );
            }
        }
        MapReader { node: Some(node) }
    }

    /// A field that must be present: when absent, an error at the map says what to add.
    pub fn require(
        &self,
        key: &str,
        what: &str,
        help: &str,
        diags: &mut Diagnostics,
    ) -> Option<&'a Node> {
        let found = self.get(key);
        if found.is_none() {
            if let Some(map) = self.node {
                diags.push(
                    Diagnostic::error(map.loc, format!("{what} has no `{key}`"))
                        .with_help(help.to_owned()),
                );
            }
        }
        found
    }

    /// Whether the map was present and readable.
    pub fn is_map(&self) -> bool {
        self.node.is_some()
    }

    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.node?.get(key).filter(|n| !n.is_null())
    }
}

/// The known name closest to `name` by edit distance, when it is close enough to be a typo.
pub fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(2);
    known
        .map(|k| (edit_distance(&name.to_lowercase(), &k.to_lowercase()), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

pub fn type_error(node: &Node, what: &str, expected: &str, diags: &mut Diagnostics) {
    diags.push(
        Diagnostic::error(
            node.loc,
            format!("{what} must be {expected}, found {}", node.type_name()),
        )
        .with_help(format!("write {what} as {expected}")),
    );
}

pub fn string(node: Option<&Node>, what: &str, diags: &mut Diagnostics) -> Option<Spanned<String>> {
    let node = node?;
    match &node.value {
        Value::Scalar { .. } => node
            .scalar_text()
            .map(|t| Spanned::new(t.to_owned(), node.loc)),
        _ => {
            type_error(node, what, "a string", diags);
            None
        }
    }
}

pub fn uint(
    node: Option<&Node>,
    what: &str,
    max: u32,
    diags: &mut Diagnostics,
) -> Option<Spanned<u32>> {
    let node = node?;
    match node.as_i64() {
        Some(v) if (0..=max as i64).contains(&v) => Some(Spanned::new(v as u32, node.loc)),
        Some(v) => {
            diags.push(
                Diagnostic::error(node.loc, format!("{what} is {v}, outside 0..={max}"))
                    .with_help(format!("use a whole number from 0 to {max}")),
            );
            None
        }
        None => {
            type_error(node, what, "a whole number", diags);
            None
        }
    }
}

pub fn boolean(node: Option<&Node>, what: &str, diags: &mut Diagnostics) -> Option<Spanned<bool>> {
    let node = node?;
    match node.as_bool() {
        Some(v) => Some(Spanned::new(v, node.loc)),
        None => {
            type_error(node, what, "true or false", diags);
            None
        }
    }
}

pub fn float(node: Option<&Node>, what: &str, diags: &mut Diagnostics) -> Option<Spanned<f64>> {
    let node = node?;
    match node.as_f64() {
        Some(v) if v.is_finite() && v >= 0.0 => Some(Spanned::new(v, node.loc)),
        _ => {
            type_error(node, what, "a number of at least 0", diags);
            None
        }
    }
}

pub fn string_list(
    node: Option<&Node>,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<Spanned<Vec<Spanned<String>>>> {
    let node = node?;
    match node.as_seq() {
        Some(items) => Some(Spanned::new(
            items
                .iter()
                .filter_map(|item| string(Some(item), &format!("an entry of {what}"), diags))
                .collect(),
            node.loc,
        )),
        None => {
            type_error(node, what, "a list", diags);
            None
        }
    }
}

/// The entries of a map keyed by name (sites, nodes, roles...), names with their locations.
pub fn named_entries<'a>(
    node: Option<&'a Node>,
    what: &str,
    diags: &mut Diagnostics,
) -> Vec<(Spanned<String>, &'a Node)> {
    let Some(node) = node else { return Vec::new() };
    match node.as_map() {
        Some(entries) => entries
            .iter()
            .map(|(k, v)| {
                (
                    Spanned::new(k.scalar_text().unwrap_or_default().to_owned(), k.loc),
                    v,
                )
            })
            .collect(),
        None => {
            type_error(node, what, "a map keyed by name", diags);
            Vec::new()
        }
    }
}
