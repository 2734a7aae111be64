use std::collections::BTreeMap;

use super::*;
use crate::spec::{PropertyRef, SeriesEvent};

/// Series A (uniques), B (totals), C (property sum of `price`).
fn series() -> Vec<SeriesQuery> {
    let plain = |measure| SeriesQuery {
        event: SeriesEvent::Type("View".into()),
        measure,
        property: None,
        frequency_buckets: Vec::new(),
    };
    vec![
        plain(Measure::Uniques),
        plain(Measure::Totals),
        SeriesQuery {
            property: Some(PropertyRef::Event("price".into())),
            ..plain(Measure::PropertySum)
        },
    ]
}

fn parse(text: &str) -> Result<Expr, FormulaProblem> {
    parse::formula(text, &series(), 2, (90, "days")).map(|(_, expr, _)| expr)
}

fn problem(text: &str) -> FormulaProblem {
    parse(text).expect_err(text)
}

fn metric(metric: Metric, series: usize) -> Expr {
    Expr::Metric(MetricRef {
        metric,
        series,
        segment: None,
    })
}

fn n(x: f64) -> Expr {
    Expr::Number(Literal(x))
}

fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    Expr::Binary(op, Box::new(a), Box::new(b))
}

#[test]
fn multiplication_binds_tighter_and_operators_associate_left() {
    use BinaryOp::*;
    assert_eq!(
        parse("1 + 2 * 3").unwrap(),
        bin(Add, n(1.0), bin(Multiply, n(2.0), n(3.0)))
    );
    assert_eq!(
        parse("8 - 4 - 2").unwrap(),
        bin(Subtract, bin(Subtract, n(8.0), n(4.0)), n(2.0))
    );
    assert_eq!(
        parse("8 / 4 / 2").unwrap(),
        bin(Divide, bin(Divide, n(8.0), n(4.0)), n(2.0))
    );
    assert_eq!(
        parse("(1 + 2) * 3").unwrap(),
        bin(Multiply, bin(Add, n(1.0), n(2.0)), n(3.0))
    );
}

#[test]
fn unary_minus_binds_tighter_than_multiplication() {
    use BinaryOp::*;
    assert_eq!(
        parse("-2 * 3").unwrap(),
        bin(Multiply, Expr::Negate(Box::new(n(2.0))), n(3.0))
    );
    assert_eq!(
        parse("1 - -UNIQUES(A)").unwrap(),
        bin(
            Subtract,
            n(1.0),
            Expr::Negate(Box::new(metric(Metric::Uniques, 0)))
        )
    );
    assert_eq!(parse("+.5").unwrap(), n(0.5));
}

#[test]
fn names_and_letters_are_case_insensitive() {
    let upper = parse("UNIQUES(B)/UNIQUES(A)").unwrap();
    assert_eq!(parse("uniques(b) / Uniques( a )").unwrap(), upper);
    assert_eq!(
        parse("rollavg(totals, b, 7)").unwrap(),
        Expr::RollingAverage(
            MetricRef {
                metric: Metric::Totals,
                series: 1,
                segment: None,
            },
            7
        )
    );
    assert_eq!(
        parse("CumSum(PropSum, c)").unwrap(),
        Expr::Cumulative(MetricRef {
            metric: Metric::PropertySum,
            series: 2,
            segment: None,
        })
    );
    assert_eq!(
        parse("log(100, 10) + sqrt(4)").unwrap(),
        bin(
            BinaryOp::Add,
            Expr::Call(Function::Log, vec![n(100.0), n(10.0)]),
            Expr::Call(Function::Sqrt, vec![n(4.0)])
        )
    );
}

#[test]
fn prefixes_set_the_format_and_are_not_part_of_the_text() {
    let (format, _, text) =
        parse::formula("  %: UNIQUES(B) / UNIQUES(A)", &series(), 2, (90, "days")).unwrap();
    assert_eq!(format, Some(("%:", FormulaFormat::Percent)));
    assert_eq!(text, "UNIQUES(B) / UNIQUES(A)");
    let (format, _, _) = parse::formula("$:PROPSUM(C)", &series(), 2, (90, "days")).unwrap();
    assert_eq!(format, Some(("$:", FormulaFormat::Currency)));
    // Positions count the prefix.
    assert!(matches!(
        parse::formula("%:UNIQUES(Z)", &series(), 2, (90, "days")),
        Err(FormulaProblem::UnknownSeries { at: 11, .. })
    ));
}

#[test]
fn syntax_errors_say_where_and_what_was_expected() {
    assert_eq!(
        problem("UNIQUES(A) +"),
        FormulaProblem::Expected {
            at: 13,
            expected: "a number, '(' or a function call such as UNIQUES(A)",
            found: "the end of the formula".into()
        }
    );
    assert_eq!(
        problem("(1 + 2"),
        FormulaProblem::Expected {
            at: 7,
            expected: "')'",
            found: "the end of the formula".into()
        }
    );
    assert_eq!(
        problem("1 2"),
        FormulaProblem::Expected {
            at: 3,
            expected: "an operator (+ - * /) or the end of the formula",
            found: "number 2".into()
        }
    );
    assert!(matches!(
        problem("UNIQUES(A) % 2"),
        FormulaProblem::Expected { at: 12, .. }
    ));
    assert!(matches!(
        problem("UNIQUES(A; B)"),
        FormulaProblem::Expected { at: 10, .. }
    ));
    assert_eq!(problem("   "), FormulaProblem::Empty);
    assert_eq!(problem("%:"), FormulaProblem::Empty);
    assert!(matches!(
        problem(&"1+".repeat(600)),
        FormulaProblem::TooLong { found: 1200, .. }
    ));
    assert!(matches!(
        problem(&format!("{}1{}", "(".repeat(40), ")".repeat(40))),
        FormulaProblem::TooDeep { at: 33, max: 32 }
    ));
    assert!(matches!(
        problem(&"-".repeat(100)),
        FormulaProblem::TooDeep { .. }
    ));
}

#[test]
fn unknown_functions_series_and_segments_are_named() {
    assert_eq!(
        problem("2 * MEDIAN(A)"),
        FormulaProblem::UnknownFunction {
            at: 5,
            name: "MEDIAN".into()
        }
    );
    assert_eq!(
        problem("UNIQUES(D)"),
        FormulaProblem::UnknownSeries {
            at: 9,
            letter: "D".into(),
            last: 'C'
        }
    );
    // Two segments are compared (`parse`): A1 and A2 exist, A0 and A3 do not.
    for (text, reference) in [("UNIQUES(A3)/UNIQUES(A2)", "A3"), ("UNIQUES(A0)", "A0")] {
        assert_eq!(
            problem(text),
            FormulaProblem::SegmentReference {
                at: 9,
                reference: reference.into(),
                segments: 2,
            }
        );
    }
    assert!(parse("UNIQUES(A1)/UNIQUES(a2) + CUMSUM(UNIQUES, B2)").is_ok());
    assert!(matches!(
        problem("UNIQUES(D1)"),
        FormulaProblem::UnknownSeries { at: 9, .. }
    ));
    assert!(matches!(
        problem("UNIQUES(price)"),
        FormulaProblem::Expected { at: 9, .. }
    ));
    assert!(matches!(
        problem("UNIQUES + 1"),
        FormulaProblem::MisplacedMetric { at: 1, .. }
    ));
    assert!(matches!(
        problem("SQRT(A)"),
        FormulaProblem::Expected { at: 6, .. }
    ));
}

#[test]
fn wrong_arity_is_refused() {
    let arity = |text: &str| match problem(text) {
        FormulaProblem::Arity {
            function, found, ..
        } => (function, found),
        other => panic!("{text}: {other:?}"),
    };
    assert_eq!(arity("UNIQUES(A, B)"), ("UNIQUES", 2));
    assert_eq!(arity("TOTALS()"), ("TOTALS", 0));
    assert_eq!(arity("ROLLAVG(UNIQUES, A)"), ("ROLLAVG", 2));
    assert_eq!(arity("CUMSUM(TOTALS, A, 3)"), ("CUMSUM", 3));
    assert_eq!(arity("POWER(2)"), ("POWER", 1));
    assert_eq!(arity("LOG(1, 2, 3)"), ("LOG", 3));
    assert_eq!(arity("exp()"), ("EXP", 0));
}

#[test]
fn property_metrics_need_a_property_and_windows_whole_points() {
    assert_eq!(
        problem("PROPSUM(A)"),
        FormulaProblem::NoProperty {
            at: 1,
            metric: "PROPSUM",
            letter: 'A'
        }
    );
    assert!(parse("PROPAVG(C) + PROPCOUNT(C) + PROPMIN(C) + PROPMAX(C)").is_ok());
    assert!(matches!(
        problem("ROLLAVG(PROPMAX, B, 3)"),
        FormulaProblem::NoProperty { at: 9, .. }
    ));
    for bad in ["0", "2.5", "91", "A", "1+1"] {
        assert!(
            matches!(
                problem(&format!("ROLLAVG(UNIQUES, A, {bad})")),
                FormulaProblem::Window { at: 21, .. }
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        problem("ROLLAVG(UNIQUES(A), A, 3)"),
        FormulaProblem::Expected { at: 9, .. }
    ));
}

#[test]
fn running_sums_take_metrics_that_add_up_and_uniques() {
    for metric in ["ACTIVE", "AVG"] {
        assert_eq!(
            problem(&format!("CUMSUM({metric}, A)")),
            FormulaProblem::NotAdditive {
                at: 1,
                aggregation: "CUMSUM",
                metric: Metric::named(metric).unwrap().name()
            }
        );
    }
    for metric in ["PROPAVG", "PROPMIN", "PROPMAX", "PROPCOUNT"] {
        assert!(matches!(
            problem(&format!("ROLLWIN({metric}, C, 2)")),
            FormulaProblem::NotAdditive {
                aggregation: "ROLLWIN",
                ..
            }
        ));
    }
    assert!(parse("CUMSUM(TOTALS, A) + ROLLWIN(PROPSUM, C, 7) + ROLLAVG(UNIQUES, A, 7)").is_ok());
    assert!(parse("CUMSUM(UNIQUES, A) + ROLLWIN(UNIQUES, B, 7)").is_ok());
}

#[test]
fn validate_names_the_formula_field_and_applies_formats() {
    let spec = |formula: &str, format: Option<FormulaFormat>, name: Option<&str>| FormulaSpec {
        formula: formula.into(),
        name: name.map(str::to_owned),
        format,
    };
    let formulas = validate(
        &[
            spec("%:UNIQUES(B)/UNIQUES(A)", None, None),
            spec("TOTALS(A)", Some(FormulaFormat::Currency), Some("Spend")),
        ],
        &series(),
        (0, false),
        Interval::Day,
        None,
    )
    .unwrap();
    assert_eq!(formulas[0].format, FormulaFormat::Percent);
    assert_eq!(formulas[0].name, "UNIQUES(B)/UNIQUES(A)");
    assert_eq!(formulas[1].format, FormulaFormat::Currency);
    assert_eq!(formulas[1].name, "Spend");
    let error = validate(
        &[
            spec("1", None, None),
            spec("%:1", Some(FormulaFormat::Currency), None),
        ],
        &series(),
        (0, false),
        Interval::Day,
        None,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "formulas[1].format: the formula's \"%:\" prefix asks for percent, but format is currency"
    );
    let error = validate(
        &[spec("1", None, Some(" "))],
        &series(),
        (0, false),
        Interval::Day,
        None,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "formulas[0].name: must not be empty when given"
    );
    let error = validate(
        &[spec("UNIQUES(Q)", None, None)],
        &series(),
        (0, false),
        Interval::Day,
        None,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "formulas[0].formula: at character 9: there is no series Q; this segmentation has \
         series A to C"
    );
    let error = validate(
        &[spec("ROLLAVG(UNIQUES, A, 73)", None, None)],
        &series(),
        (0, false),
        Interval::Hour,
        None,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "formulas[0].formula: at character 21: the window must be a whole number of points from 1 \
         to 72 (72 hours is Amplitude's longest window), got 73"
    );
    assert!(
        validate(
            &[spec("ROLLAVG(UNIQUES, A, 72)", None, None)],
            &series(),
            (0, false),
            Interval::Hour,
            None,
        )
        .is_ok()
    );
    // Under a view the formula's own windows are refused; plain metrics are not.
    let error = validate(
        &[spec("1 + CUMSUM(TOTALS, A)", None, None)],
        &series(),
        (0, false),
        Interval::Day,
        Some("rolling_average"),
    )
    .unwrap_err();
    assert!(
        error.to_string().starts_with(
            "formulas[0].formula: CUMSUM cannot be combined with view rolling_average"
        ),
        "{error}"
    );
    assert!(
        validate(
            &[spec("TOTALS(A) / UNIQUES(A)", None, None)],
            &series(),
            (0, false),
            Interval::Day,
            Some("cumulative"),
        )
        .is_ok()
    );
    let eleven = vec![spec("1", None, None); 11];
    assert!(matches!(
        validate(&eleven, &series(), (0, false), Interval::Day, None),
        Err(SpecError::FormulaCount { found: 11, max: 10 })
    ));
}

fn inputs() -> eval::MetricValues {
    let mut inputs = BTreeMap::new();
    let m = |metric, series| MetricRef {
        metric,
        series,
        segment: None,
    };
    inputs.insert(
        m(Metric::Uniques, 0),
        vec![Some(4.0), Some(0.0), Some(2.0), Some(6.0)],
    );
    inputs.insert(
        m(Metric::Uniques, 1),
        vec![Some(1.0), Some(0.0), Some(2.0), Some(3.0)],
    );
    inputs.insert(
        m(Metric::Totals, 1),
        vec![Some(3.0), Some(0.0), Some(5.0), Some(1.0)],
    );
    inputs.insert(
        m(Metric::PropertyAverage, 2),
        vec![Some(2.0), None, Some(4.0), None],
    );
    inputs
}

fn eval(text: &str) -> Vec<Option<f64>> {
    evaluate(&parse(text).expect(text), &given(inputs()), 4).expect(text)
}

#[test]
fn arithmetic_per_point_with_null_on_zero_division() {
    assert_eq!(
        eval("UNIQUES(B) / UNIQUES(A)"),
        [Some(0.25), None, Some(1.0), Some(0.5)]
    );
    assert_eq!(
        eval("-UNIQUES(A) + 2 * 3"),
        [Some(2.0), Some(6.0), Some(4.0), Some(0.0)]
    );
    // Null propagates through every operation.
    assert_eq!(
        eval("PROPAVG(C) * 0 + 1"),
        [Some(1.0), None, Some(1.0), None]
    );
    assert_eq!(eval("1 / (UNIQUES(A) - UNIQUES(A))"), [None; 4]);
}

#[test]
fn functions_are_null_outside_their_domain() {
    assert_eq!(eval("EXP(0)"), [Some(1.0); 4]);
    assert_eq!(eval("EXP(700)")[0], Some(700f64.exp()));
    assert_eq!(eval("EXP(700.5)"), [None; 4]);
    assert_eq!(eval("LN(UNIQUES(B))")[..2], [Some(0.0), None]);
    assert_eq!(eval("LOG(1000)"), [Some(3.0); 4]);
    assert!((eval("LOG(8, 2)")[0].unwrap() - 3.0).abs() < 1e-12);
    assert_eq!(eval("LOG(8, 1)"), [None; 4]);
    assert_eq!(eval("LOG(8, -2)"), [None; 4]);
    assert_eq!(eval("LOG10(0)"), [None; 4]);
    assert_eq!(eval("LOG10(-1)"), [None; 4]);
    assert_eq!(
        eval("SQRT(UNIQUES(A))"),
        [Some(2.0), Some(0.0), Some(2f64.sqrt()), Some(6f64.sqrt())]
    );
    assert_eq!(eval("SQRT(-0.01)"), [None; 4]);
    assert_eq!(eval("POWER(2, 10)"), [Some(1024.0); 4]);
    assert_eq!(eval("POWER(-8, 1/3)"), [None; 4]);
    assert_eq!(eval("POWER(0, -1)"), [None; 4]);
    assert_eq!(eval("POWER(10, 400)"), [None; 4]);
}

#[test]
fn rolling_and_cumulative_aggregations() {
    assert_eq!(
        eval("CUMSUM(TOTALS, B)"),
        [Some(3.0), Some(3.0), Some(8.0), Some(9.0)]
    );
    assert_eq!(
        eval("ROLLWIN(TOTALS, B, 2)"),
        [Some(3.0), Some(3.0), Some(5.0), Some(6.0)]
    );
    assert_eq!(
        eval("ROLLAVG(UNIQUES, A, 3)"),
        [Some(4.0), Some(2.0), Some(2.0), Some(8.0 / 3.0)]
    );
    assert_eq!(
        eval("ROLLAVG(UNIQUES, A, 1)"),
        [Some(4.0), Some(0.0), Some(2.0), Some(6.0)]
    );
    // Null points are left out of the mean; a window of nulls only is null.
    assert_eq!(
        eval("ROLLAVG(PROPAVG, C, 2)"),
        [Some(2.0), Some(2.0), Some(4.0), Some(4.0)]
    );
    assert_eq!(
        evaluate(
            &parse("ROLLAVG(PROPAVG, C, 1)").unwrap(),
            &given(inputs()),
            4
        )
        .unwrap(),
        [Some(2.0), None, Some(4.0), None]
    );
}

#[test]
fn a_missing_metric_is_an_error_not_a_panic() {
    let error = evaluate(&parse("TOTALS(A)").unwrap(), &given(inputs()), 4).unwrap_err();
    assert!(error.contains("TOTALS of series 0"), "{error}");
    let error = evaluate(&parse("UNIQUES(A)").unwrap(), &given(inputs()), 3).unwrap_err();
    assert!(error.contains("4 values for 3 points"), "{error}");
}

/// Every metric of the three test series, at 4 points, and every window `expr` reads.
fn every_metric(expr: &Expr) -> Inputs {
    let mut metrics = BTreeMap::new();
    for series in 0..3 {
        let hidden = [Metric::ActivePersons, Metric::Percentile(9_000)];
        for metric in Metric::ALL.into_iter().chain(hidden) {
            let values = vec![Some(2.0), Some(0.0), None, Some(-1.5)];
            metrics.insert(
                MetricRef {
                    metric,
                    series,
                    segment: None,
                },
                values,
            );
        }
    }
    let mut windows = BTreeSet::new();
    expr.windowed(&mut windows);
    let windowed = windows
        .into_iter()
        .map(|w| (w, vec![Some(2.0), Some(2.0), Some(3.0), Some(3.0)]))
        .collect();
    Inputs { metrics, windowed }
}

/// `metrics` as the inputs of formulas without windows over uniques.
fn given(metrics: eval::MetricValues) -> Inputs {
    Inputs {
        metrics,
        windowed: BTreeMap::new(),
    }
}

#[test]
fn windows_over_uniques_read_the_persons_counted_per_window() {
    let mut inputs = given(inputs());
    let b = MetricRef {
        metric: Metric::Uniques,
        series: 1,
        segment: None,
    };
    // Person counts per window, fewer than the points' sums (1, 1, 3, 6 and 1, 1, 2, 5): a
    // person in several points is one.
    let cumulative = vec![Some(1.0), Some(1.0), Some(2.0), Some(4.0)];
    let last_two = vec![Some(1.0), Some(0.0), Some(2.0), Some(4.0)];
    for (window, values) in [
        (Window::Cumulative, cumulative.clone()),
        (Window::Last(2), last_two.clone()),
    ] {
        inputs
            .windowed
            .insert(WindowedRef { metric: b, window }, values);
    }
    let eval = |text: &str| evaluate(&parse(text).expect(text), &inputs, 4).expect(text);
    assert_eq!(eval("CUMSUM(UNIQUES, B)"), cumulative);
    assert_eq!(eval("ROLLWIN(uniques, B, 2)"), last_two);
    // Totals still add the points' values.
    assert_eq!(
        eval("CUMSUM(TOTALS, B)"),
        [Some(3.0), Some(3.0), Some(8.0), Some(9.0)]
    );
    // A window not counted is an error, not a guess.
    let error = evaluate(&parse("ROLLWIN(UNIQUES, B, 3)").unwrap(), &inputs, 4).unwrap_err();
    assert!(error.contains("Last(3)"), "{error}");
    let mut windows = BTreeSet::new();
    parse("CUMSUM(UNIQUES, B) / ROLLWIN(UNIQUES, A, 7) + CUMSUM(TOTALS, A)")
        .unwrap()
        .windowed(&mut windows);
    let a = MetricRef { series: 0, ..b };
    assert_eq!(
        windows.into_iter().collect::<Vec<_>>(),
        [
            WindowedRef {
                metric: a,
                window: Window::Last(7)
            },
            WindowedRef {
                metric: b,
                window: Window::Cumulative
            },
        ]
    );
}

#[test]
fn arpau_divides_the_revenue_by_the_active_persons_and_revenuetotal_is_propsum() {
    let c = |metric| MetricRef {
        metric,
        series: 2,
        segment: None,
    };
    let mut metrics = inputs();
    metrics.insert(
        c(Metric::PropertySum),
        vec![Some(60.0), Some(0.0), Some(5.0), None],
    );
    metrics.insert(
        c(Metric::ActivePersons),
        vec![Some(4.0), Some(1.0), Some(2.0), Some(0.0)],
    );
    let inputs = given(metrics);
    let eval = |text: &str| evaluate(&parse(text).expect(text), &inputs, 4).expect(text);
    assert_eq!(eval("ARPAU(C)"), [Some(15.0), Some(0.0), Some(2.5), None]);
    assert_eq!(eval("revenuetotal(C)"), eval("PROPSUM(C)"));
    assert_eq!(eval("CUMSUM(REVENUETOTAL, C)"), eval("CUMSUM(PROPSUM, C)"));
    // ARPAU reads the series' property, like PROPSUM.
    assert!(matches!(
        problem("ARPAU(A)"),
        FormulaProblem::NoProperty { .. }
    ));
    assert!(matches!(
        problem("ARPAU(C, 2)"),
        FormulaProblem::Arity { .. }
    ));
}

#[test]
fn percentile_takes_a_series_with_a_property_and_a_number_from_0_to_100() {
    let p90 = MetricRef {
        metric: Metric::Percentile(9_000),
        series: 2,
        segment: None,
    };
    let mut metrics = inputs();
    metrics.insert(p90, vec![Some(7.5), None, Some(1.0), Some(2.0)]);
    let values = evaluate(&parse("percentile(C, 90)").unwrap(), &given(metrics), 4).unwrap();
    assert_eq!(values, [Some(7.5), None, Some(1.0), Some(2.0)]);
    let mut read = BTreeSet::new();
    parse("PERCENTILE(C, 99.9) - PERCENTILE(C, 0)")
        .unwrap()
        .metrics(&mut read);
    let hundredths: Vec<_> = read.iter().filter_map(|m| m.metric.percentile()).collect();
    assert_eq!(hundredths, [0, 9_990]);
    assert!(matches!(
        problem("PERCENTILE(A, 90)"),
        FormulaProblem::NoProperty { .. }
    ));
    for bad in [
        "PERCENTILE(C, 101)",
        "PERCENTILE(C, -1)",
        "PERCENTILE(C, 1 + 2)",
    ] {
        assert!(
            matches!(problem(bad), FormulaProblem::Expected { .. }),
            "{bad}"
        );
    }
    assert!(matches!(
        problem("PERCENTILE(C)"),
        FormulaProblem::Arity { .. }
    ));
}

#[test]
fn trendline_fits_a_least_squares_line_over_the_points() {
    let metrics = inputs();
    let inputs = given(metrics);
    let eval = |text: &str| evaluate(&parse(text).expect(text), &inputs, 4).expect(text);
    // UNIQUES(A) = 4, 0, 2, 6: mean 3 at x = 1.5, slope
    // (−1.5·1 − 0.5·(−3) + 0.5·(−1) + 1.5·3) / (2.25 + 0.25 + 0.25 + 2.25) = 4 / 5.
    let line = eval("TRENDLINE(UNIQUES(A))");
    let want = [1.8, 2.6, 3.4, 4.2];
    for (got, want) in line.iter().zip(want) {
        assert!((got.unwrap() - want).abs() < 1e-12, "{line:?}");
    }
    // Nulls are left out of the fit, but the line has a value at every point.
    let line = eval("TRENDLINE(PROPAVG(C))");
    assert_eq!(line, [Some(2.0), Some(3.0), Some(4.0), Some(5.0)]);
    // A flat line through a single value; nothing through no value.
    // PROPAVG(C) / (UNIQUES(A) - 2) = 2 / 2, null, 4 / 0 (null), null.
    assert_eq!(
        eval("TRENDLINE(PROPAVG(C) / (UNIQUES(A) - 2))"),
        [Some(1.0); 4]
    );
    assert_eq!(eval("TRENDLINE(UNIQUES(A) / 0)"), [None; 4]);
    assert!(matches!(
        problem("TRENDLINE(UNIQUES(A), 2)"),
        FormulaProblem::Arity { .. }
    ));
}

#[test]
fn window_folds_start_no_earlier_than_the_range() {
    assert_eq!(Window::Cumulative.folds(3), [0..1, 0..2, 0..3]);
    assert_eq!(Window::Last(2).folds(3), [0..1, 0..2, 1..3]);
}

mod random_text {
    use proptest::prelude::*;

    use super::*;

    fn text() -> impl Strategy<Value = String> {
        let words = prop::collection::vec(
            prop::sample::select(vec![
                "UNIQUES", "propsum", "ROLLAVG", "CUMSUM", "LOG", "POWER", "A", "c", "D", "A1",
                "(", ")", ",", "-", "+", "*", "/", "7", "0", ".5", "%:", " ",
            ]),
            0..40,
        )
        .prop_map(|tokens| tokens.concat());
        prop_oneof!["[A-Za-z0-9_().,+*/ %$:-]{0,60}", words]
    }

    proptest! {
        #[test]
        fn any_text_is_parsed_or_refused_and_evaluates_without_panicking(text in text()) {
            if let Ok((_, expr, _)) = parse::formula(&text, &series(), 2, (90, "days")) {
                let values = evaluate(&expr, &every_metric(&expr), 4);
                prop_assert!(values.is_ok(), "{:?}: {:?}", text, values);
            }
        }
    }
}
