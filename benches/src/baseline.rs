//! The shared baseline dataset (`shared/baselines/gen_events.py`) as Sluice sees it: the
//! project and tracking plan it is imported under, and the baseline queries as Sluice query
//! specs with their results in the baseline SQL's row shape (so results can be hashed and
//! compared with chDB's and DuckDB's).

use serde_json::{Value, json};

/// The project the baseline events are stored under.
pub const PROJECT: &str = "bench";

/// The tracking plan of the baseline data: `category` is a planned string property.
pub const PLAN: &str = r#"
[project]
name = "bench"
time_zone = "UTC"

[event_properties.category]
type = "string"
description = "Product category of the event."
"#;

/// The baseline queries Sluice answers (names as in `shared/baselines/queries`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Query {
    /// 4-step funnel, 7-day window, category held constant and broken down.
    Funnel,
    /// Exact daily active users (any event), 90 days, UTC.
    Dau,
    /// 7-day N-day retention: cohort = the day of the first event, return = any event.
    Retention,
}

impl Query {
    pub fn name(self) -> &'static str {
        match self {
            Query::Funnel => "funnel",
            Query::Dau => "dau",
            Query::Retention => "retention",
        }
    }

    /// The Sluice query spec answering the same question as the baseline SQL.
    pub fn spec(self) -> Value {
        let category = json!({"kind": "event", "property": "category"});
        match self {
            Query::Funnel => json!({
                "version": 1,
                "analysis": "funnel",
                "project": PROJECT,
                "date_range": {"from": "2025-01-01", "to": "2025-03-31"},
                "time_zone": "UTC",
                "steps": [
                    {"event_type": "view_item"},
                    {"event_type": "add_to_cart"},
                    {"event_type": "checkout_started"},
                    {"event_type": "purchase"},
                ],
                "conversion_window": {"value": 7, "unit": "day"},
                "hold_constant": [category],
                "breakdown": category,
            }),
            Query::Dau => json!({
                "version": 1,
                "analysis": "segmentation",
                "project": PROJECT,
                "date_range": {"from": "2025-01-01", "to": "2025-03-31"},
                "time_zone": "UTC",
                "interval": "day",
                "events": [{"event_type": "_all", "measure": "uniques"}],
            }),
            Query::Retention => json!({
                "version": 1,
                "analysis": "retention",
                "project": PROJECT,
                "date_range": {"from": "2025-01-01", "to": "2025-03-31"},
                "time_zone": "UTC",
                "start_event": {"event_type": "_new"},
                "return_event": {"event_type": "_all"},
                "boundaries": "calendar",
                "periods": 7,
            }),
        }
    }

    /// The result as the baseline SQL's rows.
    pub fn rows(self, result: &Value) -> Result<Vec<Value>, String> {
        match self {
            Query::Funnel => funnel_rows(result),
            Query::Dau => dau_rows(result),
            Query::Retention => retention_rows(result),
        }
    }
}

/// Funnel rows as `windowFunnel` gives them: `(category, level, users)` for every level some
/// users stopped at, users counted at the level they reached (not cumulatively).
fn funnel_rows(result: &Value) -> Result<Vec<Value>, String> {
    let groups = result["by_breakdown"]
        .as_array()
        .ok_or("funnel result without by_breakdown")?;
    let mut rows = Vec::new();
    for group in groups {
        let value = group["value"].clone();
        let reached: Vec<u64> = group["steps"]
            .as_array()
            .ok_or("breakdown row without steps")?
            .iter()
            .map(|s| s["persons"].as_u64().unwrap_or(0))
            .collect();
        for (level, count) in reached.iter().enumerate() {
            let next = reached.get(level + 1).copied().unwrap_or(0);
            if count > &next {
                rows.push(json!([value, level + 1, count - next]));
            }
        }
    }
    rows.sort_by(|a, b| {
        let key = |r: &Value| (r[0].as_str().unwrap_or("").to_owned(), r[1].as_u64());
        key(a).cmp(&key(b))
    });
    Ok(rows)
}

/// DAU rows as the baseline SQL gives them: `(day, users)` for every day with users, in order.
fn dau_rows(result: &Value) -> Result<Vec<Value>, String> {
    let points = result["points"]
        .as_array()
        .ok_or("segmentation without points")?;
    let values = result["series"][0]["values"]
        .as_array()
        .ok_or("segmentation without values")?;
    Ok(points
        .iter()
        .zip(values)
        .filter(|(_, users)| users.as_u64().unwrap_or(0) > 0)
        .map(|(day, users)| json!([day, users]))
        .collect())
}

/// Retention rows as the baseline SQL gives them: `(day0, cohort, d1, …, d7)` per cohort with
/// persons, `day0` in days since 1970-01-01.
fn retention_rows(result: &Value) -> Result<Vec<Value>, String> {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).ok_or("epoch")?;
    let cohorts = result["cohorts"]
        .as_array()
        .ok_or("retention without cohorts")?;
    let mut rows = Vec::new();
    for cohort in cohorts {
        let persons = cohort["persons"].as_u64().unwrap_or(0);
        if persons == 0 {
            continue;
        }
        let day = cohort["period"].as_str().unwrap_or_default();
        let day = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .map_err(|e| format!("cohort period {day:?}: {e}"))?;
        let mut row = vec![json!((day - epoch).num_days()), json!(persons)];
        let returned = cohort["returned"]
            .as_array()
            .ok_or("cohort without returned")?;
        row.extend(returned.iter().skip(1).cloned());
        rows.push(Value::Array(row));
    }
    Ok(rows)
}
