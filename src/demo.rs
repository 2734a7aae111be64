//! `sluice demo`: fills a data directory with a realistic marketplace (once), then serves it.
//!
//! Demo events take the same path as real ones: Amplitude-shaped upload batches go through
//! `Collector::accept` (validation, normalisation, durable log), and the loader writes Parquet.
//! Only the HTTP hop is skipped.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sluice_ingest::collector::RequestMeta;
use sluice_ingest::demo::{DEMO_API_KEY, DemoBatch, DemoConfig, Simulation};
use sluice_ingest::{Collector, CollectorConfig, Projects};
use sluice_schema::TrackingPlan;
use sluice_schema::amplitude::{DEFAULT_MIN_ID_LENGTH, UploadRequest};
use tokio::task::JoinSet;

use sluice_dashboards::saved::{Board, Chart, SavedStore, Tile};

use crate::scenario;
use crate::server::{self, PipelineSettings};

/// The tracking plan of the demo marketplace.
const MARKETPLACE_PLAN: &str = include_str!("../schema/plans/marketplace.toml");
/// Written once the demo data set is complete, with its event count.
const COMPLETE_MARKER: &str = "demo-complete";
/// The seed scenario's rescue campaign is sent this many days before the demo data ends.
const RESCUE_DAYS_BEFORE_END: i32 = 3;
/// Upload batches in flight at once while generating (they share fsyncs).
const IN_FLIGHT: usize = 8;

/// Flags of `sluice demo`.
#[derive(clap::Args)]
pub(crate) struct DemoArgs {
    /// Where the demo data set is written (kept between runs: generated only once).
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "sluice-demo-data")]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "SLUICE_LISTEN", default_value = "127.0.0.1:8000")]
    listen: String,
    /// Number of simulated people.
    #[arg(long, default_value_t = DemoConfig::default().users)]
    users: u32,
    /// Number of days of history, ending yesterday.
    #[arg(long, default_value_t = DemoConfig::default().days)]
    days: u32,
    /// Random seed: the same seed gives the same data set.
    #[arg(long, default_value_t = DemoConfig::default().seed)]
    seed: u64,
    /// Generate the data set and exit instead of serving it.
    #[arg(long)]
    no_serve: bool,
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let plan =
        TrackingPlan::parse(MARKETPLACE_PLAN).map_err(|e| anyhow::anyhow!("demo plan: {e}"))?;
    let project = plan.project.name.clone();
    let time_zone = plan.project.time_zone;
    let collector = CollectorConfig {
        tracking_plan: Some(Arc::new(plan.clone())),
        // The generator sends a whole day of a device's events at once: no rate limit here.
        ..CollectorConfig::default()
    };
    let pipeline = server::start_pipeline(
        PipelineSettings {
            data_dir: args.data_dir.clone(),
            plan: Some(plan),
            projects: Projects::new([(DEMO_API_KEY.to_owned(), project)]),
            time_zone,
            flush_interval: Duration::from_secs(1),
            collector,
        },
        None,
    )?;
    let marker = args.data_dir.join(COMPLETE_MARKER);
    if marker.exists() {
        eprintln!(
            "demo data already in {} (delete the folder to regenerate)",
            args.data_dir.display()
        );
    } else {
        let config = DemoConfig {
            users: args.users,
            days: args.days,
            end_date: chrono::Utc::now().date_naive() - chrono::Days::new(1),
            seed: args.seed,
        };
        let progress = &embedded_loader(&pipeline)?.progress;
        let loaded_before = progress.events_loaded.load(Ordering::Relaxed);
        let mut simulation = Simulation::new(&config);
        // The seed scenario needs a week of history before the rescue campaign's day.
        let rescue_day = simulation.days() - RESCUE_DAYS_BEFORE_END;
        let scenario = rescue_day >= 7;
        let until = if scenario {
            rescue_day
        } else {
            simulation.days()
        };
        let mut accepted = send(&pipeline.collector, simulation.batches_before(until)).await?;
        if scenario {
            wait_until_loaded(&progress.events_loaded, loaded_before + accepted).await;
            let as_of = simulation.date(rescue_day - 1);
            let users = scenario::sync_dropoffs(&args.data_dir, as_of).await?;
            simulation.send_rescue_to(users);
            let all = simulation.days();
            accepted += send(&pipeline.collector, simulation.batches_before(all)).await?;
        }
        wait_until_loaded(&progress.events_loaded, loaded_before + accepted).await;
        std::fs::write(&marker, accepted.to_string()).context("writing the demo marker")?;
        eprintln!(
            "demo data ready: {accepted} events in {}",
            args.data_dir.display()
        );
        seed_key_metrics(&args.data_dir)?;
        if scenario {
            scenario::report(&args.data_dir).await?;
        }
    }
    if args.no_serve {
        if let Some(loader) = pipeline.loader {
            tokio::task::spawn_blocking(move || loader.shutdown()).await?;
        }
        return Ok(());
    }
    eprintln!(
        "collector API key: {DEMO_API_KEY}; try: sluice query --data-dir {} docs/examples/funnel.json",
        args.data_dir.display()
    );
    if let Some(password) = demo_login(&args.data_dir)? {
        eprintln!(
            "open http://{} and log in as {DEMO_USER} / {password}",
            args.listen
        );
    }
    let refresh = std::time::Duration::from_secs(server::DEFAULT_COHORT_REFRESH_SECS);
    server::serve_http(pipeline, &args.listen, refresh).await
}

/// The admin account the demo makes when the data directory has none.
const DEMO_USER: &str = "demo";
/// Where the demo keeps that account's password, so every start can print it.
const DEMO_PASSWORD_FILE: &str = "auth/demo-password";

/// The demo's login: makes the `demo` admin with a random password when no account exists yet,
/// and gives back its password while the demo made it (None once other accounts were set up).
fn demo_login(data_dir: &std::path::Path) -> anyhow::Result<Option<String>> {
    use sluice_dashboards::access::accounts::{Accounts, Role};
    let accounts = Accounts::new(data_dir);
    let file = data_dir.join(DEMO_PASSWORD_FILE);
    if !accounts.any()? {
        let password = sluice_dashboards::access::accounts::random_password();
        accounts.set_user(DEMO_USER, Role::Admin, &password)?;
        write_private(&file, &password)?;
        return Ok(Some(password));
    }
    match std::fs::read_to_string(&file) {
        Ok(password) if accounts.log_in(DEMO_USER, password.trim())?.is_some() => {
            Ok(Some(password.trim().to_owned()))
        }
        _ => Ok(None),
    }
}

/// Writes `text` to `path`, readable by its owner only.
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut out = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    out.write_all(text.as_bytes())?;
    out.sync_all()?;
    Ok(())
}

/// The demo's "Key metrics" board: the example charts of the query docs, saved.
fn seed_key_metrics(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let charts = [
        (
            "Daily active people and purchases",
            include_str!("../docs/examples/segmentation.json"),
            "line",
        ),
        (
            "Category page → service page → purchase, by category",
            include_str!("../docs/examples/funnel.json"),
            "funnel_bars",
        ),
        (
            "Do new people come back to services?",
            include_str!("../docs/examples/retention.json"),
            "retention_table",
        ),
        (
            "Service browsers: new, current, resurrected, dormant",
            include_str!("../docs/examples/lifecycle.json"),
            "lifecycle_bars",
        ),
        (
            "Drop-off rescue campaign by variant",
            include_str!("../docs/examples/campaign-funnel.json"),
            "funnel_bars",
        ),
        (
            "RFM segments",
            include_str!("../docs/examples/rfm.json"),
            "table",
        ),
    ];
    let store = SavedStore::new(data_dir);
    let mut tiles = Vec::new();
    for (name, spec, view) in charts {
        let chart = store.save_chart(Chart {
            id: String::new(),
            name: name.to_owned(),
            description: None,
            owner: Some("growth-team".to_owned()),
            spec: sluice_query::QuerySpec::from_json(spec)?,
            view: serde_json::json!({ "type": view }),
            created_ms: 0,
            updated_ms: 0,
        })?;
        tiles.push(Tile {
            chart_id: chart.id,
            width: Some(6),
        });
    }
    store.save_board(Board {
        id: String::new(),
        name: "Key metrics".to_owned(),
        description: Some("What the category and growth teams open every morning.".to_owned()),
        owner: Some("growth-team".to_owned()),
        date_range: None,
        charts: tiles,
        created_ms: 0,
        updated_ms: 0,
    })?;
    Ok(())
}

/// Sends every batch through the collector; returns the number of events accepted.
async fn send(
    collector: &Arc<Collector>,
    batches: impl Iterator<Item = DemoBatch>,
) -> anyhow::Result<u64> {
    let started = Instant::now();
    let mut in_flight = JoinSet::new();
    let mut accepted = 0u64;
    let mut next_report = 100_000;
    for batch in batches {
        if in_flight.len() >= IN_FLIGHT {
            accepted += joined(in_flight.join_next().await)?;
        }
        let collector = Arc::clone(collector);
        in_flight.spawn(async move {
            let upload = UploadRequest {
                api_key: DEMO_API_KEY.to_owned(),
                events: batch.events,
                min_id_length: DEFAULT_MIN_ID_LENGTH,
                client_upload_time: Some(batch.client_upload_time_ms),
            };
            let meta = RequestMeta {
                received_ms: batch.client_upload_time_ms,
                remote_ip: None,
                payload_size: 0,
            };
            collector
                .accept(upload, meta)
                .await
                .map(|a| a.events_ingested as u64)
        });
        if accepted >= next_report {
            eprintln!(
                "generated {accepted} events ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
            next_report += 250_000;
        }
    }
    while let Some(done) = in_flight.join_next().await {
        accepted += joined(Some(done))?;
    }
    Ok(accepted)
}

type Joined =
    Option<Result<Result<u64, sluice_ingest::collector::Rejection>, tokio::task::JoinError>>;

fn joined(done: Joined) -> anyhow::Result<u64> {
    match done {
        Some(Ok(Ok(count))) => Ok(count),
        Some(Ok(Err(rejection))) => bail!("the collector rejected a demo batch: {rejection:?}"),
        Some(Err(e)) => Err(e).context("demo upload task"),
        None => Ok(0),
    }
}

async fn wait_until_loaded(loaded: &std::sync::atomic::AtomicU64, target: u64) {
    let started = Instant::now();
    while loaded.load(Ordering::Relaxed) < target {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "loaded to Parquet in a further {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn embedded_loader(pipeline: &server::Pipeline) -> anyhow::Result<&sluice_ingest::LoaderHandle> {
    pipeline
        .loader
        .as_ref()
        .context("the demo runs the embedded pipeline, which has a loader")
}
