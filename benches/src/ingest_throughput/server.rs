//! The system under test: the real collector over real HTTP, wired as `sluice demo` wires it
//! (durable [`LocalLog`] with group commit, the marketplace tracking plan, production request
//! limits) except that throttling is off — the benchmark sends many events per device — and no
//! loader runs: events are measured into the durable log.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use sluice_ingest::collector::MAX_EVENTS_PER_REQUEST;
use sluice_ingest::demo::DEMO_API_KEY;
use sluice_ingest::{
    Collector, CollectorConfig, EventLog, IngestMetrics, LocalLog, LocalLogOptions, Projects,
};
use sluice_schema::TrackingPlan;
use tokio::runtime::Runtime;

const PLAN: &str = include_str!("../../../schema/plans/marketplace.toml");

/// Thread name of the server's runtime workers (CPU time is attributed by thread name).
pub(crate) const SERVER_THREAD: &str = "bench-server";

/// A running collector.
pub(crate) struct Server {
    /// Where uploads go, e.g. `http://127.0.0.1:PORT/2/httpapi`.
    pub(crate) url: String,
    log: Arc<LocalLog>,
    metrics: Arc<IngestMetrics>,
    runtime: Runtime,
}

/// Count and total seconds of the log's group commits (write + fdatasync) so far.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Fsyncs {
    pub(crate) count: u64,
    pub(crate) seconds: f64,
}

impl Server {
    /// Opens the log in `dir` and serves the collector on 127.0.0.1 (a free port) from a runtime
    /// of its own with `threads` workers.
    pub(crate) fn start(dir: &Path, threads: usize) -> Result<Server, String> {
        let metrics = Arc::new(IngestMetrics::new());
        let options = LocalLogOptions {
            fsync_seconds: Some(metrics.fsync_seconds.clone()),
            ..LocalLogOptions::default()
        };
        let log = Arc::new(
            LocalLog::open(dir.join("log"), options)
                .map_err(|e| format!("opening the log: {e}"))?,
        );
        let plan = TrackingPlan::parse(PLAN).map_err(|e| format!("demo plan: {e}"))?;
        let projects = Projects::new([(DEMO_API_KEY.to_owned(), plan.project.name.clone())]);
        let config = CollectorConfig {
            max_events_per_request: MAX_EVENTS_PER_REQUEST,
            throttle: None,
            tracking_plan: Some(Arc::new(plan)),
        };
        let collector = Arc::new(Collector::with_config(
            Arc::clone(&log) as Arc<dyn EventLog>,
            projects,
            config,
            Arc::clone(&metrics),
        ));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name(SERVER_THREAD)
            .enable_all()
            .build()
            .map_err(|e| format!("server runtime: {e}"))?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .map_err(|e| format!("binding 127.0.0.1:0: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("listener address: {e}"))?;
        let app = sluice_ingest::collector::router(collector)
            .into_make_service_with_connect_info::<SocketAddr>();
        runtime.spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                eprintln!("collector stopped: {error}");
            }
        });
        Ok(Server {
            url: format!("http://{addr}/2/httpapi"),
            log,
            metrics,
            runtime,
        })
    }

    /// The log's group commits so far, from the collector's own fsync histogram.
    pub(crate) fn fsyncs(&self) -> Fsyncs {
        let text = self.metrics.encode();
        let value = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Fsyncs {
            count: value("sluice_log_fsync_duration_seconds_count") as u64,
            seconds: value("sluice_log_fsync_duration_seconds_sum"),
        }
    }

    /// The log's durable end, and every stored record's `insert_id` number read back through a
    /// consumer (only durable records are ever returned).
    pub(crate) fn read_back(&self) -> Result<(u64, Vec<u64>), String> {
        let end = self.log.durable_end();
        let mut consumer = self
            .log
            .consumer("ingest-bench-verify")
            .map_err(|e| format!("opening a consumer: {e}"))?;
        let mut ids = Vec::with_capacity(end as usize);
        loop {
            let records = consumer
                .poll(100_000, std::time::Duration::ZERO)
                .map_err(|e| format!("reading the log back: {e}"))?;
            if records.is_empty() {
                break;
            }
            for record in records {
                let id = super::bodies::insert_id_number(&record.payload).ok_or_else(|| {
                    format!("record {} has no benchmark insert_id", record.offset)
                })?;
                ids.push(id);
            }
        }
        Ok((end, ids))
    }

    /// Stops serving without waiting for idle connections.
    pub(crate) fn stop(self) {
        self.runtime.shutdown_background();
    }
}
