//! Parsing and validation of query specs.

use super::*;
use crate::error::SpecError;

const EXAMPLE: &str = r#"{"version": 1, "analysis": "funnel", "project": "marketplace",
 "date_range": {"from": "2025-01-01", "to": "2025-01-31"},
 "time_zone": "Asia/Seoul",
 "steps": [{"event_type": "Category Viewed"}, {"event_type": "Service Viewed"}, {"event_type": "Purchase Completed"}],
 "conversion_window": {"value": 7, "unit": "day"},
 "breakdown": {"kind": "event", "property": "category"}}"#;

fn funnel(text: &str) -> FunnelSpec {
    match QuerySpec::from_json(text) {
        Ok(QuerySpec::Funnel(f)) => f,
        Ok(other) => panic!("not a funnel: {other:?}"),
        Err(e) => panic!("{e}"),
    }
}

fn with(edit: impl FnOnce(&mut FunnelSpec)) -> Result<FunnelQuery, SpecError> {
    let mut spec = funnel(EXAMPLE);
    edit(&mut spec);
    spec.validate()
}

#[test]
fn example_validates_with_bounds_in_the_time_zone() {
    let query = funnel(EXAMPLE).validate().expect("valid");
    // 2025-01-01T00:00+09:00 and 2025-01-31T23:59:59.999+09:00.
    assert_eq!(query.entry_from_ms, 1_735_657_200_000);
    assert_eq!(query.entry_to_ms, 1_738_335_600_000 - 1);
    assert_eq!(query.window_ms, 7 * 86_400_000);
    assert_eq!(query.steps.len(), 3);
    assert_eq!(query.project.as_deref(), Some("marketplace"));
    assert_eq!(
        query.group_by,
        [validate::GroupProperty {
            property: PropertyRef::Event("category".into()),
            step: 0
        }]
    );
    // A breakdown lists every value unless `group_limit` says otherwise; group_by lists 10.
    assert_eq!(query.group_limit, usize::MAX);
    let grouped = with(|s| {
        s.group_by = vec![s.breakdown.take().expect("example has one").into()];
    });
    assert_eq!(grouped.map(|q| q.group_limit), Ok(10));
    assert_eq!(
        with(|s| s.group_limit = Some(3)).map(|q| q.group_limit),
        Ok(3)
    );
}

#[test]
fn defaults_are_utc_and_one_day() {
    let spec = funnel(
        r#"{"version":1,"analysis":"funnel","date_range":{"from":"2025-03-01","to":"2025-03-01"},
            "steps":[{"event_type":"A"},{"event_type":"A"}]}"#,
    );
    let query = spec.validate().expect("valid");
    assert_eq!(query.entry_from_ms, 1_740_787_200_000);
    assert_eq!(query.entry_to_ms - query.entry_from_ms, 86_400_000 - 1);
    assert_eq!(query.window_ms, 86_400_000);
    assert_eq!((query.project, query.group_by), (None, Vec::new()));
}

#[test]
fn round_trips_through_json() {
    let spec = QuerySpec::from_json(EXAMPLE).expect("parses");
    let text = serde_json::to_string(&spec).expect("serialises");
    assert_eq!(QuerySpec::from_json(&text).expect("parses again"), spec);
}

#[test]
fn unknown_fields_and_analyses_are_rejected() {
    let typo = EXAMPLE.replace("\"time_zone\"", "\"timezone\"");
    let err = QuerySpec::from_json(&typo).expect_err("typo");
    assert!(err.is_user_error());
    assert!(err.to_string().contains("timezone"), "{err}");
    let other = EXAMPLE.replace("\"funnel\"", "\"paths\"");
    assert!(QuerySpec::from_json(&other).is_err());
    let step_typo = EXAMPLE.replace("\"event_type\": \"Service Viewed\"", "\"event\": \"x\"");
    assert!(QuerySpec::from_json(&step_typo).is_err());
}

#[test]
fn bad_values_give_typed_errors() {
    assert_eq!(
        with(|s| s.version = 2),
        Err(SpecError::UnsupportedVersion {
            found: 2,
            supported: 1
        })
    );
    assert!(matches!(
        with(|s| s.date_range.from = Some("2025-1-01".into())),
        Err(SpecError::InvalidDate { field: "from", .. })
    ));
    assert!(matches!(
        with(|s| s.date_range.to = Some("2025-02-30".into())),
        Err(SpecError::InvalidDate { field: "to", .. })
    ));
    assert!(matches!(
        with(|s| s.date_range.from = Some("2025-02-01".into())),
        Err(SpecError::ReversedDateRange { .. })
    ));
    assert!(matches!(
        with(|s| s.date_range.from = Some("2000-01-01".into())),
        Err(SpecError::DateRangeTooLong { .. })
    ));
    assert!(matches!(
        with(|s| s.time_zone = "Mars/Olympus".into()),
        Err(SpecError::UnknownTimeZone(_))
    ));
    assert_eq!(
        with(|s| s.project = Some(String::new())),
        Err(SpecError::EmptyProject)
    );
    assert!(matches!(
        with(|s| s.steps.truncate(1)),
        Err(SpecError::StepCount { found: 1, .. })
    ));
    let many = vec![
        FunnelStep {
            event_type: "A".into(),
            conditions: Vec::new(),
        };
        33
    ];
    assert!(matches!(
        with(|s| s.steps = many),
        Err(SpecError::StepCount { found: 33, .. })
    ));
    assert_eq!(
        with(|s| s.steps[1].event_type = String::new()),
        Err(SpecError::EmptyEventType { index: 1 })
    );
    assert!(matches!(
        with(|s| s.conversion_window.value = 0),
        Err(SpecError::WindowOutOfRange { .. })
    ));
    assert!(matches!(
        with(|s| s.conversion_window.value = 367),
        Err(SpecError::WindowOutOfRange { .. })
    ));
    assert!(matches!(
        with(|s| s.conversion_window = ConversionWindow {
            value: u64::MAX,
            unit: WindowUnit::Hour
        }),
        Err(SpecError::WindowOutOfRange { .. })
    ));
    assert!(with(|s| s.conversion_window.value = 366).is_ok());
    assert_eq!(
        with(|s| s.breakdown = Some(Breakdown {
            kind: BreakdownKind::Field,
            property: "nope".into()
        })),
        Err(SpecError::UnknownField("nope".into()))
    );
    assert!(
        with(|s| s.breakdown = Some(Breakdown {
            kind: BreakdownKind::Field,
            property: "platform".into()
        }))
        .is_ok()
    );
    assert_eq!(
        with(|s| s.breakdown = Some(Breakdown {
            kind: BreakdownKind::User,
            property: String::new()
        })),
        Err(SpecError::EmptyBreakdownProperty)
    );
}

#[test]
fn dst_gap_at_midnight_starts_the_day_at_the_first_real_instant() {
    // America/Santiago moved clocks from 00:00 to 01:00 on 2023-09-03.
    let tz: chrono_tz::Tz = "America/Santiago".parse().expect("zone");
    let date = chrono::NaiveDate::from_ymd_opt(2023, 9, 3).expect("date");
    // 01:00 at UTC-3 = 04:00 UTC.
    assert_eq!(validate::start_of_day(date, tz), 1_693_713_600_000);
}

#[test]
fn last_days_ends_with_today_and_excludes_fixed_dates() {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 10).expect("date");
    let day = |d| chrono::NaiveDate::from_ymd_opt(2026, 3, d).expect("date");
    assert_eq!(DateRange::last_days(1).days(today), Ok((today, today)));
    assert_eq!(DateRange::last_days(7).days(today), Ok((day(4), today)));
    assert_eq!(DateRange::last_days(0).days(today), Err(SpecError::NoDays));
    assert!(matches!(
        DateRange::last_days(4_000).days(today),
        Err(SpecError::DateRangeTooLong { days: 4_000, .. })
    ));
    let mixed = DateRange {
        last_days: Some(7),
        ..DateRange::between("2026-03-01", "2026-03-02")
    };
    assert_eq!(mixed.days(today), Err(SpecError::AmbiguousDateRange));
    let half = DateRange {
        to: None,
        ..DateRange::between("2026-03-01", "2026-03-02")
    };
    assert_eq!(half.days(today), Err(SpecError::AmbiguousDateRange));
    assert_eq!(
        DateRange::between("2026-03-01", "2026-03-02").days(today),
        Ok((day(1), day(2)))
    );
}

#[test]
fn last_days_parses_from_json_and_counts_today_in_the_time_zone() {
    let spec = funnel(&EXAMPLE.replace(
        r#"{"from": "2025-01-01", "to": "2025-01-31"}"#,
        r#"{"last_days": 30}"#,
    ));
    assert_eq!(spec.date_range, DateRange::last_days(30));
    let query = spec.validate().expect("valid");
    let seoul: chrono_tz::Tz = "Asia/Seoul".parse().expect("tz");
    let now = chrono::Utc::now().with_timezone(&seoul);
    // Today in Seoul is inside the range, and the range is 30 Seoul days long.
    assert!(
        query.entry_from_ms <= now.timestamp_millis()
            && now.timestamp_millis() <= query.entry_to_ms
    );
    assert_eq!(query.entry_to_ms + 1 - query.entry_from_ms, 30 * 86_400_000);
}

fn events(text: &str) -> Result<super::EventsQuery, SpecError> {
    match QuerySpec::from_json(text) {
        Ok(QuerySpec::Events(spec)) => spec.validate(),
        Ok(other) => panic!("not an events spec: {other:?}"),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn events_spec_defaults_and_bounds() {
    let query = events(r#"{"version": 1, "analysis": "events", "user_id": "u1"}"#).unwrap();
    assert_eq!(query.limit, 100);
    assert_eq!(query.dataset, super::Dataset::Events);
    assert_eq!(query.span_ms, None);
    let dated = events(
        r#"{"version": 1, "analysis": "events", "time_zone": "Asia/Seoul",
            "date_range": {"from": "2026-01-01", "to": "2026-01-01"}}"#,
    )
    .unwrap();
    // Seoul is UTC+9: the day starts at 15:00 UTC the day before.
    assert_eq!(
        dated.span_ms,
        Some((1_767_193_200_000, 1_767_193_200_000 + 86_400_000 - 1))
    );
    assert!(matches!(
        events(r#"{"version": 1, "analysis": "events", "limit": 10001}"#),
        Err(SpecError::LimitTooLarge { found: 10_001, .. })
    ));
    assert!(matches!(
        events(r#"{"version": 1, "analysis": "events", "device_id": ""}"#),
        Err(SpecError::EmptyFilter { field: "device_id" })
    ));
    assert!(matches!(
        events(r#"{"version": 2, "analysis": "events"}"#),
        Err(SpecError::UnsupportedVersion { found: 2, .. })
    ));
}

/// The validation error of a spec given as JSON (which must parse).
fn spec_error(value: serde_json::Value) -> SpecError {
    let spec: QuerySpec = serde_json::from_value(value).expect("parses");
    let outcome = match &spec {
        QuerySpec::Segmentation(s) => s.validate().map(|_| ()),
        QuerySpec::Retention(s) => s.validate().map(|_| ()),
        QuerySpec::Lifecycle(s) => s.validate().map(|_| ()),
        QuerySpec::Stickiness(s) => s.validate().map(|_| ()),
        QuerySpec::Paths(s) => s.validate().map(|_| ()),
        other => panic!("not covered here: {other:?}"),
    };
    outcome.expect_err("invalid")
}

#[test]
fn analyses_reject_bad_values_by_field() {
    use serde_json::json;
    let range = json!({"from": "2025-01-01", "to": "2025-01-31"});
    let base = |analysis: &str| json!({"version": 1, "analysis": analysis, "date_range": range});
    let with = |analysis: &str, extra: serde_json::Value| {
        let mut spec = base(analysis);
        for (k, v) in extra.as_object().expect("object") {
            spec[k] = v.clone();
        }
        spec_error(spec)
    };
    assert_eq!(
        with("segmentation", json!({"events": []})),
        SpecError::SeriesCount { found: 0, max: 10 }
    );
    assert_eq!(
        with("segmentation", json!({"events": [{"event_type": ""}]})),
        SpecError::EmptySeriesEvent { index: 0 }
    );
    assert!(matches!(
        with(
            "segmentation",
            json!({"events": [{"event_type": "_all"}], "interval": "hour",
            "date_range": {"from": "2025-01-01", "to": "2025-03-31"}})
        ),
        SpecError::TooManyPoints { .. }
    ));
    let retention = |extra: serde_json::Value| {
        let mut all = json!({"start_event": {"event_type": "A"}, "return_event": {"event_type": "B"},
            "boundaries": "calendar", "periods": 7});
        for (k, v) in extra.as_object().expect("object") {
            all[k] = v.clone();
        }
        with("retention", all)
    };
    assert_eq!(
        retention(json!({"return_event": {"event_type": "_new"}})),
        SpecError::NewUserNotAllowed {
            field: "return_event"
        }
    );
    assert_eq!(
        retention(json!({"start_event": {"event_type": ""}})),
        SpecError::EmptyEvent {
            field: "start_event"
        }
    );
    assert!(matches!(
        retention(json!({"method": {"brackets": [[3, 3]]}})),
        SpecError::InvalidBracket { index: 0, .. }
    ));
    assert!(matches!(
        retention(json!({"method": {"brackets": [[1, 9]]}})),
        SpecError::InvalidBracket { .. }
    ));
    assert!(matches!(
        retention(json!({"periods": 400})),
        SpecError::TooManyPeriods { .. }
    ));
    assert_eq!(
        retention(json!({"return_events": [{"event_type": "C"}]})),
        SpecError::AmbiguousReturnEvent
    );
    let returns = |events: serde_json::Value| {
        let spec = json!({"version": 1, "analysis": "retention", "date_range": range,
            "start_event": {"event_type": "A"}, "return_events": events, "periods": 7});
        spec_error(spec)
    };
    assert_eq!(
        returns(json!([])),
        SpecError::ReturnEventCount { found: 0, max: 2 }
    );
    let three = json!([{"event_type": "B"}, {"event_type": "C"}, {"event_type": "D"}]);
    assert_eq!(
        returns(three),
        SpecError::ReturnEventCount { found: 3, max: 2 }
    );
    assert_eq!(
        returns(json!([{"event_type": "B"}, {"event_type": "_new"}])),
        SpecError::NewUserNotAllowed {
            field: "return_events[1]"
        }
    );
    assert_eq!(
        with("lifecycle", json!({"event": {"event_type": "_new"}})),
        SpecError::NewUserNotAllowed { field: "event" }
    );
    assert_eq!(
        with("stickiness", json!({"event": {"event_type": ""}})),
        SpecError::EmptyEvent { field: "event" }
    );
    assert_eq!(
        with("paths", json!({"anchor": {"event_type": "_all"}})),
        SpecError::PathAnchor
    );
    assert_eq!(
        with("paths", json!({"anchor": {"event_type": "A"}, "depth": 11})),
        SpecError::PathDepth { found: 11, max: 10 }
    );
    assert_eq!(
        with("paths", json!({"anchor": {"event_type": "A"}, "limit": 0})),
        SpecError::PathLimit {
            found: 0,
            max: 1000
        }
    );
}

#[test]
fn retention_boundaries_default_to_rolling_windows() {
    let spec = |boundaries: &str| {
        format!(
            r#"{{"version": 1, "analysis": "retention",
            "date_range": {{"from": "2025-01-01", "to": "2025-01-31"}},
            "start_event": {{"event_type": "_new"}}, "return_event": {{"event_type": "_all"}},
            {boundaries} "periods": 7}}"#
        )
    };
    let boundaries = |text: &str| match QuerySpec::from_json(text) {
        Ok(QuerySpec::Retention(r)) => Ok(r.boundaries),
        Ok(other) => panic!("not a retention spec: {other:?}"),
        Err(e) => Err(e.to_string()),
    };
    assert_eq!(boundaries(&spec("")), Ok(RetentionBoundaries::Rolling));
    assert_eq!(
        boundaries(&spec(r#""boundaries": "calendar","#)),
        Ok(RetentionBoundaries::Calendar)
    );
    let error = boundaries(&spec(r#""boundaries": "hourly","#)).expect_err("unknown value");
    assert!(
        error.contains("boundaries") || error.contains("hourly"),
        "{error}"
    );
}

#[test]
fn rolling_windows_follow_the_interval_and_the_local_hour() {
    use serde_json::json;
    let query = |interval: &str, zone: &str| {
        let text = json!({"version": 1, "analysis": "retention",
            "date_range": {"from": "2025-01-01", "to": "2025-01-02"}, "time_zone": zone,
            "interval": interval, "start_event": {"event_type": "A"},
            "return_event": {"event_type": "B"}, "periods": 3})
        .to_string();
        let Ok(QuerySpec::Retention(spec)) = QuerySpec::from_json(&text) else {
            panic!("a retention spec");
        };
        let query = spec.validate().expect("valid");
        match query.return_periods {
            ReturnPeriods::Rolling(windows) => (query.cohort_end_ms, windows),
            ReturnPeriods::Calendar => panic!("rolling is the default"),
        }
    };
    const HOUR: i64 = 3_600_000;
    // 2025-01-03T00:00Z: the range's end; returns are read for 4 windows after it.
    let end = 1_735_862_400_000;
    for (interval, hours) in [("day", 24), ("week", 168), ("month", 720)] {
        let (cohort_end, windows) = query(interval, "UTC");
        assert_eq!(cohort_end, end);
        assert_eq!(windows.window_hours, hours);
        assert_eq!(windows.hour_phase_ms, 0);
        assert_eq!(windows.horizon_ms, end + 4 * hours * HOUR);
    }
    // India is 5:30 ahead: local hours begin at :30 UTC.
    let (cohort_end, windows) = query("day", "Asia/Kolkata");
    assert_eq!(cohort_end, end - 5 * HOUR - HOUR / 2);
    assert_eq!(windows.hour_phase_ms, HOUR / 2);
    assert_eq!(
        windows.hour_of(cohort_end),
        windows.hour_of(cohort_end + HOUR - 1)
    );
    assert_ne!(windows.hour_of(cohort_end), windows.hour_of(cohort_end - 1));
}

fn group(kind: BreakdownKind, property: &str, step: Option<usize>) -> GroupBy {
    GroupBy {
        kind,
        property: property.into(),
        step,
    }
}

/// The example without its breakdown, grouped by `group_by`.
fn grouped(group_by: Vec<GroupBy>) -> Result<FunnelQuery, SpecError> {
    with(|s| {
        s.breakdown = None;
        s.group_by = group_by;
    })
}

#[test]
fn group_by_takes_two_properties_and_one_later_step() {
    let query = grouped(vec![
        group(BreakdownKind::User, "plan", None),
        group(BreakdownKind::Event, "category", Some(3)),
    ])
    .expect("valid");
    assert_eq!(
        query.group_by,
        [
            validate::GroupProperty {
                property: PropertyRef::User("plan".into()),
                step: 0
            },
            validate::GroupProperty {
                property: PropertyRef::Event("category".into()),
                step: 2
            }
        ]
    );
    let parsed = funnel(
        r#"{"version":1,"analysis":"funnel","date_range":{"from":"2025-03-01","to":"2025-03-01"},
            "steps":[{"event_type":"A"},{"event_type":"B"}],
            "group_by":[{"kind":"event","property":"category","step":2}],"group_limit":3}"#,
    );
    assert_eq!(parsed.validate().expect("valid").group_limit, 3);
}

#[test]
fn bad_group_by_is_refused_naming_the_field() {
    let both = with(|s| s.group_by = vec![group(BreakdownKind::User, "plan", None)]);
    assert_eq!(both, Err(SpecError::BreakdownAndGroupBy));
    let three = grouped(vec![group(BreakdownKind::User, "plan", None); 3]);
    assert_eq!(three, Err(SpecError::TooManyGroupBy { found: 3, max: 2 }));
    let two_later = grouped(vec![
        group(BreakdownKind::Event, "category", Some(2)),
        group(BreakdownKind::Event, "price", Some(3)),
    ]);
    assert_eq!(two_later, Err(SpecError::TwoLaterGroupBySteps));
    let user_step = grouped(vec![group(BreakdownKind::User, "plan", Some(1))]);
    assert_eq!(user_step, Err(SpecError::GroupByStepKind { index: 0 }));
    let step = grouped(vec![
        group(BreakdownKind::User, "plan", None),
        group(BreakdownKind::Event, "category", Some(4)),
    ]);
    assert_eq!(
        step,
        Err(SpecError::GroupByStep {
            index: 1,
            step: 4,
            steps: 3
        })
    );
    let zero = grouped(vec![group(BreakdownKind::Event, "category", Some(0))]);
    assert!(matches!(zero, Err(SpecError::GroupByStep { step: 0, .. })));
    let field = grouped(vec![group(BreakdownKind::Field, "nope", None)]);
    assert_eq!(
        field,
        Err(SpecError::UnknownGroupByField {
            index: 0,
            name: "nope".into()
        })
    );
    let empty = grouped(vec![group(BreakdownKind::Event, "", None)]);
    assert_eq!(empty, Err(SpecError::EmptyGroupByProperty { index: 0 }));
    for limit in [0, 1_001] {
        assert_eq!(
            with(|s| s.group_limit = Some(limit)),
            Err(SpecError::GroupLimit {
                found: limit,
                max: 1_000
            })
        );
    }
    assert!(with(|s| s.group_limit = Some(1_000)).is_ok());
    let message = SpecError::GroupByStep {
        index: 1,
        step: 4,
        steps: 3,
    }
    .to_string();
    assert!(message.starts_with("group_by[1].step:"), "{message}");
}

#[test]
fn a_later_group_step_is_refused_where_no_single_path_is_counted() {
    let later = vec![group(BreakdownKind::Event, "category", Some(2))];
    let refused = |edit: &dyn Fn(&mut FunnelSpec)| {
        let result = with(|s| {
            s.breakdown = None;
            s.group_by = later.clone();
            edit(s);
        });
        matches!(
            result,
            Err(SpecError::IncompatibleFunnelOptions {
                first: "group_by step other than 1",
                ..
            })
        )
    };
    assert!(refused(&|s| s.order = FunnelOrder::Any));
    assert!(refused(&|s| s.order = FunnelOrder::Exact));
    assert!(refused(&|s| s.strict = vec![StrictMode::StrictIncrease]));
    assert!(refused(&|s| {
        s.exclusions = vec![FunnelExclusion {
            event_type: "Refund".into(),
            conditions: Vec::new(),
            between: None,
        }]
    }));
    assert!(!refused(&|s| {
        s.hold_constant = vec![Breakdown {
            kind: BreakdownKind::Event,
            property: "category".into(),
        }]
    }));
    // On step 1 every mode works: the entry is always known.
    let on_entry = with(|s| {
        s.breakdown = None;
        s.group_by = vec![group(BreakdownKind::Event, "category", Some(1))];
        s.order = FunnelOrder::Any;
    });
    assert!(on_entry.is_ok());
}
