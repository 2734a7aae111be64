use std::collections::BTreeMap;
use std::sync::atomic::AtomicUsize;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::datatypes::DataType;

use super::*;
use crate::loader::Intent;
use crate::log::Positions;

/// 2025-01-01T00:00:00Z.
const JAN1: i64 = 1_735_689_600_000;
const PARTITION: &str = "event_date=2025-01-01";

fn event(i: usize) -> Event {
    let time = JAN1 + (i as i64 * 7_919) % 80_000_000;
    Event {
        project: "p".into(),
        event_time: time,
        client_event_time: time,
        server_received_time: time,
        event_type: ["Viewed", "Added", "Bought"][i % 3].into(),
        user_id: (!i.is_multiple_of(3)).then(|| format!("user-{}", i % 11)),
        device_id: format!("dev-{}", i % 13),
        insert_id: Some(format!("ins-{i}")),
        person_id: Some((i % 7) as i64),
        ..Event::default()
    }
}

/// Writes `files` loader files of `per_file` events each; returns all insert ids.
fn write_loader_files(data: &Path, files: usize, per_file: usize) -> Vec<String> {
    let dir = data.join(EVENTS_DIR).join(PARTITION);
    let mut ids = Vec::new();
    for f in 0..files {
        let events: Vec<Event> = (f * per_file..(f + 1) * per_file).map(event).collect();
        ids.extend(events.iter().map(|e| e.insert_id.clone().unwrap()));
        let name = format!(
            "part-p0-{:020}-{:020}.parquet",
            f * per_file,
            (f + 1) * per_file
        );
        write_file(&StorageLayout::default(), data, &dir, &name, &events).unwrap();
    }
    ids
}

/// insert id → copies, read the way a query must: retried unless the epoch was the same even
/// number before and after the listing and reading.
fn consistent_read(data: &Path) -> BTreeMap<String, usize> {
    let events_dir = data.join(EVENTS_DIR);
    loop {
        let before = read_epoch(&events_dir).unwrap();
        if before % 2 == 1 {
            std::thread::yield_now();
            continue;
        }
        let read = read_all(&events_dir.join(PARTITION));
        if let (Some(ids), Ok(after)) = (read, read_epoch(&events_dir))
            && after == before
        {
            return ids;
        }
    }
}

/// `None` when a listed file vanished before it was read (a query retries then).
fn read_all(dir: &Path) -> Option<BTreeMap<String, usize>> {
    let mut ids = BTreeMap::new();
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".parquet") || name.starts_with('.') {
            continue;
        }
        for e in read_events(&entry.path()).ok()? {
            *ids.entry(e.insert_id.unwrap()).or_insert(0) += 1;
        }
    }
    Some(ids)
}

fn parquet_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".parquet"))
        .collect();
    names.sort();
    names
}

fn options(min_files: usize) -> CompactionOptions {
    CompactionOptions {
        min_files,
        ..CompactionOptions::default()
    }
}

#[test]
fn small_files_become_one_sorted_file_with_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let ids = write_loader_files(data, 10, 50);
    let report = compact(data, &options(4)).unwrap();
    assert_eq!(
        (report.files_in, report.files_out, report.events),
        (10, 1, 500)
    );

    let partition = data.join(EVENTS_DIR).join(PARTITION);
    let files = parquet_files(&partition);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with("compact-"));
    let events = read_events(&partition.join(&files[0])).unwrap();
    let stored: BTreeMap<_, _> = events
        .iter()
        .map(|e| (e.insert_id.clone().unwrap(), 1))
        .collect();
    assert_eq!(stored.len(), ids.len());
    let keys: Vec<_> = events
        .iter()
        .map(|e| {
            let kind = (e.project.clone(), e.event_type.clone());
            (kind, e.person_id, e.event_time)
        })
        .collect();
    assert!(
        keys.is_sorted(),
        "output is not sorted by project, event type, person, time"
    );
    assert_eq!(read_epoch(&data.join(EVENTS_DIR)).unwrap(), 2);
    // Nothing left to do: a second run changes nothing.
    assert_eq!(compact(data, &options(4)).unwrap().files_in, 0);
}

#[test]
fn partitions_with_few_small_files_and_files_of_uncommitted_batches_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    write_loader_files(data, 5, 20);
    // The batch of the third file is not committed: its intent is still on disk.
    let intent = Intent {
        start: Positions::from([(0, 40)]),
        end: Positions::from([(0, 60)]),
    };
    crate::loader::intent::record(data, &intent).unwrap();
    let report = compact(data, &options(5)).unwrap();
    assert_eq!(
        report.files_in, 0,
        "4 committed small files are fewer than 5"
    );
    let report = compact(data, &options(4)).unwrap();
    assert_eq!(report.files_in, 4);
    let files = parquet_files(&data.join(EVENTS_DIR).join(PARTITION));
    assert!(
        files.contains(&format!("part-p0-{:020}-{:020}.parquet", 40, 60)),
        "{files:?}"
    );
    assert_eq!(files.len(), 2);
}

#[test]
fn a_swap_interrupted_after_its_manifest_is_finished_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let ids = write_loader_files(data, 6, 10);
    // Steps 1 and 2 of a swap, and the epoch turned odd: then the process died.
    let partition = data.join(EVENTS_DIR).join(PARTITION);
    let inputs = parquet_files(&partition)[..3].to_vec();
    let mut events = Vec::new();
    for name in &inputs {
        events.extend(read_events(&partition.join(name)).unwrap());
    }
    let work = data.join(WORK_DIR);
    write_file(
        &StorageLayout::default(),
        data,
        &work,
        "compact-1.parquet",
        &events,
    )
    .unwrap();
    let manifest = Manifest {
        dataset: EVENTS_DIR.into(),
        partition: PARTITION.into(),
        output: "compact-1.parquet".into(),
        inputs,
    };
    fs::write(work.join(MANIFEST), serde_json::to_vec(&manifest).unwrap()).unwrap();
    set_epoch_odd(&data.join(EVENTS_DIR), true).unwrap();

    compact(data, &options(100)).unwrap();
    assert!(!work.join(MANIFEST).exists());
    assert_eq!(read_epoch(&data.join(EVENTS_DIR)).unwrap() % 2, 0);
    let stored = consistent_read(data);
    assert_eq!(stored.len(), ids.len());
    assert!(stored.values().all(|n| *n == 1), "{stored:?}");
}

#[test]
fn readers_never_see_an_event_twice_or_not_at_all_while_compaction_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    write_loader_files(&data, 8, 25);
    let stop = Arc::new(AtomicBool::new(false));
    // Files of 10 events written so far (after the first 200 events).
    let written = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (data, stop, written) = (data.clone(), Arc::clone(&stop), Arc::clone(&written));
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) || reads < 20 {
                let at_least = 200 + 10 * written.load(Ordering::SeqCst);
                let ids = consistent_read(&data);
                assert!(ids.values().all(|n| *n == 1), "a reader saw an event twice");
                assert!(
                    ids.len() >= at_least,
                    "a reader missed events: {} < {at_least}",
                    ids.len()
                );
                assert_eq!(ids.len() % 10, 0, "a reader saw part of a file");
                reads += 1;
            }
            reads
        })
    };
    // Rounds of "a loader adds small files, the compactor folds them in".
    let partition = data.join(EVENTS_DIR).join(PARTITION);
    for round in 0..6 {
        let base = 10_000 * (round + 1);
        for f in 0..4 {
            let events: Vec<Event> = (base + f * 10..base + (f + 1) * 10).map(event).collect();
            let name = format!(
                "part-p0-{:020}-{:020}.parquet",
                base + f * 10,
                base + (f + 1) * 10
            );
            write_file(&StorageLayout::default(), &data, &partition, &name, &events).unwrap();
            written.fetch_add(1, Ordering::SeqCst);
        }
        let report = compact(&data, &options(2)).unwrap();
        assert!(report.files_in >= 4);
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() >= 20);
    let last = consistent_read(&data);
    assert_eq!(last.len(), 200 + 6 * 40);
    assert_eq!(parquet_files(&partition).len(), 1);
}

/// The name of the batch file `f` (events `10·f` to `10·f + 10` of partition 0).
fn batch_name(f: usize) -> String {
    format!("part-p0-{:020}-{:020}.parquet", 10 * f, 10 * f + 10)
}

/// Writes `files` identity files, file f merging persons `100 + 10·f + k` (k < 3) into f.
fn write_identity_files(data: &Path, files: usize) {
    for f in 0..files {
        let persons: Vec<i64> = (0..3).map(|k| 100 + 10 * f as i64 + k).collect();
        let text = |value: &str| Arc::new(StringArray::from(vec![value; 3])) as ArrayRef;
        let columns = vec![
            text("merge"),
            text("p"),
            Arc::new(StringArray::new_null(3)) as ArrayRef,
            Arc::new(Int64Array::from(persons)),
            Arc::new(Int64Array::from(vec![f as i64; 3])),
            Arc::new(Int64Array::from(vec![JAN1; 3])),
        ];
        let batch = RecordBatch::try_new(identity_schema(), columns).unwrap();
        let dir = data.join(IDENTITY_DIR);
        write_identity_batches(data, &dir, &batch_name(f), &[batch]).unwrap();
    }
}

/// Every merge `(person, into)` in the identity files, with how many times it is stored.
fn stored_merges(data: &Path) -> BTreeMap<(i64, i64), usize> {
    let dir = data.join(IDENTITY_DIR);
    let mut merges = BTreeMap::new();
    for name in parquet_files(&dir) {
        for batch in read_identity_rows(&dir.join(name)).unwrap() {
            let column = |name: &str| {
                let column = batch.column_by_name(name).unwrap();
                assert_eq!(column.data_type(), &DataType::Int64);
                column
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .clone()
            };
            let (persons, into) = (column("person_id"), column("merged_into"));
            for (person, into) in persons.values().iter().zip(into.values()) {
                *merges.entry((*person, *into)).or_insert(0) += 1;
            }
        }
    }
    merges
}

#[test]
fn identity_files_become_one_with_every_merge_once_but_an_uncommitted_batch_s() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    write_loader_files(data, 1, 5);
    write_identity_files(data, 5);
    let before = stored_merges(data);
    assert_eq!(before.len(), 15);
    // The batch of the fourth file is not committed: its intent is still on disk.
    let intent = Intent {
        start: Positions::from([(0, 30)]),
        end: Positions::from([(0, 40)]),
    };
    crate::loader::intent::record(data, &intent).unwrap();
    let report = compact(data, &options(4)).unwrap();
    assert_eq!((report.files_in, report.files_out), (4, 1));
    let files = parquet_files(&data.join(IDENTITY_DIR));
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.contains(&batch_name(3)), "{files:?}");
    assert!(files.iter().any(|f| f.starts_with("compact-")), "{files:?}");
    assert_eq!(stored_merges(data), before);
    assert_eq!(read_epoch(&data.join(EVENTS_DIR)).unwrap(), 2);
    // Too few files left to compact again.
    assert_eq!(compact(data, &options(4)).unwrap().files_in, 0);
}

#[test]
fn an_identity_swap_interrupted_after_its_manifest_is_finished_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    write_loader_files(data, 1, 5);
    write_identity_files(data, 3);
    let before = stored_merges(data);
    let identity = data.join(IDENTITY_DIR);
    let inputs = parquet_files(&identity)[..2].to_vec();
    let mut batches = Vec::new();
    for name in &inputs {
        batches.extend(read_identity_rows(&identity.join(name)).unwrap());
    }
    let work = data.join(WORK_DIR);
    write_identity_batches(data, &work, "compact-1.parquet", &batches).unwrap();
    let manifest = Manifest {
        dataset: IDENTITY_DIR.into(),
        partition: String::new(),
        output: "compact-1.parquet".into(),
        inputs,
    };
    fs::write(work.join(MANIFEST), serde_json::to_vec(&manifest).unwrap()).unwrap();
    set_epoch_odd(&data.join(EVENTS_DIR), true).unwrap();

    compact(data, &options(100)).unwrap();
    assert!(!work.join(MANIFEST).exists());
    assert_eq!(read_epoch(&data.join(EVENTS_DIR)).unwrap() % 2, 0);
    assert_eq!(parquet_files(&identity).len(), 2);
    assert_eq!(stored_merges(data), before);
}

#[test]
fn a_manifest_of_an_older_version_is_of_the_events_dataset_and_an_unknown_dataset_is_refused() {
    let old: Manifest =
        serde_json::from_str(r#"{"partition":"event_date=2025-01-01","output":"o","inputs":[]}"#)
            .unwrap();
    assert_eq!(old.dataset, EVENTS_DIR);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    write_loader_files(data, 1, 5);
    let work = data.join(WORK_DIR);
    fs::create_dir_all(&work).unwrap();
    let escaping = r#"{"dataset":"..","partition":"","output":"o","inputs":["x"]}"#;
    fs::write(work.join(MANIFEST), escaping).unwrap();
    assert!(matches!(
        compact(data, &options(1)),
        Err(CompactionError::CorruptManifest(_))
    ));
}
