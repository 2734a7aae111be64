//! Person-sorted runs of collected rows, and the walk over persons across them.
//!
//! Each partition's accumulator sorts its own rows by person once, in its own thread, and hands
//! them over as columns ([`Run`]). The final accumulator keeps those columns as they arrive (no
//! copy) and walks persons in order across all runs at once ([`PersonWalk`]), so no row is
//! copied or sorted again after the partitions finish, and disjoint person ranges can be walked
//! in parallel.

use datafusion::arrow::buffer::ScalarBuffer;
use datafusion::common::{Result, internal_datafusion_err};

use super::state::{NONE, Row};
use crate::person_sort::counting_starts;

/// Rows sorted by person, as columns. Value indexes are the run's own; the maps translate them
/// to the indexes of the accumulator that holds the run.
#[derive(Debug)]
pub(crate) struct Run {
    columns: Columns,
    /// The run's value indexes → the holder's; `None` for the holder's own rows.
    maps: Option<IndexMaps>,
}

/// A merged run's value indexes → the holder's.
#[derive(Debug)]
struct IndexMaps {
    held: Vec<u32>,
    groups: Vec<u32>,
}

impl IndexMaps {
    fn held(&self, index: u32) -> u32 {
        Self::map(index, &self.held)
    }

    fn group(&self, index: u32) -> u32 {
        Self::map(index, &self.groups)
    }

    fn map(index: u32, map: &[u32]) -> u32 {
        match index {
            NONE => NONE,
            index => map[index as usize],
        }
    }
}

/// The columns of a run.
#[derive(Debug)]
pub(crate) struct Columns {
    pub(crate) person: ScalarBuffer<i64>,
    pub(crate) held: ScalarBuffer<u32>,
    pub(crate) ts: ScalarBuffer<i64>,
    pub(crate) groups: [ScalarBuffer<u32>; 2],
    pub(crate) mask: ScalarBuffer<u64>,
}

impl Columns {
    /// `rows` as columns sorted by person; rows of one person keep their order. Person ids are
    /// dense (each log partition numbers its persons from 0), so usually each row is written
    /// straight to its place by a counting sort; for sparse ids the order comes from one
    /// comparison sort (`person_sort.rs`).
    pub(crate) fn sorted_by_person(rows: &[Row]) -> Columns {
        let n = rows.len();
        let mut person = vec![0i64; n];
        let mut held = vec![0u32; n];
        let mut ts = vec![0i64; n];
        let mut first = vec![0u32; n];
        let mut second = vec![0u32; n];
        let mut mask = vec![0u64; n];
        let mut place = |slot: usize, row: &Row| {
            person[slot] = row.person;
            held[slot] = row.held;
            ts[slot] = row.ts;
            first[slot] = row.groups[0];
            second[slot] = row.groups[1];
            mask[slot] = row.mask;
        };
        if let Some((min, mut starts)) = counting_starts(rows, |r| r.person) {
            for row in rows {
                let start = &mut starts[(row.person - min) as usize];
                place(*start, row);
                *start += 1;
            }
        } else {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by_key(|&i| rows[i].person);
            for (slot, &i) in order.iter().enumerate() {
                place(slot, &rows[i]);
            }
        }
        Columns {
            person: person.into(),
            held: held.into(),
            ts: ts.into(),
            groups: [first.into(), second.into()],
            mask: mask.into(),
        }
    }
}

impl Run {
    /// A run of `columns` whose value indexes map to the holder's through `held_map` and
    /// `group_map`. Errors when the columns disagree in length, are not sorted by person, or
    /// refer to a value the maps lack (a state this aggregate did not write).
    pub(crate) fn new(columns: Columns, held_map: Vec<u32>, group_map: Vec<u32>) -> Result<Run> {
        let Columns {
            person,
            held,
            ts,
            groups,
            mask,
        } = &columns;
        let n = person.len();
        if [
            held.len(),
            ts.len(),
            groups[0].len(),
            groups[1].len(),
            mask.len(),
        ]
        .iter()
        .any(|&len| len != n)
        {
            return Err(internal_datafusion_err!(
                "funnel state columns disagree in length"
            ));
        }
        if !person.is_sorted() {
            return Err(internal_datafusion_err!(
                "funnel state rows are not sorted by person"
            ));
        }
        let known = |indexes: &[u32], map: &[u32]| {
            indexes
                .iter()
                .all(|&i| i == NONE || (i as usize) < map.len())
        };
        if !known(held, &held_map) || !groups.iter().all(|g| known(g, &group_map)) {
            return Err(internal_datafusion_err!(
                "funnel state refers to a value it does not carry"
            ));
        }
        Ok(Run {
            columns,
            maps: Some(IndexMaps {
                held: held_map,
                groups: group_map,
            }),
        })
    }

    /// A run of the holder's own rows (its indexes need no map).
    pub(crate) fn own(rows: &[Row]) -> Run {
        Run {
            columns: Columns::sorted_by_person(rows),
            maps: None,
        }
    }

    /// The columns, with the holder's value indexes (shared, not copied, for the holder's own
    /// rows).
    pub(crate) fn columns(&self) -> Columns {
        let c = &self.columns;
        let Some(maps) = &self.maps else {
            return Columns {
                person: c.person.clone(),
                held: c.held.clone(),
                ts: c.ts.clone(),
                groups: c.groups.clone(),
                mask: c.mask.clone(),
            };
        };
        let mapped = |indexes: &ScalarBuffer<u32>, map: fn(&IndexMaps, u32) -> u32| {
            indexes
                .iter()
                .map(|&i| map(maps, i))
                .collect::<Vec<u32>>()
                .into()
        };
        Columns {
            person: c.person.clone(),
            held: mapped(&c.held, IndexMaps::held),
            ts: c.ts.clone(),
            groups: [
                mapped(&c.groups[0], IndexMaps::group),
                mapped(&c.groups[1], IndexMaps::group),
            ],
            mask: c.mask.clone(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.columns.person.len()
    }

    /// The person at `i`.
    fn person(&self, i: usize) -> i64 {
        self.columns.person[i]
    }

    /// The row at `i`, with the holder's value indexes.
    fn row(&self, i: usize) -> Row {
        let c = &self.columns;
        let (held, groups) = (c.held[i], [c.groups[0][i], c.groups[1][i]]);
        let (held, groups) = match &self.maps {
            None => (held, groups),
            Some(maps) => (maps.held(held), groups.map(|g| maps.group(g))),
        };
        Row {
            person: c.person[i],
            held,
            ts: c.ts[i],
            groups,
            mask: c.mask[i],
        }
    }

    /// The rows, with the holder's value indexes (for turning runs back into rows).
    pub(crate) fn rows(&self) -> impl Iterator<Item = Row> + '_ {
        (0..self.len()).map(|i| self.row(i))
    }

    /// The first position whose person is at least `person`.
    fn position_of(&self, person: i64) -> usize {
        self.columns.person.partition_point(|&p| p < person)
    }

    /// Heap bytes of the columns and maps.
    pub(crate) fn size(&self) -> usize {
        let maps = self
            .maps
            .as_ref()
            .map_or(0, |m| m.held.len() + m.groups.len());
        self.len() * (3 * size_of::<i64>() + 3 * size_of::<u32>()) + maps * size_of::<u32>()
    }
}

/// Person ranges that split the rows of `runs` into about `parts` equal shares: the boundaries
/// between consecutive ranges, ascending (empty for one part). Taken from the largest run, as
/// every partition sees a similar mix of persons.
pub(crate) fn person_splits(runs: &[Run], parts: usize) -> Vec<i64> {
    let Some(largest) = runs.iter().max_by_key(|r| r.len()) else {
        return Vec::new();
    };
    let mut splits: Vec<i64> = (1..parts)
        .filter_map(|part| {
            let at = largest.len() * part / parts;
            (at < largest.len()).then(|| largest.person(at))
        })
        .collect();
    splits.dedup();
    splits
}

/// Walks the persons `from ≤ person < to` of several runs in person order, each person's rows
/// from every run at once.
pub(crate) struct PersonWalk<'a> {
    runs: &'a [Run],
    /// Per run: the next position, and the end of the range.
    positions: Vec<(usize, usize)>,
}

impl<'a> PersonWalk<'a> {
    /// The walk over persons in `from..to` (unbounded where `None`).
    pub(crate) fn new(runs: &'a [Run], from: Option<i64>, to: Option<i64>) -> Self {
        let positions = runs
            .iter()
            .map(|run| {
                let start = from.map_or(0, |p| run.position_of(p));
                let end = to.map_or(run.len(), |p| run.position_of(p));
                (start, end)
            })
            .collect();
        PersonWalk { runs, positions }
    }

    /// Fills `rows` with the next person's rows (run by run, in run order); false when done.
    pub(crate) fn next_person(&mut self, rows: &mut Vec<Row>) -> bool {
        rows.clear();
        let next = self
            .runs
            .iter()
            .zip(&self.positions)
            .filter(|(_, (at, end))| at < end)
            .map(|(run, &(at, _))| run.person(at))
            .min();
        let Some(person) = next else {
            return false;
        };
        for (run, (at, end)) in self.runs.iter().zip(self.positions.iter_mut()) {
            while *at < *end && run.person(*at) == person {
                rows.push(run.row(*at));
                *at += 1;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests;
