//! What the CLI tests share: where the repository is, and the STRATA_HOME of the tests on
//! real lab hosts (one image cached there for all of them).
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};

/// The repository's root: tests run the binary from there, as a user would.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The STRATA_HOME of the lab tests.
pub fn lab_home() -> PathBuf {
    root().join("target/lab-tests-home")
}
