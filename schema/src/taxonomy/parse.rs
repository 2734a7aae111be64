//! Reading a tracking-plan TOML file: syntax through `toml` (with spans), then the semantic checks
//! that TOML cannot express (known types, enum values of the right type, defined and required
//! properties, a real time zone). Every problem carries a line and column, and all are reported at
//! once so a data engineer can fix a file in one pass.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use super::{EventDef, Policies, Policy, ProjectDef, PropertyDef, PropertyType, TrackingPlan};

/// One problem in a plan file, located by 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Every problem found in a plan file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PlanErrors(pub Vec<PlanError>);

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    project: RawProject,
    #[serde(default)]
    event_properties: BTreeMap<String, Spanned<RawProperty>>,
    #[serde(default)]
    user_properties: BTreeMap<String, Spanned<RawProperty>>,
    #[serde(default)]
    events: BTreeMap<String, Spanned<RawEvent>>,
    #[serde(default)]
    policy: Option<RawPolicies>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicies {
    #[serde(default)]
    unplanned_event: Option<Spanned<String>>,
    #[serde(default)]
    unplanned_property: Option<Spanned<String>>,
    #[serde(default)]
    invalid_value: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    name: Spanned<String>,
    #[serde(default)]
    time_zone: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProperty {
    #[serde(rename = "type")]
    ty: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default, rename = "enum")]
    enum_values: Vec<Spanned<EnumValue>>,
    #[serde(default)]
    policy: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EnumValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    #[serde(default)]
    description: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    properties: Vec<Spanned<String>>,
    #[serde(default)]
    required: Vec<Spanned<String>>,
    #[serde(default)]
    policy: Option<Spanned<String>>,
}

/// Collects located problems while converting the raw file.
struct Checker<'a> {
    text: &'a str,
    errors: Vec<PlanError>,
}

impl Checker<'_> {
    fn error(&mut self, span: Range<usize>, message: String) {
        let (line, column) = line_column(self.text, span.start);
        self.errors.push(PlanError {
            line,
            column,
            message,
        });
    }

    /// Reads a policy name, reporting anything else.
    fn policy(&mut self, raw: Option<Spanned<String>>, what: &str) -> Option<Policy> {
        let raw = raw?;
        match raw.get_ref().as_str() {
            "allow" => Some(Policy::Allow),
            "flag" => Some(Policy::Flag),
            "reject" => Some(Policy::Reject),
            other => {
                let message =
                    format!("{what} has unknown policy {other:?}: use allow, flag or reject");
                self.error(raw.span(), message);
                None
            }
        }
    }
}

pub(super) fn parse(text: &str) -> Result<TrackingPlan, PlanErrors> {
    let raw: RawPlan = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| line_column(text, s.start));
        PlanErrors(vec![PlanError {
            line,
            column,
            message: e.message().trim().to_owned(),
        }])
    })?;
    let mut checker = Checker {
        text,
        errors: Vec::new(),
    };
    let project = check_project(&mut checker, raw.project);
    let policies = check_policies(&mut checker, raw.policy);
    let event_properties = check_properties(&mut checker, raw.event_properties, "event property");
    let user_properties = check_properties(&mut checker, raw.user_properties, "user property");
    let events = raw
        .events
        .into_iter()
        .map(|(name, def)| {
            let def = check_event(&mut checker, &name, def, &event_properties);
            (name, def)
        })
        .collect();
    if !checker.errors.is_empty() {
        checker.errors.sort_by_key(|e| (e.line, e.column));
        return Err(PlanErrors(checker.errors));
    }
    Ok(TrackingPlan {
        project,
        event_properties,
        user_properties,
        events,
        policies,
    })
}

fn check_policies(c: &mut Checker<'_>, raw: Option<RawPolicies>) -> Policies {
    let defaults = Policies::default();
    let Some(raw) = raw else {
        return defaults;
    };
    Policies {
        unplanned_event: c
            .policy(raw.unplanned_event, "policy.unplanned_event")
            .unwrap_or(defaults.unplanned_event),
        unplanned_property: c
            .policy(raw.unplanned_property, "policy.unplanned_property")
            .unwrap_or(defaults.unplanned_property),
        invalid_value: c
            .policy(raw.invalid_value, "policy.invalid_value")
            .unwrap_or(defaults.invalid_value),
    }
}

fn check_project(c: &mut Checker<'_>, raw: RawProject) -> ProjectDef {
    if raw.name.get_ref().trim().is_empty() {
        c.error(raw.name.span(), "project name must not be empty".into());
    }
    let time_zone = match raw.time_zone {
        None => chrono_tz::UTC,
        Some(tz) => tz.get_ref().parse().unwrap_or_else(|_| {
            let message = format!(
                "unknown time zone {:?}: use an IANA name such as \"Asia/Seoul\" or \"UTC\"",
                tz.get_ref()
            );
            c.error(tz.span(), message);
            chrono_tz::UTC
        }),
    };
    ProjectDef {
        name: raw.name.into_inner(),
        time_zone,
    }
}

fn check_properties(
    c: &mut Checker<'_>,
    raw: BTreeMap<String, Spanned<RawProperty>>,
    what: &str,
) -> BTreeMap<String, PropertyDef> {
    let mut out = BTreeMap::new();
    for (name, def) in raw {
        let span = def.span();
        let def = def.into_inner();
        if name.trim().is_empty() {
            c.error(span.clone(), format!("{what} name must not be empty"));
        }
        let ty = match def.ty.get_ref().as_str() {
            "string" => PropertyType::String,
            "number" => PropertyType::Number,
            "integer" => PropertyType::Integer,
            "boolean" => PropertyType::Boolean,
            "array" => PropertyType::Array,
            other => {
                let message = format!(
                    "{what} {name:?} has unknown type {other:?}: use string, number, integer, boolean or array"
                );
                c.error(def.ty.span(), message);
                PropertyType::String
            }
        };
        let mut enum_values = Vec::new();
        for value in def.enum_values {
            let value_span = value.span();
            match enum_value(value.into_inner(), ty) {
                Some(v) => enum_values.push(v),
                None => c.error(
                    value_span,
                    format!("enum value of {what} {name:?} does not fit its type {ty}"),
                ),
            }
        }
        let policy = c.policy(def.policy, &format!("{what} {name:?}"));
        let property = PropertyDef {
            ty,
            description: def.description,
            enum_values,
            policy,
        };
        out.insert(name, property);
    }
    out
}

fn enum_value(value: EnumValue, ty: PropertyType) -> Option<Value> {
    match (value, ty) {
        (EnumValue::Str(s), PropertyType::String) => Some(Value::String(s)),
        (EnumValue::Int(i), PropertyType::Integer | PropertyType::Number) => Some(i.into()),
        (EnumValue::Float(f), PropertyType::Number) => {
            serde_json::Number::from_f64(f).map(Value::Number)
        }
        (EnumValue::Bool(b), PropertyType::Boolean) => Some(Value::Bool(b)),
        _ => None,
    }
}

fn check_event(
    c: &mut Checker<'_>,
    name: &str,
    raw: Spanned<RawEvent>,
    properties: &BTreeMap<String, PropertyDef>,
) -> EventDef {
    let span = raw.span();
    let raw = raw.into_inner();
    if name.trim().is_empty() {
        c.error(span, "event name must not be empty".into());
    }
    for p in &raw.properties {
        if !properties.contains_key(p.get_ref()) {
            let message = format!(
                "event {name:?} uses property {:?}, which is not defined: add [event_properties.{:?}]",
                p.get_ref(),
                p.get_ref()
            );
            c.error(p.span(), message);
        }
    }
    for r in &raw.required {
        if !raw.properties.iter().any(|p| p.get_ref() == r.get_ref()) {
            let message = format!(
                "event {name:?} requires {:?}, which is not in its properties list",
                r.get_ref()
            );
            c.error(r.span(), message);
        }
    }
    let policy = c.policy(raw.policy, &format!("event {name:?}"));
    EventDef {
        policy,
        description: raw.description,
        category: raw.category,
        owner: raw.owner,
        properties: raw
            .properties
            .into_iter()
            .map(Spanned::into_inner)
            .collect(),
        required: raw.required.into_iter().map(Spanned::into_inner).collect(),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
