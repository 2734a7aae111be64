//! What the funnel aggregate collects, and how it crosses partitions.
//!
//! The aggregate collects one compact [`Row`] per step event: the person, the values of held
//! properties (as one interned text), the time, the step mask and the two group-by values
//! (interned; the plan passes a value only where it can matter: on step-1 events inside the
//! entry range, or on events of the later step a property is read from). Text is interned once
//! per accumulator in [`Values`]; rows hold indexes.
//!
//! Between the partial and final phases the state travels as one row of eight list columns: the
//! six row fields (indexes as `Int64`, `-1` for none) and the two value dictionaries
//! (`List<Utf8>`), so no text is repeated per event.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Int64Array, ListArray, StringArray, StringViewArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::cast::{
    as_int64_array, as_list_array, as_string_array, as_string_view_array,
};
use datafusion::common::{Result, ScalarValue, internal_datafusion_err};

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
    pub(crate) rows: Vec<Row>,
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

    /// The state: one row of eight lists (see the module docs).
    pub(crate) fn to_state(&self) -> Vec<ScalarValue> {
        let index = |i: u32| if i == NONE { -1 } else { i64::from(i) };
        let ints = |f: &dyn Fn(&Row) -> i64| -> ArrayRef {
            Arc::new(self.rows.iter().map(f).collect::<Int64Array>())
        };
        let columns: [ArrayRef; 8] = [
            ints(&|r| r.person),
            ints(&|r| index(r.held)),
            ints(&|r| r.ts),
            ints(&|r| index(r.groups[0])),
            ints(&|r| index(r.groups[1])),
            ints(&|r| r.mask as i64),
            Arc::new(self.held.to_array()),
            Arc::new(self.groups.to_array()),
        ];
        columns
            .into_iter()
            .map(|values| {
                let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
                let offsets = OffsetBuffer::from_lengths([values.len()]);
                ScalarValue::List(Arc::new(ListArray::new(field, offsets, values, None)))
            })
            .collect()
    }

    /// Adds the rows of states written by [`Collected::to_state`] (one state per list row).
    pub(crate) fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [
            person,
            held,
            ts,
            first,
            second,
            mask,
            held_values,
            group_values,
        ] = states
        else {
            return Err(internal_datafusion_err!(
                "funnel state expects 8 columns, got {}",
                states.len()
            ));
        };
        let lists = [person, held, ts, first, second, mask].map(|l| as_list_array(l));
        let [person, held, ts, first, second, mask] = lists;
        let (person, held, ts, first, second, mask) = (person?, held?, ts?, first?, second?, mask?);
        let (held_values, group_values) =
            (as_list_array(held_values)?, as_list_array(group_values)?);
        for state in 0..person.len() {
            if person.is_null(state) {
                continue;
            }
            let held_map = remap(&held_values.value(state), &mut self.held)?;
            let group_map = remap(&group_values.value(state), &mut self.groups)?;
            let (p, h, t, g1, g2, m) = (
                person.value(state),
                held.value(state),
                ts.value(state),
                first.value(state),
                second.value(state),
                mask.value(state),
            );
            let (p, h, t, g1, g2, m) = (
                as_int64_array(&p)?,
                as_int64_array(&h)?,
                as_int64_array(&t)?,
                as_int64_array(&g1)?,
                as_int64_array(&g2)?,
                as_int64_array(&m)?,
            );
            let n = p.len();
            if [h.len(), t.len(), g1.len(), g2.len(), m.len()]
                .iter()
                .any(|&len| len != n)
            {
                return Err(internal_datafusion_err!(
                    "funnel state lists disagree in length"
                ));
            }
            let lookup = |map: &[u32], i: i64| -> Result<u32> {
                match i {
                    -1 => Ok(NONE),
                    i => usize::try_from(i)
                        .ok()
                        .and_then(|i| map.get(i).copied())
                        .ok_or_else(|| internal_datafusion_err!("funnel state index {i}")),
                }
            };
            self.rows.reserve(n);
            for i in 0..n {
                self.rows.push(Row {
                    person: p.value(i),
                    held: lookup(&held_map, h.value(i))?,
                    ts: t.value(i),
                    groups: [
                        lookup(&group_map, g1.value(i))?,
                        lookup(&group_map, g2.value(i))?,
                    ],
                    mask: m.value(i) as u64,
                });
            }
        }
        Ok(())
    }

    /// Approximate heap bytes held.
    pub(crate) fn size(&self) -> usize {
        self.rows.capacity() * size_of::<Row>() + self.held.size() + self.groups.size()
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
        list("held", DataType::Int64),
        list("ts", DataType::Int64),
        list("group_1", DataType::Int64),
        list("group_2", DataType::Int64),
        list("mask", DataType::Int64),
        list("held_values", DataType::Utf8),
        list("group_values", DataType::Utf8),
    ]
}
