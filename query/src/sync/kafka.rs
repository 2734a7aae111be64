//! A Kafka topic of membership changes: one JSON record per person entering or leaving, keyed
//! by the user id (the device id for persons never identified), so one person's changes stay in
//! order in one partition. The producer is idempotent (`acks=all`); a batch counts as delivered
//! when the broker acknowledged every record of it. A batch tried again after a lost
//! acknowledgement may be stored twice: consumers drop copies by `message_id` and the user.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use serde_json::json;

use super::SyncError;
use super::deliver::Attempt;
use super::plan::Batch;

/// A topic receiving a sync's changes.
pub(crate) struct Topic {
    producer: FutureProducer,
    topic: String,
    cohort: String,
    sync: String,
    run_ms: i64,
}

impl std::fmt::Debug for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topic").field("topic", &self.topic).finish()
    }
}

impl Topic {
    /// A producer to `topic` on `brokers`, each record given `timeout` to be acknowledged; the
    /// topic is created (`partitions`, `replication`) if it does not exist, as brokers often do
    /// not create topics on first use.
    pub(crate) async fn new(
        brokers: &str,
        topic: &str,
        (partitions, replication): (i32, i32),
        cohort: &str,
        sync: &str,
        run_ms: i64,
        timeout: Duration,
    ) -> Result<Topic, SyncError> {
        ensure_topic(brokers, topic, partitions, replication, timeout).await?;
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", timeout.as_millis().to_string())
            .create()
            .map_err(|e| SyncError::Config(format!("kafka producer for {brokers}: {e}")))?;
        Ok(Topic {
            producer,
            topic: topic.to_owned(),
            cohort: cohort.to_owned(),
            sync: sync.to_owned(),
            run_ms,
        })
    }

    pub(crate) async fn send(&self, batch: &Batch) -> Attempt {
        let records: Vec<(String, Vec<u8>)> = batch
            .changes
            .iter()
            .map(|change| {
                let key = change
                    .ids
                    .user_id
                    .clone()
                    .or_else(|| change.ids.device_id.clone())
                    .unwrap_or_else(|| change.person.to_string());
                let value = json!({
                    "cohort_name": self.cohort,
                    "sync": self.sync,
                    "in_cohort": batch.in_cohort,
                    "computed_time": (self.run_ms / 1000).to_string(),
                    "message_id": batch.message_id,
                    "person_id": change.person,
                    "user_id": change.ids.user_id,
                    "device_id": change.ids.device_id,
                });
                (key, serde_json::to_vec(&value).unwrap_or_default())
            })
            .collect();
        let failed = |e: &dyn std::fmt::Display| Attempt::Retry {
            status: None,
            reason: format!("kafka topic {}: {e}", self.topic),
            not_before: None,
        };
        // Every record is queued first (librdkafka sends them in the background), then each
        // acknowledgement awaited.
        let mut deliveries = Vec::with_capacity(records.len());
        for (key, value) in &records {
            loop {
                let record = FutureRecord::to(&self.topic).key(key).payload(value);
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    Err((e, _)) => return failed(&e),
                }
            }
        }
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return failed(&e),
                Err(_) => return failed(&"the producer was dropped"),
            }
        }
        Attempt::Delivered {
            status: None,
            detail: None,
            pause_until: None,
        }
    }
}

/// Creates `topic` unless it exists.
async fn ensure_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    replication: i32,
    timeout: Duration,
) -> Result<(), SyncError> {
    let failed = |e: &dyn std::fmt::Display| {
        SyncError::Destination(format!("kafka topic {topic} on {brokers}: {e}"))
    };
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .map_err(|e| failed(&e))?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    let options = AdminOptions::new().operation_timeout(Some(timeout));
    let results = tokio::time::timeout(timeout, admin.create_topics([&new], &options))
        .await
        .map_err(|_| failed(&"creating it timed out"))?
        .map_err(|e| failed(&e))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(failed(&code)),
        }
    }
    Ok(())
}
