//! Reading the spec and its override files from disk, parsing each, merging them in order
//! (later wins), then decoding. A file that cannot be read is an error of its own; everything
//! wrong inside the files is collected as diagnostics.

use std::path::{Path, PathBuf};

use strata_source::{merge, parse_yaml, Diagnostics, SourceMap};

use crate::{decode_spec, RawSpec};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not UTF-8 text{encoding}: a spec is YAML in UTF-8")]
    NotText { path: PathBuf, encoding: String },
}

/// A file's text, or why it is not text a spec can be.
fn read_text(path: &Path) -> Result<String, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let encoding = if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
            " (it is UTF-16: convert it with `iconv -f UTF-16 -t UTF-8`)".to_owned()
        } else {
            let at = e.utf8_error().valid_up_to();
            format!(" (byte {at} is not)")
        };
        LoadError::NotText {
            path: path.to_owned(),
            encoding,
        }
    })
}

/// A decoded spec (absent when a file did not parse) and every diagnostic found on the way.
pub struct Loaded {
    pub spec: Option<RawSpec>,
    pub diagnostics: Diagnostics,
}

/// Loads `main` with `overrides` applied in order.
pub fn load(
    sources: &mut SourceMap,
    main: &Path,
    overrides: &[PathBuf],
) -> Result<Loaded, LoadError> {
    let mut files = Vec::new();
    for path in std::iter::once(main).chain(overrides.iter().map(PathBuf::as_path)) {
        let text = read_text(path)?;
        files.push((path.display().to_string(), text));
    }
    Ok(load_str(sources, files))
}

/// Loads already-read files: the first is the spec, the rest are overrides in order.
pub fn load_str(sources: &mut SourceMap, files: Vec<(String, String)>) -> Loaded {
    let mut diagnostics = Diagnostics::new();
    let mut merged = None;
    let mut parse_failed = false;
    for (name, text) in files {
        let file = sources.add(name, text);
        match parse_yaml(file, sources.text(file)) {
            Ok(doc) => match &mut merged {
                None => merged = Some(doc),
                Some(base) => merge(base, doc),
            },
            Err(diagnostic) => {
                parse_failed = true;
                diagnostics.push(diagnostic);
            }
        }
    }
    let spec = match merged {
        Some(root) if !parse_failed => Some(decode_spec(&root, &mut diagnostics)),
        _ => None,
    };
    Loaded { spec, diagnostics }
}
