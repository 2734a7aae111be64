//! The engine's contract beyond funnel semantics: missing data, file selection, schema union,
//! property resolution, errors and output formats.

use serde_json::json;
use sluice_query::result::QueryResult;
use sluice_query::{QueryEngine, render_table};

use crate::support::{
    FileShape, TestEvent, batch, ev, funnel_spec, overall, rows, run, utc, write_file,
};

fn noon() -> i64 {
    utc(2025, 1, 10, 12, 0, 0)
}

fn spec(extra: serde_json::Value) -> sluice_query::QuerySpec {
    funnel_spec(&["A", "B"], "2025-01-10", "2025-01-10", extra)
}

fn folder(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("events/event_date=2025-01-10")
}

#[test]
fn no_data_gives_zero_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        overall(&run(&dir.path().join("missing"), &spec(json!({}))).expect("runs")),
        [0, 0]
    );
    std::fs::create_dir_all(folder(dir.path())).expect("mkdir");
    assert_eq!(
        overall(&run(dir.path(), &spec(json!({}))).expect("runs")),
        [0, 0]
    );
    // Only a torn temporary file: still nothing to read.
    std::fs::write(folder(dir.path()).join(".part-0.parquet.tmp"), b"torn").expect("write");
    assert_eq!(
        overall(&run(dir.path(), &spec(json!({}))).expect("runs")),
        [0, 0]
    );
}

#[test]
fn hidden_and_temporary_files_are_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = noon();
    write_file(
        &folder(dir.path()).join("part-0.parquet"),
        &[ev(t, "A", "u1")],
        FileShape::default(),
    );
    let converting = [ev(t, "A", "u2"), ev(t + 1, "B", "u1"), ev(t + 1, "B", "u2")];
    write_file(
        &folder(dir.path()).join(".hidden.parquet"),
        &converting,
        FileShape::default(),
    );
    write_file(
        &folder(dir.path()).join(".part-1.parquet.tmp"),
        &converting,
        FileShape::default(),
    );
    assert_eq!(
        overall(&run(dir.path(), &spec(json!({}))).expect("runs")),
        [1, 0]
    );
}

#[test]
fn new_files_are_seen_by_the_next_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let engine = QueryEngine::new(dir.path());
    let count = |engine: &QueryEngine| match runtime.block_on(engine.run(&spec(json!({})))) {
        Ok(QueryResult::Funnel(r)) => overall(&r),
        Ok(other) => panic!("not a funnel: {other:?}"),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(count(&engine), [0, 0]);
    write_file(
        &folder(dir.path()).join("part-0.parquet"),
        &[ev(noon(), "A", "u1")],
        FileShape::default(),
    );
    assert_eq!(count(&engine), [1, 0]);
    write_file(
        &folder(dir.path()).join("part-1.parquet"),
        &[ev(noon() + 1, "B", "u1")],
        FileShape::default(),
    );
    assert_eq!(count(&engine), [1, 1]);
}

/// Two files with different property columns: the table is their union.
fn mixed_schema_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = noon();
    let typed = [
        ev(t, "A", "u1").category("books").plan("pro"),
        ev(t, "A", "u2").platform("iOS").plan("free"),
    ];
    let untyped = [
        ev(t, "A", "u3")
            .category("games")
            .plan("pro")
            .platform("Android"),
        ev(t + 1, "B", "u3"),
    ];
    let typed_shape = FileShape {
        typed_category: true,
        typed_plan: true,
        price_column: true,
        ..FileShape::default()
    };
    write_file(
        &folder(dir.path()).join("part-0.parquet"),
        &typed,
        typed_shape,
    );
    write_file(
        &folder(dir.path()).join("part-1.parquet"),
        &untyped,
        FileShape::default(),
    );
    dir
}

fn breakdown(
    dir: &tempfile::TempDir,
    kind: &str,
    property: &str,
) -> Vec<(Option<String>, Vec<u64>)> {
    let extra = json!({"breakdown": {"kind": kind, "property": property}});
    rows(&run(dir.path(), &spec(extra)).expect("runs"))
}

#[test]
fn event_property_reads_typed_column_and_json() {
    let dir = mixed_schema_dir();
    let expected = vec![
        (None, vec![1, 0]),
        (Some("books".to_owned()), vec![1, 0]),
        (Some("games".to_owned()), vec![1, 1]),
    ];
    assert_eq!(breakdown(&dir, "event", "category"), expected);
}

#[test]
fn user_property_and_field_breakdowns() {
    let dir = mixed_schema_dir();
    let plans = vec![
        (Some("pro".to_owned()), vec![2, 1]),
        (Some("free".to_owned()), vec![1, 0]),
    ];
    assert_eq!(breakdown(&dir, "user", "plan"), plans);
    let platforms = vec![
        (None, vec![1, 0]),
        (Some("Android".to_owned()), vec![1, 1]),
        (Some("iOS".to_owned()), vec![1, 0]),
    ];
    assert_eq!(breakdown(&dir, "field", "platform"), platforms);
}

#[test]
fn typed_numbers_and_missing_columns_become_text_or_null() {
    let dir = mixed_schema_dir();
    // `ep:count` is Int64 in one file and absent from the other.
    let counts = vec![(Some("3".to_owned()), vec![2, 0]), (None, vec![1, 1])];
    assert_eq!(breakdown(&dir, "event", "count"), counts);
    // A property nobody sent: everyone under null.
    assert_eq!(
        breakdown(&dir, "event", "nothing"),
        vec![(None, vec![3, 1])]
    );
}

#[test]
fn invalid_spec_is_the_callers_fault() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = run(dir.path(), &spec(json!({"time_zone": "Nowhere/City"}))).expect_err("bad zone");
    assert!(err.is_user_error(), "{err}");
    assert!(err.to_string().contains("Nowhere/City"), "{err}");
    let err = run(
        dir.path(),
        &funnel_spec(&["A"], "2025-01-10", "2025-01-10", json!({})),
    )
    .expect_err("one step");
    assert!(err.is_user_error(), "{err}");
}

#[test]
fn corrupt_data_is_our_fault() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(folder(dir.path())).expect("mkdir");
    std::fs::write(
        folder(dir.path()).join("part-0.parquet"),
        b"not parquet at all",
    )
    .expect("write");
    let err = run(dir.path(), &spec(json!({}))).expect_err("corrupt file");
    assert!(!err.is_user_error(), "{err}");
}

#[test]
fn result_round_trips_and_renders() {
    let dir = mixed_schema_dir();
    let extra = json!({"breakdown": {"kind": "event", "property": "category"}});
    let result = QueryResult::Funnel(run(dir.path(), &spec(extra)).expect("runs"));
    let text = serde_json::to_string(&result).expect("serialises");
    assert!(text.starts_with(r#"{"analysis":"funnel","#), "{text}");
    assert_eq!(
        serde_json::from_str::<QueryResult>(&text).expect("parses"),
        result
    );
    let table = render_table(&result);
    assert!(table.contains("Funnel: A → B"), "{table}");
    assert!(table.contains("event property category = games"), "{table}");
    assert!(table.contains("2. B"), "{table}");
}

#[test]
fn test_files_use_the_stored_column_types() {
    let events: Vec<TestEvent> = vec![ev(noon(), "A", "u1")];
    let ours = batch(&events, FileShape::default()).schema();
    let stored = sluice_schema::layout::StorageLayout::default().schema();
    for field in ours.fields() {
        let expected = stored
            .field_with_name(field.name())
            .expect("column of the stored layout");
        assert_eq!(field.data_type(), expected.data_type(), "{}", field.name());
    }
}

#[test]
fn folders_outside_the_scanned_dates_are_pruned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = noon();
    write_file(
        &folder(dir.path()).join("part-0.parquet"),
        &[ev(t, "A", "u1")],
        FileShape::default(),
    );
    // A folder dated far away, holding rows whose times are in range: read only if not pruned.
    let far = dir
        .path()
        .join("events/event_date=2024-06-01/part-0.parquet");
    write_file(&far, &[ev(t + 1, "B", "u1")], FileShape::default());
    assert_eq!(
        overall(&run(dir.path(), &spec(json!({}))).expect("runs")),
        [1, 0]
    );
}

#[test]
fn data_written_before_person_ids_is_counted_by_user_or_device() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = noon();
    let events = [
        ev(t, "A", "u1"),
        ev(t + 1, "B", "u1"),
        ev(t, "A", "u2"),
        ev(t + 2, "B", "x").anonymous("d9"),
        ev(t, "A", "x").anonymous("d9"),
    ];
    let legacy = FileShape {
        without_person_id: true,
        ..FileShape::default()
    };
    write_file(&folder(dir.path()).join("part-0.parquet"), &events, legacy);
    assert_eq!(
        overall(&run(dir.path(), &spec(json!({}))).expect("runs")),
        [3, 2]
    );
}

#[test]
fn every_documented_example_is_a_valid_spec_that_runs() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples");
    let mut analyses = Vec::new();
    for entry in std::fs::read_dir(&examples).expect("docs/examples") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("readable");
        let spec = sluice_query::QuerySpec::from_json(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // No data: every analysis answers with zeros, after validating every value.
        let dir = tempfile::tempdir().expect("tempdir");
        let result = crate::support::run_any(dir.path(), &spec)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        analyses.push(value["analysis"].as_str().unwrap_or_default().to_owned());
        assert!(!render_table(&result).is_empty());
    }
    analyses.sort();
    analyses.dedup();
    assert_eq!(
        analyses,
        [
            "cohort",
            "events",
            "funnel",
            "lifecycle",
            "paths",
            "retention",
            "rfm",
            "segmentation",
            "stickiness"
        ]
    );
}

#[test]
fn the_openapi_file_covers_every_analysis_and_its_examples_are_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    let text = std::fs::read_to_string(&path).expect("docs/openapi.json");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let mapping = doc["components"]["schemas"]["QuerySpec"]["discriminator"]["mapping"]
        .as_object()
        .expect("discriminator mapping");
    let mut mapped: Vec<&str> = mapping.keys().map(String::as_str).collect();
    mapped.sort();
    let examples = doc["paths"]["/api/v1/query"]["post"]["requestBody"]["content"]
        ["application/json"]["examples"]
        .as_object()
        .expect("examples");
    let mut covered: Vec<String> = Vec::new();
    for (name, example) in examples {
        let value = &example["value"];
        sluice_query::QuerySpec::from_json(&value.to_string())
            .unwrap_or_else(|e| panic!("example {name}: {e}"));
        let analysis = value["analysis"].as_str().expect("analysis").to_owned();
        // Every field of the example is declared in its analysis's schema.
        let schema_name = mapping[&analysis]
            .as_str()
            .and_then(|r| r.rsplit('/').next())
            .expect("schema ref");
        let schema = &doc["components"]["schemas"][schema_name];
        for key in value.as_object().expect("object").keys() {
            assert!(
                schema["properties"].get(key).is_some(),
                "{analysis}: field {key} is not in the OpenAPI schema"
            );
        }
        covered.push(analysis);
    }
    covered.sort();
    covered.dedup();
    assert_eq!(mapped, covered, "an example for every analysis");
}
