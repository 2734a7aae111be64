//! `loader-throughput`: how fast the loader turns event-log records into Parquet, alone.
//!
//! Each round fills a fresh durable log (`LocalLog`, in a temporary folder) through the real
//! collector (in process, no HTTP; the marketplace tracking plan) with `--events` demo-marketplace
//! events, then starts the embedded loader on it, as `sluice serve` configures it, and times it
//! until every event is committed to Parquet. Reported per round: events/s and the loader
//! thread's CPU per event. Nothing else runs while the loader does, so this isolates the stage
//! that the end-to-end benchmarks (`kafka-throughput`) share with the collector and the broker.
//! At the end of each round the rows in the Parquet files must equal the events appended.
//!
//! Usage: `cargo run --release -p sluice-benches --bin loader-throughput -- [--help]`.

// The upload bodies of `ingest-throughput`; its check helpers are not used here.
#[path = "../ingest_throughput/bodies.rs"]
#[allow(dead_code)]
mod bodies;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Parser;
use parquet::file::reader::{FileReader, SerializedFileReader};
use sluice_ingest::collector::{MAX_EVENTS_PER_REQUEST, RequestMeta};
use sluice_ingest::demo::DEMO_API_KEY;
use sluice_ingest::loader::{LoaderConfig, spawn_loader};
use sluice_ingest::{
    Collector, CollectorConfig, EventLog, IngestMetrics, LocalLog, LocalLogOptions, Projects,
};
use sluice_schema::{StorageLayout, TrackingPlan};

use bodies::{BodyPool, demo_events};

/// The allocator the `sluice` binary uses, so the loader is measured as it runs there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PLAN: &str = include_str!("../../../schema/plans/marketplace.toml");

/// The loader thread's name as the kernel keeps it.
const LOADER_THREAD: &str = "sluice-loader";

/// Measures the loader alone: log records → Parquet files.
#[derive(Parser)]
struct Args {
    /// Events appended to the log (and loaded) per round.
    #[arg(long, default_value_t = 600_000)]
    events: usize,
    /// Rounds; each uses a fresh log and data folder.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Events per upload (one log record per event).
    #[arg(long, default_value_t = 100)]
    batch_events: usize,
    /// Distinct demo events the uploads are cut from (reused with fresh `insert_id`s).
    #[arg(long, default_value_t = 20_000)]
    pool_events: usize,
    /// Most events per loader batch (what `sluice serve` uses by default).
    #[arg(long, default_value_t = 200_000)]
    max_batch_events: usize,
    /// Folder for the temporary log and data; must be a real disk (fsync on tmpfs is free).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// One round's measurement.
struct Round {
    seconds: f64,
    cpu_seconds: f64,
    rows: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("loader-throughput: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    if args.batch_events == 0 || args.pool_events < args.batch_events || args.events == 0 {
        return Err(
            "--events and --batch-events must be ≥ 1, --pool-events ≥ --batch-events".into(),
        );
    }
    let plan = TrackingPlan::parse(PLAN).map_err(|e| format!("demo plan: {e}"))?;
    let pool = BodyPool::new(&demo_events(args.pool_events), args.batch_events);
    let uploads = args.events.div_ceil(args.batch_events);
    let events = (uploads * args.batch_events) as u64;
    println!(
        "{uploads} uploads × {} events ({} B mean), loader batches of at most {} events",
        args.batch_events,
        pool.mean_bytes(),
        args.max_batch_events
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let mut rounds = Vec::new();
    for round in 1..=args.rounds {
        let dir = tempfile::Builder::new()
            .prefix("sluice-loader-bench-")
            .tempdir_in(&parent)
            .map_err(|e| format!("creating a folder in {}: {e}", parent.display()))?;
        let log = fill_log(dir.path(), &runtime, &plan, &pool, uploads)?;
        let measured = load(dir.path(), log, &plan, args.max_batch_events, events)?;
        if measured.rows != events {
            return Err(format!(
                "round {round}: {} rows in Parquet for {events} appended events",
                measured.rows
            ));
        }
        println!(
            "round {round}: {:.0} events/s, loader CPU {:.2} µs/event ({events} events in {:.2} s; \
             check: {} rows)",
            events as f64 / measured.seconds,
            measured.cpu_seconds * 1e6 / events as f64,
            measured.seconds,
            measured.rows,
        );
        rounds.push(measured);
    }
    rounds.sort_by(|a, b| a.cpu_seconds.total_cmp(&b.cpu_seconds));
    let median = &rounds[rounds.len() / 2];
    println!(
        "median: {:.0} events/s, loader CPU {:.2} µs/event",
        events as f64 / median.seconds,
        median.cpu_seconds * 1e6 / events as f64
    );
    Ok(())
}

/// A fresh log under `dir` holding `uploads` uploads accepted by the collector.
fn fill_log(
    dir: &Path,
    runtime: &tokio::runtime::Runtime,
    plan: &TrackingPlan,
    pool: &BodyPool,
    uploads: usize,
) -> Result<Arc<LocalLog>, String> {
    let log = Arc::new(
        LocalLog::open(dir.join("log"), LocalLogOptions::default())
            .map_err(|e| format!("opening the log: {e}"))?,
    );
    let collector = Arc::new(Collector::with_config(
        Arc::clone(&log) as Arc<dyn EventLog>,
        Projects::new([(DEMO_API_KEY.to_owned(), plan.project.name.clone())]),
        CollectorConfig {
            max_events_per_request: MAX_EVENTS_PER_REQUEST,
            throttle: None,
            tracking_plan: Some(Arc::new(plan.clone())),
        },
        Arc::new(IngestMetrics::new()),
    ));
    let per_upload = pool.events_per_body();
    runtime.block_on(async {
        // A few uploads in flight at once, so the log's group commit fills quickly.
        let mut tasks = tokio::task::JoinSet::new();
        for index in 0..uploads {
            let body = pool.stamped(index, (index * per_upload) as u64);
            let collector = Arc::clone(&collector);
            tasks.spawn(async move {
                let meta = RequestMeta {
                    received_ms: chrono::Utc::now().timestamp_millis(),
                    remote_ip: Some("127.0.0.1".into()),
                    payload_size: body.len(),
                };
                collector.upload(&body, meta).await.map(|_| ())
            });
            if tasks.len() >= 64 {
                join_one(&mut tasks).await?;
            }
        }
        while !tasks.is_empty() {
            join_one(&mut tasks).await?;
        }
        Ok::<(), String>(())
    })?;
    Ok(log)
}

async fn join_one<E: std::fmt::Display + 'static>(
    tasks: &mut tokio::task::JoinSet<Result<(), E>>,
) -> Result<(), String> {
    match tasks.join_next().await {
        Some(Ok(Ok(()))) | None => Ok(()),
        Some(Ok(Err(rejection))) => Err(format!("the collector refused an upload: {rejection}")),
        Some(Err(panic)) => Err(format!("upload task: {panic}")),
    }
}

/// Runs the embedded loader on `log` until `events` are loaded.
fn load(
    dir: &Path,
    log: Arc<LocalLog>,
    plan: &TrackingPlan,
    max_batch_events: usize,
    events: u64,
) -> Result<Round, String> {
    let config = LoaderConfig {
        dataset_dir: dir.join("data"),
        layout: StorageLayout::from_plan(plan),
        time_zone: plan.project.time_zone,
        max_batch_events,
        flush_interval: Duration::from_secs(2),
        metrics: Arc::new(IngestMetrics::new()),
    };
    let started = Instant::now();
    let loader = spawn_loader(log as Arc<dyn EventLog>, config.clone())
        .map_err(|e| format!("starting the loader: {e}"))?;
    while loader.progress.events_loaded.load(Ordering::Relaxed) < events {
        if started.elapsed() > Duration::from_secs(600) {
            return Err("the loader did not finish in 10 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = thread_cpu_seconds(LOADER_THREAD);
    loader.shutdown();
    Ok(Round {
        seconds,
        cpu_seconds,
        rows: rows_in_parquet(&config.dataset_dir)?,
    })
}

/// On-CPU seconds of this process's threads named `name` (Linux `/proc`; 0 elsewhere).
fn thread_cpu_seconds(name: &str) -> f64 {
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter(|task| {
            fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim_end() == name)
        })
        .filter_map(|task| fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum::<u64>() as f64
        / 1e9
}

/// Rows in every Parquet file under `data` (both datasets), from the files' footers.
fn rows_in_parquet(data: &Path) -> Result<u64, String> {
    let mut rows = 0;
    let mut folders = vec![data.to_owned()];
    while let Some(folder) = folders.pop() {
        let entries = fs::read_dir(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                let file = fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                let reader = SerializedFileReader::new(file)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                rows += reader.metadata().file_metadata().num_rows() as u64;
            }
        }
    }
    Ok(rows)
}
