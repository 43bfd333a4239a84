//! Diagnostics: a severity, a message that names the thing at fault, the `file:line:col` of
//! the value that caused it, optional secondary places, and a help line that says the fix.
//! Rendering is here so every command prints them the same way.

use std::fmt::Write as _;

use serde::Serialize;

use crate::{Loc, SourceMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A secondary place that explains a diagnostic ("first defined here").
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub loc: Loc,
    pub message: String,
}

impl Label {
    pub fn new(loc: Loc, message: impl Into<String>) -> Self {
        Label {
            loc,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub loc: Loc,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(loc: Loc, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            loc,
            message: message.into(),
            labels: Vec::new(),
            help: None,
        }
    }

    pub fn warning(loc: Loc, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(loc, message)
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_label(mut self, label: Label) -> Self {
        self.labels.push(label);
        self
    }

    /// Renders the diagnostic like a compiler would: headline, location, the source line
    /// with a caret under the value, labels, and the help line.
    pub fn render(&self, sources: &SourceMap) -> String {
        let mut out = String::new();
        let word = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{word}: {}", self.message);
        render_place(&mut out, sources, self.loc, None);
        for label in &self.labels {
            render_place(&mut out, sources, label.loc, Some(&label.message));
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "   = help: {help}");
        }
        out
    }
}

fn render_place(out: &mut String, sources: &SourceMap, loc: Loc, note: Option<&str>) {
    let _ = writeln!(out, "  --> {}", sources.display(loc));
    if let Some(line) = sources.line(loc.file, loc.line) {
        let number = loc.line.to_string();
        let pad = " ".repeat(number.len());
        let indent: String = line
            .chars()
            .take(loc.col.saturating_sub(1) as usize)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let carets = "^".repeat(loc.len.max(1) as usize);
        let _ = writeln!(out, " {pad} |");
        let _ = writeln!(out, " {number} | {line}");
        match note {
            Some(note) => {
                let _ = writeln!(out, " {pad} | {indent}{carets} {note}");
            }
            None => {
                let _ = writeln!(out, " {pad} | {indent}{carets}");
            }
        }
    }
}

/// Diagnostics collected over a whole run, in the order they were found.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
    /// What is already reported (place, severity, message).
    seen: std::collections::HashSet<(Loc, Severity, String)>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a diagnostic, unless the same one (place, severity and message) is already
    /// there: a shared value checked once per site or cluster is reported once.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        let key = (
            diagnostic.loc,
            diagnostic.severity,
            diagnostic.message.clone(),
        );
        if self.seen.insert(key) {
            self.items.push(diagnostic);
        }
    }

    pub fn extend(&mut self, other: Diagnostics) {
        for d in other.items {
            self.push(d);
        }
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.items.iter().filter(|d| d.severity == severity).count()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Sorted by file, line and column: the order an operator fixes them in.
    pub fn sorted(&self) -> Vec<&Diagnostic> {
        let mut items: Vec<&Diagnostic> = self.items.iter().collect();
        items.sort_by_key(|d| (d.loc.file, d.loc.line, d.loc.col, d.severity));
        items
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// Every diagnostic rendered, sorted, then a one-line summary.
    pub fn render(&self, sources: &SourceMap) -> String {
        let mut out = String::new();
        for d in self.sorted() {
            out.push_str(&d.render(sources));
            out.push('\n');
        }
        let errors = self.count(Severity::Error);
        let warnings = self.count(Severity::Warning);
        let _ = writeln!(
            out,
            "{errors} error{}, {warnings} warning{}",
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" }
        );
        out
    }
}
