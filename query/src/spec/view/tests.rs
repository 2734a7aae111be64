use chrono::NaiveDate;
use chrono_tz::Tz;

use super::*;
use crate::spec::intervals::buckets;
use crate::spec::validate::start_of_day;

fn date(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

fn series(measure: Measure) -> SeriesSpec {
    SeriesSpec {
        event_type: "Buy".into(),
        measure,
        property: None,
        frequency_buckets: None,
        conditions: Vec::new(),
    }
}

fn plan(view: View, from: &str, to: &str, tz: &str, interval: Interval) -> ViewPlan {
    try_plan(view, from, to, tz, interval, Measure::Uniques).expect("valid view")
}

fn try_plan(
    view: View,
    from: &str,
    to: &str,
    tz: &str,
    interval: Interval,
    measure: Measure,
) -> Result<ViewPlan, SpecError> {
    let tz: Tz = tz.parse().expect("zone");
    let range = buckets(date(from), date(to), tz, interval, WeekStart::Monday);
    ViewPlan::new(
        view,
        &[series(measure)],
        &range,
        date(from),
        tz,
        interval,
        WeekStart::Monday,
    )
}

#[test]
fn a_rolling_window_of_days_reads_the_days_before_in_the_zone() {
    let seoul: Tz = "Asia/Seoul".parse().expect("zone");
    let p = plan(
        View::RollingWindow(3),
        "2025-01-10",
        "2025-01-12",
        "Asia/Seoul",
        Interval::Day,
    );
    let days: Vec<i64> = ["2025-01-08", "2025-01-09", "2025-01-10", "2025-01-11"]
        .iter()
        .map(|d| start_of_day(date(d), seoul))
        .collect();
    assert_eq!(p.starts[..4], days[..]);
    assert_eq!(p.lead, 2);
    assert_eq!(p.intervals, [-2, -1, 0, 1, 2]);
    assert_eq!(p.folds(), [0..3, 1..4, 2..5]);
}

#[test]
fn a_week_cut_by_the_range_start_is_read_whole() {
    // 2025-01-08 is a Wednesday: the lead-in is two whole weeks and Monday-Tuesday.
    let p = plan(
        View::RollingWindow(3),
        "2025-01-08",
        "2025-01-21",
        "UTC",
        Interval::Week,
    );
    let utc: Tz = "UTC".parse().expect("zone");
    let lead: Vec<i64> = ["2024-12-23", "2024-12-30", "2025-01-06", "2025-01-08"]
        .iter()
        .map(|d| start_of_day(date(d), utc))
        .collect();
    assert_eq!(p.starts[..4], lead[..]);
    assert_eq!(p.intervals, [-2, -1, 0, 0, 1, 2]);
    assert_eq!(p.lead, 3);
    // The last window (weeks 0 to 2) holds the piece before the range start.
    assert_eq!(p.folds(), [0..4, 1..5, 2..6]);
    let average = plan(
        View::RollingAverage(3),
        "2025-01-08",
        "2025-01-21",
        "UTC",
        Interval::Week,
    );
    assert_eq!(average.folds(), [0..1, 1..2, 2..3, 3..4, 4..5, 5..6]);
    // The piece is no point of the series: the means are over whole weeks and the points.
    assert_eq!(
        average.averaged(),
        [vec![0, 1, 3], vec![1, 3, 4], vec![3, 4, 5]]
    );
}

#[test]
fn months_and_hours_lead_in_on_their_grid() {
    let p = plan(
        View::RollingWindow(2),
        "2025-03-15",
        "2025-04-30",
        "UTC",
        Interval::Month,
    );
    let utc: Tz = "UTC".parse().expect("zone");
    let lead: Vec<i64> = ["2025-02-01", "2025-03-01", "2025-03-15", "2025-04-01"]
        .iter()
        .map(|d| start_of_day(date(d), utc))
        .collect();
    assert_eq!(p.starts[..4], lead[..]);
    assert_eq!(p.intervals, [-1, 0, 0, 1]);
    let hours = plan(
        View::RollingAverage(3),
        "2025-01-10",
        "2025-01-10",
        "UTC",
        Interval::Hour,
    );
    let midnight = start_of_day(date("2025-01-10"), utc);
    assert_eq!(
        hours.starts[..3],
        [midnight - 7_200_000, midnight - 3_600_000, midnight]
    );
    assert_eq!(hours.averaged()[0], [0, 1, 2]);
    assert_eq!(hours.averaged()[5], [5, 6, 7]);
}

#[test]
fn cumulative_starts_at_the_range_start() {
    let p = plan(
        View::Cumulative,
        "2025-01-08",
        "2025-01-21",
        "UTC",
        Interval::Week,
    );
    assert_eq!(p.lead, 0);
    assert_eq!(p.folds(), [0..1, 0..2, 0..3]);
    assert!(p.averaged().is_empty());
}

#[test]
fn windows_beyond_amplitudes_limits_and_histograms_are_refused() {
    for (interval, max) in [
        (Interval::Hour, 72),
        (Interval::Day, 90),
        (Interval::Week, 12),
        (Interval::Month, 12),
    ] {
        assert!(
            try_plan(
                View::RollingWindow(max),
                "2025-01-01",
                "2025-01-01",
                "UTC",
                interval,
                Measure::Totals
            )
            .is_ok()
        );
        let error = try_plan(
            View::RollingAverage(max + 1),
            "2025-01-01",
            "2025-01-01",
            "UTC",
            interval,
            Measure::Totals,
        )
        .expect_err("too long");
        assert!(
            error.to_string().contains(&format!("give 1 to {max}")),
            "{error}"
        );
    }
    let zero = try_plan(
        View::RollingWindow(0),
        "2025-01-01",
        "2025-01-01",
        "UTC",
        Interval::Day,
        Measure::Uniques,
    )
    .expect_err("empty window");
    assert!(
        zero.to_string().starts_with("view.rolling_window"),
        "{zero}"
    );
    let histogram = try_plan(
        View::Cumulative,
        "2025-01-01",
        "2025-01-01",
        "UTC",
        Interval::Day,
        Measure::Frequency,
    )
    .expect_err("histogram");
    assert_eq!(
        histogram.to_string(),
        "events[0].measure: frequency cannot be shown as view cumulative: a frequency \
         histogram over a window is not defined; use uniques or totals"
    );
}

#[test]
fn the_view_is_written_as_amplitude_names_it() {
    let views: Vec<View> =
        serde_json::from_str(r#"[{"rolling_average": 7}, {"rolling_window": 30}, "cumulative"]"#)
            .expect("views");
    assert_eq!(
        views,
        [
            View::RollingAverage(7),
            View::RollingWindow(30),
            View::Cumulative
        ]
    );
    assert!(serde_json::from_str::<View>(r#"{"rolling_sum": 7}"#).is_err());
}
