//! Sorting into runs, checking states, and walking persons across runs.

use super::*;

fn row(person: i64, ts: i64) -> Row {
    Row {
        person,
        held: NONE,
        ts,
        groups: [NONE; 2],
        mask: 1,
    }
}

fn persons_and_times(columns: &Columns) -> Vec<(i64, i64)> {
    columns
        .person
        .iter()
        .copied()
        .zip(columns.ts.iter().copied())
        .collect()
}

#[test]
fn rows_are_sorted_by_person_keeping_each_persons_order() {
    // Dense ids: counting sort.
    let rows = [
        row(3, 9),
        row(1, 5),
        row(3, 2),
        row(2, 7),
        row(1, 1),
        row(3, 5),
    ];
    let sorted = Columns::sorted_by_person(&rows);
    assert_eq!(
        persons_and_times(&sorted),
        [(1, 5), (1, 1), (2, 7), (3, 9), (3, 2), (3, 5)]
    );
    // Sparse ids: the span is far larger than the rows, so a comparison sort (stable too).
    let rows = [row(1 << 40, 1), row(0, 3), row(1 << 40, 0), row(-5, 2)];
    let sorted = Columns::sorted_by_person(&rows);
    assert_eq!(
        persons_and_times(&sorted),
        [(-5, 2), (0, 3), (1 << 40, 1), (1 << 40, 0)]
    );
    assert_eq!(Columns::sorted_by_person(&[]).person.len(), 0);
}

#[test]
fn every_column_moves_with_its_row() {
    let rows = [
        Row {
            person: 2,
            held: 1,
            ts: 20,
            groups: [4, NONE],
            mask: 8,
        },
        Row {
            person: 1,
            held: NONE,
            ts: 10,
            groups: [NONE, 3],
            mask: 2,
        },
    ];
    let run = Run::own(&rows);
    let back: Vec<Row> = run.rows().collect();
    assert_eq!(back, [rows[1], rows[0]]);
}

fn columns(persons: &[i64], held: &[u32]) -> Columns {
    let n = persons.len();
    Columns {
        person: persons.to_vec().into(),
        held: held.to_vec().into(),
        ts: vec![0i64; n].into(),
        groups: [vec![NONE; n].into(), vec![NONE; n].into()],
        mask: vec![1u64; n].into(),
    }
}

#[test]
fn states_that_are_not_this_aggregates_are_errors() {
    assert!(Run::new(columns(&[1, 2], &[NONE, 0]), vec![7], vec![]).is_ok());
    // Not sorted by person.
    assert!(Run::new(columns(&[2, 1], &[NONE, NONE]), vec![], vec![]).is_err());
    // A value index the dictionary lacks.
    assert!(Run::new(columns(&[1, 2], &[NONE, 1]), vec![7], vec![]).is_err());
    // Columns of different lengths.
    let mut short = columns(&[1, 2], &[NONE, NONE]);
    short.ts = vec![0i64].into();
    assert!(Run::new(short, vec![], vec![]).is_err());
}

#[test]
fn a_merged_runs_indexes_are_mapped_to_the_holders() {
    // The run's held value 0 is the holder's 7, 1 is the holder's 3.
    let run = Run::new(columns(&[1, 2, 3], &[1, NONE, 0]), vec![7, 3], vec![]).unwrap();
    let held: Vec<u32> = run.rows().map(|r| r.held).collect();
    assert_eq!(held, [3, NONE, 7]);
    assert_eq!(run.columns().held.to_vec(), [3, NONE, 7]);
}

/// Every (person, ts) the walk yields, person by person.
fn walk(runs: &[Run], from: Option<i64>, to: Option<i64>) -> Vec<Vec<(i64, i64)>> {
    let mut walk = PersonWalk::new(runs, from, to);
    let mut rows = Vec::new();
    let mut persons = Vec::new();
    while walk.next_person(&mut rows) {
        persons.push(rows.iter().map(|r| (r.person, r.ts)).collect());
    }
    persons
}

#[test]
fn the_walk_gives_each_persons_rows_from_every_run_once() {
    let first = Run::own(&[row(1, 10), row(3, 30), row(3, 31), row(6, 60)]);
    let second = Run::own(&[row(2, 20), row(3, 32), row(6, 61), row(9, 90)]);
    let runs = [first, second];
    assert_eq!(
        walk(&runs, None, None),
        vec![
            vec![(1, 10)],
            vec![(2, 20)],
            vec![(3, 30), (3, 31), (3, 32)],
            vec![(6, 60), (6, 61)],
            vec![(9, 90)],
        ]
    );
    // Ranges split persons exactly: together they give the whole walk.
    let splits = person_splits(&runs, 2);
    assert_eq!(splits, [6]);
    let mut halves = walk(&runs, None, Some(6));
    halves.extend(walk(&runs, Some(6), None));
    assert_eq!(halves, walk(&runs, None, None));
    assert_eq!(
        walk(&runs, Some(3), Some(4)),
        vec![vec![(3, 30), (3, 31), (3, 32)]]
    );
    assert!(walk(&[], None, None).is_empty());
    assert!(person_splits(&[], 4).is_empty());
}
