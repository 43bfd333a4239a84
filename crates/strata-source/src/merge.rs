//! Override files (`-e FILE`) layered on the spec: maps merge deeply, anything else (lists,
//! scalars) is replaced by the later file, and `key: null` in an override removes the key.
//! Values keep the location of the file that set them, so diagnostics point there.

use crate::{Node, Value};

/// Applies `over` on top of `base`.
pub fn merge(base: &mut Node, over: Node) {
    if over.is_null() {
        // A null override of a whole document changes nothing.
        return;
    }
    // A key removed by `key: null`: the map now points at that line, so what is said of
    // the map afterwards ("has no `subnet`") points where the override took it away.
    let mut removed_at = None;
    match (&mut base.value, over.value) {
        (Value::Map(base_entries), Value::Map(over_entries)) => {
            for (key, value) in over_entries {
                let name = key.scalar_text().unwrap_or_default().to_owned();
                let existing = base_entries
                    .iter()
                    .position(|(k, _)| k.scalar_text() == Some(name.as_str()));
                match existing {
                    Some(i) if value.is_null() => {
                        base_entries.remove(i);
                        removed_at = Some(key.loc);
                    }
                    Some(i) => merge(&mut base_entries[i].1, value),
                    None if value.is_null() => {}
                    None => base_entries.push((key, value)),
                }
            }
        }
        (_, value) => {
            base.value = value;
            base.loc = over.loc;
        }
    }
    if let Some(loc) = removed_at {
        base.loc = loc;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_yaml, FileId};

    fn doc(file: u32, text: &str) -> Node {
        parse_yaml(FileId(file), text).unwrap()
    }

    #[test]
    fn maps_merge_deeply_and_later_wins() {
        let mut base = doc(0, "a: { b: 1, c: 2 }\nl: [1, 2, 3]\n");
        merge(&mut base, doc(1, "a: { c: 3, d: 4 }\nl: [9]\n"));
        let a = base.get("a").unwrap();
        assert_eq!(a.get("b").unwrap().as_i64(), Some(1));
        assert_eq!(a.get("c").unwrap().as_i64(), Some(3));
        assert_eq!(a.get("d").unwrap().as_i64(), Some(4));
        assert_eq!(
            base.get("l").unwrap().as_seq().unwrap().len(),
            1,
            "lists replace"
        );
    }

    #[test]
    fn overridden_values_point_at_the_override_file() {
        let mut base = doc(0, "a:\n  b: 1\n");
        merge(&mut base, doc(1, "a: { b: 2 }\n"));
        let b = base.get("a").unwrap().get("b").unwrap();
        assert_eq!(b.loc.file, FileId(1));
        assert_eq!(
            base.get("a").unwrap().loc.file,
            FileId(0),
            "the map itself was not replaced"
        );
    }

    #[test]
    fn null_removes_a_key() {
        let mut base = doc(0, "nodes: { a: 1, b: 2 }\n");
        merge(&mut base, doc(1, "nodes: { a: null }\n"));
        assert!(base.get("nodes").unwrap().get("a").is_none());
        assert!(base.get("nodes").unwrap().get("b").is_some());
        let nodes = base.get("nodes").unwrap();
        assert_eq!(
            (nodes.loc.file, nodes.loc.line, nodes.loc.col),
            (FileId(1), 1, 10),
            "the map points at the `a: null` that changed it"
        );
    }
}
