//! Each sync's folder, `<data>/syncs/<name>/`:
//!
//! - `sync.json`: its [`SyncConfig`];
//! - `state.json`: the [`SyncState`] — which cohort computation the destination holds, and of a
//!   sync under way the batches already delivered;
//! - `synced-<run_ms>.jsonl`: who the destination holds after that computation's sync, one
//!   `[person_id, user_id, device_id]` per line (how the people who later leave are named);
//! - `log.jsonl`: the delivery log, one [`LogEntry`] per batch and per sync.
//!
//! A sync writes its new members file before the state that names it, so a crash between the two
//! leaves the state pointing at the old, whole file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SyncError;
use super::config::SyncConfig;
use crate::cohort::store::check_name;
use crate::durable_file::{append_line, read_lines, write_atomically};

/// The folder of a data directory that holds syncs.
pub const SYNCS_DIR: &str = "syncs";
const CONFIG_FILE: &str = "sync.json";
const STATE_FILE: &str = "state.json";
const LOG_FILE: &str = "log.jsonl";

/// A person's ids, as sent to destinations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonIds {
    /// The user id; none for a person never identified.
    pub user_id: Option<String>,
    /// One of the person's device ids (the greatest).
    pub device_id: Option<String>,
}

/// Where a sync stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncState {
    /// The cohort computation (its `computed_ms`) the destination holds: the last one synced
    /// completely. None before the first sync completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_run_ms: Option<i64>,
    /// A sync begun and not completed: the computation it goes to and the message ids of the
    /// batches already delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// When a sync last began (Unix ms); the schedule counts from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_ms: Option<i64>,
    /// No request to the destination before this (Unix ms): its rate-limit window was used up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_until_ms: Option<i64>,
}

/// A sync under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    /// The computation it goes to.
    pub run_ms: i64,
    /// The computation it goes from (the destination held it when the sync began).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_run_ms: Option<i64>,
    /// Batches delivered so far.
    pub delivered: BTreeSet<String>,
}

/// One line of a sync's delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LogEntry {
    /// One batch, after its last try.
    Batch {
        /// When it ended, Unix ms.
        at_ms: i64,
        /// The computation being synced.
        run_ms: i64,
        /// The batch's message id (`<sync>::<run_ms>::<enter|exit>::<index>`).
        message_id: String,
        /// Entering users (true) or leaving ones.
        in_cohort: bool,
        /// Users in the batch.
        users: usize,
        /// Users the destination cannot be told about (no id it matches by).
        #[serde(default, skip_serializing_if = "is_zero")]
        unmatched: usize,
        /// Tries made.
        attempts: u32,
        /// Delivered or not.
        delivered: bool,
        /// The last answer's HTTP status, for HTTP destinations.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// What the destination said: why it failed, or objects it rejected.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// One sync, when it ended.
    Sync {
        /// When it ended, Unix ms.
        at_ms: i64,
        /// The computation synced to.
        run_ms: i64,
        /// The computation the destination held before.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_run_ms: Option<i64>,
        /// Users entering, and leaving.
        entered: usize,
        /// Users leaving.
        exited: usize,
        /// Batches of the sync, and how many of them this try sent (the rest were delivered by
        /// an earlier try).
        batches: usize,
        /// Batches sent by this try.
        sent: usize,
        /// Completed (the destination holds `run_ms`), or failed (tried again next time).
        completed: bool,
        /// Why it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The syncs of one data directory.
#[derive(Debug, Clone)]
pub struct SyncStore {
    dir: PathBuf,
}

impl SyncStore {
    /// The store of `data_dir` (its `syncs/` folder is made when a sync is saved).
    pub fn new(data_dir: &Path) -> Self {
        SyncStore {
            dir: data_dir.join(SYNCS_DIR),
        }
    }

    fn folder(&self, name: &str) -> Result<PathBuf, SyncError> {
        check_name(name).map_err(|e| SyncError::Config(format!("sync name: {e}")))?;
        Ok(self.dir.join(name))
    }

    fn existing(&self, name: &str) -> Result<PathBuf, SyncError> {
        let folder = self.folder(name)?;
        if folder.join(CONFIG_FILE).is_file() {
            Ok(folder)
        } else {
            Err(SyncError::NotFound(name.to_owned()))
        }
    }

    /// Validates and saves `config` under its name. A changed destination or batch size starts
    /// over: the sync under way is dropped, and the next sync sends the whole cohort.
    pub fn save(&self, config: &SyncConfig) -> Result<(), SyncError> {
        let before = self.get(&config.name).ok();
        let mut config = config.clone();
        config.keep_stored_secrets(before.as_ref())?;
        let config = &config;
        config.validate()?;
        let folder = self.folder(&config.name)?;
        fs::create_dir_all(&folder).map_err(SyncError::io(&folder))?;
        let path = folder.join(CONFIG_FILE);
        let text = serde_json::to_vec_pretty(config).map_err(|e| corrupt(&path, e))?;
        write_atomically(&path, &text).map_err(SyncError::io(&path))?;
        let moved = before.is_some_and(|before| {
            before.destination != config.destination || before.cohort != config.cohort
        });
        if moved {
            self.write_state(&config.name, &SyncState::default())?;
        }
        Ok(())
    }

    /// The sync named `name`.
    pub fn get(&self, name: &str) -> Result<SyncConfig, SyncError> {
        let path = self.existing(name)?.join(CONFIG_FILE);
        let text = fs::read(&path).map_err(SyncError::io(&path))?;
        serde_json::from_slice(&text).map_err(|e| corrupt(&path, e))
    }

    /// Every sync's name, sorted.
    pub fn names(&self) -> Result<Vec<String>, SyncError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(SyncError::io(&self.dir)(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(SyncError::io(&self.dir))?;
            if entry.path().join(CONFIG_FILE).is_file()
                && let Some(name) = entry.file_name().to_str()
            {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Removes the sync `name`, its state and its log (the destination keeps what it holds).
    pub fn delete(&self, name: &str) -> Result<(), SyncError> {
        let folder = self.existing(name)?;
        fs::remove_dir_all(&folder).map_err(SyncError::io(&folder))
    }

    /// Where `name` stands (the default before its first sync).
    pub fn state(&self, name: &str) -> Result<SyncState, SyncError> {
        let path = self.existing(name)?.join(STATE_FILE);
        match fs::read(&path) {
            Ok(text) => serde_json::from_slice(&text).map_err(|e| corrupt(&path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SyncState::default()),
            Err(e) => Err(SyncError::io(&path)(e)),
        }
    }

    pub(crate) fn write_state(&self, name: &str, state: &SyncState) -> Result<(), SyncError> {
        let path = self.folder(name)?.join(STATE_FILE);
        let text = serde_json::to_vec(state).map_err(|e| corrupt(&path, e))?;
        write_atomically(&path, &text).map_err(SyncError::io(&path))
    }

    fn synced_path(&self, name: &str, run_ms: i64) -> Result<PathBuf, SyncError> {
        Ok(self.folder(name)?.join(format!("synced-{run_ms}.jsonl")))
    }

    /// Who the destination holds after the sync to computation `run_ms`.
    pub(crate) fn synced(
        &self,
        name: &str,
        run_ms: i64,
    ) -> Result<BTreeMap<u64, PersonIds>, SyncError> {
        let path = self.synced_path(name, run_ms)?;
        let text = fs::read_to_string(&path).map_err(SyncError::io(&path))?;
        let mut synced = BTreeMap::new();
        for line in text.lines().filter(|line| !line.is_empty()) {
            let (person, user_id, device_id): (u64, Option<String>, Option<String>) =
                serde_json::from_str(line).map_err(|e| corrupt(&path, e))?;
            synced.insert(person, PersonIds { user_id, device_id });
        }
        Ok(synced)
    }

    /// Records that the destination holds `members` (computation `run_ms`): writes them, then
    /// the state naming them, then removes the members files of earlier syncs.
    pub(crate) fn complete(
        &self,
        name: &str,
        run_ms: i64,
        members: &BTreeMap<u64, PersonIds>,
        last_attempt_ms: Option<i64>,
        pause_until_ms: Option<i64>,
    ) -> Result<(), SyncError> {
        let path = self.synced_path(name, run_ms)?;
        let mut text = Vec::new();
        for (person, ids) in members {
            serde_json::to_writer(&mut text, &(person, &ids.user_id, &ids.device_id))
                .map_err(|e| corrupt(&path, e))?;
            text.push(b'\n');
        }
        write_atomically(&path, &text).map_err(SyncError::io(&path))?;
        self.write_state(
            name,
            &SyncState {
                synced_run_ms: Some(run_ms),
                pending: None,
                last_attempt_ms,
                pause_until_ms,
            },
        )?;
        let keep = path.file_name().map(|n| n.to_owned());
        let folder = self.folder(name)?;
        for entry in fs::read_dir(&folder)
            .map_err(SyncError::io(&folder))?
            .flatten()
        {
            let file = entry.file_name();
            let old = file.to_str().is_some_and(|f| f.starts_with("synced-"));
            if old && Some(&file) != keep.as_ref() {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// Appends `entry` to `name`'s delivery log.
    pub(crate) fn log(&self, name: &str, entry: &LogEntry) -> Result<(), SyncError> {
        let path = self.folder(name)?.join(LOG_FILE);
        let line = serde_json::to_vec(entry).map_err(|e| corrupt(&path, e))?;
        append_line(&path, &line).map_err(SyncError::io(&path))
    }

    /// `name`'s delivery log, newest last; only the last `limit` entries when given.
    pub fn delivery_log(
        &self,
        name: &str,
        limit: Option<usize>,
    ) -> Result<Vec<LogEntry>, SyncError> {
        let path = self.existing(name)?.join(LOG_FILE);
        let mut entries: Vec<LogEntry> = read_lines(&path).map_err(SyncError::io(&path))?;
        if let Some(limit) = limit {
            entries.drain(..entries.len().saturating_sub(limit));
        }
        Ok(entries)
    }
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> SyncError {
    SyncError::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}
