//! The funnel aggregate's accumulators: one per person ([`FunnelAccumulator`]) and one for all
//! persons of a partition with state in flat vectors indexed by group ([`FunnelGroups`], the fast
//! path DataFusion uses under `GROUP BY`). Both collect step events, ship them between phases as
//! list columns (`state.rs`) and finish with the pure per-person algorithm (`path.rs`).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, StringBuilder, StructArray, UInt8Array,
};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

use super::path::{FunnelParams, StepEvent, person_funnel};
use super::state::{BreakdownValues, EventColumns, read_state, to_state};
use super::udaf::result_fields;

/// Funnel state of a single person.
#[derive(Debug)]
pub(crate) struct FunnelAccumulator {
    params: FunnelParams,
    events: Vec<StepEvent>,
    values: BreakdownValues,
}

impl FunnelAccumulator {
    pub(crate) fn new(params: FunnelParams) -> Self {
        FunnelAccumulator {
            params,
            events: Vec::new(),
            values: BreakdownValues::default(),
        }
    }
}

impl Accumulator for FunnelAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let columns = EventColumns::try_new(values)?;
        for row in 0..columns.len() {
            if let Some(event) = columns.event(row, &self.params, &mut self.values)? {
                self.events.push(event);
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let events = &mut self.events;
        read_state(states, &self.params, &mut self.values, |_, event| {
            events.push(event)
        })
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        to_state([self.events.as_slice()], &self.values)?
            .iter()
            .map(|list| ScalarValue::try_from_array(list, 0))
            .collect()
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let events = std::mem::take(&mut self.events);
        let result = finish(vec![events], &self.values, &self.params);
        ScalarValue::try_from_array(&result, 0)
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.events.capacity() * size_of::<StepEvent>() + self.values.size()
    }
}

/// Funnel state of every person (group) of one partition.
#[derive(Debug)]
pub(crate) struct FunnelGroups {
    params: FunnelParams,
    groups: Vec<Vec<StepEvent>>,
    values: BreakdownValues,
    /// Events held over all groups, for `size` in O(1).
    held: usize,
}

impl FunnelGroups {
    pub(crate) fn new(params: FunnelParams) -> Self {
        FunnelGroups {
            params,
            groups: Vec::new(),
            values: BreakdownValues::default(),
            held: 0,
        }
    }

    fn push(&mut self, group: usize, event: StepEvent) {
        if let Some(events) = self.groups.get_mut(group) {
            events.push(event);
            self.held += 1;
        }
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<Vec<StepEvent>> {
        let taken = emit_to.take_needed(&mut self.groups);
        self.held -= taken.iter().map(Vec::len).sum::<usize>();
        taken
    }
}

impl GroupsAccumulator for FunnelGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
        let columns = EventColumns::try_new(values)?;
        for (row, &group) in group_indices.iter().enumerate() {
            if opt_filter.is_some_and(|f| !f.is_valid(row) || !f.value(row)) {
                continue;
            }
            if let Some(event) = columns.event(row, &self.params, &mut self.values)? {
                self.push(group, event);
            }
        }
        Ok(())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
        let FunnelGroups {
            params,
            groups,
            values: dictionary,
            held,
        } = self;
        read_state(values, params, dictionary, |row, event| {
            if let Some(group) = group_indices.get(row).and_then(|&g| groups.get_mut(g)) {
                group.push(event);
                *held += 1;
            }
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.take(emit_to);
        Ok(Arc::new(finish(groups, &self.values, &self.params)))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.take(emit_to);
        to_state(groups.iter().map(Vec::as_slice), &self.values)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let columns = EventColumns::try_new(values)?;
        let mut dictionary = BreakdownValues::default();
        let mut rows = Vec::with_capacity(columns.len());
        for row in 0..columns.len() {
            let filtered = opt_filter.is_some_and(|f| !f.is_valid(row) || !f.value(row));
            let event = match filtered {
                true => None,
                false => columns.event(row, &self.params, &mut dictionary)?,
            };
            rows.push(event);
        }
        to_state(rows.iter().map(Option::as_slice), &dictionary)
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self.groups.capacity() * size_of::<Vec<StepEvent>>()
            + self.held * size_of::<StepEvent>()
            + self.values.size()
    }
}

/// Runs the funnel for each group and builds the result column `{level, breakdown}`.
fn finish(
    groups: Vec<Vec<StepEvent>>,
    values: &BreakdownValues,
    params: &FunnelParams,
) -> StructArray {
    let ranking = values.ranking();
    let mut levels = Vec::with_capacity(groups.len());
    let mut breakdowns = StringBuilder::new();
    for mut events in groups {
        // Ties at one millisecond are broken by breakdown value, so rank the indices first.
        for event in &mut events {
            event.breakdown = event.breakdown.map(|i| ranking.rank_of[i as usize]);
        }
        let outcome = person_funnel(&mut events, params);
        levels.push(outcome.level);
        let value = outcome
            .entry
            .and_then(|entry| entry.breakdown)
            .and_then(|rank| values.get(ranking.index_of[rank as usize]));
        breakdowns.append_option(value);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt8Array::from(levels)),
        Arc::new(breakdowns.finish()),
    ];
    StructArray::new(result_fields(), columns, None)
}

#[cfg(test)]
mod tests;
