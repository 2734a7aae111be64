use std::io::Write;

use super::*;

fn record(i: usize) -> LogRecord {
    LogRecord {
        key: format!("dev-{}", i % 3),
        payload: format!("event-{i}").into_bytes(),
        copies: crate::log::Copies::default(),
    }
}

fn payloads(records: &[ConsumedRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.payload.clone()).unwrap())
        .collect()
}

fn small_segments() -> LocalLogOptions {
    LocalLogOptions {
        segment_bytes: 100,
        ..LocalLogOptions::default()
    }
}

#[tokio::test]
async fn appended_records_are_read_back_in_order_with_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(dir.path(), LocalLogOptions::default()).unwrap();
    log.append((0..5).map(record).collect()).await.unwrap();
    log.append((5..7).map(record).collect()).await.unwrap();
    assert_eq!(log.durable_end(), 7);
    let mut consumer = log.consumer("loader").unwrap();
    let got = consumer.poll(100, Duration::ZERO).unwrap();
    assert_eq!(
        got.iter().map(|r| r.offset).collect::<Vec<_>>(),
        (0..7).collect::<Vec<_>>()
    );
    assert_eq!(payloads(&got)[6], "event-6");
    assert!(
        consumer
            .poll(100, Duration::from_millis(10))
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn concurrent_appends_are_all_durable() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(LocalLog::open(dir.path(), LocalLogOptions::default()).unwrap());
    let tasks: Vec<_> = (0..50)
        .map(|t| {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                log.append((t * 10..t * 10 + 10).map(record).collect())
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(log.durable_end(), 500);
    let mut seen = payloads(
        &log.consumer("c")
            .unwrap()
            .poll(1000, Duration::ZERO)
            .unwrap(),
    );
    seen.sort();
    let mut want: Vec<String> = (0..500).map(|i| format!("event-{i}")).collect();
    want.sort();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn reopening_resumes_offsets_and_committed_positions() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = LocalLog::open(dir.path(), small_segments()).unwrap();
        log.append((0..20).map(record).collect()).await.unwrap();
        let mut c = log.consumer("loader").unwrap();
        let got = c.poll(8, Duration::ZERO).unwrap();
        assert_eq!(got.len(), 8);
        c.commit(&c.position()).unwrap();
    }
    let log = LocalLog::open(dir.path(), small_segments()).unwrap();
    assert_eq!(log.durable_end(), 20);
    log.append(vec![record(20)]).await.unwrap();
    let mut c = log.consumer("loader").unwrap();
    assert_eq!(c.committed(), Positions::from([(0, 8)]));
    let got = c.poll(100, Duration::ZERO).unwrap();
    assert_eq!(got.first().map(|r| r.offset), Some(8));
    assert_eq!(payloads(&got).last().map(String::as_str), Some("event-20"));
    assert_eq!(got.len(), 13);
}

#[tokio::test]
async fn a_torn_tail_is_truncated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = LocalLog::open(dir.path(), LocalLogOptions::default()).unwrap();
        log.append((0..3).map(record).collect()).await.unwrap();
    }
    // Simulate a crash mid-write: half a frame at the end of the segment.
    let path = segment::segment_path(dir.path(), 0);
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
    drop(file);
    let log = LocalLog::open(dir.path(), LocalLogOptions::default()).unwrap();
    assert_eq!(log.durable_end(), 3);
    log.append(vec![record(3)]).await.unwrap();
    let got = log.consumer("c").unwrap().poll(10, Duration::ZERO).unwrap();
    assert_eq!(
        payloads(&got),
        vec!["event-0", "event-1", "event-2", "event-3"]
    );
}

#[tokio::test]
async fn segments_roll_and_consumed_ones_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(dir.path(), small_segments()).unwrap();
    for i in 0..30 {
        log.append(vec![record(i)]).await.unwrap();
    }
    let segments = segment::list_segments(dir.path()).unwrap();
    assert!(segments.len() > 3, "{segments:?}");
    let mut c = log.consumer("loader").unwrap();
    let got = c.poll(100, Duration::ZERO).unwrap();
    assert_eq!(got.len(), 30, "reads across segment boundaries");
    assert_eq!(payloads(&got)[29], "event-29");
    c.commit(&Positions::from([(0, 25)])).unwrap();
    let left = segment::list_segments(dir.path()).unwrap();
    assert!(left.len() < segments.len());
    assert!(
        left[0] <= 25,
        "the segment holding offset 25 is kept: {left:?}"
    );
    // A fresh consumer of the same group starts at the commit and still finds its records.
    let mut again = log.consumer("loader").unwrap();
    assert_eq!(again.poll(100, Duration::ZERO).unwrap().len(), 5);
}

#[tokio::test]
async fn poll_waits_for_new_records() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(LocalLog::open(dir.path(), LocalLogOptions::default()).unwrap());
    let mut c = log.consumer("c").unwrap();
    let reader = std::thread::spawn(move || c.poll(10, Duration::from_secs(10)).unwrap());
    tokio::time::sleep(Duration::from_millis(50)).await;
    log.append(vec![record(0)]).await.unwrap();
    let got = reader.join().unwrap();
    assert_eq!(payloads(&got), vec!["event-0"]);
}

#[test]
fn bad_group_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(dir.path(), LocalLogOptions::default()).unwrap();
    assert!(matches!(
        log.consumer("../x"),
        Err(LogError::InvalidGroup(_))
    ));
}
