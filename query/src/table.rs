//! The events table: every Parquet file under `<data_dir>/events/event_date=YYYY-MM-DD/` (and the
//! quarantine table, the same under `<data_dir>/quarantine/`).
//!
//! Files are listed afresh for each query, so files the loader adds are seen at once. Temporary
//! and hidden files (`.part….parquet.tmp`) are skipped by extension and by a `[!.]*.parquet` glob.
//! The schema is the union of the file schemas (typed property columns come and go with the
//! tracking plan); a file lacking a column reads it as null. `event_date` is a `Utf8` partition
//! column, so date filters prune whole folders.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::context::SessionContext;
use sluice_schema::layout::{EVENTS_DIR, PARTITION_COLUMN};

use crate::error::{QueryError, Result};

/// Extension of event files.
const FILE_EXTENSION: &str = ".parquet";
/// Matches file names only: no hidden (dot) files.
const FILE_GLOB: &str = "[!.]*.parquet";

/// The events table of `data_dir`, or `None` when no event file exists yet.
pub(crate) async fn events_table(
    ctx: &SessionContext,
    data_dir: &Path,
) -> Result<Option<Arc<ListingTable>>> {
    dataset_table(ctx, data_dir, EVENTS_DIR).await
}

/// The table of one dataset folder (`events` or `quarantine`) of `data_dir`, or `None` when it
/// holds no file yet.
pub(crate) async fn dataset_table(
    ctx: &SessionContext,
    data_dir: &Path,
    folder: &str,
) -> Result<Option<Arc<ListingTable>>> {
    let dir = data_dir.join(folder);
    match tokio::fs::metadata(&dir).await {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(QueryError::io(dir, e)),
    }
    let dir = tokio::fs::canonicalize(&dir)
        .await
        .map_err(|e| QueryError::io(&dir, e))?;
    let Some(dir_text) = dir.to_str() else {
        return Err(QueryError::Internal(format!(
            "data directory {} is not valid UTF-8",
            dir.display()
        )));
    };
    let url = ListingTableUrl::parse(format!("{}/", dir_text.trim_end_matches('/')))?
        .with_glob(FILE_GLOB)?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(FILE_EXTENSION)
        .with_table_partition_cols(vec![(PARTITION_COLUMN.to_owned(), DataType::Utf8)]);
    if !has_files(&dir).await? {
        return Ok(None);
    }
    let state = ctx.state();
    let schema: SchemaRef = options.infer_schema(&state, &url).await?;
    if schema.fields().is_empty() {
        // Only empty files: nothing to read yet.
        return Ok(None);
    }
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Some(Arc::new(ListingTable::try_new(config)?)))
}

/// Whether `dir` or one of its sub-folders holds a non-empty event file (same rules as the glob).
async fn has_files(dir: &Path) -> Result<bool> {
    let mut folders = vec![dir.to_path_buf()];
    let mut depth_one = true;
    while !folders.is_empty() {
        let mut next = Vec::new();
        for folder in folders {
            let mut entries = tokio::fs::read_dir(&folder)
                .await
                .map_err(|e| QueryError::io(&folder, e))?;
            while let Some(entry) = entries
                .next_entry()
                .await
                .map_err(|e| QueryError::io(&folder, e))?
            {
                let meta = match entry.metadata().await {
                    Ok(meta) => meta,
                    // Deleted since the folder was read (a replay or compaction moved it).
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(QueryError::io(entry.path(), e)),
                };
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if meta.is_dir() && depth_one {
                    next.push(entry.path());
                } else if meta.is_file() && is_event_file(&name) && meta.len() > 0 {
                    return Ok(true);
                }
            }
        }
        folders = next;
        depth_one = false;
    }
    Ok(false)
}

/// The file-name rule the glob applies: `.parquet`, not hidden.
fn is_event_file(name: &str) -> bool {
    name.ends_with(FILE_EXTENSION) && !name.starts_with('.')
}
