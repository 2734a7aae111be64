//! Sluice's ingest crate: everything between a client's HTTP request and a Parquet file.
//!
//! - `collector`: the Amplitude-compatible HTTP endpoints; validates, normalises, appends to the log,
//!   and acknowledges only once the events are durable.
//! - `log`: the event log trait (Kafka semantics) and its embedded implementation.
//! - `loader`: log → Parquet, exactly once.
//! - `kafka`: the scale-out log (producer with a local spool) and the consumer-group loader.
//! - `demo`: a realistic marketplace event generator for `sluice demo`.

pub mod collector;
pub mod compaction;
pub mod demo;
mod durable;
mod error;
pub mod kafka;
pub mod loader;
pub mod log;
pub mod metrics;
pub mod quarantine;

pub use collector::{Collector, CollectorConfig, Projects, ThrottleConfig};
pub use error::{LoaderError, LogError};
pub use loader::{LoaderConfig, LoaderHandle, spawn_loader};
pub use log::{EventLog, LocalLog, LocalLogOptions};
pub use metrics::IngestMetrics;
