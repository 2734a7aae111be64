//! `sluice load`: a consumer-group member turning its Kafka partitions into Parquet.
//!
//! Each assigned partition is loaded on its own, like one embedded log: records are buffered per
//! partition and written as a batch with the embedded loader's [`BatchLoader`] (intent → dedup and
//! property stamping → files named `part-<topic>-p<N>-<start>-<end>.parquet` → state journal →
//! offset commit → intent cleared). The intent and state of partition N live in the shared dataset
//! folder (`kafka-loader/<topic>/p<N>/`), so whichever loader is assigned N next finds them:
//! - an intent whose end is at or below the committed offset was committed; it is cleared;
//! - otherwise its batch is redone first, over exactly the same offset range, rewriting the same
//!   file names with the same content — so a crash or a rebalance never adds a copy.
//!
//! After each assignment the loader checks that the partition's stream really starts at the
//! committed offset, and seeks back if the broker started it later (see [`super::resume`]).
//!
//! Rebalances: librdkafka calls back from inside `poll`, on this thread, so a revocation never
//! interrupts a batch being written; buffered records of revoked partitions are dropped (they were
//! not committed, so their next owner reads them again). A partition assigned back to this loader
//! keeps its in-memory state if nobody committed in between.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::resume::{FirstRecord, Resume};
use super::{KafkaSettings, kafka_error};
use crate::error::LoaderError;
use crate::loader::{BatchLoader, Intent, LoaderConfig, LoaderProgress, LoaderState, PersonSpace};
use crate::log::{ConsumedRecord, Positions};

/// What `sluice load` needs to know.
#[derive(Debug, Clone)]
pub struct KafkaLoaderOptions {
    /// Brokers and topic.
    pub settings: KafkaSettings,
    /// The consumer group; loaders of one group share the topic's partitions.
    pub group: String,
    /// Dataset, layout, batch size and flush interval (as for the embedded loader).
    pub loader: LoaderConfig,
}

/// Runs one group member until `stop` is set; flushes what it holds before returning.
pub fn run_kafka_loader(
    options: &KafkaLoaderOptions,
    stop: &AtomicBool,
    progress: Arc<LoaderProgress>,
) -> Result<(), LoaderError> {
    let consumer = subscribe(options)?;
    let mut member = Member {
        options,
        progress,
        consumer: &consumer,
        partitions: BTreeMap::new(),
        parked: BTreeMap::new(),
    };
    let result = member.run(stop);
    if result.is_ok() {
        consumer.unsubscribe();
    }
    result
}

fn subscribe(options: &KafkaLoaderOptions) -> Result<BaseConsumer<MemberContext>, LoaderError> {
    let settings = &options.settings;
    let consumer: BaseConsumer<MemberContext> = settings
        .client_config(&[
            ("group.id", options.group.clone()),
            ("enable.auto.commit", "false".into()),
            ("enable.auto.offset.store", "false".into()),
            ("auto.offset.reset", "earliest".into()),
            // A loader killed -9 is noticed after this long and its partitions move.
            ("session.timeout.ms", "6000".into()),
            ("heartbeat.interval.ms", "1000".into()),
            ("fetch.max.bytes", "52428800".into()),
            ("topic.metadata.refresh.interval.ms", "10000".into()),
            // For the partitions' high watermarks as fetches see them (see `super::resume`).
            ("statistics.interval.ms", "1000".into()),
        ])
        .create_with_context(MemberContext {
            topic: settings.topic.clone(),
            changes: Mutex::default(),
            high_watermarks: Mutex::default(),
        })
        .map_err(|e| LoaderError::Log(kafka_error("creating the consumer", &e)))?;
    consumer
        .subscribe(&[&settings.topic])
        .map_err(|e| LoaderError::Log(kafka_error("subscribing", &e)))?;
    tracing::info!(topic = %settings.topic, group = %options.group, "loader joined the consumer group");
    Ok(consumer)
}

/// What librdkafka reports during `poll`: partition changes (handled right after it returns)
/// and statistics.
struct MemberContext {
    topic: String,
    changes: Mutex<Vec<Change>>,
    /// Each partition's high watermark from the latest statistics, and when they came. (The
    /// broker's answer to a watermark query is not used: tansu 0.6's gives the last batch's
    /// first offset + 1, while its fetch responses carry the true end.)
    high_watermarks: Mutex<BTreeMap<i32, (u64, Instant)>>,
}

enum Change {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
}

impl MemberContext {
    fn take(&self) -> Vec<Change> {
        std::mem::take(&mut *self.changes.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn push(&self, change: Change) {
        self.changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(change);
    }

    /// The high watermark of partition `p` reported at or after `since`.
    fn high_watermark_since(&self, p: i32, since: Instant) -> Option<u64> {
        let watermarks = self
            .high_watermarks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        watermarks
            .get(&p)
            .filter(|(_, at)| *at >= since)
            .map(|(high, _)| *high)
    }
}

impl ClientContext for MemberContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        let now = Instant::now();
        let mut watermarks = self
            .high_watermarks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for (p, partition) in &topic.partitions {
            if let Ok(high) = u64::try_from(partition.hi_offset) {
                watermarks.insert(*p, (high, now));
            }
        }
    }
}

impl ConsumerContext for MemberContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            self.push(Change::Revoked(partitions(list)));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => self.push(Change::Assigned(partitions(list))),
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance error"),
        }
    }
}

fn partitions(list: &TopicPartitionList) -> Vec<i32> {
    list.elements().iter().map(|e| e.partition()).collect()
}

/// One loader's view of the group: the partitions it loads now, and those it loaded before a
/// rebalance (kept in case they come back).
struct Member<'a> {
    options: &'a KafkaLoaderOptions,
    progress: Arc<LoaderProgress>,
    consumer: &'a BaseConsumer<MemberContext>,
    partitions: BTreeMap<i32, PartitionLoader>,
    parked: BTreeMap<i32, PartitionLoader>,
}

/// A partition's buffer is written once its payloads reach this size (a record may hold many
/// events: the producer batches a request's events per device).
const MAX_BATCH_BYTES: usize = 128 << 20;
/// Payload bytes buffered over all partitions before the largest buffer is written.
const MAX_BUFFERED_BYTES: usize = 256 << 20;

/// How long a member may sit without partitions while the group makes no progress.
const STRANDED_AFTER: Duration = Duration::from_secs(15);

/// What [`Member::check_not_stranded`] saw last.
#[derive(Default)]
struct Stranded {
    since: Option<Instant>,
    progress: Option<Vec<(i64, i64)>>,
}

/// The loading of one partition.
struct PartitionLoader {
    partition: i32,
    batches: BatchLoader,
    state: LoaderState,
    buffer: Vec<ConsumedRecord>,
    /// Payload bytes in `buffer`.
    buffered_bytes: usize,
    first_buffered_at: Option<Instant>,
    /// A batch a crash interrupted: the next batch is exactly this range.
    redo: Option<Intent>,
    /// The offset this loader last committed (or found committed).
    committed: u64,
    /// Until the stream is known to start at `committed` (see [`super::resume`]).
    resume: Option<Resume>,
}

impl Member<'_> {
    fn run(&mut self, stop: &AtomicBool) -> Result<(), LoaderError> {
        let config = &self.options.loader;
        let mut last_report = Instant::now();
        let mut last_check = Instant::now();
        let mut stranded = Stranded::default();
        while !stop.load(Ordering::Relaxed) {
            let message = self.consumer.poll(Duration::from_millis(100));
            self.apply_rebalances()?;
            match message {
                None => {}
                Some(Err(error)) => tracing::warn!(%error, "consumer error"),
                Some(Ok(message)) if message.topic() == self.options.settings.topic => {
                    let record = ConsumedRecord {
                        partition: message.partition() as u32,
                        offset: message.offset() as u64,
                        payload: message.payload().unwrap_or_default().to_vec(),
                    };
                    self.buffer(message.partition(), record)?;
                }
                Some(Ok(_)) => {}
            }
            self.flush_due(config.flush_interval)?;
            self.check_quiet_streams()?;
            if last_check.elapsed() >= Duration::from_secs(5) {
                last_check = Instant::now();
                self.check_not_stranded(&mut stranded)?;
            }
            if last_report.elapsed() >= Duration::from_secs(30) {
                last_report = Instant::now();
                tracing::info!(
                    partitions = ?self.partitions.keys().collect::<Vec<_>>(),
                    loaded = self.progress.events_loaded.load(Ordering::Relaxed),
                    "loader progress"
                );
            }
        }
        self.flush_due(Duration::ZERO)
    }

    /// Leaves the group (the caller rejoins) if this member has had no partition for a while
    /// and nobody in the group commits although records wait: a group coordinator can keep a
    /// dead member's assignment (seen with tansu after a member was killed mid-rebalance), and
    /// rejoining makes it rebalance again.
    fn check_not_stranded(&self, stranded: &mut Stranded) -> Result<(), LoaderError> {
        if !self.partitions.is_empty() {
            *stranded = Stranded::default();
            return Ok(());
        }
        let progress = self.group_progress()?;
        let since = *stranded.since.get_or_insert_with(Instant::now);
        let waiting = progress.iter().any(|(committed, high)| committed < high);
        if waiting
            && stranded.progress.as_ref() == Some(&progress)
            && since.elapsed() >= STRANDED_AFTER
        {
            return Err(LoaderError::Log(crate::error::LogError::Kafka(
                "no partition assigned while records wait and nobody commits; rejoining the group"
                    .into(),
            )));
        }
        stranded.progress = Some(progress);
        Ok(())
    }

    /// (committed offset, high watermark) of every partition of the topic.
    fn group_progress(&self) -> Result<Vec<(i64, i64)>, LoaderError> {
        let topic = &self.options.settings.topic;
        let timeout = Duration::from_secs(10);
        let kafka =
            |doing: &str, e: rdkafka::error::KafkaError| LoaderError::Log(kafka_error(doing, &e));
        let metadata = self
            .consumer
            .fetch_metadata(Some(topic), timeout)
            .map_err(|e| kafka("reading topic metadata", e))?;
        let mut list = TopicPartitionList::new();
        for t in metadata.topics().iter().filter(|t| t.name() == topic) {
            for p in t.partitions() {
                list.add_partition(topic, p.id());
            }
        }
        let committed = self
            .consumer
            .committed_offsets(list, timeout)
            .map_err(|e| kafka("reading committed offsets", e))?;
        let mut progress = Vec::new();
        for element in committed.elements() {
            let (low, high) = self
                .consumer
                .fetch_watermarks(topic, element.partition(), timeout)
                .map_err(|e| kafka("reading watermarks", e))?;
            let at = match element.offset() {
                Offset::Offset(n) => n,
                _ => low,
            };
            progress.push((at, high));
        }
        Ok(progress)
    }

    fn apply_rebalances(&mut self) -> Result<(), LoaderError> {
        for change in self.consumer.context().take() {
            match change {
                Change::Revoked(partitions) => {
                    for p in partitions {
                        if let Some(mut loader) = self.partitions.remove(&p) {
                            loader.take_buffer();
                            self.parked.insert(p, loader);
                        }
                    }
                    tracing::info!(now = ?self.partitions.keys().collect::<Vec<_>>(), "partitions revoked");
                }
                Change::Assigned(partitions) => {
                    for p in partitions {
                        let mut loader = self.take_over(p)?;
                        loader.resume = Some(Resume::at(loader.committed, Instant::now()));
                        self.partitions.insert(p, loader);
                    }
                    tracing::info!(now = ?self.partitions.keys().collect::<Vec<_>>(), "partitions assigned");
                }
            }
        }
        Ok(())
    }

    /// Starts loading partition `p`: reuses the state kept from an earlier assignment if nobody
    /// committed since, else opens it from the shared folder; finds an interrupted batch. (The
    /// caller starts the check that the stream begins at the committed offset.)
    fn take_over(&mut self, p: i32) -> Result<PartitionLoader, LoaderError> {
        let committed = self.committed_offset(p)?;
        if let Some(loader) = self.parked.remove(&p)
            && loader.committed == committed
            && loader.redo.is_none()
        {
            return Ok(loader);
        }
        let topic = &self.options.settings.topic;
        let batches = BatchLoader {
            config: self.options.loader.clone(),
            state_dir: partition_state_dir(&self.options.loader.dataset_dir, topic, p),
            file_prefix: Some(topic.clone()),
            persons: PersonSpace {
                partition: p as u32,
                shared: true,
            },
            progress: Arc::clone(&self.progress),
        };
        let position = Positions::from([(p as u32, committed)]);
        let state = batches.open_state(&position)?;
        let mut redo = None;
        if let Some(intent) = batches.interrupted()? {
            let end = intent.end.get(&(p as u32)).copied().unwrap_or(0);
            if end <= committed {
                batches.clear_intent()?;
            } else {
                tracing::info!(partition = p, start = ?intent.start, end = ?intent.end, "redoing an interrupted batch");
                redo = Some(intent);
            }
        }
        Ok(PartitionLoader {
            partition: p,
            batches,
            state,
            buffer: Vec::new(),
            buffered_bytes: 0,
            first_buffered_at: None,
            redo,
            committed,
            resume: None,
        })
    }

    fn committed_offset(&self, p: i32) -> Result<u64, LoaderError> {
        let mut list = TopicPartitionList::new();
        list.add_partition(&self.options.settings.topic, p);
        let committed = self
            .consumer
            .committed_offsets(list, Duration::from_secs(30))
            .map_err(|e| LoaderError::Log(kafka_error("reading committed offsets", &e)))?;
        let offset = committed
            .elements()
            .first()
            .map(|e| e.offset())
            .unwrap_or(Offset::Invalid);
        Ok(match offset {
            Offset::Offset(n) if n >= 0 => n as u64,
            _ => 0,
        })
    }

    fn buffer(&mut self, p: i32, record: ConsumedRecord) -> Result<(), LoaderError> {
        let max = self.options.loader.max_batch_events;
        let Some(loader) = self.partitions.get_mut(&p) else {
            return Ok(()); // revoked while the message was on its way
        };
        if let Some(resume) = &mut loader.resume {
            let decision = resume.first_record(record.offset, Instant::now());
            let topic = &self.options.settings.topic;
            if !loader.resumed(self.consumer, topic, decision, record.offset)? {
                return Ok(());
            }
        }
        if record.offset < loader.committed {
            return Ok(()); // already in a committed file
        }
        if let Some(redo) = &loader.redo {
            let end = redo.end.get(&(p as u32)).copied().unwrap_or(0);
            if record.offset < end {
                let complete = record.offset + 1 >= end;
                loader.buffer.push(record);
                if complete {
                    loader.flush(self.consumer, &self.options.settings.topic)?;
                }
                return Ok(());
            }
            // The range ended in an offset gap: the batch is whole without a record at end - 1.
            loader.flush(self.consumer, &self.options.settings.topic)?;
            return self.buffer(p, record);
        }
        loader.first_buffered_at.get_or_insert_with(Instant::now);
        loader.buffered_bytes += record.payload.len();
        loader.buffer.push(record);
        if loader.buffer.len() >= max || loader.buffered_bytes >= MAX_BATCH_BYTES {
            loader.flush(self.consumer, &self.options.settings.topic)?;
        }
        let (records, bytes) = self.partitions.values().fold((0, 0), |(r, b), l| {
            (r + l.buffer.len(), b + l.buffered_bytes)
        });
        if records >= max || bytes >= MAX_BUFFERED_BYTES {
            // Memory bound over all partitions: write the largest buffer (never an interrupted
            // batch before all its records are in: its files must be the same as before).
            if let Some(largest) = self
                .partitions
                .values_mut()
                .filter(|l| l.redo.is_none())
                .max_by_key(|l| l.buffered_bytes)
            {
                largest.flush(self.consumer, &self.options.settings.topic)?;
            }
        }
        Ok(())
    }

    /// Partitions whose stream has delivered nothing since their assignment (or last seek
    /// back): does the partition hold records from the committed offset on? (See
    /// [`super::resume`].)
    fn check_quiet_streams(&mut self) -> Result<(), LoaderError> {
        let topic = &self.options.settings.topic;
        let now = Instant::now();
        for loader in self.partitions.values_mut() {
            let Some(resume) = &mut loader.resume else {
                continue;
            };
            let Some(quiet_since) = resume.quiet_since(now) else {
                continue;
            };
            let context = self.consumer.context();
            let Some(high) = context.high_watermark_since(loader.partition, quiet_since) else {
                continue;
            };
            let decision = resume.quiet(high, now);
            loader.resumed(self.consumer, topic, decision, high)?;
        }
        Ok(())
    }

    fn flush_due(&mut self, interval: Duration) -> Result<(), LoaderError> {
        let topic = &self.options.settings.topic;
        for loader in self.partitions.values_mut() {
            let due = loader
                .first_buffered_at
                .is_some_and(|t| t.elapsed() >= interval);
            if due && loader.redo.is_none() {
                loader.flush(self.consumer, topic)?;
            }
        }
        Ok(())
    }
}

impl PartitionLoader {
    /// Acts on a [`Resume`] decision; whether the stream now covers the committed offset.
    /// `first` is the offset the stream began at (or the partition's end, if it was quiet).
    fn resumed(
        &mut self,
        consumer: &BaseConsumer<MemberContext>,
        topic: &str,
        decision: FirstRecord,
        first: u64,
    ) -> Result<bool, LoaderError> {
        match decision {
            FirstRecord::Covers => {
                self.resume = None;
                Ok(true)
            }
            FirstRecord::Wait => Ok(false),
            FirstRecord::SeekBackTo(offset) => {
                tracing::info!(
                    partition = self.partition,
                    committed = self.committed,
                    first,
                    seeking = offset,
                    "the broker's stream starts after the committed offset; seeking back"
                );
                seek(consumer, topic, self.partition, offset)?;
                Ok(false)
            }
            FirstRecord::Missing { from, to } => {
                tracing::warn!(
                    partition = self.partition,
                    from,
                    to,
                    "offsets missing from the partition (compacted, transaction markers or \
                     expired); loading from the next one"
                );
                self.resume = None;
                Ok(true)
            }
        }
    }

    /// Empties the buffer (records not committed: whoever loads the partition reads them again).
    fn take_buffer(&mut self) -> Vec<ConsumedRecord> {
        self.buffered_bytes = 0;
        self.first_buffered_at = None;
        std::mem::take(&mut self.buffer)
    }

    /// Writes the buffered records as one batch (or the interrupted batch, exactly) and commits.
    fn flush(
        &mut self,
        consumer: &BaseConsumer<MemberContext>,
        topic: &str,
    ) -> Result<(), LoaderError> {
        let p = self.partition as u32;
        let records = self.take_buffer();
        let intent = match self.redo.take() {
            Some(intent) => intent,
            None => {
                let (Some(first), Some(last)) = (records.first(), records.last()) else {
                    return Ok(());
                };
                Intent {
                    start: Positions::from([(p, first.offset)]),
                    end: Positions::from([(p, last.offset + 1)]),
                }
            }
        };
        let end = intent.end.get(&p).copied().unwrap_or(0);
        let partition = self.partition;
        self.batches.load(&mut self.state, intent, &records, |_| {
            commit(consumer, topic, partition, end)
        })?;
        self.committed = end;
        Ok(())
    }
}

/// Makes `partition`'s stream continue at `offset`.
fn seek(
    consumer: &BaseConsumer<MemberContext>,
    topic: &str,
    partition: i32,
    offset: u64,
) -> Result<(), LoaderError> {
    consumer
        .seek(topic, partition, absolute(offset), Duration::from_secs(10))
        .map_err(|e| LoaderError::Log(kafka_error("seeking back", &e)))
}

fn commit(
    consumer: &BaseConsumer<MemberContext>,
    topic: &str,
    partition: i32,
    end: u64,
) -> Result<(), LoaderError> {
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, absolute(end))
        .map_err(|e| LoaderError::Log(kafka_error("committing", &e)))?;
    consumer
        .commit(&list, CommitMode::Sync)
        .map_err(|e| LoaderError::Log(kafka_error("committing", &e)))?;
    Ok(())
}

/// An offset as librdkafka takes it.
fn absolute(offset: u64) -> Offset {
    Offset::Offset(i64::try_from(offset).unwrap_or(i64::MAX))
}

/// Where partition `p`'s intent and loader state live (shared by every loader of the group).
fn partition_state_dir(dataset_dir: &std::path::Path, topic: &str, p: i32) -> PathBuf {
    dataset_dir
        .join(super::LOADER_STATE_DIR)
        .join(topic)
        .join(format!("p{p}"))
}
