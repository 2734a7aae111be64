//! Test data: events written as Parquet files in the stored layout, and helpers to run specs.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use chrono::{DateTime, TimeZone};
use chrono_tz::Tz;
use parquet::arrow::ArrowWriter;
use serde_json::{Map, Value, json};
use sluice_query::result::{FunnelResult, QueryResult};
use sluice_query::{QueryEngine, QueryError, QuerySpec};
use sluice_schema::layout::identity::{IDENTITY_DIR, KIND_MERGE, identity_schema};

/// One event as the tests describe it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TestEvent {
    pub(crate) ts: i64,
    pub(crate) event_type: String,
    pub(crate) user_id: Option<String>,
    pub(crate) device_id: String,
    pub(crate) project: String,
    /// Event property `category`.
    pub(crate) category: Option<String>,
    /// User property `plan`.
    pub(crate) plan: Option<String>,
    /// Top-level field `platform`.
    pub(crate) platform: Option<String>,
    /// Event property `amount` (a number).
    pub(crate) amount: Option<f64>,
    /// Field `session_id` (Amplitude's `-1` when absent: no session).
    pub(crate) session: Option<i64>,
    /// The person the loader assigned, when not the event's own user or device (an anonymous
    /// event of a device that a user logged in on).
    pub(crate) person_override: Option<String>,
}

/// An event of project `p1` by user `user` (device `d-<user>`) with no properties.
pub(crate) fn ev(ts: i64, event_type: &str, user: &str) -> TestEvent {
    TestEvent {
        ts,
        event_type: event_type.to_owned(),
        user_id: Some(user.to_owned()),
        device_id: format!("d-{user}"),
        project: "p1".to_owned(),
        category: None,
        plan: None,
        platform: None,
        amount: None,
        session: None,
        person_override: None,
    }
}

impl TestEvent {
    pub(crate) fn category(mut self, value: &str) -> Self {
        self.category = Some(value.to_owned());
        self
    }

    pub(crate) fn plan(mut self, value: &str) -> Self {
        self.plan = Some(value.to_owned());
        self
    }

    pub(crate) fn platform(mut self, value: &str) -> Self {
        self.platform = Some(value.to_owned());
        self
    }

    pub(crate) fn amount(mut self, value: f64) -> Self {
        self.amount = Some(value);
        self
    }

    pub(crate) fn session(mut self, id: i64) -> Self {
        self.session = Some(id);
        self
    }

    pub(crate) fn with_user(mut self, user: &str) -> Self {
        self.user_id = Some(user.to_owned());
        self
    }

    pub(crate) fn anonymous(mut self, device: &str) -> Self {
        self.user_id = None;
        self.device_id = device.to_owned();
        self
    }

    /// The person key the engine counts by.
    pub(crate) fn person(&self) -> &str {
        self.person_override
            .as_deref()
            .or(self.user_id.as_deref())
            .unwrap_or(&self.device_id)
    }
}

/// How a file stores properties.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FileShape {
    /// `category` in a typed `ep:category` column (else in `event_properties` JSON).
    pub(crate) typed_category: bool,
    /// `plan` in a typed `up:plan` column (else in `user_properties` JSON).
    pub(crate) typed_plan: bool,
    /// `amount` in a typed `ep:amount` Float64 column (else a number in `event_properties`).
    pub(crate) typed_amount: bool,
    /// Add an `ep:price` Float64 column no other file has.
    pub(crate) price_column: bool,
    /// Written before person ids existed: no `person_id` column.
    pub(crate) without_person_id: bool,
}

/// The `person_id` the loader would give the event's person (a person is its user id, else its
/// device, unless `person_override` says otherwise): dense numbers in first-seen order, as the
/// loader gives them, shared by every test of this process so that a key always has one id.
pub(crate) fn person_id(event: &TestEvent) -> i64 {
    static IDS: std::sync::Mutex<Option<std::collections::HashMap<String, i64>>> =
        std::sync::Mutex::new(None);
    let mut ids = IDS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let ids = ids.get_or_insert_with(Default::default);
    let next = ids.len() as i64;
    *ids.entry(event.person().to_owned()).or_insert(next)
}

/// A record batch of `events` in the stored layout (rows in the given order).
pub(crate) fn batch(events: &[TestEvent], shape: FileShape) -> RecordBatch {
    let text = |f: &dyn Fn(&TestEvent) -> Option<String>| -> ArrayRef {
        Arc::new(events.iter().map(f).collect::<StringArray>())
    };
    let bag = |props: Vec<(&str, Option<Value>)>| -> Option<String> {
        let mut map = Map::new();
        map.insert("noise".into(), json!(1));
        for (key, value) in props {
            if let Some(v) = value {
                map.insert(key.into(), v);
            }
        }
        Some(Value::Object(map).to_string())
    };
    let text_value = |v: Option<&String>| v.map(|v| Value::String(v.clone()));
    let mut fields = vec![
        Field::new("project", DataType::Utf8, false),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("user_id", DataType::Utf8, true),
        Field::new("device_id", DataType::Utf8, false),
        Field::new("platform", DataType::Utf8, true),
        Field::new("event_properties", DataType::Utf8, true),
        Field::new("user_properties", DataType::Utf8, true),
    ];
    let times = TimestampMillisecondArray::from(events.iter().map(|e| e.ts).collect::<Vec<_>>())
        .with_timezone("UTC");
    let mut columns: Vec<ArrayRef> = vec![
        text(&|e| Some(e.project.clone())),
        Arc::new(times),
        text(&|e| Some(e.event_type.clone())),
        text(&|e| e.user_id.clone()),
        text(&|e| Some(e.device_id.clone())),
        text(&|e| e.platform.clone()),
        text(&|e| {
            bag(vec![
                (
                    "category",
                    text_value(e.category.as_ref().filter(|_| !shape.typed_category)),
                ),
                (
                    "amount",
                    e.amount.filter(|_| !shape.typed_amount).map(|a| json!(a)),
                ),
            ])
        }),
        text(&|e| {
            bag(vec![(
                "plan",
                text_value(e.plan.as_ref().filter(|_| !shape.typed_plan)),
            )])
        }),
    ];
    fields.push(Field::new("session_id", DataType::Int64, true));
    columns.push(Arc::new(
        events
            .iter()
            .map(|e| Some(e.session.unwrap_or(-1)))
            .collect::<Int64Array>(),
    ));
    if !shape.without_person_id {
        fields.push(Field::new("person_id", DataType::Int64, true));
        columns.push(Arc::new(
            events
                .iter()
                .map(|e| Some(person_id(e)))
                .collect::<Int64Array>(),
        ));
    }
    if shape.typed_category {
        fields.push(Field::new("ep:category", DataType::Utf8, true));
        columns.push(text(&|e| e.category.clone()));
    }
    if shape.typed_plan {
        fields.push(Field::new("up:plan", DataType::Utf8, true));
        columns.push(text(&|e| e.plan.clone()));
    }
    if shape.typed_amount {
        fields.push(Field::new("ep:amount", DataType::Float64, true));
        columns.push(Arc::new(
            events.iter().map(|e| e.amount).collect::<Float64Array>(),
        ));
    }
    if shape.price_column {
        fields.push(Field::new("ep:price", DataType::Float64, true));
        columns.push(Arc::new(Float64Array::from(vec![Some(9.5); events.len()])));
        fields.push(Field::new("ep:count", DataType::Int64, true));
        columns.push(Arc::new(Int64Array::from(vec![Some(3); events.len()])));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("valid batch")
}

/// Writes `events` as one Parquet file at `path` (folders created).
pub(crate) fn write_file(path: &Path, events: &[TestEvent], shape: FileShape) {
    std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
    let batch = batch(events, shape);
    let file = File::create(path).expect("create file");
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

/// The partition folder of `ts` for a project in `tz`.
pub(crate) fn partition(data_dir: &Path, ts: i64, tz: Tz) -> std::path::PathBuf {
    let date = DateTime::from_timestamp_millis(ts)
        .expect("time")
        .with_timezone(&tz)
        .date_naive();
    data_dir.join("events").join(format!("event_date={date}"))
}

/// Writes `events` into partition folders by UTC date, `files_per_date` files per folder
/// (events dealt round-robin), so one person's events are spread over files.
pub(crate) fn write_dataset(data_dir: &Path, events: &[TestEvent], files_per_date: usize) {
    let mut by_folder: std::collections::BTreeMap<_, Vec<Vec<TestEvent>>> = Default::default();
    for (i, event) in events.iter().enumerate() {
        let files = by_folder
            .entry(partition(data_dir, event.ts, chrono_tz::UTC))
            .or_insert_with(|| vec![Vec::new(); files_per_date.max(1)]);
        let n = files.len();
        files[i % n].push(event.clone());
    }
    for (folder, files) in by_folder {
        for (i, events) in files.iter().enumerate().filter(|(_, e)| !e.is_empty()) {
            let shape = FileShape {
                typed_category: i % 2 == 0,
                typed_amount: i % 2 == 1,
                ..FileShape::default()
            };
            write_file(&folder.join(format!("part-{i}.parquet")), events, shape);
        }
    }
}

/// Unix ms of a UTC wall-clock time.
pub(crate) fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    chrono::Utc
        .with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .expect("valid time")
        .timestamp_millis()
}

/// A funnel spec from its parts (`extra` is merged into the object).
pub(crate) fn funnel_spec(steps: &[&str], from: &str, to: &str, extra: Value) -> QuerySpec {
    let mut spec = json!({
        "version": 1,
        "analysis": "funnel",
        "date_range": {"from": from, "to": to},
        "steps": steps.iter().map(|s| json!({"event_type": s})).collect::<Vec<_>>(),
    });
    if let (Some(spec), Value::Object(extra)) = (spec.as_object_mut(), extra) {
        spec.extend(extra);
    }
    QuerySpec::from_json(&spec.to_string()).expect("valid spec JSON")
}

/// Runs `spec` over `data_dir` on a fresh runtime.
pub(crate) fn run(data_dir: &Path, spec: &QuerySpec) -> Result<FunnelResult, QueryError> {
    match run_any(data_dir, spec)? {
        QueryResult::Funnel(result) => Ok(result),
        other => panic!("not a funnel result: {other:?}"),
    }
}

/// Runs any spec on a fresh single-threaded runtime.
pub(crate) fn run_any(data_dir: &Path, spec: &QuerySpec) -> Result<QueryResult, QueryError> {
    block_on(QueryEngine::new(data_dir).run(spec))
}

/// Runs `future` to its end on a fresh single-threaded runtime.
pub(crate) fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// Persons per step of the overall row.
pub(crate) fn overall(result: &FunnelResult) -> Vec<u64> {
    result.overall.steps.iter().map(|s| s.persons).collect()
}

/// Persons per step of each breakdown row, in the result's order.
pub(crate) fn rows(result: &FunnelResult) -> Vec<(Option<String>, Vec<u64>)> {
    result
        .by_breakdown
        .iter()
        .map(|row| {
            (
                row.value.clone(),
                row.steps.iter().map(|s| s.persons).collect(),
            )
        })
        .collect()
}

/// Writes an identity file `name` merging `from` into `into`.
pub(crate) fn write_merge(dir: &Path, name: &str, from: i64, into: i64) {
    let folder = dir.join(IDENTITY_DIR);
    std::fs::create_dir_all(&folder).expect("mkdir");
    let batch = RecordBatch::try_new(
        identity_schema(),
        vec![
            Arc::new(StringArray::from(vec![KIND_MERGE])),
            Arc::new(StringArray::from(vec!["p1"])),
            Arc::new(StringArray::from(vec![None::<&str>])),
            Arc::new(Int64Array::from(vec![from])),
            Arc::new(Int64Array::from(vec![Some(into)])),
            Arc::new(Int64Array::from(vec![0])),
        ],
    )
    .expect("batch");
    let file = File::create(folder.join(name)).expect("create");
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}
