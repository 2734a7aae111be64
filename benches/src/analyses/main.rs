//! `analyses-bench`: Sluice's analyses on the shared baseline dataset, for side-by-side runs with
//! chDB and DuckDB (`benches/analyses/side_by_side.py` drives all engines; benches/README.md).
//!
//! - `import`: reads the baseline Parquet file (`gen_events.py`: time, user_id, distinct_id,
//!   event_type, category, platform) and loads it the way `sluice serve` would: every row becomes
//!   an event record in a durable local log (user id as `user_id`, `distinct_id` as the device,
//!   `category` an event property the plan promotes to a typed column, `platform`), the real
//!   loader turns the log into Parquet (stamping person ids), and the real compactor folds the
//!   small files into large sorted ones. The loader runs while the log fills (the log deletes
//!   the segments loaded), and the log is deleted afterwards.
//! - `run QUERY`: runs one baseline query (`funnel`, `dau`, `retention`) as a Sluice query spec through
//!   `QueryEngine`, `--runs` times in this process, and prints one JSON line with every run's
//!   wall time, the best, the peak RSS and the result rows in the baseline SQL's shape (so the
//!   driver can hash them like `bench.py` does).
//!
//! Usage: `cargo run --release -p sluice-benches --bin analyses-bench -- import --help`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int64Type, TimestampMillisecondType};
use clap::{Parser, Subcommand};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::json;
use sluice_benches::baseline::{PLAN, PROJECT, Query};
use sluice_ingest::compaction::{CompactionOptions, compact};
use sluice_ingest::log::{Copies, LogRecord};
use sluice_ingest::{
    EventLog, IngestMetrics, LoaderConfig, LocalLog, LocalLogOptions, spawn_loader,
};
use sluice_query::{QueryEngine, QuerySpec};
use sluice_schema::{Event, StorageLayout, TrackingPlan};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Loads the baseline Parquet file into a Sluice data directory.
    Import {
        /// The baseline file (`gen_events.py --out`).
        #[arg(long)]
        parquet: PathBuf,
        /// The data directory to create (must not exist).
        #[arg(long)]
        data: PathBuf,
        /// Most events per loader batch (`sluice serve`'s default).
        #[arg(long, default_value_t = 200_000)]
        max_batch_events: usize,
        /// A date is compacted once it holds this many files. 1 sorts every date, as a live
        /// server's compactor does for each past day (live traffic leaves many small files per
        /// day; one bulk load leaves one or two large ones).
        #[arg(long, default_value_t = 1)]
        compact_min_files: usize,
    },
    /// Runs one baseline query and prints a JSON line.
    Run {
        /// Which query.
        query: Query,
        /// The data directory `import` made.
        #[arg(long)]
        data: PathBuf,
        /// Runs in this process (the best is reported, as `bench.py` does).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let outcome = match args.command {
        Command::Import {
            parquet,
            data,
            max_batch_events,
            compact_min_files,
        } => import(&parquet, &data, max_batch_events, compact_min_files),
        Command::Run { query, data, runs } => run(query, &data, runs),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("analyses-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))
}

fn import(
    parquet: &Path,
    data: &Path,
    max_batch_events: usize,
    compact_min_files: usize,
) -> Result<(), String> {
    if data.exists() {
        return Err(format!("{} exists; give a new folder", data.display()));
    }
    let plan = TrackingPlan::parse(PLAN).map_err(|e| format!("bench plan: {e}"))?;
    let layout = StorageLayout::from_plan(&plan);
    let log_dir = data.join("log");
    let log = Arc::new(
        LocalLog::open(&log_dir, LocalLogOptions::default())
            .map_err(|e| format!("opening the log: {e}"))?,
    );
    let config = LoaderConfig {
        dataset_dir: data.to_owned(),
        layout: layout.clone(),
        time_zone: plan.project.time_zone,
        max_batch_events,
        flush_interval: Duration::from_secs(1),
        metrics: Arc::new(IngestMetrics::new()),
    };
    // The loader runs while the log fills, and the log deletes the segments it has loaded, so
    // the disk holds a slice of the log at a time, not all of it (100 M events would not fit).
    let loading = Instant::now();
    let loader = spawn_loader(Arc::clone(&log) as Arc<dyn EventLog>, config)
        .map_err(|e| format!("starting the loader: {e}"))?;
    let appended = fill_log(parquet, &log, &loader.progress.events_loaded)?;
    println!(
        "appended {appended} events to the log in {:.1} s",
        loading.elapsed().as_secs_f64()
    );
    while loader.progress.events_loaded.load(Ordering::Relaxed) < appended {
        if loading.elapsed() > Duration::from_secs(3 * 3_600) {
            return Err("the loader did not finish in three hours".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    loader.shutdown();
    println!("loaded in {:.1} s", loading.elapsed().as_secs_f64());

    let compacting = Instant::now();
    let options = CompactionOptions {
        layout,
        min_files: compact_min_files,
        ..CompactionOptions::default()
    };
    let report = compact(data, &options).map_err(|e| format!("compacting: {e}"))?;
    println!(
        "compacted {} files into {} in {:.1} s",
        report.files_in,
        report.files_out,
        compacting.elapsed().as_secs_f64()
    );
    drop(log);
    std::fs::remove_dir_all(&log_dir).map_err(|e| format!("removing the log: {e}"))?;
    Ok(())
}

/// Most events the log may hold ahead of the loader while it fills (about 2 GB of log).
const MAX_AHEAD: u64 = 10_000_000;

/// Appends every row of the baseline file to `log`, at most [`MAX_AHEAD`] events ahead of
/// `loaded`; returns the count.
fn fill_log(parquet: &Path, log: &Arc<LocalLog>, loaded: &AtomicU64) -> Result<u64, String> {
    let file =
        std::fs::File::open(parquet).map_err(|e| format!("opening {}: {e}", parquet.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(20_000).build())
        .map_err(|e| format!("reading {}: {e}", parquet.display()))?;
    let runtime = runtime()?;
    let mut appended = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| format!("reading {}: {e}", parquet.display()))?;
        let records = records(&batch)?;
        appended += records.len() as u64;
        while appended.saturating_sub(loaded.load(Ordering::Relaxed)) > MAX_AHEAD {
            std::thread::sleep(Duration::from_millis(20));
        }
        runtime
            .block_on(log.append(records))
            .map_err(|e| format!("appending: {e}"))?;
    }
    Ok(appended)
}

/// The event records of one baseline batch.
fn records(batch: &RecordBatch) -> Result<Vec<LogRecord>, String> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| format!("the baseline file has no `{name}` column"))
    };
    let time = column("time")?.as_primitive::<TimestampMillisecondType>();
    let user = column("user_id")?.as_primitive::<Int64Type>();
    // Text columns are `string`, or `large_string` in files too big for 32-bit offsets
    // (`gen_large.py`): read both as `string` (a batch is far below 2 GiB).
    let text = |name: &str| -> Result<arrow::array::ArrayRef, String> {
        arrow::compute::cast(column(name)?, &arrow::datatypes::DataType::Utf8)
            .map_err(|e| format!("reading `{name}` as text: {e}"))
    };
    let (device, event_type, category, platform) = (
        text("distinct_id")?,
        text("event_type")?,
        text("category")?,
        text("platform")?,
    );
    let device = device.as_string::<i32>();
    let event_type = event_type.as_string::<i32>();
    let category = category.as_string::<i32>();
    let platform = platform.as_string::<i32>();
    (0..batch.num_rows())
        .map(|row| {
            let ms = time.value(row);
            let mut event = Event {
                project: PROJECT.to_owned(),
                event_time: ms,
                client_event_time: ms,
                server_received_time: ms,
                event_type: event_type.value(row).to_owned(),
                user_id: user.is_valid(row).then(|| user.value(row).to_string()),
                device_id: device.value(row).to_owned(),
                ..Event::default()
            };
            event.context.platform = Some(platform.value(row).to_owned());
            event
                .event_properties
                .insert("category".into(), category.value(row).into());
            let payload = serde_json::to_vec(&event).map_err(|e| format!("encoding: {e}"))?;
            Ok(LogRecord {
                key: event.device_id,
                payload,
                copies: Copies::default(),
            })
        })
        .collect()
}

fn run(query: Query, data: &Path, runs: usize) -> Result<(), String> {
    let spec: QuerySpec = serde_json::from_value(query.spec()).map_err(|e| format!("spec: {e}"))?;
    let engine = QueryEngine::new(data);
    let runtime = runtime()?;
    let mut times = Vec::new();
    let mut result = None;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let answer = runtime
            .block_on(engine.run(&spec))
            .map_err(|e| format!("query: {e}"))?;
        times.push((started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0);
        result = Some(answer);
    }
    let result = serde_json::to_value(result).map_err(|e| format!("result: {e}"))?;
    let rows = query.rows(&result)?;
    let best = times.iter().copied().fold(f64::INFINITY, f64::min);
    let line = json!({
        "engine": "sluice",
        "version": env!("CARGO_PKG_VERSION"),
        "query": query.name(),
        "times_s": times,
        "best_s": best,
        "peak_rss_mb": peak_rss_mb(),
        "rows": rows.len(),
        "result_rows": rows,
    });
    println!("{line}");
    Ok(())
}

/// The process's peak resident set in MB (`VmHWM`; 0 where `/proc` has none).
fn peak_rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb / 1024)
}
