//! What the funnel aggregate collects, and how it crosses partitions.
//!
//! The aggregate collects one compact [`Row`] per step event: the person, the values of held
//! properties (as one interned text), the time, the step mask and the two group-by values
//! (interned; the plan passes a value only where it can matter: on step-1 events inside the
//! entry range, or on events of the later step a property is read from). Text is interned once
//! per accumulator in [`Values`]; rows hold indexes.
//!
//! Between the partial and final phases the state travels as one row of eight list columns: the
//! six row fields, sorted by person (`runs.rs`; value indexes as `UInt32`, [`NONE`] for none),
//! and the two value dictionaries (`List<Utf8>`), so no text is repeated per event.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Int64Array, StringArray, StringViewArray, UInt32Array, UInt64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::cast::{
    as_int64_array, as_list_array, as_string_array, as_string_view_array, as_uint32_array,
    as_uint64_array,
};
use datafusion::common::{Result, ScalarValue, internal_datafusion_err};

use super::runs::{Columns, Run};
use crate::whole_table::one_row_list;

/// One collected step event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Row {
    /// The person.
    pub(crate) person: i64,
    /// Index of the held values in the held dictionary (`NONE` when nothing is held).
    pub(crate) held: u32,
    /// Event time, Unix ms.
    pub(crate) ts: i64,
    /// Indexes of the two group-by values in the group dictionary, `NONE` for null.
    pub(crate) groups: [u32; 2],
    /// Bit `k` set when the event matches step `k + 1`, bit `32 + j` when it matches exclusion
    /// `j + 1`.
    pub(crate) mask: u64,
}

/// The index meaning "no value".
pub(crate) const NONE: u32 = u32::MAX;

/// Distinct texts seen by one accumulator; rows refer to them by index.
#[derive(Debug, Default)]
pub(crate) struct Values {
    values: Vec<String>,
    index: HashMap<String, u32, BuildHasherDefault<FnvHasher>>,
    bytes: usize,
    /// The last value interned: neighbouring rows often repeat it (files are sorted by person).
    last: Option<u32>,
}

/// FNV-1a: short texts (category names, ids) hash several times faster than with SipHash, and
/// the keys come from stored data, not from an adversary choosing collisions per query.
#[derive(Debug, Default)]
pub(crate) struct FnvHasher(u64);

impl Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &byte in bytes {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = hash;
    }
}

/// The order of a [`Values`]: `rank_of[index]` and its inverse `index_of[rank]`.
pub(crate) struct Ranking {
    pub(crate) rank_of: Vec<u32>,
    pub(crate) index_of: Vec<u32>,
}

impl Values {
    /// The index of `value`, adding it when new.
    pub(crate) fn intern(&mut self, value: &str) -> Result<u32> {
        if let Some(last) = self.last
            && self.values[last as usize] == value
        {
            return Ok(last);
        }
        if let Some(&i) = self.index.get(value) {
            self.last = Some(i);
            return Ok(i);
        }
        let i = u32::try_from(self.values.len())
            .ok()
            .filter(|&i| i != NONE)
            .ok_or_else(|| internal_datafusion_err!("more than 2^32 distinct funnel values"))?;
        self.values.push(value.to_owned());
        self.index.insert(value.to_owned(), i);
        self.bytes += 2 * value.len();
        self.last = Some(i);
        Ok(i)
    }

    /// The value at `index`.
    pub(crate) fn get(&self, index: u32) -> Option<&str> {
        self.values.get(index as usize).map(String::as_str)
    }

    /// Ranks of the values in text order, so event order can break ties by value.
    pub(crate) fn ranking(&self) -> Ranking {
        let mut index_of: Vec<u32> = (0..self.values.len() as u32).collect();
        index_of.sort_unstable_by(|&a, &b| self.values[a as usize].cmp(&self.values[b as usize]));
        let mut rank_of = vec![0; index_of.len()];
        for (rank, &index) in index_of.iter().enumerate() {
            rank_of[index as usize] = rank as u32;
        }
        Ranking { rank_of, index_of }
    }

    /// Approximate heap bytes held.
    pub(crate) fn size(&self) -> usize {
        self.bytes
            + self.values.capacity() * size_of::<String>()
            + self.index.capacity() * (size_of::<String>() + size_of::<u32>() + 8)
    }

    fn to_array(&self) -> StringArray {
        self.values.iter().map(|v| Some(v.as_str())).collect()
    }
}

/// Everything one accumulator collected.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    /// Rows collected by this accumulator and not yet sorted into a run.
    pub(crate) rows: Vec<Row>,
    /// Rows sorted by person: this accumulator's own, once sealed, and those merged from
    /// partitions.
    pub(crate) runs: Vec<Run>,
    pub(crate) held: Values,
    /// The group-by values of both properties.
    pub(crate) groups: Values,
}

/// Text columns as `Utf8` (Parquet text may arrive as `Utf8View`).
fn utf8(array: &ArrayRef) -> Result<ArrayRef> {
    match array.data_type() {
        DataType::Utf8 => Ok(Arc::clone(array)),
        _ => Ok(cast(array, &DataType::Utf8)?),
    }
}

/// A text argument read in place, whether `Utf8` or `Utf8View` (what Parquet text reads as).
enum Text<'a> {
    Utf8(&'a StringArray),
    View(&'a StringViewArray),
}

impl<'a> Text<'a> {
    fn new(array: &'a ArrayRef) -> Result<Self> {
        match array.data_type() {
            DataType::Utf8 => Ok(Text::Utf8(as_string_array(array)?)),
            DataType::Utf8View => Ok(Text::View(as_string_view_array(array)?)),
            other => Err(internal_datafusion_err!(
                "funnel text argument of type {other}"
            )),
        }
    }

    fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Text::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            Text::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

impl Collected {
    /// Adds the rows of the aggregate's arguments `[person, ts, mask, held, group_1,
    /// group_2]`; rows matching no step or lacking a person or time are skipped.
    pub(crate) fn update(&mut self, arguments: &[ArrayRef]) -> Result<()> {
        let [person, ts, mask, held, first, second] = arguments else {
            return Err(internal_datafusion_err!(
                "funnel aggregate expects 6 columns, got {}",
                arguments.len()
            ));
        };
        let (person, ts, mask) = (
            as_int64_array(person)?,
            as_int64_array(ts)?,
            as_int64_array(mask)?,
        );
        let (held, first, second) = (Text::new(held)?, Text::new(first)?, Text::new(second)?);
        self.rows.reserve(person.len());
        for i in 0..person.len() {
            if person.is_null(i) || ts.is_null(i) || mask.is_null(i) {
                continue;
            }
            // The mask's 64 bits travel as an Int64: the top exclusion bit is the sign bit.
            let mask = mask.value(i) as u64;
            if mask == 0 {
                continue;
            }
            let ts = ts.value(i);
            let held = match held.get(i) {
                Some(value) => self.held.intern(value)?,
                None => NONE,
            };
            let mut groups = [NONE; 2];
            for (slot, values) in groups.iter_mut().zip([&first, &second]) {
                if let Some(value) = values.get(i) {
                    *slot = self.groups.intern(value)?;
                }
            }
            self.rows.push(Row {
                person: person.value(i),
                held,
                ts,
                groups,
                mask,
            });
        }
        Ok(())
    }

    /// Moves the rows collected so far into a run sorted by person.
    pub(crate) fn seal(&mut self) {
        if !self.rows.is_empty() {
            self.runs.push(Run::own(&self.rows));
            self.rows = Vec::new();
        }
    }

    /// All rows as one run sorted by person: runs merged from several states are turned back
    /// into rows and sorted again (a partition that both collected and merged; DataFusion does
    /// not plan that for this aggregate, but it stays correct).
    fn one_run(&mut self) -> Option<&Run> {
        if self.runs.len() + usize::from(!self.rows.is_empty()) > 1 {
            let runs = std::mem::take(&mut self.runs);
            self.rows.extend(runs.iter().flat_map(Run::rows));
        }
        self.seal();
        self.runs.first()
    }

    /// The state: one row of eight lists (see the module docs).
    pub(crate) fn state(&mut self) -> Vec<ScalarValue> {
        let held = Arc::new(self.held.to_array());
        let groups = Arc::new(self.groups.to_array());
        let Columns {
            person,
            held: held_indexes,
            ts,
            groups: [first, second],
            mask,
        } = match self.one_run() {
            Some(run) => run.columns(),
            None => Columns::sorted_by_person(&[]),
        };
        let columns: [ArrayRef; 8] = [
            Arc::new(Int64Array::new(person, None)),
            Arc::new(UInt32Array::new(held_indexes, None)),
            Arc::new(Int64Array::new(ts, None)),
            Arc::new(UInt32Array::new(first, None)),
            Arc::new(UInt32Array::new(second, None)),
            Arc::new(UInt64Array::new(mask, None)),
            held,
            groups,
        ];
        columns.into_iter().map(one_row_list).collect()
    }

    /// Keeps the runs of states written by [`Collected::state`] (one state per list row),
    /// their value indexes mapped to this accumulator's. The columns are not copied.
    pub(crate) fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = states
            .iter()
            .map(|state| as_list_array(state))
            .collect::<Result<Vec<_>>>()?;
        let [
            person,
            held,
            ts,
            first,
            second,
            mask,
            held_values,
            group_values,
        ] = lists[..]
        else {
            return Err(internal_datafusion_err!(
                "funnel state expects 8 columns, got {}",
                states.len()
            ));
        };
        for state in 0..person.len() {
            if person.is_null(state) {
                continue;
            }
            let held_map = remap(&held_values.value(state), &mut self.held)?;
            let group_map = remap(&group_values.value(state), &mut self.groups)?;
            let columns = Columns {
                person: as_int64_array(&person.value(state))?.values().clone(),
                held: as_uint32_array(&held.value(state))?.values().clone(),
                ts: as_int64_array(&ts.value(state))?.values().clone(),
                groups: [
                    as_uint32_array(&first.value(state))?.values().clone(),
                    as_uint32_array(&second.value(state))?.values().clone(),
                ],
                mask: as_uint64_array(&mask.value(state))?.values().clone(),
            };
            let run = Run::new(columns, held_map, group_map)?;
            if run.len() > 0 {
                self.runs.push(run);
            }
        }
        Ok(())
    }

    /// Approximate heap bytes held.
    pub(crate) fn size(&self) -> usize {
        self.rows.capacity() * size_of::<Row>()
            + self.runs.iter().map(Run::size).sum::<usize>()
            + self.held.size()
            + self.groups.size()
    }
}

/// For each value of another accumulator's dictionary, its index in `values`.
fn remap(other: &ArrayRef, values: &mut Values) -> Result<Vec<u32>> {
    let other = utf8(other)?;
    let other = as_string_array(&other)?;
    (0..other.len())
        .map(|i| {
            values.intern(if other.is_valid(i) {
                other.value(i)
            } else {
                ""
            })
        })
        .collect()
}

/// The state fields, named after the aggregate.
pub(crate) fn state_fields(name: &str) -> Vec<FieldRef> {
    let list = |suffix: &str, item: DataType| {
        let item = Arc::new(Field::new_list_field(item, true));
        Arc::new(Field::new(
            format!("{name}[{suffix}]"),
            DataType::List(item),
            true,
        ))
    };
    vec![
        list("person", DataType::Int64),
        list("held", DataType::UInt32),
        list("ts", DataType::Int64),
        list("group_1", DataType::UInt32),
        list("group_2", DataType::UInt32),
        list("mask", DataType::UInt64),
        list("held_values", DataType::Utf8),
        list("group_values", DataType::Utf8),
    ]
}
