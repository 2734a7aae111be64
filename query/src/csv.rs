//! CSV rendering of results, for spreadsheets: one header line, then one line per row, with raw
//! numbers (counts, and rates as fractions) rather than the text table's formatted cells.
//! Compared segments get a leading `segment` column.

use crate::result::{
    CohortResult, EventsResult, FunnelResult, LifecycleResult, PathsResult, QueryResult,
    RetentionResult, SegmentationResult, SegmentsResult, StickinessResult,
};
use crate::rfm::RfmResult;

/// A header and its rows.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }
}

/// Renders a result as CSV (RFC 4180: comma-separated, fields quoted where needed, CRLF-free
/// `\n` line ends).
pub fn render_csv(result: &QueryResult) -> String {
    let table = table(result);
    let mut out = String::new();
    for line in std::iter::once(&table.header).chain(&table.rows) {
        let fields: Vec<String> = line.iter().map(|f| field(f)).collect();
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// One field, quoted when it holds a comma, a quote or a line break.
pub(crate) fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn table(result: &QueryResult) -> Table {
    match result {
        QueryResult::Funnel(r) => funnel(r),
        QueryResult::Events(r) => events(r),
        QueryResult::Segmentation(r) => segmentation(r),
        QueryResult::Retention(r) => retention(r),
        QueryResult::Lifecycle(r) => lifecycle(r),
        QueryResult::Stickiness(r) => stickiness(r),
        QueryResult::Paths(r) => paths(r),
        QueryResult::Cohort(r) => cohort(r),
        QueryResult::Rfm(r) => rfm(r),
        QueryResult::Segments(compared) => {
            let mut joined = labelled(
                "segment",
                compared
                    .segments
                    .iter()
                    .map(|segment| (segment.name.clone(), &segment.result)),
            );
            with_formulas_across_segments(&mut joined, compared);
            joined
        }
        QueryResult::Groups(grouped) => labelled(
            "group",
            std::iter::once(("(all)".to_owned(), grouped.overall.as_ref())).chain(
                grouped
                    .groups
                    .iter()
                    .map(|group| (group.label(), &group.result)),
            ),
        ),
    }
}

/// Appends a column per formula across segments: on every segment's row of a point, the
/// formula's value at that point (each segment's table has one row per point, in order).
fn with_formulas_across_segments(table: &mut Table, compared: &SegmentsResult) {
    let points = compared.points().len();
    if compared.formulas.is_empty() || points == 0 {
        return;
    }
    let columns = compared.formula_columns();
    table
        .header
        .extend(columns.iter().map(|(name, _)| name.clone()));
    for (i, row) in table.rows.iter_mut().enumerate() {
        row.extend(columns.iter().map(|(_, values)| {
            values
                .get(i % points)
                .copied()
                .flatten()
                .map_or_else(String::new, |v| v.to_string())
        }));
    }
}

/// The tables of several results one under the other, each row led by its result's label in
/// a first column named `name`.
fn labelled<'a>(name: &str, parts: impl Iterator<Item = (String, &'a QueryResult)>) -> Table {
    let mut joined: Option<Table> = None;
    for (label, result) in parts {
        let part = table(result);
        let all = joined.get_or_insert_with(|| {
            let mut header = vec![name.to_owned()];
            header.extend(part.header.iter().cloned());
            Table {
                header,
                rows: Vec::new(),
            }
        });
        for row in part.rows {
            let mut line = vec![label.clone()];
            line.extend(row);
            all.rows.push(line);
        }
    }
    joined.unwrap_or_else(|| Table::new(&[name]))
}

/// One row per step of the overall funnel, of each breakdown value, then (with conversion over
/// time, in a `point` column that is empty on the other rows) of each point, overall and per
/// breakdown value. With time to
/// convert, an `average_ms_from_previous` column holds each step's average time on the overall
/// rows (empty elsewhere and on step 1).
fn funnel(r: &FunnelResult) -> Table {
    let over_time = !r.over_time.is_empty();
    let times = r.time_to_convert.as_ref();
    // A second group-by property gets its own column after the first.
    let second = r.groups().len() > 1;
    let mut header = vec!["breakdown"];
    if second {
        header.push("breakdown_2");
    }
    header.extend([
        "step",
        "event_type",
        "persons",
        "conversion_from_first",
        "conversion_from_previous",
        "drop_off",
    ]);
    if over_time {
        header.push("point");
    }
    if times.is_some() {
        header.push("average_ms_from_previous");
    }
    let mut t = Table::new(&header);
    let all = || match second {
        true => vec!["(all)".to_owned(); 2],
        false => vec!["(all)".to_owned()],
    };
    let rows = std::iter::once((all(), None, &r.overall.steps))
        .chain(
            r.by_breakdown
                .iter()
                .map(|row| (r.row_labels(row), None, &row.steps)),
        )
        .chain(
            r.over_time
                .iter()
                .map(|point| (all(), Some(&point.start), &point.steps)),
        )
        .chain(r.by_breakdown.iter().flat_map(|row| {
            let labels = r.row_labels(row);
            row.over_time
                .iter()
                .map(move |point| (labels.clone(), Some(&point.start), &point.steps))
        }));
    for (row, (labels, point, steps)) in rows.enumerate() {
        for (k, (count, name)) in steps.iter().zip(&r.steps).enumerate() {
            let mut line = labels.clone();
            line.extend([
                (k + 1).to_string(),
                name.clone(),
                count.persons.to_string(),
                count.conversion_from_first.to_string(),
                count.conversion_from_previous.to_string(),
                count.drop_off.to_string(),
            ]);
            if over_time {
                line.push(point.cloned().unwrap_or_default());
            }
            if let Some(times) = times {
                let average = times
                    .steps
                    .iter()
                    .find(|s| s.step == k + 1)
                    .and_then(|s| s.average_ms)
                    .filter(|_| row == 0);
                line.push(average.map(|ms| ms.to_string()).unwrap_or_default());
            }
            t.rows.push(line);
        }
    }
    t
}

/// One row per point, a column per series (per bucket of a frequency series); undefined
/// values are empty fields, numbers are written in full.
fn segmentation(r: &SegmentationResult) -> Table {
    let columns = r.columns();
    let mut header = vec!["point".to_owned()];
    header.extend(columns.iter().map(|(name, _)| name.clone()));
    let rows = r
        .points
        .iter()
        .enumerate()
        .map(|(p, point)| {
            std::iter::once(point.clone())
                .chain(columns.iter().map(|(_, values)| {
                    values
                        .get(p)
                        .copied()
                        .flatten()
                        .map_or_else(String::new, |v| v.to_string())
                }))
                .collect()
        })
        .collect();
    Table { header, rows }
}

fn retention(r: &RetentionResult) -> Table {
    let mut header = vec!["cohort".to_owned(), "persons".to_owned()];
    header.extend(r.columns.iter().cloned());
    let mut rows: Vec<Vec<String>> = r
        .cohorts
        .iter()
        .map(|c| {
            // Incomplete cells stay empty: their count is not final.
            let cells = c.returned.iter().zip(&c.complete).map(|(n, complete)| {
                if *complete {
                    n.to_string()
                } else {
                    String::new()
                }
            });
            [c.period.clone(), c.persons.to_string()]
                .into_iter()
                .chain(cells)
                .collect()
        })
        .collect();
    let rates = r.overall.rate.iter().map(|rate| match rate {
        Some(rate) => rate.to_string(),
        None => String::new(),
    });
    rows.push(
        ["all (rate)".to_owned(), r.overall.persons.to_string()]
            .into_iter()
            .chain(rates)
            .collect(),
    );
    Table { header, rows }
}

fn lifecycle(r: &LifecycleResult) -> Table {
    let mut t = Table::new(&[
        "period",
        "new",
        "current",
        "resurrected",
        "dormant",
        "dormant_new",
        "dormant_current",
        "dormant_resurrected",
        "pulse",
    ]);
    for p in &r.points {
        let mut row = vec![p.period.clone()];
        row.extend(
            [
                p.new,
                p.current,
                p.resurrected,
                p.dormant,
                p.dormant_new,
                p.dormant_current,
                p.dormant_resurrected,
            ]
            .map(|n| n.to_string()),
        );
        row.push(p.pulse.map(|x| x.to_string()).unwrap_or_default());
        t.rows.push(row);
    }
    t
}

fn stickiness(r: &StickinessResult) -> Table {
    let days = r.periods.iter().map(|p| p.exactly.len()).max().unwrap_or(0);
    let mut header = vec!["period".to_owned(), "persons".to_owned()];
    header.extend((1..=days).map(|d| format!("exactly {d}")));
    header.extend((1..=days).map(|d| format!("at least {d}")));
    let count = |values: &[u64], d: usize| values.get(d).copied().unwrap_or(0).to_string();
    let rows = r
        .periods
        .iter()
        .map(|p| {
            let mut row = vec![p.period.clone(), p.persons.to_string()];
            row.extend((0..days).map(|d| count(&p.exactly, d)));
            row.extend((0..days).map(|d| count(&p.at_least, d)));
            row
        })
        .collect();
    Table { header, rows }
}

fn paths(r: &PathsResult) -> Table {
    let mut t = Table::new(&["persons", "share", "path"]);
    for path in &r.paths {
        let share = match r.persons {
            0 => 0.0,
            all => path.persons as f64 / all as f64,
        };
        t.rows.push(vec![
            path.persons.to_string(),
            share.to_string(),
            path.events.join(" → "),
        ]);
    }
    t
}

/// One row per segment.
fn rfm(r: &RfmResult) -> Table {
    let mut t = Table::new(&[
        "segment",
        "buyers",
        "share",
        "recency_days",
        "frequency",
        "monetary",
        "revenue",
    ]);
    let or_empty = |v: Option<f64>| v.map_or_else(String::new, |v| v.to_string());
    for row in &r.segments {
        t.rows.push(vec![
            row.segment.as_str().to_owned(),
            row.persons.to_string(),
            row.share.to_string(),
            or_empty(row.recency_days),
            or_empty(row.frequency),
            or_empty(row.monetary),
            row.revenue.to_string(),
        ]);
    }
    t
}

/// One row per listed member (the size is the number of members, listed or not).
fn cohort(r: &CohortResult) -> Table {
    let mut t = Table::new(&["person_id", "user_id", "device_id"]);
    for member in &r.members {
        t.rows.push(vec![
            member.person_id.to_string(),
            member.user_id.clone().unwrap_or_default(),
            member.device_id.clone().unwrap_or_default(),
        ]);
    }
    t
}

fn events(r: &EventsResult) -> Table {
    const KEYS: [&str; 6] = [
        "event_time",
        "event_type",
        "user_id",
        "device_id",
        "insert_id",
        "taxonomy_issues",
    ];
    let mut t = Table::new(&KEYS);
    for event in &r.events {
        t.rows.push(
            KEYS.iter()
                .map(|key| match &event[*key] {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                })
                .collect(),
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{SegmentResult, SegmentsResult, SeriesResult};
    use crate::spec::{Interval, Measure};

    #[test]
    fn fields_are_quoted_only_when_needed() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn segments_get_a_leading_column() {
        let one = |values: Vec<Option<f64>>| {
            QueryResult::Segmentation(SegmentationResult {
                interval: Interval::Day,
                view: None,
                points: vec!["2025-01-01".into(), "2025-01-02".into()],
                series: vec![SeriesResult {
                    event_type: "View, list".into(),
                    measure: Measure::Totals,
                    property: None,
                    values,
                    frequency: Vec::new(),
                }],
                formulas: Vec::new(),
            })
        };
        let result = QueryResult::Segments(SegmentsResult {
            segments: vec![
                SegmentResult {
                    name: "iOS".into(),
                    result: one(vec![Some(1.0), Some(2.0)]),
                },
                SegmentResult {
                    name: "web".into(),
                    result: one(vec![Some(3.0), Some(0.0)]),
                },
            ],
            formulas: Vec::new(),
        });
        assert_eq!(
            render_csv(&result),
            "segment,point,\"View, list (totals)\"\n\
             iOS,2025-01-01,1\niOS,2025-01-02,2\nweb,2025-01-01,3\nweb,2025-01-02,0\n"
        );
    }

    #[test]
    fn a_view_is_named_in_the_quoted_header() {
        let mut result = crate::result::tests::measures_result();
        result.series.truncate(1);
        result.view = Some(crate::spec::View::Cumulative);
        assert_eq!(
            render_csv(&QueryResult::Segmentation(result)),
            "point,\"Buy (property_average price, cumulative)\"\n\
             2025-01-01,11.666666666666666\n\
             2025-01-02,\n"
        );
    }

    #[test]
    fn measures_get_full_numbers_empty_nulls_and_a_column_per_bucket() {
        let result = QueryResult::Segmentation(crate::result::tests::measures_result());
        assert_eq!(
            render_csv(&result),
            "point,Buy (property_average price),Buy (frequency 1),Buy (frequency 2-3),\
             Buy (frequency 4+)\n\
             2025-01-01,11.666666666666666,1,2,0\n\
             2025-01-02,,0,0,3\n"
        );
    }
}
