//! Criterion benchmarks of every analysis through `QueryEngine`, on the baseline dataset
//! imported by `analyses-bench import` (10 M events by default; benches/README.md has the
//! commands). Criterion measures Sluice alone, with its statistics; the ratios against chDB and
//! DuckDB come from `benches/analyses/side_by_side.py`, which runs all engines in one session.
//!
//! `SLUICE_BENCH_DATA` names the data directory (default `target/bench-data/sluice-10m`).
//! Run: `cargo bench -p sluice-benches --bench analyses`.

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use sluice_benches::baseline::{PROJECT, Query};
use sluice_query::{QueryEngine, QuerySpec};

fn data_dir() -> PathBuf {
    let dir = std::env::var_os("SLUICE_BENCH_DATA").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data/sluice-10m"),
        PathBuf::from,
    );
    assert!(
        dir.join("events").is_dir(),
        "{} has no events/: import the baseline first (benches/README.md, \"Analyses\")",
        dir.display()
    );
    dir
}

/// The analyses the baseline queries do not cover, on the same data.
fn other_specs() -> Vec<(&'static str, Value)> {
    let range = json!({"from": "2025-01-01", "to": "2025-03-31"});
    let ios = json!([{"kind": "field", "property": "platform", "op": "is", "values": ["ios"]}]);
    vec![
        (
            "funnel_segments",
            json!({"version": 1, "analysis": "funnel", "project": PROJECT, "date_range": range,
                   "steps": [{"event_type": "view_item"}, {"event_type": "add_to_cart"},
                             {"event_type": "purchase"}],
                   "conversion_window": {"value": 7, "unit": "day"},
                   "segments": [{"name": "ios", "where": ios}, {"name": "all"}]}),
        ),
        (
            // The default retention: rolling 24-hour windows from each start (the baseline
            // query uses calendar days, as the peers' SQL does).
            "retention_rolling",
            json!({"version": 1, "analysis": "retention", "project": PROJECT,
                   "date_range": range, "time_zone": "UTC",
                   "start_event": {"event_type": "_new"}, "return_event": {"event_type": "_all"},
                   "periods": 7}),
        ),
        (
            "lifecycle_weekly",
            json!({"version": 1, "analysis": "lifecycle", "project": PROJECT,
                   "date_range": range, "interval": "week",
                   "event": {"event_type": "purchase"}}),
        ),
        (
            "stickiness_weekly",
            json!({"version": 1, "analysis": "stickiness", "project": PROJECT,
                   "date_range": range, "event": {"event_type": "app_open"}}),
        ),
        (
            "paths_after_search",
            json!({"version": 1, "analysis": "paths", "project": PROJECT,
                   "date_range": {"from": "2025-03-01", "to": "2025-03-07"},
                   "anchor": {"event_type": "search"}, "depth": 3}),
        ),
    ]
}

fn analyses(c: &mut Criterion) {
    let engine = QueryEngine::new(data_dir());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let baseline = [Query::Funnel, Query::Dau, Query::Retention]
        .map(|q| (q.name(), q.spec()))
        .into_iter();
    let mut group = c.benchmark_group("analyses");
    group.sample_size(10);
    for (name, spec) in baseline.chain(other_specs()) {
        let spec: QuerySpec = serde_json::from_value(spec).expect("valid spec");
        group.bench_function(name, |b| {
            b.iter(|| runtime.block_on(engine.run(&spec)).expect("query runs"));
        });
    }
    group.finish();
}

criterion_group!(benches, analyses);
criterion_main!(benches);
