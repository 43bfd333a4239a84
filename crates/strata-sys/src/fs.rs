//! File system errors that name the file and what was being done to it, and writing a file
//! (its directory made first) with a given mode. Shared by the image, lab and engine crates.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("{what} {path}: {source}")]
pub struct IoError {
    pub what: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// For `map_err`: turns an io::Error into an [`IoError`] about `path`.
pub fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> IoError + 'a {
    move |source| IoError {
        what,
        path: path.to_owned(),
        source,
    }
}

/// Writes `text` to `path` with `mode`, making its directory first.
pub fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), IoError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    }
    std::fs::write(path, text).map_err(io("writing", path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io("chmod", path))
}
