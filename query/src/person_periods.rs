//! Per-person period bitmaps: the state of analyses that need a few bits per person and period
//! (retention: started in / returned in; lifecycle: active in).
//!
//! Rows carry flags: [`FIRST`] keeps the person's earliest such time, [`MARK_A`] and [`MARK_B`]
//! set the row's period in bitmap A or B, [`BEFORE`] notes that the person had such a row before
//! the first period. Bitmap A only takes rows before `a_end_ms` and in its first `a_periods`
//! periods (retention's cohorts end with the date range).
//!
//! Persons are chunks of 65 536 consecutive ids (person ids are dense per log partition), each
//! allocated only where persons exist; a chunk's first word is its key (id / 65 536), then per
//! person `[first, before, A…, B…]`, of which only the parts the analysis reads are kept
//! ([`Kept`]: stickiness keeps A alone, new-user retention the first time and B).
//!
//! A partition hands its chunks over without copying them (`handover.rs`: one value per chunk,
//! each the chunk's own allocation). The receiving state keeps those buffers and reads them in
//! place; where several hold the same persons, a
//! person's words are combined as they are read (min of the first times, OR of the rest), so
//! no merged copy is ever written.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array};
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::datatypes::FieldRef;
use datafusion::common::cast::as_int64_array;
use datafusion::common::{Result, ScalarValue, internal_datafusion_err};

use crate::handover::{buffers_field, buffers_value, taken_buffers};
use crate::spec::PointIndex;

/// Ids per chunk: 2^16.
const CHUNK_BITS: u32 = 16;
const CHUNK_PERSONS: usize = 1 << CHUNK_BITS;
/// Flag: keep the row's time if it is the person's earliest.
pub(crate) const FIRST: i64 = 1;
/// Flag: set the row's period in bitmap A.
pub(crate) const MARK_A: i64 = 2;
/// Flag: set the row's period in bitmap B.
pub(crate) const MARK_B: i64 = 4;
/// Flag: note a row before the first period.
pub(crate) const BEFORE: i64 = 8;
/// Flag with [`FIRST`]: keep `2 × time + unmet` instead of the time, so the `first` word also
/// says whether the earliest row met a condition (0) or not (1); of rows in one millisecond, one
/// that met it wins. Decoded by [`first_keyed`].
pub(crate) const FIRST_KEYED: i64 = 16;
/// Flag with [`FIRST_KEYED`]: the row did not meet the condition.
pub(crate) const FIRST_UNMET: i64 = 32;

/// A `first` word kept with [`FIRST_KEYED`]: the earliest time and whether a row of that
/// millisecond met the condition; `None` without such a row.
pub(crate) fn first_keyed(word: i64) -> Option<(i64, bool)> {
    (word != NO_FIRST).then_some((word >> 1, word & 1 == 0))
}
/// The `first` word of a person with no [`FIRST`] row.
pub(crate) const NO_FIRST: i64 = i64::MAX;

/// How rows map to bits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PeriodLayout {
    /// The periods.
    pub(crate) points: Arc<PointIndex>,
    /// Bitmap A takes rows before this instant,
    pub(crate) a_end_ms: i64,
    /// and in the first `a_periods` periods.
    pub(crate) a_periods: usize,
    /// The parts of a person's state the analysis reads; only those take memory.
    pub(crate) kept: Kept,
}

/// Which parts of a person's state are kept: the first time, the "before" mark, bitmap A,
/// bitmap B. A part not kept takes no memory, its flags are ignored and [`PersonView`] shows it
/// empty (no first time, no mark, no bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Kept {
    pub(crate) first: bool,
    pub(crate) before: bool,
    pub(crate) a: bool,
    pub(crate) b: bool,
}

/// Where each kept part sits among a person's words.
#[derive(Debug, Clone, Copy)]
struct Offsets {
    first: Option<usize>,
    before: Option<usize>,
    a: Option<usize>,
    b: Option<usize>,
    /// Words per person.
    stride: usize,
}

impl PeriodLayout {
    /// Number of periods.
    pub(crate) fn periods(&self) -> usize {
        self.points.starts().len().saturating_sub(1)
    }

    /// Words per bitmap.
    pub(crate) fn words(&self) -> usize {
        self.periods().div_ceil(64).max(1)
    }

    /// Where the kept parts sit, and the words per person.
    fn offsets(&self) -> Offsets {
        let words = self.words();
        let mut next = 0;
        let mut place = |kept: bool, len: usize| {
            kept.then(|| {
                next += len;
                next - len
            })
        };
        let first = place(self.kept.first, 1);
        let before = place(self.kept.before, 1);
        let a = place(self.kept.a, words);
        let b = place(self.kept.b, words);
        Offsets {
            first,
            before,
            a,
            b,
            stride: next.max(1),
        }
    }
}

/// One person's state, as seen by [`PersonPeriods::for_each`].
pub(crate) struct PersonView<'a> {
    /// Earliest [`FIRST`] time, or [`NO_FIRST`].
    pub(crate) first: i64,
    /// Whether a [`BEFORE`] row was seen.
    pub(crate) before: bool,
    /// Bitmap A.
    pub(crate) a: &'a [u64],
    /// Bitmap B.
    pub(crate) b: &'a [u64],
}

/// The bitmaps of every person seen.
#[derive(Debug)]
pub(crate) struct PersonPeriods {
    layout: PeriodLayout,
    /// The layout's offsets, computed once.
    offsets: Offsets,
    /// Where each chunk sits in `chunks`.
    chunk_index: ChunkIndex,
    /// Per chunk, its key then `CHUNK_PERSONS × stride` words.
    chunks: Vec<Box<[u64]>>,
    /// Chunks read in place, laid out as `chunks`: handed over by other states, and this
    /// state's own once it has handed them over.
    handed: Vec<Buffer>,
    /// The rows of the batch being applied (kept to reuse its allocation).
    pending: Vec<Pending>,
}

/// A row of the batch being applied, with the place of its person's state.
#[derive(Debug, Clone, Copy)]
struct Pending {
    chunk: u32,
    slot: u32,
    ts: i64,
    flags: i64,
}

/// How many rows ahead of the one being applied the state is prefetched: enough misses in
/// flight to cover memory latency, few enough to stay in the cache.
pub(crate) const PREFETCH_DISTANCE: usize = 16;

/// Asks the CPU to bring the cache line holding `items[0]` into the cache (a hint; nothing on
/// other architectures).
#[inline(always)]
pub(crate) fn prefetch<T>(items: &[T]) {
    // SAFETY: SSE is part of every x86_64 CPU, and a prefetch only hints the cache; the
    // pointer comes from a live slice and is never dereferenced.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            items.as_ptr().cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = items;
}

impl PersonPeriods {
    pub(crate) fn new(layout: PeriodLayout) -> Self {
        PersonPeriods {
            offsets: layout.offsets(),
            layout,
            chunk_index: ChunkIndex::default(),
            chunks: Vec::new(),
            handed: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// The layout.
    pub(crate) fn layout(&self) -> &PeriodLayout {
        &self.layout
    }

    fn chunk(&mut self, key: i64) -> usize {
        let (stride, first) = (self.offsets.stride, self.offsets.first);
        let chunks = &mut self.chunks;
        self.chunk_index.place(key, || {
            let mut words = vec![0u64; chunk_words(stride)].into_boxed_slice();
            words[0] = key as u64;
            if let Some(first) = first {
                for person in words[1..].chunks_exact_mut(stride) {
                    person[first] = NO_FIRST as u64;
                }
            }
            chunks.push(words);
            chunks.len() - 1
        })
    }

    /// Applies rows `[person, ts, flags]` (all `Int64`; rows with a null are skipped).
    ///
    /// Persons of one batch are far apart in the state (a day's rows of one event type are
    /// spread over every person), so nearly every row's state is a cache miss. The batch is
    /// therefore applied in two passes: the first finds each row's state, the second applies
    /// rows while prefetching the state of the row [`PREFETCH_DISTANCE`] ahead, so the misses
    /// overlap instead of queueing.
    pub(crate) fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [person, ts, flags] = row_columns(values, "per-person periods")?;
        let stride = self.offsets.stride;
        let mut pending = std::mem::take(&mut self.pending);
        pending.clear();
        for row in 0..person.len() {
            if person.is_null(row) || ts.is_null(row) || flags.is_null(row) {
                continue;
            }
            let flags = flags.value(row);
            if flags == 0 {
                continue;
            }
            let id = person.value(row);
            let chunk = self.chunk(id >> CHUNK_BITS);
            let slot = 1 + (id & (CHUNK_PERSONS as i64 - 1)) as usize * stride;
            pending.push(Pending {
                chunk: chunk as u32,
                slot: slot as u32,
                ts: ts.value(row),
                flags,
            });
        }
        for (i, row) in pending.iter().enumerate() {
            if let Some(ahead) = pending.get(i + PREFETCH_DISTANCE) {
                prefetch(&self.chunks[ahead.chunk as usize][ahead.slot as usize..]);
            }
            self.apply(row);
        }
        self.pending = pending;
        Ok(())
    }

    /// Applies one row to its person's state.
    fn apply(&mut self, row: &Pending) {
        let o = self.offsets;
        let first_start = self
            .layout
            .points
            .starts()
            .first()
            .copied()
            .unwrap_or(i64::MIN);
        let (flags, ts) = (row.flags, row.ts);
        let period = self.layout.points.point_of(ts);
        let slot = row.slot as usize;
        let state = &mut self.chunks[row.chunk as usize][slot..slot + o.stride];
        if flags & FIRST != 0
            && let Some(first) = o.first
        {
            let key = match flags & FIRST_KEYED {
                0 => ts,
                _ => ts.saturating_mul(2) | i64::from(flags & FIRST_UNMET != 0),
            };
            state[first] = (state[first] as i64).min(key) as u64;
        }
        if flags & BEFORE != 0
            && ts < first_start
            && let Some(before) = o.before
        {
            state[before] = 1;
        }
        if let Some(p) = period {
            if flags & MARK_A != 0
                && ts < self.layout.a_end_ms
                && p < self.layout.a_periods
                && let Some(a) = o.a
            {
                state[a + p / 64] |= 1 << (p % 64);
            }
            if flags & MARK_B != 0
                && let Some(b) = o.b
            {
                state[b + p / 64] |= 1 << (p % 64);
            }
        }
    }

    /// Calls `f` for every person slot of every chunk, written or handed over (slots of persons
    /// never seen have no first time and no bits). Chunks with the same key are combined person
    /// by person as they are read.
    pub(crate) fn for_each(&self, mut f: impl FnMut(PersonView<'_>)) {
        let (o, words) = (self.offsets, self.layout.words());
        let view = |person: &[u64]| -> (i64, bool) {
            (
                o.first.map_or(NO_FIRST, |at| person[at] as i64),
                o.before.is_some_and(|at| person[at] != 0),
            )
        };
        let mut by_key: BTreeMap<u64, Vec<&[u64]>> = BTreeMap::new();
        let handed = self.handed.iter().map(|b| b.typed_data::<u64>());
        for chunk in self.chunks.iter().map(|c| &c[..]).chain(handed) {
            by_key.entry(chunk[0]).or_default().push(&chunk[1..]);
        }
        let mut combined = vec![0u64; o.stride];
        for parts in by_key.values() {
            let Some((head, rest)) = parts.split_first() else {
                continue;
            };
            for (i, person) in head.chunks_exact(o.stride).enumerate() {
                let person = if rest.is_empty() {
                    person
                } else {
                    combined.copy_from_slice(person);
                    for other in rest {
                        combine(
                            &mut combined,
                            &other[i * o.stride..(i + 1) * o.stride],
                            o.first,
                        );
                    }
                    &combined[..]
                };
                let (first, before) = view(person);
                f(PersonView {
                    first,
                    before,
                    a: o.a.map_or(&[][..], |at| &person[at..at + words]),
                    b: o.b.map_or(&[][..], |at| &person[at..at + words]),
                });
            }
        }
    }

    /// The state field: `List<BinaryView>`, one value per chunk.
    pub(crate) fn state_field(name: String) -> FieldRef {
        buffers_field(name)
    }

    /// Hands the state over without copying it: every chunk (this state's own ones become read
    /// in place, so the state still reads whole afterwards) as one value of a `List<BinaryView>`.
    pub(crate) fn state(&mut self) -> Result<ScalarValue> {
        self.chunk_index.clear();
        for chunk in std::mem::take(&mut self.chunks) {
            self.handed.push(Buffer::from_vec(chunk.into_vec()));
        }
        buffers_value(self.handed.clone())
    }

    /// Takes the chunks of states written by [`PersonPeriods::state`], to be read in place.
    pub(crate) fn merge(&mut self, states: &ArrayRef) -> Result<()> {
        let bytes = 8 * chunk_words(self.offsets.stride);
        for chunk in taken_buffers(states, align_of::<u64>())?
            .into_iter()
            .flatten()
        {
            if chunk.len() != bytes {
                return Err(internal_datafusion_err!(
                    "per-person chunk of {} bytes, expected {bytes}",
                    chunk.len()
                ));
            }
            self.handed.push(chunk);
        }
        Ok(())
    }

    /// Approximate heap bytes held.
    pub(crate) fn size(&self) -> usize {
        8 * (self.chunks.len() + self.handed.len()) * chunk_words(self.offsets.stride)
            + self.chunk_index.size()
    }
}

/// The three `Int64` columns of rows `[person, ts, flags]`, as `what` takes them.
pub(crate) fn row_columns<'a>(values: &'a [ArrayRef], what: &str) -> Result<[&'a Int64Array; 3]> {
    let [person, ts, flags] = values else {
        return Err(internal_datafusion_err!(
            "{what} expects 3 columns, got {}",
            values.len()
        ));
    };
    Ok([
        as_int64_array(person)?,
        as_int64_array(ts)?,
        as_int64_array(flags)?,
    ])
}

/// Where each chunk of persons (by key: id / 65 536) sits among a state's chunks, with the one
/// found last remembered (rows of one person, and of its neighbours, come together).
#[derive(Debug, Default)]
pub(crate) struct ChunkIndex {
    places: HashMap<i64, usize>,
    last: Option<(i64, usize)>,
}

impl ChunkIndex {
    /// The place of chunk `key`; when it has none yet, `add` makes the chunk and gives its place.
    pub(crate) fn place(&mut self, key: i64, add: impl FnOnce() -> usize) -> usize {
        if let Some((last, place)) = self.last
            && last == key
        {
            return place;
        }
        let place = *self.places.entry(key).or_insert_with(add);
        self.last = Some((key, place));
        place
    }

    /// Forgets every chunk (they were handed over).
    pub(crate) fn clear(&mut self) {
        self.places.clear();
        self.last = None;
    }

    /// Approximate heap bytes held.
    pub(crate) fn size(&self) -> usize {
        self.places.capacity() * 24
    }
}

/// Words per chunk: its key, then every person's words.
fn chunk_words(stride: usize) -> usize {
    1 + CHUNK_PERSONS * stride
}

/// Combines `theirs` into `mine`, both one person's words: the earliest first time (the word at
/// `first`), the union of every other word.
fn combine(mine: &mut [u64], theirs: &[u64], first: Option<usize>) {
    for (i, (mine, &theirs)) in mine.iter_mut().zip(theirs).enumerate() {
        *mine = if Some(i) == first {
            (*mine as i64).min(theirs as i64) as u64
        } else {
            *mine | theirs
        };
    }
}

/// Whether bit `bit` is set.
pub(crate) fn bit(words: &[u64], bit: usize) -> bool {
    words
        .get(bit / 64)
        .is_some_and(|w| w >> (bit % 64) & 1 == 1)
}

/// Whether any bit in `[from, to)` is set.
pub(crate) fn any_bit(words: &[u64], from: usize, to: usize) -> bool {
    (from..to).any(|b| bit(words, b))
}

/// The set bits of `words`, in order.
pub(crate) fn set_bits(words: &[u64]) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(|(i, &word)| {
        let mut rest = word;
        std::iter::from_fn(move || {
            (rest != 0).then(|| {
                let bit = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                i * 64 + bit
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> PeriodLayout {
        PeriodLayout {
            points: Arc::new(PointIndex::new(vec![0, 10, 20, 30])),
            a_end_ms: 20,
            a_periods: 3,
            kept: Kept {
                first: true,
                before: true,
                a: true,
                b: true,
            },
        }
    }

    fn rows(rows: &[(i64, i64, i64)]) -> Vec<ArrayRef> {
        let column = |f: fn(&(i64, i64, i64)) -> i64| -> ArrayRef {
            Arc::new(rows.iter().map(|r| Some(f(r))).collect::<Int64Array>())
        };
        vec![column(|r| r.0), column(|r| r.1), column(|r| r.2)]
    }

    fn people(periods: &PersonPeriods) -> Vec<(i64, bool, Vec<usize>, Vec<usize>)> {
        let mut out = Vec::new();
        periods.for_each(|p| {
            if p.first != NO_FIRST || p.before || p.a.iter().chain(p.b).any(|&w| w != 0) {
                out.push((
                    p.first,
                    p.before,
                    set_bits(p.a).collect(),
                    set_bits(p.b).collect(),
                ));
            }
        });
        out
    }

    #[test]
    fn flags_set_their_bits_and_partitions_merge() {
        let all = [
            (1, -5, FIRST | BEFORE),
            (1, 5, MARK_A | MARK_B),
            (1, 25, MARK_A | MARK_B), // after a_end: B only
            (70_000, 12, FIRST | MARK_A),
            (70_000, 3, FIRST),
        ];
        let mut whole = PersonPeriods::new(layout());
        whole.update(&rows(&all)).unwrap();
        let expected = vec![(-5, true, vec![0], vec![0, 2]), (3, false, vec![1], vec![])];
        assert_eq!(people(&whole), expected);

        // Halves handed over to a state that also writes rows of its own, and one handed over
        // in two steps: every way reads the same persons.
        let mut merged = PersonPeriods::new(layout());
        merged.update(&rows(&all[4..])).unwrap();
        for half in [&all[..2], &all[2..4]] {
            let mut part = PersonPeriods::new(layout());
            part.update(&rows(half)).unwrap();
            merged.merge(&handed_over(&mut part)).unwrap();
            // A state reads whole after handing itself over.
            assert_eq!(people(&part), people(&whole_of(half)));
        }
        assert_eq!(people(&merged), expected);
        let mut twice = PersonPeriods::new(layout());
        twice.merge(&handed_over(&mut merged)).unwrap();
        assert_eq!(people(&twice), expected);
    }

    fn whole_of(rows_: &[(i64, i64, i64)]) -> PersonPeriods {
        let mut whole = PersonPeriods::new(layout());
        whole.update(&rows(rows_)).unwrap();
        whole
    }

    fn handed_over(part: &mut PersonPeriods) -> ArrayRef {
        part.state().unwrap().to_array().unwrap()
    }

    #[test]
    fn chunks_are_handed_over_without_copying_and_checked_when_taken() {
        let mut part = whole_of(&[(1, 5, MARK_A), (70_000, 12, MARK_B)]);
        let own: Vec<*const u64> = part.chunks.iter().map(|c| c.as_ptr()).collect();
        let state = handed_over(&mut part);
        let mut merged = PersonPeriods::new(layout());
        merged.merge(&state).unwrap();
        let taken: Vec<*const u64> = merged.handed.iter().map(|b| b.as_ptr().cast()).collect();
        assert_eq!(taken, own);

        // A chunk of the wrong size (another layout's) is refused.
        let mut other_layout = layout();
        other_layout.kept.a = false;
        let mut other = PersonPeriods::new(other_layout);
        assert!(other.merge(&state).is_err());
    }

    #[test]
    fn parts_not_kept_take_no_words_and_read_empty() {
        let all = [
            (1, -5, FIRST | BEFORE),
            (1, 5, MARK_A | MARK_B),
            (1, 25, MARK_A | MARK_B),
            (70_000, 12, FIRST | MARK_A),
        ];
        let mut only_b = layout();
        only_b.kept = Kept {
            first: true,
            before: false,
            a: false,
            b: true,
        };
        assert_eq!(only_b.offsets().stride, 2);
        let mut merged = PersonPeriods::new(only_b.clone());
        for half in [&all[..2], &all[2..]] {
            let mut part = PersonPeriods::new(only_b.clone());
            part.update(&rows(half)).unwrap();
            merged.merge(&handed_over(&mut part)).unwrap();
        }
        // The first times merge by minimum, B by union; A and the mark read empty.
        assert_eq!(
            people(&merged),
            [(-5, false, vec![], vec![0, 2]), (12, false, vec![], vec![])]
        );
    }
}
