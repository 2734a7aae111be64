//! [`KafkaLog`]: the collectors' event log when Sluice scales out, with a local spool for outages.
//!
//! Two modes, switched under a gate that every append holds for reading:
//! - **direct**: records are produced to Kafka and the append returns once every one of them is
//!   acknowledged by the brokers (`acks=all`, idempotent producer, so retries keep order and do not
//!   duplicate within a producer session);
//! - **spooling**: records are appended to a local durable log (the embedded [`LocalLog`]), which
//!   acknowledges once they are fsync'd; a forwarder thread produces them to Kafka in log order and
//!   commits its position in the spool after delivery.
//!
//! A failed or timed-out delivery, or librdkafka reporting every broker down, switches to spooling
//! (the failed request's records are spooled, so the client still gets its 200). The forwarder
//! switches back only when the brokers answer and, with the gate held for writing (no append in
//! flight), the spool is drained — so a device's events reach Kafka in the order they were
//! accepted. The spool is bounded: beyond its limit appends fail, and the collector answers 503.
//!
//! A delivery whose acknowledgement was lost (the broker died after storing it) is spooled and sent
//! again: Kafka then holds it twice, in the same partition (same key), and the loader's dedup by
//! `insert_id` drops the second copy, as it drops a client's own retries.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use sluice_schema::Event;

use super::{KafkaSettings, kafka_error};
use crate::error::LogError;
use crate::log::{ConsumedRecord, Copies, EventLog, LocalLog, LogConsumer, LogRecord};

/// The spool's consumer group: the forwarder.
const FORWARDER_GROUP: &str = "kafka-forwarder";
/// Records the forwarder sends per round.
const FORWARD_BATCH: usize = 5_000;
/// Delivery timeout of the forwarder's producer: nobody waits on it, and a broker that just came
/// back may be slow for a while.
const FORWARD_DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// Tuning of a [`KafkaLog`].
#[derive(Debug, Clone)]
pub struct KafkaLogOptions {
    /// How long a direct append waits for Kafka's acknowledgement before spooling instead.
    pub delivery_timeout: Duration,
    /// Most events the spool holds (not yet forwarded) before appends fail with 503.
    pub spool_limit: u64,
}

impl Default for KafkaLogOptions {
    fn default() -> Self {
        KafkaLogOptions {
            delivery_timeout: Duration::from_secs(5),
            spool_limit: 10_000_000,
        }
    }
}

/// The Kafka-backed event log (see the module docs).
pub struct KafkaLog {
    shared: Arc<Shared>,
    forwarder: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    settings: KafkaSettings,
    /// Where records go: the events topic, then the side topics if they are on (worked out once,
    /// not per request).
    topics: Vec<Destination>,
    options: KafkaLogOptions,
    /// The producer of direct appends, and the forwarder's (longer delivery timeout); each is
    /// replaced by a new one when librdkafka reports a fatal error.
    producers: [RwLock<Arc<FutureProducer<ProducerEvents>>>; 2],
    /// Set by librdkafka's error callback when every broker is down; cleared by a delivery.
    brokers_down: Arc<AtomicBool>,
    spool: LocalLog,
    spooling: AtomicBool,
    /// Appends hold it for reading; the forwarder takes it for writing to leave spooling mode.
    gate: tokio::sync::RwLock<()>,
    /// Wakes the forwarder when spooling starts, or to stop.
    wake: (Mutex<bool>, Condvar),
}

/// librdkafka's client callbacks: every-broker-down errors turn spooling on at once, instead of
/// letting each request wait for its delivery timeout.
struct ProducerEvents {
    all_brokers_down: Arc<AtomicBool>,
}

impl ClientContext for ProducerEvents {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            if !self.all_brokers_down.swap(true, Ordering::Relaxed) {
                tracing::warn!(reason, "every Kafka broker is down");
            }
            return;
        }
        tracing::debug!(%error, reason, "kafka client error");
    }
}

impl KafkaLog {
    /// Connects a producer to `settings.brokers` (creating the topic if it is missing and the
    /// brokers answer) and opens the spool in `spool`. Starts in spooling mode if the spool still
    /// holds events from before a restart. Must be called inside a Tokio runtime.
    pub async fn open(
        settings: KafkaSettings,
        options: KafkaLogOptions,
        spool: LocalLog,
    ) -> Result<KafkaLog, LogError> {
        if let Err(error) = settings.ensure_topic(Duration::from_secs(10)).await {
            tracing::warn!(%error, "could not make sure the events topic exists; spooling until the brokers answer");
        }
        let brokers_down = Arc::new(AtomicBool::new(false));
        let direct = new_producer(&settings, options.delivery_timeout, &brokers_down)?;
        let forwarding = new_producer(&settings, forward_timeout(&options), &brokers_down)?;
        let backlog = spool.lag(FORWARDER_GROUP)?;
        if backlog > 0 {
            tracing::info!(
                events = backlog,
                "spool holds events from before a restart; forwarding them first"
            );
        }
        let shared = Arc::new(Shared {
            topics: destinations(&settings),
            settings,
            options,
            producers: [
                RwLock::new(Arc::new(direct)),
                RwLock::new(Arc::new(forwarding)),
            ],
            brokers_down,
            spool,
            spooling: AtomicBool::new(backlog > 0),
            gate: tokio::sync::RwLock::new(()),
            wake: (Mutex::new(false), Condvar::new()),
        });
        let runtime = tokio::runtime::Handle::current();
        let forwarder_shared = Arc::clone(&shared);
        let forwarder = std::thread::Builder::new()
            .name("sluice-spool-forwarder".into())
            .spawn(move || forward(&forwarder_shared, &runtime))
            .map_err(|e| LogError::Kafka(format!("starting the spool forwarder: {e}")))?;
        Ok(KafkaLog {
            shared,
            forwarder: Some(forwarder),
        })
    }

    /// Whether appends currently go to the local spool.
    pub fn is_spooling(&self) -> bool {
        self.shared.spooling.load(Ordering::Relaxed)
    }

    /// Events in the spool not yet forwarded to Kafka.
    pub fn spooled(&self) -> u64 {
        self.shared.spool.lag(FORWARDER_GROUP).unwrap_or(0)
    }
}

impl Drop for KafkaLog {
    fn drop(&mut self) {
        *lock(&self.shared.wake.0) = true;
        self.shared.wake.1.notify_all();
        if let Some(forwarder) = self.forwarder.take() {
            let _ = forwarder.join();
        }
    }
}

/// A topic records are produced to.
struct Destination {
    topic: String,
    /// Which records it gets.
    wanted: fn(&Copies) -> bool,
    /// The key its messages are grouped (and keyed) by.
    group: GroupKey,
}

/// The key a record's message is grouped (and keyed) by.
type GroupKey = fn(&LogRecord) -> &str;

/// The events topic gets every record, one message per device; each side topic gets a request's
/// copies in one unkeyed message (it has one partition, so order holds, and a message per device
/// would multiply librdkafka's per-message work for a few events).
fn destinations(settings: &KafkaSettings) -> Vec<Destination> {
    let mut topics = vec![Destination {
        topic: settings.topic.clone(),
        wanted: |_| true,
        group: |r| &r.key,
    }];
    if settings.side_topics {
        topics.push(Destination {
            topic: settings.quarantine_topic(),
            wanted: |c| c.quarantine,
            group: |_| "",
        });
        topics.push(Destination {
            topic: settings.property_updates_topic(),
            wanted: |c| c.property_updates,
            group: |_| "",
        });
    }
    topics
}

/// Which of the two producers.
#[derive(Debug, Clone, Copy)]
enum Role {
    Direct = 0,
    Forward = 1,
}

fn forward_timeout(options: &KafkaLogOptions) -> Duration {
    options.delivery_timeout.max(FORWARD_DELIVERY_TIMEOUT)
}

fn new_producer(
    settings: &KafkaSettings,
    delivery_timeout: Duration,
    brokers_down: &Arc<AtomicBool>,
) -> Result<FutureProducer<ProducerEvents>, LogError> {
    let timeout_ms = delivery_timeout.as_millis().max(1).to_string();
    let config = settings.client_config(&[
        ("enable.idempotence", "true".into()),
        ("acks", "all".into()),
        ("compression.type", "lz4".into()),
        ("linger.ms", "5".into()),
        ("message.timeout.ms", timeout_ms),
        ("queue.buffering.max.messages", "1000000".into()),
    ]);
    config
        .create_with_context(ProducerEvents {
            all_brokers_down: Arc::clone(brokers_down),
        })
        .map_err(|e| kafka_error("creating the producer", &e))
}

impl Shared {
    fn producer(&self, role: Role) -> Arc<FutureProducer<ProducerEvents>> {
        Arc::clone(
            &self.producers[role as usize]
                .read()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    fn brokers_down(&self) -> bool {
        self.brokers_down.load(Ordering::Relaxed)
    }

    /// Produces `records` with `role`'s producer and waits until Kafka acknowledged every one.
    async fn produce_all(&self, role: Role, records: &[LogRecord]) -> Result<(), LogError> {
        let producer = self.producer(role);
        let mut messages: Vec<(&str, &str, Vec<u8>)> = Vec::new();
        for destination in &self.topics {
            let records = records.iter().filter(|r| (destination.wanted)(&r.copies));
            messages.extend(
                grouped_messages(records, destination.group)
                    .into_iter()
                    .map(|(key, payload)| (destination.topic.as_str(), key, payload)),
            );
        }
        let mut deliveries = Vec::with_capacity(messages.len());
        for (topic, key, payload) in &messages {
            loop {
                let message = FutureRecord::to(topic).key(key.as_bytes()).payload(payload);
                match producer.send_result(message) {
                    Ok(delivery) => {
                        deliveries.push(delivery);
                        break;
                    }
                    // librdkafka's queue is full: wait for deliveries to make room.
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    Err((error, _)) => {
                        return Err(self.failed(role, &producer, "producing", &error));
                    }
                }
            }
        }
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => {
                    return Err(self.failed(role, &producer, "delivering", &error));
                }
                Err(_) => return Err(LogError::Kafka("the producer was dropped".into())),
            }
        }
        self.brokers_down.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Turns a producer error into a [`LogError`]; replaces the producer if the error is fatal
    /// (an idempotent producer refuses everything after one).
    fn failed(
        &self,
        role: Role,
        producer: &FutureProducer<ProducerEvents>,
        doing: &str,
        error: &KafkaError,
    ) -> LogError {
        if let Some((code, reason)) = producer.client().fatal_error() {
            tracing::error!(%code, reason, "fatal producer error");
            self.replace_producer(role);
        }
        kafka_error(doing, error)
    }

    /// Starts a new producer (a new idempotent producer id, sequence numbers from zero) in place
    /// of the current one; appends in flight finish on the old one.
    fn replace_producer(&self, role: Role) {
        let timeout = match role {
            Role::Direct => self.options.delivery_timeout,
            Role::Forward => forward_timeout(&self.options),
        };
        match new_producer(&self.settings, timeout, &self.brokers_down) {
            Ok(fresh) => {
                *self.producers[role as usize]
                    .write()
                    .unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
                tracing::info!("started a new Kafka producer");
            }
            Err(error) => tracing::error!(%error, "could not start a new producer"),
        }
    }

    async fn spool(&self, records: Vec<LogRecord>) -> Result<(), LogError> {
        let spooled = self.spool.lag(FORWARDER_GROUP)?;
        if spooled + records.len() as u64 > self.options.spool_limit {
            return Err(LogError::SpoolFull {
                spooled,
                limit: self.options.spool_limit,
            });
        }
        self.spool.append(records).await
    }

    fn start_spooling(&self, why: &str) {
        if !self.spooling.swap(true, Ordering::SeqCst) {
            tracing::warn!(why, "Kafka unavailable; spooling accepted events locally");
        }
        self.wake.1.notify_all();
    }
}

#[async_trait]
impl EventLog for KafkaLog {
    async fn append(&self, records: Vec<LogRecord>) -> Result<(), LogError> {
        if records.is_empty() {
            return Ok(());
        }
        let shared = &self.shared;
        let _gate = shared.gate.read().await;
        if shared.brokers_down() {
            shared.start_spooling("every broker is down");
        }
        if shared.spooling.load(Ordering::SeqCst) {
            return shared.spool(records).await;
        }
        match shared.produce_all(Role::Direct, &records).await {
            Ok(()) => Ok(()),
            Err(error) => {
                shared.start_spooling(&error.to_string());
                shared.spool(records).await
            }
        }
    }

    fn consumer(&self, _group: &str) -> Result<Box<dyn LogConsumer>, LogError> {
        Err(LogError::Kafka(
            "events in Kafka are loaded by `sluice load`, not by the collector".into(),
        ))
    }

    fn is_ready(&self) -> bool {
        self.shared.spool.is_ready() && self.spooled() < self.shared.options.spool_limit
    }

    /// Events accepted but not yet in Kafka (the loaders' lag is Kafka's consumer-group lag).
    fn lag(&self, _group: &str) -> Result<u64, LogError> {
        self.shared.spool.lag(FORWARDER_GROUP)
    }
}

/// The forwarder thread: while spooling, sends the spool to Kafka in order (see the module docs).
fn forward(shared: &Shared, runtime: &tokio::runtime::Handle) {
    let mut consumer = match shared.spool.consumer(FORWARDER_GROUP) {
        Ok(consumer) => consumer,
        Err(error) => {
            tracing::error!(%error, "cannot read the spool; spooled events wait for a restart");
            return;
        }
    };
    let mut backoff = Duration::from_millis(100);
    let mut failures = 0;
    loop {
        let (stop, wake) = &shared.wake;
        let stopping = lock(stop);
        if *stopping {
            return;
        }
        if !shared.spooling.load(Ordering::SeqCst) {
            let _ = wake.wait_timeout(stopping, Duration::from_millis(500));
            continue;
        }
        drop(stopping);
        match forward_round(shared, runtime, consumer.as_mut()) {
            Ok(()) => {
                backoff = Duration::from_millis(100);
                failures = 0;
            }
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "forwarding the spool failed");
                failures += 1;
                // Brokers that answer but refuse deliveries again and again may have lost this
                // producer's idempotence state (a broker restarted without it): start afresh.
                if failures >= 2 && probe(shared, runtime).is_ok() {
                    shared.replace_producer(Role::Forward);
                    shared.replace_producer(Role::Direct);
                    failures = 0;
                }
                let committed = consumer.committed();
                if let Err(error) = consumer.seek(&committed) {
                    tracing::error!(%error, "rewinding the spool forwarder");
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Sends one batch of the spool, or leaves spooling mode if the spool is drained and the brokers
/// answer.
fn forward_round(
    shared: &Shared,
    runtime: &tokio::runtime::Handle,
    consumer: &mut dyn LogConsumer,
) -> Result<(), LogError> {
    let mut records = consumer.poll(FORWARD_BATCH, Duration::from_millis(100))?;
    if records.is_empty() {
        probe(shared, runtime)?;
        let _gate = shared.gate.blocking_write();
        // Appends that were spooled before the gate closed come first.
        records = consumer.poll(FORWARD_BATCH, Duration::ZERO)?;
        if records.is_empty() {
            shared.spooling.store(false, Ordering::SeqCst);
            shared.brokers_down.store(false, Ordering::Relaxed);
            tracing::info!("spool drained; producing to Kafka directly again");
            return Ok(());
        }
    }
    let keyed = records.into_iter().map(keyed).collect::<Vec<_>>();
    runtime.block_on(shared.produce_all(Role::Forward, &keyed))?;
    let position = consumer.position();
    consumer.commit(&position)?;
    tracing::info!(
        events = keyed.len(),
        left = shared.spool.lag(FORWARDER_GROUP).unwrap_or(0),
        "forwarded spooled events to Kafka"
    );
    Ok(())
}

/// Asks the brokers for the topic's metadata: do they answer?
/// Creates the topic if the brokers answer but do not have it (e.g. a broker that lost its data).
fn probe(shared: &Shared, runtime: &tokio::runtime::Handle) -> Result<(), LogError> {
    let topic = &shared.settings.topic;
    let metadata = shared
        .producer(Role::Forward)
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(2))
        .map_err(|e| kafka_error("asking the brokers for metadata", &e))?;
    let present = metadata
        .topics()
        .iter()
        .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty());
    if !present {
        tracing::info!(%topic, "the events topic is missing; creating it");
        runtime.block_on(shared.settings.ensure_topic(Duration::from_secs(10)))?;
    }
    Ok(())
}

/// Largest payload of one Kafka message (librdkafka's `message.max.bytes` is 1 MB by default).
const MAX_MESSAGE_BYTES: usize = 900 * 1024;

/// The Kafka messages for `records`: the records of one group key (the device id for the events
/// topic), in their order, travel together as one message whose payload is a JSON array of the
/// events (up to [`MAX_MESSAGE_BYTES`]); a group of one record sends it as it is. One message per
/// device and request instead of one per event divides librdkafka's per-message cost (allocation,
/// framing, compression, delivery report) by the events a device sends at once — SDKs batch per
/// device.
fn grouped_messages<'r>(
    records: impl Iterator<Item = &'r LogRecord>,
    group: GroupKey,
) -> Vec<(&'r str, Vec<u8>)> {
    let mut groups: Vec<(&str, Vec<&[u8]>)> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for record in records {
        let key = group(record);
        let at = *index.entry(key).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(&record.payload);
    }
    let mut messages = Vec::with_capacity(groups.len());
    for (key, payloads) in groups {
        if let [single] = payloads.as_slice() {
            messages.push((key, single.to_vec()));
            continue;
        }
        let mut message = Vec::new();
        for payload in payloads {
            if message.len() > 1 && message.len() + payload.len() + 1 > MAX_MESSAGE_BYTES {
                message.push(b']');
                messages.push((key, std::mem::take(&mut message)));
            }
            message.push(if message.is_empty() { b'[' } else { b',' });
            message.extend_from_slice(payload);
        }
        message.push(b']');
        messages.push((key, message));
    }
    messages
}

/// A spooled record with its partition key and side topics back (the device id and the copies the
/// collector gave it).
fn keyed(record: ConsumedRecord) -> LogRecord {
    let (key, copies) = match serde_json::from_slice::<Event>(&record.payload) {
        Ok(event) => {
            let copies = Copies::of(&event);
            (event.device_id, copies)
        }
        Err(_) => (String::new(), Copies::default()),
    };
    LogRecord {
        key,
        payload: record.payload,
        copies,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spooled_records_get_their_key_and_copies_back() {
        let mut event = Event {
            device_id: "d1".into(),
            event_type: "$identify".into(),
            quarantined: true,
            ..Event::default()
        };
        event
            .user_properties
            .insert("plan".into(), serde_json::json!("pro"));
        let record = |event: &Event| ConsumedRecord {
            partition: 0,
            offset: 0,
            payload: serde_json::to_vec(event).unwrap(),
        };
        let spooled = keyed(record(&event));
        assert_eq!(spooled.key, "d1");
        assert_eq!(
            spooled.copies,
            Copies {
                quarantine: true,
                property_updates: true
            }
        );
        let plain = keyed(record(&Event {
            device_id: "d2".into(),
            ..Event::default()
        }));
        assert_eq!(
            (plain.key.as_str(), plain.copies),
            ("d2", Copies::default())
        );
    }

    #[test]
    fn a_devices_records_travel_as_one_array_message() {
        let record = |key: &str, payload: &str| LogRecord {
            key: key.into(),
            payload: payload.as_bytes().to_vec(),
            copies: Copies::default(),
        };
        let records = [
            record("a", "{\"n\":1}"),
            record("b", "{\"n\":2}"),
            record("a", "{\"n\":3}"),
        ];
        let messages = grouped_messages(records.iter(), |r| &r.key);
        let as_text: Vec<(&str, String)> = messages
            .iter()
            .map(|(key, payload)| (*key, String::from_utf8(payload.clone()).unwrap()))
            .collect();
        assert_eq!(
            as_text,
            [
                ("a", "[{\"n\":1},{\"n\":3}]".to_owned()),
                ("b", "{\"n\":2}".to_owned())
            ]
        );
        let one = grouped_messages(records.iter(), |_| "");
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].1, b"[{\"n\":1},{\"n\":2},{\"n\":3}]");
    }
}
