//! One person's retention in rolling windows: given their start events (cohort and hour) and
//! the hours of their return events, which cohorts they are in and in which columns they
//! returned.
//!
//! Every start event opens its own windows: window N is hours `[s + N·w, s + (N+1)·w)` for a
//! start at hour `s` and windows of `w` hours. A person is counted once per cohort, and has
//! returned in a column of that cohort when a return falls in the column's windows of any of
//! their start events in the cohort — so one return can count in window 1 of one start and in
//! window 2 of an earlier one.

/// A start event: the cohort it opens and its hour (rounded down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Start {
    /// Index of the cohort period holding the start event.
    pub(crate) cohort: usize,
    /// Its hour number.
    pub(crate) hour: i64,
}

/// The columns of a rolling retention table and the counts collected so far.
#[derive(Debug)]
pub(crate) struct WindowTable<'a> {
    /// Hours per window.
    window_hours: i64,
    /// Each column's windows `[from, to)`; `None`: every later window.
    columns: &'a [(u32, Option<u32>)],
    /// Per cohort: its persons, then the returned persons of each column.
    cells: Vec<u64>,
    /// Persons in any cohort.
    distinct: u64,
}

impl<'a> WindowTable<'a> {
    /// An empty table of `cohorts` rows.
    pub(crate) fn new(
        cohorts: usize,
        window_hours: i64,
        columns: &'a [(u32, Option<u32>)],
    ) -> Self {
        WindowTable {
            window_hours,
            columns,
            cells: vec![0; cohorts * (1 + columns.len())],
            distinct: 0,
        }
    }

    /// Counts one person: `starts` in time order (so by cohort), `returns` the sorted hours of
    /// their return events.
    pub(crate) fn add_person(&mut self, starts: &[Start], returns: &[i64]) {
        if starts.is_empty() {
            return;
        }
        self.distinct += 1;
        let width = 1 + self.columns.len();
        for cohort_starts in starts.chunk_by(|a, b| a.cohort == b.cohort) {
            let cohort = cohort_starts[0].cohort;
            let Some(row) = self.cells.get_mut(cohort * width..(cohort + 1) * width) else {
                continue;
            };
            row[0] += 1;
            for (cell, &(from, to)) in row[1..].iter_mut().zip(self.columns) {
                let w = self.window_hours;
                let returned = cohort_starts.iter().any(|start| {
                    let first = start.hour + i64::from(from) * w;
                    let end = to.map(|to| start.hour + i64::from(to) * w);
                    has_return(returns, first, end)
                });
                *cell += u64::from(returned);
            }
        }
    }

    /// The counts: per cohort its persons and returned per column, then the distinct persons.
    pub(crate) fn into_counts(mut self) -> Vec<u64> {
        self.cells.push(self.distinct);
        self.cells
    }
}

/// Whether sorted `returns` hold an hour in `[first, end)` (`None`: no end).
fn has_return(returns: &[i64], first: i64, end: Option<i64>) -> bool {
    let at = returns.partition_point(|&hour| hour < first);
    returns
        .get(at)
        .is_some_and(|&hour| end.is_none_or(|end| hour < end))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETURN_ON: [(u32, Option<u32>); 3] = [(0, Some(1)), (1, Some(2)), (2, Some(3))];

    fn start(cohort: usize, hour: i64) -> Start {
        Start { cohort, hour }
    }

    #[test]
    fn windows_are_24_hours_from_the_start_hour() {
        let mut table = WindowTable::new(1, 24, &RETURN_ON);
        // Start at hour 17; returns at 17 (day 0), 40 (day 0: 23 h later), 41 (day 1).
        table.add_person(&[start(0, 17)], &[17, 40, 41]);
        // Start at hour 17, return at hour 16 the same day: before the start, no day.
        table.add_person(&[start(0, 17)], &[16, 65]);
        assert_eq!(table.into_counts(), [2, 1, 1, 1, 2]);
    }

    #[test]
    fn each_start_opens_windows_and_persons_count_once_per_cohort() {
        let mut table = WindowTable::new(2, 24, &RETURN_ON);
        // Two starts in cohort 0 (hours 0 and 30) and one in cohort 1 (hour 50); the return at
        // hour 54 is day 2 of the first start, day 1 of the second, day 0 of the third.
        table.add_person(&[start(0, 0), start(0, 30), start(1, 50)], &[54]);
        assert_eq!(table.into_counts(), [1, 0, 1, 1, 1, 1, 0, 0, 1]);
    }

    #[test]
    fn open_ended_and_bracket_columns() {
        let columns = [(1, None), (0, Some(2)), (3, Some(5))];
        let mut table = WindowTable::new(1, 168, &columns);
        // Weekly windows: hour 1_000 is week 5 of a start at hour 0 — after week 1 only.
        table.add_person(&[start(0, 0)], &[1_000]);
        // Hour 167 is week 0, 504 week 3.
        table.add_person(&[start(0, 0)], &[167, 504]);
        assert_eq!(table.into_counts(), [2, 2, 1, 1, 2]);
    }
}
