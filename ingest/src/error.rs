//! Errors of the ingest crate, one enum per surface.

use std::path::Path;

/// Errors of the event log.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    /// A file operation failed.
    #[error("event log I/O on {path}: {message}")]
    Io {
        /// The file or folder involved.
        path: String,
        /// The OS error.
        message: String,
    },
    /// An earlier write failed; the log accepts nothing more until restarted.
    #[error("event log is failed and refuses appends: {0}")]
    Failed(String),
    /// The log's writer has stopped (the process is shutting down).
    #[error("event log is closed")]
    Closed,
    /// The log's files are not as the log left them.
    #[error("event log is corrupt: {0}")]
    Corrupt(String),
    /// A consumer asked for records that were already deleted.
    #[error("offset {0} is no longer in the event log")]
    OffsetGone(u64),
    /// Kafka refused or did not answer.
    #[error("kafka: {0}")]
    Kafka(String),
    /// The brokers are unreachable and the local spool holds as many events as it may.
    #[error(
        "Kafka is unreachable and the local spool is full ({spooled} of {limit} events); retry later"
    )]
    SpoolFull {
        /// Events waiting in the spool.
        spooled: u64,
        /// The spool's limit.
        limit: u64,
    },
    /// A consumer-group name that cannot be used as a file name.
    #[error("invalid consumer group name {0:?}: use letters, digits, '-' and '_'")]
    InvalidGroup(String),
}

impl LogError {
    pub(crate) fn io(path: &Path, e: std::io::Error) -> LogError {
        LogError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}

/// Errors of the loader (log → Parquet).
#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    /// Reading from or committing to the log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A file operation on the dataset failed.
    #[error("dataset I/O on {path}: {source}")]
    Io {
        /// The file or folder involved.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Writing Parquet failed.
    #[error("writing Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Building Arrow arrays failed.
    #[error("building record batch: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A log record is not an encoded event (the log holds something it should not).
    #[error("log record at offset {offset} is not an event: {message}")]
    BadRecord {
        /// Offset of the record.
        offset: u64,
        /// Decoding error.
        message: String,
    },
    /// A loader-state file (dedup index, property state) does not decode.
    #[error("loader state file {0} is corrupt")]
    CorruptState(std::path::PathBuf),
}

impl LoaderError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> LoaderError {
        LoaderError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
