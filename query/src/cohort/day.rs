//! `sluice_day_of(ms) -> Int64`: the day of a cohort condition's range an instant falls in
//! (days of the spec's time zone, so a day is 23 or 25 hours across a clock change), null
//! outside the range. "Performed on N distinct days" counts these per person.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::as_int64_array;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::spec::PointIndex;

/// The `sluice_day_of` function over one range's days.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct DayOf {
    days: Arc<PointIndex>,
    signature: Signature,
}

impl DayOf {
    /// The function over the days whose boundaries `days` holds.
    pub(crate) fn new(days: Arc<PointIndex>) -> Self {
        DayOf {
            days,
            signature: Signature::exact(vec![DataType::Int64], Volatility::Immutable),
        }
    }

    fn day(&self, ms: i64) -> Option<i64> {
        self.days.point_of(ms).map(|day| day as i64)
    }
}

impl ScalarUDFImpl for DayOf {
    fn name(&self) -> &str {
        "sluice_day_of"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        map_int64(self.name(), &args, |ms| self.day(ms))
    }
}

/// The body of a one-argument `Int64 → Int64` function named `name`: `f` of every non-null
/// value (`None` gives null), for a scalar or a column.
pub(super) fn map_int64(
    name: &str,
    args: &ScalarFunctionArgs,
    f: impl Fn(i64) -> Option<i64>,
) -> Result<ColumnarValue> {
    let [ms] = args.args.as_slice() else {
        return exec_err!("{name} takes one argument");
    };
    match ms {
        ColumnarValue::Scalar(ScalarValue::Int64(ms)) => {
            Ok(ColumnarValue::Scalar(ScalarValue::Int64(ms.and_then(&f))))
        }
        ColumnarValue::Scalar(other) => exec_err!("{name} expects Int64, got {other:?}"),
        ColumnarValue::Array(array) => {
            let values: Int64Array = as_int64_array(array)?
                .iter()
                .map(|ms| ms.and_then(&f))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(values) as ArrayRef))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_map_to_their_day_and_outside_to_none() {
        let day = 86_400_000;
        let f = DayOf::new(Arc::new(PointIndex::new(vec![0, day, 2 * day])));
        assert_eq!(f.day(0), Some(0));
        assert_eq!(f.day(day - 1), Some(0));
        assert_eq!(f.day(day), Some(1));
        assert_eq!(f.day(2 * day), None);
        assert_eq!(f.day(-1), None);
    }
}
