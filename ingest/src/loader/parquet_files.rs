//! Writing one batch of log records as Parquet files, one per event date, each atomically.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::SchemaRef;
use sluice_schema::layout::identity::{IDENTITY_DIR, KIND_MERGE, KIND_USER, identity_schema};
use sluice_schema::layout::{EVENTS_DIR, PARTITION_COLUMN, QUARANTINE_DIR};
use sluice_schema::{Event, EventRow, StorageLayout, partition_date};

use super::LoaderConfig;
use super::state::Learnt;
use crate::durable::sync_dir;
use crate::error::LoaderError;

/// Where the events of `date` live.
#[cfg(test)]
pub(crate) fn partition_dir(dataset_dir: &Path, date: NaiveDate) -> PathBuf {
    dated_dir(dataset_dir, EVENTS_DIR, date)
}

fn dated_dir(dataset_dir: &Path, dataset: &str, date: NaiveDate) -> PathBuf {
    dataset_dir
        .join(dataset)
        .join(format!("{PARTITION_COLUMN}={}", date.format("%Y-%m-%d")))
}

/// The files of one batch being written: one per dataset and event date it touches, each a temp
/// file in the staging folder until [`BatchFiles::finish`] moves them into place. Events are
/// appended in slices, so a batch is never held whole as events, only as encoded columns.
pub(crate) struct BatchFiles<'c> {
    config: &'c LoaderConfig,
    name: &'c str,
    open: BTreeMap<(&'static str, NaiveDate), StagedFile>,
}

impl<'c> BatchFiles<'c> {
    /// Starts the files of batch `name` (nothing is created before the first event).
    pub(crate) fn new(config: &'c LoaderConfig, name: &'c str) -> Self {
        BatchFiles {
            config,
            name,
            open: BTreeMap::new(),
        }
    }

    /// Appends events to the files of their places: quarantined events under `quarantine/`, the
    /// rest under `events/`, by event date.
    pub(crate) fn append(&mut self, events: &[EventRow<'_>]) -> Result<(), LoaderError> {
        // Events are large: they are grouped by reference, never moved.
        let mut by_place: BTreeMap<(&'static str, NaiveDate), Vec<&EventRow<'_>>> = BTreeMap::new();
        for event in events {
            let dataset = if event.quarantined {
                QUARANTINE_DIR
            } else {
                EVENTS_DIR
            };
            let date = partition_date(event.event_time, self.config.time_zone);
            by_place.entry((dataset, date)).or_default().push(event);
        }
        for (place, events) in by_place {
            let file = match self.open.entry(place) {
                Entry::Occupied(file) => file.into_mut(),
                Entry::Vacant(slot) => {
                    let (dataset, date) = place;
                    let dir = dated_dir(&self.config.dataset_dir, dataset, date);
                    slot.insert(StagedFile::create(
                        self.config.layout.schema(),
                        &self.config.dataset_dir,
                        dir,
                        self.name,
                    )?)
                }
            };
            file.append_rows(&self.config.layout, &events)?;
        }
        Ok(())
    }

    /// Makes every file durable and moves it into place; returns the number of files.
    pub(crate) fn finish(self) -> Result<usize, LoaderError> {
        let files = self.open.len();
        for file in self.open.into_values() {
            file.commit()?;
        }
        Ok(files)
    }
}

/// Writes the events as file `name` in each date partition they touch — quarantined
/// events under `quarantine/`, the rest under `events/`; returns the number of files written.
#[cfg(test)]
pub(crate) fn write_batch(
    config: &LoaderConfig,
    name: &str,
    events: &[EventRow<'_>],
) -> Result<usize, LoaderError> {
    let mut files = BatchFiles::new(config, name);
    files.append(events)?;
    files.finish()
}

/// Folder (beside `events/` and `quarantine/`) where files are written before they are renamed
/// into place: queries list the dataset folders, so they never meet a file being written (a temp
/// file inside a partition can vanish between the listing and its `stat`, failing the query).
pub(crate) const STAGING_DIR: &str = ".staging";

/// Writes `events` as `dir/name` atomically: a temp file in `<dataset_dir>/.staging/`, fsync,
/// rename into `dir` (replacing a file of that name), fsync of `dir` and its parent. `dir` must
/// be inside `dataset_dir` (same file system, so the rename is atomic).
pub(crate) fn write_file(
    layout: &StorageLayout,
    dataset_dir: &Path,
    dir: &Path,
    name: &str,
    events: &[impl Borrow<Event>],
) -> Result<(), LoaderError> {
    let mut file = StagedFile::create(layout.schema(), dataset_dir, dir.to_owned(), name)?;
    file.append(layout, events)?;
    file.commit()
}

/// Writes what a batch taught about identities as `identity/<name>` (atomically, like the
/// batch's event files, so a replayed batch replaces it); writes nothing when it taught nothing.
pub(crate) fn write_identity_file(
    dataset_dir: &Path,
    name: &str,
    learnt: &[Learnt],
) -> Result<(), LoaderError> {
    if learnt.is_empty() {
        return Ok(());
    }
    let dir = dataset_dir.join(IDENTITY_DIR);
    let mut file = StagedFile::create(identity_schema(), dataset_dir, dir, name)?;
    file.writer.write(&identity_batch(learnt)?)?;
    file.commit()
}

/// Writes `batches` (of identity rows) as `dir/name`, atomically: the compactor's output of
/// several identity files.
pub(crate) fn write_identity_batches(
    dataset_dir: &Path,
    dir: &Path,
    name: &str,
    batches: &[RecordBatch],
) -> Result<(), LoaderError> {
    let mut file = StagedFile::create(identity_schema(), dataset_dir, dir.to_owned(), name)?;
    for batch in batches {
        file.writer.write(batch)?;
    }
    file.commit()
}

/// The rows of the identity dataset for `learnt`.
fn identity_batch(learnt: &[Learnt]) -> Result<RecordBatch, LoaderError> {
    let n = learnt.len();
    let mut kind = StringBuilder::with_capacity(n, n * 5);
    let mut project = StringBuilder::with_capacity(n, n * 8);
    let mut user_id = StringBuilder::with_capacity(n, n * 8);
    let mut person = Int64Builder::with_capacity(n);
    let mut merged_into = Int64Builder::with_capacity(n);
    let mut time = Int64Builder::with_capacity(n);
    for fact in learnt {
        match fact {
            Learnt::Merge {
                project: p,
                from,
                into,
                time: t,
            } => {
                kind.append_value(KIND_MERGE);
                project.append_value(p);
                user_id.append_null();
                person.append_value(*from);
                merged_into.append_value(*into);
                time.append_value(*t);
            }
            Learnt::User {
                project: p,
                user_id: u,
                person: id,
                time: t,
            } => {
                kind.append_value(KIND_USER);
                project.append_value(p);
                user_id.append_value(u);
                person.append_value(*id);
                merged_into.append_null();
                time.append_value(*t);
            }
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(kind.finish()),
        Arc::new(project.finish()),
        Arc::new(user_id.finish()),
        Arc::new(person.finish()),
        Arc::new(merged_into.finish()),
        Arc::new(time.finish()),
    ];
    Ok(RecordBatch::try_new(identity_schema(), columns)?)
}

/// Columns whose values are (nearly) all distinct: a dictionary would only cost the writer a hash
/// per value before it gives up on it.
const NO_DICTIONARY: &[&str] = &[
    "event_time",
    "client_event_time",
    "server_received_time",
    "insert_id",
    "event_id",
    "event_properties",
    "user_properties",
];

/// Integer columns stored as differences from the previous value, bit-packed
/// (`DELTA_BINARY_PACKED`): within a compacted file rows are sorted by event type, then person,
/// then time, so person ids grow by small steps and a day's times fit in far fewer bits than 64.
/// Decoding bit-packed differences is much cheaper than decompressing plain 8-byte values (or
/// looking up a dictionary): on the 10 M-event benchmark data, CPU time per query fell by 20 %
/// (funnel) to 35 % (DAU), and files are 5 % smaller (benches/README.md).
pub(super) const DELTA_PACKED: &[&str] = &[
    "event_time",
    "client_event_time",
    "server_received_time",
    "event_id",
    "person_id",
];

/// Most rows in one data page. Compacted files are sorted by event type, so a query for a few
/// event types reads only the pages holding them (the page index prunes the rest): smaller pages
/// waste fewer rows at each type's edges. On the 10 M-event benchmark data (benches/README.md),
/// 4 096 rather than the writer's default 20 000 halves the rows a 4-step funnel decodes (2.5 M
/// instead of 5.4 M) for 1 % more bytes; 1 024 makes whole-table scans (DAU, retention) slower.
const PAGE_ROWS: usize = 4_096;

/// How dataset files are encoded: zstd, dictionaries where values repeat, bit-packed differences
/// for times and ids ([`DELTA_PACKED`]), pages of at most [`PAGE_ROWS`] rows.
fn writer_properties() -> Result<WriterProperties, LoaderError> {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_data_page_row_count_limit(PAGE_ROWS);
    for column in NO_DICTIONARY {
        props = props.set_column_dictionary_enabled(ColumnPath::from(*column), false);
    }
    for column in DELTA_PACKED {
        props = props
            .set_column_dictionary_enabled(ColumnPath::from(*column), false)
            .set_column_encoding(ColumnPath::from(*column), Encoding::DELTA_BINARY_PACKED);
    }
    Ok(props.build())
}

/// A Parquet file being written in the staging folder, to be renamed to `dir/name`.
struct StagedFile {
    writer: ArrowWriter<File>,
    tmp: PathBuf,
    staging: PathBuf,
    dir: PathBuf,
    path: PathBuf,
}

impl StagedFile {
    fn create(
        schema: SchemaRef,
        dataset_dir: &Path,
        dir: PathBuf,
        name: &str,
    ) -> Result<Self, LoaderError> {
        fs::create_dir_all(&dir).map_err(|e| LoaderError::io(&dir, e))?;
        let staging = dataset_dir.join(STAGING_DIR);
        fs::create_dir_all(&staging).map_err(|e| LoaderError::io(&staging, e))?;
        let path = dir.join(name);
        let tmp = staging.join(staging_name(dataset_dir, &path));
        let file = File::create(&tmp).map_err(|e| LoaderError::io(&tmp, e))?;
        let writer = ArrowWriter::try_new(file, schema, Some(writer_properties()?))?;
        Ok(StagedFile {
            writer,
            tmp,
            staging,
            dir,
            path,
        })
    }

    fn append(
        &mut self,
        layout: &StorageLayout,
        events: &[impl Borrow<Event>],
    ) -> Result<(), LoaderError> {
        self.writer.write(&layout.to_record_batch(events)?)?;
        Ok(())
    }

    fn append_rows<'r>(
        &mut self,
        layout: &StorageLayout,
        rows: &[&EventRow<'r>],
    ) -> Result<(), LoaderError> {
        self.writer.write(&layout.rows_to_record_batch(rows)?)?;
        Ok(())
    }

    /// Finishes the file, fsyncs it, renames it into place (replacing a file of the same batch
    /// left by a run that crashed before committing) and fsyncs the folders.
    fn commit(self) -> Result<(), LoaderError> {
        let StagedFile {
            writer,
            tmp,
            staging,
            dir,
            path,
        } = self;
        let file = writer.into_inner()?;
        crate::durable::crash_point("loader-mid-file");
        file.sync_all().map_err(|e| LoaderError::io(&tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| LoaderError::io(&path, e))?;
        sync_dir(&dir).map_err(|e| LoaderError::io(&dir, e))?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent).map_err(|e| LoaderError::io(parent, e))?;
        }
        sync_dir(&staging).map_err(|e| LoaderError::io(&staging, e))?;
        Ok(())
    }
}

/// The temp name of `path`: its place in the dataset, flattened (`events~event_date=…~part-….tmp`),
/// so files of both datasets and of every partition never share a temp name.
fn staging_name(dataset_dir: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(dataset_dir).unwrap_or(path);
    let flat: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    format!("{}.tmp", flat.join("~"))
}

/// Deletes temp files a crash left behind (they were never renamed, so hold nothing committed):
/// the staging folder's, and those of older versions that wrote temp files inside partitions.
pub(crate) fn remove_temp_files(dataset_dir: &Path) -> Result<(), LoaderError> {
    let staging = dataset_dir.join(STAGING_DIR);
    if let Ok(entries) = fs::read_dir(&staging) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                fs::remove_file(&path).map_err(|e| LoaderError::io(&path, e))?;
            }
        }
    }
    for dataset in [EVENTS_DIR, QUARANTINE_DIR] {
        remove_temp_files_in(&dataset_dir.join(dataset))?;
    }
    Ok(())
}

fn remove_temp_files_in(dataset: &Path) -> Result<(), LoaderError> {
    let Ok(partitions) = fs::read_dir(dataset) else {
        return Ok(());
    };
    for partition in partitions.flatten() {
        let Ok(files) = fs::read_dir(partition.path()) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name();
            if name
                .to_str()
                .is_some_and(|n| n.starts_with('.') && n.ends_with(".tmp"))
            {
                fs::remove_file(file.path()).map_err(|e| LoaderError::io(&file.path(), e))?;
            }
        }
    }
    Ok(())
}

/// Why a dataset file could not be read back.
#[derive(Debug)]
pub(crate) enum ReadFileError {
    /// Opening the file failed.
    Io(std::io::Error),
    /// It is not a Parquet file of stored events.
    Unreadable(String),
}

/// Reads a dataset file back into events, as stored (properties stamped, plan issues recorded):
/// the inverse of [`write_file`], for quarantine replay and compaction.
pub(crate) fn read_file(path: &Path) -> Result<Vec<Event>, ReadFileError> {
    let file = File::open(path).map_err(ReadFileError::Io)?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| ReadFileError::Unreadable(e.to_string()))?;
    let mut events = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| ReadFileError::Unreadable(e.to_string()))?;
        events.extend(
            sluice_schema::layout::events_from_batch(&batch)
                .map_err(|e| ReadFileError::Unreadable(e.to_string()))?,
        );
    }
    Ok(events)
}
