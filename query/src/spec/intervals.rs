//! Cutting a date range into the points of a time series (hours, days, weeks, months) in the
//! query's time zone, daylight-saving changes included.

use chrono::{Datelike, Days, Months, NaiveDate, TimeZone, Weekday};
use chrono_tz::Tz;

use super::validate::start_of_day;
use super::{Interval, WeekStart};

/// The points of a series over a date range: point `i` covers `[starts[i], starts[i + 1])` in
/// Unix ms. The first point starts with the range and the last ends with it, so a week or
/// month cut by the range is counted only inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Buckets {
    /// `labels.len() + 1` boundaries, increasing.
    pub(crate) starts: Vec<i64>,
    /// The interval each point belongs to, as its local start: `2025-01-06` for a day, week or
    /// month, `2025-01-06T13:00` for an hour.
    pub(crate) labels: Vec<String>,
}

/// The point holding instant `ms` for point boundaries `starts`, if it is in the range.
pub(crate) fn point_of(starts: &[i64], ms: i64) -> Option<usize> {
    let after = starts.partition_point(|&start| start <= ms);
    (after > 0 && after < starts.len()).then(|| after - 1)
}

/// Every boundary is a whole number of quarter hours after the first: they are local midnights
/// or hours, and every time zone's offset (and its daylight-saving shift) is a multiple of 15
/// minutes.
const QUARTER_HOUR_MS: i64 = 900_000;
/// Largest lookup table built (4 MiB), about 116 years of quarter hours.
const MAX_TABLE: usize = 1 << 22;

/// [`point_of`] in constant time: a table from quarter hour (since the first boundary) to point,
/// built once per query; analyses look up one point per event row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PointIndex {
    starts: Vec<i64>,
    /// Point of each quarter hour, when the boundaries allow a table.
    table: Option<Vec<u32>>,
}

impl PointIndex {
    /// The index of points with boundaries `starts` (increasing).
    pub(crate) fn new(starts: Vec<i64>) -> Self {
        let table = match (starts.first(), starts.last()) {
            (Some(&first), Some(&last))
                if starts.iter().all(|s| (s - first) % QUARTER_HOUR_MS == 0)
                    && ((last - first) / QUARTER_HOUR_MS) as usize <= MAX_TABLE =>
            {
                let quarters = ((last - first) / QUARTER_HOUR_MS) as usize;
                let mut table = Vec::with_capacity(quarters);
                for (point, window) in starts.windows(2).enumerate() {
                    let n = ((window[1] - window[0]) / QUARTER_HOUR_MS) as usize;
                    table.extend(std::iter::repeat_n(point as u32, n));
                }
                Some(table)
            }
            _ => None,
        };
        PointIndex { starts, table }
    }

    /// The boundaries.
    pub(crate) fn starts(&self) -> &[i64] {
        &self.starts
    }

    /// The point holding instant `ms`, if it is in the range.
    pub(crate) fn point_of(&self, ms: i64) -> Option<usize> {
        match (&self.table, self.starts.first()) {
            (Some(table), Some(&first)) if ms >= first => {
                let quarter = ((ms - first) / QUARTER_HOUR_MS) as usize;
                table.get(quarter).map(|&p| p as usize)
            }
            (Some(_), _) => None,
            (None, _) => point_of(&self.starts, ms),
        }
    }
}

impl Buckets {
    /// Number of points.
    pub(crate) fn len(&self) -> usize {
        self.labels.len()
    }
}

/// The points of `interval` covering the days `from..=to` in `tz`.
pub(crate) fn buckets(
    from: NaiveDate,
    to: NaiveDate,
    tz: Tz,
    interval: Interval,
    week_start: WeekStart,
) -> Buckets {
    let range_start = start_of_day(from, tz);
    let range_end = to
        .checked_add_days(Days::new(1))
        .map_or(i64::MAX, |next| start_of_day(next, tz));
    let mut starts = vec![range_start];
    let mut labels = Vec::new();
    match interval {
        Interval::Hour => {
            let mut start = range_start;
            while start < range_end {
                let local = tz.timestamp_millis_opt(start).earliest();
                labels.push(
                    local.map_or_else(String::new, |t| t.format("%Y-%m-%dT%H:%M").to_string()),
                );
                start += 3_600_000;
                starts.push(start.min(range_end));
            }
        }
        Interval::Day | Interval::Week | Interval::Month => {
            let mut first = match interval {
                Interval::Week => week_of(from, week_start),
                Interval::Month => from.with_day(1).unwrap_or(from),
                _ => from,
            };
            while first <= to {
                let next = match interval {
                    Interval::Day => first.checked_add_days(Days::new(1)),
                    Interval::Week => first.checked_add_days(Days::new(7)),
                    _ => first.checked_add_months(Months::new(1)),
                };
                labels.push(first.format("%Y-%m-%d").to_string());
                let end = next.map_or(range_end, |next| start_of_day(next, tz).min(range_end));
                starts.push(end);
                match next {
                    Some(next) => first = next,
                    None => break,
                }
            }
        }
    }
    Buckets { starts, labels }
}

/// The first day of the `interval` period holding `date`.
pub(crate) fn first_day_of(
    date: NaiveDate,
    interval: Interval,
    week_start: WeekStart,
) -> NaiveDate {
    match interval {
        Interval::Hour | Interval::Day => date,
        Interval::Week => week_of(date, week_start),
        Interval::Month => date.with_day(1).unwrap_or(date),
    }
}

/// The last day of the `interval` period holding `date`, then `later` periods on.
pub(crate) fn last_day_after(
    date: NaiveDate,
    interval: Interval,
    week_start: WeekStart,
    later: u32,
) -> Option<NaiveDate> {
    match interval {
        Interval::Hour | Interval::Day => date.checked_add_days(Days::new(later.into())),
        Interval::Week => {
            week_of(date, week_start).checked_add_days(Days::new(6 + 7 * u64::from(later)))
        }
        Interval::Month => date
            .with_day(1)?
            .checked_add_months(Months::new(later + 1))?
            .checked_sub_days(Days::new(1)),
    }
}

/// The first day of the week holding `date`.
pub(super) fn week_of(date: NaiveDate, week_start: WeekStart) -> NaiveDate {
    let first = match week_start {
        WeekStart::Monday => Weekday::Mon,
        WeekStart::Sunday => Weekday::Sun,
    };
    let back = (7 + date.weekday().num_days_from_monday() - first.num_days_from_monday()) % 7;
    date.checked_sub_days(Days::new(u64::from(back)))
        .unwrap_or(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    const HOUR: i64 = 3_600_000;

    #[test]
    fn days_follow_the_time_zone_across_daylight_saving() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let b = buckets(
            day(2025, 3, 8),
            day(2025, 3, 10),
            tz,
            Interval::Day,
            WeekStart::Monday,
        );
        assert_eq!(b.labels, ["2025-03-08", "2025-03-09", "2025-03-10"]);
        let lengths: Vec<i64> = b.starts.windows(2).map(|w| (w[1] - w[0]) / HOUR).collect();
        assert_eq!(lengths, [24, 23, 24]);
        assert_eq!(point_of(&b.starts, b.starts[1]), Some(1));
        assert_eq!(point_of(&b.starts, b.starts[1] - 1), Some(0));
        assert_eq!(point_of(&b.starts, b.starts[0] - 1), None);
        assert_eq!(point_of(&b.starts, b.starts[3]), None);
    }

    #[test]
    fn weeks_start_on_the_week_start_and_are_cut_by_the_range() {
        let utc = chrono_tz::UTC;
        // 2025-01-01 is a Wednesday.
        let b = buckets(
            day(2025, 1, 1),
            day(2025, 1, 14),
            utc,
            Interval::Week,
            WeekStart::Sunday,
        );
        assert_eq!(b.labels, ["2024-12-29", "2025-01-05", "2025-01-12"]);
        let days: Vec<i64> = b
            .starts
            .windows(2)
            .map(|w| (w[1] - w[0]) / 24 / HOUR)
            .collect();
        assert_eq!(days, [4, 7, 3]);
        let monday = buckets(
            day(2025, 1, 1),
            day(2025, 1, 1),
            utc,
            Interval::Week,
            WeekStart::Monday,
        );
        assert_eq!(monday.labels, ["2024-12-30"]);
    }

    #[test]
    fn the_point_table_agrees_with_the_search() {
        for zone in [
            "UTC",
            "Asia/Kolkata",
            "America/New_York",
            "Australia/Lord_Howe",
        ] {
            let tz: Tz = zone.parse().unwrap();
            for interval in [
                Interval::Hour,
                Interval::Day,
                Interval::Week,
                Interval::Month,
            ] {
                let b = buckets(
                    day(2025, 3, 1),
                    day(2025, 4, 10),
                    tz,
                    interval,
                    WeekStart::Monday,
                );
                let index = PointIndex::new(b.starts.clone());
                assert!(index.table.is_some(), "{zone} {interval:?}");
                let (first, last) = (b.starts[0], *b.starts.last().unwrap());
                let mut ms = first - 2 * HOUR;
                while ms < last + 2 * HOUR {
                    for probe in [ms - 1, ms, ms + 1] {
                        assert_eq!(index.point_of(probe), point_of(&b.starts, probe));
                    }
                    ms += 7 * 60_000;
                }
            }
        }
    }

    #[test]
    fn the_last_day_of_later_periods() {
        let d = day(2025, 1, 1); // a Wednesday
        let last = |interval, later| last_day_after(d, interval, WeekStart::Monday, later);
        assert_eq!(last(Interval::Day, 2), Some(day(2025, 1, 3)));
        assert_eq!(last(Interval::Week, 0), Some(day(2025, 1, 5)));
        assert_eq!(last(Interval::Week, 1), Some(day(2025, 1, 12)));
        assert_eq!(last(Interval::Month, 0), Some(day(2025, 1, 31)));
        assert_eq!(last(Interval::Month, 1), Some(day(2025, 2, 28)));
    }

    #[test]
    fn months_and_hours() {
        let seoul: Tz = "Asia/Seoul".parse().unwrap();
        let b = buckets(
            day(2025, 1, 15),
            day(2025, 3, 1),
            seoul,
            Interval::Month,
            WeekStart::Monday,
        );
        assert_eq!(b.labels, ["2025-01-01", "2025-02-01", "2025-03-01"]);
        let hours = buckets(
            day(2025, 1, 1),
            day(2025, 1, 1),
            seoul,
            Interval::Hour,
            WeekStart::Monday,
        );
        assert_eq!(hours.len(), 24);
        assert_eq!(hours.labels[0], "2025-01-01T00:00");
        assert_eq!(hours.labels[23], "2025-01-01T23:00");
        // Seoul midnight is 15:00 UTC the day before.
        assert_eq!(hours.starts[0], 1_735_657_200_000);
    }
}
