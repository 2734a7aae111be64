//! Rolling retention's per-person state: the hours in which a person started and returned, in
//! blocks of 24 hours, and ("new user" retention) their first counted event.
//!
//! A **block word** holds one person's block: bits 0–23 the hours with a start, bits 24–47 the
//! hours with a return, bits 48–63 the block number + 1 (blocks count from the date range's
//! first hour; 0 is an empty word). A person active on d days thus takes about d words, however
//! many events they have, and sorting a person's words sorts them by time.
//!
//! Persons are chunks of 65 536 consecutive ids (ids are dense per log partition). Per person a
//! chunk keeps two **open** words, the latest two blocks seen: files are sorted by event type,
//! then person, then time, so a person's rows of a day come once per event type, all in the same
//! one or two blocks. A word pushed out of the open pair, or a row older than both, goes to the
//! chunk's **closed** list with the person's place in the chunk. Words of the same block are
//! united when the person is read ([`KeyParts::for_each`]).
//!
//! A partition hands its chunks over without copying them (`handover.rs`): five buffers per
//! chunk (its key, the open words, the first times, the closed words and their persons), read in
//! place by the final phase.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::buffer::Buffer;
use datafusion::common::{Result, ScalarValue, internal_datafusion_err};

use crate::error::QueryError;
use crate::handover::{buffers_value, taken_buffers};
use crate::person_periods::{ChunkIndex, NO_FIRST, PREFETCH_DISTANCE, prefetch, row_columns};
use crate::retention::persons::{RETURN, START, START_UNMET};
use crate::spec::RollingWindows;

/// Hours per block word.
pub(crate) const BLOCK_HOURS: i64 = 24;
/// Bits of a block word's hours (starts, then returns).
const HOURS: u64 = (1 << BLOCK_HOURS) - 1;
/// Where a block word's return hours begin.
const RETURN_SHIFT: u32 = 24;
/// Where a block word's block number (+ 1) begins.
const BLOCK_SHIFT: u32 = 48;
/// Most blocks a query may span (the block number + 1 takes 16 bits): about 179 years.
const MAX_BLOCKS: i64 = (1 << 16) - 1;

/// Ids per chunk: 2^16.
const CHUNK_BITS: u32 = 16;
const CHUNK_PERSONS: usize = 1 << CHUNK_BITS;
/// Open words per person.
const OPEN: usize = 2;

/// A block word's block number (+ 1; 0 for an empty word).
fn block_key(word: u64) -> u64 {
    word >> BLOCK_SHIFT
}

/// Sorts a person's block words by block and unites those of one block into one.
pub(crate) fn sort_and_unite(words: &mut Vec<u64>) {
    words.sort_unstable();
    words.dedup_by(|word, kept| {
        let same = block_key(*word) == block_key(*kept);
        if same {
            *kept |= *word;
        }
        same
    });
}

/// One block of a person, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Block {
    /// Block number, from the date range's first hour.
    pub(crate) number: i64,
    /// Bit h: a start in the block's hour h.
    pub(crate) starts: u32,
    /// Bit h: a return in the block's hour h.
    pub(crate) returns: u32,
}

impl Block {
    pub(crate) fn of(word: u64) -> Block {
        Block {
            number: block_key(word) as i64 - 1,
            starts: (word & HOURS) as u32,
            returns: ((word >> RETURN_SHIFT) & HOURS) as u32,
        }
    }

    /// The hours (from the date range's first) whose bit is set in `bits`, in order.
    pub(crate) fn hours(&self, bits: u32) -> impl Iterator<Item = i64> + use<> {
        let first = self.number * BLOCK_HOURS;
        let mut rest = bits;
        std::iter::from_fn(move || {
            (rest != 0).then(|| {
                let bit = rest.trailing_zeros();
                rest &= rest - 1;
                first + i64::from(bit)
            })
        })
    }
}

/// How rows map to block words and first times.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct HourLayout {
    windows: RollingWindows,
    /// The date range's first instant and hour number: blocks count from that hour.
    from_ms: i64,
    first_hour: i64,
    /// Starts are taken before this instant (the date range's end).
    cohort_end_ms: i64,
    /// "New user" retention: a start row's time is kept as the person's first, not as a start
    /// hour.
    new_users: bool,
}

impl HourLayout {
    /// The layout of a query over `[from_ms, windows.horizon_ms)`; a span of more blocks than
    /// a word can number is refused.
    pub(crate) fn new(
        windows: RollingWindows,
        from_ms: i64,
        cohort_end_ms: i64,
        new_users: bool,
    ) -> crate::error::Result<Self> {
        let first_hour = windows.hour_of(from_ms);
        let hours = windows.hour_of(windows.horizon_ms - 1) - first_hour + 1;
        if hours.div_euclid(BLOCK_HOURS) >= MAX_BLOCKS {
            return Err(QueryError::Internal(format!(
                "rolling retention over {hours} hours: at most {} are supported",
                MAX_BLOCKS * BLOCK_HOURS
            )));
        }
        Ok(HourLayout {
            windows,
            from_ms,
            first_hour,
            cohort_end_ms,
            new_users,
        })
    }

    /// Whether starts are kept as first times ("new user" retention).
    pub(crate) fn is_new_users(&self) -> bool {
        self.new_users
    }

    /// The hour number (from the date range's first hour) of instant `ms`.
    pub(crate) fn hour(&self, ms: i64) -> i64 {
        self.windows.hour_of(ms) - self.first_hour
    }

    /// The instant at which hour `hour` (from the date range's first) begins.
    pub(crate) fn hour_start_ms(&self, hour: i64) -> i64 {
        self.windows.hour_start_ms(hour + self.first_hour)
    }

    /// The block word of a row at `ts` with `flags` ([`START`], [`RETURN`]), if it sets a bit:
    /// a start before the date range's end (not for new users, whose starts are their first
    /// times), a return before the horizon.
    pub(crate) fn word(&self, ts: i64, flags: i64) -> Option<u64> {
        if ts < self.from_ms || ts >= self.windows.horizon_ms {
            return None;
        }
        let hour = self.hour(ts);
        let (block, bit) = (hour / BLOCK_HOURS, hour % BLOCK_HOURS);
        let mut bits = 0u64;
        if flags & START != 0 && !self.new_users && ts < self.cohort_end_ms {
            bits |= 1 << bit;
        }
        if flags & RETURN != 0 {
            bits |= 1 << (RETURN_SHIFT as i64 + bit);
        }
        (bits != 0).then(|| ((block as u64 + 1) << BLOCK_SHIFT) | bits)
    }

    /// The first-time key of a start row at `ts` in "new user" retention: `2·ts + unmet`, so
    /// the smallest says when the first event was and whether it met the start's conditions
    /// (of rows in one millisecond, one that met them wins).
    pub(crate) fn first(&self, ts: i64, flags: i64) -> Option<i64> {
        (self.new_users && flags & START != 0)
            .then(|| ts.saturating_mul(2) | i64::from(flags & START_UNMET != 0))
    }
}

/// The rows of one chunk of persons, as this partition collects them.
#[derive(Debug)]
struct Chunk {
    key: i64,
    /// [`OPEN`] words per person, the latest blocks seen.
    open: Vec<u64>,
    /// Per person its first-time key, or [`NO_FIRST`] ("new user" retention; else empty).
    firsts: Vec<i64>,
    /// Words pushed out of the open pair, and the person (place in the chunk) of each.
    closed: Vec<u64>,
    persons: Vec<u16>,
}

impl Chunk {
    fn new(key: i64, new_users: bool) -> Self {
        Chunk {
            key,
            open: vec![0; OPEN * CHUNK_PERSONS],
            firsts: match new_users {
                true => vec![NO_FIRST; CHUNK_PERSONS],
                false => Vec::new(),
            },
            closed: Vec::new(),
            persons: Vec::new(),
        }
    }

    /// Adds `word` to person `at`'s open pair: into the word of its block, else in place of the
    /// older one (which is closed), else (older than both) straight to the closed list.
    fn add(&mut self, at: usize, word: u64) {
        let block = block_key(word);
        let pair = &mut self.open[OPEN * at..OPEN * at + OPEN];
        if let Some(open) = pair.iter_mut().find(|w| block_key(**w) == block) {
            *open |= word;
            return;
        }
        let older = usize::from(block_key(pair[1]) < block_key(pair[0]));
        let pushed_out = match block < block_key(pair[older]) {
            true => word,
            false => std::mem::replace(&mut pair[older], word),
        };
        if pushed_out != 0 {
            self.closed.push(pushed_out);
            self.persons.push(at as u16);
        }
    }

    /// The chunk's five buffers, as handed over.
    fn into_buffers(self) -> ChunkBuffers {
        ChunkBuffers {
            key: self.key,
            open: Buffer::from_vec(self.open),
            firsts: Buffer::from_vec(self.firsts),
            closed: Buffer::from_vec(self.closed),
            persons: Buffer::from_vec(self.persons),
        }
    }
}

/// A chunk read in place: this partition's own once handed over, or another's.
#[derive(Debug, Clone)]
struct ChunkBuffers {
    key: i64,
    open: Buffer,
    firsts: Buffer,
    closed: Buffer,
    persons: Buffer,
}

impl ChunkBuffers {
    /// The buffers of a chunk handed over, checked against `layout`.
    fn taken(buffers: &[Buffer], layout: &HourLayout) -> Result<Self> {
        let [key, open, firsts, closed, persons] = buffers else {
            return Err(internal_datafusion_err!(
                "a rolling retention chunk of {} buffers, expected 5",
                buffers.len()
            ));
        };
        let key = <[u8; 8]>::try_from(key.as_slice())
            .map(i64::from_le_bytes)
            .map_err(|_| internal_datafusion_err!("a rolling retention chunk key"))?;
        let firsts_len = match layout.new_users {
            true => 8 * CHUNK_PERSONS,
            false => 0,
        };
        if open.len() != 8 * OPEN * CHUNK_PERSONS
            || firsts.len() != firsts_len
            || closed.len() % 8 != 0
            || closed.len() / 8 != persons.len() / 2
            || persons.len() % 2 != 0
        {
            return Err(internal_datafusion_err!(
                "a rolling retention chunk of another layout"
            ));
        }
        Ok(ChunkBuffers {
            key,
            open: open.clone(),
            firsts: firsts.clone(),
            closed: closed.clone(),
            persons: persons.clone(),
        })
    }

    fn buffers(&self) -> [Buffer; 5] {
        [
            Buffer::from_vec(self.key.to_le_bytes().to_vec()),
            self.open.clone(),
            self.firsts.clone(),
            self.closed.clone(),
            self.persons.clone(),
        ]
    }

    fn size(&self) -> usize {
        self.open.len() + self.firsts.len() + self.closed.len() + self.persons.len()
    }
}

/// Every person's block words and first times.
#[derive(Debug)]
pub(crate) struct PersonHours {
    layout: HourLayout,
    chunk_index: ChunkIndex,
    chunks: Vec<Chunk>,
    /// Chunks read in place: handed over by other partitions, and this one's once handed over.
    handed: Vec<ChunkBuffers>,
    /// The rows of the batch being applied (kept to reuse the allocation).
    pending: Vec<Pending>,
}

/// A row of the batch being applied: its person's place, its block word (0: none) and its
/// first-time key ([`NO_FIRST`]: none).
#[derive(Debug, Clone, Copy)]
struct Pending {
    chunk: u32,
    at: u32,
    word: u64,
    first: i64,
}

impl PersonHours {
    pub(crate) fn new(layout: HourLayout) -> Self {
        PersonHours {
            layout,
            chunk_index: ChunkIndex::default(),
            chunks: Vec::new(),
            handed: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// The index of chunk `key`, added if new.
    fn chunk(&mut self, key: i64) -> usize {
        let new_users = self.layout.new_users;
        let chunks = &mut self.chunks;
        self.chunk_index.place(key, || {
            chunks.push(Chunk::new(key, new_users));
            chunks.len() - 1
        })
    }

    /// Applies rows `[person, ts, flags]` (all `Int64`; rows with a null are skipped).
    ///
    /// Within an event type rows come by person, but each type has its own subset of persons,
    /// so the open words of one row are seldom in the cache. The batch is therefore applied in
    /// two passes, as [`PersonPeriods::update`] does: the first finds each row's place and word,
    /// the second applies them while prefetching the place of the row [`PREFETCH_DISTANCE`]
    /// ahead, so the misses overlap instead of queueing.
    ///
    /// [`PersonPeriods::update`]: crate::person_periods::PersonPeriods::update
    pub(crate) fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [person, ts, flags] = row_columns(values, "rolling retention")?;
        let mut pending = std::mem::take(&mut self.pending);
        pending.clear();
        for row in 0..person.len() {
            if person.is_null(row) || ts.is_null(row) || flags.is_null(row) {
                continue;
            }
            let (id, ts, flags) = (person.value(row), ts.value(row), flags.value(row));
            let word = self.layout.word(ts, flags).unwrap_or(0);
            let first = self.layout.first(ts, flags).unwrap_or(NO_FIRST);
            if word == 0 && first == NO_FIRST {
                continue;
            }
            pending.push(Pending {
                chunk: self.chunk(id >> CHUNK_BITS) as u32,
                at: (id & (CHUNK_PERSONS as i64 - 1)) as u32,
                word,
                first,
            });
        }
        for (i, row) in pending.iter().enumerate() {
            if let Some(ahead) = pending.get(i + PREFETCH_DISTANCE) {
                let chunk = &self.chunks[ahead.chunk as usize];
                prefetch(&chunk.open[OPEN * ahead.at as usize..]);
                if let Some(first) = chunk.firsts.get(ahead.at as usize..) {
                    prefetch(first);
                }
            }
            let chunk = &mut self.chunks[row.chunk as usize];
            let at = row.at as usize;
            if row.word != 0 {
                chunk.add(at, row.word);
            }
            if row.first != NO_FIRST {
                chunk.firsts[at] = chunk.firsts[at].min(row.first);
            }
        }
        self.pending = pending;
        Ok(())
    }

    /// This partition's chunks become read in place, so the state reads whole afterwards.
    fn hand_over_own(&mut self) {
        self.chunk_index.clear();
        for chunk in std::mem::take(&mut self.chunks) {
            self.handed.push(chunk.into_buffers());
        }
    }

    /// Hands every chunk over without copying: one `List<BinaryView>` value (`handover.rs`),
    /// five buffers per chunk.
    pub(crate) fn state(&mut self) -> Result<ScalarValue> {
        self.hand_over_own();
        buffers_value(self.handed.iter().flat_map(ChunkBuffers::buffers).collect())
    }

    /// Takes the chunks of states written by [`PersonHours::state`], to be read in place.
    pub(crate) fn merge(&mut self, states: &ArrayRef) -> Result<()> {
        for buffers in taken_buffers(states, align_of::<u64>())? {
            if buffers.len() % 5 != 0 {
                return Err(internal_datafusion_err!(
                    "a rolling retention state of {} buffers",
                    buffers.len()
                ));
            }
            for chunk in buffers.chunks_exact(5) {
                self.handed.push(ChunkBuffers::taken(chunk, &self.layout)?);
            }
        }
        Ok(())
    }

    /// Every chunk of persons held, with all the parts that hold it, by key.
    pub(crate) fn parts(&mut self) -> Vec<KeyParts<'_>> {
        self.hand_over_own();
        let mut by_key: BTreeMap<i64, Vec<&ChunkBuffers>> = BTreeMap::new();
        for chunk in &self.handed {
            by_key.entry(chunk.key).or_default().push(chunk);
        }
        by_key
            .into_iter()
            .map(|(key, parts)| KeyParts { key, parts })
            .collect()
    }

    /// Approximate heap bytes held.
    pub(crate) fn size(&self) -> usize {
        let own: usize = self
            .chunks
            .iter()
            .map(|c| {
                8 * (c.open.capacity() + c.firsts.capacity() + c.closed.capacity())
                    + 2 * c.persons.capacity()
            })
            .sum();
        own + self.handed.iter().map(ChunkBuffers::size).sum::<usize>() + self.chunk_index.size()
    }
}

/// One chunk of persons: every part (partition) that holds some of them.
pub(crate) struct KeyParts<'a> {
    key: i64,
    parts: Vec<&'a ChunkBuffers>,
}

impl KeyParts<'_> {
    /// Calls `f(person, first, words)` for every person of the chunk with a word or a first
    /// time: the first-time key ([`NO_FIRST`] if none) and the person's block words from every
    /// part, sorted by block, those of one block united.
    pub(crate) fn for_each(&self, mut f: impl FnMut(i64, i64, &[u64])) {
        // The closed words of every part, placed by person (a counting sort).
        let mut starts = vec![0usize; CHUNK_PERSONS + 1];
        for part in &self.parts {
            for &at in part.persons.typed_data::<u16>() {
                starts[usize::from(at) + 1] += 1;
            }
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut closed = vec![0u64; starts[CHUNK_PERSONS]];
        let mut next = starts.clone();
        for part in &self.parts {
            let words = part.closed.typed_data::<u64>();
            for (&at, &word) in part.persons.typed_data::<u16>().iter().zip(words) {
                let slot = &mut next[usize::from(at)];
                closed[*slot] = word;
                *slot += 1;
            }
        }
        let opens: Vec<&[u64]> = self.parts.iter().map(|p| p.open.typed_data()).collect();
        let firsts: Vec<&[i64]> = self.parts.iter().map(|p| p.firsts.typed_data()).collect();
        let mut words = Vec::new();
        for at in 0..CHUNK_PERSONS {
            words.clear();
            for open in &opens {
                words.extend(
                    open[OPEN * at..OPEN * at + OPEN]
                        .iter()
                        .filter(|&&w| w != 0),
                );
            }
            words.extend_from_slice(&closed[starts[at]..starts[at + 1]]);
            let first = firsts
                .iter()
                .filter_map(|f| f.get(at))
                .fold(NO_FIRST, |a, &b| a.min(b));
            if words.is_empty() && first == NO_FIRST {
                continue;
            }
            sort_and_unite(&mut words);
            f((self.key << CHUNK_BITS) + at as i64, first, &words);
        }
    }
}

#[cfg(test)]
mod tests;
