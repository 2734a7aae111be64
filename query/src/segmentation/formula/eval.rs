//! Evaluating a parsed formula over the metrics' point values, in `f64`, one point at a time.
//!
//! A point's value is null (`None`) where it is undefined: a division by zero, `LN`/`LOG`/
//! `LOG10` of a number ≤ 0 (or a base ≤ 0 or 1), `SQRT` of a negative number, `EXP` above 700
//! (Amplitude's limit, §4.1), and any result that is not a finite number (`POWER(-8, 1/3)`,
//! an overflow). Null propagates: an operation with a null operand is null.

use std::collections::BTreeMap;

use super::{BinaryOp, Expr, Function, Literal, MetricRef, Window, WindowedRef};

/// Each metric a formula reads, with its value at every point.
pub(crate) type MetricValues = BTreeMap<MetricRef, Vec<Option<f64>>>;

/// What formulas read: each metric at every point, and the metrics counted over windows of
/// points (uniques of `CUMSUM` / `ROLLWIN`) at every point.
#[derive(Debug, Default)]
pub(crate) struct Inputs {
    pub(crate) metrics: MetricValues,
    pub(crate) windowed: BTreeMap<WindowedRef, Vec<Option<f64>>>,
}

/// `expr` at each of `points` points; an error names a metric missing from `inputs` (a bug).
pub(crate) fn evaluate(
    expr: &Expr,
    inputs: &Inputs,
    points: usize,
) -> Result<Vec<Option<f64>>, String> {
    let windowed = |metric: &MetricRef, window: Window| {
        let key = WindowedRef {
            metric: *metric,
            window,
        };
        match inputs.windowed.get(&key) {
            Some(values) if values.len() == points => Ok(values.clone()),
            _ => Err(format!(
                "{} of series {} over {window:?} was not computed for {points} points",
                metric.metric.name(),
                metric.series
            )),
        }
    };
    let metrics = &inputs.metrics;
    let lookup = |m: &MetricRef| match metrics.get(m) {
        Some(values) if values.len() == points => Ok(values.as_slice()),
        Some(values) => Err(format!(
            "{} of series {} has {} values for {points} points",
            m.metric.name(),
            m.series,
            values.len()
        )),
        None => Err(format!(
            "{} of series {} was not computed",
            m.metric.name(),
            m.series
        )),
    };
    Ok(match expr {
        Expr::Number(Literal(n)) => vec![Some(*n); points],
        Expr::Metric(m) => lookup(m)?.to_vec(),
        Expr::Cumulative(m) if m.metric.additive() => window_sums(lookup(m)?, points),
        Expr::Cumulative(m) => windowed(m, Window::Cumulative)?,
        Expr::RollingWindow(m, n) if m.metric.additive() => window_sums(lookup(m)?, *n),
        Expr::RollingWindow(m, n) => windowed(m, Window::Last(*n))?,
        Expr::RollingAverage(m, n) => rolling_means(lookup(m)?, *n),
        Expr::Negate(e) => evaluate(e, inputs, points)?
            .into_iter()
            .map(|v| v.map(|x| -x))
            .collect(),
        Expr::Binary(op, a, b) => {
            let a = evaluate(a, inputs, points)?;
            let b = evaluate(b, inputs, points)?;
            a.into_iter()
                .zip(b)
                .map(|(x, y)| binary(*op, x?, y?))
                .collect()
        }
        Expr::Call(Function::Trendline, arguments) => match arguments.as_slice() {
            [argument] => trendline(&evaluate(argument, inputs, points)?),
            _ => return Err("TRENDLINE takes one argument".to_owned()),
        },
        Expr::Call(function, arguments) => {
            let arguments = arguments
                .iter()
                .map(|a| evaluate(a, inputs, points))
                .collect::<Result<Vec<_>, _>>()?;
            (0..points)
                .map(|p| {
                    let values = arguments.iter().map(|a| a[p]).collect::<Option<Vec<_>>>()?;
                    call(*function, &values)
                })
                .collect()
        }
    })
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn binary(op: BinaryOp, x: f64, y: f64) -> Option<f64> {
    finite(match op {
        BinaryOp::Add => x + y,
        BinaryOp::Subtract => x - y,
        BinaryOp::Multiply => x * y,
        BinaryOp::Divide if y == 0.0 => return None,
        BinaryOp::Divide => x / y,
    })
}

/// Largest argument of `EXP` (Amplitude's limit; e^700 ≈ 1e304 still fits an `f64`).
const MAX_EXP: f64 = 700.0;

fn call(function: Function, values: &[f64]) -> Option<f64> {
    let x = *values.first()?;
    finite(match function {
        Function::Exp if x > MAX_EXP => return None,
        Function::Exp => x.exp(),
        Function::Ln | Function::Log | Function::Log10 if x <= 0.0 => return None,
        Function::Ln => x.ln(),
        Function::Log10 => x.log10(),
        Function::Log => match values.get(1) {
            None => x.log10(),
            Some(&base) if base <= 0.0 || base == 1.0 => return None,
            Some(&base) => x.ln() / base.ln(),
        },
        Function::Power => x.powf(*values.get(1)?),
        Function::Sqrt if x < 0.0 => return None,
        Function::Sqrt => x.sqrt(),
        // Over every point at once: evaluated by `trendline`, never point by point.
        Function::Trendline => return None,
    })
}

/// The least-squares line through the defined values (point index against value), at every
/// point: a single value gives a flat line, no value nulls throughout.
fn trendline(values: &[Option<f64>]) -> Vec<Option<f64>> {
    let known: Vec<(f64, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(p, v)| v.map(|y| (p as f64, y)))
        .collect();
    if known.is_empty() {
        return vec![None; values.len()];
    }
    let n = known.len() as f64;
    let mean_x = known.iter().map(|(x, _)| x).sum::<f64>() / n;
    let mean_y = known.iter().map(|(_, y)| y).sum::<f64>() / n;
    let spread: f64 = known.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    let slope = match spread {
        0.0 => 0.0,
        _ => {
            known
                .iter()
                .map(|(x, y)| (x - mean_x) * (y - mean_y))
                .sum::<f64>()
                / spread
        }
    };
    (0..values.len())
        .map(|p| finite(mean_y + slope * (p as f64 - mean_x)))
        .collect()
}

/// At each point, the sum of the values at the last `n` points, this one included (the window
/// starts no earlier than the first point of the range); nulls are left out, and a window of
/// nulls only is null. Only for metrics that add up across points (`TOTALS`, `PROPSUM`).
fn window_sums(values: &[Option<f64>], n: usize) -> Vec<Option<f64>> {
    (0..values.len())
        .map(|p| {
            let window = &values[(p + 1).saturating_sub(n)..=p];
            window.iter().flatten().copied().reduce(|a, b| a + b)
        })
        .collect()
}

/// At each point, the unweighted mean of the values at the last `n` points, this one included
/// (§4.1); the window starts no earlier than the first point of the range, and null points are
/// left out of the mean (null when every point of the window is).
fn rolling_means(values: &[Option<f64>], n: usize) -> Vec<Option<f64>> {
    (0..values.len())
        .map(|p| {
            let present: Vec<f64> = values[(p + 1).saturating_sub(n)..=p]
                .iter()
                .flatten()
                .copied()
                .collect();
            (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64)
        })
        .collect()
}
