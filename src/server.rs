//! `sluice serve`: wires the embedded pipeline (local log → loader → Parquet), or a collector
//! producing to Kafka, and the HTTP surface (collector + query API) into one process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use sluice_ingest::kafka::{KafkaLog, KafkaLogOptions, KafkaSettings};
use sluice_ingest::{
    Collector, CollectorConfig, EventLog, IngestMetrics, LoaderConfig, LoaderHandle, LocalLog,
    LocalLogOptions, Projects, ThrottleConfig,
};
use sluice_schema::{StorageLayout, TrackingPlan};

/// Flags of `sluice serve`.
#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Where the event log and the Parquet dataset live.
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "sluice-data")]
    pub(crate) data_dir: PathBuf,
    /// Address to listen on (port 0 picks a free port; the address is printed on stdout).
    #[arg(long, env = "SLUICE_LISTEN", default_value = "127.0.0.1:8000")]
    pub(crate) listen: String,
    /// API keys the collector accepts, as KEY or KEY=PROJECT (comma-separated in the variable).
    #[arg(
        long = "api-key",
        env = "SLUICE_API_KEYS",
        value_delimiter = ',',
        required = true
    )]
    pub(crate) api_keys: Vec<String>,
    /// Tracking plan (TOML): declares properties (stored as typed columns) and the time zone.
    #[arg(long, env = "SLUICE_TRACKING_PLAN")]
    pub(crate) tracking_plan: Option<PathBuf>,
    /// Project of keys given without `=PROJECT` (default: the plan's project, else `default`).
    #[arg(long, env = "SLUICE_PROJECT")]
    pub(crate) project: Option<String>,
    /// Time zone that cuts event dates (default: the plan's, else UTC).
    #[arg(long, env = "SLUICE_TIME_ZONE")]
    pub(crate) time_zone: Option<String>,
    /// Longest time an accepted event waits before it is written to Parquet (ms).
    #[arg(long, env = "SLUICE_FLUSH_INTERVAL_MS", default_value_t = 1000)]
    pub(crate) flush_interval_ms: u64,
    /// Most events in one upload; larger uploads get 413 and SDKs split them.
    #[arg(long, env = "SLUICE_MAX_EVENTS_PER_REQUEST", default_value_t = sluice_ingest::collector::MAX_EVENTS_PER_REQUEST)]
    pub(crate) max_events_per_request: usize,
    /// Events per second allowed per device id and per user id, averaged over the throttle
    /// window; more gets 429 and SDKs retry those events later. 0 turns throttling off.
    #[arg(long, env = "SLUICE_THROTTLE_EPS", default_value_t = 1000.0)]
    pub(crate) throttle_eps: f64,
    /// The throttle's averaging window in seconds (a client may burst eps × window events).
    #[arg(long, env = "SLUICE_THROTTLE_WINDOW_SECS", default_value_t = 30)]
    pub(crate) throttle_window_secs: u64,
    #[command(flatten)]
    pub(crate) kafka: crate::kafka::KafkaArgs,
    #[command(flatten)]
    pub(crate) compaction: crate::kafka::CompactionArgs,
    /// With Kafka: how long a request waits for the brokers' acknowledgement before its events
    /// are spooled locally instead (ms).
    #[arg(long, env = "SLUICE_KAFKA_DELIVERY_TIMEOUT_MS", default_value_t = 5000)]
    pub(crate) kafka_delivery_timeout_ms: u64,
    /// With Kafka: most events the local spool holds while the brokers are unreachable; beyond
    /// it the collector answers 503.
    #[arg(long, env = "SLUICE_SPOOL_LIMIT", default_value_t = 10_000_000)]
    pub(crate) spool_limit: u64,
    /// With Kafka: the spool's folder, one per collector (default: `<data-dir>/spool`; give
    /// each collector its own when several share a data directory).
    #[arg(long, env = "SLUICE_SPOOL_DIR")]
    pub(crate) spool_dir: Option<PathBuf>,
    /// How often every saved cohort is computed again and its members stored (seconds; 0:
    /// only when asked through the API or `sluice cohort compute`).
    #[arg(long, env = "SLUICE_COHORT_REFRESH_SECS", default_value_t = DEFAULT_COHORT_REFRESH_SECS)]
    pub(crate) cohort_refresh_secs: u64,
    /// A JSON file of cohort syncs (one config or an array; docs/query-api.md, "Cohort
    /// syncs"), saved at start; those with `every_secs` then run on their schedule.
    #[arg(long, env = "SLUICE_SYNCS")]
    pub(crate) syncs: Option<PathBuf>,
}

/// Saved cohorts are computed hourly by default (Amplitude's scheduled cadence).
pub(crate) const DEFAULT_COHORT_REFRESH_SECS: u64 = 3600;

/// The running embedded pipeline.
pub(crate) struct Pipeline {
    pub(crate) collector: Arc<Collector>,
    /// The embedded loader; none when events go to Kafka (`sluice load` loads them).
    pub(crate) loader: Option<LoaderHandle>,
    /// The background compactor of the embedded path.
    pub(crate) compactor: Option<crate::kafka::Compactor>,
    pub(crate) data_dir: PathBuf,
    /// The tracking plan, shown by the taxonomy route.
    pub(crate) plan: Option<Arc<TrackingPlan>>,
}

impl Pipeline {
    /// A collector on `log`, with the embedded `loader` and `compactor` if any.
    fn new(
        log: Arc<dyn EventLog>,
        settings: PipelineSettings,
        metrics: Arc<IngestMetrics>,
        loader: Option<LoaderHandle>,
        compactor: Option<crate::kafka::Compactor>,
    ) -> Self {
        let plan = settings.collector.tracking_plan.clone();
        Pipeline {
            plan,
            collector: Arc::new(Collector::with_config(
                log,
                settings.projects,
                settings.collector,
                metrics,
            )),
            loader,
            compactor,
            data_dir: settings.data_dir,
        }
    }
}

/// Settings the pipeline is started with, resolved from flags and the tracking plan.
pub(crate) struct PipelineSettings {
    pub(crate) data_dir: PathBuf,
    pub(crate) plan: Option<TrackingPlan>,
    pub(crate) projects: Projects,
    pub(crate) time_zone: chrono_tz::Tz,
    pub(crate) flush_interval: Duration,
    pub(crate) collector: CollectorConfig,
}

/// The storage layout of `plan` (typed columns for its properties), or the plain one.
pub(crate) fn storage_layout(plan: Option<&TrackingPlan>) -> StorageLayout {
    plan.map(StorageLayout::from_plan).unwrap_or_default()
}

pub(crate) fn read_plan(path: &Path) -> anyhow::Result<TrackingPlan> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    TrackingPlan::parse(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a valid tracking plan:\n{e}", path.display()))
}

impl PipelineSettings {
    fn from_args(args: &ServeArgs) -> anyhow::Result<Self> {
        let plan = args.tracking_plan.as_deref().map(read_plan).transpose()?;
        let default_project = args
            .project
            .clone()
            .or_else(|| plan.as_ref().map(|p| p.project.name.clone()))
            .unwrap_or_else(|| "default".to_owned());
        let mut keys = Vec::new();
        for spec in &args.api_keys {
            let (key, project) = spec.split_once('=').unwrap_or((spec, &default_project));
            if key.is_empty() || project.is_empty() {
                bail!("--api-key {spec:?}: expected KEY or KEY=PROJECT");
            }
            keys.push((key.to_owned(), project.to_owned()));
        }
        let time_zone = resolve_time_zone(args.time_zone.as_deref(), plan.as_ref())?;
        let mut collector = collector_config(args)?;
        collector.tracking_plan = plan.clone().map(Arc::new);
        Ok(PipelineSettings {
            data_dir: args.data_dir.clone(),
            plan,
            projects: Projects::new(keys),
            time_zone,
            flush_interval: Duration::from_millis(args.flush_interval_ms),
            collector,
        })
    }
}

/// The `--time-zone` flag, else the plan's time zone, else UTC.
pub(crate) fn resolve_time_zone(
    flag: Option<&str>,
    plan: Option<&TrackingPlan>,
) -> anyhow::Result<chrono_tz::Tz> {
    match flag {
        Some(name) => name
            .parse()
            .map_err(|_| anyhow::anyhow!("unknown time zone {name:?}")),
        None => Ok(plan.map_or(chrono_tz::UTC, |p| p.project.time_zone)),
    }
}

fn collector_config(args: &ServeArgs) -> anyhow::Result<CollectorConfig> {
    if args.max_events_per_request == 0 {
        bail!("--max-events-per-request must be at least 1");
    }
    if !args.throttle_eps.is_finite() || args.throttle_eps < 0.0 {
        bail!("--throttle-eps must be a non-negative number");
    }
    let throttle = (args.throttle_eps > 0.0).then(|| ThrottleConfig {
        events_per_second: args.throttle_eps,
        window: Duration::from_secs(args.throttle_window_secs.max(1)),
    });
    Ok(CollectorConfig {
        max_events_per_request: args.max_events_per_request,
        throttle,
        tracking_plan: None,
    })
}

/// Opens the local log and starts the loader, and the background compactor when `compaction`
/// asks for one.
pub(crate) fn start_pipeline(
    settings: PipelineSettings,
    compaction: Option<&crate::kafka::CompactionArgs>,
) -> anyhow::Result<Pipeline> {
    let metrics = Arc::new(IngestMetrics::new());
    let log: Arc<dyn EventLog> = Arc::new(open_local_log(
        &settings.data_dir.join("log"),
        &metrics,
        "the event log",
    )?);
    let layout = storage_layout(settings.plan.as_ref());
    let loader = sluice_ingest::spawn_loader(
        Arc::clone(&log),
        LoaderConfig {
            dataset_dir: settings.data_dir.clone(),
            layout: layout.clone(),
            time_zone: settings.time_zone,
            max_batch_events: 200_000,
            flush_interval: settings.flush_interval,
            metrics: Arc::clone(&metrics),
        },
    )
    .context("starting the loader")?;
    let compactor = match compaction {
        Some(compaction) => compaction.spawn(&settings.data_dir, layout)?,
        None => None,
    };
    Ok(Pipeline::new(
        log,
        settings,
        metrics,
        Some(loader),
        compactor,
    ))
}

/// The scale-out collector: events go to Kafka (spooled under `<data>/spool` while it is
/// unreachable); no loader runs here.
async fn start_kafka_collector(
    settings: PipelineSettings,
    kafka: KafkaSettings,
    options: KafkaLogOptions,
    spool_dir: PathBuf,
) -> anyhow::Result<Pipeline> {
    let metrics = Arc::new(IngestMetrics::new());
    let spool = open_local_log(&spool_dir, &metrics, "the spool")?;
    tracing::info!(brokers = %kafka.brokers, topic = %kafka.topic, "producing to Kafka");
    let log: Arc<dyn EventLog> = Arc::new(
        KafkaLog::open(kafka, options, spool)
            .await
            .context("connecting to Kafka")?,
    );
    Ok(Pipeline::new(log, settings, metrics, None, None))
}

/// A local durable log in `dir` whose group commits are timed in `metrics`.
fn open_local_log(dir: &Path, metrics: &IngestMetrics, what: &str) -> anyhow::Result<LocalLog> {
    let options = LocalLogOptions {
        fsync_seconds: Some(metrics.fsync_seconds.clone()),
        ..LocalLogOptions::default()
    };
    LocalLog::open(dir, options).with_context(|| format!("opening {what} in {}", dir.display()))
}

pub(crate) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = PipelineSettings::from_args(&args)?;
    // Syncs are saved before anything starts: a bad file stops the start.
    if let Some(file) = &args.syncs {
        let store = sluice_query::sync::SyncStore::new(&args.data_dir);
        for config in crate::cohort::configs_from_file(file)? {
            store
                .save(&config)
                .with_context(|| format!("{}: sync {}", file.display(), config.name))?;
        }
    }

    let pipeline = match args.kafka.settings()? {
        Some(kafka) => {
            let options = KafkaLogOptions {
                delivery_timeout: Duration::from_millis(args.kafka_delivery_timeout_ms.max(1)),
                spool_limit: args.spool_limit,
            };
            let spool_dir = args
                .spool_dir
                .clone()
                .unwrap_or_else(|| args.data_dir.join("spool"));
            start_kafka_collector(settings, kafka, options, spool_dir).await?
        }
        None => start_pipeline(settings, Some(&args.compaction))?,
    };
    let refresh = Duration::from_secs(args.cohort_refresh_secs);
    serve_http(pipeline, &args.listen, refresh).await
}

/// Serves the collector and the query API until SIGINT/SIGTERM, then drains and stops the loader.
pub(crate) async fn serve_http(
    pipeline: Pipeline,
    listen: &str,
    cohort_refresh: Duration,
) -> anyhow::Result<()> {
    let engine = Arc::new(sluice_query::QueryEngine::new(pipeline.data_dir.clone()));
    let refresher = (!cohort_refresh.is_zero())
        .then(|| tokio::spawn(refresh_cohorts(Arc::clone(&engine), cohort_refresh)));
    let syncer = tokio::spawn(run_scheduled_syncs(Arc::clone(&engine)));
    let app = sluice_ingest::collector::router(Arc::clone(&pipeline.collector))
        .merge(sluice_dashboards::api_router(engine, pipeline.plan.clone()))
        .merge(sluice_dashboards::web_router());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    // Tests and scripts read this line to find the port.
    println!("sluice listening on http://{addr}");
    match sluice_dashboards::access::accounts::Accounts::new(&pipeline.data_dir).any() {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            "no accounts yet: the query API answers 401 until one exists \
             (sluice user add NAME --role admin, or sluice user token NAME --role editor)"
        ),
        Err(e) => tracing::error!(error = %e, "reading the accounts"),
    }
    tracing::info!(%addr, data_dir = %pipeline.data_dir.display(), "serving");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving HTTP")?;
    if let Some(refresher) = refresher {
        refresher.abort();
    }
    syncer.abort();
    if let Some(loader) = pipeline.loader {
        tracing::info!("draining the loader");
        tokio::task::spawn_blocking(move || loader.shutdown()).await?;
    }
    if let Some(compactor) = pipeline.compactor {
        tokio::task::spawn_blocking(move || compactor.stop()).await?;
    }
    Ok(())
}

/// Computes every saved cohort once per `period`, from one period after the start; a cohort
/// that fails is logged and tried again next time.
async fn refresh_cohorts(engine: Arc<sluice_query::QueryEngine>, period: Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let names = match engine.cohorts().names() {
            Ok(names) => names,
            Err(e) => {
                tracing::error!(error = %e, "listing saved cohorts");
                continue;
            }
        };
        for name in names {
            match engine.compute_cohort(&name, None, Some(0)).await {
                Ok((run, _)) => tracing::info!(
                    cohort = %name, size = run.size, entered = run.entered, exited = run.exited,
                    "cohort computed"
                ),
                Err(e) => tracing::error!(cohort = %name, error = %e, "computing a cohort"),
            }
        }
    }
}

/// How often the schedule of cohort syncs is looked at.
const SYNC_SCHEDULE_CHECK: Duration = Duration::from_secs(15);

/// Runs the scheduled cohort syncs that are due, every [`SYNC_SCHEDULE_CHECK`]; a sync that
/// fails is logged (and in its delivery log) and tried again after its period.
async fn run_scheduled_syncs(engine: Arc<sluice_query::QueryEngine>) {
    let mut ticks = tokio::time::interval(SYNC_SCHEDULE_CHECK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = chrono::Utc::now().timestamp_millis();
        match sluice_query::sync::run_due(&engine, now).await {
            Ok(ran) => {
                for (name, outcome) in ran {
                    match outcome {
                        Ok(report) => tracing::info!(
                            sync = %name, outcome = ?report.outcome, entered = report.entered,
                            exited = report.exited, sent = report.sent, "cohort synced"
                        ),
                        Err(e) => tracing::error!(sync = %name, error = %e, "cohort sync"),
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "reading the cohort syncs"),
        }
    }
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
