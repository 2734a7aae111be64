//! Plain-text rendering of results for the command line: aligned columns, one block per row.

use std::fmt::Write as _;

use crate::result::{FunnelResult, FunnelRow, QueryResult};
use crate::spec::BreakdownKind;

/// Renders a result as an aligned text table, ending with a newline.
pub fn render_table(result: &QueryResult) -> String {
    match result {
        QueryResult::Funnel(funnel) => render_funnel(funnel),
    }
}

fn render_funnel(funnel: &FunnelResult) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Funnel: {}", funnel.steps.join(" → "));
    render_row(&mut out, "Overall", funnel, &funnel.overall);
    if let Some(breakdown) = &funnel.breakdown {
        let kind = match breakdown.kind {
            BreakdownKind::Event => "event property",
            BreakdownKind::User => "user property",
            BreakdownKind::Field => "field",
        };
        for row in &funnel.by_breakdown {
            let value = row.value.as_deref().unwrap_or("(none)");
            let title = format!("{kind} {} = {value}", breakdown.property);
            render_row(&mut out, &title, funnel, row);
        }
    }
    out
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
fn write_line(out: &mut String, cells: &[String; 5], widths: &[usize; 5]) {
    let mut line = String::new();
    for (i, (cell, &width)) in cells.iter().zip(widths).enumerate() {
        let pad = " ".repeat(width - cell.chars().count());
        match i {
            0 => line.push_str(&format!("{cell}{pad}")),
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
    use crate::spec::Breakdown;

    #[test]
    fn aligns_columns_and_names_breakdown_values() {
        let result = FunnelResult::from_levels(
            vec!["Viewed".into(), "Purchase Completed".into()],
            Some(Breakdown {
                kind: BreakdownKind::Event,
                property: "category".into(),
            }),
            [(Some("books".to_owned()), 2, 3), (None, 1, 1000)],
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
}
