//! Running a local command and turning a failure into an error that names the command, its
//! exit code and the end of what it printed on stderr.

use std::process::{Command, Output};

#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed with {status}: {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
}

fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// The last lines of a command's stderr: enough to say why, short enough to read.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// Runs `cmd`, returning its stdout; any non-zero exit is an error.
pub fn run(cmd: &mut Command) -> Result<String, CmdError> {
    let out = output(cmd)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(CmdError::Failed {
            command: describe(cmd),
            status: out.status.to_string(),
            stderr: tail(&out.stderr),
        })
    }
}

/// Runs `cmd` and reports whether it succeeded; only failing to start it is an error.
pub fn run_ok(cmd: &mut Command) -> Result<bool, CmdError> {
    Ok(output(cmd)?.status.success())
}

fn output(cmd: &mut Command) -> Result<Output, CmdError> {
    cmd.stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| CmdError::Spawn {
            command: describe(cmd),
            source,
        })
}

/// A shell script run in a private mount namespace: whatever it mounts is seen by it and
/// its children only, and goes away with them, even when they are killed. For the image
/// build's chroot and the lab's overlay roots.
pub fn in_private_mount_namespace(script: &str) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        script,
    ]);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_name_the_command_and_its_stderr() {
        let err =
            run(Command::new("sh").args(["-c", "echo one >&2; echo two >&2; exit 3"])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`sh -c echo one"), "{text}");
        assert!(text.contains("exit status: 3"), "{text}");
        assert!(text.ends_with("one\ntwo"), "{text}");
        assert_eq!(run(Command::new("echo").arg("hi")).unwrap(), "hi\n");
        assert!(!run_ok(&mut Command::new("false")).unwrap());
        assert!(matches!(
            run(&mut Command::new("/nonexistent/x")),
            Err(CmdError::Spawn { .. })
        ));
    }
}
