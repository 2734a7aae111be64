//! The loader: consumes the event log and writes Parquet files partitioned by event date.
//!
//! Exactly-once, by construction:
//! 1. a batch is a range of log positions `[start, end)`; before writing anything the loader records
//!    that range durably in an *intent* file;
//! 2. it writes one Parquet file per event date, named after the range, each atomically (temp file,
//!    fsync, rename, fsync folder), so a file is either whole or absent;
//! 3. only then does it commit `end` to the log and delete the intent.
//!
//! After a crash the intent says exactly which range was in flight; the loader replays that same
//! range, which rewrites the same file names (replacing, never adding), then commits. Records below
//! the committed position are never read again, and records at or above it are in no file that a
//! committed batch wrote — so every acknowledged event lands in exactly one file.

pub(crate) mod intent;
pub(crate) mod parquet_files;
pub(crate) mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono_tz::Tz;
use sluice_schema::StorageLayout;

use serde::Deserialize;
use sluice_schema::EventRow;

use crate::error::LoaderError;
use crate::log::{ConsumedRecord, EventLog, LogConsumer, Positions};
use crate::metrics::{IngestMetrics, Outcome};

pub(crate) use intent::Intent;
pub(crate) use state::{LoaderState, PersonSpace};

/// The consumer group of the Parquet loader.
pub const LOADER_GROUP: &str = "parquet-loader";

/// Settings of a loader.
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    /// Root of the dataset; files go under `events/event_date=YYYY-MM-DD/`.
    pub dataset_dir: PathBuf,
    /// Which properties get typed columns.
    pub layout: StorageLayout,
    /// The time zone that cuts event dates.
    pub time_zone: Tz,
    /// Most events in one batch (one file per date per batch).
    pub max_batch_events: usize,
    /// Longest time an event waits in a batch before it is written: how fresh queries are.
    pub flush_interval: Duration,
    /// Where loaded, deduplicated (and quarantined) events are counted.
    pub metrics: Arc<IngestMetrics>,
}

/// Counters a loader publishes while it runs.
#[derive(Debug, Default)]
pub struct LoaderProgress {
    /// Events written to Parquet (main or quarantine dataset) and committed since the loader
    /// started.
    pub events_loaded: AtomicU64,
    /// Events dropped as duplicates since the loader started.
    pub events_deduplicated: AtomicU64,
    /// Batches committed since the loader started.
    pub batches_committed: AtomicU64,
}

/// One batch's way to Parquet: intent, dedup and property stamping, files, state, commit. Shared
/// by the embedded loader (one per log) and the Kafka loader (one per partition).
pub(crate) struct BatchLoader {
    pub(crate) config: LoaderConfig,
    /// Folder of the intent file and the loader state (the dataset folder for the embedded log).
    pub(crate) state_dir: PathBuf,
    /// Prefix of file names before the log range (e.g. the Kafka topic), if any.
    pub(crate) file_prefix: Option<String>,
    /// The persons this loader numbers (its log partition).
    pub(crate) persons: PersonSpace,
    pub(crate) progress: Arc<LoaderProgress>,
}

impl BatchLoader {
    /// Opens the loader state as of `committed` (cutting off what an uncommitted batch left).
    pub(crate) fn open_state(&self, committed: &Positions) -> Result<LoaderState, LoaderError> {
        LoaderState::open(&self.state_dir, committed, self.persons)
    }

    /// The batch a crash interrupted, if any.
    pub(crate) fn interrupted(&self) -> Result<Option<Intent>, LoaderError> {
        intent::read(&self.state_dir)
    }

    /// Forgets an intent whose batch turned out to be committed already.
    pub(crate) fn clear_intent(&self) -> Result<(), LoaderError> {
        intent::clear(&self.state_dir)
    }

    /// Writes one batch's files and state, then commits with `commit`: see the module docs for
    /// why in this order.
    pub(crate) fn load(
        &self,
        state: &mut LoaderState,
        intent: Intent,
        records: &[ConsumedRecord],
        commit: impl FnOnce(&Positions) -> Result<(), LoaderError>,
    ) -> Result<(), LoaderError> {
        intent::record(&self.state_dir, &intent)?;
        let name = intent.file_name(self.file_prefix.as_deref());
        let mut files = parquet_files::BatchFiles::new(&self.config, &name);
        let (mut loaded, mut quarantined, mut duplicates) = (0, 0, 0);
        // A slice at a time: the slice's events stay in cache and their memory is reused, where a
        // whole batch of decoded events would be written to fresh pages and read back from RAM.
        let mut events = Vec::new();
        let mut learnt = Vec::new();
        for slice in slices(records, SLICE_BYTES) {
            decode_into(&mut events, slice)?;
            let processed = state.process(std::mem::take(&mut events), &mut learnt);
            let in_quarantine = processed.events.iter().filter(|e| e.quarantined).count();
            quarantined += in_quarantine;
            loaded += processed.events.len() - in_quarantine;
            duplicates += processed.duplicates;
            files.append(&processed.events)?;
            events = processed.events;
            events.clear();
        }
        let written = files.finish()?;
        parquet_files::write_identity_file(&self.config.dataset_dir, &name, &learnt)?;
        state.persist(&intent.end)?;
        crate::durable::crash_point("loader-before-commit");
        commit(&intent.end)?;
        intent::clear(&self.state_dir)?;
        state.maybe_compact(&intent.end)?;
        self.progress
            .events_loaded
            .fetch_add((loaded + quarantined) as u64, Ordering::Relaxed);
        self.progress
            .events_deduplicated
            .fetch_add(duplicates as u64, Ordering::Relaxed);
        self.progress
            .batches_committed
            .fetch_add(1, Ordering::Relaxed);
        let metrics = &self.config.metrics;
        metrics.count_events(Outcome::Loaded, loaded);
        metrics.count_events(Outcome::Quarantined, quarantined);
        metrics.count_events(Outcome::Deduplicated, duplicates);
        tracing::debug!(
            events = loaded,
            duplicates,
            files = written,
            batch = %name,
            "batch loaded"
        );
        Ok(())
    }
}

/// The embedded loader: one consumer of the whole log; [`Loader::run`] blocks, so it gets its
/// own thread ([`spawn_loader`]).
pub struct Loader {
    consumer: Box<dyn LogConsumer>,
    batches: BatchLoader,
}

impl Loader {
    /// A loader reading through `consumer`.
    pub fn new(
        consumer: Box<dyn LogConsumer>,
        config: LoaderConfig,
        progress: Arc<LoaderProgress>,
    ) -> Self {
        let state_dir = config.dataset_dir.clone();
        Loader {
            consumer,
            batches: BatchLoader {
                config,
                state_dir,
                file_prefix: None,
                persons: PersonSpace {
                    partition: 0,
                    shared: false,
                },
                progress,
            },
        }
    }

    /// Loads until `stop` is set, then flushes what it holds and returns.
    pub fn run(mut self, stop: &AtomicBool) -> Result<(), LoaderError> {
        parquet_files::remove_temp_files(&self.batches.config.dataset_dir)?;
        let mut state = self.batches.open_state(&self.consumer.committed())?;
        self.finish_interrupted_batch(&mut state)?;
        loop {
            let start = self.consumer.position();
            let records = self.gather(stop)?;
            if !records.is_empty() {
                let end = self.consumer.position();
                let consumer = &mut self.consumer;
                self.batches
                    .load(&mut state, Intent { start, end }, &records, |end| {
                        Ok(consumer.commit(end)?)
                    })?;
            }
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
        }
    }

    /// Polls until a batch is full, the flush interval has passed since its first record, or stop.
    fn gather(&mut self, stop: &AtomicBool) -> Result<Vec<ConsumedRecord>, LoaderError> {
        let max = self.batches.config.max_batch_events;
        let mut records = Vec::new();
        let mut deadline: Option<Instant> = None;
        loop {
            let wait = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_millis(200),
            };
            let got = self.consumer.poll(max - records.len(), wait)?;
            if deadline.is_none() && !got.is_empty() {
                deadline = Some(Instant::now() + self.batches.config.flush_interval);
            }
            records.extend(got);
            let due = deadline.is_some_and(|d| Instant::now() >= d);
            if records.len() >= max || due || stop.load(Ordering::Relaxed) {
                return Ok(records);
            }
        }
    }

    /// Replays the batch a crash interrupted, if any, exactly as it was.
    fn finish_interrupted_batch(&mut self, state: &mut LoaderState) -> Result<(), LoaderError> {
        let Some(intent) = self.batches.interrupted()? else {
            return Ok(());
        };
        tracing::info!(start = ?intent.start, end = ?intent.end, "replaying interrupted batch");
        self.consumer.seek(&intent.start)?;
        let mut records = Vec::new();
        while !reached(&self.consumer.position(), &intent.end) {
            let got = self
                .consumer
                .poll(self.batches.config.max_batch_events, Duration::from_secs(1))?;
            if got.is_empty() {
                return Err(LoaderError::Log(crate::error::LogError::Corrupt(format!(
                    "interrupted batch {:?}..{:?} is no longer readable",
                    intent.start, intent.end
                ))));
            }
            records.extend(got.into_iter().filter(|r| intent.contains(r)));
        }
        self.consumer.seek(&intent.end)?;
        let consumer = &mut self.consumer;
        self.batches
            .load(state, intent, &records, |end| Ok(consumer.commit(end)?))
    }
}

/// How many bytes of records are decoded and written at a time (see [`BatchLoader::load`]).
const SLICE_BYTES: usize = 4 << 20;

/// `records` cut into consecutive slices of about `bytes` bytes of payload (at least one record
/// each).
fn slices(records: &[ConsumedRecord], bytes: usize) -> impl Iterator<Item = &[ConsumedRecord]> {
    let mut rest = records;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut size = 0;
        let len = rest
            .iter()
            .position(|r| {
                size += r.payload.len();
                size > bytes
            })
            .map_or(rest.len(), |i| i.max(1));
        let (slice, tail) = rest.split_at(len);
        rest = tail;
        Some(slice)
    })
}

/// The events of `records`: a record holds one event (JSON object), or several events of one
/// device as a JSON array (the Kafka producer batches a request's events per device).
#[cfg(test)]
fn decode(records: &[ConsumedRecord]) -> Result<Vec<EventRow<'_>>, LoaderError> {
    let mut events = Vec::new();
    decode_into(&mut events, records)?;
    Ok(events)
}

/// Appends the events of `records` to `events` (see `decode`), borrowing their text from the
/// records.
fn decode_into<'r>(
    events: &mut Vec<EventRow<'r>>,
    records: &'r [ConsumedRecord],
) -> Result<(), LoaderError> {
    // Demo events take 1.0-1.7 KB of JSON: size the vector once instead of growing it.
    let bytes: usize = records.iter().map(|r| r.payload.len()).sum();
    events.reserve(records.len().max(bytes / 1024));
    for record in records {
        let mut reader = serde_json::Deserializer::from_slice(&record.payload);
        serde::de::DeserializeSeed::deserialize(AppendEvents(events), &mut reader)
            .and_then(|()| reader.end())
            .map_err(|e| LoaderError::BadRecord {
                offset: record.offset,
                message: e.to_string(),
            })?;
    }
    Ok(())
}

/// Deserialises one event or an array of events straight into the batch's vector: an event is
/// large, and collecting each array into its own vector first would copy every one of them.
struct AppendEvents<'a, 'de>(&'a mut Vec<EventRow<'de>>);

impl<'de> serde::de::DeserializeSeed<'de> for AppendEvents<'_, 'de> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for AppendEvents<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an event object or an array of event objects")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(event) = seq.next_element::<EventRow<'de>>()? {
            self.0.push(event);
        }
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let event = EventRow::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        self.0.push(event);
        Ok(())
    }
}

fn reached(position: &Positions, end: &Positions) -> bool {
    end.iter()
        .all(|(p, e)| position.get(p).copied().unwrap_or(0) >= *e)
}

/// A loader running on its own thread.
pub struct LoaderHandle {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Live counters.
    pub progress: Arc<LoaderProgress>,
}

/// Starts a loader thread on `log`. On an error it logs, waits, and restarts from the committed
/// position (replaying any interrupted batch), so a transient disk problem does not stop loading.
pub fn spawn_loader(log: Arc<dyn EventLog>, config: LoaderConfig) -> std::io::Result<LoaderHandle> {
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(LoaderProgress::default());
    let (thread_stop, thread_progress) = (Arc::clone(&stop), Arc::clone(&progress));
    let thread = std::thread::Builder::new()
        .name("sluice-loader".into())
        .spawn(move || {
            while !thread_stop.load(Ordering::Relaxed) {
                let result = log
                    .consumer(LOADER_GROUP)
                    .map_err(LoaderError::from)
                    .and_then(|c| {
                        Loader::new(c, config.clone(), Arc::clone(&thread_progress))
                            .run(&thread_stop)
                    });
                if let Err(error) = result {
                    tracing::error!(%error, "loader failed; restarting in 1 s");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        })?;
    Ok(LoaderHandle {
        stop,
        thread: Some(thread),
        progress,
    })
}

impl LoaderHandle {
    /// Asks the loader to flush what it holds and stop, and waits for it.
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests;
