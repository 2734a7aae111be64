//! `replay`: moving quarantined events the plan now accepts into the main dataset.

use std::collections::BTreeMap;
use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sluice_schema::{Event, StorageLayout, TrackingPlan};

use super::{QuarantineError, events_dir, quarantine_dir};
use crate::durable::{sync_dir, write_atomically};
use crate::loader::parquet_files::{ReadFileError, read_file, write_file};

/// Name of the lock file that keeps replays one at a time.
const LOCK_FILE: &str = ".replay.lock";
/// Name of the intent file of the move in progress.
const INTENT_FILE: &str = ".replay-intent.json";
/// Prefix of files holding events that stayed quarantined through a replay.
const KEPT_PREFIX: &str = "kept-";
/// Prefix of main-dataset files written by a replay.
const REPLAY_PREFIX: &str = "replay-";

/// What a replay checks against and whether it changes anything.
#[derive(Debug, Clone, Copy)]
pub struct ReplayOptions<'a> {
    /// The (fixed) tracking plan quarantined events are checked against.
    pub plan: &'a TrackingPlan,
    /// Only count what would move; change no file.
    pub dry_run: bool,
}

/// What a replay did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// Quarantine files read.
    pub files_examined: usize,
    /// Quarantine files replaced by a replayed file (and a kept file, if some events stayed).
    pub files_moved: usize,
    /// Events moved to the main dataset.
    pub events_replayed: u64,
    /// Events still rejected by the plan.
    pub events_still_quarantined: u64,
    /// Why the remaining events are still quarantined: each issue with its event count.
    pub remaining_issues: BTreeMap<String, u64>,
    /// What happened to a move an earlier replay left unfinished: `finished` or `undone`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<&'static str>,
}

/// A move in progress: the quarantine file and the files replacing it (paths relative to the
/// dataset folder).
#[derive(Debug, Serialize, Deserialize)]
struct Intent {
    source: PathBuf,
    outputs: Vec<PathBuf>,
}

/// Re-checks every quarantined event of `dataset_dir` against `options.plan` and moves those it
/// accepts into the main dataset (see the module documentation for the crash safety).
pub fn replay(
    dataset_dir: &Path,
    options: ReplayOptions<'_>,
) -> Result<ReplayReport, QuarantineError> {
    let mut report = ReplayReport::default();
    let quarantine = quarantine_dir(dataset_dir);
    if !quarantine.is_dir() {
        return Ok(report);
    }
    let _lock = lock(&quarantine)?;
    if !options.dry_run {
        report.recovered = recover(dataset_dir)?;
    }
    let layout = StorageLayout::from_plan(options.plan);
    let run = run_id();
    for (partition, name) in quarantine_files(&quarantine)? {
        let source = quarantine.join(&partition).join(&name);
        let (accepted, rejected) = recheck(read_events(&source)?, options.plan);
        report.files_examined += 1;
        report.events_replayed += accepted.len() as u64;
        report.events_still_quarantined += rejected.len() as u64;
        for event in &rejected {
            for issue in &event.taxonomy_issues {
                *report.remaining_issues.entry(issue.clone()).or_default() += 1;
            }
        }
        if accepted.is_empty() || options.dry_run {
            continue;
        }
        let original = original_name(&name);
        let mut outputs = vec![(
            events_dir(dataset_dir).join(&partition),
            format!("{REPLAY_PREFIX}{run}-{original}"),
            accepted,
        )];
        if !rejected.is_empty() {
            outputs.push((
                quarantine.join(&partition),
                format!("{KEPT_PREFIX}{run}-{original}"),
                rejected,
            ));
        }
        move_file(dataset_dir, &layout, &source, outputs)?;
        report.files_moved += 1;
    }
    Ok(report)
}

/// Holds the replay lock until dropped.
fn lock(quarantine: &Path) -> Result<File, QuarantineError> {
    let path = quarantine.join(LOCK_FILE);
    let file = File::create(&path).map_err(|e| QuarantineError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(QuarantineError::Busy(quarantine.to_path_buf())),
        Err(TryLockError::Error(e)) => Err(QuarantineError::io(&path, e)),
    }
}

/// A name unique to this run (replays are serialised by the lock, and take more than 1 ms).
fn run_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("r{millis}")
}

/// The loader's name of a file, without the `kept-<run>-` prefixes earlier replays added.
pub(super) fn original_name(name: &str) -> &str {
    let mut name = name;
    while let Some(rest) = name.strip_prefix(KEPT_PREFIX) {
        match rest.split_once('-') {
            Some((_, tail)) => name = tail,
            None => break,
        }
    }
    name
}

/// Every quarantine file as `(partition folder, file name)`, in name order.
fn quarantine_files(quarantine: &Path) -> Result<Vec<(String, String)>, QuarantineError> {
    let mut files = Vec::new();
    for partition in fs::read_dir(quarantine).map_err(|e| QuarantineError::io(quarantine, e))? {
        let partition = partition.map_err(|e| QuarantineError::io(quarantine, e))?;
        let partition_name = partition.file_name().to_string_lossy().into_owned();
        if !partition.path().is_dir() || partition_name.starts_with('.') {
            continue;
        }
        let dir = partition.path();
        for file in fs::read_dir(&dir).map_err(|e| QuarantineError::io(&dir, e))? {
            let file = file.map_err(|e| QuarantineError::io(&dir, e))?;
            let name = file.file_name().to_string_lossy().into_owned();
            if name.ends_with(".parquet") && !name.starts_with('.') {
                files.push((partition_name.clone(), name));
            }
        }
    }
    files.sort();
    Ok(files)
}

pub(super) fn read_events(path: &Path) -> Result<Vec<Event>, QuarantineError> {
    read_file(path).map_err(|e| match e {
        ReadFileError::Io(source) => QuarantineError::io(path, source),
        ReadFileError::Unreadable(message) => QuarantineError::Unreadable {
            path: path.to_path_buf(),
            message,
        },
    })
}

/// Splits events into those the plan accepts and those it still rejects; both carry the plan's
/// current issues.
fn recheck(events: Vec<Event>, plan: &TrackingPlan) -> (Vec<Event>, Vec<Event>) {
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    for mut event in events {
        let verdict = plan.check(&event);
        event.taxonomy_issues = verdict.issues;
        event.quarantined = verdict.rejected;
        if verdict.rejected {
            rejected.push(event);
        } else {
            accepted.push(event);
        }
    }
    (accepted, rejected)
}

/// Replaces `source` by `outputs` (folder, file name, events), crash-safely through an intent.
fn move_file(
    dataset_dir: &Path,
    layout: &StorageLayout,
    source: &Path,
    outputs: Vec<(PathBuf, String, Vec<Event>)>,
) -> Result<(), QuarantineError> {
    let relative = |path: &Path| path.strip_prefix(dataset_dir).unwrap_or(path).to_path_buf();
    let intent = Intent {
        source: relative(source),
        outputs: outputs
            .iter()
            .map(|(dir, name, _)| relative(&dir.join(name)))
            .collect(),
    };
    let intent_path = quarantine_dir(dataset_dir).join(INTENT_FILE);
    let bytes = serde_json::to_vec(&intent).expect("an intent always serialises");
    write_atomically(&intent_path, &bytes).map_err(|e| QuarantineError::io(&intent_path, e))?;
    for (dir, name, events) in outputs {
        write_file(layout, dataset_dir, &dir, &name, &events).map_err(|source| {
            QuarantineError::Write {
                path: dir.join(&name),
                source,
            }
        })?;
    }
    remove_durably(source)?;
    remove_durably(&intent_path)
}

/// Deletes a file and makes the deletion durable; a file already gone is fine.
fn remove_durably(path: &Path) -> Result<(), QuarantineError> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(QuarantineError::io(path, e)),
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    sync_dir(dir).map_err(|e| QuarantineError::io(dir, e))
}

/// Finishes or undoes the move an interrupted replay left behind, if any.
fn recover(dataset_dir: &Path) -> Result<Option<&'static str>, QuarantineError> {
    let intent_path = quarantine_dir(dataset_dir).join(INTENT_FILE);
    let bytes = match fs::read(&intent_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(QuarantineError::io(&intent_path, e)),
    };
    let intent: Intent = serde_json::from_slice(&bytes)
        .map_err(|_| QuarantineError::CorruptIntent(intent_path.clone()))?;
    let outputs: Vec<PathBuf> = intent.outputs.iter().map(|p| dataset_dir.join(p)).collect();
    // Outputs appear atomically, so each one present is whole.
    let outcome = if outputs.iter().all(|p| p.exists()) {
        remove_durably(&dataset_dir.join(&intent.source))?;
        "finished"
    } else {
        for output in &outputs {
            remove_durably(output)?;
        }
        "undone"
    };
    remove_durably(&intent_path)?;
    Ok(Some(outcome))
}
