//! The event log: where accepted events wait, durably, between the collector and the loader.
//!
//! The trait has the semantics of a Kafka topic — keyed records appended in order per partition,
//! offsets, and consumer groups that commit the position they have durably processed — so the local
//! log ([`LocalLog`]) and a Kafka-backed log are interchangeable behind it. Invariant: `append`
//! returns only once the records are durable (fsync'd locally, or acknowledged by Kafka with
//! `acks=all`); the collector acknowledges clients only after that.

mod local;
pub(crate) mod segment;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::LogError;

pub use local::{LocalLog, LocalLogOptions};

/// A record to append: a partition key (events of one key stay in order) and the payload bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Partitioning key (the device id for events).
    pub key: String,
    /// Encoded payload.
    pub payload: Vec<u8>,
    /// Topics that get a copy besides the events topic (Kafka only; the local log has one
    /// stream).
    pub copies: Copies,
}

/// The side topics a record is copied to on Kafka (ARCHITECTURE.md, "The Kafka path").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copies {
    /// The event was quarantined by the tracking plan.
    pub quarantine: bool,
    /// The event updates user or group properties.
    pub property_updates: bool,
}

impl Copies {
    /// The copies an event gets.
    pub fn of(event: &sluice_schema::Event) -> Self {
        Copies {
            quarantine: event.quarantined,
            property_updates: event.updates_properties(),
        }
    }
}

/// A record read back by a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// Partition the record is in.
    pub partition: u32,
    /// Its offset within the partition.
    pub offset: u64,
    /// Encoded payload.
    pub payload: Vec<u8>,
}

/// Positions of a consumer: for each partition, the offset of the next record to read.
pub type Positions = BTreeMap<u32, u64>;

/// An append-only, partitioned, durable log of records.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Appends records, keeping their order per key, and resolves once all of them are durable.
    async fn append(&self, records: Vec<LogRecord>) -> Result<(), LogError>;

    /// Opens a consumer of the consumer group `group`, positioned at the group's committed positions.
    fn consumer(&self, group: &str) -> Result<Box<dyn LogConsumer>, LogError>;

    /// Whether appends can succeed now (for `/readyz`).
    fn is_ready(&self) -> bool;

    /// Records appended but not yet committed by `group`, over all partitions.
    fn lag(&self, group: &str) -> Result<u64, LogError>;
}

/// A consumer in a consumer group. Blocking by design: loaders run on their own threads.
pub trait LogConsumer: Send {
    /// Returns up to `max` records after the current position, waiting at most `wait` for the first.
    /// Only durable records are ever returned.
    fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<ConsumedRecord>, LogError>;

    /// Moves the read position (e.g. back to replay an interrupted batch).
    fn seek(&mut self, positions: &Positions) -> Result<(), LogError>;

    /// The current read position (next offset per partition).
    fn position(&self) -> Positions;

    /// Durably records `positions` as processed: after a restart the group resumes there.
    fn commit(&mut self, positions: &Positions) -> Result<(), LogError>;

    /// The group's committed positions.
    fn committed(&self) -> Positions;
}
