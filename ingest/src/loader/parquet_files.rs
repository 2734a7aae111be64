//! Writing one batch of log records as Parquet files, one per event date, each atomically.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sluice_schema::layout::PARTITION_COLUMN;
use sluice_schema::{Event, StorageLayout, partition_date};

use super::LoaderConfig;
use crate::durable::sync_dir;
use crate::error::LoaderError;

/// The folder of the main dataset.
pub(crate) const EVENTS_DIR: &str = "events";
/// The folder of events the tracking plan rejected (same layout, replayable).
pub(crate) const QUARANTINE_DIR: &str = "quarantine";

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

/// Writes the events as `part-<stem>.parquet` in each date partition they touch — quarantined
/// events under `quarantine/`, the rest under `events/`; returns the number of files written.
pub(crate) fn write_batch(
    config: &LoaderConfig,
    stem: &str,
    events: Vec<Event>,
) -> Result<usize, LoaderError> {
    let mut by_place: BTreeMap<(&str, NaiveDate), Vec<Event>> = BTreeMap::new();
    for event in events {
        let dataset = if event.quarantined {
            QUARANTINE_DIR
        } else {
            EVENTS_DIR
        };
        by_place
            .entry((dataset, partition_date(event.event_time, config.time_zone)))
            .or_default()
            .push(event);
    }
    let files = by_place.len();
    for ((dataset, date), events) in by_place {
        let dir = dated_dir(&config.dataset_dir, dataset, date);
        write_file(
            &config.layout,
            &dir,
            &format!("part-{stem}.parquet"),
            &events,
        )?;
    }
    Ok(files)
}

/// Writes `events` as `dir/name` atomically: temp file, fsync, rename (replacing a file of that
/// name), fsync of the folder and its parent.
pub(crate) fn write_file(
    layout: &StorageLayout,
    dir: &Path,
    name: &str,
    events: &[Event],
) -> Result<(), LoaderError> {
    fs::create_dir_all(dir).map_err(|e| LoaderError::io(dir, e))?;
    let batch = layout.to_record_batch(events)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let file = File::create(&tmp).map_err(|e| LoaderError::io(&tmp, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .build();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props))?;
    writer.write(&batch)?;
    let file = writer.into_inner()?;
    file.sync_all().map_err(|e| LoaderError::io(&tmp, e))?;
    let path = dir.join(name);
    // Replaces a file of the same batch left by a run that crashed before committing.
    fs::rename(&tmp, &path).map_err(|e| LoaderError::io(&path, e))?;
    sync_dir(dir).map_err(|e| LoaderError::io(dir, e))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent).map_err(|e| LoaderError::io(parent, e))?;
    }
    Ok(())
}

/// Deletes temp files a crash left behind (they were never renamed, so hold nothing committed).
pub(crate) fn remove_temp_files(dataset_dir: &Path) -> Result<(), LoaderError> {
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
