//! The engine: runs a plan on hosts. Each step's operations come from the catalog, rendered
//! with the model, the generated secrets and the outputs of earlier steps; a host's facts
//! are gathered in one round trip and only the difference is applied. Steps run as soon as
//! what they need is done, in parallel across hosts (one at a time per host); a failure
//! stops only what depends on it. Everything is journaled in SQLite, so a failed or killed
//! deploy resumes without redoing finished steps whose inputs did not change.

mod check;
mod credentials;
mod exports;
mod lock;
mod preview;
mod prove;
mod redact;
mod render;
mod schedule;
mod state;
mod step;
mod views;
mod walk;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use check::{check, check_reporting, CheckOutcome, CheckProgress};
pub use credentials::{operator_files, OperatorFile};
pub use exports::{ceph_export, client_key_secret, import_external_keys, keyring_key, ExportError};
pub use lock::{DeployLock, LockError};
pub use preview::{preview, StepPreview};
pub use prove::{prove, render_offline_masked, OpProblem, RenderedStep};
pub use redact::Redactor;
pub use schedule::SHARING_PER_HOST;
pub use state::{step_states, SecretKind, State, StepRecord, StepRow, StepState};
pub use strata_ops::exit_status_text;
pub use walk::{deploy, DeployOptions, Event, Failure, Report};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("state database {path}: {source}")]
    State {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Io(#[from] strata_sys::IoError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("no way to reach host `{0}`")]
    NoTransport(String),
    #[error("secret `{0}` is made by the first deploy")]
    NotGenerated(String),
}

/// How the engine reaches each host, by host name.
pub type Inventory = HashMap<String, Arc<dyn strata_transport::Transport>>;

/// What `deploy`, `preview` and `check` work on: the validated model with its catalog and
/// plan, how to reach each host, the deployment's state, and the redactor that everything
/// shown, logged or sent passes through.
pub struct Target<'a> {
    pub model: &'a strata_model::Model,
    pub catalog: &'a strata_catalog::Catalog,
    pub plan: &'a strata_plan::Plan,
    pub inventory: &'a Inventory,
    pub state: Arc<State>,
    pub redactor: Arc<Redactor>,
}

/// `work` on each item (a host and what it has to do) in a thread of its own, the results in
/// no particular order; a thread that panicked gives nothing.
pub(crate) fn on_each_host<T: Send, R: Send>(
    items: impl IntoIterator<Item = T>,
    work: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let work = &work;
    std::thread::scope(|scope| {
        let threads: Vec<_> = items
            .into_iter()
            .map(|item| scope.spawn(move || work(item)))
            .collect();
        threads.into_iter().filter_map(|t| t.join().ok()).collect()
    })
}
