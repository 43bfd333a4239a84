//! Where every value of a spec came from: source files, a YAML tree whose every node keeps
//! its `file:line:col`, the deep merge of override files, and the diagnostics that point back.

mod diag;
mod merge;
mod node;
pub mod read;
mod source;

pub use diag::{Diagnostic, Diagnostics, Label, Severity};
pub use merge::merge;
pub use node::{parse_yaml, Node, Value};
pub use source::{FileId, Loc, SourceMap};
