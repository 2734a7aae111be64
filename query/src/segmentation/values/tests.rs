//! Unit tests of the values aggregate: buckets, summaries, and merging split partitions.

use datafusion::arrow::array::{Int64Array, StringArray};

use super::*;

fn params(measure: Measure) -> ValuesParams {
    ValuesParams {
        points: Arc::new(PointIndex::new(vec![0, 10, 20])),
        measure,
        buckets: vec![1, 2, 4],
        bit: 1,
        folds: vec![0..1, 1..2],
        percentile: None,
        per_person: false,
    }
}

/// Rows `(person, ts, selected, number)`; the text is the number written out. A selected row
/// has the series' bit (1) set in its mask, every row another series' bit (0).
fn batch(rows: &[(i64, i64, bool, Option<f64>)]) -> Vec<ArrayRef> {
    vec![
        Arc::new(rows.iter().map(|r| Some(r.0)).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| Some(r.1)).collect::<Int64Array>()),
        Arc::new(
            rows.iter()
                .map(|r| Some(1 | i64::from(r.2) << 1))
                .collect::<Int64Array>(),
        ),
        Arc::new(rows.iter().map(|r| r.3).collect::<Float64Array>()),
        Arc::new(
            rows.iter()
                .map(|r| r.3.map(|n| n.to_string()))
                .collect::<StringArray>(),
        ),
    ]
}

fn rows() -> Vec<(i64, i64, bool, Option<f64>)> {
    vec![
        (1, 0, true, Some(5.0)),
        (1, 1, true, Some(1.0)),
        (1, 2, true, None),
        (2, 3, true, Some(5.0)),
        (2, 4, false, Some(100.0)), // not selected
        (3, 5, true, Some(2.0)),
        (3, 6, true, Some(2.0)),
        (3, 7, true, Some(2.0)),
        (3, 8, true, Some(2.0)),
        (2, 12, true, None), // person 2 again, in point 1
        (4, 15, true, Some(-1.5)),
        (4, 25, true, Some(7.0)), // past the last point
    ]
}

/// Runs `rows` as two partitions (cut after the first half, rounded up: `rows()` is cut inside
/// person 3's events of point 0) merged into a final accumulator.
fn run_split(measure: Measure, rows: &[(i64, i64, bool, Option<f64>)]) -> Vec<Option<f64>> {
    let mut finals = Values::new(params(measure));
    let (first, second) = rows.split_at(rows.len().div_ceil(2));
    for half in [first, second] {
        let mut partial = Values::new(params(measure));
        partial.update_batch(&batch(half)).unwrap();
        let state: Vec<ArrayRef> = partial
            .state()
            .unwrap()
            .into_iter()
            .map(|s| s.to_array().unwrap())
            .collect();
        finals.merge_batch(&state).unwrap();
    }
    finals.finish().unwrap()
}

#[test]
fn frequency_counts_persons_per_bucket_across_partitions() {
    // Point 0: person 1 three times (bucket 2-3), 2 once (1), 3 four times (4+). Point 1:
    // persons 2 and 4 once. The range: person 2 twice, so 4 once (1), 1 and 2 in 2-3, 3 in 4+.
    let got = run_split(Measure::Frequency, &rows());
    let want = [1.0, 1.0, 1.0, 2.0, 0.0, 0.0, 1.0, 2.0, 1.0].map(Some);
    assert_eq!(got, want);
}

#[test]
fn property_measures_per_point() {
    let r = rows();
    assert_eq!(
        run_split(Measure::PropertySum, &r),
        [Some(19.0), Some(-1.5)]
    );
    assert_eq!(run_split(Measure::PropertyMin, &r), [Some(1.0), Some(-1.5)]);
    assert_eq!(run_split(Measure::PropertyMax, &r), [Some(5.0), Some(-1.5)]);
    // 1 2 2 2 2 5 5: the middle one.
    assert_eq!(
        run_split(Measure::PropertyMedian, &r),
        [Some(2.0), Some(-1.5)]
    );
    assert_eq!(
        run_split(Measure::PropertyAverage, &r),
        [Some(19.0 / 7.0), Some(-1.5)]
    );
    assert_eq!(
        run_split(Measure::PropertyDistinctCount, &r),
        [Some(3.0), Some(1.0)]
    );
}

#[test]
fn empty_points_are_null_except_sums_and_counts() {
    let r = [(1, 12, true, None)];
    assert_eq!(run_split(Measure::PropertyAverage, &r[..]), [None, None]);
    assert_eq!(
        run_split(Measure::PropertySum, &r[..]),
        [Some(0.0), Some(0.0)]
    );
    assert_eq!(
        run_split(Measure::PropertyDistinctCount, &r[..]),
        [Some(0.0), Some(0.0)]
    );
}

#[test]
fn an_empty_sum_is_positive_zero() {
    // Printed as "0", not "-0" (`Iterator::sum` of no floats is -0.0).
    let sum = summarise(Measure::PropertySum, &[]).expect("a sum");
    assert!(sum == 0.0 && sum.is_sign_positive(), "{sum:?}");
}

#[test]
fn even_counts_take_the_mean_of_the_middle_two() {
    assert_eq!(
        summarise(Measure::PropertyMedian, &[1.0, 2.0, 4.0, 9.0]),
        Some(3.0)
    );
}

#[test]
fn percentiles_interpolate_between_the_nearest_values() {
    let sorted = [1.0, 2.0, 4.0, 9.0];
    assert_eq!(percentile(&sorted, 0), Some(1.0));
    assert_eq!(percentile(&sorted, 10_000), Some(9.0));
    // The 50th is the median.
    assert_eq!(
        percentile(&sorted, 5_000),
        summarise(Measure::PropertyMedian, &sorted)
    );
    // Rank 0.25 × 3 = 0.75: three quarters from 1 to 2.
    assert_eq!(percentile(&sorted, 2_500), Some(1.75));
    // Rank 0.9 × 3 = 2.7: from 4 towards 9.
    assert!((percentile(&sorted, 9_000).unwrap() - 7.5).abs() < 1e-12);
    assert_eq!(percentile(&[5.0], 9_990), Some(5.0));
    assert_eq!(percentile(&[], 5_000), None);
}

#[test]
fn buckets_hold_their_lower_bound_and_not_the_next() {
    let bounds = [1, 2, 4];
    let got: Vec<_> = (0..6).map(|t| bucket_of(&bounds, t)).collect();
    assert_eq!(got, [None, Some(0), Some(1), Some(1), Some(2), Some(2)]);
}

#[test]
fn a_truncated_state_is_an_error() {
    let mut acc = Values::new(params(Measure::PropertySum));
    assert!(acc.merge_blob(&[1, 0, 0]).is_err());
    let mut acc = Values::new(params(Measure::PropertySum));
    // Two points' worth of empty parts, plus a stray byte.
    assert!(acc.merge_blob(&[0u8; 49]).is_err());
}
