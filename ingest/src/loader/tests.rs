use std::collections::BTreeMap;
use std::fs;

use arrow::array::{AsArray, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sluice_schema::Event;

use super::*;
use crate::log::{LocalLog, LocalLogOptions, LogRecord};

const HOUR: i64 = 3_600_000;
/// 2025-01-01T00:00:00Z.
const JAN1: i64 = 1_735_689_600_000;

fn event(i: usize, time: i64) -> Event {
    Event {
        project: "p".into(),
        event_time: time,
        client_event_time: time,
        server_received_time: time,
        event_type: "Viewed".into(),
        device_id: format!("dev-{}", i % 7),
        insert_id: Some(format!("ins-{i}")),
        ..Event::default()
    }
}

fn records(events: &[Event]) -> Vec<LogRecord> {
    events
        .iter()
        .map(|e| LogRecord {
            key: e.device_id.clone(),
            payload: serde_json::to_vec(e).unwrap(),
            copies: crate::log::Copies::of(e),
        })
        .collect()
}

fn config(dir: &std::path::Path, tz: Tz) -> LoaderConfig {
    LoaderConfig {
        dataset_dir: dir.join("data"),
        layout: StorageLayout::default(),
        time_zone: tz,
        max_batch_events: 10,
        flush_interval: Duration::from_millis(20),
        metrics: Arc::new(crate::metrics::IngestMetrics::new()),
    }
}

/// insert_id → how many times it is stored, per date partition.
fn stored(dataset: &std::path::Path) -> BTreeMap<String, Vec<String>> {
    stored_in(&dataset.join("events"))
}

fn stored_in(dataset: &std::path::Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for partition in fs::read_dir(dataset).unwrap() {
        let partition = partition.unwrap();
        let date = partition.file_name().to_str().unwrap().to_owned();
        for file in fs::read_dir(partition.path()).unwrap() {
            let path = file.unwrap().path();
            assert!(
                path.extension().is_some_and(|e| e == "parquet"),
                "stray file {path:?}"
            );
            let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&path).unwrap())
                .unwrap()
                .build()
                .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                let ids = batch
                    .column_by_name("insert_id")
                    .unwrap()
                    .as_string::<i32>();
                for id in ids.iter().flatten() {
                    out.entry(id.to_owned()).or_default().push(date.clone());
                }
            }
        }
    }
    out
}

/// Runs a loader until it has processed (stored or dropped as duplicate) `expected` records, then
/// stops it.
fn load_all(log: &LocalLog, config: LoaderConfig, expected: u64) {
    let progress = Arc::new(LoaderProgress::default());
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let loader = Loader::new(
            log.consumer(LOADER_GROUP).unwrap(),
            config,
            Arc::clone(&progress),
        );
        let running = s.spawn(|| loader.run(&stop));
        let deadline = Instant::now() + Duration::from_secs(20);
        let processed = || {
            progress.events_loaded.load(Ordering::Relaxed)
                + progress.events_deduplicated.load(Ordering::Relaxed)
        };
        while processed() < expected && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
        running.join().unwrap().unwrap();
    });
}

#[tokio::test]
async fn events_land_once_in_their_project_time_zone_date() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(dir.path().join("log"), LocalLogOptions::default()).unwrap();
    // 20:00 UTC on Jan 1 is Jan 2 in Seoul.
    let events: Vec<Event> = (0..25)
        .map(|i| event(i, JAN1 + (i as i64 % 2) * 20 * HOUR))
        .collect();
    log.append(records(&events)).await.unwrap();
    load_all(&log, config(dir.path(), chrono_tz::Asia::Seoul), 25);
    let stored = stored(&dir.path().join("data"));
    assert_eq!(stored.len(), 25);
    for (i, e) in events.iter().enumerate() {
        let dates = &stored[e.insert_id.as_ref().unwrap()];
        let want = if i % 2 == 0 {
            "event_date=2025-01-01"
        } else {
            "event_date=2025-01-02"
        };
        assert_eq!(dates, &vec![want.to_owned()], "event {i}");
    }
    assert_eq!(
        log.consumer(LOADER_GROUP).unwrap().committed(),
        Positions::from([(0, 25)])
    );
}

#[tokio::test]
async fn a_batch_interrupted_after_its_files_is_replayed_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), chrono_tz::UTC);
    let log = LocalLog::open(dir.path().join("log"), LocalLogOptions::default()).unwrap();
    let events: Vec<Event> = (0..12)
        .map(|i| event(i, JAN1 + i as i64 * 6 * HOUR))
        .collect();
    log.append(records(&events)).await.unwrap();

    // A run that wrote every file of the batch [0, 8) and crashed before committing it…
    let mut consumer = log.consumer(LOADER_GROUP).unwrap();
    let batch = consumer.poll(8, Duration::ZERO).unwrap();
    let intent = Intent {
        start: Positions::from([(0, 0)]),
        end: consumer.position(),
    };
    intent::record(&cfg.dataset_dir, &intent).unwrap();
    parquet_files::write_batch(&cfg, &intent.file_name(None), &decode(&batch).unwrap()).unwrap();
    // …and left a half-written temp file of a later batch behind.
    let partition = parquet_files::partition_dir(
        &cfg.dataset_dir,
        chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
    );
    fs::write(partition.join(".part-p0-x.parquet.tmp"), b"torn").unwrap();
    let staged = cfg
        .dataset_dir
        .join(parquet_files::STAGING_DIR)
        .join("events~event_date=2025-01-01~part-p0-y.parquet.tmp");
    fs::write(&staged, b"torn").unwrap();
    drop(consumer);

    load_all(&log, cfg.clone(), 12);
    assert!(!staged.exists(), "staged temp files are cleaned up");
    assert!(!partition.join(".part-p0-x.parquet.tmp").exists());
    let stored = stored(&cfg.dataset_dir);
    assert_eq!(stored.len(), 12, "every event is stored");
    assert!(
        stored.values().all(|dates| dates.len() == 1),
        "no event twice: {stored:?}"
    );
    assert!(intent::read(&cfg.dataset_dir).unwrap().is_none());
}

#[tokio::test]
async fn a_batch_interrupted_before_any_file_is_replayed_with_the_same_range() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), chrono_tz::UTC);
    let log = LocalLog::open(dir.path().join("log"), LocalLogOptions::default()).unwrap();
    let events: Vec<Event> = (0..6).map(|i| event(i, JAN1)).collect();
    log.append(records(&events)).await.unwrap();
    let intent = Intent {
        start: Positions::from([(0, 0)]),
        end: Positions::from([(0, 4)]),
    };
    intent::record(&cfg.dataset_dir, &intent).unwrap();
    // More events arrive before the restart; the replay must still cut the batch at 4.
    let later: Vec<Event> = (6..9).map(|i| event(i, JAN1)).collect();
    log.append(records(&later)).await.unwrap();

    load_all(&log, cfg.clone(), 9);
    let files: Vec<String> = fs::read_dir(parquet_files::partition_dir(
        &cfg.dataset_dir,
        chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
    ))
    .unwrap()
    .map(|f| f.unwrap().file_name().to_str().unwrap().to_owned())
    .collect();
    assert!(files.contains(&intent.file_name(None)), "{files:?}");
    let stored = stored(&cfg.dataset_dir);
    assert_eq!(stored.len(), 9);
    assert!(stored.values().all(|d| d.len() == 1));
}

#[tokio::test]
async fn repeated_insert_ids_are_stored_once_and_events_carry_user_properties() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), chrono_tz::UTC);
    let log = LocalLog::open(dir.path().join("log"), LocalLogOptions::default()).unwrap();
    let mut identify = event(100, JAN1);
    identify.event_type = "$identify".into();
    identify.user_id = Some("user-1".into());
    identify.user_properties = serde_json::json!({"$set": {"plan": "pro"}})
        .as_object()
        .unwrap()
        .clone();
    let mut view = event(101, JAN1 + 1);
    view.user_id = Some("user-1".into());
    // 14 events, of which 7 repeat earlier insert_ids (an SDK retrying after a lost answer).
    let mut events: Vec<Event> = (0..7).map(|i| event(i, JAN1)).collect();
    events.extend((0..7).map(|i| event(i, JAN1 + 5)));
    events.push(identify);
    events.push(view.clone());
    events.push(view);
    log.append(records(&events)).await.unwrap();
    load_all(&log, cfg.clone(), events.len() as u64);

    let stored = stored(&cfg.dataset_dir);
    assert_eq!(
        stored.len(),
        9,
        "7 distinct events, the identify and one view"
    );
    assert!(stored.values().all(|d| d.len() == 1), "{stored:?}");
    let metrics = &cfg.metrics;
    assert_eq!(
        metrics.events_counted(crate::metrics::Outcome::Deduplicated),
        8
    );
    assert_eq!(metrics.events_counted(crate::metrics::Outcome::Loaded), 9);

    let plans = column_values(&cfg.dataset_dir, "user_properties");
    assert!(
        plans
            .iter()
            .filter(|p| p.as_deref() == Some(r#"{"plan":"pro"}"#))
            .count()
            == 2,
        "the identify and the view after it carry plan=pro: {plans:?}"
    );
}

/// Every value of a string column over the dataset.
fn column_values(dataset: &std::path::Path, column: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for partition in fs::read_dir(dataset.join("events")).unwrap() {
        for file in fs::read_dir(partition.unwrap().path()).unwrap() {
            let reader = ParquetRecordBatchReaderBuilder::try_new(
                fs::File::open(file.unwrap().path()).unwrap(),
            )
            .unwrap()
            .build()
            .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                let values = batch.column_by_name(column).unwrap().as_string::<i32>();
                out.extend(values.iter().map(|v| v.map(str::to_owned)));
            }
        }
    }
    out
}

#[tokio::test]
async fn quarantined_events_go_to_the_quarantine_dataset_with_their_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), chrono_tz::UTC);
    let log = LocalLog::open(dir.path().join("log"), LocalLogOptions::default()).unwrap();
    let events: Vec<Event> = (0..6)
        .map(|i| {
            let mut e = event(i, JAN1);
            if i % 3 == 0 {
                e.quarantined = true;
                e.taxonomy_issues = vec![format!("unplanned event {i}")];
            }
            e
        })
        .collect();
    log.append(records(&events)).await.unwrap();
    load_all(&log, cfg.clone(), 6);
    let main: Vec<String> = stored(&cfg.dataset_dir).into_keys().collect();
    let quarantine: Vec<String> = stored_in(&cfg.dataset_dir.join("quarantine"))
        .into_keys()
        .collect();
    assert_eq!(main, ["ins-1", "ins-2", "ins-4", "ins-5"]);
    assert_eq!(quarantine, ["ins-0", "ins-3"]);
    assert_eq!(
        cfg.metrics
            .events_counted(crate::metrics::Outcome::Quarantined),
        2
    );
}

#[test]
fn batches_are_decoded_in_slices_of_about_the_given_size() {
    let records: Vec<ConsumedRecord> = [3, 3, 3, 9, 1, 1]
        .iter()
        .enumerate()
        .map(|(i, &len)| ConsumedRecord {
            partition: 0,
            offset: i as u64,
            payload: vec![b' '; len],
        })
        .collect();
    let cut: Vec<Vec<u64>> = slices(&records, 6)
        .map(|s| s.iter().map(|r| r.offset).collect())
        .collect();
    // A record larger than the size gets a slice of its own; nothing is skipped or repeated.
    assert_eq!(cut, [vec![0, 1], vec![2], vec![3], vec![4, 5]]);
    assert_eq!(slices(&[], 6).count(), 0);
}

/// Every record batch of the Parquet files in `dir` (not recursive).
fn read_rows(dir: &std::path::Path) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    for file in fs::read_dir(dir).unwrap() {
        let path = file.unwrap().path();
        let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        batches.extend(reader.map(Result::unwrap));
    }
    batches
}

#[tokio::test]
async fn events_carry_their_person_and_merges_are_written_to_the_identity_dataset() {
    use arrow::datatypes::Int64Type;
    let dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(dir.path().join("log"), LocalLogOptions::default()).unwrap();
    let mut events: Vec<Event> = (0..4).map(|i| event(i, JAN1 + i as i64)).collect();
    // Device "g": anonymous, then logs in as "john", then anonymous again.
    for (e, user) in events
        .iter_mut()
        .zip([None, Some("john"), None, Some("mary")])
    {
        e.device_id = "g".into();
        e.user_id = user.map(str::to_owned);
    }
    log.append(records(&events)).await.unwrap();
    let config = config(dir.path(), Tz::UTC);
    let data = config.dataset_dir.clone();
    load_all(&log, config, 4);

    let mut persons = BTreeMap::new();
    let day = data.join("events").join("event_date=2025-01-01");
    for batch in read_rows(&day) {
        let ids = batch
            .column_by_name("insert_id")
            .unwrap()
            .as_string::<i32>();
        let person = batch
            .column_by_name("person_id")
            .unwrap()
            .as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            persons.insert(ids.value(row).to_owned(), person.value(row));
        }
    }
    // Anonymous person 0, john 1 (and the anonymous event after him), mary 2: users never merge.
    let expected = [("ins-0", 0), ("ins-1", 1), ("ins-2", 1), ("ins-3", 2)];
    assert_eq!(persons, expected.map(|(k, v)| (k.to_owned(), v)).into());

    let merges: Vec<(String, i64, i64, i64)> = read_rows(&data.join("identity"))
        .iter()
        .flat_map(|batch| {
            let kind = batch.column_by_name("kind").unwrap().as_string::<i32>();
            let int = |name| {
                batch
                    .column_by_name(name)
                    .unwrap()
                    .as_primitive::<Int64Type>()
            };
            let (from, into, time) = (int("person_id"), int("merged_into"), int("time"));
            (0..batch.num_rows())
                .map(|r| {
                    let kind = kind.value(r).to_owned();
                    (kind, from.value(r), into.value(r), time.value(r))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(merges, [("merge".to_owned(), 0, 1, JAN1 + 1)]);
}

#[tokio::test]
async fn times_and_ids_are_stored_as_bit_packed_differences_and_read_back() {
    use parquet::basic::Encoding;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(dir.path().join("log"), LocalLogOptions::default()).unwrap();
    let events: Vec<Event> = (0..25).map(|i| event(i, JAN1 + 7_919 * i as i64)).collect();
    log.append(records(&events)).await.unwrap();
    load_all(&log, config(dir.path(), chrono_tz::UTC), 25);
    let partition = dir.path().join("data/events/event_date=2025-01-01");
    let mut times = Vec::new();
    let mut packed = std::collections::BTreeSet::new();
    for file in fs::read_dir(&partition).unwrap() {
        let file = fs::File::open(file.unwrap().path()).unwrap();
        let reader = SerializedFileReader::new(file).unwrap();
        for group in reader.metadata().row_groups() {
            for chunk in group.columns() {
                if chunk
                    .encodings()
                    .any(|e| e == Encoding::DELTA_BINARY_PACKED)
                {
                    packed.insert(chunk.column_path().string());
                }
            }
        }
    }
    // The columns every analysis reads are among them.
    for column in ["event_time", "person_id"] {
        assert!(packed.contains(column), "{column} not packed: {packed:?}");
    }
    assert_eq!(
        packed,
        parquet_files::DELTA_PACKED
            .iter()
            .map(|c| c.to_string())
            .collect()
    );
    for batch in read_rows(&partition) {
        let column = batch.column_by_name("event_time").unwrap();
        let column = column.as_primitive::<arrow::datatypes::TimestampMillisecondType>();
        times.extend(column.values().iter().copied());
    }
    times.sort_unstable();
    let sent: Vec<i64> = events.iter().map(|e| e.event_time).collect();
    assert_eq!(times, sent);
}
