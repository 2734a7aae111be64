//! Counting one person at a time: from their block words (and first time), their start groups
//! per cohort, the windows their returns fall in, and the cohort table's cells.
//!
//! - A specific start: every start hour, in order, joins the group of its cohort and span (a
//!   window's hours from the cohort's first hour, `windows.rs`), so a group's starts are less
//!   than a window apart. A start's cohort is its hour's: hours follow the local clock from the
//!   date range's first midnight, so cohort boundaries fall on hour boundaries (but for zones
//!   whose daylight-saving shift is half an hour, Lord Howe Island, where the half hour after
//!   a boundary may count in the cohort before it).
//! - "New user": one group, the hour of the person's first counted event ever, if it met the
//!   start's conditions and falls in a cohort (found by its exact time).
//!
//! Then per group the windows holding a return (`WindowBits::set_windows`), united over the
//! groups of a cohort, answer the columns.

use std::sync::Arc;

use super::person_hours::{BLOCK_HOURS, Block, HourLayout};
use crate::person_periods::first_keyed;
use crate::retention::windows::{ReturnHours, StartGroup, WindowBits, span_of};
use crate::spec::PointIndex;

/// An hour outside every cohort in [`CountParams::hour_cohorts`].
const NO_COHORT: (u32, u32) = (u32::MAX, 0);

/// What counting a person needs: the layout of their words, the cohorts, and the windows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CountParams {
    pub(crate) layout: HourLayout,
    cohorts: Arc<PointIndex>,
    /// The cohort of each hour from the date range's first to its end and the hour's span in
    /// it, or [`NO_COHORT`].
    hour_cohorts: Vec<(u32, u32)>,
    /// Each cohort's first hour, where its spans begin.
    first_hours: Vec<i64>,
    bits: WindowBits,
}

impl CountParams {
    /// The parameters of cohorts `cohorts` (their boundaries, the last the date range's end),
    /// windows of `window_hours` and the columns `columns` (`[from, to)` in windows; `None`:
    /// every later one).
    pub(crate) fn new(
        layout: HourLayout,
        cohorts: Arc<PointIndex>,
        window_hours: i64,
        columns: &[(u32, Option<u32>)],
    ) -> Self {
        let starts = cohorts.starts();
        let count = starts.len().saturating_sub(1);
        let first_hours: Vec<i64> = starts[..count].iter().map(|&ms| layout.hour(ms)).collect();
        let hours = match starts.last() {
            Some(&end) if count > 0 => (layout.hour(end - 1) + 1).max(0),
            _ => 0,
        };
        let from = starts.first().copied().unwrap_or(0);
        let hour_cohorts = (0..hours)
            .map(|hour| {
                let at = layout.hour_start_ms(hour).max(from);
                cohorts
                    .point_of(at)
                    .filter(|&c| c < count)
                    .map_or(NO_COHORT, |c| {
                        let span = span_of(window_hours, first_hours[c], hour);
                        (c as u32, span as u32)
                    })
            })
            .collect();
        CountParams {
            layout,
            cohorts,
            hour_cohorts,
            first_hours,
            bits: WindowBits::new(window_hours, columns),
        }
    }

    /// Number of cohorts.
    fn cohort_count(&self) -> usize {
        self.first_hours.len()
    }

    /// Cells per cohort: its persons, then one per column.
    fn width(&self) -> usize {
        1 + self.bits.columns()
    }
}

/// A group of starts in one cohort and span.
#[derive(Debug, Clone, Copy)]
struct Group {
    cohort: usize,
    span: u32,
    hours: StartGroup,
}

/// The cohort table's cells, counted person by person.
#[derive(Debug)]
pub(crate) struct CohortTable<'a> {
    params: &'a CountParams,
    /// Per cohort its persons and returned per column.
    cells: Vec<u64>,
    /// Persons in any cohort.
    distinct: u64,
    // Per person, kept to reuse their allocations:
    returns: ReturnHours,
    groups: Vec<Group>,
    united: Vec<u64>,
}

impl<'a> CohortTable<'a> {
    pub(crate) fn new(params: &'a CountParams) -> Self {
        CohortTable {
            params,
            cells: vec![0; params.cohort_count() * params.width()],
            distinct: 0,
            returns: ReturnHours::default(),
            groups: Vec::new(),
            united: vec![0; params.bits.words()],
        }
    }

    /// Counts a person: `first`, their first-time key ("new user" retention), and `words`,
    /// their block words sorted by block, one per block.
    pub(crate) fn add(&mut self, first: i64, words: &[u64]) {
        let p = self.params;
        self.groups.clear();
        if p.layout.is_new_users() {
            if let Some((ms, true)) = first_keyed(first)
                && let Some(cohort) = p.cohorts.point_of(ms).filter(|&c| c < p.cohort_count())
            {
                let hour = p.layout.hour(ms);
                self.groups.push(Group {
                    cohort,
                    span: 0,
                    hours: StartGroup { lo: hour, hi: hour },
                });
            }
        } else {
            for &word in words {
                let block = Block::of(word);
                for hour in block.hours(block.starts) {
                    self.add_start(hour);
                }
            }
        }
        if self.groups.is_empty() {
            return;
        }
        // Words are sorted by block: the first and last bound the hours.
        let [from, to] = [words.first(), words.last()].map(|w| w.map(|&w| Block::of(w).number));
        self.returns.reset(
            from.unwrap_or(0) * BLOCK_HOURS,
            to.map_or(0, |to| (to + 1) * BLOCK_HOURS),
        );
        for &word in words {
            let block = Block::of(word);
            self.returns.set(block.number * BLOCK_HOURS, block.returns);
        }
        self.distinct += 1;
        let width = p.width();
        for run in self.groups.chunk_by(|a, b| a.cohort == b.cohort) {
            self.united.fill(0);
            for group in run {
                p.bits
                    .set_windows(group.hours, &self.returns, &mut self.united);
            }
            let row = &mut self.cells[run[0].cohort * width..(run[0].cohort + 1) * width];
            row[0] += 1;
            for (j, cell) in row[1..].iter_mut().enumerate() {
                *cell += u64::from(p.bits.returned(&self.united, j));
            }
        }
    }

    /// A start at `hour` joins the last group when of its cohort and span, else opens one.
    fn add_start(&mut self, hour: i64) {
        let p = self.params;
        let Some(&(cohort, span)) = usize::try_from(hour)
            .ok()
            .and_then(|h| p.hour_cohorts.get(h))
            .filter(|&&c| c != NO_COHORT)
        else {
            return;
        };
        let cohort = cohort as usize;
        match self.groups.last_mut() {
            Some(last) if last.cohort == cohort && last.span == span => last.hours.hi = hour,
            _ => self.groups.push(Group {
                cohort,
                span,
                hours: StartGroup { lo: hour, hi: hour },
            }),
        }
    }

    /// Adds the counts of `other` (other persons) to this table's.
    pub(crate) fn add_table(&mut self, other: &CohortTable<'_>) {
        for (mine, theirs) in self.cells.iter_mut().zip(&other.cells) {
            *mine += theirs;
        }
        self.distinct += other.distinct;
    }

    /// Per cohort its persons and returned per column, then the distinct persons.
    pub(crate) fn counts(&self) -> Vec<u64> {
        let mut counts = self.cells.clone();
        counts.push(self.distinct);
        counts
    }
}

#[cfg(test)]
mod tests;
