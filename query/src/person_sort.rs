//! Sorting collected event rows by person, the step every sort-based per-person aggregate
//! (funnel, rolling retention) takes before walking each person's run of rows once.

/// Most person-id span, relative to the number of rows, that is sorted by counting (one bucket
/// per id in the span) rather than by comparison.
const COUNTING_SPAN_PER_ROW: i64 = 4;

/// Sorts `rows` by `person`, then by `key`. Person ids are dense (each log partition numbers its
/// persons from 0), so when their span is small next to the row count the rows are placed by a
/// counting sort on the person (linear), and only each person's few rows are compared; otherwise
/// (sparse ids, e.g. several Kafka partitions) by one comparison sort.
pub(crate) fn sort_by_person<R: Copy, K: Ord>(
    rows: &mut Vec<R>,
    person: impl Fn(&R) -> i64,
    key: impl Fn(&R) -> K,
) {
    let Some((min, mut starts)) = counting_starts(rows, &person) else {
        rows.sort_unstable_by_key(|r| (person(r), key(r)));
        return;
    };
    let mut sorted = rows.clone();
    for row in rows.iter() {
        let slot = &mut starts[(person(row) - min) as usize];
        sorted[*slot] = *row;
        *slot += 1;
    }
    for run in sorted.chunk_by_mut(|a, b| person(a) == person(b)) {
        if !run.is_sorted_by_key(&key) {
            run.sort_unstable_by_key(&key);
        }
    }
    *rows = sorted;
}

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

    fn check(rows: Vec<(i64, i64)>) {
        let mut expected = rows.clone();
        expected.sort_unstable();
        let mut got = rows;
        sort_by_person(&mut got, |r| r.0, |r| r.1);
        assert_eq!(got, expected);
    }

    #[test]
    fn dense_and_sparse_ids_sort_by_person_then_key() {
        // Dense: counting sort, with a person whose rows arrive out of order.
        check(vec![(3, 9), (1, 5), (3, 2), (2, 7), (1, 1), (3, 5)]);
        // Sparse: the span is far larger than the rows, so a comparison sort.
        check(vec![(1 << 40, 1), (0, 3), (1 << 40, 0), (-5, 2)]);
        check(Vec::new());
    }
}
