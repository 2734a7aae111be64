//! `ingest-throughput`: how many events per second the collector accepts into the durable log,
//! and how long a client waits for the 200, for 1-event and 100-event uploads.
//!
//! The real collector (`sluice_ingest::collector::router` over `Collector`, the durable
//! `LocalLog` with group commit in a temporary folder, the marketplace tracking plan, throttling
//! off, no loader) serves real HTTP on 127.0.0.1; a load generator in the same process keeps a
//! fixed number of keep-alive connections busy with pre-serialised demo-marketplace uploads. The
//! scenarios run interleaved for several rounds and the median round of each is reported. At the
//! end the log is read back: it must hold exactly the events that were acknowledged, each once.
//!
//! Client and server share the machine's cores, so the numbers are a lower bound for a collector
//! with the machine to itself.
//!
//! Usage: `cargo run --release -p sluice-benches --bin ingest-throughput -- [--help]`.

mod bodies;
mod client;
mod cpu;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use clap::Parser;
use tokio::runtime::Runtime;

/// The allocator the `sluice` binary uses, so the collector is measured as it runs there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bodies::{BodyPool, demo_events};
use client::{CLIENT_THREAD, Load, Measured};
use server::Server;

/// Measures accepted events/s and request latency of the collector into the durable log.
#[derive(Parser)]
struct Args {
    /// Measured seconds per scenario and round.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Unmeasured seconds before each measured window (connections open, caches warm).
    #[arg(long, default_value_t = 1.0)]
    warmup_seconds: f64,
    /// Rounds; each runs every scenario once, interleaved, and the median round is reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Concurrent connections sending 1-event uploads (a list runs one scenario per value; 0 runs
    /// none).
    #[arg(long, value_delimiter = ',', default_value = "128")]
    single_connections: Vec<usize>,
    /// Concurrent connections sending batched uploads (a list runs one scenario per value; 0 runs
    /// none).
    #[arg(long, value_delimiter = ',', default_value = "8")]
    batch_connections: Vec<usize>,
    /// Events per batched upload.
    #[arg(long, default_value_t = 100)]
    batch_events: usize,
    /// Distinct demo events the bodies are cut from (bodies are reused round-robin with fresh
    /// `insert_id`s).
    #[arg(long, default_value_t = 20_000)]
    pool_events: usize,
    /// Worker threads of the collector's runtime.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
    /// Worker threads of the load generator's runtime.
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// Before each run, wait until the machine's other work uses less than this many cores (the
    /// machine is shared; 0 disables the wait).
    #[arg(long, default_value_t = 0.3)]
    idle_below_cores: f64,
    /// Longest wait for an idle machine before a run starts anyway (its "other processes" column
    /// then shows the interference).
    #[arg(long, default_value_t = 30)]
    idle_timeout_seconds: u64,
    /// A run during which other processes used more than this many cores on average is discarded
    /// and repeated (0 keeps every run).
    #[arg(long, default_value_t = 0.25)]
    max_interference_cores: f64,
    /// Most repeats of one discarded run; the last attempt is kept whatever the interference.
    #[arg(long, default_value_t = 1)]
    max_repeats: usize,
    /// Folder the temporary log folder is created in; must be a real disk (fsync on tmpfs is
    /// free). Default: the system's temporary folder.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// One scenario: a request size at a concurrency.
struct Scenario {
    name: String,
    load: Load,
    rounds: Vec<Measured>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ingest-throughput: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    if args.rounds == 0 || args.batch_events == 0 || args.pool_events < args.batch_events {
        return Err(
            "--rounds and --batch-events must be ≥ 1, --pool-events ≥ --batch-events".into(),
        );
    }
    let events = demo_events(args.pool_events);
    let single = Arc::new(BodyPool::new(&events, 1));
    let batched = Arc::new(BodyPool::new(&events, args.batch_events));
    drop(events);

    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("sluice-ingest-bench-")
        .tempdir_in(&parent)
        .map_err(|e| format!("creating a folder in {}: {e}", parent.display()))?;
    let server = Server::start(dir.path(), args.server_threads)?;
    let client_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .thread_name(CLIENT_THREAD)
        .enable_all()
        .build()
        .map_err(|e| format!("client runtime: {e}"))?;

    let next_id = Arc::new(AtomicU64::new(0));
    let load = |bodies: &Arc<BodyPool>, connections: usize| Load {
        url: server.url.clone(),
        bodies: Arc::clone(bodies),
        connections,
        warmup: Duration::from_secs_f64(args.warmup_seconds),
        duration: Duration::from_secs_f64(args.seconds),
        next_id: Arc::clone(&next_id),
    };
    let mut scenarios: Vec<Scenario> = Vec::new();
    for &connections in args.single_connections.iter().filter(|&&c| c > 0) {
        scenarios.push(Scenario {
            name: "1 event".into(),
            load: load(&single, connections),
            rounds: Vec::new(),
        });
    }
    for &connections in args.batch_connections.iter().filter(|&&c| c > 0) {
        scenarios.push(Scenario {
            name: format!("{} events", args.batch_events),
            load: load(&batched, connections),
            rounds: Vec::new(),
        });
    }

    println!(
        "collector at {} (log in {}), server {} threads, client {} threads, {} cores",
        server.url,
        dir.path().display(),
        args.server_threads,
        args.client_threads,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!(
        "bodies: {} × 1 event ({} B mean), {} × {} events ({} B mean); {} s measured after {} s \
         warm-up, {} rounds, scenarios interleaved",
        single.len(),
        single.mean_bytes(),
        batched.len(),
        args.batch_events,
        batched.mean_bytes(),
        args.seconds,
        args.warmup_seconds,
        args.rounds,
    );
    // Every run's accepted events, discarded runs included: the log must hold them all.
    let mut totals = Totals::default();
    for round in 1..=args.rounds {
        for scenario in &mut scenarios {
            let measured = measure(args, &client_runtime, &server, round, scenario, &mut totals);
            scenario.rounds.push(measured);
        }
    }

    println!();
    print_tables(&scenarios);
    verify(&server, totals)?;
    server.stop();
    Ok(())
}

/// Accepted events and failed requests over every run.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    acked: u64,
    failures: u64,
}

/// One round of `scenario`: runs it, and runs it again while other processes disturbed it (up to
/// `--max-repeats` times).
fn measure(
    args: &Args,
    runtime: &Runtime,
    server: &Server,
    round: usize,
    scenario: &Scenario,
    totals: &mut Totals,
) -> Measured {
    let mut repeats = 0;
    loop {
        let measured = measure_once(args, runtime, &scenario.load, server);
        totals.acked += measured.acked_events;
        totals.failures += measured.failures;
        let disturbed = args.max_interference_cores > 0.0
            && measured.cpu.interference_cores(measured.seconds) > args.max_interference_cores;
        let repeat = disturbed && repeats < args.max_repeats;
        println!(
            "round {round}: {:>10} × {:>3} conn  {}{}",
            scenario.name,
            scenario.load.connections,
            summary(&measured),
            if repeat {
                "  (discarded: other processes were busy)"
            } else {
                ""
            }
        );
        if !repeat {
            return measured;
        }
        repeats += 1;
    }
}

/// Waits for a quiet machine (if asked to), then runs `load` once.
fn measure_once(args: &Args, runtime: &Runtime, load: &Load, server: &Server) -> Measured {
    let idle_timeout = Duration::from_secs(args.idle_timeout_seconds);
    if args.idle_below_cores > 0.0 && !cpu::wait_until_idle(args.idle_below_cores, idle_timeout) {
        eprintln!("the machine is still busy after {idle_timeout:?}; measuring anyway");
    }
    runtime.block_on(client::run(load, server))
}

fn summary(m: &Measured) -> String {
    let failed = match &m.first_failure {
        Some(reason) => format!("  {} FAILED, first: {reason}", m.failures),
        None => String::new(),
    };
    format!(
        "{:>8.0} req/s {:>9.0} events/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  \
         {:>5.0} events/fsync  busy {:.2} cores (others {:.2}){failed}",
        m.requests_per_second(),
        m.events_per_second(),
        m.latency_ms(0.5),
        m.latency_ms(0.99),
        m.latency_ms(1.0),
        m.events as f64 / m.fsyncs.count.max(1) as f64,
        m.cpu.machine / m.seconds,
        m.cpu.interference_cores(m.seconds),
    )
}

/// Markdown tables of each scenario's median round (by accepted events/s).
fn print_tables(scenarios: &[Scenario]) {
    let medians: Vec<(&Scenario, &Measured)> = scenarios
        .iter()
        .map(|s| {
            let mut rounds: Vec<&Measured> = s.rounds.iter().collect();
            rounds.sort_by(|a, b| a.events_per_second().total_cmp(&b.events_per_second()));
            (s, rounds[rounds.len() / 2])
        })
        .collect();
    println!(
        "| request | connections | requests/s | accepted events/s | p50 (ms) | p99 (ms) | max (ms) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (s, m) in &medians {
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} |",
            s.name,
            s.load.connections,
            m.requests_per_second(),
            m.events_per_second(),
            m.latency_ms(0.5),
            m.latency_ms(0.99),
            m.latency_ms(1.0),
        );
    }
    println!();
    println!(
        "| request | connections | events/fsync | fsyncs/s | write+fsync mean (ms) | \
         server CPU (µs/event) | log writer CPU (µs/event) | client CPU (µs/event) | \
         machine busy (cores) | other processes (cores) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (s, m) in &medians {
        let per_event = |seconds: f64| seconds * 1e6 / m.events.max(1) as f64;
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} |",
            s.name,
            s.load.connections,
            m.events as f64 / m.fsyncs.count.max(1) as f64,
            m.fsyncs.count as f64 / m.seconds,
            m.fsyncs.seconds * 1e3 / m.fsyncs.count.max(1) as f64,
            per_event(m.cpu.server),
            per_event(m.cpu.writer),
            per_event(m.cpu.client),
            m.cpu.machine / m.seconds,
            m.cpu.interference_cores(m.seconds),
        );
    }
    println!();
}

/// The log must hold exactly the acknowledged events, each `insert_id` once.
fn verify(server: &Server, totals: Totals) -> Result<(), String> {
    let Totals { acked, failures } = totals;
    let (durable_end, mut ids) = server.read_back()?;
    let read = ids.len() as u64;
    ids.sort_unstable();
    ids.dedup();
    let distinct = ids.len() as u64;
    println!(
        "log check: {acked} events acknowledged, durable end {durable_end}, {read} records read \
         back, {distinct} distinct insert_ids, {failures} failed requests"
    );
    if durable_end != acked || read != acked || distinct != acked {
        return Err(format!(
            "the log does not hold exactly the acknowledged events ({acked} acknowledged, \
             durable end {durable_end}, {read} read, {distinct} distinct)"
        ));
    }
    Ok(())
}
