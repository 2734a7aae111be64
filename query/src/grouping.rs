//! Group-by for segmentation, retention, lifecycle, stickiness and paths (the funnel groups its
//! counted paths itself, `funnel::group`).
//!
//! A group-by splits an analysis the way segments do: a group is the events whose values of the
//! group-by properties are the group's, applied to the event a segment applies to (every counted
//! event of a segmentation, lifecycle or stickiness; the start event of a retention; the anchor of
//! paths). So a person whose property changes belongs to each group they had events in, as in
//! Amplitude, where user properties are read as they were at the event.
//!
//! Which groups are listed: one grouped count over the date range ranks the value tuples by the
//! persons who did that event with them (most first, ties by value, none first); the first
//! `group_limit` are listed, and when more exist the rest form one "(other)" group, whose
//! persons are counted by a second query. Then the analysis runs once overall and once per group
//! with the group's membership as one more condition (`filter::GroupMembership`): a pass over
//! the events per group, the price of exact per-group persons for every analysis, retention's
//! return events included. Groups are ranked over everyone, so segments compared side by side
//! share them.

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::{as_int64_array, as_string_array};
use datafusion::functions_aggregate::expr_fn::count_distinct;
use datafusion::logical_expr::{Expr, cast};

use crate::error::{QueryError, Result, SpecError};
use crate::filter::{Conditions, GroupMembership};
use crate::plan::{Inputs, Plan};
use crate::property::resolve;
use crate::spec::{Breakdown, PropertyRef, QuerySpec, group_by_property};

/// Most group-by properties (Amplitude's limit).
const MAX_GROUP_BY: usize = 2;
/// Groups listed when the spec gives no `group_limit`.
const DEFAULT_GROUP_LIMIT: usize = 10;
/// Most groups listed: each is one more pass over the events.
pub(crate) const MAX_GROUPS: usize = 100;

/// A spec's group-by, checked.
#[derive(Debug, Clone)]
pub(crate) struct GroupBy {
    /// The properties as the spec gave them (echoed in the result).
    pub(crate) labels: Vec<Breakdown>,
    properties: Vec<PropertyRef>,
    limit: usize,
}

/// The groups to list, ranked, with the persons of each, and those of "(other)" when more
/// groups exist.
#[derive(Debug, Clone, Default)]
pub(crate) struct RankedGroups {
    pub(crate) listed: Vec<(Vec<Option<String>>, u64)>,
    pub(crate) other: Option<u64>,
}

impl GroupBy {
    /// The spec's `group_by` and `group_limit`, checked; `None` without a group-by (and for the
    /// funnel and the events listing, which have none of this kind).
    pub(crate) fn check(spec: &QuerySpec) -> std::result::Result<Option<GroupBy>, SpecError> {
        let (labels, limit) = match spec {
            QuerySpec::Segmentation(s) => (&s.group_by, s.group_limit),
            QuerySpec::Retention(s) => (&s.group_by, s.group_limit),
            QuerySpec::Lifecycle(s) => (&s.group_by, s.group_limit),
            QuerySpec::Stickiness(s) => (&s.group_by, s.group_limit),
            QuerySpec::Paths(s) => (&s.group_by, s.group_limit),
            QuerySpec::Funnel(_)
            | QuerySpec::Events(_)
            | QuerySpec::Cohort(_)
            | QuerySpec::Rfm(_) => return Ok(None),
        };
        let limit = match limit {
            None => DEFAULT_GROUP_LIMIT,
            Some(found @ 1..=MAX_GROUPS) => found,
            Some(found) => {
                return Err(SpecError::GroupLimit {
                    found,
                    max: MAX_GROUPS,
                });
            }
        };
        if labels.is_empty() {
            return Ok(None);
        }
        if labels.len() > MAX_GROUP_BY {
            return Err(SpecError::TooManyGroupBy {
                found: labels.len(),
                max: MAX_GROUP_BY,
            });
        }
        let properties = labels
            .iter()
            .enumerate()
            .map(|(index, group)| group_by_property(index, group.kind, &group.property))
            .collect::<std::result::Result<_, _>>()?;
        Ok(Some(GroupBy {
            labels: labels.clone(),
            properties,
            limit,
        }))
    }

    /// Ranks the value tuples of the events `plan`'s group-by is read on, in its date range.
    pub(crate) async fn rank(&self, inputs: &Inputs, plan: &Plan) -> Result<RankedGroups> {
        use datafusion::datasource::TableProvider as _;
        let Some(table) = &inputs.table else {
            return Ok(RankedGroups::default());
        };
        let schema = table.schema();
        let rows = plan.grouped_rows(&schema);
        let person = inputs.persons.person_expr(&schema);
        let keys: Vec<Expr> = self
            .properties
            .iter()
            .enumerate()
            .map(|(i, p)| cast(resolve(p, &schema), DataType::Utf8).alias(format!("g{i}")))
            .collect();
        let batches = inputs
            .ctx
            .read_table(table.clone())?
            .filter(rows.clone())?
            .aggregate(keys, vec![count_distinct(person.clone()).alias("persons")])?
            .collect()
            .await?;
        let mut all = Vec::new();
        for batch in &batches {
            read_groups(batch, self.properties.len(), &mut all)?;
        }
        // Most persons first, then by value (none first).
        all.sort_by(|(a, pa), (b, pb)| pb.cmp(pa).then_with(|| a.cmp(b)));
        let more = all.len() > self.limit;
        all.truncate(self.limit);
        let mut ranked = RankedGroups {
            listed: all,
            other: None,
        };
        if more {
            let others = self.membership(&ranked, true).and(rows, &schema);
            let batches = inputs
                .ctx
                .read_table(table.clone())?
                .filter(others)?
                .aggregate(vec![], vec![count_distinct(person).alias("persons")])?
                .collect()
                .await?;
            let persons = batches
                .iter()
                .find(|b| b.num_rows() == 1)
                .map(|b| as_int64_array(b.column(0)).map(|a| a.value(0)))
                .transpose()?
                .unwrap_or(0);
            ranked.other = Some(u64::try_from(persons).unwrap_or(0));
        }
        Ok(ranked)
    }

    /// The condition "the event's values are one of the listed groups'" (`negate`: none of
    /// them, the "(other)" group).
    pub(crate) fn membership(&self, ranked: &RankedGroups, negate: bool) -> Conditions {
        Conditions::membership(GroupMembership {
            properties: self.properties.clone(),
            tuples: ranked
                .listed
                .iter()
                .map(|(values, _)| values.clone())
                .collect(),
            negate,
        })
    }

    /// The condition "the event's values are `values`".
    pub(crate) fn group(&self, values: &[Option<String>]) -> Conditions {
        Conditions::membership(GroupMembership {
            properties: self.properties.clone(),
            tuples: vec![values.to_vec()],
            negate: false,
        })
    }
}

/// Appends the (values, persons) rows of one batch of the ranking query.
fn read_groups(
    batch: &RecordBatch,
    properties: usize,
    into: &mut Vec<(Vec<Option<String>>, u64)>,
) -> Result<()> {
    let missing = |name: &str| QueryError::Internal(format!("group ranking lacks column {name}"));
    let keys = (0..properties)
        .map(|i| {
            let name = format!("g{i}");
            let column = batch.column_by_name(&name).ok_or_else(|| missing(&name))?;
            Ok(as_string_array(column)?.clone())
        })
        .collect::<Result<Vec<_>>>()?;
    let persons = as_int64_array(
        batch
            .column_by_name("persons")
            .ok_or_else(|| missing("persons"))?,
    )?;
    for row in 0..batch.num_rows() {
        let values = keys
            .iter()
            .map(|k| k.is_valid(row).then(|| k.value(row).to_owned()))
            .collect();
        into.push((values, u64::try_from(persons.value(row)).unwrap_or(0)));
    }
    Ok(())
}
