//! RFM (recency, frequency, monetary): buyers scored 1–5 on each by quintiles and named by
//! segment (`score.rs`), as an analysis (`"analysis": "rfm"`) and as a cohort condition.
//!
//! Plan: the revenue event's rows of the range → grouped by person: the last purchase's time,
//! the number of purchases and the revenue (sum of the revenue property, read as a number) →
//! scores over all buyers → per segment, its buyers and their averages, and the R × F grid.

pub(crate) mod score;

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::datasource::TableProvider as _;
use datafusion::datasource::listing::ListingTable;
use datafusion::execution::context::SessionContext;
use datafusion::functions_aggregate::expr_fn::{count, max, sum};
use datafusion::logical_expr::{Expr, lit, try_cast};
use serde::{Deserialize, Serialize};

use crate::error::{QueryError, Result, SpecError};
use crate::filter::Conditions;
use crate::identity::PersonMap;
use crate::property::{column, resolve, time_span};
use crate::spec::{
    BreakdownKind, DateRange, EventRef, PropertyRef, SeriesEvent, default_time_zone,
    parse_time_zone, property_ref, series_event, start_of_day, today_in,
};
use crate::spec::{check_project, check_version};
use crate::whole_table::{counted_event, event_matches};
pub use score::RfmSegment;
use score::{Measures, Scores};

const DAY_MS: i64 = 86_400_000;

/// The `rfm` analysis: every buyer of the range scored and segmented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RfmSpec {
    /// Spec version; must be [`crate::spec::SPEC_VERSION`].
    pub version: u32,
    /// Only events of this project count; all projects when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The purchases looked at; recency is measured to the range's end.
    pub date_range: DateRange,
    /// IANA time zone of the range's days, "UTC" when absent.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// The revenue event (a type, with optional `where` conditions).
    pub revenue_event: EventRef,
    /// The event property holding each purchase's amount.
    pub revenue_property: String,
}

/// A validated RFM question (shared by the analysis and the cohort condition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RfmQuery {
    pub(crate) project: Option<String>,
    pub(crate) event: SeriesEvent,
    pub(crate) conditions: Conditions,
    pub(crate) amount: PropertyRef,
    /// The range, Unix ms, both included.
    pub(crate) span: (i64, i64),
}

impl RfmSpec {
    /// Checks every value and builds the typed query.
    pub(crate) fn validate(&self) -> std::result::Result<RfmQuery, SpecError> {
        check_version(self.version)?;
        check_project(&self.project)?;
        let tz = parse_time_zone(&self.time_zone)?;
        let (from, to) = self.date_range.days(today_in(tz))?;
        let end = to
            .succ_opt()
            .map_or(i64::MAX, |next| start_of_day(next, tz) - 1);
        RfmQuery::new(
            self.project.clone(),
            &self.revenue_event,
            &self.revenue_property,
            (start_of_day(from, tz), end),
            "revenue_event",
        )
    }
}

impl RfmQuery {
    /// The question for `event`'s purchases in `span`, amounts in `property`; `at` names the
    /// spec's place in errors.
    pub(crate) fn new(
        project: Option<String>,
        event: &EventRef,
        property: &str,
        span: (i64, i64),
        at: &str,
    ) -> std::result::Result<Self, SpecError> {
        let amount =
            property_ref(BreakdownKind::Event, property).map_err(|problem| SpecError::Filter {
                at: "revenue_property".to_owned(),
                problem,
            })?;
        Ok(RfmQuery {
            project,
            event: series_event(event, "revenue_event")?,
            conditions: Conditions::validate(&event.conditions, &format!("{at}.where"))?,
            amount,
            span,
        })
    }

    /// The rows of a purchase in the range.
    pub(crate) fn purchases(&self, schema: &datafusion::arrow::datatypes::Schema) -> Expr {
        self.conditions
            .and(event_matches(&self.event), schema)
            .and(time_span(self.span.0, self.span.1))
    }

    /// A purchase's amount as a number (null when absent or not a number).
    pub(crate) fn amount(&self, schema: &datafusion::arrow::datatypes::Schema) -> Expr {
        try_cast(resolve(&self.amount, schema), DataType::Float64)
    }

    /// The measures of a buyer whose last purchase was at `last_ms`.
    pub(crate) fn measures(&self, last_ms: i64, frequency: u64, monetary: f64) -> Measures {
        Measures {
            recency_days: (self.span.1 - last_ms).max(0) / DAY_MS,
            frequency,
            monetary,
        }
    }
}

/// The answer of the `rfm` analysis.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RfmResult {
    /// Persons with a purchase in the range.
    pub buyers: u64,
    /// Every segment, in rule order (empty ones too).
    pub segments: Vec<RfmSegmentRow>,
    /// Buyers by recency score (rows, 1 to 5) and frequency score (columns, 1 to 5).
    pub grid: Vec<Vec<u64>>,
}

/// One segment's buyers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RfmSegmentRow {
    /// The segment.
    pub segment: RfmSegment,
    /// Its buyers.
    pub persons: u64,
    /// Their share of all buyers (0 to 1).
    pub share: f64,
    /// Their mean days since the last purchase; null without buyers.
    pub recency_days: Option<f64>,
    /// Their mean number of purchases.
    pub frequency: Option<f64>,
    /// Their mean revenue.
    pub monetary: Option<f64>,
    /// Their total revenue.
    pub revenue: f64,
}

/// Runs the analysis over `table` (`None`: no data, no buyers).
pub(crate) async fn run(
    ctx: &SessionContext,
    table: Option<Arc<ListingTable>>,
    persons: &Arc<PersonMap>,
    query: &RfmQuery,
) -> Result<RfmResult> {
    let measures = match table {
        Some(table) => buyers(ctx, table, persons, query).await?,
        None => Vec::new(),
    };
    Ok(summarize(&measures))
}

/// Each buyer's measures, by one grouped scan.
async fn buyers(
    ctx: &SessionContext,
    table: Arc<ListingTable>,
    persons: &Arc<PersonMap>,
    query: &RfmQuery,
) -> Result<Vec<Measures>> {
    let schema = table.schema();
    let mut filter = counted_event().and(query.purchases(&schema));
    if let Some(project) = &query.project {
        filter = filter.and(column("project").eq(lit(project.clone())));
    }
    let time = datafusion::logical_expr::cast(column("event_time"), DataType::Int64);
    let batches = ctx
        .read_table(table)?
        .filter(filter)?
        .aggregate(
            vec![persons.person_expr(&schema).alias("person")],
            vec![
                max(time).alias("last"),
                count(lit(1i64)).alias("purchases"),
                sum(query.amount(&schema)).alias("revenue"),
            ],
        )?
        .collect()
        .await?;
    let mut measures = Vec::new();
    for batch in &batches {
        let as_type = |i: usize, ty: &DataType| {
            cast(batch.column(i), ty).map_err(|e| QueryError::Internal(e.to_string()))
        };
        let person = as_type(0, &DataType::Int64)?;
        let last = as_type(1, &DataType::Int64)?;
        let purchases = as_type(2, &DataType::Int64)?;
        let revenue = as_type(3, &DataType::Float64)?;
        let (person, last) = (
            person.as_primitive::<Int64Type>(),
            last.as_primitive::<Int64Type>(),
        );
        let purchases = purchases.as_primitive::<Int64Type>();
        let revenue = revenue.as_primitive::<Float64Type>();
        for row in 0..batch.num_rows() {
            if person.is_null(row) || last.is_null(row) {
                continue;
            }
            let monetary = if revenue.is_null(row) {
                0.0
            } else {
                revenue.value(row)
            };
            measures.push(query.measures(
                last.value(row),
                purchases.value(row).max(0) as u64,
                monetary,
            ));
        }
    }
    Ok(measures)
}

/// The result from every buyer's measures.
pub(crate) fn summarize(measures: &[Measures]) -> RfmResult {
    let scores = score::score(measures);
    let mut grid = vec![vec![0u64; 5]; 5];
    let mut sums = [(0u64, 0f64, 0f64, 0f64); RfmSegment::ALL.len()];
    for (m, s) in measures.iter().zip(&scores) {
        grid[usize::from(s.r) - 1][usize::from(s.f) - 1] += 1;
        let i = segment_index(*s);
        sums[i].0 += 1;
        sums[i].1 += m.recency_days as f64;
        sums[i].2 += m.frequency as f64;
        sums[i].3 += m.monetary;
    }
    let buyers = measures.len() as u64;
    let segments = RfmSegment::ALL
        .iter()
        .zip(sums)
        .map(|(&segment, (persons, recency, frequency, revenue))| {
            let mean = |total: f64| (persons > 0).then(|| total / persons as f64);
            RfmSegmentRow {
                segment,
                persons,
                share: if buyers == 0 {
                    0.0
                } else {
                    persons as f64 / buyers as f64
                },
                recency_days: mean(recency),
                frequency: mean(frequency),
                monetary: mean(revenue),
                revenue,
            }
        })
        .collect();
    RfmResult {
        buyers,
        segments,
        grid,
    }
}

fn segment_index(scores: Scores) -> usize {
    let segment = RfmSegment::of(scores);
    RfmSegment::ALL
        .iter()
        .position(|&s| s == segment)
        .unwrap_or(RfmSegment::ALL.len() - 1)
}
