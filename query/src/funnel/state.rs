//! What the funnel aggregate keeps per person, and how it crosses partitions.
//!
//! Each person's state is the list of their step events (`StepEvent`). Breakdown strings are
//! interned once per accumulator in [`BreakdownValues`]; events hold the index. Between the
//! partial and final aggregation phases the state travels as three list columns, one row per
//! person: event times (`List<Int64>`), step masks (`List<Int64>`) and breakdown values
//! (`List<Utf8>`) — the same shapes as the aggregate's three arguments, so input rows and state
//! rows are read by the same code.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Int64Array, ListArray, StringArray, StringBuilder,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::cast::{as_int64_array, as_list_array, as_string_array};
use datafusion::common::{Result, internal_datafusion_err};

use super::path::{FunnelParams, StepEvent};

/// Distinct breakdown values seen by one accumulator; events refer to them by index.
#[derive(Debug, Default)]
pub(crate) struct BreakdownValues {
    values: Vec<String>,
    index: HashMap<String, u32>,
    bytes: usize,
}

/// The order of a [`BreakdownValues`]: `rank_of[index]` and its inverse `index_of[rank]`.
pub(crate) struct Ranking {
    pub(crate) rank_of: Vec<u32>,
    pub(crate) index_of: Vec<u32>,
}

impl BreakdownValues {
    /// The index of `value`, adding it when new.
    pub(crate) fn intern(&mut self, value: &str) -> Result<u32> {
        if let Some(&i) = self.index.get(value) {
            return Ok(i);
        }
        let i = u32::try_from(self.values.len())
            .map_err(|_| internal_datafusion_err!("more than 2^32 distinct breakdown values"))?;
        self.values.push(value.to_owned());
        self.index.insert(value.to_owned(), i);
        self.bytes += 2 * value.len();
        Ok(i)
    }

    /// The value at `index`.
    pub(crate) fn get(&self, index: u32) -> Option<&str> {
        self.values.get(index as usize).map(String::as_str)
    }

    /// Ranks of the values in string order, so event order can break ties by value.
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
}

/// The three typed columns of funnel events: the aggregate's arguments or a state's list values.
pub(crate) struct EventColumns<'a> {
    ts: &'a Int64Array,
    mask: &'a Int64Array,
    breakdown: &'a StringArray,
}

impl<'a> EventColumns<'a> {
    /// Reads `[ts, mask, breakdown]`; any other shape is a planning bug.
    pub(crate) fn try_new(arrays: &'a [ArrayRef]) -> Result<Self> {
        let [ts, mask, breakdown] = arrays else {
            return Err(internal_datafusion_err!(
                "funnel aggregate expects 3 columns, got {}",
                arrays.len()
            ));
        };
        Ok(EventColumns {
            ts: as_int64_array(ts)?,
            mask: as_int64_array(mask)?,
            breakdown: as_string_array(breakdown)?,
        })
    }

    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.ts.len()
    }

    /// The event in `row`, or `None` when it matches no step. The breakdown value is kept only
    /// where it can matter: on step-1 events inside the entry range.
    pub(crate) fn event(
        &self,
        row: usize,
        params: &FunnelParams,
        values: &mut BreakdownValues,
    ) -> Result<Option<StepEvent>> {
        if self.ts.is_null(row) || self.mask.is_null(row) {
            return Ok(None);
        }
        let ts = self.ts.value(row);
        let raw_mask = self.mask.value(row);
        let mask = u32::try_from(raw_mask)
            .map_err(|_| internal_datafusion_err!("funnel step mask {raw_mask} out of range"))?;
        if mask == 0 {
            return Ok(None);
        }
        let can_enter = mask & 1 != 0 && (params.entry_from_ms..=params.entry_to_ms).contains(&ts);
        let breakdown = if can_enter && self.breakdown.is_valid(row) {
            Some(values.intern(self.breakdown.value(row))?)
        } else {
            None
        };
        Ok(Some(StepEvent {
            ts,
            breakdown,
            mask,
        }))
    }
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
        list("ts", DataType::Int64),
        list("mask", DataType::Int64),
        list("breakdown", DataType::Utf8),
    ]
}

/// Encodes the event lists of `groups` (one list row per group) as the three state columns.
pub(crate) fn to_state<'g>(
    groups: impl IntoIterator<Item = &'g [StepEvent]>,
    values: &BreakdownValues,
) -> Result<Vec<ArrayRef>> {
    let mut lengths = Vec::new();
    let mut ts = Vec::new();
    let mut mask = Vec::new();
    let mut breakdown = StringBuilder::new();
    for events in groups {
        lengths.push(events.len());
        for event in events {
            ts.push(event.ts);
            mask.push(i64::from(event.mask));
            breakdown.append_option(event.breakdown.and_then(|i| values.get(i)));
        }
    }
    let columns: [ArrayRef; 3] = [
        Arc::new(Int64Array::from(ts)),
        Arc::new(Int64Array::from(mask)),
        Arc::new(breakdown.finish()),
    ];
    let item_types = [DataType::Int64, DataType::Int64, DataType::Utf8];
    Ok(columns
        .into_iter()
        .zip(item_types)
        .map(|(column, item)| {
            let field = Arc::new(Field::new_list_field(item, true));
            let offsets = OffsetBuffer::from_lengths(lengths.iter().copied());
            Arc::new(ListArray::new(field, offsets, column, None)) as ArrayRef
        })
        .collect())
}

/// Reads state columns written by [`to_state`]: calls `push(row, event)` for every event.
pub(crate) fn read_state(
    states: &[ArrayRef],
    params: &FunnelParams,
    values: &mut BreakdownValues,
    mut push: impl FnMut(usize, StepEvent),
) -> Result<()> {
    let [ts, mask, breakdown] = states else {
        return Err(internal_datafusion_err!(
            "funnel state expects 3 columns, got {}",
            states.len()
        ));
    };
    let lists = [
        as_list_array(ts)?,
        as_list_array(mask)?,
        as_list_array(breakdown)?,
    ];
    if !same_offsets(lists[0], lists[1]) || !same_offsets(lists[0], lists[2]) {
        return Err(internal_datafusion_err!(
            "funnel state lists disagree in length"
        ));
    }
    let flat: Vec<ArrayRef> = lists.iter().map(|l| Arc::clone(l.values())).collect();
    let columns = EventColumns::try_new(&flat)?;
    let offsets = lists[0].value_offsets();
    for row in 0..lists[0].len() {
        if lists[0].is_null(row) {
            continue;
        }
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        for i in start..end.min(columns.len()) {
            if let Some(event) = columns.event(i, params, values)? {
                push(row, event);
            }
        }
    }
    Ok(())
}

/// Whether two state lists have the same rows (the three lists are written together).
fn same_offsets(a: &ListArray, b: &ListArray) -> bool {
    a.value_offsets() == b.value_offsets()
}
