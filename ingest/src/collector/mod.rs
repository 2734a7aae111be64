//! The collector: Amplitude-compatible upload endpoints in front of the event log.
//!
//! [`Collector::accept`] is the one path every event takes — HTTP uploads and the demo generator
//! alike: look up the project by API key, validate and normalise every event, and append the whole
//! request to the log. Requests are all-or-nothing, as Amplitude's SDKs expect: if any event is
//! invalid nothing is stored and the 400 lists the offending indexes so the SDK can resend the rest.
//! A 200 is sent only after the log has made the events durable.

mod body;
pub mod currents;
mod http;
mod identify;
mod response;
mod throttle;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use sluice_schema::TrackingPlan;
use sluice_schema::amplitude::{self, IngestContext, ProblemKind, UploadRequest};

use crate::log::{Copies, EventLog, LogRecord};
use crate::metrics::{IngestMetrics, Outcome};

pub use http::{BATCH_MAX_BYTES, HTTPAPI_MAX_BYTES, router};
pub use identify::{IdentifyKind, parse_identify};
pub use response::{Accepted, Rejection};
pub use throttle::{EventIds, Throttle, ThrottleConfig, Throttled};

/// Most events in one request (Amplitude's limit; larger requests get 413 and SDKs split them).
pub const MAX_EVENTS_PER_REQUEST: usize = 2000;

/// Limits a collector enforces.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorConfig {
    /// Most events in one request; more gets 413 (SDKs halve the batch and retry).
    pub max_events_per_request: usize,
    /// Per-device / per-user rate limit (429); `None` admits everything.
    pub throttle: Option<ThrottleConfig>,
    /// The tracking plan events of its project are checked against: problems are flagged on the
    /// event or, where the policy says reject, the event is marked for quarantine.
    pub tracking_plan: Option<Arc<TrackingPlan>>,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            max_events_per_request: MAX_EVENTS_PER_REQUEST,
            throttle: None,
            tracking_plan: None,
        }
    }
}

/// Which project each API key belongs to.
#[derive(Debug, Clone, Default)]
pub struct Projects {
    by_key: HashMap<String, String>,
}

impl Projects {
    /// Projects from `(api key, project name)` pairs.
    pub fn new(keys: impl IntoIterator<Item = (String, String)>) -> Self {
        Projects {
            by_key: keys.into_iter().collect(),
        }
    }

    /// The project of an API key.
    pub fn project_for(&self, api_key: &str) -> Option<&str> {
        self.by_key.get(api_key).map(String::as_str)
    }
}

/// Facts about an upload that are not in its body.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// When the request arrived (ms since epoch).
    pub received_ms: i64,
    /// The client's IP address.
    pub remote_ip: Option<String>,
    /// Size of the (decompressed) body, reported back as `payload_size_bytes`.
    pub payload_size: usize,
}

/// Validates uploads and appends them to the event log.
pub struct Collector {
    log: Arc<dyn EventLog>,
    projects: Projects,
    max_events_per_request: usize,
    throttle: Option<Throttle>,
    tracking_plan: Option<Arc<TrackingPlan>>,
    metrics: Arc<IngestMetrics>,
}

impl Collector {
    /// A collector appending to `log`, accepting the keys of `projects`, with default limits.
    pub fn new(log: Arc<dyn EventLog>, projects: Projects) -> Self {
        Self::with_config(
            log,
            projects,
            CollectorConfig::default(),
            Arc::new(IngestMetrics::new()),
        )
    }

    /// A collector with explicit limits, counting into `metrics`.
    pub fn with_config(
        log: Arc<dyn EventLog>,
        projects: Projects,
        config: CollectorConfig,
        metrics: Arc<IngestMetrics>,
    ) -> Self {
        Collector {
            log,
            projects,
            max_events_per_request: config.max_events_per_request,
            throttle: config.throttle.map(Throttle::new),
            tracking_plan: config.tracking_plan,
            metrics,
        }
    }

    /// The metrics this collector counts into.
    pub fn metrics(&self) -> &Arc<IngestMetrics> {
        &self.metrics
    }

    /// The project of `api_key`, if it is one of this collector's keys.
    pub fn project_for(&self, api_key: &str) -> Option<&str> {
        self.projects.project_for(api_key)
    }

    /// The event log behind this collector.
    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// Parses an upload body and accepts it.
    pub async fn upload(&self, body: &[u8], meta: RequestMeta) -> Result<Accepted, Rejection> {
        let upload = amplitude::parse_upload(body).map_err(Rejection::from)?;
        self.accept(upload, meta).await
    }

    /// Accepts a parsed upload: validates every event and appends them durably, or rejects it whole.
    pub async fn accept(
        &self,
        upload: UploadRequest,
        meta: RequestMeta,
    ) -> Result<Accepted, Rejection> {
        let events = upload.events.len();
        let result = self.accept_counted(upload, meta).await;
        let outcome = match &result {
            Ok(_) => Outcome::Accepted,
            Err(Rejection::Throttled(_)) => Outcome::Throttled,
            Err(Rejection::PayloadTooLarge) => Outcome::TooLarge,
            Err(_) => Outcome::Rejected,
        };
        self.metrics.count_events(outcome, events);
        result
    }

    async fn accept_counted(
        &self,
        upload: UploadRequest,
        meta: RequestMeta,
    ) -> Result<Accepted, Rejection> {
        let project = self
            .projects
            .project_for(&upload.api_key)
            .ok_or_else(|| Rejection::InvalidApiKey(upload.api_key.clone()))?;
        if upload.events.len() > self.max_events_per_request {
            return Err(Rejection::PayloadTooLarge);
        }
        let ctx = IngestContext {
            project,
            received_ms: meta.received_ms,
            client_upload_time: upload.client_upload_time,
            remote_ip: meta.remote_ip.as_deref(),
            min_id_length: upload.min_id_length,
        };
        let mut records = Vec::with_capacity(upload.events.len());
        // The user id of each event, kept only for the throttle (its device id is the record key).
        let mut user_ids: Vec<Option<String>> = Vec::new();
        let mut problems = InvalidEvents::default();
        for (index, raw) in upload.events.into_iter().enumerate() {
            match amplitude::normalize_event(raw, &ctx) {
                // Serialised as soon as it is checked and dropped at once: a request never holds
                // all its `Event`s (cheaper for the allocator than one large block of them).
                Ok(mut event) if problems.is_empty() => {
                    self.check_against_plan(&mut event);
                    if self.throttle.is_some() {
                        user_ids.push(event.user_id.clone());
                    }
                    records.push(log_record(&event));
                }
                // The request is refused anyway; only the remaining problems matter.
                Ok(_) => {}
                Err(found) => problems.add(index, &found),
            }
        }
        if !problems.is_empty() {
            return Err(Rejection::InvalidEvents(problems));
        }
        if let Some(throttle) = &self.throttle {
            let ids: Vec<EventIds<'_>> = records
                .iter()
                .zip(&user_ids)
                .map(|(record, user_id)| EventIds {
                    device_id: &record.key,
                    user_id: user_id.as_deref(),
                })
                .collect();
            throttle
                .admit(project, &ids, Instant::now())
                .map_err(Rejection::Throttled)?;
        }
        let count = records.len();
        self.log.append(records).await.map_err(|e| {
            tracing::error!(error = %e, "event log append failed");
            Rejection::Unavailable(e.to_string())
        })?;
        Ok(Accepted {
            events_ingested: count,
            payload_size_bytes: meta.payload_size,
            server_upload_time: meta.received_ms,
        })
    }

    /// Records the tracking plan's verdict on the event (its project's plan, if configured).
    fn check_against_plan(&self, event: &mut sluice_schema::Event) {
        let Some(plan) = &self.tracking_plan else {
            return;
        };
        if plan.project.name != event.project {
            return;
        }
        let verdict = plan.check(event);
        event.taxonomy_issues = verdict.issues;
        event.quarantined = verdict.rejected;
    }
}

/// Room reserved for one event's JSON (demo events take 1.0–1.7 KB), so the buffer rarely grows.
const RECORD_CAPACITY: usize = 2048;

/// The log record of an event: its JSON, keyed by its ordering key.
fn log_record(event: &sluice_schema::Event) -> LogRecord {
    let mut payload = Vec::with_capacity(RECORD_CAPACITY);
    serde_json::to_writer(&mut payload, event).expect("an Event always serialises");
    LogRecord {
        key: event.ordering_key().to_owned(),
        payload,
        copies: Copies::of(event),
    }
}

/// Indexes of invalid events, by field, as Amplitude reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvalidEvents {
    /// `events_with_invalid_fields`.
    pub invalid_fields: BTreeMap<&'static str, Vec<usize>>,
    /// `events_with_missing_fields`.
    pub missing_fields: BTreeMap<&'static str, Vec<usize>>,
    /// `events_with_invalid_id_lengths`.
    pub invalid_id_lengths: BTreeMap<&'static str, Vec<usize>>,
}

impl InvalidEvents {
    fn add(&mut self, index: usize, problems: &[amplitude::FieldProblem]) {
        for p in problems {
            let map = match p.kind {
                ProblemKind::Missing => &mut self.missing_fields,
                ProblemKind::Invalid => &mut self.invalid_fields,
                ProblemKind::InvalidIdLength => &mut self.invalid_id_lengths,
            };
            let indexes = map.entry(p.field).or_default();
            if indexes.last() != Some(&index) {
                indexes.push(index);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.invalid_fields.is_empty()
            && self.missing_fields.is_empty()
            && self.invalid_id_lengths.is_empty()
    }
}

#[cfg(test)]
mod tests;
