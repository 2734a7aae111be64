//! Merges learnt after the events were stored: one engine answering queries while identity
//! files appear (and, should they ever, disappear) must always count with all of them.

use serde_json::json;
use sluice_query::QueryEngine;
use sluice_schema::layout::identity::IDENTITY_DIR;

use crate::support::{ev, funnel_spec, overall, person_id, utc, write_dataset, write_merge};

#[test]
fn one_engine_sees_merges_written_between_its_queries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = utc(2025, 4, 1, 10, 0, 0);
    // An anonymous visit, and later purchases by two users; nobody is merged yet.
    let visit = ev(t, "View", "x").anonymous("cache-device");
    let first = ev(t + 60_000, "Buy", "cache-user-1");
    let second = ev(t + 120_000, "View", "cache-user-2");
    let events = [visit.clone(), first.clone(), second.clone()];
    write_dataset(dir.path(), &events, 1);
    let spec = funnel_spec(&["View", "Buy"], "2025-04-01", "2025-04-01", json!({}));
    let engine = QueryEngine::new(dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let funnel = |engine: &QueryEngine| match runtime.block_on(engine.run(&spec)) {
        Ok(sluice_query::QueryResult::Funnel(f)) => overall(&f),
        other => panic!("not a funnel: {other:?}"),
    };
    assert_eq!(funnel(&engine), [2, 0]);
    // The device logs in as user 1: its visit now converts.
    write_merge(
        dir.path(),
        "batch-1.parquet",
        person_id(&visit),
        person_id(&first),
    );
    assert_eq!(funnel(&engine), [2, 1]);
    // A second file (user 2's id merged into user 1's, as a second partition would): only it
    // is read, and the map is rebuilt with both.
    write_merge(
        dir.path(),
        "batch-2.parquet",
        person_id(&second),
        person_id(&first),
    );
    assert_eq!(funnel(&engine), [1, 1]);
    assert_eq!(
        funnel(&QueryEngine::new(dir.path())),
        [1, 1],
        "a fresh engine agrees"
    );
    // A file read before is gone: the map is rebuilt from what is left.
    std::fs::remove_file(dir.path().join(IDENTITY_DIR).join("batch-1.parquet")).expect("rm");
    assert_eq!(funnel(&engine), [2, 0]);
}
