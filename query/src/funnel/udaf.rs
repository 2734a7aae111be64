//! The funnel as a DataFusion user-defined aggregate, grouped by person.
//!
//! `sluice_funnel(ts, mask, breakdown)` takes per row the event time (Unix ms, `Int64`), the step
//! mask (`Int64`, bit `k` set when the row matches step `k + 1`) and the breakdown value (`Utf8`,
//! may be null) and returns per group a struct `{level: UInt8, breakdown: Utf8}`: the number of
//! steps the person reached (0 when they never entered) and the breakdown value of the entry
//! that got them there. The query's constants (steps, window, entry range) live in the function
//! itself, so one instance serves one query.

use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility,
};

use super::accumulator::{FunnelAccumulator, FunnelGroups};
use super::path::FunnelParams;
use super::state::state_fields;

/// Name of the result field holding the level.
pub(crate) const LEVEL_FIELD: &str = "level";
/// Name of the result field holding the breakdown value.
pub(crate) const BREAKDOWN_FIELD: &str = "breakdown";

/// The fields of the aggregate's struct result.
pub(crate) fn result_fields() -> Fields {
    Fields::from(vec![
        Field::new(LEVEL_FIELD, DataType::UInt8, false),
        Field::new(BREAKDOWN_FIELD, DataType::Utf8, true),
    ])
}

/// The funnel aggregate of one query.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct FunnelUdaf {
    params: FunnelParams,
    signature: Signature,
}

impl FunnelUdaf {
    /// The aggregate for a funnel with these parameters.
    pub(crate) fn new(params: FunnelParams) -> Self {
        FunnelUdaf {
            params,
            signature: Signature::exact(
                vec![DataType::Int64, DataType::Int64, DataType::Utf8],
                Volatility::Immutable,
            ),
        }
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
        Ok(Box::new(FunnelAccumulator::new(self.params)))
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        Ok(state_fields(args.name))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs<'_>) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs<'_>,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(FunnelGroups::new(self.params)))
    }
}
