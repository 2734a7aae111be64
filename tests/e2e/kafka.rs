//! The scale-out path on a real Kafka-protocol broker (tansu): collectors → Kafka → `sluice load`
//! consumer groups → Parquet, and its faults, each with exact accounting: every acknowledged event
//! is stored exactly once, and nothing is stored twice.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Server, assert_stored_once, eventually, stored_insert_ids};
use support::{Broker, KEY, LoaderProcess, Sent, post_until};

/// `sluice serve` producing to `broker`, its spool in `spool`, serving queries over `data`.
fn collector(data: &Path, spool: &Path, broker: &str) -> Server {
    Server::start(
        data,
        &[
            "--api-key",
            KEY,
            "--time-zone",
            "UTC",
            "--kafka-brokers",
            broker,
            "--kafka-partitions",
            "4",
            "--kafka-delivery-timeout-ms",
            "3000",
            "--spool-dir",
            spool.to_str().unwrap(),
        ],
    )
}

/// A deterministic marketplace-like dataset: 240 people, each with up to 5 visits through
/// category → service → purchase, some steps skipped, some repeated, 4 categories, 2 days.
fn funnel_dataset() -> Vec<Vec<Value>> {
    let mut seed: u64 = 0x5eed_cafe;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let categories = ["design", "translation", "video", "marketing"];
    let start = 1_768_003_200_000_i64; // 2026-01-10T00:00:00Z
    (0..240)
        .map(|person| {
            let mut events = Vec::new();
            let mut time = start + next(36 * 3_600_000) as i64;
            for visit in 0..=next(5) {
                let category = categories[next(4) as usize];
                for (step, event_type) in
                    ["Category Viewed", "Service Viewed", "Purchase Completed"]
                        .iter()
                        .enumerate()
                {
                    if step > 0 && next(3) == 0 {
                        break;
                    }
                    time += next(40 * 60_000) as i64;
                    events.push(json!({
                        "user_id": format!("user-{person}"),
                        "device_id": format!("device-{person}"),
                        "event_type": event_type,
                        "time": time,
                        "insert_id": format!("p{person}-v{visit}-s{step}"),
                        "event_properties": {"category": category},
                        "platform": if person % 3 == 0 { "iOS" } else { "Web" },
                    }));
                }
            }
            events
        })
        .collect()
}

fn funnel_spec() -> Value {
    json!({
        "version": 1,
        "analysis": "funnel",
        "date_range": {"from": "2026-01-10", "to": "2026-01-12"},
        "time_zone": "UTC",
        "steps": [{"event_type": "Category Viewed"}, {"event_type": "Service Viewed"},
                  {"event_type": "Purchase Completed"}],
        "conversion_window": {"value": 1, "unit": "day"},
        "breakdown": {"kind": "event", "property": "category"},
    })
}

async fn post(http: &reqwest::Client, url: &str, events: &[Value]) {
    let response = http
        .post(format!("{url}/2/httpapi"))
        .json(&json!({"api_key": KEY, "events": events}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

async fn query(http: &reqwest::Client, url: &str, spec: &Value) -> Value {
    let response = http
        .post(format!("{url}/api/v1/query"))
        .json(spec)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Waits until every id in `expected` is stored under `data`, then returns how often each is.
/// On timeout it fails with what is missing and the tails of the logs beside `data` (the
/// loaders', the broker's): the test's folder is deleted with it.
async fn wait_for_ids(
    data: &Path,
    expected: &[String],
    timeout: Duration,
) -> BTreeMap<String, usize> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let stored = stored_insert_ids(data);
        let missing: Vec<&String> = expected
            .iter()
            .filter(|id| !stored.contains_key(*id))
            .collect();
        if missing.is_empty() {
            return stored;
        }
        if std::time::Instant::now() >= deadline {
            panic!(
                "after {timeout:?}, {} of {} acknowledged events are not in Parquet (e.g. {:?}); \
                 {} stored\n{}",
                missing.len(),
                expected.len(),
                &missing[..missing.len().min(5)],
                stored.len(),
                log_tails(data.parent().unwrap(), 60)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last `lines` lines of every `*.log` file in `dir`, each under its name.
fn log_tails(dir: &Path, lines: usize) -> String {
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    let mut out = String::new();
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let tail = &all[all.len().saturating_sub(lines)..];
        out += &format!(
            "--- {} (last {} lines)\n{}\n",
            log.display(),
            tail.len(),
            tail.join("\n")
        );
    }
    out
}

/// Every acknowledged id stored exactly once; nothing stored twice; nothing stored that was
/// never sent.
fn assert_exactly_once(stored: &BTreeMap<String, usize>, sent: &Sent) {
    assert_stored_once(stored, &sent.acked);
    let sent_ids: std::collections::BTreeSet<&String> = sent.sent.iter().collect();
    let unknown: Vec<_> = stored.keys().filter(|id| !sent_ids.contains(id)).collect();
    assert!(
        unknown.is_empty(),
        "stored but never sent: {:?}",
        unknown.first()
    );
}

/// Starts `clients` posting loops against `urls`; returns the stop flag, the shared record and
/// the tasks.
fn start_clients(
    urls: Vec<String>,
    clients: usize,
    run: &str,
) -> (
    Arc<AtomicBool>,
    Arc<Mutex<Sent>>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(Mutex::new(Sent::default()));
    let tasks = (0..clients)
        .map(|c| {
            tokio::spawn(post_until(
                urls.clone(),
                format!("{run}{c}"),
                Arc::clone(&stop),
                Arc::clone(&sent),
            ))
        })
        .collect();
    (stop, sent, tasks)
}

async fn stop_clients(stop: &AtomicBool, tasks: Vec<tokio::task::JoinHandle<()>>) {
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
}

fn acked(sent: &Mutex<Sent>) -> usize {
    sent.lock().unwrap().acked.len()
}

/// What the clients sent, once they are stopped.
fn into_sent(sent: Arc<Mutex<Sent>>) -> Sent {
    Arc::try_unwrap(sent).ok().unwrap().into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_collectors_and_two_loaders_answer_like_the_embedded_path() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::in_memory(dir.path());
    let data = dir.path().join("data");
    let c1 = collector(&data, &dir.path().join("spool-1"), &broker.address());
    let c2 = collector(&data, &dir.path().join("spool-2"), &broker.address());
    let l1 = LoaderProcess::start(&broker.address(), &data, "1", &["--time-zone", "UTC"]);
    let l2 = LoaderProcess::start(&broker.address(), &data, "2", &["--time-zone", "UTC"]);
    let embedded_dir = dir.path().join("embedded");
    let embedded = Server::start(&embedded_dir, &["--api-key", KEY, "--time-zone", "UTC"]);

    let http = reqwest::Client::new();
    let people = funnel_dataset();
    let mut ids = Vec::new();
    for (n, events) in people.iter().enumerate() {
        let kafka_url = if n % 2 == 0 {
            &c1.base_url
        } else {
            &c2.base_url
        };
        post(&http, kafka_url, events).await;
        post(&http, &embedded.base_url, events).await;
        ids.extend(
            events
                .iter()
                .map(|e| e["insert_id"].as_str().unwrap().to_owned()),
        );
    }
    assert!(ids.len() > 1_000, "{} events", ids.len());

    let stored = wait_for_ids(&data, &ids, Duration::from_secs(90)).await;
    assert!(stored.values().all(|n| *n == 1) && stored.len() == ids.len());
    wait_for_ids(&embedded_dir, &ids, Duration::from_secs(30)).await;

    let through_kafka = query(&c1.client(), &c1.base_url, &funnel_spec()).await;
    let embedded_answer = query(&embedded.client(), &embedded.base_url, &funnel_spec()).await;
    assert_eq!(through_kafka["overall"], embedded_answer["overall"]);
    assert_eq!(
        through_kafka["by_breakdown"],
        embedded_answer["by_breakdown"]
    );
    let first_step = through_kafka["overall"]["steps"][0]["persons"]
        .as_u64()
        .unwrap();
    assert_eq!(first_step, 240, "{through_kafka}");

    // Both loaders of the group loaded a share of the partitions.
    for loader in [&l1, &l2] {
        let assigned = loader.assigned().unwrap_or_default();
        assert!(
            !assigned.contains("now=[]") && assigned.contains("now=["),
            "{}: {assigned:?}",
            loader.log.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_down_for_30_s_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::on_disk(dir.path());
    let data = dir.path().join("data");
    let spool = dir.path().join("spool");
    let server = collector(&data, &spool, &broker.address());
    let _loader = LoaderProcess::start(&broker.address(), &data, "1", &[]);
    let (stop, sent, clients) = start_clients(vec![server.base_url.clone()], 3, "k");

    eventually(
        Duration::from_secs(60),
        "events flowing into Parquet",
        async || (acked(&sent) >= 3_000 && !stored_insert_ids(&data).is_empty()).then_some(()),
    )
    .await;
    broker.kill();
    let before_outage = acked(&sent);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let during_outage = acked(&sent) - before_outage;
    assert!(
        during_outage >= 1_000,
        "only {during_outage} events acknowledged while the broker was down"
    );
    broker.restart();
    let after_restart = acked(&sent);
    eventually(
        Duration::from_secs(60),
        "events acknowledged after the broker came back",
        async || (acked(&sent) >= after_restart + 2_000).then_some(()),
    )
    .await;
    stop_clients(&stop, clients).await;

    let sent = into_sent(sent);
    let stored = wait_for_ids(&data, &sent.acked, Duration::from_secs(120)).await;
    assert_exactly_once(&stored, &sent);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loader_killed_9_mid_file_redoes_its_batch_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::in_memory(dir.path());
    let data = dir.path().join("data");
    let server = collector(&data, &dir.path().join("spool"), &broker.address());
    let (stop, sent, clients) = start_clients(vec![server.base_url.clone()], 3, "k");

    // Exactly mid-file (a temp file written, not yet fsync'd or renamed), then exactly after the
    // files and state but before the offset commit: each loader aborts on its first batch.
    for crash_at in ["loader-mid-file", "loader-before-commit"] {
        LoaderProcess::start_crashing_at(&broker.address(), &data, "1", &[], Some(crash_at))
            .wait_for_exit(Duration::from_secs(60));
    }
    // Then three times: let a loader write files, and kill -9 it at an arbitrary moment.
    for round in 0..3 {
        let loader = LoaderProcess::start(&broker.address(), &data, "1", &[]);
        let stored_before = stored_insert_ids(&data).len();
        let writing = tokio::time::timeout(Duration::from_secs(120), async {
            while stored_insert_ids(&data).len() <= stored_before + 1_000 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        if writing.await.is_err() {
            panic!(
                "round {round}: the loader wrote no files for 120 s; its log:\n{}",
                loader.log_text()
            );
        }
        tokio::time::sleep(Duration::from_millis(137 * (round + 1))).await;
        loader.kill_hard();
    }
    stop_clients(&stop, clients).await;
    let loader = LoaderProcess::start(&broker.address(), &data, "1", &[]);

    let sent = into_sent(sent);
    assert_eq!(sent.failures, 0, "the collector refused requests");
    // The bound only guards against a hang (the last loader catches up in seconds). A loader
    // that skipped the rest of a stored batch after a kill would never finish: see
    // `a_committed_offset_inside_a_stored_batch_loses_nothing`.
    let stored = wait_for_ids(&data, &sent.acked, Duration::from_secs(120)).await;
    assert_exactly_once(&stored, &sent);
    // The loaders after the two crash points found an interrupted batch and redid it.
    assert!(
        loader.log_lines_with("redoing an interrupted batch") >= 2,
        "{}",
        loader.log.display()
    );
    drop(server);
}

/// A loader commits wherever a flush cut the stream, so a committed offset can lie inside a
/// batch the broker stores. tansu's memory engine answers a fetch from there with the batches
/// after it only. The loader must notice and seek back, or it would skip the rest of the batch:
/// on partition 0 the batch is the last one (nothing arrives at all), on partition 1 another
/// follows (the stream arrives, but starts too late).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_offset_inside_a_stored_batch_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::in_memory(dir.path());
    let data = dir.path().join("data");
    support::create_events_topic(&broker.address()).await;
    let events = |partition: i32, batch: usize, count: i64| -> Vec<Value> {
        (0..count)
            .map(|i| {
                let time = 1_768_003_200_000_i64 + i * 1000;
                json!({
                    "project": "default",
                    "event_time": time,
                    "client_event_time": time,
                    "server_received_time": time,
                    "event_type": "Service Viewed",
                    "device_id": format!("device-{partition}"),
                    "insert_id": format!("p{partition}-b{batch}-e{i}"),
                })
            })
            .collect()
    };
    support::produce_one_batch(&broker.address(), 0, &events(0, 0, 10));
    support::produce_one_batch(&broker.address(), 1, &events(1, 0, 10));
    support::produce_one_batch(&broker.address(), 1, &events(1, 1, 3));
    // Offsets 0..6 count as loaded already; 6..10 are the rest of the first stored batch.
    support::commit_loader_offset(&broker.address(), 0, 6);
    support::commit_loader_offset(&broker.address(), 1, 6);
    let loader = LoaderProcess::start(&broker.address(), &data, "1", &[]);

    let mut expected: Vec<String> = (6..10)
        .flat_map(|i| [format!("p0-b0-e{i}"), format!("p1-b0-e{i}")])
        .chain((0..3).map(|i| format!("p1-b1-e{i}")))
        .collect();
    expected.sort();
    let stored = wait_for_ids(&data, &expected, Duration::from_secs(60)).await;
    assert_stored_once(&stored, &expected);
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        expected.iter().collect::<Vec<_>>(),
        "events before the committed offsets were loaded"
    );
    // The case under test happened on both partitions: the broker's stream began after the
    // committed offset. (If this fails, the broker now answers a fetch as Kafka does, and the
    // test no longer tests the seek back.)
    for partition in ["partition=0", "partition=1"] {
        let seeks = loader
            .log_text()
            .lines()
            .filter(|l| l.contains("seeking back") && l.contains(partition))
            .count();
        assert!(
            seeks >= 1,
            "no seek back on {partition}:\n{}",
            loader.log_text()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_killed_9_mid_stream_keeps_every_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::in_memory(dir.path());
    let data = dir.path().join("data");
    let spool = dir.path().join("spool");
    let _loader = LoaderProcess::start(&broker.address(), &data, "1", &[]);
    let server = collector(&data, &spool, &broker.address());
    let (stop, sent, clients) = start_clients(vec![server.base_url.clone()], 4, "a");
    eventually(Duration::from_secs(60), "acknowledged events", async || {
        (acked(&sent) >= 4_000).then_some(())
    })
    .await;
    server.kill_hard();
    stop_clients(&stop, clients).await;

    // A new collector on the same spool; posting goes on.
    let server = collector(&data, &spool, &broker.address());
    let (stop2, sent2, clients2) = start_clients(vec![server.base_url.clone()], 1, "b");
    eventually(
        Duration::from_secs(30),
        "acknowledged events after the restart",
        async || (acked(&sent2) >= 500).then_some(()),
    )
    .await;
    stop_clients(&stop2, clients2).await;

    let mut sent = into_sent(sent);
    let sent2 = into_sent(sent2);
    // Each client's request in flight at the kill fails; none before it.
    assert!(
        sent.failures <= 8,
        "{} failed requests before the kill",
        sent.failures
    );
    sent.acked.extend(sent2.acked);
    sent.sent.extend(sent2.sent);
    let stored = wait_for_ids(&data, &sent.acked, Duration::from_secs(90)).await;
    assert_exactly_once(&stored, &sent);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_answers_503_and_a_returning_broker_drains_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::in_memory(dir.path());
    broker.kill();
    let data = dir.path().join("data");
    // The collector starts while no broker answers, with room for 120 events in its spool.
    let server = Server::start(
        &data,
        &[
            "--api-key",
            KEY,
            "--kafka-brokers",
            &broker.address(),
            "--kafka-partitions",
            "4",
            "--kafka-delivery-timeout-ms",
            "1000",
            "--spool-limit",
            "120",
        ],
    );
    let http = server.client();
    let batch = |n: usize| -> Vec<Value> {
        (0..50)
            .map(|i| json!({"event_type": "Service Viewed", "device_id": format!("device-{}", i % 3),
                "time": 1_767_225_600_000_i64 + (n * 50 + i) as i64, "insert_id": format!("s{n}-{i}")}))
            .collect()
    };
    let mut acked = Vec::new();
    for n in 0..2 {
        post(&http, &server.base_url, &batch(n)).await;
        acked.extend(
            batch(n)
                .iter()
                .map(|e| e["insert_id"].as_str().unwrap().to_owned()),
        );
    }
    let response = http
        .post(format!("{}/2/httpapi", server.base_url))
        .json(&json!({"api_key": KEY, "events": batch(2)}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["code"], 503);
    assert!(
        answer["reason"].as_str().unwrap().contains("spool is full"),
        "{answer}"
    );
    // 20 more events still fit; then the spool is full and the collector not ready.
    let small: Vec<Value> = batch(4).into_iter().take(20).collect();
    post(&http, &server.base_url, &small).await;
    acked.extend(
        small
            .iter()
            .map(|e| e["insert_id"].as_str().unwrap().to_owned()),
    );
    let ready = http
        .get(format!("{}/readyz", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503, "a full spool is not ready");

    // The broker comes back (empty: the topic is created again); the spool drains, the collector
    // takes events again, and a loader stores every acknowledged event once.
    broker.restart();
    let _loader = LoaderProcess::start(&broker.address(), &data, "1", &[]);
    let accepted_again = eventually(
        Duration::from_secs(60),
        "the collector accepting again",
        async || {
            let response = http
                .post(format!("{}/2/httpapi", server.base_url))
                .json(&json!({"api_key": KEY, "events": batch(3)}))
                .send()
                .await
                .unwrap();
            (response.status() == 200).then_some(())
        },
    )
    .await;
    let () = accepted_again;
    acked.extend(
        batch(3)
            .iter()
            .map(|e| e["insert_id"].as_str().unwrap().to_owned()),
    );
    let stored = wait_for_ids(&data, &acked, Duration::from_secs(60)).await;
    assert!(stored.values().all(|n| *n == 1), "stored twice");
    assert!(
        !stored.keys().any(|id| id.starts_with("s2-")),
        "the refused batch was stored"
    );
}

/// The `insert_id`s of every event in `topic` (messages hold one event or an array of them),
/// read from the start by a fresh consumer until `expected` are seen or 60 s pass.
fn insert_ids_in_topic(broker: &str, topic: &str, expected: usize) -> Vec<String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", format!("e2e-reader-{topic}"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut ids = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ids.len() < expected && std::time::Instant::now() < deadline {
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let payload: Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
        let events = match payload {
            Value::Array(events) => events,
            event => vec![event],
        };
        ids.extend(
            events
                .iter()
                .map(|e| e["insert_id"].as_str().unwrap().to_owned()),
        );
    }
    // Anything more that arrives shortly after would be a copy too many.
    let settle = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < settle {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            ids.push(format!("unexpected message at offset {}", message.offset()));
        }
    }
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantined_events_and_property_updates_are_copied_to_their_own_topics() {
    copies_to_side_topics(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn side_topic_copies_of_spooled_events_are_sent_when_the_broker_returns() {
    copies_to_side_topics(true).await;
}

/// Posts planned, unplanned (quarantined) and property-updating events to a collector with side
/// topics on — with the broker down during the post if `outage` (the events are spooled and
/// forwarded when it returns) — and checks exactly which events each topic holds.
async fn copies_to_side_topics(outage: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::on_disk(dir.path());
    let data = dir.path().join("data");
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        "[project]\nname = \"shop\"\n\n[policy]\nunplanned_event = \"reject\"\n\n\
         [events.\"Service Viewed\"]\ndescription = \"A buyer opened a service page.\"\n",
    )
    .unwrap();
    let server = Server::start(
        &data,
        &[
            "--api-key",
            &format!("{KEY}=shop"),
            "--kafka-brokers",
            &broker.address(),
            "--kafka-topic",
            "shop-events",
            "--kafka-side-topics=true",
            "--spool-dir",
            dir.path().join("spool").to_str().unwrap(),
            "--tracking-plan",
            plan.to_str().unwrap(),
            "--kafka-delivery-timeout-ms",
            "3000",
        ],
    );
    if outage {
        broker.kill();
    }
    let t = 1_767_225_600_000_i64;
    let event = |id: &str, event_type: &str, extra: Value| {
        let mut event = json!({"event_type": event_type, "device_id": "device-1",
            "user_id": "user-1", "time": t, "insert_id": id});
        event
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        event
    };
    let events = vec![
        event("planned", "Service Viewed", json!({})),
        event("unplanned", "Promo Clicked", json!({})),
        event(
            "identify",
            "$identify",
            json!({"user_properties": {"$set": {"plan": "pro"}}}),
        ),
        event(
            "set-on-event",
            "Service Viewed",
            json!({"user_properties": {"tier": "gold"}}),
        ),
        event(
            "skip-sync",
            "Service Viewed",
            json!({"user_properties": {"tier": "x"},
            "$skip_user_properties_sync": true}),
        ),
        event(
            "unplanned-with-props",
            "Promo Clicked",
            json!({"user_properties": {"a": 1}}),
        ),
    ];
    let response = reqwest::Client::new()
        .post(format!("{}/2/httpapi", server.base_url))
        .json(&json!({"api_key": KEY, "events": events}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    if outage {
        broker.restart();
    }

    let address = broker.address();
    let (events, quarantine, updates) = tokio::task::spawn_blocking(move || {
        (
            insert_ids_in_topic(&address, "shop-events", 6),
            insert_ids_in_topic(&address, "shop-events-quarantine", 2),
            insert_ids_in_topic(&address, "shop-events-property-updates", 3),
        )
    })
    .await
    .unwrap();
    assert_eq!(
        events,
        [
            "identify",
            "planned",
            "set-on-event",
            "skip-sync",
            "unplanned",
            "unplanned-with-props"
        ]
    );
    assert_eq!(quarantine, ["unplanned", "unplanned-with-props"]);
    assert_eq!(
        updates,
        ["identify", "set-on-event", "unplanned-with-props"]
    );
    drop(server);
}

/// Every record of `topic` (JSON), read from the start until `expected` came and 2 s passed
/// with nothing more.
fn records_in_topic(broker: &str, topic: &str, group: &str, expected: usize) -> Vec<Value> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut records = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while records.len() < expected && std::time::Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
            let mut record: Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
            record["key"] = json!(key);
            records.push(record);
        }
    }
    let settle = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < settle {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            records.push(json!({"unexpected": message.offset()}));
        }
    }
    records
}

/// A cohort synced to a Kafka topic of membership changes on the real broker, through the
/// API of the real binary: first everyone entering, then after a change only who entered and
/// who left; the delivery log over HTTP says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cohort_sync_writes_membership_changes_to_a_kafka_topic() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::in_memory(dir.path());
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--api-key", KEY, "--time-zone", "UTC"]);
    let http = server.client();
    let base = &server.base_url;
    let t = 1_768_003_200_000_i64;
    let users: Vec<String> = (0..4).map(|i| format!("member-{i}")).collect();
    let events: Vec<Value> = users
        .iter()
        .enumerate()
        .map(|(i, user)| {
            json!({"event_type": "Service Viewed", "user_id": user, "device_id": format!("dev-{i}"),
                   "time": t + i as i64, "insert_id": format!("sync-{i}")})
        })
        .collect();
    post(&http, base, &events).await;

    let save_and_compute = async |members: &[String]| {
        let cohort = json!({"definition": {"user_ids": members}});
        let saved = http
            .put(format!("{base}/api/v1/cohorts/members"))
            .json(&cohort)
            .send()
            .await
            .unwrap();
        assert_eq!(saved.status(), 200);
        // Computations are named by their millisecond: keep them apart.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let (status, run) = crate::support::post_json(
            &http,
            &format!("{base}/api/v1/cohorts/members/compute"),
            &json!({"as_of": "2026-01-10"}),
        )
        .await;
        assert_eq!(status, 200, "{run}");
    };
    // The events must be stored before the cohort sees them.
    crate::support::eventually(Duration::from_secs(20), "stored events", async || {
        save_and_compute(&users[..3]).await;
        let (_, shown) = get_json(&http, &format!("{base}/api/v1/cohorts/members")).await;
        (shown["history"].as_array()?.last()?["size"] == 3).then_some(())
    })
    .await;

    let sync = json!({"cohort": "members", "destination": {"kind": "kafka",
        "brokers": broker.address(), "topic": "cohort-changes"}});
    let saved = http
        .put(format!("{base}/api/v1/syncs/to-kafka"))
        .json(&sync)
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200, "{}", saved.text().await.unwrap());
    let run_sync = async || {
        let url = format!("{base}/api/v1/syncs/to-kafka/run");
        crate::support::post_json(&http, &url, &json!({})).await
    };
    let (status, report) = run_sync().await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["outcome"].clone(), report["entered"].clone()),
        (json!("completed"), json!(3))
    );

    save_and_compute(&users[1..]).await;
    let (status, report) = run_sync().await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["entered"].clone(), report["exited"].clone()),
        (json!(1), json!(1))
    );

    let records = tokio::task::spawn_blocking({
        let address = broker.address();
        move || records_in_topic(&address, "cohort-changes", "e2e-cohort-sync", 5)
    })
    .await
    .unwrap();
    let mut changes: Vec<(String, bool, String)> = records
        .iter()
        .map(|r| {
            assert_eq!(r["cohort_name"], json!("members"), "{r}");
            assert_eq!(r["key"], r["user_id"], "{r}");
            (
                r["user_id"].as_str().unwrap().to_owned(),
                r["in_cohort"].as_bool().unwrap(),
                r["message_id"]
                    .as_str()
                    .unwrap()
                    .split("::")
                    .nth(2)
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    changes.sort();
    let change = |i: usize, in_cohort: bool| {
        let side = if in_cohort { "enter" } else { "exit" };
        (users[i].clone(), in_cohort, side.to_owned())
    };
    assert_eq!(
        changes,
        vec![
            change(0, false),
            change(0, true),
            change(1, true),
            change(2, true),
            change(3, true),
        ]
    );

    let (status, log) = get_json(&http, &format!("{base}/api/v1/syncs/to-kafka/log")).await;
    assert_eq!(status, 200);
    let completed = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "sync" && e["completed"] == true)
        .count();
    assert_eq!(completed, 2, "{log}");
    // The config comes back as saved, and an unknown sync is a 404.
    let (_, shown) = get_json(&http, &format!("{base}/api/v1/syncs/to-kafka")).await;
    assert_eq!(
        shown["sync"]["destination"]["topic"],
        json!("cohort-changes")
    );
    let (status, _) = get_json(&http, &format!("{base}/api/v1/syncs/nope")).await;
    assert_eq!(status, 404);
    // A sync of a cohort that does not exist is refused, saying which.
    let orphan = http
        .put(format!("{base}/api/v1/syncs/orphan"))
        .json(
            &json!({"cohort": "nobody-made-this", "destination": {"kind": "kafka",
            "brokers": broker.address(), "topic": "cohort-changes"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(orphan.status(), 400);
    let message = orphan.text().await.unwrap();
    assert!(message.contains("nobody-made-this"), "{message}");
}

async fn get_json(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = http.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
