//! One sync from end to end: the diff between what the destination holds and the cohort's
//! latest computation, its batches delivered in order (those an earlier try delivered skipped),
//! each recorded as it is delivered, and on success the new membership recorded as held.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use super::SyncError;
use super::config::{Destination, FileFormat, SyncConfig};
use super::deliver::{Attempt, Pacer};
use super::files::{Columns, Folder, table_bytes};
use super::http::{Braze, Webhook};
use super::kafka::Topic;
use super::plan::{Batch, Diff, batches};
use super::store::{LogEntry, Pending, PersonIds, SyncStore};
use crate::QueryEngine;
use crate::clock::{now_ms, unix_ms};
use crate::cohort::store::{CohortRun, SavedCohort};
use crate::durable_file::write_atomically;
use roaring::RoaringTreemap;

/// Syncs running in this process: one sync never runs twice at once.
static RUNNING: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// How a sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncOutcome {
    /// Every batch was delivered: the destination holds the computation.
    Completed,
    /// The destination already held the latest computation: nothing was sent.
    UpToDate,
    /// A batch was not delivered; the next try resumes with it.
    Failed,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// The sync.
    pub sync: String,
    /// Its cohort.
    pub cohort: String,
    /// The computation synced to (Unix ms).
    pub run_ms: i64,
    /// The computation the destination held before; none on the first sync.
    pub from_run_ms: Option<i64>,
    /// Persons entering.
    pub entered: usize,
    /// Persons leaving.
    pub exited: usize,
    /// Batches of the sync.
    pub batches: usize,
    /// Batches this try delivered (the others were delivered by an earlier try, or not at all).
    pub sent: usize,
    /// How it ended.
    pub outcome: SyncOutcome,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl SyncReport {
    /// The delivery log's line for this sync, now.
    fn log_entry(&self) -> LogEntry {
        LogEntry::Sync {
            at_ms: now_ms(),
            run_ms: self.run_ms,
            from_run_ms: self.from_run_ms,
            entered: self.entered,
            exited: self.exited,
            batches: self.batches,
            sent: self.sent,
            completed: self.outcome == SyncOutcome::Completed,
            detail: self.detail.clone(),
        }
    }
}

/// Marks `name` running until dropped.
struct Running(String);

impl Running {
    fn start(name: &str) -> Result<Running, SyncError> {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        if !running
            .get_or_insert_with(HashSet::new)
            .insert(name.to_owned())
        {
            return Err(SyncError::Busy(name.to_owned()));
        }
        Ok(Running(name.to_owned()))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = running.as_mut() {
            running.remove(&self.0);
        }
    }
}

/// Runs the sync `name`: sends its cohort's latest computation's changes.
pub async fn run(engine: &QueryEngine, name: &str) -> Result<SyncReport, SyncError> {
    run_at(engine, name, now_ms()).await
}

/// [`run`], recording `began_ms` as the time of the try (the schedule's clock).
async fn run_at(engine: &QueryEngine, name: &str, began_ms: i64) -> Result<SyncReport, SyncError> {
    let store = SyncStore::new(engine.data_dir());
    let config = store.get(name)?;
    config.validate()?;
    let _running = Running::start(name)?;
    let (cohort, run, members) = latest(engine, &config.cohort)?;
    let mut state = store.state(name)?;
    let held = match state.synced_run_ms {
        Some(held_ms) => store.synced(name, held_ms)?,
        None => BTreeMap::new(),
    };
    let diff = Diff::between(&held, &members);
    let mut report = SyncReport {
        sync: name.to_owned(),
        cohort: config.cohort.clone(),
        run_ms: run.computed_ms,
        from_run_ms: state.synced_run_ms,
        entered: diff.entered.len(),
        exited: diff.exited.len(),
        batches: 0,
        sent: 0,
        outcome: SyncOutcome::UpToDate,
        detail: None,
    };
    state.last_attempt_ms = Some(began_ms);
    if state.synced_run_ms == Some(run.computed_ms) {
        store.write_state(name, &state)?;
        return Ok(report);
    }
    let entering = engine
        .person_ids(cohort.project.as_deref(), &diff.entered)
        .await?;
    let planned = batches(
        name,
        run.computed_ms,
        &diff,
        &entering,
        &held,
        config.batch_size(),
    );
    report.batches = planned.len();
    // A sync tried again between the same two computations resumes; any other starts afresh.
    let mut pending = match state.pending.take() {
        Some(p) if p.run_ms == run.computed_ms && p.from_run_ms == state.synced_run_ms => p,
        _ => Pending {
            run_ms: run.computed_ms,
            from_run_ms: state.synced_run_ms,
            delivered: Default::default(),
        },
    };
    state.pending = Some(pending.clone());
    store.write_state(name, &state)?;

    let sender = match Sender::new(&config, run.computed_ms).await {
        Ok(sender) => sender,
        Err(e) => {
            // Visible in the delivery log, like a batch that failed.
            report.outcome = SyncOutcome::Failed;
            report.detail = Some(e.to_string());
            store.log(name, &report.log_entry())?;
            return Err(e);
        }
    };
    let mut pacer = Pacer::paused_until(
        state
            .pause_until_ms
            .map(|ms| UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
    );
    let unsent: Vec<&Batch> = planned
        .iter()
        .filter(|b| !pending.delivered.contains(&b.message_id))
        .collect();
    for batch in unsent {
        let outcome = pacer.deliver(&config.retry, || sender.send(batch)).await;
        store.log(
            name,
            &LogEntry::Batch {
                at_ms: now_ms(),
                run_ms: run.computed_ms,
                message_id: batch.message_id.clone(),
                in_cohort: batch.in_cohort,
                users: batch.changes.len(),
                unmatched: sender.unmatched(batch),
                attempts: outcome.attempts,
                delivered: outcome.delivered,
                status: outcome.status,
                detail: outcome.detail.clone(),
            },
        )?;
        if !outcome.delivered {
            report.outcome = SyncOutcome::Failed;
            report.detail = Some(format!(
                "batch {} not delivered: {}",
                batch.message_id,
                outcome.detail.unwrap_or_default()
            ));
            break;
        }
        report.sent += 1;
        pending.delivered.insert(batch.message_id.clone());
        state.pending = Some(pending.clone());
        state.pause_until_ms = pacer.pause().map(unix_ms);
        store.write_state(name, &state)?;
    }
    if report.outcome != SyncOutcome::Failed {
        let mut now_held = held;
        for person in &diff.exited {
            now_held.remove(person);
        }
        for person in &diff.entered {
            let ids = entering.get(person).cloned().unwrap_or_default();
            now_held.insert(*person, ids);
        }
        let pause = pacer.pause().map(unix_ms);
        store.complete(name, run.computed_ms, &now_held, Some(began_ms), pause)?;
        report.outcome = SyncOutcome::Completed;
    }
    store.log(name, &report.log_entry())?;
    Ok(report)
}

/// The saved cohort `name` and its latest computation with its members; a cohort never
/// computed has nothing to send or export.
fn latest(
    engine: &QueryEngine,
    name: &str,
) -> Result<(SavedCohort, CohortRun, RoaringTreemap), SyncError> {
    let store = engine.cohorts();
    let cohort = store.get(name)?;
    let (run, members) = store
        .latest(name)?
        .ok_or_else(|| SyncError::NeverComputed(name.to_owned()))?;
    Ok((cohort, run, members))
}

/// The latest computation of the saved cohort `name` as a `format` file's bytes: every
/// member's person id, user id and device id, by person id; and how many members.
pub async fn export_bytes(
    engine: &QueryEngine,
    name: &str,
    format: FileFormat,
) -> Result<(usize, Vec<u8>), SyncError> {
    let (cohort, _, members) = latest(engine, name)?;
    let persons: Vec<u64> = members.iter().collect();
    let ids = engine
        .person_ids(cohort.project.as_deref(), &persons)
        .await?;
    let none = PersonIds::default();
    let rows: Vec<(i64, &PersonIds)> = persons
        .iter()
        .map(|p| (*p as i64, ids.get(p).unwrap_or(&none)))
        .collect();
    let bytes = table_bytes(format, &Columns::Members { persons: rows })
        .map_err(|e| SyncError::from(crate::QueryError::Internal(format!("export: {e}"))))?;
    Ok((persons.len(), bytes))
}

/// [`export_bytes`] written to `path` (replaced whole). Returns how many members.
pub async fn export(
    engine: &QueryEngine,
    name: &str,
    path: &Path,
    format: FileFormat,
) -> Result<usize, SyncError> {
    let (members, bytes) = export_bytes(engine, name, format).await?;
    write_atomically(path, &bytes).map_err(SyncError::io(path))?;
    Ok(members)
}

/// A destination, ready to send one sync's batches.
#[derive(Debug)]
enum Sender {
    Braze(Braze),
    Webhook(Webhook),
    Folder(Folder),
    Topic(Topic),
}

impl Sender {
    async fn new(config: &SyncConfig, run_ms: i64) -> Result<Sender, SyncError> {
        let timeout = Duration::from_millis(config.retry.timeout_ms);
        let client = || {
            reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .map_err(|e| SyncError::Config(format!("HTTP client: {e}")))
        };
        Ok(match &config.destination {
            Destination::Braze {
                url,
                api_key,
                attribute,
                match_by,
                ..
            } => Sender::Braze(Braze {
                client: client()?,
                url: format!("{}/users/track", url.trim_end_matches('/')),
                api_key: api_key.reveal()?,
                attribute: attribute
                    .clone()
                    .unwrap_or_else(|| format!("sluice_cohort_{}", config.cohort)),
                match_by: *match_by,
            }),
            Destination::Webhook {
                url,
                secret,
                headers,
                ..
            } => {
                let mut extra = HeaderMap::new();
                for (name, value) in headers {
                    let (Ok(name), Ok(value)) = (
                        HeaderName::from_bytes(name.as_bytes()),
                        HeaderValue::from_str(value),
                    ) else {
                        return Err(SyncError::Config(format!("header {name:?} is not valid")));
                    };
                    extra.insert(name, value);
                }
                Sender::Webhook(Webhook {
                    client: client()?,
                    url: url.clone(),
                    secret: secret.as_ref().map(|s| s.reveal()).transpose()?,
                    headers: extra,
                    cohort: config.cohort.clone(),
                    run_ms,
                })
            }
            Destination::File { dir, format, .. } => Sender::Folder(Folder {
                dir: dir.clone(),
                format: *format,
                sync: config.name.clone(),
                run_ms,
            }),
            Destination::Kafka {
                brokers,
                topic,
                partitions,
                replication,
                ..
            } => Sender::Topic(
                Topic::new(
                    brokers,
                    topic,
                    (partitions.unwrap_or(1), replication.unwrap_or(1)),
                    &config.cohort,
                    &config.name,
                    run_ms,
                    timeout,
                )
                .await?,
            ),
        })
    }

    async fn send(&self, batch: &Batch) -> Attempt {
        match self {
            Sender::Braze(braze) => braze.send(batch).await,
            Sender::Webhook(webhook) => webhook.send(batch).await,
            Sender::Folder(folder) => folder.send(batch),
            Sender::Topic(topic) => topic.send(batch).await,
        }
    }

    fn unmatched(&self, batch: &Batch) -> usize {
        match self {
            Sender::Braze(braze) => braze.unmatched(batch),
            _ => 0,
        }
    }
}

/// The syncs due at `now_ms`: scheduled ones whose last try began at least their period ago.
pub fn due(store: &SyncStore, now_ms: i64) -> Result<Vec<SyncConfig>, SyncError> {
    let mut due = Vec::new();
    for name in store.names()? {
        let config = store.get(&name)?;
        let Some(every) = config.every_secs else {
            continue;
        };
        let last = store.state(&name)?.last_attempt_ms;
        let period_ms = i64::try_from(every.saturating_mul(1_000)).unwrap_or(i64::MAX);
        if last.is_none_or(|last| now_ms.saturating_sub(last) >= period_ms) {
            due.push(config);
        }
    }
    Ok(due)
}

/// Runs every sync due at `now_ms` (see [`due`]): computes its cohort afresh, then syncs it.
/// Each sync's try is recorded before it starts, so one that fails waits its period like one
/// that succeeds. Returns each sync's name and how it went.
pub async fn run_due(
    engine: &QueryEngine,
    now_ms: i64,
) -> Result<Vec<(String, Result<SyncReport, SyncError>)>, SyncError> {
    let store = SyncStore::new(engine.data_dir());
    let mut ran = Vec::new();
    for config in due(&store, now_ms)? {
        let mut state = store.state(&config.name)?;
        state.last_attempt_ms = Some(now_ms);
        store.write_state(&config.name, &state)?;
        let outcome = match engine.compute_cohort(&config.cohort, None, Some(0)).await {
            Ok(_) => run_at(engine, &config.name, now_ms).await,
            Err(e) => Err(e.into()),
        };
        ran.push((config.name, outcome));
    }
    Ok(ran)
}
