//! `kafka-throughput`: events per second through the scale-out path, end to end:
//! HTTP → `sluice serve --kafka-brokers` → tansu (a Kafka-protocol broker) → `sluice load` → Parquet.
//!
//! Everything runs as real processes on this machine: a tansu broker (in-memory storage) on a free
//! loopback port, one collector, `--loaders` loaders in one consumer group, and a load generator in
//! this process keeping `--connections` keep-alive connections busy with 100-event demo uploads for
//! `--seconds`. Reported:
//! - **accepted/s**: events acknowledged by the collector (Kafka confirmed each) per second;
//! - **end to end/s**: acknowledged events divided by the time from the first request until the
//!   last of them is in a Parquet file (rows counted from the files' footers);
//! - the loaders' catch-up time after the load stops, and the exact check: rows in Parquet equal
//!   acknowledged events.
//!
//! Usage: `cargo build --release --bin sluice && cargo run --release -p sluice-benches --bin
//! kafka-throughput -- [--help]` (needs `tansu` on PATH or in ~/.cargo/bin:
//! `bash scripts/install-test-deps.sh`).

// The upload bodies of `ingest-throughput`; its check helpers are not used here.
#[path = "../ingest_throughput/bodies.rs"]
#[allow(dead_code)]
mod bodies;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use parquet::file::reader::{FileReader, SerializedFileReader};

use bodies::{BodyPool, demo_events};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Measures events/s from HTTP through Kafka (tansu) into Parquet.
#[derive(Parser)]
struct Args {
    /// Seconds of load.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Concurrent connections sending batched uploads.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Events per upload.
    #[arg(long, default_value_t = 100)]
    batch_events: usize,
    /// Offered load in events/s, paced evenly over the connections (0: each connection sends its
    /// next upload as soon as the last is answered, i.e. as fast as the collector accepts).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Loaders in the consumer group.
    #[arg(long, default_value_t = 1)]
    loaders: usize,
    /// Extra producer settings for the collector (`key=value`, repeatable), passed on as
    /// `sluice serve --kafka-config`.
    #[arg(long)]
    kafka_config: Vec<String>,
    /// Whether the collector copies quarantined events and property updates to their side topics
    /// (`sluice serve --kafka-side-topics`, off by default as there).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    side_topics: bool,
    /// Distinct demo events the bodies are cut from.
    #[arg(long, default_value_t = 20_000)]
    pool_events: usize,
    /// The `sluice` binary to run.
    #[arg(long, default_value = "target/release/sluice")]
    sluice: PathBuf,
    /// Longest wait for the loaders to catch up after the load.
    #[arg(long, default_value_t = 300)]
    catch_up_timeout_seconds: u64,
}

const PLAN: &str = "schema/plans/marketplace.toml";

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`.
fn cpu_seconds(process: &Process) -> f64 {
    proc_cpu_seconds(&process.0.id().to_string())
}

/// CPU seconds used so far by `/proc/<pid>` (`self` for this process).
fn proc_cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields after the command name (which ends with ')'): utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // Clock ticks are 100 per second on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn tansu() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([home.join(".cargo/bin")])
        .map(|dir| dir.join("tansu"))
        .find(|p| p.is_file())
        .expect("tansu is not installed: bash scripts/install-test-deps.sh")
}

fn start_broker(dir: &Path) -> (Process, String) {
    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let log = std::fs::File::create(dir.join("tansu.log")).expect("tansu log");
    let child = Command::new(tansu())
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", "memory://tansu/"])
        .env("RUST_LOG", "warn")
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("starting tansu");
    let address = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&address).is_err() {
        assert!(Instant::now() < deadline, "tansu did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Process(child), address)
}

fn start_collector(args: &Args, dir: &Path, broker: &str) -> (Process, String) {
    let mut child = Command::new(&args.sluice)
        .args(["serve", "--listen", "127.0.0.1:0", "--throttle-eps", "0"])
        .args(["--kafka-brokers", broker, "--tracking-plan", PLAN])
        .args(["--kafka-partitions", &args.partitions.to_string()])
        .arg("--api-key")
        .arg(format!("{}=marketplace", sluice_ingest::demo::DEMO_API_KEY))
        .arg("--data-dir")
        .arg(dir.join("collector"))
        .args(
            args.kafka_config
                .iter()
                .flat_map(|setting| ["--kafka-config", setting.as_str()]),
        )
        // Only when on, so that builds without the flag can still be compared with `--sluice`.
        .args(args.side_topics.then_some("--kafka-side-topics=true"))
        .env("SLUICE_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting sluice serve (build it: cargo build --release --bin sluice)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("reading sluice's first line");
    let url = line
        .trim()
        .strip_prefix("sluice listening on ")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .to_owned();
    (Process(child), url)
}

fn start_loader(args: &Args, data: &Path, broker: &str, n: usize) -> Process {
    let log = std::fs::File::create(data.with_file_name(format!("loader-{n}.log"))).expect("log");
    let child = Command::new(&args.sluice)
        .args(["load", "--kafka-brokers", broker, "--tracking-plan", PLAN])
        .args([
            "--compact-interval-secs",
            "0",
            "--flush-interval-ms",
            "2000",
        ])
        .arg("--data-dir")
        .arg(data)
        .env("SLUICE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting sluice load");
    Process(child)
}

/// Rows in every Parquet file of the dataset (both datasets), from the footers.
fn rows_in_parquet(data: &Path) -> u64 {
    let mut rows = 0;
    for dataset in ["events", "quarantine"] {
        let Ok(partitions) = std::fs::read_dir(data.join(dataset)) else {
            continue;
        };
        for partition in partitions.flatten().filter(|p| p.path().is_dir()) {
            for file in std::fs::read_dir(partition.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let path = file.path();
                if path.extension().is_none_or(|e| e != "parquet") {
                    continue;
                }
                if let Ok(reader) = std::fs::File::open(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|f| SerializedFileReader::new(f).map_err(|e| e.to_string()))
                {
                    rows += reader.metadata().file_metadata().num_rows() as u64;
                }
            }
        }
    }
    rows
}

async fn connection(
    url: String,
    bodies: Arc<BodyPool>,
    next_id: Arc<AtomicU64>,
    stop: Instant,
    first: usize,
    period: Option<Duration>,
) -> (u64, u64) {
    let mut pace = period.map(|p| {
        let mut interval = tokio::time::interval(p);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .build()
        .expect("client");
    let events = bodies.events_per_body() as u64;
    let (mut acked, mut failed) = (0, 0);
    for index in first.. {
        if let Some(pace) = pace.as_mut() {
            pace.tick().await;
        }
        if Instant::now() >= stop {
            break;
        }
        let body = bodies.stamped(index, next_id.fetch_add(events, Ordering::Relaxed));
        let ok = match client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
        {
            Ok(response) => response.status() == 200 && response.bytes().await.is_ok(),
            Err(_) => false,
        };
        if ok {
            acked += events;
        } else {
            failed += 1;
        }
    }
    (acked, failed)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    eprintln!("preparing {} demo events…", args.pool_events);
    let bodies = Arc::new(BodyPool::new(
        &demo_events(args.pool_events),
        args.batch_events,
    ));
    let (broker_process, broker) = start_broker(dir.path());
    let (collector, url) = start_collector(&args, dir.path(), &broker);
    let loaders: Vec<Process> = (0..args.loaders)
        .map(|n| start_loader(&args, &data, &broker, n))
        .collect();
    // Let the group form and the producer connect.
    std::thread::sleep(Duration::from_secs(3));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client_cpu_at_start = proc_cpu_seconds("self");
    let started = Instant::now();
    let stop = started + Duration::from_secs_f64(args.seconds);
    let next_id = Arc::new(AtomicU64::new(0));
    let stride = bodies.len() / args.connections.max(1);
    let period = (args.rate > 0).then(|| {
        Duration::from_secs_f64((args.connections * args.batch_events) as f64 / args.rate as f64)
    });
    let (acked, failed) = runtime.block_on(async {
        let tasks: Vec<_> = (0..args.connections)
            .map(|i| {
                tokio::spawn(connection(
                    format!("{url}/2/httpapi"),
                    Arc::clone(&bodies),
                    Arc::clone(&next_id),
                    stop,
                    i * stride,
                    period,
                ))
            })
            .collect();
        let (mut acked, mut failed) = (0, 0);
        for task in tasks {
            let (a, f) = task.await.expect("connection task");
            acked += a;
            failed += f;
        }
        (acked, failed)
    });
    let load_seconds = started.elapsed().as_secs_f64();
    let client_cpu = proc_cpu_seconds("self") - client_cpu_at_start;
    let rows_at_load_end = rows_in_parquet(&data);
    let deadline = Instant::now() + Duration::from_secs(args.catch_up_timeout_seconds);
    let mut rows = rows_in_parquet(&data);
    while rows < acked && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        rows = rows_in_parquet(&data);
    }
    let end_to_end_seconds = started.elapsed().as_secs_f64();
    let offered = match args.rate {
        0 => "as fast as accepted".to_owned(),
        rate => format!("{rate} events/s offered"),
    };
    println!(
        "connections {} × {}-event uploads ({offered}), {} partitions, {} loader(s), {:.0} s of load",
        args.connections, args.batch_events, args.partitions, args.loaders, args.seconds
    );
    println!(
        "accepted:    {acked} events, {:.0} events/s ({failed} failed requests)",
        acked as f64 / load_seconds
    );
    println!(
        "end to end:  {:.0} events/s into Parquet (last event stored {:.1} s after the load stopped)",
        acked as f64 / end_to_end_seconds,
        end_to_end_seconds - load_seconds
    );
    println!(
        "loaders:     {:.0} events/s while catching up alone ({} events in Parquet when the load stopped)",
        (rows - rows_at_load_end) as f64 / (end_to_end_seconds - load_seconds),
        rows_at_load_end
    );
    let per_event = |seconds: f64| seconds * 1e6 / acked.max(1) as f64;
    let loader_cpu: f64 = loaders.iter().map(cpu_seconds).sum();
    println!(
        "CPU per event (µs): collector {:.1}, broker {:.1}, loaders {:.1}, load generator {:.1}",
        per_event(cpu_seconds(&collector)),
        per_event(cpu_seconds(&broker_process)),
        per_event(loader_cpu),
        per_event(client_cpu)
    );
    println!("check:       {rows} rows in Parquet for {acked} acknowledged events");
    if rows == acked && failed == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("MISMATCH: rows in Parquet differ from acknowledged events, or requests failed");
        ExitCode::FAILURE
    }
}
