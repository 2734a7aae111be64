//! `property-storage`: measures what promoting tracking-plan properties to typed columns buys,
//! against keeping all properties in one JSON text column. Same events (the demo marketplace),
//! same writer settings (zstd level 1), both layouts timed side by side in one run.
//!
//! Usage: `cargo run --release -p sluice-benches -- [EVENTS]` (default 500000).

use std::time::Instant;

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sluice_ingest::demo::{DemoConfig, generate};
use sluice_schema::amplitude::{IngestContext, normalize_event};
use sluice_schema::{Event, StorageLayout, TrackingPlan};

const PLAN: &str = include_str!("../../schema/plans/marketplace.toml");
const ROUNDS: usize = 3;

fn main() {
    let wanted: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500_000);
    let events = demo_events(wanted);
    let plan = TrackingPlan::parse(PLAN).unwrap_or_else(|e| panic!("demo plan: {e}"));
    let layouts = [
        ("all properties in JSON", StorageLayout::default()),
        ("plan properties typed", StorageLayout::from_plan(&plan)),
    ];
    println!(
        "{} demo events, zstd(1), best of {ROUNDS} rounds (layouts interleaved)",
        events.len()
    );
    let mut best = vec![(f64::MAX, f64::MAX, 0usize); layouts.len()];
    for _ in 0..ROUNDS {
        for (i, (_, layout)) in layouts.iter().enumerate() {
            let (build, write, bytes) = measure(layout, &events);
            best[i] = (best[i].0.min(build), best[i].1.min(write), bytes);
        }
    }
    println!(
        "{:<26} {:>14} {:>16} {:>12}",
        "layout", "to Arrow (M/s)", "to Parquet (M/s)", "bytes/event"
    );
    for ((name, _), (build, write, bytes)) in layouts.iter().zip(best) {
        let n = events.len() as f64;
        println!(
            "{name:<26} {:>14.2} {:>16.2} {:>12.1}",
            n / build / 1e6,
            n / write / 1e6,
            bytes as f64 / n
        );
    }
}

fn demo_events(wanted: usize) -> Vec<Event> {
    let config = DemoConfig::default();
    let mut events = Vec::with_capacity(wanted);
    'batches: for batch in generate(&config) {
        let ctx = IngestContext {
            project: "marketplace",
            received_ms: batch.client_upload_time_ms,
            client_upload_time: Some(batch.client_upload_time_ms),
            remote_ip: None,
            min_id_length: 5,
        };
        for raw in &batch.events {
            if let Ok(event) = normalize_event(raw, &ctx) {
                events.push(event);
            }
            if events.len() >= wanted {
                break 'batches;
            }
        }
    }
    events
}

/// Seconds to build the record batches, seconds to write Parquet, and the file size.
fn measure(layout: &StorageLayout, events: &[Event]) -> (f64, f64, usize) {
    let started = Instant::now();
    let batches: Vec<_> = events
        .chunks(100_000)
        .map(|chunk| layout.to_record_batch(chunk).expect("record batch"))
        .collect();
    let build = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("zstd level"),
        ))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, layout.schema(), Some(props)).expect("writer");
    for batch in &batches {
        writer.write(batch).expect("write");
    }
    writer.close().expect("close");
    (build, started.elapsed().as_secs_f64(), out.len())
}
