//! Prometheus metrics of the ingest path (`GET /metrics`), in the OpenMetrics text format.
//!
//! One [`IngestMetrics`] is shared by the collector, the event log and the loader; each holds
//! clones of the handles it updates. Gauges that describe another component's state (log lag)
//! are refreshed by the `/metrics` handler just before encoding.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The endpoint a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /2/httpapi`.
    Httpapi,
    /// `POST /batch`.
    Batch,
    /// `/identify`.
    Identify,
    /// `/groupidentify`.
    Groupidentify,
    /// `POST /currents` (campaign engagement).
    Currents,
}

/// What happened to events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Acknowledged with 200 (durable in the log).
    Accepted,
    /// In a request refused for invalid events, a bad key or a bad body.
    Rejected,
    /// In a request refused with 429.
    Throttled,
    /// In a request refused with 413.
    TooLarge,
    /// Written to the quarantine dataset by the loader.
    Quarantined,
    /// Dropped by the loader as a repeat of an `insert_id` seen in the last 7 days.
    Deduplicated,
    /// Written to the events dataset by the loader.
    Loaded,
}

impl Endpoint {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Httpapi => "httpapi",
            Endpoint::Batch => "batch",
            Endpoint::Identify => "identify",
            Endpoint::Groupidentify => "groupidentify",
            Endpoint::Currents => "currents",
        }
    }
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
            Outcome::Throttled => "throttled",
            Outcome::TooLarge => "too_large",
            Outcome::Quarantined => "quarantined",
            Outcome::Deduplicated => "deduplicated",
            Outcome::Loaded => "loaded",
        }
    }
}

impl EncodeLabelValue for Endpoint {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

/// Labels of request metrics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// Endpoint.
    pub endpoint: Endpoint,
    /// HTTP status.
    pub code: u16,
}

/// Labels of event counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct EventLabels {
    /// Outcome.
    pub outcome: Outcome,
}

/// Labels of latency histograms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct EndpointLabels {
    /// Endpoint.
    pub endpoint: Endpoint,
}

/// Every ingest metric, registered once.
#[derive(Debug)]
pub struct IngestMetrics {
    registry: Registry,
    /// Requests by endpoint and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Events by outcome.
    pub events: Family<EventLabels, Counter>,
    /// Request latency by endpoint (receive to answer; includes waiting for fsync).
    pub request_seconds: Family<EndpointLabels, Histogram>,
    /// Duration of each event-log fsync (one per group commit).
    pub fsync_seconds: Histogram,
    /// Records in the log not yet committed by the Parquet loader.
    pub loader_lag_events: Gauge,
}

impl Default for IngestMetrics {
    fn default() -> Self {
        Self::new()
    }
}

fn latency_histogram() -> Histogram {
    // 0.1 ms … ~3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

impl IngestMetrics {
    /// Creates and registers every metric under the `sluice` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sluice");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Collector requests by endpoint and HTTP status",
            requests.clone(),
        );
        let events = Family::<EventLabels, Counter>::default();
        registry.register("events", "Events by outcome", events.clone());
        let request_seconds = Family::<EndpointLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Collector request latency, including the wait for the log fsync",
            request_seconds.clone(),
        );
        let fsync_seconds = latency_histogram();
        registry.register(
            "log_fsync_duration_seconds",
            "Duration of event-log fsyncs (one per group commit)",
            fsync_seconds.clone(),
        );
        let loader_lag_events = Gauge::default();
        registry.register(
            "loader_lag_events",
            "Records in the event log not yet committed to Parquet",
            loader_lag_events.clone(),
        );
        IngestMetrics {
            registry,
            requests,
            events,
            request_seconds,
            fsync_seconds,
            loader_lag_events,
        }
    }

    /// Counts `n` events with `outcome`.
    pub fn count_events(&self, outcome: Outcome, n: usize) {
        self.events
            .get_or_create(&EventLabels { outcome })
            .inc_by(n as u64);
    }

    /// The events counted with `outcome` so far.
    pub fn events_counted(&self, outcome: Outcome) -> u64 {
        self.events.get_or_create(&EventLabels { outcome }).get()
    }

    /// The registry encoded in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}
