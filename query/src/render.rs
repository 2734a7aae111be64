//! Plain-text rendering of results for the command line: aligned columns, one block per row.

use std::fmt::Write as _;

use crate::result::{
    CohortResult, EventsResult, FunnelPoint, FunnelResult, FunnelRow, GroupsResult,
    LifecycleResult, PathsResult, QueryResult, RetentionCohort, RetentionOverall, RetentionResult,
    SegmentationResult, SegmentsResult, StickinessResult, TimeToConvert,
};
use crate::rfm::RfmResult;
use crate::spec::{BreakdownKind, Dataset, FunnelCounting};

/// Renders a result as an aligned text table, ending with a newline.
pub fn render_table(result: &QueryResult) -> String {
    match result {
        QueryResult::Funnel(funnel) => render_funnel(funnel),
        QueryResult::Events(events) => render_events(events),
        QueryResult::Segmentation(segmentation) => render_segmentation(segmentation),
        QueryResult::Retention(retention) => render_retention(retention),
        QueryResult::Lifecycle(lifecycle) => render_lifecycle(lifecycle),
        QueryResult::Stickiness(stickiness) => render_stickiness(stickiness),
        QueryResult::Paths(paths) => render_paths(paths),
        QueryResult::Cohort(cohort) => render_cohort(cohort),
        QueryResult::Rfm(rfm) => render_rfm(rfm),
        QueryResult::Segments(compared) => render_segments(compared),
        QueryResult::Groups(grouped) => render_groups(grouped),
    }
}

/// The overall table, then each group's under its values and persons.
fn render_groups(grouped: &GroupsResult) -> String {
    let properties: Vec<&str> = grouped
        .group_by
        .iter()
        .map(|g| g.property.as_str())
        .collect();
    let mut out = String::from("== All ==\n");
    out.push_str(&render_table(&grouped.overall));
    for group in &grouped.groups {
        let _ = writeln!(
            out,
            "\n== {}: {} ({} persons) ==",
            properties.join(" / "),
            group.label(),
            group.persons
        );
        out.push_str(&render_table(&group.result));
    }
    out
}

/// Each segment's table under its name.
fn render_segments(compared: &SegmentsResult) -> String {
    let mut out = String::new();
    for (i, segment) in compared.segments.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "== Segment: {} ==", segment.name);
        out.push_str(&render_table(&segment.result));
    }
    if !compared.formulas.is_empty() {
        out.push_str("\n== Across segments ==\n");
        out.push_str(&point_table(compared.points(), &compared.formula_columns()));
    }
    out
}

/// The persons, then one line per path: persons, share, the events joined by arrows.
fn render_paths(result: &PathsResult) -> String {
    let mut lines = vec![vec![
        "persons".to_owned(),
        "share".to_owned(),
        "path".to_owned(),
    ]];
    for path in &result.paths {
        let share = match result.persons {
            0 => 0.0,
            all => 100.0 * path.persons as f64 / all as f64,
        };
        lines.push(vec![
            path.persons.to_string(),
            format!("{share:.1}%"),
            path.events.join(" → "),
        ]);
    }
    let mut out = format!(
        "{} persons did {} ({})\n",
        result.persons,
        result.anchor,
        match result.direction {
            crate::spec::PathDirection::After => "paths after it",
            crate::spec::PathDirection::Before => "paths leading to it",
        }
    );
    out.push_str(&aligned(&lines));
    out
}

/// One line per period: persons, then the share who did it on at least 1, 2, … days.
fn render_stickiness(result: &StickinessResult) -> String {
    let days = result
        .periods
        .iter()
        .map(|p| p.exactly.len())
        .max()
        .unwrap_or(0);
    let mut headers = vec!["period".to_owned(), "persons".to_owned()];
    headers.extend((1..=days).map(|n| format!("≥{n}d")));
    let mut lines = vec![headers];
    for p in &result.periods {
        let mut line = vec![p.period.clone(), p.persons.to_string()];
        line.extend(p.at_least.iter().map(|&n| match p.persons {
            0 => "-".to_owned(),
            all => format!("{:.1}%", 100.0 * n as f64 / all as f64),
        }));
        lines.push(line);
    }
    aligned(&lines)
}

/// One line per segment, then the R × F grid.
fn render_rfm(result: &RfmResult) -> String {
    let mut out = format!("RFM: {} buyers\n", result.buyers);
    let or_dash = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
    let mut lines = vec![
        [
            "segment",
            "buyers",
            "share",
            "recency (days)",
            "purchases",
            "revenue/buyer",
            "revenue",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for row in &result.segments {
        lines.push(vec![
            row.segment.as_str().to_owned(),
            row.persons.to_string(),
            format!("{:.1}%", 100.0 * row.share),
            or_dash(row.recency_days),
            or_dash(row.frequency),
            or_dash(row.monetary),
            format!("{:.0}", row.revenue),
        ]);
    }
    out.push_str(&aligned(&lines));
    out.push_str("\nbuyers by recency score (rows) and frequency score (columns)\n");
    let mut grid = vec![
        ["R \\ F", "1", "2", "3", "4", "5"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for (r, row) in result.grid.iter().enumerate().rev() {
        let mut line = vec![(r + 1).to_string()];
        line.extend(row.iter().map(u64::to_string));
        grid.push(line);
    }
    out.push_str(&aligned(&grid));
    out
}

/// The size, then one line per listed member.
fn render_cohort(result: &CohortResult) -> String {
    let share = match result.persons {
        0 => 0.0,
        all => 100.0 * result.size as f64 / all as f64,
    };
    let mut out = format!(
        "Cohort: {} of {} persons ({share:.1}%)\n",
        result.size, result.persons
    );
    if result.members.is_empty() {
        return out;
    }
    let mut lines = vec![vec![
        "person_id".to_owned(),
        "user_id".to_owned(),
        "device_id".to_owned(),
    ]];
    let or_none = |id: &Option<String>| id.clone().unwrap_or_else(|| "(none)".to_owned());
    lines.extend(result.members.iter().map(|m| {
        vec![
            m.person_id.to_string(),
            or_none(&m.user_id),
            or_none(&m.device_id),
        ]
    }));
    out.push_str(&aligned(&lines));
    if (result.members.len() as u64) < result.size {
        let _ = writeln!(
            out,
            "… {} more (raise \"limit\" to list them)",
            result.size - result.members.len() as u64
        );
    }
    out
}

/// One line per period: the active states, dormant (negative, as charted), pulse.
fn render_lifecycle(result: &LifecycleResult) -> String {
    let headers = [
        "period",
        "new",
        "current",
        "resurrected",
        "dormant",
        "pulse",
    ];
    let mut lines = vec![headers.map(str::to_owned).to_vec()];
    for p in &result.points {
        lines.push(vec![
            p.period.clone(),
            p.new.to_string(),
            p.current.to_string(),
            p.resurrected.to_string(),
            format!("-{}", p.dormant),
            p.pulse
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")),
        ]);
    }
    aligned(&lines)
}

/// One line per cohort (persons, then each column's returned count and share), then the
/// overall row; incomplete cells are marked `*`. A second return event's table follows under
/// its name.
fn render_retention(result: &RetentionResult) -> String {
    let mut text = retention_table(&result.columns, &result.cohorts, &result.overall);
    if let Some(second) = &result.second_return {
        text.push_str(&format!("\nsecond return event: {}\n", second.return_event));
        text.push_str(&retention_table(
            &result.columns,
            &second.cohorts,
            &second.overall,
        ));
    }
    text
}

fn retention_table(
    columns: &[String],
    cohorts: &[RetentionCohort],
    overall_row: &RetentionOverall,
) -> String {
    let mut headers = vec!["cohort".to_owned(), "persons".to_owned()];
    headers.extend(columns.iter().cloned());
    let share = |returned: u64, of: u64| match of {
        0 => "-".to_owned(),
        of => format!("{returned} ({:.1}%)", 100.0 * returned as f64 / of as f64),
    };
    let mut lines = vec![headers];
    for cohort in cohorts {
        let mut line = vec![cohort.period.clone(), cohort.persons.to_string()];
        for (returned, complete) in cohort.returned.iter().zip(&cohort.complete) {
            let mark = if *complete { "" } else { "*" };
            line.push(format!("{}{mark}", share(*returned, cohort.persons)));
        }
        lines.push(line);
    }
    let mut overall = vec!["all".to_owned(), overall_row.persons.to_string()];
    for (returned, eligible) in overall_row.returned.iter().zip(&overall_row.eligible) {
        overall.push(share(*returned, *eligible));
    }
    lines.push(overall);
    aligned(&lines)
}

/// Lines of cells as text: the first column left-aligned, the others right-aligned.
fn aligned(lines: &[Vec<String>]) -> String {
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            lines
                .iter()
                .filter_map(|l| l.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &width))| match c {
                0 => format!("{cell:<width$}"),
                _ => format!("{cell:>width$}"),
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

/// One line per point, one column per series (`uniques`/`totals`/… of an event type; one per
/// bucket of a frequency series). Fractions get two decimals, undefined values a `-`.
fn render_segmentation(result: &SegmentationResult) -> String {
    point_table(&result.points, &result.columns())
}

/// One line per point: its label, then each column's value there.
fn point_table(points: &[String], columns: &[(String, Vec<Option<f64>>)]) -> String {
    let mut headers = vec!["point".to_owned()];
    headers.extend(columns.iter().map(|(header, _)| header.clone()));
    let mut lines = vec![headers];
    for (p, point) in points.iter().enumerate() {
        let mut line = vec![point.clone()];
        line.extend(
            columns
                .iter()
                .map(|(_, values)| match values.get(p).copied().flatten() {
                    Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
                    Some(v) => format!("{v:.2}"),
                    None => "-".to_owned(),
                }),
        );
        lines.push(line);
    }
    aligned(&lines)
}

const EVENT_HEADERS: [&str; 6] = [
    "event_time (UTC)",
    "event_type",
    "user_id",
    "device_id",
    "insert_id",
    "issues",
];

fn render_events(result: &EventsResult) -> String {
    let mut out = String::new();
    let dataset = match result.dataset {
        Dataset::Events => "events",
        Dataset::Quarantine => "quarantined events",
    };
    let _ = writeln!(out, "{} {dataset}", result.total);
    for count in &result.by_event_type {
        let _ = writeln!(out, "  {:>8}  {}", count.events, count.event_type);
    }
    if let Some(user) = &result.user {
        let _ = writeln!(
            out,
            "\nUser {} (devices: {})",
            user.user_id.as_deref().unwrap_or("(anonymous)"),
            user.device_ids.join(", ")
        );
        for (label, map) in [
            ("user properties", &user.user_properties),
            ("groups", &user.groups),
            ("group properties", &user.group_properties),
        ] {
            let text = serde_json::to_string(map).unwrap_or_default();
            let _ = writeln!(out, "  {label}: {text}");
        }
    }
    if result.events.is_empty() {
        return out;
    }
    let text = |event: &serde_json::Value, key: &str| match &event[key] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let lines: Vec<[String; 6]> = result
        .events
        .iter()
        .map(|event| {
            let time = event["event_time"]
                .as_i64()
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
                .unwrap_or_default();
            [
                time,
                text(event, "event_type"),
                text(event, "user_id"),
                text(event, "device_id"),
                text(event, "insert_id"),
                text(event, "taxonomy_issues"),
            ]
        })
        .collect();
    let mut widths = EVENT_HEADERS.map(str::len);
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    out.push('\n');
    write_aligned(&mut out, &EVENT_HEADERS.map(str::to_owned), &widths, true);
    for line in &lines {
        write_aligned(&mut out, line, &widths, true);
    }
    out
}

fn render_funnel(funnel: &FunnelResult) -> String {
    let mut out = String::new();
    let counted = match funnel.counting {
        FunnelCounting::Uniques => "",
        FunnelCounting::Totals => " (event totals: the counts are attempts, not persons)",
    };
    let _ = writeln!(out, "Funnel: {}{counted}", funnel.steps.join(" → "));
    render_row(&mut out, "Overall", funnel, &funnel.overall);
    let groups = funnel.groups();
    let mut titled = Vec::with_capacity(funnel.by_breakdown.len());
    for row in &funnel.by_breakdown {
        let title = match row.other {
            true => "(other): the groups past group_limit".to_owned(),
            false => groups
                .iter()
                .zip(funnel.row_labels(row))
                .map(|(group, label)| {
                    let kind = match group.kind {
                        BreakdownKind::Event => "event property",
                        BreakdownKind::User => "user property",
                        BreakdownKind::Field => "field",
                        BreakdownKind::Cohort => "cohort",
                    };
                    let step = match group.step {
                        Some(step) if step > 1 => format!(" (step {step})"),
                        _ => String::new(),
                    };
                    format!("{kind} {}{step} = {label}", group.property)
                })
                .collect::<Vec<_>>()
                .join(" · "),
        };
        render_row(&mut out, &title, funnel, row);
        titled.push((title, row));
    }
    if !funnel.over_time.is_empty() {
        render_over_time(&mut out, funnel, "", &funnel.over_time);
    }
    for (title, row) in titled {
        if !row.over_time.is_empty() {
            render_over_time(&mut out, funnel, &format!(", {title}"), &row.over_time);
        }
    }
    if let Some(times) = &funnel.time_to_convert {
        render_time_to_convert(&mut out, funnel, times);
    }
    out
}

/// Time to convert: the median and average, the histogram, and each step's average time from
/// the step before.
fn render_time_to_convert(out: &mut String, funnel: &FunnelResult, times: &TimeToConvert) {
    let or_dash = |ms: Option<f64>| ms.map_or_else(|| "-".to_owned(), duration);
    let _ = writeln!(
        out,
        "\nTime to convert, step {} → step {}: {} persons, median {}, average {}",
        times.from_step,
        times.to_step,
        times.persons,
        or_dash(times.median_ms),
        or_dash(times.average_ms)
    );
    let mut lines = vec![vec!["time".to_owned(), "persons".to_owned()]];
    lines.extend(times.histogram.iter().map(|bucket| {
        let from = duration(bucket.from_ms as f64);
        let label = match bucket.to_ms {
            Some(to) => format!("{from} to {}", duration(to as f64)),
            None => format!("{from} or more"),
        };
        vec![label, bucket.persons.to_string()]
    }));
    out.push_str(&aligned(&lines));
    let mut lines = vec![vec![
        "step".to_owned(),
        "persons".to_owned(),
        "average from previous".to_owned(),
    ]];
    lines.extend(times.steps.iter().map(|step| {
        let name = funnel.steps.get(step.step - 1).map_or("", String::as_str);
        vec![
            format!("{}. {name}", step.step),
            step.persons.to_string(),
            or_dash(step.average_ms),
        ]
    }));
    let _ = writeln!(out);
    out.push_str(&aligned(&lines));
}

/// A time in ms as people read it: `250 ms`, `12.5 s`, `3m 20s`, `2h 5m`, `3d 4h`.
fn duration(ms: f64) -> String {
    const SECOND: f64 = 1_000.0;
    const MINUTE: f64 = 60.0 * SECOND;
    const HOUR: f64 = 60.0 * MINUTE;
    const DAY: f64 = 24.0 * HOUR;
    let whole = |value: f64| value.floor() as u64;
    if ms < SECOND {
        format!("{} ms", ms.round() as u64)
    } else if ms < MINUTE {
        let seconds = format!("{:.1}", ms / SECOND);
        format!("{} s", seconds.trim_end_matches(".0"))
    } else if ms < HOUR {
        format!("{}m {}s", whole(ms / MINUTE), whole(ms % MINUTE / SECOND))
    } else if ms < DAY {
        format!("{}h {}m", whole(ms / HOUR), whole(ms % HOUR / MINUTE))
    } else {
        format!("{}d {}h", whole(ms / DAY), whole(ms % DAY / HOUR))
    }
}

/// Conversion over time (of everyone, or of the group `title` names): one line per point,
/// persons per step and the overall conversion.
fn render_over_time(out: &mut String, funnel: &FunnelResult, title: &str, points: &[FunnelPoint]) {
    let mut headers = vec!["start".to_owned()];
    headers.extend(
        funnel
            .steps
            .iter()
            .enumerate()
            .map(|(k, name)| format!("{}. {name}", k + 1)),
    );
    headers.push("conversion".to_owned());
    let mut lines = vec![headers];
    lines.extend(points.iter().map(|point| {
        let mut line = vec![point.start.clone()];
        line.extend(point.steps.iter().map(|s| s.persons.to_string()));
        let last = point.steps.last().map_or(0.0, |s| s.conversion_from_first);
        line.push(percent(last));
        line
    }));
    let _ = writeln!(out, "\nConversion over time (by entry){title}");
    out.push_str(&aligned(&lines));
}

const HEADERS: [&str; 5] = ["step", "persons", "of step 1", "of previous", "drop-off"];

fn render_row(out: &mut String, title: &str, funnel: &FunnelResult, row: &FunnelRow) {
    let lines: Vec<[String; 5]> = row
        .steps
        .iter()
        .zip(&funnel.steps)
        .enumerate()
        .map(|(k, (count, name))| {
            [
                format!("{}. {name}", k + 1),
                count.persons.to_string(),
                percent(count.conversion_from_first),
                percent(count.conversion_from_previous),
                count.drop_off.to_string(),
            ]
        })
        .collect();
    let mut widths = HEADERS.map(str::len);
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let _ = writeln!(out, "\n{title}");
    write_line(out, &HEADERS.map(str::to_owned), &widths);
    let rule: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
    let _ = writeln!(out, "{}", "-".repeat(rule));
    for line in &lines {
        write_line(out, line, &widths);
    }
}

/// First column left-aligned, numbers right-aligned, two spaces between columns.
/// Writes one table line: the first cell left-aligned, the others right-aligned (numbers).
fn write_line<const N: usize>(out: &mut String, cells: &[String; N], widths: &[usize; N]) {
    write_aligned(out, cells, widths, false);
}

/// Writes one table line, every cell left-aligned when `all_left`.
fn write_aligned<const N: usize>(
    out: &mut String,
    cells: &[String; N],
    widths: &[usize; N],
    all_left: bool,
) {
    let mut line = String::new();
    for (i, (cell, &width)) in cells.iter().zip(widths).enumerate() {
        let pad = " ".repeat(width - cell.chars().count());
        match i {
            0 => line.push_str(&format!("{cell}{pad}")),
            _ if all_left => line.push_str(&format!("  {cell}{pad}")),
            _ => line.push_str(&format!("  {pad}{cell}")),
        }
    }
    let _ = writeln!(out, "{}", line.trim_end());
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(duration(0.0), "0 ms");
        assert_eq!(duration(999.4), "999 ms");
        assert_eq!(duration(1_000.0), "1 s");
        assert_eq!(duration(12_500.0), "12.5 s");
        assert_eq!(duration(200_000.0), "3m 20s");
        assert_eq!(duration(7_500_000.0), "2h 5m");
        assert_eq!(duration(3.0 * 86_400_000.0 + 4.0 * 3_600_000.0), "3d 4h");
    }
    use crate::spec::Breakdown;

    fn group(values: &[Option<&str>], did_not_reach: bool) -> crate::result::GroupKey {
        crate::result::GroupKey {
            values: values.iter().map(|v| v.map(str::to_owned)).collect(),
            did_not_reach,
        }
    }

    #[test]
    fn titles_name_both_properties_the_missed_step_and_other() {
        use crate::spec::GroupBy;
        let group_by = vec![
            GroupBy {
                kind: BreakdownKind::User,
                property: "plan".into(),
                step: None,
            },
            GroupBy {
                kind: BreakdownKind::Event,
                property: "category".into(),
                step: Some(3),
            },
        ];
        let result = FunnelResult::from_levels(
            vec!["A".into(), "B".into(), "C".into()],
            None,
            group_by,
            2,
            [
                (group(&[Some("pro"), Some("design")], false), 3, 5),
                (group(&[Some("free"), None], true), 2, 4),
                (group(&[None, Some("video")], false), 3, 1),
            ],
        );
        let text = render_table(&QueryResult::Funnel(result));
        assert!(
            text.contains("user property plan = pro · event property category (step 3) = design"),
            "{text}"
        );
        assert!(
            text.contains(
                "user property plan = free · event property category (step 3) = (did not reach step 3)"
            ),
            "{text}"
        );
        assert!(
            text.contains("(other): the groups past group_limit"),
            "{text}"
        );
        assert!(!text.contains("video"), "{text}");
    }

    #[test]
    fn aligns_columns_and_names_breakdown_values() {
        let result = FunnelResult::from_levels(
            vec!["Viewed".into(), "Purchase Completed".into()],
            Some(Breakdown {
                kind: BreakdownKind::Event,
                property: "category".into(),
            }),
            Vec::new(),
            10,
            [
                (group(&[Some("books")], false), 2, 3),
                (group(&[None], false), 1, 1000),
            ],
        );
        let text = render_table(&QueryResult::Funnel(result));
        assert!(
            text.starts_with("Funnel: Viewed → Purchase Completed\n"),
            "{text}"
        );
        assert!(text.contains("event property category = (none)"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        let header = lines
            .iter()
            .position(|l| l.starts_with("step"))
            .expect(&text);
        // Overall block: 1003 entered, 3 converted.
        assert_eq!(
            lines[header + 2],
            "1. Viewed                 1003     100.0%       100.0%         0"
        );
        assert_eq!(
            lines[header + 3],
            "2. Purchase Completed        3       0.3%         0.3%      1000"
        );
    }

    #[test]
    fn a_second_return_event_gets_its_own_table() {
        let overall = |returned: u64| RetentionOverall {
            persons: 4,
            eligible: vec![4],
            returned: vec![returned],
            rate: vec![Some(returned as f64 / 4.0)],
        };
        let cohorts = |returned: u64| {
            vec![RetentionCohort {
                period: "2025-01-01".into(),
                persons: 4,
                returned: vec![returned],
                complete: vec![false],
            }]
        };
        let result = RetentionResult {
            columns: vec!["0".into()],
            cohorts: cohorts(3),
            overall: overall(3),
            second_return: Some(crate::result::RetentionSeries {
                return_event: "Buy".into(),
                cohorts: cohorts(1),
                overall: overall(1),
            }),
        };
        let text = render_table(&QueryResult::Retention(result));
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        assert_eq!(
            lines,
            [
                "cohort      persons           0",
                "2025-01-01        4  3 (75.0%)*",
                "all               4   3 (75.0%)",
                "",
                "second return event: Buy",
                "cohort      persons           0",
                "2025-01-01        4  1 (25.0%)*",
                "all               4   1 (25.0%)",
            ]
        );
    }

    #[test]
    fn segmentation_is_one_line_per_point() {
        let result = SegmentationResult {
            interval: crate::spec::Interval::Day,
            view: None,
            points: vec!["2025-01-01".into(), "2025-01-02".into()],
            series: vec![
                crate::result::SeriesResult {
                    event_type: "_all".into(),
                    measure: crate::spec::Measure::Uniques,
                    property: None,
                    values: vec![Some(12.0), Some(7.0)],
                    frequency: Vec::new(),
                },
                crate::result::SeriesResult {
                    event_type: "Purchase Completed".into(),
                    measure: crate::spec::Measure::Totals,
                    property: None,
                    values: vec![Some(3.0), Some(1000.0)],
                    frequency: Vec::new(),
                },
            ],
            formulas: Vec::new(),
        };
        let text = render_table(&QueryResult::Segmentation(result));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "point       _all (uniques)  Purchase Completed (totals)",
                "2025-01-01              12                            3",
                "2025-01-02               7                         1000",
            ]
        );
    }

    #[test]
    fn a_view_is_named_in_every_header() {
        let mut result = crate::result::tests::measures_result();
        result.series.truncate(1);
        result.view = Some(crate::spec::View::RollingWindow(7));
        let text = render_table(&QueryResult::Segmentation(result));
        let header = text.lines().next().unwrap_or_default().to_owned();
        assert_eq!(
            header,
            "point       Buy (property_average price, rolling window of 7)"
        );
    }

    #[test]
    fn measures_get_two_decimals_a_dash_for_null_and_a_column_per_bucket() {
        let result = crate::result::tests::measures_result();
        let text = render_table(&QueryResult::Segmentation(result));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "point       Buy (property_average price)  Buy (frequency 1)  Buy (frequency 2-3)  Buy (frequency 4+)",
                "2025-01-01                         11.67                  1                    2                   0",
                "2025-01-02                             -                  0                    0                   3",
            ]
        );
    }
}
