//! A YAML document as a tree in which every node, and every map key, keeps where it was
//! written. Scalars keep their text; their type (null, bool, int, float, string) is resolved
//! on demand by YAML 1.2's core schema, so nothing is lost before the decoder asks.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::{Diagnostic, FileId, Label, Loc};

/// How deep a document may nest before we refuse it (keeps a hostile file from overflowing
/// the stack).
const MAX_DEPTH: usize = 128;

/// The most values a document may hold once its aliases are expanded. A spec of 5,000 edge
/// sites of 20 nodes holds about 1.4 million; a few nested aliases can ask for billions (each
/// alias copies its anchor's whole tree) and would take all memory.
pub const MAX_VALUES: usize = 4_000_000;

/// One YAML value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub loc: Loc,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar's text; `quoted` scalars are always strings.
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    /// Entries in file order; keys are unique (a duplicate is a parse error).
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn new(loc: Loc, value: Value) -> Self {
        Node { loc, value }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, quoted: false } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The scalar's text, whatever its resolved type (a `name: 2024` is still a usable name).
    pub fn scalar_text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } if !self.is_null() => Some(text),
            _ => None,
        }
    }

    /// A string scalar (quoted, or plain text that is not null, a bool or a number).
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, quoted: true } => Some(text),
            Value::Scalar { text, .. } if self.type_name() == "string" => Some(text),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Scalar {
                text,
                quoted: false,
            } => match text.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match &self.value {
            Value::Scalar {
                text,
                quoted: false,
            } => parse_int(text),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match &self.value {
            Value::Scalar {
                text,
                quoted: false,
            } => parse_int(text)
                .map(|i| i as f64)
                .or_else(|| parse_float(text)),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value under `key` in a map.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.scalar_text() == Some(key))
            .map(|(_, v)| v)
    }

    /// What a user would call this value's type, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
            Value::Scalar { quoted: true, .. } => "string",
            Value::Scalar { text, .. } => {
                if self.is_null() {
                    "null"
                } else if self.as_bool().is_some() {
                    "boolean"
                } else if parse_int(text).is_some() {
                    "integer"
                } else if parse_float(text).is_some() {
                    "number"
                } else {
                    "string"
                }
            }
        }
    }
}

fn parse_int(text: &str) -> Option<i64> {
    let (neg, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let value = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -value } else { value })
}

fn parse_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    // YAML 1.2 core: [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    let ok = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && text.bytes().any(|b| b.is_ascii_digit())
        && !text.contains(':');
    if ok {
        text.parse().ok()
    } else {
        None
    }
}

/// Parses one YAML document into a [`Node`] tree. An empty file is a null document.
/// Syntax errors, duplicate keys and non-scalar keys come back as diagnostics.
pub fn parse_yaml(file: FileId, text: &str) -> Result<Node, Diagnostic> {
    let mut builder = Builder {
        file,
        events: Parser::new_from_str(text),
        anchors: HashMap::new(),
        values: 0,
    };
    builder.document()
}

struct Builder<'a> {
    file: FileId,
    events: Parser<'a, saphyr_parser::StrInput<'a>>,
    /// Anchored nodes with how many values each holds.
    anchors: HashMap<usize, (Node, usize)>,
    /// Values made so far, aliases' copies included.
    values: usize,
}

impl<'a> Builder<'a> {
    fn loc(&self, span: Span) -> Loc {
        let len = if span.end.line() == span.start.line() {
            (span.end.index().saturating_sub(span.start.index())).max(1)
        } else {
            1
        };
        Loc::new(
            self.file,
            span.start.line() as u32,
            span.start.col() as u32 + 1,
            len as u32,
        )
    }

    fn next(&mut self) -> Result<(Event<'a>, Span), Diagnostic> {
        match self.events.next_event() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(err)) => {
                let m = err.marker();
                let loc = Loc::new(self.file, m.line() as u32, m.col() as u32 + 1, 1);
                Err(Diagnostic::error(
                    loc,
                    format!("invalid YAML: {}", err.info()),
                )
                .with_help("fix the YAML syntax at this place (indentation, a missing `:` or an unclosed bracket or quote)"))
            }
            None => Err(Diagnostic::error(
                Loc::new(self.file, 1, 1, 1),
                "invalid YAML: the document ended unexpectedly",
            )),
        }
    }

    fn document(&mut self) -> Result<Node, Diagnostic> {
        let mut root = None;
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => break,
                Event::DocumentStart(_) => {
                    if root.is_some() {
                        return Err(Diagnostic::error(
                            self.loc(span),
                            "a spec file holds one YAML document, this is a second one",
                        )
                        .with_help("remove the `---` line, or split the documents into separate `-e` files"));
                    }
                    let (ev, sp) = self.next()?;
                    let node = match ev {
                        Event::DocumentEnd => Node::new(self.loc(sp), scalar(String::new(), false)),
                        ev => self.node(ev, sp, 0)?,
                    };
                    root = Some(node);
                }
                _ => unreachable_event(self.loc(span))?,
            }
        }
        Ok(root.unwrap_or_else(|| {
            Node::new(Loc::new(self.file, 1, 1, 1), scalar(String::new(), false))
        }))
    }

    fn node(&mut self, event: Event<'a>, span: Span, depth: usize) -> Result<Node, Diagnostic> {
        if depth > MAX_DEPTH {
            return Err(Diagnostic::error(
                self.loc(span),
                format!("YAML nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        let loc = self.loc(span);
        let first_value = self.values;
        self.count(loc, 1)?;
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let quoted = !matches!(style, ScalarStyle::Plain);
                (Node::new(loc, scalar(text.into_owned(), quoted)), anchor)
            }
            Event::Alias(id) => {
                let Some(&(_, size)) = self.anchors.get(&id) else {
                    return Err(Diagnostic::error(loc, "alias to an unknown anchor"));
                };
                // Counted before the copy: a copy too large to hold is never made.
                self.count(loc, size)?;
                return Ok(Node {
                    loc,
                    value: self.anchors[&id].0.value.clone(),
                });
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (ev, sp) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, sp, depth + 1)?);
                }
                (Node::new(loc, Value::Seq(items)), anchor)
            }
            Event::MappingStart(anchor, _) => {
                let mut entries: Vec<(Node, Node)> = Vec::new();
                let mut seen: HashMap<String, Loc> = HashMap::new();
                loop {
                    let (ev, sp) = self.next()?;
                    if matches!(ev, Event::MappingEnd) {
                        break;
                    }
                    let key = self.node(ev, sp, depth + 1)?;
                    let Value::Scalar { text, .. } = &key.value else {
                        return Err(Diagnostic::error(
                            key.loc,
                            "a map key must be a plain name, not a list or a map",
                        ));
                    };
                    if let Some(first) = seen.get(text) {
                        return Err(Diagnostic::error(
                            key.loc,
                            format!("duplicate key `{text}`"),
                        )
                        .with_label(Label::new(*first, "first defined here"))
                        .with_help("each key may appear once in a map: merge the two entries or rename one"));
                    }
                    seen.insert(text.clone(), key.loc);
                    let (ev, sp) = self.next()?;
                    let value = self.node(ev, sp, depth + 1)?;
                    entries.push((key, value));
                }
                (Node::new(loc, Value::Map(entries)), anchor)
            }
            _ => {
                return Err(Diagnostic::error(
                    loc,
                    "invalid YAML: unexpected structure here",
                ))
            }
        };
        if anchor != 0 {
            let size = self.values - first_value;
            self.anchors.insert(anchor, (node.clone(), size));
        }
        Ok(node)
    }

    /// Counts `n` more values, failing once the document holds more than `MAX_VALUES`.
    fn count(&mut self, loc: Loc, n: usize) -> Result<(), Diagnostic> {
        self.values = self.values.saturating_add(n);
        if self.values > MAX_VALUES {
            return Err(Diagnostic::error(
                loc,
                format!("this YAML expands to more than {MAX_VALUES} values (aliases copy their anchor each time)"),
            )
            .with_help("a spec needs far fewer: write the values out, or use fewer nested aliases"));
        }
        Ok(())
    }
}

fn scalar(text: String, quoted: bool) -> Value {
    Value::Scalar { text, quoted }
}

fn unreachable_event(loc: Loc) -> Result<(), Diagnostic> {
    Err(Diagnostic::error(
        loc,
        "invalid YAML: unexpected structure here",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Node, Diagnostic> {
        parse_yaml(FileId(0), text)
    }

    #[test]
    fn scalars_resolve_by_the_core_schema() {
        let doc = parse("a: 1\nb: '1'\nc: true\nd: ~\ne: 10.0.0.1\nf: 0.5\ng: yes\n").unwrap();
        assert_eq!(doc.get("a").unwrap().as_i64(), Some(1));
        assert_eq!(doc.get("b").unwrap().as_str(), Some("1"));
        assert_eq!(doc.get("b").unwrap().as_i64(), None);
        assert_eq!(doc.get("c").unwrap().as_bool(), Some(true));
        assert!(doc.get("d").unwrap().is_null());
        assert_eq!(doc.get("e").unwrap().as_str(), Some("10.0.0.1"));
        assert_eq!(doc.get("f").unwrap().as_f64(), Some(0.5));
        assert_eq!(doc.get("g").unwrap().as_str(), Some("yes"));
    }

    #[test]
    fn every_value_keeps_line_and_column() {
        let doc = parse("sites:\n  central:\n    subnet: 10.0.0.0/24\n").unwrap();
        let subnet = doc
            .get("sites")
            .unwrap()
            .get("central")
            .unwrap()
            .get("subnet")
            .unwrap();
        assert_eq!(
            (subnet.loc.line, subnet.loc.col, subnet.loc.len),
            (3, 13, 11)
        );
    }

    #[test]
    fn duplicate_keys_are_errors_naming_both_places() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert!(err.message.contains("duplicate key `a`"), "{}", err.message);
        assert_eq!(err.loc.line, 3);
        assert_eq!(err.labels[0].loc.line, 1);
    }

    #[test]
    fn syntax_errors_point_at_the_place() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.message.starts_with("invalid YAML"));
        assert!(err.loc.line >= 1);
    }

    #[test]
    fn nested_aliases_cannot_take_all_memory() {
        // Each level doubles ten times: 10^9 values at the ninth.
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let started = std::time::Instant::now();
        let err = parse(&text).unwrap_err();
        assert!(
            err.message.contains("expands to more than"),
            "{}",
            err.message
        );
        assert_eq!(err.loc.line, 7, "the alias that crosses the bound (a6)");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // A few aliases of a small anchor are fine.
        assert!(parse("x: &d { a: 1 }\ny: [*d, *d, *d]\n").is_ok());
    }

    #[test]
    fn aliases_copy_the_anchored_value() {
        let doc = parse("x: &d { a: 1 }\ny: *d\n").unwrap();
        assert_eq!(doc.get("y").unwrap().get("a").unwrap().as_i64(), Some(1));
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        let text = "[".repeat(1000);
        assert!(parse(&text).is_err());
    }

    #[test]
    fn empty_file_is_null() {
        assert!(parse("").unwrap().is_null());
        assert!(parse("# only a comment\n").unwrap().is_null());
    }
}
