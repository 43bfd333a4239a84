//! Running a shell script on a host and getting its exit code and output back. Two
//! transports share one interface: SSH through the system OpenSSH client (one ControlMaster
//! per host, so every command after the first costs milliseconds; strict host key checking
//! against the known_hosts the lab or the operator provides), and the local machine.
//! Scripts go to `sh -s` on stdin, so nothing is quoted through a remote shell.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{host}: no answer within {seconds} s")]
    Timeout { host: String, seconds: u64 },
    #[error("{host}: cannot connect: {detail}")]
    Connect { host: String, detail: String },
    #[error("{host}: the connection was lost while the script ran: {detail}")]
    Lost { host: String, detail: String },
}

/// How often ssh asks a silent host whether it is still there, and how many answers it may
/// miss: a link that dies under a running step is known dead within about 6 s, instead of
/// waiting on TCP for many minutes.
const ALIVE_INTERVAL_S: u32 = 2;
const ALIVE_MISSES: u32 = 3;

/// What a script did.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

pub trait Transport: Send + Sync {
    /// The host this transport reaches, for messages.
    fn host(&self) -> &str;
    /// Runs `script` with `sh`, failing with an error only when the host cannot be reached
    /// or does not answer in time; a script that fails comes back with its status.
    fn run(&self, script: &str, timeout: Duration) -> Result<Output, TransportError>;
    /// Ends anything kept open for this host (the SSH ControlMaster).
    fn close(&self) {}
}

/// What the remote shell prints before the script, to tell its output from ssh's failures.
const REACHED: &str = "@strata-reached@";

/// SSH through the system client.
pub struct Ssh {
    pub host: String,
    /// Address or name to connect to.
    pub address: String,
    pub user: String,
    /// An ssh_config with the identity, the known_hosts and `StrictHostKeyChecking yes`.
    pub config: Option<PathBuf>,
    /// Words run before `ssh` (the lab's `nsenter --net=...`), empty on real networks.
    pub prefix: Vec<String>,
    /// Directory for the ControlMaster socket.
    pub control_dir: PathBuf,
    pub connect_timeout: Duration,
}

impl Ssh {
    fn command(&self) -> Command {
        let mut words = self.prefix.clone();
        words.push("ssh".into());
        let mut cmd = Command::new(&words[0]);
        cmd.args(&words[1..]);
        if let Some(config) = &self.config {
            cmd.arg("-F").arg(config);
        }
        cmd.args([
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ControlMaster=auto",
            "-o",
            "ControlPersist=60",
        ])
        .arg("-o")
        .arg(format!("ControlPath={}/%C", self.control_dir.display()))
        .arg("-o")
        .arg(format!(
            "ConnectTimeout={}",
            self.connect_timeout.as_secs().max(1)
        ))
        .arg("-o")
        .arg(format!("ServerAliveInterval={ALIVE_INTERVAL_S}"))
        .arg("-o")
        .arg(format!("ServerAliveCountMax={ALIVE_MISSES}"))
        .arg(format!("{}@{}", self.user, self.address));
        cmd
    }
}

impl Transport for Ssh {
    fn host(&self) -> &str {
        &self.host
    }

    fn run(&self, script: &str, timeout: Duration) -> Result<Output, TransportError> {
        let mut cmd = self.command();
        cmd.args(["sh", "-s"]);
        // The remote shell prints a marker first: ssh's own failures (exit 255 when it could
        // not connect, authenticate or verify the host key) come without it.
        let mut out = run_with_timeout(
            &mut cmd,
            &format!("printf '{REACHED}'\n{script}"),
            timeout,
            &self.host,
        )?;
        match out.stdout.strip_prefix(REACHED) {
            Some(rest) => out.stdout = rest.to_owned(),
            None => {
                return Err(TransportError::Connect {
                    host: self.host.clone(),
                    detail: out.stderr.trim().to_owned(),
                })
            }
        }
        // ssh's own status once the script had started: the link (or the host) went away.
        if out.status == 255 && lost_link(&out.stderr) {
            return Err(TransportError::Lost {
                host: self.host.clone(),
                detail: out
                    .stderr
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            });
        }
        Ok(out)
    }

    fn close(&self) {
        let mut cmd = self.command();
        cmd.args(["-O", "exit"]);
        let _ = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Whether ssh's stderr says the connection died (keepalives unanswered, the master
/// connection gone, a reset), rather than the script exiting 255 itself.
fn lost_link(stderr: &str) -> bool {
    stderr.lines().rev().take(3).any(|l| {
        l.contains("Timeout, server")
            || l.contains("not responding")
            || l.contains("Connection to ") && l.contains(" closed")
            || l.contains("Broken pipe")
            || l.contains("Connection reset")
            || l.contains("mux_client_read_packet")
            || l.contains("client_loop: send disconnect")
    })
}

/// The deployer's own machine.
pub struct Local {
    pub host: String,
    /// Words run before `sh` (the lab's `nsenter --net=...`, to look at a lab from inside
    /// its network), empty for this machine's own.
    pub prefix: Vec<String>,
}

impl Transport for Local {
    fn host(&self) -> &str {
        &self.host
    }

    fn run(&self, script: &str, timeout: Duration) -> Result<Output, TransportError> {
        let mut words = self.prefix.clone();
        words.extend(["sh".to_owned(), "-s".to_owned()]);
        let mut cmd = Command::new(&words[0]);
        cmd.args(&words[1..]);
        run_with_timeout(&mut cmd, script, timeout, &self.host)
    }
}

fn run_with_timeout(
    cmd: &mut Command,
    script: &str,
    timeout: Duration,
    host: &str,
) -> Result<Output, TransportError> {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| TransportError::Spawn {
            program: format!("{:?}", cmd.get_program()),
            source,
        })?;
    let mut stdin = child.stdin.take().expect("piped");
    let script = script.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(script.as_bytes());
    });
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|source| TransportError::Spawn {
            program: "wait".into(),
            source,
        })? {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(TransportError::Timeout {
                host: host.to_owned(),
                seconds: timeout.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = writer.join();
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    Ok(Output {
        status: status.code().unwrap_or(-1),
        stdout,
        stderr,
        duration: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_lost_link_is_told_from_a_script_that_exits_255() {
        assert!(super::lost_link("Timeout, server 10.0.0.5 not responding."));
        assert!(super::lost_link(
            "Connection to 10.0.0.5 closed by remote host."
        ));
        assert!(super::lost_link(
            "mux_client_read_packet: read header failed: Broken pipe"
        ));
        assert!(!super::lost_link("my-script: exit 255 on purpose"));
        assert!(!super::lost_link(""));
    }

    use super::*;

    #[test]
    fn local_runs_scripts_and_reports_status() {
        let local = Local {
            host: "deployer".into(),
            prefix: Vec::new(),
        };
        let out = local
            .run("echo out; echo err >&2; exit 4", Duration::from_secs(5))
            .unwrap();
        assert_eq!(
            (out.status, out.stdout.as_str(), out.stderr.as_str()),
            (4, "out\n", "err\n")
        );
        let quoted = local
            .run(
                "printf '%s' \"it's \\\"quoted\\\" $((1+1))\"",
                Duration::from_secs(5),
            )
            .unwrap();
        assert_eq!(quoted.stdout, "it's \"quoted\" 2");
    }

    #[test]
    fn a_script_that_hangs_times_out() {
        let local = Local {
            host: "deployer".into(),
            prefix: Vec::new(),
        };
        let started = Instant::now();
        let err = local
            .run("sleep 30", Duration::from_millis(300))
            .unwrap_err();
        assert!(matches!(err, TransportError::Timeout { .. }));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
