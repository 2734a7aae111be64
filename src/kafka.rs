//! Flags shared by the Kafka path (`sluice serve --kafka-brokers`, `sluice load`) and the
//! `sluice load` command.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use sluice_ingest::kafka::{KafkaLoaderOptions, KafkaSettings, parse_client_setting};
use sluice_ingest::{IngestMetrics, LoaderConfig};
use sluice_schema::StorageLayout;

/// Where Kafka is and how the events topic looks.
#[derive(clap::Args, Clone)]
pub(crate) struct KafkaArgs {
    /// Kafka brokers (`host:port[,host:port…]`). With this flag `sluice serve` produces accepted
    /// events to Kafka (and runs no loader: `sluice load` does).
    #[arg(long, env = "SLUICE_KAFKA_BROKERS")]
    pub(crate) kafka_brokers: Option<String>,
    /// Topic of accepted events.
    #[arg(long, env = "SLUICE_KAFKA_TOPIC", default_value = sluice_ingest::kafka::DEFAULT_TOPIC)]
    pub(crate) kafka_topic: String,
    /// Partitions of the topic if Sluice creates it (the parallelism of `sluice load`).
    #[arg(long, env = "SLUICE_KAFKA_PARTITIONS", default_value_t = 8)]
    pub(crate) kafka_partitions: i32,
    /// Replication factor of the topic if Sluice creates it.
    #[arg(long, env = "SLUICE_KAFKA_REPLICATION", default_value_t = 1)]
    pub(crate) kafka_replication: i32,
    /// Extra librdkafka settings, KEY=VALUE (repeatable; comma-separated in the variable), e.g.
    /// `security.protocol=ssl` or `linger.ms=20`.
    #[arg(long = "kafka-config", env = "SLUICE_KAFKA_CONFIG", value_delimiter = ',', value_parser = parse_client_setting)]
    pub(crate) kafka_config: Vec<(String, String)>,
    /// Also copy quarantined events to `<topic>-quarantine` and events that change user or group
    /// properties to `<topic>-property-updates` (one partition each; the events topic keeps them
    /// too). Off by default: the copies cost ≈ 4 % of end-to-end throughput (benches/README.md).
    #[arg(long, env = "SLUICE_KAFKA_SIDE_TOPICS", default_value_t = false, action = clap::ArgAction::Set)]
    pub(crate) kafka_side_topics: bool,
}

impl KafkaArgs {
    /// The settings, if `--kafka-brokers` was given.
    pub(crate) fn settings(&self) -> anyhow::Result<Option<KafkaSettings>> {
        let Some(brokers) = &self.kafka_brokers else {
            return Ok(None);
        };
        anyhow::ensure!(
            self.kafka_partitions >= 1,
            "--kafka-partitions must be at least 1"
        );
        anyhow::ensure!(
            self.kafka_replication >= 1,
            "--kafka-replication must be at least 1"
        );
        Ok(Some(KafkaSettings {
            brokers: brokers.clone(),
            topic: self.kafka_topic.clone(),
            partitions: self.kafka_partitions,
            replication: self.kafka_replication,
            client_config: self.kafka_config.clone(),
            side_topics: self.kafka_side_topics,
        }))
    }
}

/// Flags of `sluice load`.
#[derive(clap::Args)]
pub(crate) struct LoadArgs {
    #[command(flatten)]
    pub(crate) kafka: KafkaArgs,
    /// The shared dataset folder (the `--data-dir` queries read).
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "sluice-data")]
    pub(crate) data_dir: PathBuf,
    /// Consumer group: loaders of one group share the topic's partitions.
    #[arg(long, env = "SLUICE_LOADER_GROUP", default_value = sluice_ingest::loader::LOADER_GROUP)]
    pub(crate) group: String,
    /// Tracking plan (TOML): which properties get typed columns, and the time zone.
    #[arg(long, env = "SLUICE_TRACKING_PLAN")]
    pub(crate) tracking_plan: Option<PathBuf>,
    /// Time zone that cuts event dates (default: the plan's, else UTC).
    #[arg(long, env = "SLUICE_TIME_ZONE")]
    pub(crate) time_zone: Option<String>,
    /// Longest time a consumed event waits before it is written to Parquet (ms).
    #[arg(long, env = "SLUICE_FLUSH_INTERVAL_MS", default_value_t = 5000)]
    pub(crate) flush_interval_ms: u64,
    /// Most events buffered (over all partitions) before a batch is written.
    #[arg(long, env = "SLUICE_MAX_BATCH_EVENTS", default_value_t = 200_000)]
    pub(crate) max_batch_events: usize,
    #[command(flatten)]
    pub(crate) compaction: CompactionArgs,
}

/// `sluice load`: joins the consumer group and loads until SIGINT/SIGTERM. A failure (broker
/// gone, disk error) restarts the member after a second, from the committed offsets.
pub(crate) async fn load(args: LoadArgs) -> anyhow::Result<()> {
    let settings = args
        .kafka
        .settings()?
        .context("sluice load needs --kafka-brokers")?;
    let plan = args
        .tracking_plan
        .as_deref()
        .map(crate::server::read_plan)
        .transpose()?;
    let time_zone = crate::server::resolve_time_zone(args.time_zone.as_deref(), plan.as_ref())?;
    if let Err(error) = settings.ensure_topic(Duration::from_secs(10)).await {
        tracing::warn!(%error, "could not make sure the events topic exists");
    }
    anyhow::ensure!(
        args.max_batch_events >= 1,
        "--max-batch-events must be at least 1"
    );
    let layout = crate::server::storage_layout(plan.as_ref());
    let compactor = args.compaction.spawn(&args.data_dir, layout.clone())?;
    let options = KafkaLoaderOptions {
        settings,
        group: args.group,
        loader: LoaderConfig {
            dataset_dir: args.data_dir,
            layout,
            time_zone,
            max_batch_events: args.max_batch_events,
            flush_interval: Duration::from_millis(args.flush_interval_ms),
            metrics: Arc::new(IngestMetrics::new()),
        },
    };
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(sluice_ingest::loader::LoaderProgress::default());
    let member_stop = Arc::clone(&stop);
    let member = tokio::task::spawn_blocking(move || {
        while !member_stop.load(std::sync::atomic::Ordering::Relaxed) {
            match sluice_ingest::kafka::run_kafka_loader(
                &options,
                &member_stop,
                Arc::clone(&progress),
            ) {
                Ok(()) => break,
                Err(error) => {
                    tracing::error!(%error, "loader failed; rejoining in 1 s");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    });
    println!("sluice loader started");
    crate::server::shutdown_signal().await;
    tracing::info!("flushing and leaving the consumer group");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    member.await?;
    if let Some(compactor) = compactor {
        tokio::task::spawn_blocking(move || compactor.stop()).await?;
    }
    Ok(())
}

/// When small Parquet files are compacted (`sluice serve` on the embedded path, `sluice load`).
#[derive(clap::Args, Clone)]
pub(crate) struct CompactionArgs {
    /// Seconds between compaction rounds; 0 turns background compaction off.
    #[arg(long, env = "SLUICE_COMPACT_INTERVAL_SECS", default_value_t = 60)]
    pub(crate) compact_interval_secs: u64,
    /// A date partition, or the identity dataset, is compacted once it holds this many small
    /// files.
    #[arg(long, env = "SLUICE_COMPACT_MIN_FILES", default_value_t = 8)]
    pub(crate) compact_min_files: usize,
}

/// A background compactor and the flag that stops it.
pub(crate) struct Compactor {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl CompactionArgs {
    /// Starts the background compactor of `data_dir`, unless turned off.
    pub(crate) fn spawn(
        &self,
        data_dir: &std::path::Path,
        layout: StorageLayout,
    ) -> anyhow::Result<Option<Compactor>> {
        if self.compact_interval_secs == 0 {
            return Ok(None);
        }
        let options = sluice_ingest::compaction::CompactionOptions {
            layout,
            min_files: self.compact_min_files.max(2),
            ..Default::default()
        };
        let stop = Arc::new(AtomicBool::new(false));
        let thread = sluice_ingest::compaction::spawn_compactor(
            data_dir.to_path_buf(),
            options,
            Duration::from_secs(self.compact_interval_secs),
            Arc::clone(&stop),
        )
        .context("starting the compactor")?;
        Ok(Some(Compactor { stop, thread }))
    }
}

impl Compactor {
    /// Stops after the round in progress, if any.
    pub(crate) fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

/// Flags of `sluice compact`.
#[derive(clap::Args)]
pub(crate) struct CompactArgs {
    /// The dataset folder.
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "sluice-data")]
    pub(crate) data_dir: PathBuf,
    /// Tracking plan whose layout (typed property columns) the compacted files get.
    #[arg(long, env = "SLUICE_TRACKING_PLAN")]
    pub(crate) tracking_plan: Option<PathBuf>,
    /// A date partition, or the identity dataset, is compacted once it holds this many small
    /// files.
    #[arg(long, default_value_t = 2)]
    pub(crate) min_files: usize,
}

/// `sluice compact`: one round, then prints what it did as JSON.
pub(crate) fn compact(args: &CompactArgs) -> anyhow::Result<()> {
    let plan = args
        .tracking_plan
        .as_deref()
        .map(crate::server::read_plan)
        .transpose()?;
    let options = sluice_ingest::compaction::CompactionOptions {
        layout: crate::server::storage_layout(plan.as_ref()),
        min_files: args.min_files.max(2),
        ..Default::default()
    };
    let report = sluice_ingest::compaction::compact(&args.data_dir, &options)
        .with_context(|| format!("compacting {}", args.data_dir.display()))?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
