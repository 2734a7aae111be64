//! Sorting collected event rows by person, the step the funnel takes before walking each
//! person's run of rows once. Person ids are dense (each log partition numbers its persons
//! from 0), so when their span is small next to the row count the rows are placed by a counting
//! sort on the person (linear); otherwise (sparse ids, e.g. several Kafka partitions) the
//! caller sorts by comparison.

/// Most person-id span, relative to the number of rows, that is sorted by counting (one bucket
/// per id in the span) rather than by comparison.
const COUNTING_SPAN_PER_ROW: i64 = 4;

/// For a counting sort of `rows` by person: the smallest person, and where each person's rows
/// start in the sorted order, indexed by person − the smallest (advance an entry as its rows
/// are placed). `None` when there are no rows, or when the ids are too sparse for counting
/// (their span larger than [`COUNTING_SPAN_PER_ROW`] × the rows): sort by comparison then.
pub(crate) fn counting_starts<R>(
    rows: &[R],
    person: impl Fn(&R) -> i64,
) -> Option<(i64, Vec<usize>)> {
    let min = rows.iter().map(&person).min()?;
    let max = rows.iter().map(&person).max()?;
    let span = max.saturating_sub(min).saturating_add(1);
    let limit = (rows.len() as i64)
        .saturating_mul(COUNTING_SPAN_PER_ROW)
        .max(1_024);
    if span > limit {
        return None;
    }
    let mut starts = vec![0usize; span as usize + 1];
    for row in rows {
        starts[(person(row) - min) as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    Some((min, starts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_ids_get_each_person_s_first_place() {
        let rows = [3, 1, 3, 2, 1, 3];
        let (min, starts) = counting_starts(&rows, |&p| p).expect("dense");
        assert_eq!(min, 1);
        // Person 1 at 0 (two rows), 2 at 2 (one), 3 at 3 (three), the end at 6.
        assert_eq!(starts, [0, 2, 3, 6]);
    }

    #[test]
    fn no_rows_or_sparse_ids_are_left_to_a_comparison_sort() {
        assert_eq!(counting_starts(&[] as &[i64], |&p| p), None);
        let sparse = [1 << 40, 0, -5];
        assert_eq!(counting_starts(&sparse, |&p| p), None);
    }
}
