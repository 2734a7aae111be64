//! The funnel as a DataFusion user-defined aggregate over all persons at once.
//!
//! `sluice_funnel(person, ts, mask, held, group_1, group_2)` takes per row the person
//! (`Int64`), the event time (Unix ms, `Int64`), the step mask (`Int64`, bit `k` set when the row
//! matches step `k + 1`), the values of held properties as one text (`Utf8`, null when none are
//! held) and the two group-by values (`Utf8`, null where the property is absent or where the
//! row is not the property's step; see `group.rs`). It is used without `GROUP BY` and returns
//! the whole answer as `{levels, times}`: `levels` lists `{group_1, group_2, did_not_reach,
//! point, level, persons}`, the number of persons (or person-value pairs) whose best path reached
//! exactly `level` steps and falls in that group (and, for conversion over time, whose entry lies
//! in that point of the date range); `times` is the time-to-convert tally (`times.rs`; empty
//! unless asked for); `person_levels` each entered person's level (empty unless asked for). The query's constants (steps, window, entry range, group steps, points,
//! times) live in the function itself, so one instance serves one query.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, TypeSignature, Volatility,
};

use super::accumulator::FunnelAccumulator;
use super::group::GroupSteps;
use super::path::FunnelParams;
use super::state::state_fields;
use crate::spec::{ConversionTimes, PointIndex};

/// Names of the result fields holding the group-by values.
pub(crate) const GROUP_FIELDS: [&str; 2] = ["group_1", "group_2"];
/// Name of the result field that is true for persons who did not reach the grouped step.
pub(crate) const NOT_REACHED_FIELD: &str = "did_not_reach";
/// Name of the result field holding the level.
pub(crate) const LEVEL_FIELD: &str = "level";
/// Name of the result field holding the point of conversion over time (null without it).
pub(crate) const POINT_FIELD: &str = "point";
/// Name of the result field holding the count.
pub(crate) const PERSONS_FIELD: &str = "persons";

/// Name of the result field holding the level counts.
pub(crate) const LEVELS_FIELD: &str = "levels";
/// Name of the result field holding the time-to-convert tally (empty without it).
pub(crate) const TIMES_FIELD: &str = "times";
/// Name of the result field holding each entered person's level, as `person, level` pairs in
/// one list (empty unless asked for: cohorts of a funnel step).
pub(crate) const PERSON_LEVELS_FIELD: &str = "person_levels";

/// The fields of the result: the level counts and the time-to-convert tally.
pub(crate) fn result_fields() -> Fields {
    Fields::from(vec![
        Field::new(
            LEVELS_FIELD,
            DataType::List(Field::new_list_field(DataType::Struct(level_fields()), true).into()),
            false,
        ),
        Field::new(
            TIMES_FIELD,
            DataType::List(Field::new_list_field(DataType::Float64, true).into()),
            false,
        ),
        Field::new(
            PERSON_LEVELS_FIELD,
            DataType::List(Field::new_list_field(DataType::Int64, true).into()),
            false,
        ),
    ])
}

/// The fields of one level count.
pub(crate) fn level_fields() -> Fields {
    Fields::from(vec![
        Field::new(GROUP_FIELDS[0], DataType::Utf8, true),
        Field::new(GROUP_FIELDS[1], DataType::Utf8, true),
        Field::new(NOT_REACHED_FIELD, DataType::Boolean, false),
        Field::new(POINT_FIELD, DataType::UInt32, true),
        Field::new(LEVEL_FIELD, DataType::UInt8, false),
        Field::new(PERSONS_FIELD, DataType::UInt64, false),
    ])
}

/// The accepted argument types: text arguments as `Utf8` or `Utf8View` (how Parquet text is
/// read), so they are never copied just to change type.
fn argument_types() -> Vec<TypeSignature> {
    let text = [DataType::Utf8, DataType::Utf8View];
    let mut variants = Vec::new();
    for held in &text {
        for first in &text {
            for second in &text {
                variants.push(TypeSignature::Exact(vec![
                    DataType::Int64,
                    DataType::Int64,
                    DataType::Int64,
                    held.clone(),
                    first.clone(),
                    second.clone(),
                ]));
            }
        }
    }
    variants
}

/// The funnel aggregate of one query.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct FunnelUdaf {
    params: FunnelParams,
    /// The points of conversion over time, when asked for.
    points: Option<Arc<PointIndex>>,
    /// Time to convert, when asked for.
    times: Option<ConversionTimes>,
    /// The step each group-by property is read from.
    groups: GroupSteps,
    /// Also answer each entered person's level.
    person_levels: bool,
    signature: Signature,
}

impl FunnelUdaf {
    /// The aggregate for a funnel with these parameters.
    pub(crate) fn new(
        params: FunnelParams,
        points: Option<Arc<PointIndex>>,
        times: Option<ConversionTimes>,
        groups: GroupSteps,
    ) -> Self {
        FunnelUdaf {
            params,
            points,
            times,
            groups,
            person_levels: false,
            signature: Signature::one_of(argument_types(), Volatility::Immutable),
        }
    }

    /// Also answers each entered person's level (`PERSON_LEVELS_FIELD`).
    pub(crate) fn with_person_levels(mut self) -> Self {
        self.person_levels = true;
        self
    }

    /// Wrapped for use in a logical plan.
    pub(crate) fn into_udaf(self) -> AggregateUDF {
        AggregateUDF::new_from_impl(self)
    }
}

impl AggregateUDFImpl for FunnelUdaf {
    fn name(&self) -> &str {
        "sluice_funnel"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(result_fields()))
    }

    fn accumulator(&self, _args: AccumulatorArgs<'_>) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(
            FunnelAccumulator::new(self.params)
                .with_points(self.points.clone())
                .with_times(self.times.clone())
                .with_groups(self.groups)
                .with_person_levels(self.person_levels),
        ))
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        Ok(state_fields(args.name))
    }
}
