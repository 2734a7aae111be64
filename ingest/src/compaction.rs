//! Compaction: many small loader files of a date partition become one large file sorted for
//! analysis (by project, event type, person, then time), with no moment where a query counts an
//! event twice or misses it.
//!
//! A query lists files, so the swap (new file in, old files out) cannot be one rename. It is made
//! atomic for readers with a counter, `events/.compaction-epoch`, that is odd while a swap is under
//! way; the query engine reads it before and after a query and runs the query again unless both
//! reads give the same even number (a seqlock). One swap:
//! 1. the sorted output is written whole to `<data>/.compaction/` (not listed by queries), fsync;
//! 2. a manifest (`.compaction/manifest.json`: partition, output, inputs) is written atomically;
//! 3. epoch → odd; the output is renamed into the partition; the inputs are deleted; epoch → even;
//! 4. the manifest is deleted.
//!
//! A crash after 2 is rolled forward by the next compaction (output in, inputs out, epoch even).
//! Only `part-*` and `compact-*` files are compacted, and never a file of a batch whose intent is
//! still on disk (not committed yet: the loader may rewrite it on restart). Compactors take an
//! exclusive lock, so one runs at a time per data directory.
//!
//! The identity dataset (`identity/`, person merges) is compacted the same way: a live server
//! writes one small file per batch with a login, and every query's person map reads them all
//! when its cache is cold. Its rows are kept as they are (a merge read twice is the same merge),
//! swapped in under the same epoch, so a query that lists the files mid-swap runs again.

use std::collections::BTreeSet;
use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};
use sluice_schema::layout::identity::{IDENTITY_DIR, identity_schema};
use sluice_schema::layout::{COMPACTION_EPOCH_FILE, EVENTS_DIR};
use sluice_schema::{Event, StorageLayout};

use crate::durable::{sync_dir, write_atomically};
use crate::error::LoaderError;
use crate::loader::intent::in_flight_file_names;
use crate::loader::parquet_files::{ReadFileError, read_file, write_file, write_identity_batches};

/// Folder of compaction outputs before they are swapped in, the manifest and the lock.
const WORK_DIR: &str = ".compaction";
const MANIFEST: &str = "manifest.json";
const LOCK: &str = "lock";

/// Errors of compaction.
#[derive(Debug, thiserror::Error)]
pub enum CompactionError {
    /// A file operation failed.
    #[error("compaction I/O on {path}: {source}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An input file does not read as stored events.
    #[error("cannot compact {path}: {message}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Writing the output (or reading an intent) failed.
    #[error(transparent)]
    Write(#[from] LoaderError),
    /// The manifest of an interrupted swap does not decode.
    #[error("compaction manifest {0} is corrupt; inspect it and remove it by hand")]
    CorruptManifest(PathBuf),
}

fn io(path: &Path, source: std::io::Error) -> CompactionError {
    CompactionError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What to compact.
#[derive(Debug, Clone)]
pub struct CompactionOptions {
    /// The layout outputs are written in (the current tracking plan's).
    pub layout: StorageLayout,
    /// A partition is compacted once it holds at least this many small files. With 1, a lone
    /// loader file (`part-*`, in arrival order) is rewritten sorted too.
    pub min_files: usize,
    /// Files at least this large are left alone.
    pub small_file_bytes: u64,
    /// Most events in one output file (bounds the compactor's memory).
    pub max_events_per_file: usize,
}

impl Default for CompactionOptions {
    fn default() -> Self {
        CompactionOptions {
            layout: StorageLayout::default(),
            min_files: 8,
            small_file_bytes: 64 << 20,
            max_events_per_file: 1_000_000,
        }
    }
}

/// What one compaction run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct CompactionReport {
    /// Input files replaced.
    pub files_in: usize,
    /// Output files written.
    pub files_out: usize,
    /// Events moved into outputs.
    pub events: usize,
    /// True when another compactor held the lock and this run did nothing.
    pub skipped_busy: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    /// The dataset folder: `events` (manifests written before identity compaction have none),
    /// or `identity`.
    #[serde(default = "events_dataset")]
    dataset: String,
    /// The partition folder, relative to the dataset's (e.g. `event_date=2026-01-10`; empty for
    /// the identity dataset, which has no partitions).
    partition: String,
    output: String,
    inputs: Vec<String>,
}

fn events_dataset() -> String {
    EVENTS_DIR.to_owned()
}

/// Compacts every date partition of `events/` that has enough small files, then the identity
/// dataset; finishes an interrupted swap first.
pub fn compact(
    dataset_dir: &Path,
    options: &CompactionOptions,
) -> Result<CompactionReport, CompactionError> {
    let work = dataset_dir.join(WORK_DIR);
    fs::create_dir_all(&work).map_err(|e| io(&work, e))?;
    let Some(_lock) = lock(&work)? else {
        return Ok(CompactionReport {
            skipped_busy: true,
            ..CompactionReport::default()
        });
    };
    recover(dataset_dir)?;
    let events_dir = dataset_dir.join(EVENTS_DIR);
    let mut report = CompactionReport::default();
    let Ok(partitions) = fs::read_dir(&events_dir) else {
        return Ok(report);
    };
    let mut partitions: Vec<String> = partitions
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    partitions.sort();
    for partition in partitions {
        compact_partition(dataset_dir, &partition, options, &mut report)?;
    }
    compact_identity(dataset_dir, options, &mut report)?;
    Ok(report)
}

fn lock(work: &Path) -> Result<Option<File>, CompactionError> {
    let path = work.join(LOCK);
    let file = File::create(&path).map_err(|e| io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(io(&path, e)),
    }
}

/// The small files of `dir` that may be compacted, in name order, with their row counts.
fn compactable_files(
    dataset_dir: &Path,
    dir: &Path,
    options: &CompactionOptions,
) -> Result<Vec<(String, usize)>, CompactionError> {
    // List first, then read the intents: a listed file of an uncommitted batch had its intent
    // written before the file, so the intent is seen (see the module docs).
    let mut listed = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io(dir, e))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let compactable = (name.starts_with("part-") || name.starts_with("compact-"))
            && name.ends_with(".parquet");
        if let (true, Ok(meta)) = (compactable, entry.metadata()) {
            listed.push((name, meta.len()));
        }
    }
    listed.sort();
    let in_flight = in_flight_file_names(dataset_dir)?;
    candidates(dir, options, &in_flight, &listed)
}

/// Small files of a partition that may be compacted, in name order, with their row counts.
fn candidates(
    dir: &Path,
    options: &CompactionOptions,
    in_flight: &BTreeSet<String>,
    listed: &[(String, u64)],
) -> Result<Vec<(String, usize)>, CompactionError> {
    let mut out = Vec::new();
    for (name, size) in listed {
        if *size >= options.small_file_bytes || in_flight.contains(name) {
            continue;
        }
        let path = dir.join(name);
        let file = File::open(&path).map_err(|e| io(&path, e))?;
        let rows = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| CompactionError::Unreadable {
                path: path.clone(),
                message: e.to_string(),
            })?
            .metadata()
            .file_metadata()
            .num_rows();
        out.push((name.clone(), usize::try_from(rows).unwrap_or(0)));
    }
    Ok(out)
}

fn compact_partition(
    dataset_dir: &Path,
    partition: &str,
    options: &CompactionOptions,
    report: &mut CompactionReport,
) -> Result<(), CompactionError> {
    let dir = dataset_dir.join(EVENTS_DIR).join(partition);
    let files = compactable_files(dataset_dir, &dir, options)?;
    if files.len() < options.min_files {
        return Ok(());
    }
    // Groups of whole files up to the event limit; a group of one file is left alone, unless
    // `min_files` is 1 and it is a loader file (not sorted yet).
    let mut groups: Vec<Vec<String>> = vec![Vec::new()];
    let mut rows_in_group = 0;
    for (name, rows) in files {
        if rows_in_group + rows > options.max_events_per_file && rows_in_group > 0 {
            groups.push(Vec::new());
            rows_in_group = 0;
        }
        rows_in_group += rows;
        groups.last_mut().expect("at least one group").push(name);
    }
    let worth_rewriting =
        |g: &Vec<String>| g.len() > 1 || (options.min_files <= 1 && g[0].starts_with("part-"));
    for inputs in groups.into_iter().filter(worth_rewriting) {
        let events = swap(dataset_dir, partition, inputs.clone(), options)?;
        report.files_in += inputs.len();
        report.files_out += 1;
        report.events += events;
    }
    Ok(())
}

/// Writes the sorted union of `inputs` and swaps it in; returns the number of events.
fn swap(
    dataset_dir: &Path,
    partition: &str,
    inputs: Vec<String>,
    options: &CompactionOptions,
) -> Result<usize, CompactionError> {
    let dir = dataset_dir.join(EVENTS_DIR).join(partition);
    let mut events = Vec::new();
    for name in &inputs {
        events.extend(read_events(&dir.join(name))?);
    }
    // Sorted by reference: moving the events themselves would copy each several times.
    let mut sorted: Vec<&Event> = events.iter().collect();
    sort_for_analysis(&mut sorted);
    let output = output_name();
    let work = dataset_dir.join(WORK_DIR);
    write_file(&options.layout, dataset_dir, &work, &output, &sorted)?;
    let manifest = Manifest {
        dataset: events_dataset(),
        partition: partition.to_owned(),
        output,
        inputs,
    };
    commit_swap(dataset_dir, &manifest)?;
    tracing::debug!(partition, inputs = ?manifest.inputs, output = %manifest.output, "compaction inputs");
    tracing::info!(
        partition,
        inputs = manifest.inputs.len(),
        events = events.len(),
        output = %manifest.output,
        "compacted"
    );
    Ok(events.len())
}

/// Compacts the identity dataset's small files into one when there are enough of them.
fn compact_identity(
    dataset_dir: &Path,
    options: &CompactionOptions,
    report: &mut CompactionReport,
) -> Result<(), CompactionError> {
    let dir = dataset_dir.join(IDENTITY_DIR);
    if !dir.is_dir() {
        return Ok(());
    }
    let files = compactable_files(dataset_dir, &dir, options)?;
    if files.len() < options.min_files.max(2) {
        return Ok(());
    }
    let mut batches = Vec::new();
    let mut rows = 0;
    for (name, _) in &files {
        for batch in read_identity_rows(&dir.join(name))? {
            rows += batch.num_rows();
            batches.push(batch);
        }
    }
    let output = output_name();
    write_identity_batches(dataset_dir, &dataset_dir.join(WORK_DIR), &output, &batches)?;
    let manifest = Manifest {
        dataset: IDENTITY_DIR.to_owned(),
        partition: String::new(),
        output,
        inputs: files.into_iter().map(|(name, _)| name).collect(),
    };
    commit_swap(dataset_dir, &manifest)?;
    tracing::info!(inputs = manifest.inputs.len(), rows, output = %manifest.output, "compacted identity files");
    report.files_in += manifest.inputs.len();
    report.files_out += 1;
    Ok(())
}

/// The rows of identity file `path`, checked against the identity schema.
fn read_identity_rows(path: &Path) -> Result<Vec<RecordBatch>, CompactionError> {
    let unreadable = |message: String| CompactionError::Unreadable {
        path: path.to_path_buf(),
        message,
    };
    let file = File::open(path).map_err(|e| io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|builder| builder.build())
        .map_err(|e| unreadable(e.to_string()))?;
    let schema = identity_schema();
    reader
        .map(|batch| {
            let batch = batch.map_err(|e| unreadable(e.to_string()))?;
            RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
                .map_err(|e| unreadable(format!("not an identity file: {e}")))
        })
        .collect()
}

/// Steps 2 to 4 of a swap whose output is staged: the manifest, then [`finish`].
fn commit_swap(dataset_dir: &Path, manifest: &Manifest) -> Result<(), CompactionError> {
    let path = dataset_dir.join(WORK_DIR).join(MANIFEST);
    let bytes = serde_json::to_vec(manifest).expect("manifests serialise");
    write_atomically(&path, &bytes).map_err(|e| io(&path, e))?;
    finish(dataset_dir, manifest)
}

/// Steps 3 and 4 of a swap (idempotent, so recovery can run them again). The epoch is the
/// events dataset's for both datasets: queries read it around every run.
fn finish(dataset_dir: &Path, manifest: &Manifest) -> Result<(), CompactionError> {
    let work = dataset_dir.join(WORK_DIR);
    let events_dir = dataset_dir.join(EVENTS_DIR);
    let dir = dataset_dir
        .join(&manifest.dataset)
        .join(&manifest.partition);
    set_epoch_odd(&events_dir, true)?;
    let staged = work.join(&manifest.output);
    if staged.exists() {
        let target = dir.join(&manifest.output);
        fs::rename(&staged, &target).map_err(|e| io(&target, e))?;
        sync_dir(&work).map_err(|e| io(&work, e))?;
    }
    for input in &manifest.inputs {
        let path = dir.join(input);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path, e)),
        }
    }
    sync_dir(&dir).map_err(|e| io(&dir, e))?;
    set_epoch_odd(&events_dir, false)?;
    let path = work.join(MANIFEST);
    fs::remove_file(&path).map_err(|e| io(&path, e))?;
    sync_dir(&work).map_err(|e| io(&work, e))
}

/// Rolls an interrupted swap forward and removes outputs that never got a manifest.
fn recover(dataset_dir: &Path) -> Result<(), CompactionError> {
    let work = dataset_dir.join(WORK_DIR);
    let path = work.join(MANIFEST);
    let manifest = match fs::read(&path) {
        Ok(bytes) => Some(
            serde_json::from_slice::<Manifest>(&bytes)
                .map_err(|_| CompactionError::CorruptManifest(path.clone()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(&path, e)),
    };
    if let Some(manifest) = &manifest {
        if manifest.dataset != EVENTS_DIR && manifest.dataset != IDENTITY_DIR {
            return Err(CompactionError::CorruptManifest(path));
        }
        tracing::info!(partition = %manifest.partition, output = %manifest.output, "finishing an interrupted compaction");
        finish(dataset_dir, manifest)?;
    }
    for entry in fs::read_dir(&work).map_err(|e| io(&work, e))?.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".parquet") {
            fs::remove_file(entry.path()).map_err(|e| io(&entry.path(), e))?;
        }
    }
    let events_dir = dataset_dir.join(EVENTS_DIR);
    if read_epoch(&events_dir)? % 2 == 1 {
        set_epoch_odd(&events_dir, false)?;
    }
    Ok(())
}

/// The swap counter of `events_dir` (0 when there was never a swap).
fn read_epoch(events_dir: &Path) -> Result<u64, CompactionError> {
    let path = events_dir.join(COMPACTION_EPOCH_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim().parse().unwrap_or(0)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(io(&path, e)),
    }
}

/// Moves the counter to the next odd (swap starts) or even (swap done) number.
fn set_epoch_odd(events_dir: &Path, odd: bool) -> Result<(), CompactionError> {
    let epoch = read_epoch(events_dir)?;
    if (epoch % 2 == 1) == odd {
        return Ok(());
    }
    let path = events_dir.join(COMPACTION_EPOCH_FILE);
    write_atomically(&path, (epoch + 1).to_string().as_bytes()).map_err(|e| io(&path, e))
}

fn read_events(path: &Path) -> Result<Vec<Event>, CompactionError> {
    read_file(path).map_err(|e| match e {
        ReadFileError::Io(source) => io(path, source),
        ReadFileError::Unreadable(message) => CompactionError::Unreadable {
            path: path.to_path_buf(),
            message,
        },
    })
}

/// The order analyses read in: by project and event type first, so the pages of one event type
/// are contiguous and a query for a few event types (a funnel's steps) skips the others' pages
/// by their statistics; then by person and time, so each person's events of a type arrive
/// together and in order.
fn sort_for_analysis(events: &mut [&Event]) {
    events.sort_by(|a, b| {
        (
            &a.project,
            &a.event_type,
            a.person_id,
            a.event_time,
            a.server_received_time,
        )
            .cmp(&(
                &b.project,
                &b.event_type,
                b.person_id,
                b.event_time,
                b.server_received_time,
            ))
    });
}

/// A name no other output has: the time in microseconds (one compactor at a time, by the lock).
fn output_name() -> String {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    format!("compact-{micros:020}.parquet")
}

/// Runs [`compact`] every `interval` on its own thread until `stop` is set.
pub fn spawn_compactor(
    dataset_dir: PathBuf,
    options: CompactionOptions,
    interval: Duration,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("sluice-compactor".into())
        .spawn(move || {
            let mut next = std::time::Instant::now() + interval;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                if std::time::Instant::now() < next {
                    continue;
                }
                next = std::time::Instant::now() + interval;
                match compact(&dataset_dir, &options) {
                    Ok(report) if report.files_in > 0 => {
                        tracing::debug!(?report, "compaction round");
                    }
                    Ok(_) => {}
                    Err(error) => tracing::error!(%error, "compaction failed; retrying next round"),
                }
            }
        })
}

#[cfg(test)]
mod tests;
