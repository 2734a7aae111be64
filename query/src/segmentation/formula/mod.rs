//! Formulas over a segmentation's series (Amplitude's custom formulas, `amplitude.md` §4.1):
//! `UNIQUES(B)/UNIQUES(A)`, `TOTALS(A)/UNIQUES(A)`, `ROLLAVG(UNIQUES, A, 7)`, evaluated per point.
//!
//! A formula's metric reads the referenced series' event and conditions whatever that series'
//! own measure is: `UNIQUES(A)` on a series measuring totals is still A's unique persons. The
//! counter already counts uniques and totals for every series' mask bit, so `UNIQUES`, `TOTALS`
//! and `AVG` cost nothing more; `ACTIVE` adds the active persons as a hidden counted series, and
//! a property metric other than the series' own measure adds one values aggregate over the same
//! mask bit (`super::scan`). `CUMSUM` and `ROLLWIN` add the points' values of `TOTALS` and
//! `PROPSUM`; over `UNIQUES` they count a person once per window (§4.1: "cumulative sum with
//! uniques = running deduplicated unique count"), so the counter unites the window's person
//! bitmaps ([`Window`]). Parsing (`parse.rs`) happens when the spec is validated, so every
//! mistake is a [`SpecError`] naming the formula and the character; evaluation (`eval.rs`) runs
//! once the scan's counts are in.

mod eval;
mod parse;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::ops::Range;

use crate::error::{FormulaProblem, SpecError};
use crate::spec::{FormulaFormat, FormulaSpec, Interval, Measure, SeriesQuery};

pub(crate) use eval::{Inputs, evaluate};

/// Longest formula text, in characters.
pub(crate) const MAX_FORMULA_CHARS: usize = 1_000;
/// Deepest nesting of parentheses, calls and unary signs (keeps the recursive parser and
/// evaluator far from the stack's end).
pub(crate) const MAX_DEPTH: usize = 32;

/// A validated formula.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Formula {
    /// The expression as written (without an output-format prefix), trimmed.
    pub(crate) text: String,
    /// The name shown (the text when none was given).
    pub(crate) name: String,
    pub(crate) format: FormulaFormat,
    pub(crate) expr: Expr,
}

impl Formula {
    /// Every metric the formula reads.
    pub(crate) fn metrics(&self, into: &mut BTreeSet<MetricRef>) {
        self.expr.metrics(into);
    }

    /// Every metric the formula reads counted over a window of points.
    pub(crate) fn windowed(&self, into: &mut BTreeSet<WindowedRef>) {
        self.expr.windowed(into);
    }
    /// Whether the formula compares segments (`UNIQUES(A1) / UNIQUES(A2)`): it is evaluated
    /// once over the segments' results, not within each segment.
    pub(crate) fn crosses_segments(&self) -> bool {
        let mut read = BTreeSet::new();
        self.metrics(&mut read);
        read.iter().any(|m| m.segment.is_some())
    }
}

/// The points a metric is counted over, at each point, for `CUMSUM` and `ROLLWIN` of a metric
/// that does not add up across points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Window {
    /// From the first point of the range to this one.
    Cumulative,
    /// The last `n` points, this one included, from the first point of the range at most.
    Last(usize),
}

impl Window {
    /// Per point of a range of `points`, the run of points the window covers.
    pub(crate) fn folds(self, points: usize) -> Vec<Range<usize>> {
        (0..points)
            .map(|p| match self {
                Window::Cumulative => 0..p + 1,
                Window::Last(n) => (p + 1).saturating_sub(n)..p + 1,
            })
            .collect()
    }
}

/// A metric counted over a window of points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct WindowedRef {
    pub(crate) metric: MetricRef,
    pub(crate) window: Window,
}

/// A metric of one series (Amplitude's formula metrics, §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Metric {
    /// `UNIQUES`: distinct persons who did the series' event in the point.
    Uniques,
    /// `TOTALS`: events.
    Totals,
    /// `ACTIVE`: uniques ÷ persons active in the point, as a fraction (the `active_percent`
    /// measure ÷ 100); null when nobody was active.
    Active,
    /// `AVG`: totals ÷ uniques; null when nobody did the event.
    Average,
    /// `PROPSUM`: sum of the series' numeric property.
    PropertySum,
    /// `PROPAVG`: mean of the series' numeric property over the events having it (Amplitude:
    /// `PROPSUM/TOTALS`, ignoring "(none)").
    PropertyAverage,
    /// `PROPMIN`: smallest value of the property.
    PropertyMin,
    /// `PROPMAX`: largest value of the property.
    PropertyMax,
    /// `PROPCOUNT`: distinct values of the property (exact; Amplitude estimates it).
    PropertyDistinctCount,
    /// The persons active in the point (who did any counted event): not named in formulas,
    /// read by `ARPAU(A)` = `PROPSUM(A)` ÷ active persons.
    ActivePersons,
    /// `PERCENTILE(A, p)`: the `p`-th percentile of the property's values, `p` in hundredths
    /// of a percent (9 000 for the 90th), interpolated linearly between the nearest values.
    Percentile(u32),
    /// `FREQPERCENTILE(A, p)`: the `p`-th percentile (hundredths of a percent) of how many
    /// times each person who did the event in the point did it.
    FrequencyPercentile(u32),
    /// `SESSIONTOTALS(A)`: the sessions (distinct `session_id`, not -1) with the event.
    SessionTotals,
    /// `PROPCOUNTAVG(A)`: distinct values of the property per person (distinct (person, value)
    /// pairs ÷ the persons with a value).
    PropertyDistinctPerPerson,
}

impl Metric {
    const ALL: [Metric; 9] = [
        Metric::Uniques,
        Metric::Totals,
        Metric::Active,
        Metric::Average,
        Metric::PropertySum,
        Metric::PropertyAverage,
        Metric::PropertyMin,
        Metric::PropertyMax,
        Metric::PropertyDistinctCount,
    ];

    /// The metric's name in formulas.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Metric::Uniques => "UNIQUES",
            Metric::Totals => "TOTALS",
            Metric::Active => "ACTIVE",
            Metric::Average => "AVG",
            Metric::PropertySum => "PROPSUM",
            Metric::PropertyAverage => "PROPAVG",
            Metric::PropertyMin => "PROPMIN",
            Metric::PropertyMax => "PROPMAX",
            Metric::PropertyDistinctCount => "PROPCOUNT",
            Metric::ActivePersons => "active persons",
            Metric::Percentile(_) => "PERCENTILE",
            Metric::FrequencyPercentile(_) => "FREQPERCENTILE",
            Metric::SessionTotals => "SESSIONTOTALS",
            Metric::PropertyDistinctPerPerson => "PROPCOUNTAVG",
        }
    }

    /// The metric named `upper` (an upper-cased name); `REVENUETOTAL` is Amplitude's other
    /// name for `PROPSUM`.
    fn named(upper: &str) -> Option<Metric> {
        match upper {
            "REVENUETOTAL" => Some(Metric::PropertySum),
            "SESSIONTOTALS" => Some(Metric::SessionTotals),
            "PROPCOUNTAVG" => Some(Metric::PropertyDistinctPerPerson),
            _ => Metric::ALL.into_iter().find(|m| m.name() == upper),
        }
    }

    /// The values aggregate's measure for a property metric; `None` for the counter's metrics.
    pub(crate) fn property_measure(self) -> Option<Measure> {
        match self {
            Metric::PropertySum => Some(Measure::PropertySum),
            Metric::PropertyAverage => Some(Measure::PropertyAverage),
            Metric::PropertyMin => Some(Measure::PropertyMin),
            Metric::PropertyMax => Some(Measure::PropertyMax),
            Metric::PropertyDistinctCount => Some(Measure::PropertyDistinctCount),
            // The values a median keeps, summarised at the metric's percentile.
            Metric::Percentile(_) => Some(Measure::PropertyMedian),
            // Each person's events, summarised at the metric's percentile.
            Metric::FrequencyPercentile(_) => Some(Measure::Frequency),
            // Distinct session ids, counted like distinct property values.
            Metric::SessionTotals | Metric::PropertyDistinctPerPerson => {
                Some(Measure::PropertyDistinctCount)
            }
            Metric::Uniques
            | Metric::Totals
            | Metric::Active
            | Metric::Average
            | Metric::ActivePersons => None,
        }
    }

    /// The percentile a values aggregate summarises at, in hundredths of a percent.
    pub(crate) fn percentile(self) -> Option<u32> {
        match self {
            Metric::Percentile(hundredths) | Metric::FrequencyPercentile(hundredths) => {
                Some(hundredths)
            }
            _ => None,
        }
    }

    /// Whether the metric reads the series' property (so the series must have one).
    pub(crate) fn reads_property(self) -> bool {
        self != Metric::SessionTotals
            && self.property_measure().is_some_and(Measure::reads_property)
    }

    /// Whether the metric has a values aggregate of its own even where the series measures
    /// the same (its summary differs from the measure's).
    pub(crate) fn own_values(self) -> bool {
        self.percentile().is_some()
            || matches!(
                self,
                Metric::SessionTotals | Metric::PropertyDistinctPerPerson
            )
    }

    /// Whether the metric of several points is the sum of each point's, so `CUMSUM` and
    /// `ROLLWIN` can add point values exactly.
    pub(crate) fn additive(self) -> bool {
        matches!(self, Metric::Totals | Metric::PropertySum)
    }

    /// Whether `CUMSUM` and `ROLLWIN` take the metric: those that add up, and uniques, which
    /// the counter counts once per window. The ratios and the property metrics built on
    /// persons or values across points are refused.
    fn windowable(self) -> bool {
        self.additive() || self == Metric::Uniques
    }
}

/// A metric of the series at index `series` (A = 0): in the segment being evaluated, or, for a
/// formula across segments (`UNIQUES(A1)`), in segment `segment` (the first is 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct MetricRef {
    pub(crate) metric: Metric,
    pub(crate) series: usize,
    pub(crate) segment: Option<usize>,
}

impl MetricRef {
    /// The same metric in the segment being evaluated: what one segment's scan measures.
    pub(crate) fn in_own_segment(self) -> MetricRef {
        MetricRef {
            segment: None,
            ..self
        }
    }
}

/// A number written in a formula (never NaN: it is parsed from digits), compared by its bits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Literal(pub(crate) f64);

impl PartialEq for Literal {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Literal {}

/// `+ - * /`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinaryOp {
    Add,
    Subtract,
    Multiply,
    Divide,
}

/// The functions of §4.1 applied to values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    /// `EXP(x)`: e^x; null above 700 (Amplitude's limit).
    Exp,
    /// `LN(x)`: natural logarithm; null for x ≤ 0.
    Ln,
    /// `LOG(x)`: base-10 logarithm, `LOG(x, b)` base b; null for x ≤ 0 or a base ≤ 0 or 1.
    Log,
    /// `LOG10(x)`: base-10 logarithm; null for x ≤ 0.
    Log10,
    /// `POWER(x, y)`: x^y; null when not a finite real number.
    Power,
    /// `SQRT(x)`: null for x < 0.
    Sqrt,
    /// `TRENDLINE(x)`: the least-squares line through x's values over the points (x's nulls
    /// left out), at every point; a single value is a flat line, no value is null throughout.
    Trendline,
}

/// A parsed formula.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    Number(Literal),
    Metric(MetricRef),
    /// `CUMSUM(metric, A)`: the metric from the first point of the range to this one.
    Cumulative(MetricRef),
    /// `ROLLAVG(metric, A, n)`: the unweighted mean of the metric's values at the last `n`
    /// points, this one included.
    RollingAverage(MetricRef, usize),
    /// `ROLLWIN(metric, A, n)`: the metric over the last `n` points, this one included.
    RollingWindow(MetricRef, usize),
    Negate(Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    Call(Function, Vec<Expr>),
}

impl Expr {
    /// The first rolling or cumulative function in the formula, by name.
    fn aggregation(&self) -> Option<&'static str> {
        match self {
            Expr::Cumulative(_) => Some("CUMSUM"),
            Expr::RollingAverage(..) => Some("ROLLAVG"),
            Expr::RollingWindow(..) => Some("ROLLWIN"),
            Expr::Number(_) | Expr::Metric(_) => None,
            Expr::Negate(e) => e.aggregation(),
            Expr::Binary(_, a, b) => a.aggregation().or_else(|| b.aggregation()),
            Expr::Call(_, args) => args.iter().find_map(Expr::aggregation),
        }
    }

    fn metrics(&self, into: &mut BTreeSet<MetricRef>) {
        match self {
            Expr::Number(_) => {}
            Expr::Metric(m)
            | Expr::Cumulative(m)
            | Expr::RollingAverage(m, _)
            | Expr::RollingWindow(m, _) => {
                into.insert(*m);
            }
            Expr::Negate(e) => e.metrics(into),
            Expr::Binary(_, a, b) => {
                a.metrics(into);
                b.metrics(into);
            }
            Expr::Call(_, args) => args.iter().for_each(|a| a.metrics(into)),
        }
    }

    fn windowed(&self, into: &mut BTreeSet<WindowedRef>) {
        match self {
            Expr::Cumulative(m) if !m.metric.additive() => {
                into.insert(WindowedRef {
                    metric: *m,
                    window: Window::Cumulative,
                });
            }
            Expr::RollingWindow(m, n) if !m.metric.additive() => {
                into.insert(WindowedRef {
                    metric: *m,
                    window: Window::Last(*n),
                });
            }
            Expr::Number(_)
            | Expr::Metric(_)
            | Expr::Cumulative(_)
            | Expr::RollingWindow(..)
            | Expr::RollingAverage(..) => {}
            Expr::Negate(e) => e.windowed(into),
            Expr::Binary(_, a, b) => {
                a.windowed(into);
                b.windowed(into);
            }
            Expr::Call(_, args) => args.iter().for_each(|a| a.windowed(into)),
        }
    }
}

/// The longest rolling window at `interval` (Amplitude's maximum windows, §4.1).
fn max_window(interval: Interval) -> parse::MaxWindow {
    match interval {
        Interval::Hour => (72, "hours"),
        Interval::Day => (90, "days"),
        Interval::Week => (12, "weeks"),
        Interval::Month => (12, "months"),
    }
}

/// Checks a segmentation's formulas against its validated series, its number of segments and
/// whether it has a group-by (a formula across segments is refused with one), its interval and
/// view (by name, when there is one: formulas' own windows are refused under it).
pub(crate) fn validate(
    specs: &[FormulaSpec],
    series: &[SeriesQuery],
    (segments, grouped): (usize, bool),
    interval: Interval,
    view: Option<&'static str>,
) -> Result<Vec<Formula>, SpecError> {
    if specs.len() > crate::spec::MAX_FORMULAS {
        return Err(SpecError::FormulaCount {
            found: specs.len(),
            max: crate::spec::MAX_FORMULAS,
        });
    }
    specs
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            let wrong = |field, problem| SpecError::Formula {
                index,
                field,
                problem,
            };
            let (format, expr, text) =
                parse::formula(&spec.formula, series, segments, max_window(interval))
                    .map_err(|p| wrong("formula", p))?;
            let mut read = BTreeSet::new();
            expr.metrics(&mut read);
            let across = read.iter().filter(|m| m.segment.is_some()).count();
            if across > 0 && across < read.len() {
                return Err(wrong("formula", FormulaProblem::MixedSegmentReferences));
            }
            if across > 0 && grouped {
                return Err(wrong("formula", FormulaProblem::SegmentsWithGroupBy));
            }
            if let (Some(view), Some(function)) = (view, expr.aggregation()) {
                return Err(wrong(
                    "formula",
                    FormulaProblem::AggregationUnderView { function, view },
                ));
            }
            let format = match (format, spec.format) {
                (Some((prefix, implied)), Some(given)) if implied != given => {
                    return Err(wrong(
                        "format",
                        FormulaProblem::FormatConflict {
                            prefix,
                            implied: implied.as_str(),
                            given: given.as_str(),
                        },
                    ));
                }
                (Some((_, implied)), _) => implied,
                (None, given) => given.unwrap_or_default(),
            };
            let name = match &spec.name {
                Some(name) if name.trim().is_empty() => {
                    return Err(wrong("name", FormulaProblem::EmptyName));
                }
                Some(name) => name.clone(),
                None => text.clone(),
            };
            Ok(Formula {
                text,
                name,
                format,
                expr,
            })
        })
        .collect()
}
