//! The loader's intent file: the log range of the batch being written, recorded before any file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::durable::{sync_dir, write_atomically};
use crate::error::LoaderError;
use crate::log::{ConsumedRecord, Positions};

/// A batch in flight: log positions `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Intent {
    pub(crate) start: Positions,
    pub(crate) end: Positions,
}

impl Intent {
    /// The name of the batch's file in each date partition it touches:
    /// `part-[<prefix>-]<ranges>.parquet`, the ranges being e.g. `p0-000…017-000…512` (a Kafka
    /// loader's prefix is its topic).
    pub(crate) fn file_name(&self, prefix: Option<&str>) -> String {
        let ranges = self
            .end
            .iter()
            .map(|(p, end)| {
                let start = self.start.get(p).copied().unwrap_or(0);
                format!("p{p}-{start:020}-{end:020}")
            })
            .collect::<Vec<_>>()
            .join("_");
        match prefix {
            Some(prefix) => format!("part-{prefix}-{ranges}.parquet"),
            None => format!("part-{ranges}.parquet"),
        }
    }

    /// Whether a record belongs to this batch.
    pub(crate) fn contains(&self, r: &ConsumedRecord) -> bool {
        let start = self.start.get(&r.partition).copied().unwrap_or(0);
        let end = self.end.get(&r.partition).copied().unwrap_or(0);
        (start..end).contains(&r.offset)
    }
}

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("loader-intent.json")
}

/// Durably records the batch about to be written.
pub(crate) fn record(state_dir: &Path, intent: &Intent) -> Result<(), LoaderError> {
    let bytes = serde_json::to_vec(intent).unwrap_or_default();
    let path = path(state_dir);
    std::fs::create_dir_all(state_dir).map_err(|e| LoaderError::io(state_dir, e))?;
    write_atomically(&path, &bytes).map_err(|e| LoaderError::io(&path, e))
}

/// The batch a crash interrupted, if any.
pub(crate) fn read(state_dir: &Path) -> Result<Option<Intent>, LoaderError> {
    let path = path(state_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| LoaderError::io(&path, std::io::Error::other(e))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LoaderError::io(&path, e)),
    }
}

/// Removes the intent once its batch is committed.
pub(crate) fn clear(state_dir: &Path) -> Result<(), LoaderError> {
    let path = path(state_dir);
    std::fs::remove_file(&path).map_err(|e| LoaderError::io(&path, e))?;
    sync_dir(state_dir).map_err(|e| LoaderError::io(state_dir, e))
}

/// Names of the files uncommitted batches may have written (and may rewrite after a restart):
/// those of the embedded loader's intent and of every Kafka partition's intent.
pub(crate) fn in_flight_file_names(
    dataset_dir: &Path,
) -> Result<std::collections::BTreeSet<String>, LoaderError> {
    let mut names = std::collections::BTreeSet::new();
    if let Some(intent) = read(dataset_dir)? {
        names.insert(intent.file_name(None));
    }
    let kafka = dataset_dir.join(crate::kafka::LOADER_STATE_DIR);
    for topic in std::fs::read_dir(&kafka).into_iter().flatten().flatten() {
        let prefix = topic.file_name().to_string_lossy().into_owned();
        for partition in std::fs::read_dir(topic.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Some(intent) = read(&partition.path())? {
                names.insert(intent.file_name(Some(&prefix)));
            }
        }
    }
    Ok(names)
}
