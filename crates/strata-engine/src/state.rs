//! The deployment's state: an SQLite database (mode 0600, in a 0700 directory) with each
//! run, each step's last status and the hash of its inputs, the outputs steps read from
//! hosts, and the generated secrets. Secrets are made here, on first use, from the kernel's
//! random source; they are never printed (see `Redactor`).

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

use crate::EngineError;

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, started REAL NOT NULL, finished REAL, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS steps (id TEXT PRIMARY KEY, run INTEGER NOT NULL, inputs TEXT NOT NULL, status TEXT NOT NULL, started REAL, finished REAL, changed INTEGER NOT NULL DEFAULT 0, detail TEXT);
CREATE TABLE IF NOT EXISTS outputs (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
";

/// What the journal records when a step ends.
pub struct StepRecord<'a> {
    pub run: i64,
    pub step: &'a str,
    /// Hash of the step's rendered operations.
    pub inputs: &'a str,
    /// `done` or `failed`.
    pub status: &'a str,
    pub started: f64,
    pub changed: bool,
    pub detail: Option<&'a str>,
}

/// A step as the journal last saw it.
#[derive(Debug, Clone)]
pub struct StepRow {
    pub id: String,
    pub run: i64,
    pub status: String,
    pub changed: bool,
    pub seconds: f64,
    pub detail: Option<String>,
}

pub struct State {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// Opened to look only (`strata plan`): no file is made and no secret generated.
    read_only: bool,
    /// A scratch state's secrets come from their names (see `secret_bytes`).
    derive_secrets: bool,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl State {
    /// Opens (or makes) the state of a cloud in `dir`.
    pub fn open(dir: &Path) -> Result<State, EngineError> {
        use strata_sys::io;
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("chmod", dir))?;
        let path = dir.join("state.db");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(io("creating", &path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(io("chmod", &path))?;
        let db = |source| EngineError::State {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        Ok(State {
            path,
            conn: Mutex::new(conn),
            read_only: false,
            derive_secrets: false,
        })
    }

    /// A state that lives in memory only, for rendering without a deployment
    /// (`strata validate`): secrets of the right shape, derived from their names (the same
    /// on every render, so rendered configuration can be compared), and forgotten.
    pub fn scratch() -> Result<State, EngineError> {
        let path = PathBuf::from(":memory:");
        let db = |source| EngineError::State {
            path: path.clone(),
            source,
        };
        let conn = Connection::open_in_memory().map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        Ok(State {
            path,
            conn: Mutex::new(conn),
            read_only: false,
            derive_secrets: true,
        })
    }

    /// The state of a cloud in `dir` to look at only: the database read-only when a deploy
    /// made one, else an empty one in memory, so that looking creates nothing. A secret not
    /// generated yet is not made up (see `secret_of_kind`).
    pub fn open_read_only(dir: &Path) -> Result<State, EngineError> {
        use rusqlite::OpenFlags;
        let path = dir.join("state.db");
        let db = |source| EngineError::State {
            path: path.clone(),
            source,
        };
        let conn = if path.exists() {
            Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(db)?
        } else {
            let conn = Connection::open_in_memory().map_err(db)?;
            conn.execute_batch(SCHEMA).map_err(db)?;
            conn
        };
        Ok(State {
            path,
            conn: Mutex::new(conn),
            read_only: true,
            derive_secrets: false,
        })
    }

    fn db<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, EngineError> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&conn).map_err(|source| EngineError::State {
            path: self.path.clone(),
            source,
        })
    }

    /// Starts a run. Returns its id, and when the previous run did not finish, the first run
    /// since the last complete one: this run resumes from there, and steps finished since
    /// then with unchanged inputs are not redone. Steps done by earlier, complete runs are
    /// probed again as usual (the host may have drifted).
    pub fn begin_run(&self) -> Result<(i64, Option<i64>), EngineError> {
        self.db(|c| {
            let last_complete: i64 = c.query_row(
                "SELECT COALESCE(MAX(id), 0) FROM runs WHERE status = 'complete'",
                [],
                |r| r.get(0),
            )?;
            let unfinished: Option<i64> = c.query_row(
                "SELECT MIN(id) FROM runs WHERE id > ?1",
                params![last_complete],
                |r| r.get(0),
            )?;
            c.execute(
                "INSERT INTO runs (started, status) VALUES (?1, 'running')",
                params![now()],
            )?;
            Ok((c.last_insert_rowid(), unfinished))
        })
    }

    pub fn finish_run(&self, run: i64, complete: bool) -> Result<(), EngineError> {
        self.db(|c| {
            c.execute(
                "UPDATE runs SET finished = ?1, status = ?2 WHERE id = ?3",
                params![now(), if complete { "complete" } else { "failed" }, run],
            )
            .map(|_| ())
        })
    }

    /// Whether a step finished with exactly these inputs in run `since` or later.
    pub fn done_with(&self, step: &str, inputs: &str, since: i64) -> Result<bool, EngineError> {
        self.db(|c| {
            let row: Option<(String, String, i64)> = c
                .query_row(
                    "SELECT status, inputs, run FROM steps WHERE id = ?1",
                    params![step],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            Ok(row.is_some_and(|(status, hash, run)| {
                status == "done" && hash == inputs && run >= since
            }))
        })
    }

    pub fn record_step(&self, r: &StepRecord) -> Result<(), EngineError> {
        self.db(|c| {
            c.execute(
                "INSERT INTO steps (id, run, inputs, status, started, finished, changed, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(id) DO UPDATE SET run = ?2, inputs = ?3, status = ?4, started = ?5, finished = ?6, changed = ?7, detail = ?8",
                params![r.step, r.run, r.inputs, r.status, r.started, now(), r.changed, r.detail],
            )
            .map(|_| ())
        })
    }

    pub fn steps(&self) -> Result<Vec<StepRow>, EngineError> {
        self.db(|c| {
            let mut stmt = c.prepare("SELECT id, run, status, changed, COALESCE(finished - started, 0), detail FROM steps ORDER BY started")?;
            let rows = stmt.query_map([], |r| Ok(StepRow { id: r.get(0)?, run: r.get(1)?, status: r.get(2)?, changed: r.get(3)?, seconds: r.get(4)?, detail: r.get(5)? }))?;
            rows.collect()
        })
    }

    /// The last run: (id, status).
    pub fn last_run(&self) -> Result<Option<(i64, String)>, EngineError> {
        self.db(|c| {
            c.query_row(
                "SELECT id, status FROM runs ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })
    }

    /// The secret called `name`, generated on first use: 32 random letters and digits, or
    /// for `SecretKind::Fernet` 32 random bytes in URL-safe base64 (a Fernet key).
    pub fn secret(&self, name: &str) -> Result<String, EngineError> {
        self.secret_of_kind(name, SecretKind::Password)
    }

    pub fn secret_of_kind(&self, name: &str, kind: SecretKind) -> Result<String, EngineError> {
        if self.read_only {
            return self
                .existing_secret(name)?
                .ok_or_else(|| EngineError::NotGenerated(name.to_owned()));
        }
        let derive = self.derive_secrets.then_some(name);
        let fresh = match kind {
            SecretKind::Password => random_secret(derive),
            SecretKind::Fernet => fernet_key(derive),
            SecretKind::Cephx => cephx_key(derive),
            SecretKind::Uuid => uuid_v4(derive),
        };
        self.db(|c| {
            c.execute(
                "INSERT OR IGNORE INTO secrets (name, value) VALUES (?1, ?2)",
                params![name, fresh],
            )?;
            c.query_row(
                "SELECT value FROM secrets WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
        })
    }

    /// The secret called `name` if it was generated or set; never generates one.
    pub fn existing_secret(&self, name: &str) -> Result<Option<String>, EngineError> {
        self.db(|c| {
            c.query_row(
                "SELECT value FROM secrets WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Sets a secret to a value given from outside (an external cluster's client key).
    pub fn set_secret(&self, name: &str, value: &str) -> Result<(), EngineError> {
        self.db(|c| {
            c.execute(
                "INSERT INTO secrets (name, value) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET value = ?2",
                params![name, value],
            )
            .map(|_| ())
        })
    }

    /// Every secret value (to redact them).
    pub fn secret_values(&self) -> Result<Vec<String>, EngineError> {
        self.db(|c| {
            c.prepare("SELECT value FROM secrets")?
                .query_map([], |r| r.get(0))?
                .collect()
        })
    }

    pub fn set_output(&self, name: &str, value: &str) -> Result<(), EngineError> {
        self.db(|c| c.execute("INSERT INTO outputs (name, value) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET value = ?2", params![name, value]).map(|_| ()))
    }

    pub fn outputs(&self) -> Result<HashMap<String, String>, EngineError> {
        self.db(|c| {
            c.prepare("SELECT name, value FROM outputs")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
    }
}

/// The forms a generated secret takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Password,
    Fernet,
    /// A cephx key as keyrings hold it.
    Cephx,
    /// A random UUID (a Ceph cluster's fsid).
    Uuid,
}

/// N bytes for a new secret: from the kernel's random source, or, for a scratch state
/// (`derive` is the secret's name), from the name's SHA-256, so a render without a
/// deployment comes out the same every time.
fn secret_bytes<const N: usize>(derive: Option<&str>) -> [u8; N] {
    let mut buf = [0u8; N];
    match derive {
        None => std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut buf))
            .expect("reading /dev/urandom"),
        Some(name) => {
            for (i, chunk) in buf.chunks_mut(32).enumerate() {
                let hex = strata_ops::sha256_hex(format!("{name}/{i}").as_bytes());
                for (k, b) in chunk.iter_mut().enumerate() {
                    *b = u8::from_str_radix(&hex[2 * k..2 * k + 2], 16).unwrap_or(0);
                }
            }
        }
    }
    buf
}

/// A Fernet key as Keystone reads it: 32 random bytes, URL-safe base64 with padding.
fn fernet_key(derive: Option<&str>) -> String {
    base64(&secret_bytes::<32>(derive), b"-_")
}

/// A cephx key: type 1 (AES), a creation time, length 16 and 16 random bytes, little-endian,
/// in standard base64 (what `ceph-authtool --gen-print-key` prints).
fn cephx_key(derive: Option<&str>) -> String {
    let secs = match derive {
        Some(_) => 0,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(0),
    };
    let mut raw = Vec::with_capacity(28);
    raw.extend_from_slice(&1u16.to_le_bytes());
    raw.extend_from_slice(&secs.to_le_bytes());
    raw.extend_from_slice(&0u32.to_le_bytes());
    raw.extend_from_slice(&16u16.to_le_bytes());
    raw.extend_from_slice(&secret_bytes::<16>(derive));
    base64(&raw, b"+/")
}

fn uuid_v4(derive: Option<&str>) -> String {
    let mut b = secret_bytes::<16>(derive);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Base64 with padding; `last_two` are the characters for 62 and 63.
fn base64(bytes: &[u8], last_two: &[u8; 2]) -> String {
    let mut alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".to_vec();
    alphabet.extend_from_slice(last_two);
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

fn random_secret(derive: Option<&str>) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(32);
    while out.len() < 32 {
        let buf = secret_bytes::<64>(derive.map(|n| format!("{n}+{}", out.len())).as_deref());
        // 248 = 62 * 4: reject bytes above it so every character is equally likely.
        out.extend(
            buf.iter()
                .filter(|b| **b < 248)
                .map(|b| ALPHABET[(*b % 62) as usize] as char)
                .take(32 - out.len()),
        );
    }
    out
}

/// Where one step of the plan stands after the last run, for `strata status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepState {
    /// Done by the last run.
    Done,
    /// Done by an earlier run; the last run did not get to it (it may have drifted since).
    DoneEarlier,
    /// Failed in the last run, with the journal's detail.
    Failed(String),
    /// Not run by the last run because a step it needs failed or was skipped.
    Skipped,
    /// Never run, or not reached by the last run (interrupted) and never done before.
    NotRun,
    /// Its service has no operations: nothing to run.
    NotDeployed,
}

/// Each step's state, in plan order: what the last run did to it, and what earlier runs did
/// to the steps it did not reach. A step done long ago and skipped now is not "done".
pub fn step_states(
    plan: &strata_plan::Plan,
    catalog: &strata_catalog::Catalog,
    rows: &[StepRow],
    last_run: Option<i64>,
) -> Vec<StepState> {
    // A step the catalog gives no operations does nothing and is never journaled.
    let empty = |step: &strata_plan::Step| {
        !crate::step::is_packages_step(step)
            && crate::step::step_def(catalog, step).is_none_or(|d| d.ops.is_empty())
    };
    let by_id: HashMap<&str, &StepRow> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut states: Vec<StepState> = Vec::with_capacity(plan.steps.len());
    for step in &plan.steps {
        let row = by_id.get(step.id.as_str());
        let state = if plan.not_deployed.iter().any(|x| **x == *step.service) || empty(step) {
            StepState::NotDeployed
        } else {
            match row {
                Some(r) if Some(r.run) == last_run && r.status == "done" => StepState::Done,
                Some(r) if Some(r.run) == last_run => {
                    StepState::Failed(r.detail.clone().unwrap_or_default())
                }
                _ if step
                    .needs
                    .iter()
                    .any(|&n| matches!(states[n], StepState::Failed(_) | StepState::Skipped)) =>
                {
                    StepState::Skipped
                }
                Some(r) if r.status == "done" => StepState::DoneEarlier,
                _ => StepState::NotRun,
            }
        };
        states.push(state);
    }
    states
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looking_at_a_state_creates_nothing_and_generates_no_secret() {
        let dir = std::env::temp_dir().join(format!("strata-state-ro-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let fresh = State::open_read_only(&dir).unwrap();
        assert!(matches!(
            fresh.secret("keystone-db"),
            Err(EngineError::NotGenerated(name)) if name == "keystone-db"
        ));
        assert!(!dir.exists(), "nothing made where no deploy made anything");

        let deployed = State::open(&dir).unwrap();
        let made = deployed.secret("keystone-db").unwrap();
        drop(deployed);
        let looking = State::open_read_only(&dir).unwrap();
        assert_eq!(looking.secret("keystone-db").unwrap(), made);
        assert!(matches!(
            looking.secret("glance-db"),
            Err(EngineError::NotGenerated(_))
        ));
        drop(looking);
        assert_eq!(
            State::open(&dir)
                .unwrap()
                .existing_secret("glance-db")
                .unwrap(),
            None,
            "looking generated nothing"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fernet_keys_are_32_bytes_of_url_safe_base64() {
        let key = fernet_key(None);
        assert_eq!(key.len(), 44, "{key}");
        assert!(key.ends_with('=') && !key.ends_with("=="), "{key}");
        assert!(key[..43]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(key, fernet_key(None));
    }

    #[test]
    fn cephx_keys_and_fsids_have_their_forms() {
        let key = cephx_key(None);
        assert_eq!(key.len(), 40, "{key}");
        assert!(key.starts_with("AQ"), "type 1 first: {key}");
        let fsid = uuid_v4(None);
        assert_eq!(fsid.len(), 36);
        assert_eq!(&fsid[14..15], "4", "{fsid}");
    }

    #[test]
    fn secrets_are_made_once_and_stay_private() {
        let dir = std::env::temp_dir().join(format!("strata-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let state = State::open(&dir).unwrap();
        let a = state.secret("keystone_db").unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(state.secret("keystone_db").unwrap(), a, "made once");
        assert_ne!(state.secret("glance_db").unwrap(), a);
        let mode = std::fs::metadata(dir.join("state.db"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        drop(state);
        let reopened = State::open(&dir).unwrap();
        assert_eq!(
            reopened.secret("keystone_db").unwrap(),
            a,
            "kept across runs"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unfinished_run_is_resumed_from_the_last_complete_one() {
        let dir = std::env::temp_dir().join(format!("strata-runs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let state = State::open(&dir).unwrap();
        let (first, resume) = state.begin_run().unwrap();
        assert_eq!(resume, None);
        state
            .record_step(&StepRecord {
                run: first,
                step: "a/h/x:y",
                inputs: "hash1",
                status: "done",
                started: 0.0,
                changed: true,
                detail: None,
            })
            .unwrap();
        state
            .record_step(&StepRecord {
                run: first,
                step: "a/h/x:z",
                inputs: "hash1",
                status: "done",
                started: 0.0,
                changed: true,
                detail: None,
            })
            .unwrap();
        state.finish_run(first, true).unwrap();
        let (second, resume) = state.begin_run().unwrap();
        assert_eq!(
            resume, None,
            "after a complete run, a new run is not a resume"
        );
        state
            .record_step(&StepRecord {
                run: second,
                step: "a/h/x:y",
                inputs: "hash1",
                status: "done",
                started: 0.0,
                changed: false,
                detail: None,
            })
            .unwrap();
        // killed here: the run never finished
        let (third, resume) = state.begin_run().unwrap();
        assert_eq!(resume, Some(second));
        assert!(
            state.done_with("a/h/x:y", "hash1", second).unwrap(),
            "done in the interrupted run"
        );
        assert!(
            !state.done_with("a/h/x:y", "hash2", second).unwrap(),
            "changed inputs are redone"
        );
        assert!(
            !state.done_with("a/h/x:z", "hash1", second).unwrap(),
            "done only by an older complete run: probed again"
        );
        state.finish_run(third, true).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
