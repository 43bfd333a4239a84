//! What the CLI tests share: where the repository is, and the STRATA_HOME of the tests on
//! real lab hosts (one image cached there for all of them).
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// `strata ARGS` from the repository's root, in the lab tests' STRATA_HOME, with the
/// built-in catalog.
pub fn strata_in_lab_home(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .current_dir(root())
        .env("STRATA_HOME", lab_home())
        .env_remove("STRATA_CATALOG")
        .output()
        .unwrap()
}

/// What a command printed, stdout then stderr.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `strata ARGS` (in the lab tests' home), asserts it succeeded, and returns its stdout.
pub fn ok_in_lab_home(args: &[&str]) -> String {
    let out = strata_in_lab_home(args);
    assert!(
        out.status.success(),
        "strata {}: {}",
        args.join(" "),
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command on a lab host (in the lab tests' home): whether it succeeded, and its trimmed
/// stdout.
pub fn on_lab_host(lab: &str, node: &str, script: &str) -> (bool, String) {
    let out = strata_in_lab_home(&["lab", "ssh", "--lab", lab, node, script]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}
