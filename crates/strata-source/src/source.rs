//! The files a run has read, so that a location (`Loc`) stays four integers and can still be
//! printed as `path:line:col` with the offending line underneath.

use std::fmt;

/// Index of a file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A place in a source file: 1-based line and column (in characters) and a length for carets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Loc {
    pub file: FileId,
    pub line: u32,
    pub col: u32,
    pub len: u32,
}

impl Loc {
    pub fn new(file: FileId, line: u32, col: u32, len: u32) -> Self {
        Loc {
            file,
            line,
            col,
            len,
        }
    }
}

struct SourceFile {
    name: String,
    text: String,
}

/// Every file read in this run, by [`FileId`].
#[derive(Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a file's text under the name diagnostics will print.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.push(SourceFile {
            name: name.into(),
            text: text.into(),
        });
        FileId((self.files.len() - 1) as u32)
    }

    pub fn name(&self, file: FileId) -> &str {
        self.files
            .get(file.0 as usize)
            .map(|f| f.name.as_str())
            .unwrap_or("<unknown>")
    }

    pub fn text(&self, file: FileId) -> &str {
        self.files
            .get(file.0 as usize)
            .map(|f| f.text.as_str())
            .unwrap_or("")
    }

    /// The text of one line (1-based), without its line ending.
    pub fn line(&self, file: FileId, line: u32) -> Option<&str> {
        self.text(file)
            .lines()
            .nth(line.checked_sub(1)? as usize)
            .map(|l| l.trim_end_matches('\r'))
    }

    /// `path:line:col` for a location.
    pub fn display(&self, loc: Loc) -> impl fmt::Display + '_ {
        DisplayLoc { map: self, loc }
    }
}

struct DisplayLoc<'a> {
    map: &'a SourceMap,
    loc: Loc,
}

impl fmt::Display for DisplayLoc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.map.name(self.loc.file),
            self.loc.line,
            self.loc.col
        )
    }
}
