//! `property-storage`: measures what promoting tracking-plan properties to typed columns buys,
//! against keeping all properties in one JSON text column. Same events (the demo marketplace),
//! same writer settings (zstd level 1), both layouts timed side by side in one run.
//!
//! It also times what the choice is for: reading one property (`category`) back from the file and
//! counting rows per value, from its typed column vs by parsing every row's JSON text.
//!
//! Usage: `cargo run --release -p sluice-benches --bin property-storage -- [EVENTS]` (default 500000).

use std::collections::HashMap;
use std::time::Instant;

use arrow::array::{Array, AsArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sluice_ingest::demo::{DemoConfig, generate};
use sluice_schema::amplitude::{IngestContext, normalize_event};
use sluice_schema::{Event, StorageLayout, TrackingPlan};

const PLAN: &str = include_str!("../../schema/plans/marketplace.toml");
const ROUNDS: usize = 3;
/// The property read back: a declared string property present on most demo events.
const READ_PROPERTY: &str = "category";

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
    let mut best = vec![Measured::default(); layouts.len()];
    let mut counts = Vec::new();
    for _ in 0..ROUNDS {
        for (i, (_, layout)) in layouts.iter().enumerate() {
            let (measured, counted) = measure(layout, &events);
            best[i] = best[i].best_with(measured);
            counts.push(counted);
        }
    }
    assert!(
        counts.windows(2).all(|w| w[0] == w[1]),
        "both layouts must read back the same {READ_PROPERTY} counts"
    );
    println!(
        "{:<26} {:>14} {:>16} {:>12} {:>22}",
        "layout",
        "to Arrow (M/s)",
        "to Parquet (M/s)",
        "bytes/event",
        format!("read {READ_PROPERTY} (M rows/s)")
    );
    for ((name, _), m) in layouts.iter().zip(best) {
        let n = events.len() as f64;
        println!(
            "{name:<26} {:>14.2} {:>16.2} {:>12.1} {:>22.2}",
            n / m.build_s / 1e6,
            n / m.write_s / 1e6,
            m.bytes as f64 / n,
            n / m.read_s / 1e6,
        );
    }
}

/// Seconds per phase (best of the rounds) and the file size.
#[derive(Debug, Clone, Copy)]
struct Measured {
    build_s: f64,
    write_s: f64,
    read_s: f64,
    bytes: usize,
}

impl Default for Measured {
    fn default() -> Self {
        Measured {
            build_s: f64::MAX,
            write_s: f64::MAX,
            read_s: f64::MAX,
            bytes: 0,
        }
    }
}

impl Measured {
    fn best_with(self, other: Measured) -> Measured {
        Measured {
            build_s: self.build_s.min(other.build_s),
            write_s: self.write_s.min(other.write_s),
            read_s: self.read_s.min(other.read_s),
            bytes: other.bytes,
        }
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
        for raw in batch.events {
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

/// Builds record batches, writes them to one Parquet file, then reads [`READ_PROPERTY`] back.
fn measure(layout: &StorageLayout, events: &[Event]) -> (Measured, HashMap<String, usize>) {
    let started = Instant::now();
    let batches: Vec<_> = events
        .chunks(100_000)
        .map(|chunk| layout.to_record_batch(chunk).expect("record batch"))
        .collect();
    let build_s = started.elapsed().as_secs_f64();
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
    let write_s = started.elapsed().as_secs_f64();
    let path =
        std::env::temp_dir().join(format!("property-storage-{}.parquet", std::process::id()));
    std::fs::write(&path, &out).expect("writing the measured file");
    let started = Instant::now();
    let counts = count_property_values(layout, &path);
    let read_s = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    let measured = Measured {
        build_s,
        write_s,
        read_s,
        bytes: out.len(),
    };
    (measured, counts)
}

/// Rows per value of [`READ_PROPERTY`]: from its typed column if the layout promotes it, else by
/// parsing the `event_properties` JSON of every row.
fn count_property_values(layout: &StorageLayout, path: &std::path::Path) -> HashMap<String, usize> {
    let promoted = layout
        .event_properties
        .iter()
        .any(|p| p.name == READ_PROPERTY);
    let column = if promoted {
        format!("ep:{READ_PROPERTY}")
    } else {
        "event_properties".to_owned()
    };
    let file = std::fs::File::open(path).expect("opening the measured file");
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet reader");
    let index = builder
        .schema()
        .index_of(&column)
        .expect("column in the file");
    let mask = ProjectionMask::roots(builder.parquet_schema(), [index]);
    let reader = builder.with_projection(mask).build().expect("reader");
    let mut counts: HashMap<String, usize> = HashMap::new();
    for batch in reader {
        let batch = batch.expect("reading a batch");
        let values = batch.column(0).as_string::<i32>();
        for row in 0..values.len() {
            if values.is_null(row) {
                continue;
            }
            let text = values.value(row);
            if promoted {
                *counts.entry(text.to_owned()).or_default() += 1;
            } else if let Ok(serde_json::Value::Object(props)) = serde_json::from_str(text)
                && let Some(serde_json::Value::String(value)) = props.get(READ_PROPERTY)
            {
                *counts.entry(value.clone()).or_default() += 1;
            }
        }
    }
    counts
}
