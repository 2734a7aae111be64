//! The accumulators give the same answer whichever way DataFusion feeds them: rows directly,
//! partial states merged, rows converted straight to state, or groups emitted in slices.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, StringArray};
use datafusion::common::cast::{as_string_array, as_struct_array, as_uint8_array};

use super::*;

const PARAMS: FunnelParams = FunnelParams {
    steps: 3,
    window_ms: 100,
    entry_from_ms: 0,
    entry_to_ms: 1_000,
};

/// Rows `(group, ts, mask, breakdown)`: group 0 converts fully via its second entry ("b"),
/// group 1 stops at step 1 ("a"), group 2 never enters (step 1 outside the range).
fn rows() -> Vec<(usize, i64, i64, Option<&'static str>)> {
    vec![
        (0, 10, 1, Some("z")),
        (1, 5, 1, Some("a")),
        (0, 300, 1, Some("b")),
        (2, 2_000, 1, Some("c")),
        (0, 350, 2, None),
        (2, 2_001, 2, None),
        (0, 400, 4, None),
        (1, 500, 4, None),
    ]
}

fn arguments(rows: &[(usize, i64, i64, Option<&str>)]) -> (Vec<ArrayRef>, Vec<usize>) {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|r| Some(r.1)).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| Some(r.2)).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| r.3).collect::<StringArray>()),
    ];
    (columns, rows.iter().map(|r| r.0).collect())
}

fn decode(result: &ArrayRef) -> Vec<(u8, Option<String>)> {
    let result = as_struct_array(result).expect("struct");
    let levels = as_uint8_array(result.column(0)).expect("levels");
    let values = as_string_array(result.column(1)).expect("values");
    (0..result.len())
        .map(|i| {
            (
                levels.value(i),
                values.is_valid(i).then(|| values.value(i).to_owned()),
            )
        })
        .collect()
}

fn expected() -> Vec<(u8, Option<String>)> {
    vec![(3, Some("b".into())), (1, Some("a".into())), (0, None)]
}

#[test]
fn rows_fed_directly() {
    let (columns, groups) = arguments(&rows());
    let mut acc = FunnelGroups::new(PARAMS);
    acc.update_batch(&columns, &groups, None, 3)
        .expect("update");
    assert_eq!(
        decode(&acc.evaluate(EmitTo::All).expect("evaluate")),
        expected()
    );
    // Emitting everything releases every held event.
    assert_eq!(acc.size(), size_of_val(&acc) + acc.values.size());
}

#[test]
fn partial_states_merged_in_two_halves() {
    let all = rows();
    let mut last = FunnelGroups::new(PARAMS);
    for half in all.chunks(4) {
        let (columns, groups) = arguments(half);
        let mut partial = FunnelGroups::new(PARAMS);
        partial
            .update_batch(&columns, &groups, None, 3)
            .expect("update");
        let state = partial.state(EmitTo::All).expect("state");
        last.merge_batch(&state, &[0, 1, 2], 3).expect("merge");
    }
    assert_eq!(
        decode(&last.evaluate(EmitTo::All).expect("evaluate")),
        expected()
    );
}

#[test]
fn rows_converted_to_state_and_filtered() {
    let mut all = rows();
    all.push((1, 501, 2, None)); // would lift group 1 to level 2, but is filtered out
    all.push((1, 502, 4, None));
    let (columns, groups) = arguments(&all);
    let mut keep = vec![true; all.len()];
    keep[all.len() - 2] = false;
    let acc = FunnelGroups::new(PARAMS);
    let state = acc
        .convert_to_state(&columns, Some(&BooleanArray::from(keep)))
        .expect("convert");
    let mut last = FunnelGroups::new(PARAMS);
    last.merge_batch(&state, &groups, 3).expect("merge");
    assert_eq!(
        decode(&last.evaluate(EmitTo::All).expect("evaluate")),
        expected()
    );
}

#[test]
fn first_groups_emitted_then_the_rest() {
    let (columns, groups) = arguments(&rows());
    let mut acc = FunnelGroups::new(PARAMS);
    acc.update_batch(&columns, &groups, None, 3)
        .expect("update");
    let first = decode(&acc.evaluate(EmitTo::First(1)).expect("first"));
    let rest = decode(&acc.evaluate(EmitTo::All).expect("rest"));
    assert_eq!([first, rest].concat(), expected());
}

#[test]
fn single_group_accumulator_round_trips_its_state() {
    let group0: Vec<_> = rows().into_iter().filter(|r| r.0 == 0).collect();
    let (columns, _) = arguments(&group0);
    let mut partial = FunnelAccumulator::new(PARAMS);
    partial.update_batch(&columns).expect("update");
    let state: Vec<ArrayRef> = partial
        .state()
        .expect("state")
        .iter()
        .map(|s| s.to_array().expect("array"))
        .collect();
    let mut last = FunnelAccumulator::new(PARAMS);
    last.merge_batch(&state).expect("merge");
    let result = last
        .evaluate()
        .expect("evaluate")
        .to_array()
        .expect("array");
    assert_eq!(decode(&result), vec![(3, Some("b".into()))]);
}

#[test]
fn wrong_argument_shapes_are_errors_not_panics() {
    let mut acc = FunnelGroups::new(PARAMS);
    let one: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(vec![1]))];
    assert!(acc.update_batch(&one, &[0], None, 1).is_err());
    let (mut columns, groups) = arguments(&rows());
    columns.swap(1, 2);
    assert!(acc.update_batch(&columns, &groups, None, 3).is_err());
    let (mut columns, groups) = arguments(&rows());
    columns[1] = Arc::new(Int64Array::from(vec![Some(-1); groups.len()]));
    assert!(acc.update_batch(&columns, &groups, None, 3).is_err());
}
