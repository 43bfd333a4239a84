//! File system errors that name the file and what was being done to it, and writing a file
//! (its directory made first) with a given mode. Shared by the image, lab and engine crates.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
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
    // Created with its mode, and the mode set before the content goes in: a secret is never
    // readable by others, not even for a moment.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(io("opening", path))?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io("chmod", path))?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io("writing", path))
}
