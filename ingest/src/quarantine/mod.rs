//! The quarantine: events the tracking plan rejected, kept whole under `quarantine/` in the same
//! layout as `events/`, and replayed into the main dataset once the plan is fixed.
//!
//! [`replay`] re-checks every quarantined event against the plan it is given. Events the plan now
//! accepts move to `events/` (same event date, with the issues the plan still flags); the rest stay
//! quarantined. The events are the ones the loader stored: already deduplicated and stamped with the
//! user's properties as they were when the event arrived, so they do not go through the log again.
//!
//! Each quarantine file moves as one step that survives a crash at any point:
//! 1. an intent naming the source file and the files that will replace it is written durably;
//! 2. the replayed events are written to `events/…/replay-<run>-<name>` and the events still
//!    rejected to `quarantine/…/kept-<run>-<name>`, each atomically;
//! 3. the source file is deleted, then the intent.
//!
//! A replay that finds an intent finishes the step it describes when every output exists (the
//! source is then redundant) and undoes it otherwise, so an event is never in both datasets after
//! a replay returns, nor in neither. Only one replay runs at a time (a lock file); the loader may
//! run meanwhile, as it only adds new `part-*` files.

mod replay;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use replay::{ReplayOptions, ReplayReport, replay};

use sluice_schema::layout::{EVENTS_DIR, QUARANTINE_DIR};

/// Errors of quarantine maintenance.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another replay holds the lock.
    #[error("another quarantine replay is running on {0} (lock file held)")]
    Busy(PathBuf),
    /// A quarantine file does not read as stored events.
    #[error("quarantine file {path} is unreadable: {message}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The replay intent file does not decode.
    #[error("replay intent {0} is corrupt; inspect it and remove it by hand")]
    CorruptIntent(PathBuf),
    /// Writing a replacement file failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The loader's error.
        source: crate::error::LoaderError,
    },
}

impl QuarantineError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        QuarantineError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The quarantine folder of a dataset.
pub fn quarantine_dir(dataset_dir: &Path) -> PathBuf {
    dataset_dir.join(QUARANTINE_DIR)
}

/// The main events folder of a dataset.
fn events_dir(dataset_dir: &Path) -> PathBuf {
    dataset_dir.join(EVENTS_DIR)
}
