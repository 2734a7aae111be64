//! A real Kafka-protocol broker (tansu) and `sluice load` processes for the Kafka-path tests.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The tansu binary: on PATH or in cargo's bin folder (`scripts/install-test-deps.sh` installs it).
fn tansu_binary() -> PathBuf {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_default();
    let candidates = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([cargo_home.join("bin")]);
    for dir in candidates {
        let candidate = dir.join("tansu");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("tansu is not installed: run `bash scripts/install-test-deps.sh` (or scripts/test.sh)")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tansu broker on a loopback port; with a folder, its data (sqlite) survives a restart.
pub(crate) struct Broker {
    child: Option<Child>,
    port: u16,
    storage: String,
    /// The broker's working folder (tansu resolves `sqlite://` paths relative to it).
    dir: PathBuf,
    log: PathBuf,
}

impl Broker {
    /// A broker keeping everything in memory (its log in `dir`).
    pub(crate) fn in_memory(dir: &Path) -> Broker {
        Broker::start("memory://tansu/".to_owned(), dir)
    }

    /// A broker storing topics and offsets in `dir/tansu.db`.
    pub(crate) fn on_disk(dir: &Path) -> Broker {
        Broker::start("sqlite://tansu.db".to_owned(), dir)
    }

    fn start(storage: String, dir: &Path) -> Broker {
        let mut broker = Broker {
            child: None,
            port: free_port(),
            storage,
            dir: dir.to_path_buf(),
            log: dir.join("tansu.log"),
        };
        broker.restart();
        broker
    }

    /// `127.0.0.1:PORT`.
    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker with SIGKILL.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Starts the broker (again) on the same port and storage, and waits until it listens.
    pub(crate) fn restart(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        let url = format!("tcp://{}", self.address());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(tansu_binary())
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", &self.storage])
            .env("RUST_LOG", "warn")
            .current_dir(&self.dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting tansu");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(self.address()).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {}",
                self.address()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `sluice load`, its log in a file.
pub(crate) struct LoaderProcess {
    child: Child,
    pub(crate) log: PathBuf,
}

impl LoaderProcess {
    /// Starts `sluice load` against `broker` into `data_dir`; `name` names its log file.
    pub(crate) fn start(broker: &str, data_dir: &Path, name: &str, extra: &[&str]) -> Self {
        LoaderProcess::start_crashing_at(broker, data_dir, name, extra, None)
    }

    /// The same, aborting at the crash point `crash_at` (`SLUICE_CRASH_AT`) if given.
    pub(crate) fn start_crashing_at(
        broker: &str,
        data_dir: &Path,
        name: &str,
        extra: &[&str],
        crash_at: Option<&str>,
    ) -> Self {
        let log = data_dir
            .parent()
            .unwrap()
            .join(format!("loader-{name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("load")
            .args(["--kafka-brokers", broker, "--kafka-partitions", "4"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--flush-interval-ms", "300"])
            .args(extra)
            .env("SLUICE_LOG", "info,sluice_ingest=debug")
            .env("SLUICE_CRASH_AT", crash_at.unwrap_or_default())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("starting sluice load");
        LoaderProcess { child, log }
    }

    /// Waits until the process exits by itself (e.g. at a crash point), at most `timeout`.
    pub(crate) fn wait_for_exit(mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the loader did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The loader's log so far (for a failure message: the test's folder goes with it).
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many lines of its log contain `text`.
    pub(crate) fn log_lines_with(&self, text: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(text))
            .count()
    }

    /// SIGKILL.
    pub(crate) fn kill_hard(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// The partitions it was last assigned, from its log.
    pub(crate) fn assigned(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.log).ok()?;
        text.lines()
            .rev()
            .find(|l| l.contains("partitions assigned"))
            .map(str::to_owned)
    }
}

impl Drop for LoaderProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) const KEY: &str = "kafka-key";
pub(crate) const BATCH: usize = 50;

/// What a posting client learned: ids acknowledged with 200, and every id it ever sent.
#[derive(Default)]
pub(crate) struct Sent {
    pub(crate) acked: Vec<String>,
    pub(crate) sent: Vec<String>,
    pub(crate) failures: usize,
}

/// Posts 50-event batches as `client` (ids `<client>-b<n>-e<i>`) to the collector urls (round robin) until `stop`; a failed
/// request is not retried (its events may or may not be stored, but never twice).
pub(crate) async fn post_until(
    urls: Vec<String>,
    client: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
    sent: Arc<Mutex<Sent>>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    for n in 0.. {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let url = &urls[n % urls.len()];
        let ids: Vec<String> = (0..BATCH).map(|i| format!("{client}-b{n}-e{i}")).collect();
        let events: Vec<Value> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                json!({"event_type": "Service Viewed", "device_id": format!("device-{client}-{}", i % 7),
                    "time": 1_767_225_600_000_i64 + n as i64 * 1000 + i as i64, "insert_id": id,
                    "event_properties": {"category": "design"}})
            })
            .collect();
        sent.lock().unwrap().sent.extend(ids.iter().cloned());
        let body = json!({"api_key": KEY, "events": events});
        let acked = match http
            .post(format!("{url}/2/httpapi"))
            .json(&body)
            .send()
            .await
        {
            Ok(response) if response.status() == 200 => response
                .json::<Value>()
                .await
                .is_ok_and(|answer| answer["code"] == 200),
            _ => false,
        };
        if acked {
            sent.lock().unwrap().acked.extend(ids);
            // About 10 requests/s per client: enough traffic, and a 30 s outage spools a
            // backlog a broker on sqlite forwards in seconds.
            tokio::time::sleep(Duration::from_millis(100)).await;
        } else {
            sent.lock().unwrap().failures += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Creates the events topic (4 partitions, as the tests' collectors and loaders use).
pub(crate) async fn create_events_topic(broker: &str) {
    let mut settings = sluice_ingest::kafka::KafkaSettings::new(broker);
    settings.partitions = 4;
    settings
        .ensure_topic(Duration::from_secs(30))
        .await
        .expect("creating the events topic");
}

/// Produces `events` to `partition` of the events topic as one record each, sent together so
/// the broker stores them as one batch, and waits until they are acknowledged.
pub(crate) fn produce_one_batch(broker: &str, partition: i32, events: &[Value]) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker)
        // As the collector produces (sluice_ingest::kafka::KafkaLog).
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "1000")
        .create()
        .unwrap();
    for event in events {
        let payload = event.to_string();
        producer
            .send(
                BaseRecord::<(), _>::to(sluice_ingest::kafka::DEFAULT_TOPIC)
                    .partition(partition)
                    .payload(&payload),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// Commits `offset` of `partition` of the events topic for the loaders' consumer group, as a
/// loader that stopped there would have.
pub(crate) fn commit_loader_offset(broker: &str, partition: i32, offset: i64) {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", sluice_ingest::loader::LOADER_GROUP)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(
        sluice_ingest::kafka::DEFAULT_TOPIC,
        partition,
        Offset::Offset(offset),
    )
    .unwrap();
    consumer.commit(&list, CommitMode::Sync).unwrap();
}
