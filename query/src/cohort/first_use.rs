//! "Within N days of first use" (amplitude.md §4.6, relative to the person's new date): a range
//! per person, from their first counted event through the end of the day N days after its day
//! in the cohort's time zone.
//!
//! The scan gives each row its person's first time (a window `min` over the person's rows, read
//! only when a condition asks for it); `sluice_first_use_end(first)` is the range's last
//! millisecond, and `sluice_local_day(ms)` numbers the zone's days for "distinct days" in such
//! a range. Days are the zone's, so one is 23 or 25 hours across a clock change.

use chrono::{Datelike, Days, NaiveDate, TimeZone};
use chrono_tz::Tz;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::spec::start_of_day;

/// The local date of instant `ms` in `tz`.
fn local_date(ms: i64, tz: Tz) -> Option<NaiveDate> {
    tz.timestamp_millis_opt(ms)
        .earliest()
        .map(|t| t.date_naive())
}

/// The last millisecond of the day `days` days after the local day of `first`.
pub(crate) fn first_use_end(first: i64, days: u32, tz: Tz) -> Option<i64> {
    let last = local_date(first, tz)?.checked_add_days(Days::new(u64::from(days) + 1))?;
    Some(start_of_day(last, tz) - 1)
}

/// What a [`DayFunction`] gives for an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DayRule {
    /// `sluice_first_use_end`: the end of the first-use range starting at this instant.
    FirstUseEnd { days: u32 },
    /// `sluice_local_day`: the local day's number (days since 0001-01-01).
    LocalDay,
}

/// `Int64 -> Int64` over instants (Unix ms) by the days of one time zone.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct DayFunction {
    rule: DayRule,
    tz: Tz,
    signature: Signature,
}

impl DayFunction {
    /// The function applying `rule` in `tz`.
    pub(crate) fn new(rule: DayRule, tz: Tz) -> Self {
        DayFunction {
            rule,
            tz,
            signature: Signature::exact(vec![DataType::Int64], Volatility::Immutable),
        }
    }

    fn apply(&self, ms: i64) -> Option<i64> {
        match self.rule {
            DayRule::FirstUseEnd { days } => first_use_end(ms, days, self.tz),
            DayRule::LocalDay => local_date(ms, self.tz).map(|d| i64::from(d.num_days_from_ce())),
        }
    }
}

impl ScalarUDFImpl for DayFunction {
    fn name(&self) -> &str {
        match self.rule {
            DayRule::FirstUseEnd { .. } => "sluice_first_use_end",
            DayRule::LocalDay => "sluice_local_day",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        super::day::map_int64(self.name(), &args, |ms| self.apply(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_ends_with_the_local_day_n_days_after_the_first() {
        let tz: Tz = "America/New_York".parse().expect("zone");
        // 2025-03-08 23:30 local (EST): day 0 ends at 2025-03-09 00:00 local.
        let first = tz
            .with_ymd_and_hms(2025, 3, 8, 23, 30, 0)
            .single()
            .expect("time")
            .timestamp_millis();
        let midnight = |d: u32| {
            tz.with_ymd_and_hms(2025, 3, d, 0, 0, 0)
                .single()
                .expect("time")
                .timestamp_millis()
        };
        assert_eq!(first_use_end(first, 0, tz), Some(midnight(9) - 1));
        // Across the clock change on the 9th (a 23-hour day).
        assert_eq!(first_use_end(first, 1, tz), Some(midnight(10) - 1));
        let f = DayFunction::new(DayRule::LocalDay, tz);
        assert_eq!(f.apply(midnight(10) - 1), f.apply(midnight(9)));
        assert_eq!(f.apply(midnight(10)), f.apply(midnight(9)).map(|d| d + 1));
    }
}
