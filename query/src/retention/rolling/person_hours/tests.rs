use std::sync::Arc;

use datafusion::arrow::array::Int64Array;

use super::*;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// Starts in the first two days, returns read for four.
fn layout(new_users: bool) -> HourLayout {
    let windows = RollingWindows {
        window_hours: 24,
        hour_phase_ms: 0,
        horizon_ms: 4 * DAY,
    };
    HourLayout::new(windows, 0, 2 * DAY, new_users).expect("layout")
}

fn rows(rows: &[[i64; 3]]) -> Vec<ArrayRef> {
    (0..3)
        .map(|k| Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r[k]))) as ArrayRef)
        .collect()
}

fn collected(layout: HourLayout, all: &[[i64; 3]]) -> PersonHours {
    let mut hours = PersonHours::new(layout);
    hours.update(&rows(all)).expect("update");
    hours
}

/// Every person read: id, first-time key, blocks.
fn read(hours: &mut PersonHours) -> Vec<(i64, i64, Vec<Block>)> {
    let mut out = Vec::new();
    for part in hours.parts() {
        part.for_each(|id, first, words| {
            out.push((id, first, words.iter().map(|&w| Block::of(w)).collect()));
        });
    }
    out
}

fn block(number: i64, starts: &[u32], returns: &[u32]) -> Block {
    Block {
        number,
        starts: starts.iter().map(|h| 1 << h).sum(),
        returns: returns.iter().map(|h| 1 << h).sum(),
    }
}

#[test]
fn a_row_sets_its_hour_as_a_start_before_the_range_s_end_and_as_a_return_before_the_horizon() {
    let l = layout(false);
    let word = |ts, flags| l.word(ts, flags).map(Block::of);
    assert_eq!(word(5 * HOUR + 59, START), Some(block(0, &[5], &[])));
    assert_eq!(word(30 * HOUR, RETURN), Some(block(1, &[], &[6])));
    assert_eq!(
        word(47 * HOUR, START | RETURN),
        Some(block(1, &[23], &[23]))
    );
    // A start after the range's end is only a return; nothing before the range or at the
    // horizon.
    assert_eq!(word(2 * DAY, START | RETURN), Some(block(2, &[], &[0])));
    assert_eq!(word(2 * DAY, START), None);
    assert_eq!(word(-1, START | RETURN), None);
    assert_eq!(word(4 * DAY, RETURN), None);
    assert_eq!(l.first(HOUR, START), None);
    // New users: a start is a first time (even before the range), never a start hour.
    let l = layout(true);
    assert_eq!(l.word(HOUR, START), None);
    assert_eq!(l.first(-HOUR, START), Some(-2 * HOUR));
    assert_eq!(l.first(HOUR, START | START_UNMET), Some(2 * HOUR + 1));
    assert_eq!(l.first(HOUR, RETURN), None);
}

#[test]
fn a_person_s_rows_in_any_order_read_as_one_word_per_block() {
    // Blocks 2, 0, 3, 1, 2, 0, 3: each new block pushes the older open word out, and rows older
    // than both open words go straight to the closed list.
    let all = [
        [7, 2 * DAY + HOUR, RETURN],
        [7, 3 * HOUR, START],
        [7, 3 * DAY, RETURN],
        [7, DAY + 2 * HOUR, START],
        [7, 2 * DAY + 5 * HOUR, RETURN],
        [7, 4 * HOUR, START | RETURN],
        [7, 3 * DAY + 23 * HOUR, RETURN],
    ];
    let expected = vec![(
        7,
        NO_FIRST,
        vec![
            block(0, &[3, 4], &[4]),
            block(1, &[2], &[]),
            block(2, &[], &[1, 5]),
            block(3, &[], &[0, 23]),
        ],
    )];
    assert_eq!(read(&mut collected(layout(false), &all)), expected);
}

#[test]
fn partitions_hand_over_their_chunks_and_are_read_together() {
    let all = [
        [1, HOUR, START],
        [70_000, 2 * HOUR, START],
        [1, DAY, RETURN],
        [1, 3 * HOUR, RETURN],
        [70_000, 50 * HOUR, RETURN],
        [1, 2 * DAY, RETURN],
    ];
    let expected = read(&mut collected(layout(false), &all));
    assert_eq!(expected.len(), 2);
    for split in 1..all.len() {
        let mut merged = collected(layout(false), &all[split..]);
        let mut part = collected(layout(false), &all[..split]);
        let state = part.state().expect("state").to_array().expect("array");
        merged.merge(&state).expect("merge");
        assert_eq!(read(&mut merged), expected, "split at {split}");
        // A state reads whole after handing itself over.
        assert_eq!(
            read(&mut part),
            read(&mut collected(layout(false), &all[..split]))
        );
    }
}

#[test]
fn the_first_time_is_the_smallest_key_across_partitions() {
    let mut merged = collected(layout(true), &[[3, 5 * HOUR, START], [3, 6 * HOUR, RETURN]]);
    let mut part = collected(
        layout(true),
        &[[3, 2 * HOUR, START | START_UNMET], [3, 2 * HOUR, START]],
    );
    let state = part.state().expect("state").to_array().expect("array");
    merged.merge(&state).expect("merge");
    // Of the two rows at hour 2, the one that met the conditions wins.
    assert_eq!(
        read(&mut merged),
        [(3, 4 * HOUR, vec![block(0, &[], &[6])])]
    );
}

#[test]
fn own_chunks_are_handed_over_without_copying() {
    let mut part = collected(layout(false), &[[1, HOUR, START]]);
    let own = part.chunks[0].open.as_ptr();
    let state = part.state().expect("state").to_array().expect("array");
    let mut merged = PersonHours::new(layout(false));
    merged.merge(&state).expect("merge");
    assert_eq!(merged.handed[0].open.as_ptr().cast::<u64>(), own);
}
