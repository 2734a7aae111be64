//! Reading a query spec from JSON so that every shape error names its field.
//!
//! Serde's derived reader for an internally tagged enum buffers the whole object before it
//! picks the variant, and so loses the place of an error: a bad frequency bucket reads
//! `invalid type: string "two", expected u64`, with no field. Here the `analysis` tag is read
//! first and the rest is handed to the variant's own reader, tracked by `serde_path_to_error`,
//! so the same error reads `events[0].frequency_buckets[1]: invalid type: …`.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::QuerySpec;
use crate::error::SpecError;

/// The values of `analysis`, in the order the enum lists them.
const ANALYSES: [&str; 9] = [
    "funnel",
    "events",
    "segmentation",
    "retention",
    "lifecycle",
    "stickiness",
    "paths",
    "cohort",
    "rfm",
];

/// Reads a spec from a JSON value (the whole object, `analysis` included).
pub(super) fn spec_from_value(mut value: Value) -> Result<QuerySpec, SpecError> {
    let Some(object) = value.as_object_mut() else {
        return Err(SpecError::Json(format!(
            "a query spec is a JSON object, not {}",
            kind_of(&value)
        )));
    };
    let analysis = match object.remove("analysis") {
        Some(Value::String(analysis)) => analysis,
        Some(other) => {
            return Err(SpecError::Json(format!(
                "analysis: expected one of {}, found {}",
                names(),
                kind_of(&other)
            )));
        }
        None => {
            return Err(SpecError::Json(format!(
                "analysis: missing; one of {}",
                names()
            )));
        }
    };
    Ok(match analysis.as_str() {
        "funnel" => QuerySpec::Funnel(read(value)?),
        "events" => QuerySpec::Events(read(value)?),
        "segmentation" => QuerySpec::Segmentation(read(value)?),
        "retention" => QuerySpec::Retention(read(value)?),
        "lifecycle" => QuerySpec::Lifecycle(read(value)?),
        "stickiness" => QuerySpec::Stickiness(read(value)?),
        "paths" => QuerySpec::Paths(read(value)?),
        "cohort" => QuerySpec::Cohort(read(value)?),
        "rfm" => QuerySpec::Rfm(read(value)?),
        other => {
            return Err(SpecError::Json(format!(
                "analysis: unknown analysis {other:?}, expected one of {}",
                names()
            )));
        }
    })
}

/// Reads `T` from `value`, an error led by the path of the field it concerns.
fn read<T: DeserializeOwned>(value: Value) -> Result<T, SpecError> {
    serde_path_to_error::deserialize(value).map_err(|e| SpecError::Json(with_path(e)))
}

/// `path: serde's reason`, or the reason alone when it concerns the whole object.
fn with_path(error: serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = error.path().to_string();
    let reason = error.into_inner();
    if path == "." {
        reason.to_string()
    } else {
        format!("{path}: {reason}")
    }
}

fn names() -> String {
    ANALYSES.join(", ")
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn error_of(value: Value) -> String {
        match spec_from_value(value) {
            Err(SpecError::Json(message)) => message,
            other => panic!("expected a shape error, got {other:?}"),
        }
    }

    fn segmentation(events: Value) -> Value {
        json!({"analysis": "segmentation", "version": 1,
               "date_range": {"from": "2026-11-01", "to": "2026-11-10"}, "events": events})
    }

    #[test]
    fn a_wrong_type_names_its_field() {
        let spec = segmentation(json!([{"event_type": "Purchase Completed",
            "measure": "frequency", "frequency_buckets": [1, "two", 3]}]));
        let message = error_of(spec);
        assert!(
            message.starts_with("events[0].frequency_buckets[1]: invalid type: string \"two\""),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_filter_operator_names_its_step_and_filter() {
        let spec = json!({"analysis": "funnel", "version": 1,
            "date_range": {"from": "2026-11-01", "to": "2026-11-10"},
            "steps": [{"event_type": "A", "where": [{"property": "x", "op": "equalz", "values": ["a"]}]},
                      {"event_type": "B"}]});
        let message = error_of(spec);
        assert!(
            message.starts_with("steps[0].where[0].op: unknown variant `equalz`"),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_field_is_led_by_its_own_name() {
        let mut spec = segmentation(json!([{"event_type": "A"}]));
        spec["series"] = json!([]);
        let message = error_of(spec);
        assert!(
            message.starts_with("series: unknown field `series`, expected one of"),
            "{message}"
        );
    }

    #[test]
    fn the_analysis_tag_is_explained_when_missing_wrong_or_unknown() {
        assert_eq!(
            error_of(json!({"version": 1})),
            "analysis: missing; one of funnel, events, segmentation, retention, lifecycle, \
             stickiness, paths, cohort, rfm"
        );
        assert!(error_of(json!({"analysis": 3})).contains("found a number"));
        assert!(error_of(json!({"analysis": "funel"})).contains("unknown analysis \"funel\""));
        assert!(error_of(json!([1])).contains("not an array"));
    }

    #[test]
    fn every_listed_analysis_is_one_the_enum_reads_and_writes() {
        for name in ANALYSES {
            let message = error_of(json!({"analysis": name}));
            assert!(!message.contains("unknown analysis"), "{name}: {message}");
        }
        let spec = spec_from_value(segmentation(json!([{"event_type": "A"}]))).expect("reads");
        let written = serde_json::to_value(&spec).expect("writes");
        assert_eq!(written["analysis"], "segmentation");
        assert_eq!(spec_from_value(written).expect("reads back"), spec);
    }
}
