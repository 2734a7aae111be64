//! Cohort syncs: a saved cohort's membership kept up to date in a campaign engine (Braze's
//! `/users/track`), a webhook (Amplitude's cohort-webhook messages), files, or a Kafka topic.
//!
//! - `config.rs`: what a sync is (the cohort, the destination, the schedule, the retry policy);
//! - `store.rs`: each sync's folder — its config, its state (which computation the destination
//!   holds, the batches of a sync under way already delivered) and its delivery log;
//! - `plan.rs`: the diff between what the destination holds and the latest computation, cut
//!   into batches with stable message ids;
//! - `deliver.rs`: a batch tried until delivered — backoff, rate limits, give-up;
//! - `http.rs`, `files.rs`, `kafka.rs`: the destinations;
//! - `run.rs`: one sync from end to end.
//!
//! A sync sends only what changed since the last *completed* sync. It is idempotent: the batches
//! of a sync are fixed by the two computations it goes between, each delivered batch is recorded
//! before the next is sent, and a sync tried again (after a failure or a crash) sends only the
//! batches not yet delivered, under the same message ids.

pub mod config;
mod deliver;
mod files;
mod http;
mod kafka;
mod plan;
mod run;
pub mod store;

pub use config::{Destination, SyncConfig};
pub use http::signature;
pub use run::{SyncOutcome, SyncReport, due, export, export_bytes, run, run_due};
pub use store::{LogEntry, SyncStore};

use std::path::PathBuf;

use crate::QueryError;
use crate::cohort::store::StoreError;

/// What can stop a sync.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The sync's configuration is wrong; the caller must change it.
    #[error("sync config: {0}")]
    Config(String),
    /// No sync has that name.
    #[error("no sync is named {0:?}")]
    NotFound(String),
    /// The destination could not be prepared for the sync (a Kafka topic could not be made):
    /// nothing was sent; the next try starts again.
    #[error("destination: {0}")]
    Destination(String),
    /// The sync is running already (the schedule and a caller met).
    #[error("sync {0:?} is running already; try again when it ends")]
    Busy(String),
    /// The sync's cohort was never computed, so there is nothing to send.
    #[error(
        "cohort {0:?} has never been computed: compute it first (sluice cohort compute, or POST /api/v1/cohorts/{0}/compute)"
    )]
    NeverComputed(String),
    /// The saved cohort could not be read.
    #[error(transparent)]
    Cohort(#[from] StoreError),
    /// Reading the people's ids failed.
    #[error(transparent)]
    Query(#[from] Box<QueryError>),
    /// Reading or writing the sync's files failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A stored file is not what this version writes.
    #[error("{}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl SyncError {
    /// True when the caller asked for something wrong (a bad config, an unknown name, a cohort
    /// never computed), not a failure of Sluice.
    pub fn is_user_error(&self) -> bool {
        match self {
            SyncError::Config(_)
            | SyncError::NotFound(_)
            | SyncError::Busy(_)
            | SyncError::NeverComputed(_) => true,
            SyncError::Cohort(e) => e.is_user_error(),
            SyncError::Query(e) => e.is_user_error(),
            _ => false,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SyncError {
        let path = path.into();
        move |source| SyncError::Io { path, source }
    }
}

impl From<QueryError> for SyncError {
    fn from(e: QueryError) -> Self {
        SyncError::Query(Box::new(e))
    }
}
