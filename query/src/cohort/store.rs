//! Saved cohorts and their computations, under `<data>/cohorts/<name>/`:
//!
//! - `cohort.json`: the saved cohort — name, description, owner, the definition (a cohort spec
//!   without `as_of` and `limit`, which belong to one computation);
//! - `runs/<computed_ms>.roaring`: each computation's members, a compressed bitmap of person
//!   ids (`RoaringTreemap`, ids as `u64`);
//! - `history.jsonl`: one line per computation — when, on which day, the size, how many
//!   entered and how many exited since the one before.
//!
//! A computation writes its members file (temporary file, fsync, rename, fsync of the folder),
//! then appends its history line and fsyncs that. The history is what counts: a members file
//! without its line (a crash between the two) is ignored and overwritten by no one, since every
//! computation has its own millisecond name. So a crash never leaves a history line without its
//! members.

use std::fs::{self, File};
use std::io::BufReader;
use std::path::{Path, PathBuf};

use roaring::RoaringTreemap;
use serde::{Deserialize, Serialize};

use super::spec::CohortCondition;
use crate::durable_file::{append_line, read_lines, write_atomically};

/// The folder of a data directory that holds saved cohorts.
pub const COHORTS_DIR: &str = "cohorts";
const DEFINITION_FILE: &str = "cohort.json";
const HISTORY_FILE: &str = "history.jsonl";
const RUNS_DIR: &str = "runs";
/// Longest cohort name.
const MAX_NAME: usize = 64;
/// Held while a computation is recorded.
static RECORDING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A cohort saved by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedCohort {
    /// Its name: 1 to 64 of `a-z`, `0-9`, `-` and `_` (it names a folder and a URL part).
    pub name: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who looks after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Only events of this project count; all projects when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// IANA time zone of its days, "UTC" when absent.
    #[serde(default = "crate::spec::default_time_zone")]
    pub time_zone: String,
    /// Who belongs (the conditions of a cohort spec).
    pub definition: CohortCondition,
}

/// Checks that `name` can name a cohort (or a sync): 1 to 64 of `a-z`, `0-9`, `-` and `_`.
pub fn check_name(name: &str) -> Result<(), StoreError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(StoreError::InvalidName(name.to_owned()))
    }
}

/// The user ids of an uploaded list: one per line (a CSV of one column), blank lines and a
/// `user_id` / `id` header skipped, surrounding quotes and spaces trimmed, duplicates once.
pub fn ids_from_csv(text: &str) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    text.lines()
        .map(|line| line.trim().trim_matches('"').trim())
        .enumerate()
        .filter(|&(i, id)| !(id.is_empty() || i == 0 && matches!(id, "user_id" | "id")))
        .filter(|&(_, id)| seen.insert(id.to_owned()))
        .map(|(_, id)| id.to_owned())
        .collect()
}

/// One computation of a saved cohort.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CohortRun {
    /// When it was computed, Unix ms (also its members file's name).
    pub computed_ms: i64,
    /// The day it was computed on (`as_of`).
    pub as_of: String,
    /// Members.
    pub size: u64,
    /// Members who were not members in the computation before (all of them in the first).
    pub entered: u64,
    /// Members of the computation before who are members no more.
    pub exited: u64,
}

/// What can go wrong with saved cohorts.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The name cannot name a cohort.
    #[error("cohort name {0:?}: use 1 to {MAX_NAME} lower-case letters, digits, '-' and '_'")]
    InvalidName(String),
    /// No cohort has that name.
    #[error("no saved cohort is named {0:?}")]
    NotFound(String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A stored file is not what this version writes.
    #[error("{}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl StoreError {
    /// True when the caller asked for something wrong (a bad or unknown name), not a failure of
    /// the store.
    pub fn is_user_error(&self) -> bool {
        matches!(self, StoreError::InvalidName(_) | StoreError::NotFound(_))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The saved cohorts of one data directory.
#[derive(Debug, Clone)]
pub struct CohortStore {
    dir: PathBuf,
}

impl CohortStore {
    /// The store of `data_dir` (its `cohorts/` folder is made when a cohort is saved).
    pub fn new(data_dir: &Path) -> Self {
        CohortStore {
            dir: data_dir.join(COHORTS_DIR),
        }
    }

    fn folder(&self, name: &str) -> Result<PathBuf, StoreError> {
        check_name(name)?;
        Ok(self.dir.join(name))
    }

    /// Saves `cohort` under its name, replacing the definition saved before (its history stays:
    /// the next computation is compared with the last one).
    pub fn save(&self, cohort: &SavedCohort) -> Result<(), StoreError> {
        let folder = self.folder(&cohort.name)?;
        fs::create_dir_all(folder.join(RUNS_DIR)).map_err(io(&folder))?;
        let text = serde_json::to_vec_pretty(cohort).map_err(|e| StoreError::Corrupt {
            path: folder.clone(),
            reason: e.to_string(),
        })?;
        let path = folder.join(DEFINITION_FILE);
        write_atomically(&path, &text).map_err(io(&path))
    }

    /// The cohort saved as `name`.
    pub fn get(&self, name: &str) -> Result<SavedCohort, StoreError> {
        let path = self.folder(name)?.join(DEFINITION_FILE);
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(name.to_owned()));
            }
            Err(e) => return Err(io(&path)(e)),
        };
        serde_json::from_slice(&text).map_err(|e| StoreError::Corrupt {
            path,
            reason: e.to_string(),
        })
    }

    /// The names of every saved cohort, sorted.
    pub fn names(&self) -> Result<Vec<String>, StoreError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&self.dir)(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io(&self.dir))?;
            if entry.path().join(DEFINITION_FILE).is_file()
                && let Some(name) = entry.file_name().to_str()
            {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Removes the cohort `name`, its history and its members.
    pub fn delete(&self, name: &str) -> Result<(), StoreError> {
        let folder = self.folder(name)?;
        match fs::remove_dir_all(&folder) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::NotFound(name.to_owned()))
            }
            Err(e) => Err(io(&folder)(e)),
        }
    }

    /// Every computation of `name`, oldest first.
    pub fn history(&self, name: &str) -> Result<Vec<CohortRun>, StoreError> {
        let folder = self.folder(name)?;
        if !folder.join(DEFINITION_FILE).is_file() {
            return Err(StoreError::NotFound(name.to_owned()));
        }
        let path = folder.join(HISTORY_FILE);
        read_lines(&path).map_err(io(&path))
    }

    /// The members of the computation `run` of `name`.
    pub fn members(&self, name: &str, run: &CohortRun) -> Result<RoaringTreemap, StoreError> {
        let path = self.run_path(name, run.computed_ms)?;
        let file = File::open(&path).map_err(io(&path))?;
        RoaringTreemap::deserialize_from(BufReader::new(file)).map_err(|e| StoreError::Corrupt {
            path,
            reason: e.to_string(),
        })
    }

    /// The latest computation of `name` and its members, if it was ever computed.
    pub fn latest(&self, name: &str) -> Result<Option<(CohortRun, RoaringTreemap)>, StoreError> {
        match self.history(name)?.pop() {
            Some(run) => {
                let members = self.members(name, &run)?;
                Ok(Some((run, members)))
            }
            None => Ok(None),
        }
    }

    fn run_path(&self, name: &str, computed_ms: i64) -> Result<PathBuf, StoreError> {
        Ok(self
            .folder(name)?
            .join(RUNS_DIR)
            .join(format!("{computed_ms}.roaring")))
    }

    /// Records a computation of `name`: its members, compared with the latest one before.
    pub fn record(
        &self,
        name: &str,
        computed_ms: i64,
        as_of: &str,
        members: &RoaringTreemap,
    ) -> Result<CohortRun, StoreError> {
        // One computation is recorded at a time (the schedule and an API call may meet), so
        // each is compared with the one truly before it.
        let _recording = RECORDING.lock().unwrap_or_else(|e| e.into_inner());
        let previous = self.latest(name)?;
        if let Some((before, _)) = &previous
            && before.computed_ms >= computed_ms
        {
            return Err(StoreError::Corrupt {
                path: self.folder(name)?.join(HISTORY_FILE),
                reason: format!(
                    "a computation at {computed_ms} ms is not after the last one ({} ms)",
                    before.computed_ms
                ),
            });
        }
        let (entered, exited) = match &previous {
            Some((_, before)) => ((members - before).len(), (before - members).len()),
            None => (members.len(), 0),
        };
        let run = CohortRun {
            computed_ms,
            as_of: as_of.to_owned(),
            size: members.len(),
            entered,
            exited,
        };
        let path = self.run_path(name, computed_ms)?;
        let mut bytes = Vec::with_capacity(members.serialized_size());
        members.serialize_into(&mut bytes).map_err(io(&path))?;
        write_atomically(&path, &bytes).map_err(io(&path))?;
        let history = self.folder(name)?.join(HISTORY_FILE);
        let line = serde_json::to_vec(&run).map_err(|e| StoreError::Corrupt {
            path: history.clone(),
            reason: e.to_string(),
        })?;
        append_line(&history, &line).map_err(io(&history))?;
        Ok(run)
    }
}

#[cfg(test)]
mod tests;
