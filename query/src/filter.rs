//! Conditions on event values, checked and turned into DataFusion expressions.
//!
//! A spec's `where` list (see [`crate::spec::PropertyFilter`]) becomes [`Conditions`]: validated
//! once, then planned against each query's table schema (where a property may or may not have a
//! typed column). Every test reads the value as text, like the breakdowns do, so a property
//! compares the same whether it is a typed column or still in the JSON bag; comparisons with
//! numbers parse that text as a number and never match text that is not one.

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::functions::expr_fn::{lower, strpos};
use datafusion::logical_expr::{Case, Expr, lit, try_cast};

use std::sync::Arc;

use crate::cohort::filter::{CohortCell, in_cohort};
use crate::error::{FilterProblem, SpecError};
use crate::identity::PERSON_COLUMN;
use crate::property::resolve;
use crate::spec::filter::{MAX_CONDITIONS, MAX_FILTER_VALUES};
use crate::spec::{
    BreakdownKind, FilterOp, FilterValue, PropertyFilter, PropertyRef, property_ref,
};

/// Conditions that must all hold (empty: every event passes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Conditions {
    /// The spec's conditions, each on one property.
    properties: Vec<Condition>,
    /// Group-by memberships (`crate::grouping`): the event's values of the group-by properties
    /// are (or, negated, are not) one of the listed tuples.
    groups: Vec<GroupMembership>,
}

/// The event's values of `properties` equal one of `tuples` (a null entry stands for the
/// property being absent, Amplitude's "(none)"); `negate`: none of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct GroupMembership {
    pub(crate) properties: Vec<PropertyRef>,
    pub(crate) tuples: Vec<Vec<Option<String>>>,
    pub(crate) negate: bool,
}

/// One checked condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Condition {
    property: PropertyRef,
    test: Test,
}

/// A number kept by its bits, so queries stay comparable and hashable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Number(u64);

impl Number {
    fn new(value: f64) -> Self {
        Number(value.to_bits())
    }

    fn get(self) -> f64 {
        f64::from_bits(self.0)
    }
}

/// What a condition checks about the value (as text).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Test {
    /// Equal to one of the texts or (parsed) one of the numbers; `negate`: to none of them, or
    /// absent.
    OneOf {
        texts: Vec<String>,
        numbers: Vec<Number>,
        negate: bool,
    },
    /// Holds one of the (lower-case) needles, ignoring case; `negate`: none of them, or absent.
    Contains { needles: Vec<String>, negate: bool },
    /// A number compared with `number`.
    Compare { op: FilterOp, number: Number },
    /// Present (`true`) or absent.
    Present(bool),
    /// The event's person is a member of a saved cohort (`negate`: is not).
    Cohort { cell: Arc<CohortCell>, negate: bool },
}

impl Conditions {
    /// Checks a `where` list; `at` names it in errors (`steps[1].where`).
    pub(crate) fn validate(filters: &[PropertyFilter], at: &str) -> Result<Self, SpecError> {
        if filters.len() > MAX_CONDITIONS {
            return Err(SpecError::Filter {
                at: at.to_owned(),
                problem: FilterProblem::TooManyConditions {
                    found: filters.len(),
                    max: MAX_CONDITIONS,
                },
            });
        }
        let conditions = filters
            .iter()
            .enumerate()
            .map(|(i, filter)| {
                Condition::validate(filter).map_err(|problem| SpecError::Filter {
                    at: format!("{at}[{i}]"),
                    problem,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Conditions {
            properties: conditions,
            groups: Vec::new(),
        })
    }

    /// The single condition that an event belongs to a group-by group.
    pub(crate) fn membership(membership: GroupMembership) -> Self {
        Conditions {
            properties: Vec::new(),
            groups: vec![membership],
        }
    }

    /// Adds `other`'s conditions to these.
    pub(crate) fn extend(&mut self, other: &Conditions) {
        self.properties.extend(other.properties.iter().cloned());
        self.groups.extend(other.groups.iter().cloned());
    }

    /// The conditions as one predicate over rows of a table with `schema`; `None` when there
    /// are none. A null value never passes a positive test.
    pub(crate) fn expr(&self, schema: &Schema) -> Option<Expr> {
        let properties = self.properties.iter().map(|c| c.expr(schema));
        let groups = self.groups.iter().map(|g| g.expr(schema));
        properties.chain(groups).reduce(Expr::and)
    }

    /// `base AND these conditions`.
    pub(crate) fn and(&self, base: Expr, schema: &Schema) -> Expr {
        match self.expr(schema) {
            Some(conditions) => base.and(conditions),
            None => base,
        }
    }
}

impl Condition {
    fn validate(filter: &PropertyFilter) -> Result<Self, FilterProblem> {
        if filter.kind == BreakdownKind::Cohort {
            return Self::cohort(filter);
        }
        let property = property_ref(filter.kind, &filter.property)?;
        let op = filter.op;
        let values = &filter.values;
        let test = match op {
            FilterOp::Set | FilterOp::NotSet => {
                if !values.is_empty() {
                    return Err(FilterProblem::NoValuesExpected { op: op.as_str() });
                }
                Test::Present(op == FilterOp::Set)
            }
            FilterOp::Is | FilterOp::IsNot => {
                check_value_count(op, values)?;
                let mut texts = Vec::new();
                let mut numbers = Vec::new();
                for value in values {
                    match value {
                        FilterValue::Text(text) => texts.push(text.clone()),
                        FilterValue::Bool(flag) => texts.push(flag.to_string()),
                        FilterValue::Number(n) => numbers.push(Number::new(number(op, n)?)),
                    }
                }
                Test::OneOf {
                    texts,
                    numbers,
                    negate: op == FilterOp::IsNot,
                }
            }
            FilterOp::Contains | FilterOp::DoesNotContain => {
                check_value_count(op, values)?;
                let needles = values.iter().map(|v| text_of(v).to_lowercase()).collect();
                Test::Contains {
                    needles,
                    negate: op == FilterOp::DoesNotContain,
                }
            }
            FilterOp::Less
            | FilterOp::LessOrEqual
            | FilterOp::Greater
            | FilterOp::GreaterOrEqual => {
                let [value] = values.as_slice() else {
                    return Err(FilterProblem::OneNumber { op: op.as_str() });
                };
                let parsed = match value {
                    FilterValue::Number(n) => number(op, n)?,
                    FilterValue::Text(text) => text
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|n| n.is_finite())
                        .ok_or_else(|| FilterProblem::NotANumber {
                            op: op.as_str(),
                            value: text.clone(),
                        })?,
                    FilterValue::Bool(_) => {
                        return Err(FilterProblem::OneNumber { op: op.as_str() });
                    }
                };
                Test::Compare {
                    op,
                    number: Number::new(parsed),
                }
            }
        };
        Ok(Condition { property, test })
    }

    /// Membership of the saved cohort `filter.property`.
    fn cohort(filter: &PropertyFilter) -> Result<Self, FilterProblem> {
        if filter.property.is_empty() {
            return Err(FilterProblem::EmptyProperty);
        }
        let negate = match filter.op {
            FilterOp::Is if filter.values.is_empty() => false,
            FilterOp::IsNot if filter.values.is_empty() => true,
            _ => return Err(FilterProblem::CohortCondition),
        };
        Ok(Condition {
            property: PropertyRef::Field(PERSON_COLUMN.to_owned()),
            test: Test::Cohort {
                cell: CohortCell::new(&filter.property),
                negate,
            },
        })
    }

    fn expr(&self, schema: &Schema) -> Expr {
        let value = resolve(&self.property, schema);
        let as_number = || try_cast(value.clone(), DataType::Float64);
        match &self.test {
            Test::Cohort { cell, negate } => in_cohort(cell, *negate, schema),
            Test::Present(true) => value.is_not_null(),
            Test::Present(false) => value.is_null(),
            Test::OneOf {
                texts,
                numbers,
                negate,
            } => {
                let mut any = Vec::new();
                if !texts.is_empty() {
                    any.push(
                        value
                            .clone()
                            .in_list(texts.iter().map(lit).collect(), false),
                    );
                }
                if !numbers.is_empty() {
                    let numbers = numbers.iter().map(|n| lit(n.get())).collect();
                    any.push(as_number().in_list(numbers, false));
                }
                either(value, any, *negate)
            }
            Test::Contains { needles, negate } => {
                let folded = lower(value.clone());
                let any = needles
                    .iter()
                    .map(|needle| strpos(folded.clone(), lit(needle.clone())).gt(lit(0i64)))
                    .collect();
                either(value, any, *negate)
            }
            Test::Compare { op, number } => {
                let (left, right) = (as_number(), lit(number.get()));
                match op {
                    FilterOp::Less => left.lt(right),
                    FilterOp::LessOrEqual => left.lt_eq(right),
                    FilterOp::Greater => left.gt(right),
                    _ => left.gt_eq(right),
                }
            }
        }
    }
}

impl GroupMembership {
    /// The values are one of the tuples ([`true_or_false`]: never null, so a negated
    /// membership keeps events lacking a property), negated for `negate`.
    fn expr(&self, schema: &Schema) -> Expr {
        let values: Vec<Expr> = self.properties.iter().map(|p| resolve(p, schema)).collect();
        let any = self
            .tuples
            .iter()
            .filter_map(|tuple| {
                values
                    .iter()
                    .zip(tuple)
                    .map(|(value, wanted)| match wanted {
                        Some(text) => value.clone().eq(lit(text.clone())),
                        None => value.clone().is_null(),
                    })
                    .reduce(Expr::and)
            })
            .reduce(Expr::or)
            .unwrap_or_else(|| lit(false));
        let member = true_or_false(any);
        if self.negate { !member } else { member }
    }
}

/// Any of `tests` holds (a null test result does not); negated: none holds, or `value` is
/// absent.
fn either(value: Expr, tests: Vec<Expr>, negate: bool) -> Expr {
    let any = tests
        .into_iter()
        .reduce(Expr::or)
        .unwrap_or_else(|| lit(false));
    let any = true_or_false(any);
    if negate {
        value.is_null().or(!any)
    } else {
        any
    }
}

/// `CASE WHEN test THEN true ELSE false END`: `test` with null read as false, never null. Not
/// `test IS TRUE`: the same thing, but DataFusion plans `IS TRUE` as a nullable physical
/// expression while its logical type is not nullable, and when a condition appears twice in one
/// scan (an exclusion step repeating a step's condition) common-subexpression elimination turns
/// that mismatch into a planning error.
fn true_or_false(test: Expr) -> Expr {
    Expr::Case(Case::new(
        None,
        vec![(Box::new(test), Box::new(lit(true)))],
        Some(Box::new(lit(false))),
    ))
}

fn check_value_count(op: FilterOp, values: &[FilterValue]) -> Result<(), FilterProblem> {
    if values.is_empty() || values.len() > MAX_FILTER_VALUES {
        return Err(FilterProblem::ValueCount {
            op: op.as_str(),
            found: values.len(),
            max: MAX_FILTER_VALUES,
        });
    }
    Ok(())
}

fn text_of(value: &FilterValue) -> String {
    match value {
        FilterValue::Text(text) => text.clone(),
        FilterValue::Number(n) => n.to_string(),
        FilterValue::Bool(flag) => flag.to_string(),
    }
}

fn number(op: FilterOp, n: &serde_json::Number) -> Result<f64, FilterProblem> {
    n.as_f64()
        .filter(|n| n.is_finite())
        .ok_or_else(|| FilterProblem::NotANumber {
            op: op.as_str(),
            value: n.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::BreakdownKind;

    fn filter(kind: BreakdownKind, property: &str, op: FilterOp, values: &str) -> PropertyFilter {
        PropertyFilter {
            kind,
            property: property.to_owned(),
            op,
            values: serde_json::from_str(values).unwrap(),
        }
    }

    fn problem(f: PropertyFilter) -> String {
        Conditions::validate(&[f], "where").unwrap_err().to_string()
    }

    #[test]
    fn values_must_suit_the_operator() {
        let e = BreakdownKind::Event;
        assert_eq!(
            problem(filter(e, "price", FilterOp::Greater, r#"["cheap"]"#)),
            "where[0]: \"greater\": \"cheap\" is not a number"
        );
        assert!(problem(filter(e, "price", FilterOp::Less, "[1, 2]")).contains("exactly one"));
        assert!(problem(filter(e, "x", FilterOp::Is, "[]")).contains("needs 1 to 1000 values"));
        assert!(problem(filter(e, "x", FilterOp::Set, r#"["a"]"#)).contains("takes no values"));
        assert!(problem(filter(e, "", FilterOp::Set, "[]")).contains("must not be empty"));
        let field = problem(filter(BreakdownKind::Field, "plat", FilterOp::Set, "[]"));
        assert!(
            field.contains("\"plat\" is not a top-level event field"),
            "{field}"
        );
    }

    #[test]
    fn text_numbers_are_accepted_for_comparisons() {
        let ok = Conditions::validate(
            &[filter(
                BreakdownKind::Event,
                "price",
                FilterOp::GreaterOrEqual,
                r#"[" 12.5 "]"#,
            )],
            "where",
        )
        .unwrap();
        assert_ne!(ok, Conditions::default());
    }

    #[test]
    fn too_many_conditions_are_refused() {
        let one = filter(BreakdownKind::Event, "x", FilterOp::Set, "[]");
        let many = vec![one; MAX_CONDITIONS + 1];
        let e = Conditions::validate(&many, "segments[0].where").unwrap_err();
        assert!(
            e.to_string().starts_with("segments[0].where: at most"),
            "{e}"
        );
    }
}
