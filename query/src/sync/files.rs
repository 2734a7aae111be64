//! Membership as files: a sync's batches (`user_id`, `device_id`, `in_cohort`), and a whole
//! computation's members (`person_id`, `user_id`, `device_id`, for `sluice cohort export`), as
//! CSV or Parquet. Files are written under a temporary name and renamed, so a file seen is
//! whole, and a batch tried again replaces its file instead of adding one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;

use super::SyncError;
use super::config::FileFormat;
use super::deliver::Attempt;
use super::plan::Batch;
use super::store::PersonIds;
use crate::csv::field;
use crate::durable_file::write_atomically;

/// A folder receiving a sync's batches as files `<sync>-<run_ms>-<enter|exit>-<index>.<ext>`.
#[derive(Debug)]
pub(crate) struct Folder {
    pub(crate) dir: PathBuf,
    pub(crate) format: FileFormat,
    pub(crate) sync: String,
    pub(crate) run_ms: i64,
}

impl Folder {
    /// The file of `batch`.
    pub(crate) fn path(&self, batch: &Batch) -> PathBuf {
        let side = if batch.in_cohort { "enter" } else { "exit" };
        self.dir.join(format!(
            "{}-{}-{side}-{}.{}",
            self.sync,
            self.run_ms,
            batch.index,
            self.format.extension()
        ))
    }

    pub(crate) fn send(&self, batch: &Batch) -> Attempt {
        let path = self.path(batch);
        let written = std::fs::create_dir_all(&self.dir)
            .map_err(SyncError::io(&self.dir))
            .and_then(|()| {
                let ids: Vec<&PersonIds> = batch.changes.iter().map(|c| &c.ids).collect();
                let in_cohort = vec![batch.in_cohort; ids.len()];
                write_table(&path, self.format, &Columns::Changes { ids, in_cohort })
            });
        match written {
            Ok(()) => Attempt::Delivered {
                status: None,
                detail: Some(path.display().to_string()),
                pause_until: None,
            },
            Err(e) => Attempt::Retry {
                status: None,
                reason: e.to_string(),
                not_before: None,
            },
        }
    }
}

/// What a file holds.
pub(crate) enum Columns<'a> {
    /// A sync's batch: `user_id`, `device_id`, `in_cohort`.
    Changes {
        ids: Vec<&'a PersonIds>,
        in_cohort: Vec<bool>,
    },
    /// A computation's members: `person_id`, `user_id`, `device_id`.
    Members { persons: Vec<(i64, &'a PersonIds)> },
}

impl Columns<'_> {
    fn arrays(&self) -> Vec<(&'static str, ArrayRef)> {
        let text = |ids: &mut dyn Iterator<Item = Option<&str>>| -> ArrayRef {
            Arc::new(ids.collect::<StringArray>())
        };
        match self {
            Columns::Changes { ids, in_cohort } => vec![
                (
                    "user_id",
                    text(&mut ids.iter().map(|i| i.user_id.as_deref())),
                ),
                (
                    "device_id",
                    text(&mut ids.iter().map(|i| i.device_id.as_deref())),
                ),
                ("in_cohort", Arc::new(BooleanArray::from(in_cohort.clone()))),
            ],
            Columns::Members { persons } => vec![
                (
                    "person_id",
                    Arc::new(persons.iter().map(|(p, _)| *p).collect::<Int64Array>()),
                ),
                (
                    "user_id",
                    text(&mut persons.iter().map(|(_, i)| i.user_id.as_deref())),
                ),
                (
                    "device_id",
                    text(&mut persons.iter().map(|(_, i)| i.device_id.as_deref())),
                ),
            ],
        }
    }

    fn csv(&self) -> String {
        let mut out = String::new();
        let optional = |text: &Option<String>| text.as_deref().map(field).unwrap_or_default();
        match self {
            Columns::Changes { ids, in_cohort } => {
                out.push_str("user_id,device_id,in_cohort\n");
                for (ids, in_cohort) in ids.iter().zip(in_cohort) {
                    let line = format!(
                        "{},{},{in_cohort}\n",
                        optional(&ids.user_id),
                        optional(&ids.device_id)
                    );
                    out.push_str(&line);
                }
            }
            Columns::Members { persons } => {
                out.push_str("person_id,user_id,device_id\n");
                for (person, ids) in persons {
                    let line = format!(
                        "{person},{},{}\n",
                        optional(&ids.user_id),
                        optional(&ids.device_id)
                    );
                    out.push_str(&line);
                }
            }
        }
        out
    }
}

/// `columns` encoded as `format`; an encoding failure is a bug of ours (its message).
pub(crate) fn table_bytes(format: FileFormat, columns: &Columns<'_>) -> Result<Vec<u8>, String> {
    match format {
        FileFormat::Csv => Ok(columns.csv().into_bytes()),
        FileFormat::Parquet => {
            let batch = RecordBatch::try_from_iter(columns.arrays()).map_err(|e| e.to_string())?;
            let mut bytes = Vec::new();
            let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), None)
                .map_err(|e| e.to_string())?;
            writer.write(&batch).map_err(|e| e.to_string())?;
            writer.close().map_err(|e| e.to_string())?;
            Ok(bytes)
        }
    }
}

/// Writes `columns` to `path` as `format`, atomically.
pub(crate) fn write_table(
    path: &Path,
    format: FileFormat,
    columns: &Columns<'_>,
) -> Result<(), SyncError> {
    let bytes = table_bytes(format, columns).map_err(|reason| SyncError::Corrupt {
        path: path.to_owned(),
        reason,
    })?;
    write_atomically(path, &bytes).map_err(SyncError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting_and_leaves_missing_ids_empty() {
        let a = PersonIds {
            user_id: Some("u,1".to_owned()),
            device_id: None,
        };
        let b = PersonIds {
            user_id: None,
            device_id: Some("d2".to_owned()),
        };
        let changes = Columns::Changes {
            ids: vec![&a, &b],
            in_cohort: vec![true, true],
        };
        assert_eq!(
            changes.csv(),
            "user_id,device_id,in_cohort\n\"u,1\",,true\n,d2,true\n"
        );
        let members = Columns::Members {
            persons: vec![(7, &a)],
        };
        assert_eq!(members.csv(), "person_id,user_id,device_id\n7,\"u,1\",\n");
    }
}
