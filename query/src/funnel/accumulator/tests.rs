//! The accumulator gives the same answer whichever way DataFusion feeds it: all rows at once, or
//! rows split over partitions whose states are merged.

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, ListArray, StringArray};
use datafusion::common::cast::{as_float64_array, as_list_array, as_string_array, as_struct_array};
use datafusion::common::cast::{as_uint8_array, as_uint64_array};

use super::*;
use crate::funnel::group::GroupSteps;
use crate::funnel::path::StrictModes;

const PARAMS: FunnelParams = FunnelParams {
    steps: 3,
    window_ms: 100,
    entry_from_ms: 0,
    entry_to_ms: 1_000,
    strict: StrictModes {
        deduplication: false,
        increase: false,
    },
    exclusion_gaps: [0; 32],
    order: crate::spec::FunnelOrder::This,
    steps_compete: true,
    totals: false,
};

type TestRow = (i64, i64, i64, Option<&'static str>, Option<&'static str>);

/// Rows `(person, ts, mask, held, breakdown)`: person 0 converts fully via its second entry
/// ("b"); person 1 stops at step 1 ("a"); person 2 never enters (step 1 outside the range);
/// person 3 holds two values: in "x" it reaches step 2, in "y" only step 1.
fn rows() -> Vec<TestRow> {
    vec![
        (0, 10, 1, None, Some("z")),
        (1, 5, 1, None, Some("a")),
        (0, 300, 1, None, Some("b")),
        (2, 2_000, 1, None, Some("c")),
        (0, 350, 2, None, None),
        (2, 2_001, 2, None, None),
        (0, 400, 4, None, None),
        (1, 500, 4, None, None),
        (3, 1, 1, Some("x"), Some("a")),
        (3, 2, 1, Some("y"), Some("a")),
        (3, 3, 2, Some("x"), None),
    ]
}

fn arguments(rows: &[TestRow]) -> Vec<ArrayRef> {
    vec![
        Arc::new(rows.iter().map(|r| Some(r.0)).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| Some(r.1)).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| Some(r.2)).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| r.3).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.4).collect::<StringArray>()),
        Arc::new(rows.iter().map(|_| None::<&str>).collect::<StringArray>()),
    ]
}

/// The accumulator grouping by the value on the entry (the breakdown of the rows above).
fn accumulator() -> FunnelAccumulator {
    FunnelAccumulator::new(PARAMS).with_groups(GroupSteps([Some(0), None]))
}

/// The answer's `times` list.
fn decode_times(result: &ScalarValue) -> Vec<Option<f64>> {
    let ScalarValue::Struct(answer) = result else {
        panic!("not a struct: {result:?}");
    };
    let list: &ListArray = as_list_array(answer.column(1).as_ref()).expect("list");
    as_float64_array(&list.value(0))
        .expect("f64")
        .iter()
        .collect()
}

fn decode(result: ScalarValue) -> Vec<(Option<String>, u8, u64)> {
    let ScalarValue::Struct(answer) = result else {
        panic!("not a struct: {result:?}");
    };
    assert_eq!(answer.column_names(), ["levels", "times", "person_levels"]);
    let list: &ListArray = as_list_array(answer.column(0).as_ref()).expect("list");
    let entries = list.value(0);
    let entries = as_struct_array(&entries).expect("struct");
    let values = as_string_array(entries.column(0)).expect("values");
    let levels = as_uint8_array(entries.column(4)).expect("levels");
    let persons = as_uint64_array(entries.column(5)).expect("persons");
    (0..entries.len())
        .map(|i| {
            let value = values.is_valid(i).then(|| values.value(i).to_owned());
            (value, levels.value(i), persons.value(i))
        })
        .collect()
}

fn expected() -> Vec<(Option<String>, u8, u64)> {
    vec![
        (Some("a".into()), 1, 2),
        (Some("a".into()), 2, 1),
        (Some("b".into()), 3, 1),
    ]
}

#[test]
fn rows_fed_directly() {
    let mut acc = accumulator();
    acc.update_batch(&arguments(&rows())).unwrap();
    assert_eq!(decode(acc.evaluate().unwrap()), expected());
}

#[test]
fn each_entered_persons_level_when_asked_and_nothing_otherwise() {
    let person_levels = |mut acc: FunnelAccumulator| -> Vec<i64> {
        let ScalarValue::Struct(answer) = acc.evaluate().unwrap() else {
            panic!("not a struct");
        };
        let list = as_list_array(answer.column(2).as_ref()).expect("list");
        let values = list.value(0);
        let ints = values.as_any().downcast_ref::<Int64Array>().expect("Int64");
        let mut pairs: Vec<i64> = ints.values().to_vec();
        // Pairs come per thread's person range: sort them by person.
        let mut chunks: Vec<[i64; 2]> = pairs.chunks_exact(2).map(|c| [c[0], c[1]]).collect();
        chunks.sort_unstable();
        pairs = chunks.concat();
        pairs
    };
    let mut asked = accumulator().with_person_levels(true);
    asked.update_batch(&arguments(&rows())).unwrap();
    // Person 0 level 3, person 1 level 1, person 2 never entered, person 3 the best of its
    // held values (2).
    assert_eq!(person_levels(asked), [0, 3, 1, 1, 3, 2]);
    let mut not_asked = accumulator();
    not_asked.update_batch(&arguments(&rows())).unwrap();
    assert!(person_levels(not_asked).is_empty());
}

#[test]
fn partial_states_merged_in_two_halves() {
    let all = rows();
    let (first, second) = all.split_at(5);
    let mut finals = accumulator();
    for half in [first, second] {
        let mut partial = accumulator();
        partial.update_batch(&arguments(half)).unwrap();
        finals.merge_batch(&state_of(&mut partial)).unwrap();
    }
    assert_eq!(decode(finals.evaluate().unwrap()), expected());
}

/// The state of `partial`, as the final phase receives it.
fn state_of(partial: &mut FunnelAccumulator) -> Vec<ArrayRef> {
    partial
        .state()
        .unwrap()
        .into_iter()
        .map(|s| s.to_array().unwrap())
        .collect()
}

/// An accumulator that collected rows and merged one or two states (with value indexes of their
/// own) hands all of them over in its one state.
#[test]
fn a_partition_that_collected_and_merged_hands_over_everything() {
    let all = rows();
    let partial = |rows: &[TestRow]| {
        let mut partial = accumulator();
        partial.update_batch(&arguments(rows)).unwrap();
        partial
    };
    for merged in [vec![&all[..4]], vec![&all[..4], &all[4..8]]] {
        let handed = merged.iter().map(|r| r.len()).sum::<usize>();
        let mut mixed = partial(&all[handed..]);
        for rows in merged {
            mixed.merge_batch(&state_of(&mut partial(rows))).unwrap();
        }
        let mut finals = accumulator();
        finals.merge_batch(&state_of(&mut mixed)).unwrap();
        assert_eq!(decode(finals.evaluate().unwrap()), expected());
        // Evaluating twice gives the same answer (the rows stay, sorted into a run).
        assert_eq!(decode(finals.evaluate().unwrap()), expected());
    }
}

#[test]
fn wrong_argument_shapes_are_errors_not_panics() {
    let mut acc = accumulator();
    assert!(acc.update_batch(&arguments(&rows())[..3]).is_err());
    assert!(acc.merge_batch(&arguments(&rows())[..2]).is_err());
}

#[test]
fn without_time_to_convert_the_times_list_is_empty() {
    let mut acc = accumulator();
    acc.update_batch(&arguments(&rows())).unwrap();
    assert_eq!(decode_times(&acc.evaluate().unwrap()), Vec::new());
}

/// Person 0's counted path is 300 → 350 → 400; person 3's "x" path 1 → 3; the others stop at
/// step 1. From step 1 to 3 only person 0 counts: 100 ms, in the second bucket.
#[test]
fn time_to_convert_is_tallied_on_the_counted_paths() {
    let times = ConversionTimes {
        from: 0,
        to: 2,
        bounds: vec![0, 50],
    };
    let mut acc = accumulator().with_times(Some(times));
    acc.update_batch(&arguments(&rows())).unwrap();
    let result = acc.evaluate().unwrap();
    let list = decode_times(&result);
    let summary = super::super::times::TimesSummary::from_list(&list, 3, 2).expect("layout");
    assert_eq!(summary.steps, vec![(2, 52.0), (1, 50.0)]);
    assert_eq!(summary.persons, 1);
    assert_eq!(summary.total_ms, 100.0);
    assert_eq!(summary.median_ms, Some(100.0));
    assert_eq!(summary.histogram, vec![0, 1]);
    assert_eq!(decode(result), expected());
}

/// A row `(person, ts, mask, group_1, group_2)`.
type GroupedRow = (i64, i64, i64, Option<&'static str>, Option<&'static str>);

/// Rows `(person, ts, mask, group_1, group_2)` of a funnel grouped by the entry's value and by
/// step 3's value: person 0 converts (entry "u", step 3 "p"; the later step-3 event "q" is not
/// on the counted path); person 1 stops at step 2 (did not reach step 3); person 2 converts with
/// two step-3 events in one millisecond, the smaller value taken.
fn grouped_rows() -> Vec<GroupedRow> {
    vec![
        (0, 10, 1, Some("u"), None),
        (0, 20, 2, None, None),
        (0, 30, 4, None, Some("p")),
        (0, 40, 4, None, Some("q")),
        (1, 10, 1, Some("v"), None),
        (1, 20, 2, None, None),
        (2, 10, 1, Some("u"), None),
        (2, 20, 2, None, None),
        (2, 30, 4, None, Some("y")),
        (2, 30, 4, None, Some("x")),
    ]
}

type Grouped = (Option<String>, Option<String>, bool, u8, u64);

fn decode_grouped(result: ScalarValue) -> Vec<Grouped> {
    let ScalarValue::Struct(answer) = result else {
        panic!("not a struct: {result:?}");
    };
    let list: &ListArray = as_list_array(answer.column(0).as_ref()).expect("list");
    let entries = list.value(0);
    let entries = as_struct_array(&entries).expect("struct");
    let first = as_string_array(entries.column(0)).expect("first");
    let second = as_string_array(entries.column(1)).expect("second");
    let missed = datafusion::common::cast::as_boolean_array(entries.column(2)).expect("missed");
    let levels = as_uint8_array(entries.column(4)).expect("levels");
    let persons = as_uint64_array(entries.column(5)).expect("persons");
    let text = |a: &StringArray, i: usize| a.is_valid(i).then(|| a.value(i).to_owned());
    let mut out: Vec<Grouped> = (0..entries.len())
        .map(|i| {
            (
                text(first, i),
                text(second, i),
                missed.value(i),
                levels.value(i),
                persons.value(i),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn groups_by_entry_and_later_step_across_partitions() {
    let rows = grouped_rows();
    let arguments = |rows: &[GroupedRow]| {
        let ints = |f: &dyn Fn(usize) -> i64| -> ArrayRef {
            Arc::new((0..rows.len()).map(|i| Some(f(i))).collect::<Int64Array>())
        };
        let texts = |f: &dyn Fn(usize) -> Option<&'static str>| -> ArrayRef {
            Arc::new((0..rows.len()).map(f).collect::<StringArray>())
        };
        vec![
            ints(&|i| rows[i].0),
            ints(&|i| rows[i].1),
            ints(&|i| rows[i].2),
            texts(&|_| None),
            texts(&|i| rows[i].3),
            texts(&|i| rows[i].4),
        ]
    };
    let groups = GroupSteps([Some(0), Some(2)]);
    let mut finals = FunnelAccumulator::new(PARAMS).with_groups(groups);
    for part in [&rows[..5], &rows[5..]] {
        let mut partial = FunnelAccumulator::new(PARAMS).with_groups(groups);
        partial.update_batch(&arguments(part)).unwrap();
        finals.merge_batch(&state_of(&mut partial)).unwrap();
    }
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        decode_grouped(finals.evaluate().unwrap()),
        vec![
            (some("u"), some("p"), false, 3, 1),
            (some("u"), some("x"), false, 3, 1),
            (some("v"), None, true, 2, 1),
        ]
    );
}
