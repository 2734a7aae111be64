//! The scale-out event log: Kafka (any broker speaking its protocol), through librdkafka.
//!
//! - [`KafkaLog`] is the collectors' [`crate::EventLog`]: an idempotent producer (`acks=all`),
//!   events keyed by device id, acknowledged only once Kafka confirmed delivery. While the brokers
//!   are unreachable it spools accepted events to a local durable log and forwards them, in order,
//!   when they return.
//! - [`run_kafka_loader`] is `sluice load`: a consumer-group member that turns the partitions it is
//!   assigned into Parquet with the embedded loader's exactly-once batch step, one partition at a
//!   time, committing a partition's offset only after its files and state are durable.

mod loader;
mod producer;
mod resume;

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::error::LogError;

pub use loader::{KafkaLoaderOptions, run_kafka_loader};
pub use producer::{KafkaLog, KafkaLogOptions};

/// Where the brokers are and how the events topic looks.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `host:port[,host:port…]` of one or more brokers.
    pub brokers: String,
    /// Topic of accepted events (keyed by device id).
    pub topic: String,
    /// Partitions of the topic when Sluice creates it (an existing topic keeps its own).
    pub partitions: i32,
    /// Replication factor of the topic when Sluice creates it.
    pub replication: i32,
    /// Extra librdkafka settings (`key=value`), applied last, e.g. `security.protocol=ssl`.
    pub client_config: Vec<(String, String)>,
    /// Whether quarantined events and property updates are also copied to their side topics.
    pub side_topics: bool,
}

impl KafkaSettings {
    /// Settings with the defaults for everything but the brokers.
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaSettings {
            brokers: brokers.into(),
            topic: DEFAULT_TOPIC.to_owned(),
            partitions: 8,
            replication: 1,
            client_config: Vec::new(),
            side_topics: false,
        }
    }

    /// A librdkafka configuration with the brokers, `base` and then the user's extra settings.
    fn client_config(&self, base: &[(&str, String)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in base {
            config.set(*key, value);
        }
        for (key, value) in &self.client_config {
            config.set(key, value);
        }
        config
    }

    /// The topic that gets a copy of every quarantined event (`<topic>-quarantine`), for those
    /// who watch what the tracking plan rejects; the events topic keeps them too, in order, for
    /// the loader's quarantine dataset.
    pub fn quarantine_topic(&self) -> String {
        format!("{}-quarantine", self.topic)
    }

    /// The topic that gets a copy of every event that updates user or group properties
    /// (`<topic>-property-updates`), for systems that follow user attributes (a campaign
    /// engine); the events topic keeps them too, in order, for the loader's property state.
    pub fn property_updates_topic(&self) -> String {
        format!("{}-property-updates", self.topic)
    }

    /// Creates the events topic and its side topics unless they exist.
    pub async fn ensure_topic(&self, timeout: Duration) -> Result<(), LogError> {
        let admin: AdminClient<DefaultClientContext> = self
            .client_config(&[])
            .create()
            .map_err(|e| kafka_error("creating an admin client", &e))?;
        // The side topics carry a few events in a hundred: one partition each keeps the
        // collector's produce requests few (librdkafka batches per partition; every small batch
        // costs the broker a request's work) and still keeps each device's copies in order.
        let mut names = vec![(self.topic.clone(), self.partitions)];
        if self.side_topics {
            names.push((self.quarantine_topic(), 1));
            names.push((self.property_updates_topic(), 1));
        }
        let topics: Vec<NewTopic<'_>> = names
            .iter()
            .map(|(name, partitions)| {
                NewTopic::new(name, *partitions, TopicReplication::Fixed(self.replication))
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(timeout));
        let results = tokio::time::timeout(timeout, admin.create_topics(&topics, &options))
            .await
            .map_err(|_| LogError::Kafka(format!("creating topic {}: timed out", self.topic)))?
            .map_err(|e| kafka_error("creating topics", &e))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(LogError::Kafka(format!("creating topic {name}: {code}")));
                }
            }
        }
        Ok(())
    }
}

/// Folder of the dataset holding each Kafka partition's loader intent and state
/// (`<topic>/p<N>/`), shared by every loader of the group.
pub(crate) const LOADER_STATE_DIR: &str = "kafka-loader";

/// The events topic unless configured otherwise.
pub const DEFAULT_TOPIC: &str = "sluice-events";

fn kafka_error(doing: &str, e: &rdkafka::error::KafkaError) -> LogError {
    LogError::Kafka(format!("{doing}: {e}"))
}

/// Parses `key=value` librdkafka settings given on the command line.
pub fn parse_client_setting(setting: &str) -> Result<(String, String), String> {
    match setting.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!("expected KEY=VALUE, got {setting:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_settings_parse_as_key_value() {
        assert_eq!(
            parse_client_setting("linger.ms=20"),
            Ok(("linger.ms".to_owned(), "20".to_owned()))
        );
        assert!(parse_client_setting("linger.ms").is_err());
        assert!(parse_client_setting("=5").is_err());
    }
}
