//! Rolling windows of a group of start events, and the columns they answer.
//!
//! Every start event opens its own windows: window N is hours `[s + N·w, s + (N+1)·w)` for a
//! start at hour `s` and windows of `w` hours. A person has returned in window N of a cohort
//! when a return falls in window N of any of their starts in that cohort.
//!
//! Starts less than `w` hours apart have overlapping windows, so the union of window N over a
//! group of such starts is one span: `[lo + N·w, hi + (N+1)·w)` for the group's first hour `lo`
//! and last hour `hi`. A cohort's starts are therefore taken as groups of at most `w` hours
//! ([`StartGroup`]): two hours per group, whatever the number of starts, and each window of a
//! group is a test of a word or two of the person's return hours ([`ReturnHours`]). A bracket of windows `[a, b)` is
//! the union of its windows, so it is answered from the per-window bits.

/// Starts of one person in one cohort, less than a window apart: their first and last hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StartGroup {
    pub(crate) lo: i64,
    pub(crate) hi: i64,
}

/// The windows a group's starts and returns are counted in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct WindowBits {
    /// Hours per window.
    window_hours: i64,
    /// Windows counted one by one (`0..=n`); a return in a later window sets bit `tracked`.
    tracked: u32,
    /// Words per group.
    words: usize,
    /// Each column's bits, `words` per column.
    column_masks: Vec<u64>,
}

impl WindowBits {
    /// The windows of `columns` (`[from, to)`; `None`: every later window), `window_hours`
    /// each.
    pub(crate) fn new(window_hours: i64, columns: &[(u32, Option<u32>)]) -> Self {
        let tracked = columns
            .iter()
            .map(|&(from, to)| to.unwrap_or(from + 1).max(from + 1))
            .max()
            .unwrap_or(1);
        let words = (tracked as usize + 1).div_ceil(64);
        let mut column_masks = vec![0u64; words * columns.len()];
        for (j, &(from, to)) in columns.iter().enumerate() {
            let end = to.unwrap_or(tracked + 1);
            let mask = &mut column_masks[j * words..(j + 1) * words];
            for bit in from..end {
                mask[bit as usize / 64] |= 1 << (bit % 64);
            }
        }
        WindowBits {
            window_hours,
            tracked,
            words,
            column_masks,
        }
    }

    /// Words of window bits per group.
    pub(crate) fn words(&self) -> usize {
        self.words
    }

    /// Number of columns.
    pub(crate) fn columns(&self) -> usize {
        self.column_masks.len() / self.words
    }

    /// Sets in `bits` (one group's words) the windows of `group` that hold one of `returns`:
    /// window N below the tracked count when a return is in `[lo + N·w, hi + (N+1)·w)`, bit
    /// `tracked` (every later window) when one is at or after `lo + tracked·w`.
    pub(crate) fn set_windows(&self, group: StartGroup, returns: &ReturnHours, bits: &mut [u64]) {
        let w = self.window_hours;
        if !returns.any(group.lo, i64::MAX) {
            return;
        }
        for window in 0..i64::from(self.tracked) {
            if returns.any(group.lo + window * w, group.hi + (window + 1) * w) {
                let bit = window as usize;
                bits[bit / 64] |= 1 << (bit % 64);
            }
        }
        if returns.any(group.lo + i64::from(self.tracked) * w, i64::MAX) {
            let bit = self.tracked as usize;
            bits[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// Whether window bits `bits` (a cohort's groups united) answer column `column`.
    pub(crate) fn returned(&self, bits: &[u64], column: usize) -> bool {
        let mask = &self.column_masks[column * self.words..(column + 1) * self.words];
        bits.iter().zip(mask).any(|(b, m)| b & m != 0)
    }
}

/// A person's return hours, as bits from an origin hour: whether one falls in a window is a
/// test of a word or two.
#[derive(Debug, Default)]
pub(crate) struct ReturnHours {
    origin: i64,
    words: Vec<u64>,
}

impl ReturnHours {
    /// Clears the hours, to be set from hour `origin` to hour `end` (exclusive).
    pub(crate) fn reset(&mut self, origin: i64, end: i64) {
        self.origin = origin;
        let hours = usize::try_from(end - origin).unwrap_or(0);
        self.words.clear();
        // One spare word: hours set near a word's end spill into the next.
        self.words.resize(hours.div_ceil(64) + 1, 0);
    }

    /// Sets hours `first + h` for each bit h of `bits` (`first` at or after the origin, before
    /// the end given to [`ReturnHours::reset`]).
    pub(crate) fn set(&mut self, first: i64, bits: u32) {
        let at = (first - self.origin) as usize;
        let (word, bit) = (at / 64, at % 64);
        let bits = u64::from(bits);
        self.words[word] |= bits << bit;
        if bit > 0 {
            self.words[word + 1] |= bits >> (64 - bit);
        }
    }

    /// Whether an hour in `[from, to)` is set.
    #[inline]
    pub(crate) fn any(&self, from: i64, to: i64) -> bool {
        let held = 64 * self.words.len() as i64;
        let from = from.saturating_sub(self.origin).max(0);
        let to = to.saturating_sub(self.origin).min(held);
        if from >= to {
            return false;
        }
        let (from, to) = (from as usize, to as usize);
        let (first, last) = (from / 64, (to - 1) / 64);
        let head = u64::MAX << (from % 64);
        let tail = u64::MAX >> (63 - (to - 1) % 64);
        if first == last {
            return self.words[first] & head & tail != 0;
        }
        // A day's windows span at most two words; longer ones test the words between.
        self.words[first] & head != 0
            || self.words[last] & tail != 0
            || self.words[first + 1..last].iter().any(|&w| w != 0)
    }
}

/// The span of `window_hours` hours, counted from `first_hour`, that holds hour `hour`: a
/// cohort's start groups are its spans from the cohort's first hour, so each is shorter than a
/// window.
pub(crate) fn span_of(window_hours: i64, first_hour: i64, hour: i64) -> i64 {
    (hour - first_hour).div_euclid(window_hours)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETURN_ON: [(u32, Option<u32>); 3] = [(0, Some(1)), (1, Some(2)), (2, Some(3))];

    fn group(lo: i64, hi: i64) -> StartGroup {
        StartGroup { lo, hi }
    }

    /// The columns answered by `returns` against `group`.
    fn answers(bits: &WindowBits, group: StartGroup, returns: &[i64]) -> Vec<bool> {
        let mut words = vec![0; bits.words()];
        let mut hours = ReturnHours::default();
        hours.reset(0, 10_000);
        for &hour in returns {
            hours.set(hour, 1);
        }
        bits.set_windows(group, &hours, &mut words);
        (0..bits.columns())
            .map(|j| bits.returned(&words, j))
            .collect()
    }

    #[test]
    fn windows_are_24_hours_from_the_start_hour() {
        let bits = WindowBits::new(24, &RETURN_ON);
        // Start at hour 17: hour 40 is day 0 (23 h later), 41 day 1, 65 day 2, 16 before the
        // start.
        assert_eq!(answers(&bits, group(17, 17), &[40]), [true, false, false]);
        assert_eq!(answers(&bits, group(17, 17), &[41]), [false, true, false]);
        assert_eq!(answers(&bits, group(17, 17), &[16]), [false, false, false]);
        assert_eq!(answers(&bits, group(17, 17), &[65]), [false, false, true]);
    }

    #[test]
    fn a_group_is_the_union_of_its_starts_windows() {
        let bits = WindowBits::new(24, &RETURN_ON);
        // Starts at hours 0 and 20: hour 30 is day 1 of the first, day 0 of the second.
        assert_eq!(answers(&bits, group(0, 20), &[30]), [true, true, false]);
        // Hour 45 is day 1 of both; hour 20 is day 0 of both.
        assert_eq!(answers(&bits, group(0, 20), &[45]), [false, true, false]);
        assert_eq!(answers(&bits, group(0, 20), &[20]), [true, false, false]);
        // Hour 19 is day 0 of the first start only (before the second).
        assert_eq!(answers(&bits, group(0, 20), &[19]), [true, false, false]);
    }

    #[test]
    fn open_ended_and_bracket_columns() {
        let columns = [(1, None), (0, Some(2)), (3, Some(5))];
        let bits = WindowBits::new(168, &columns);
        // Weekly windows: hour 1 000 is week 5 of a start at hour 0 — after week 1 only (past
        // the last tracked window, so counted as "later").
        assert_eq!(answers(&bits, group(0, 0), &[1_000]), [true, false, false]);
        // Hour 167 is week 0, 504 week 3.
        assert_eq!(answers(&bits, group(0, 0), &[167, 504]), [true, true, true]);
    }

    #[test]
    fn many_windows_span_several_words() {
        let columns: Vec<(u32, Option<u32>)> = (0..=100).map(|k| (k, Some(k + 1))).collect();
        let bits = WindowBits::new(24, &columns);
        assert_eq!(bits.words(), 2);
        let answered = answers(&bits, group(0, 0), &[99 * 24 + 3]);
        let hit: Vec<usize> = (0..answered.len()).filter(|&j| answered[j]).collect();
        assert_eq!(hit, [99]);
    }

    #[test]
    fn return_hours_answer_ranges_across_words() {
        let mut hours = ReturnHours::default();
        hours.reset(48, 248);
        // Hours 110 and 112: the second spills into the next word.
        hours.set(110, 0b101);
        assert!(hours.any(110, 111));
        assert!(!hours.any(111, 112));
        assert!(hours.any(112, 113));
        assert!(hours.any(111, 200));
        assert!(!hours.any(0, 110));
        assert!(!hours.any(113, i64::MAX));
        assert!(hours.any(i64::MIN, i64::MAX));
    }

    #[test]
    fn groups_are_spans_of_a_window_from_the_cohort_s_first_hour() {
        assert_eq!(span_of(24, 10, 10), 0);
        assert_eq!(span_of(24, 10, 33), 0);
        assert_eq!(span_of(24, 10, 34), 1);
    }
}
