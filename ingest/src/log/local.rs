//! The embedded event log: one partition of segment files on local disk, with group commit.
//!
//! One writer thread owns the active segment. Appends queue up while it is busy and are written
//! together, then made durable by a single `fdatasync`, so many requests share one fsync. Readers
//! see only records below the durable end. Consumer groups commit their position to
//! `consumers/<group>.offset` (temp file, fsync, rename); segments wholly below every group's
//! committed position are deleted.

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::{mpsc, oneshot};

use super::segment::{self, FrameReader};
use super::{ConsumedRecord, EventLog, LogConsumer, LogRecord, Positions};
use crate::durable::{sync_dir, write_atomically};
use crate::error::LogError;

/// The only partition of the local log.
const PARTITION: u32 = 0;
/// Stop gathering appends into one write past this many bytes.
const MAX_GROUP_BYTES: usize = 32 << 20;

/// Tuning of the local log.
#[derive(Debug, Clone)]
pub struct LocalLogOptions {
    /// Roll to a new segment once the active one reaches this size.
    pub segment_bytes: u64,
    /// How many append requests may wait for the writer before callers are slowed down.
    pub queue_depth: usize,
    /// Where to record the duration of each group commit (write + fdatasync), if anywhere.
    pub fsync_seconds: Option<Histogram>,
}

impl Default for LocalLogOptions {
    fn default() -> Self {
        LocalLogOptions {
            segment_bytes: 128 << 20,
            queue_depth: 4096,
            fsync_seconds: None,
        }
    }
}

/// The local durable event log (see the module docs).
pub struct LocalLog {
    shared: Arc<Shared>,
    appends: mpsc::Sender<AppendRequest>,
}

/// State shared by the writer thread, the log handle and consumers.
struct Shared {
    dir: PathBuf,
    /// Offset one past the last durable record, and a condvar signalled when it grows.
    durable_end: Mutex<u64>,
    grew: Condvar,
    /// Set once a write or fsync failed: the log refuses appends from then on.
    failed: AtomicBool,
}

struct AppendRequest {
    records: Vec<LogRecord>,
    done: oneshot::Sender<Result<(), LogError>>,
}

impl LocalLog {
    /// Opens (or creates) the log in `dir`, truncating a torn tail left by a crash.
    pub fn open(dir: impl Into<PathBuf>, options: LocalLogOptions) -> Result<LocalLog, LogError> {
        let dir = dir.into();
        fs::create_dir_all(dir.join("consumers")).map_err(|e| LogError::io(&dir, e))?;
        let segments = segment::list_segments(&dir).map_err(|e| LogError::io(&dir, e))?;
        let base = segments.last().copied().unwrap_or(0);
        let path = segment::segment_path(&dir, base);
        let (count, valid_len) = if path.exists() {
            segment::scan_valid(&path).map_err(|e| LogError::io(&path, e))?
        } else {
            (0, 0)
        };
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| LogError::io(&path, e))?;
        // Anything past the valid prefix is a torn frame that was never acknowledged.
        file.set_len(valid_len)
            .and_then(|()| file.sync_all())
            .and_then(|()| file.seek(SeekFrom::Start(valid_len)))
            .map_err(|e| LogError::io(&path, e))?;
        sync_dir(&dir).map_err(|e| LogError::io(&dir, e))?;
        if valid_len > 0 || segments.len() > 1 {
            tracing::info!(dir = %dir.display(), next_offset = base + count, "opened event log");
        }

        let shared = Arc::new(Shared {
            dir,
            durable_end: Mutex::new(base + count),
            grew: Condvar::new(),
            failed: AtomicBool::new(false),
        });
        let (tx, rx) = mpsc::channel(options.queue_depth);
        let writer = Writer {
            shared: Arc::clone(&shared),
            file,
            base,
            next_offset: base + count,
            segment_len: valid_len,
            options,
            failed: None,
        };
        std::thread::Builder::new()
            .name("sluice-log-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| LogError::io(&shared.dir, e))?;
        Ok(LocalLog {
            shared,
            appends: tx,
        })
    }

    /// Offset one past the last durable record.
    pub fn durable_end(&self) -> u64 {
        *lock(&self.shared.durable_end)
    }
}

#[async_trait]
impl EventLog for LocalLog {
    async fn append(&self, records: Vec<LogRecord>) -> Result<(), LogError> {
        if records.is_empty() {
            return Ok(());
        }
        let (done, wait) = oneshot::channel();
        self.appends
            .send(AppendRequest { records, done })
            .await
            .map_err(|_| LogError::Closed)?;
        wait.await.map_err(|_| LogError::Closed)?
    }

    fn is_ready(&self) -> bool {
        !self.appends.is_closed() && !self.shared.failed.load(Ordering::Relaxed)
    }

    fn lag(&self, group: &str) -> Result<u64, LogError> {
        valid_group(group)?;
        let committed = read_committed(&self.shared.dir, group)?;
        Ok(self.durable_end().saturating_sub(committed))
    }

    fn consumer(&self, group: &str) -> Result<Box<dyn LogConsumer>, LogError> {
        valid_group(group)?;
        let committed = read_committed(&self.shared.dir, group)?;
        Ok(Box::new(LocalConsumer {
            shared: Arc::clone(&self.shared),
            group: group.to_owned(),
            position: committed,
            committed,
            reader: None,
        }))
    }
}

fn valid_group(group: &str) -> Result<(), LogError> {
    if group.is_empty()
        || !group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(LogError::InvalidGroup(group.to_owned()));
    }
    Ok(())
}

/// The writer thread: owns the active segment.
struct Writer {
    shared: Arc<Shared>,
    file: File,
    base: u64,
    next_offset: u64,
    segment_len: u64,
    options: LocalLogOptions,
    /// Once a write or fsync fails the log refuses further appends: their durability is unknown.
    failed: Option<String>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<AppendRequest>) {
        let mut buf = Vec::with_capacity(1 << 20);
        while let Some(first) = rx.blocking_recv() {
            let mut group = vec![first];
            let mut bytes: usize = group[0].records.iter().map(|r| r.payload.len()).sum();
            while bytes < MAX_GROUP_BYTES {
                let Ok(more) = rx.try_recv() else { break };
                bytes += more.records.iter().map(|r| r.payload.len()).sum::<usize>();
                group.push(more);
            }
            let result = self.write_group(&group, &mut buf);
            for request in group {
                // A caller that went away (client disconnected) needs no answer.
                let _ = request.done.send(result.clone());
            }
        }
    }

    fn write_group(&mut self, group: &[AppendRequest], buf: &mut Vec<u8>) -> Result<(), LogError> {
        if let Some(reason) = &self.failed {
            return Err(LogError::Failed(reason.clone()));
        }
        buf.clear();
        let mut count = 0u64;
        for record in group.iter().flat_map(|r| &r.records) {
            segment::encode_frame(&record.payload, buf);
            count += 1;
        }
        let started = Instant::now();
        if let Err(e) = self
            .file
            .write_all(buf)
            .and_then(|()| self.file.sync_data())
        {
            let reason = format!("writing segment {}: {e}", self.base);
            tracing::error!(%reason, "event log write failed; refusing further appends");
            self.failed = Some(reason.clone());
            self.shared.failed.store(true, Ordering::Relaxed);
            return Err(LogError::Failed(reason));
        }
        if let Some(histogram) = &self.options.fsync_seconds {
            histogram.observe(started.elapsed().as_secs_f64());
        }
        tracing::trace!(
            records = count,
            bytes = buf.len(),
            fsync_us = started.elapsed().as_micros() as u64,
            "group committed"
        );
        self.next_offset += count;
        self.segment_len += buf.len() as u64;
        *lock(&self.shared.durable_end) = self.next_offset;
        self.shared.grew.notify_all();
        if self.segment_len >= self.options.segment_bytes {
            self.roll()?;
        }
        Ok(())
    }

    /// Starts a new segment at the next offset.
    fn roll(&mut self) -> Result<(), LogError> {
        let path = segment::segment_path(&self.shared.dir, self.next_offset);
        let file = File::create(&path)
            .and_then(|f| f.sync_all().map(|()| f))
            .and_then(|f| sync_dir(&self.shared.dir).map(|()| f));
        match file {
            Ok(file) => {
                self.file = file;
                self.base = self.next_offset;
                self.segment_len = 0;
                Ok(())
            }
            Err(e) => {
                // The records just written are durable; only later appends are refused.
                self.failed = Some(format!("creating segment {}: {e}", path.display()));
                Ok(())
            }
        }
    }
}

/// A consumer of the local log.
struct LocalConsumer {
    shared: Arc<Shared>,
    group: String,
    position: u64,
    committed: u64,
    /// Open reader: the segment base and a reader positioned at `position`.
    reader: Option<(u64, FrameReader)>,
}

impl LocalConsumer {
    /// Waits until records past the position are durable, or `wait` passes; returns the durable end.
    fn wait_for_records(&self, wait: Duration) -> u64 {
        let deadline = Instant::now() + wait;
        let mut end = lock(&self.shared.durable_end);
        while *end <= self.position {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            end = match self.shared.grew.wait_timeout(end, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        *end
    }

    /// A reader positioned at `self.position`.
    fn reader_at_position(&mut self) -> Result<&mut FrameReader, LogError> {
        let dir = &self.shared.dir;
        let bases = segment::list_segments(dir).map_err(|e| LogError::io(dir, e))?;
        let base = bases
            .iter()
            .rev()
            .find(|&&b| b <= self.position)
            .copied()
            .ok_or(LogError::OffsetGone(self.position))?;
        let path = segment::segment_path(dir, base);
        let mut reader = FrameReader::open(&path, 0).map_err(|e| LogError::io(&path, e))?;
        let want = self.position - base;
        if reader.skip(want).map_err(|e| LogError::io(&path, e))? != want {
            return Err(LogError::Corrupt(format!(
                "segment {} ends before offset {}",
                path.display(),
                self.position
            )));
        }
        Ok(&mut self.reader.insert((base, reader)).1)
    }
}

impl LogConsumer for LocalConsumer {
    fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<ConsumedRecord>, LogError> {
        let end = self.wait_for_records(wait);
        let mut out = Vec::new();
        while self.position < end && out.len() < max {
            if self.reader.is_none() {
                self.reader_at_position()?;
            }
            let Some((_, reader)) = self.reader.as_mut() else {
                continue;
            };
            match reader
                .next_frame()
                .map_err(|e| LogError::io(&self.shared.dir, e))?
            {
                Some(payload) => {
                    out.push(ConsumedRecord {
                        partition: PARTITION,
                        offset: self.position,
                        payload,
                    });
                    self.position += 1;
                }
                // End of this segment: the next one starts at the position.
                None => {
                    let next = segment::segment_path(&self.shared.dir, self.position);
                    if !next.exists() {
                        return Err(LogError::Corrupt(format!(
                            "no record at durable offset {}",
                            self.position
                        )));
                    }
                    let reader = FrameReader::open(&next, 0).map_err(|e| LogError::io(&next, e))?;
                    self.reader = Some((self.position, reader));
                }
            }
        }
        Ok(out)
    }

    fn seek(&mut self, positions: &Positions) -> Result<(), LogError> {
        self.position = positions.get(&PARTITION).copied().unwrap_or(0);
        self.reader = None;
        Ok(())
    }

    fn position(&self) -> Positions {
        Positions::from([(PARTITION, self.position)])
    }

    fn commit(&mut self, positions: &Positions) -> Result<(), LogError> {
        let offset = positions.get(&PARTITION).copied().unwrap_or(0);
        let path = offset_path(&self.shared.dir, &self.group);
        write_atomically(&path, offset.to_string().as_bytes())
            .map_err(|e| LogError::io(&path, e))?;
        self.committed = offset;
        delete_consumed_segments(&self.shared.dir)
    }

    fn committed(&self) -> Positions {
        Positions::from([(PARTITION, self.committed)])
    }
}

fn offset_path(dir: &Path, group: &str) -> PathBuf {
    dir.join("consumers").join(format!("{group}.offset"))
}

fn read_committed(dir: &Path, group: &str) -> Result<u64, LogError> {
    let path = offset_path(dir, group);
    match fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|_| LogError::Corrupt(format!("{} does not hold an offset", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(LogError::io(&path, e)),
    }
}

/// Deletes segments whose records are all below every group's committed offset.
fn delete_consumed_segments(dir: &Path) -> Result<(), LogError> {
    let consumers = dir.join("consumers");
    let mut min_committed = u64::MAX;
    for entry in fs::read_dir(&consumers).map_err(|e| LogError::io(&consumers, e))? {
        let entry = entry.map_err(|e| LogError::io(&consumers, e))?;
        let name = entry.file_name();
        if let Some(group) = name.to_str().and_then(|n| n.strip_suffix(".offset")) {
            min_committed = min_committed.min(read_committed(dir, group)?);
        }
    }
    let bases = segment::list_segments(dir).map_err(|e| LogError::io(dir, e))?;
    // A segment is consumed when the next one starts at or below the committed offset.
    for pair in bases.windows(2) {
        if pair[1] <= min_committed {
            let path = segment::segment_path(dir, pair[0]);
            fs::remove_file(&path).map_err(|e| LogError::io(&path, e))?;
        }
    }
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
