//! A validated per-person analysis, ready to run once per segment.
//!
//! Segments are compared side by side by running the analysis once per segment, each time with
//! the segment's conditions added to the event the segment applies to: every counted event for
//! segmentation, lifecycle and stickiness; step 1 of a funnel, the start event of a retention
//! and the anchor of paths (where Amplitude applies them). A group-by (`crate::grouping`) runs
//! each segment's plan once more per group, with the group's membership as one more condition on
//! the same event.

use std::sync::Arc;

use datafusion::datasource::listing::ListingTable;
use datafusion::execution::context::SessionContext;

use datafusion::arrow::datatypes::Schema;
use datafusion::logical_expr::{Expr, lit};

use crate::cohort::CohortQuery;
use crate::error::{QueryError, Result, SpecError};
use crate::filter::Conditions;
use crate::grouping::{GroupBy, RankedGroups};
use crate::identity::PersonMap;
use crate::property::{column, time_span};
use crate::result::{GroupResult, GroupsResult, QueryResult, SegmentResult, SegmentsResult};
use crate::rfm::RfmQuery;
use crate::spec::filter::MAX_SEGMENTS;
use crate::spec::{
    EventsQuery, FunnelQuery, Interval, LIFECYCLE_LEAD, LifecycleQuery, PathsQuery, QuerySpec,
    RetentionQuery, Segment, SegmentationQuery, SeriesEvent, StartEvent, StickinessQuery,
};
use crate::whole_table::event_matches;
use crate::{funnel, lifecycle, paths, retention, segmentation, stickiness};

/// One of the analyses that count persons, validated.
#[derive(Debug, Clone)]
pub(crate) enum Plan {
    Funnel(FunnelQuery, funnel::GroupLabels),
    Segmentation(SegmentationQuery, Interval),
    Retention(RetentionQuery),
    Lifecycle(LifecycleQuery),
    Stickiness(StickinessQuery),
    Paths(PathsQuery),
}

/// A validated spec: a per-person analysis, or the events listing.
pub(crate) enum Planned {
    Persons(Plan),
    Events(EventsQuery),
    Cohort(CohortQuery),
    Rfm(RfmQuery),
}

/// The plans of one query: one unnamed plan, or one per named segment.
pub(crate) struct SegmentPlans(Vec<(Option<String>, Plan)>);

/// A group-by with its groups ranked: every plan runs overall and once per group.
pub(crate) struct Grouping {
    pub(crate) group_by: GroupBy,
    pub(crate) ranked: RankedGroups,
}

impl SegmentPlans {
    /// Runs them: one result, or the segments' results side by side; with a `grouping`, each
    /// result is split by its groups.
    pub(crate) async fn run(
        &self,
        inputs: &Inputs,
        grouping: Option<&Grouping>,
    ) -> Result<QueryResult> {
        if let Some((_, Plan::Segmentation(query, _))) = self.0.first()
            && query.formulas.iter().any(|f| f.crosses_segments())
        {
            if grouping.is_some() {
                return Err(QueryError::Internal(
                    "formulas across segments with a group-by".to_owned(),
                ));
            }
            return self.run_across_segments(inputs, query).await;
        }
        let mut segments = Vec::with_capacity(self.0.len());
        for (name, plan) in &self.0 {
            let result = match grouping {
                Some(grouping) => plan.run_grouped(inputs, grouping).await?,
                None => plan.run(inputs).await?,
            };
            match name {
                None => return Ok(result),
                Some(name) => segments.push(SegmentResult {
                    name: name.clone(),
                    result,
                }),
            }
        }
        Ok(QueryResult::Segments(SegmentsResult {
            segments,
            formulas: Vec::new(),
        }))
    }

    /// Runs every segment's segmentation, then evaluates `query`'s formulas across segments
    /// over what each segment's formulas read.
    async fn run_across_segments(
        &self,
        inputs: &Inputs,
        query: &SegmentationQuery,
    ) -> Result<QueryResult> {
        let mut segments = Vec::with_capacity(self.0.len());
        let mut measured = Vec::with_capacity(self.0.len());
        for (name, plan) in &self.0 {
            let (Some(name), Plan::Segmentation(segment_query, interval)) = (name, plan) else {
                return Err(QueryError::Internal(
                    "a formula across segments outside a segmentation of named segments".to_owned(),
                ));
            };
            let (result, read) = segmentation::run_measured(
                &inputs.ctx,
                inputs.table.clone(),
                &inputs.persons,
                segment_query,
                *interval,
            )
            .await?;
            measured.push(read);
            segments.push(SegmentResult {
                name: name.clone(),
                result: QueryResult::Segmentation(result),
            });
        }
        let formulas = segmentation::across_segments(query, measured)?;
        Ok(QueryResult::Segments(SegmentsResult { segments, formulas }))
    }
}

/// What a plan reads: a session, the events table (`None`: no data yet) and the identity
/// merge map.
pub(crate) struct Inputs {
    pub(crate) ctx: SessionContext,
    pub(crate) table: Option<Arc<ListingTable>>,
    pub(crate) persons: Arc<PersonMap>,
}

/// A named segment, checked.
#[derive(Debug, Clone)]
pub(crate) struct CheckedSegment {
    name: String,
    conditions: Conditions,
}

impl Planned {
    /// Validates `spec`.
    pub(crate) fn from_spec(spec: &QuerySpec) -> std::result::Result<Planned, SpecError> {
        Ok(Planned::Persons(match spec {
            QuerySpec::Funnel(s) => Plan::Funnel(
                s.validate()?,
                funnel::GroupLabels {
                    breakdown: s.breakdown.clone(),
                    group_by: s.group_by.clone(),
                },
            ),
            QuerySpec::Segmentation(s) => Plan::Segmentation(s.validate()?, s.interval),
            QuerySpec::Retention(s) => Plan::Retention(s.validate()?),
            QuerySpec::Lifecycle(s) => Plan::Lifecycle(s.validate()?),
            QuerySpec::Stickiness(s) => Plan::Stickiness(s.validate()?),
            QuerySpec::Paths(s) => Plan::Paths(s.validate()?),
            QuerySpec::Events(s) => return Ok(Planned::Events(s.validate()?)),
            QuerySpec::Cohort(s) => return Ok(Planned::Cohort(s.validate()?)),
            QuerySpec::Rfm(s) => return Ok(Planned::Rfm(s.validate()?)),
        }))
    }
}

impl Plan {
    /// The plan to run for each segment (just this one when the spec compares none).
    pub(crate) fn per_segment(self, segments: &[CheckedSegment]) -> SegmentPlans {
        if segments.is_empty() {
            return SegmentPlans(vec![(None, self)]);
        }
        let mut plans = Vec::with_capacity(segments.len());
        for segment in segments {
            let mut plan = self.clone();
            plan.restrict(&segment.conditions);
            plans.push((Some(segment.name.clone()), plan));
        }
        SegmentPlans(plans)
    }

    /// Adds conditions (a segment's or a group's) to the event segments apply to.
    fn restrict(&mut self, segment: &Conditions) {
        match self {
            Plan::Funnel(q, _) => {
                if let Some(first) = q.step_conditions.first_mut() {
                    first.extend(segment);
                }
            }
            Plan::Segmentation(q, _) => {
                for conditions in &mut q.series_conditions {
                    conditions.extend(segment);
                }
                q.active_conditions.extend(segment);
            }
            Plan::Retention(q) => q.start_conditions.extend(segment),
            Plan::Lifecycle(q) => q.event_conditions.extend(segment),
            Plan::Stickiness(q) => q.event_conditions.extend(segment),
            Plan::Paths(q) => q.anchor_conditions.extend(segment),
        }
    }

    /// The rows a group-by is ranked on: the events segments apply to, in the date range
    /// (with the plan's own conditions on them).
    pub(crate) fn grouped_rows(&self, schema: &Schema) -> Expr {
        let span = |from: i64, end: i64| time_span(from, end - 1);
        let (project, rows) = match self {
            // The funnel groups its counted paths itself (`funnel::group`), never through here.
            Plan::Funnel(..) => return lit(false),
            Plan::Segmentation(q, _) => {
                let starts = &q.buckets.starts;
                let any = q
                    .series
                    .iter()
                    .zip(&q.series_conditions)
                    .map(|(series, conditions)| {
                        conditions.and(event_matches(&series.event), schema)
                    })
                    .reduce(Expr::or)
                    .unwrap_or_else(|| lit(false));
                let rows = match (starts.first(), starts.last()) {
                    (Some(&from), Some(&end)) => span(from, end).and(any),
                    _ => lit(false),
                };
                (&q.project, rows)
            }
            Plan::Retention(q) => {
                // New users are ranked by their counted events in the range (which of them is
                // a person's first ever is only known per person).
                let event = match &q.start {
                    StartEvent::Event(event) => event_matches(event),
                    StartEvent::New => event_matches(&SeriesEvent::Any),
                };
                let start = q.start_conditions.and(event, schema);
                let rows = match q.buckets.starts.first() {
                    Some(&from) => span(from, q.cohort_end_ms).and(start),
                    None => lit(false),
                };
                (&q.project, rows)
            }
            Plan::Lifecycle(q) => {
                let event = q.event_conditions.and(event_matches(&q.event), schema);
                let rows = match q.buckets.starts.get(LIFECYCLE_LEAD) {
                    Some(&from) => span(from, q.end_ms).and(event),
                    None => lit(false),
                };
                (&q.project, rows)
            }
            Plan::Stickiness(q) => {
                let starts = &q.days.starts;
                let event = q.event_conditions.and(event_matches(&q.event), schema);
                let rows = match (starts.first(), starts.last()) {
                    (Some(&from), Some(&end)) => span(from, end).and(event),
                    _ => lit(false),
                };
                (&q.project, rows)
            }
            Plan::Paths(q) => {
                let anchor = column("event_type").eq(lit(q.anchor.clone()));
                let anchor = q.anchor_conditions.and(anchor, schema);
                (&q.project, time_span(q.from_ms, q.to_ms).and(anchor))
            }
        };
        match project {
            Some(project) => rows.and(column("project").eq(lit(project.clone()))),
            None => rows,
        }
    }

    /// The result overall, then once per listed group and for "(other)".
    async fn run_grouped(&self, inputs: &Inputs, grouping: &Grouping) -> Result<QueryResult> {
        let Grouping { group_by, ranked } = grouping;
        let overall = self.run(inputs).await?;
        let mut groups = Vec::with_capacity(ranked.listed.len() + 1);
        for (values, persons) in &ranked.listed {
            let mut plan = self.clone();
            plan.restrict(&group_by.group(values));
            groups.push(GroupResult {
                values: values.clone(),
                other: false,
                persons: *persons,
                result: plan.run(inputs).await?,
            });
        }
        if let Some(persons) = ranked.other {
            let mut plan = self.clone();
            plan.restrict(&group_by.membership(ranked, true));
            groups.push(GroupResult {
                values: vec![None; group_by.labels.len()],
                other: true,
                persons,
                result: plan.run(inputs).await?,
            });
        }
        Ok(QueryResult::Groups(GroupsResult {
            group_by: group_by.labels.clone(),
            overall: Box::new(overall),
            groups,
        }))
    }

    async fn run(&self, inputs: &Inputs) -> Result<QueryResult> {
        let Inputs {
            ctx,
            table,
            persons,
        } = inputs;
        let table = table.clone();
        Ok(match self {
            Plan::Funnel(q, labels) => {
                QueryResult::Funnel(funnel::run(ctx, table, persons, q, labels.clone()).await?)
            }
            Plan::Segmentation(q, interval) => QueryResult::Segmentation(
                segmentation::run(ctx, table, persons, q, *interval).await?,
            ),
            Plan::Retention(q) => {
                QueryResult::Retention(retention::run(ctx, table, persons, q).await?)
            }
            Plan::Lifecycle(q) => {
                QueryResult::Lifecycle(lifecycle::run(ctx, table, persons, q).await?)
            }
            Plan::Stickiness(q) => {
                QueryResult::Stickiness(stickiness::run(ctx, table, persons, q).await?)
            }
            Plan::Paths(q) => QueryResult::Paths(paths::run(ctx, table, persons, q).await?),
        })
    }
}

/// The spec's segments, checked (empty: no comparison).
pub(crate) fn check_segments(
    spec: &QuerySpec,
) -> std::result::Result<Vec<CheckedSegment>, SpecError> {
    let segments: &[Segment] = match spec {
        QuerySpec::Funnel(s) => &s.segments,
        QuerySpec::Segmentation(s) => &s.segments,
        QuerySpec::Retention(s) => &s.segments,
        QuerySpec::Lifecycle(s) => &s.segments,
        QuerySpec::Stickiness(s) => &s.segments,
        QuerySpec::Paths(s) => &s.segments,
        QuerySpec::Events(_) | QuerySpec::Cohort(_) | QuerySpec::Rfm(_) => &[],
    };
    if segments.len() > MAX_SEGMENTS {
        return Err(SpecError::SegmentCount {
            found: segments.len(),
            max: MAX_SEGMENTS,
        });
    }
    segments
        .iter()
        .enumerate()
        .map(|(i, segment)| {
            Ok(CheckedSegment {
                name: segment
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("segment {}", i + 1)),
                conditions: Conditions::validate(
                    &segment.conditions,
                    &format!("segments[{i}].where"),
                )?,
            })
        })
        .collect()
}
