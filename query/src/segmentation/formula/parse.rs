//! The formula grammar, parsed by recursive descent with one token of look-ahead:
//!
//! ```text
//! formula    = [ "%:" | "$:" ] expression
//! expression = term { ("+" | "-") term }
//! term       = unary { ("*" | "/") unary }
//! unary      = ("-" | "+") unary | primary
//! primary    = number | "(" expression ")" | NAME "(" [ argument { "," argument } ] ")"
//! argument   = NAME | expression          (a bare name: a series letter or a metric)
//! ```
//!
//! Names are case-insensitive. Positions in errors are 1-based characters of the whole text.

use super::{BinaryOp, Expr, Function, Literal, MAX_DEPTH, MAX_FORMULA_CHARS, Metric, MetricRef};
use crate::error::FormulaProblem;
use crate::spec::{FormulaFormat, SeriesQuery};

/// The output-format prefix found (as written, and what it means), the expression, and the
/// expression's text without the prefix.
pub(super) type Parsed = (Option<(&'static str, FormulaFormat)>, Expr, String);

/// The longest rolling window, in points, and their unit (Amplitude's maximum windows, §4.1:
/// 72 hours, 90 days, 12 weeks, 12 months).
pub(super) type MaxWindow = (usize, &'static str);

/// Parses `text` against the segmentation's `series`.
pub(super) fn formula(
    text: &str,
    series: &[SeriesQuery],
    segments: usize,
    max_window: MaxWindow,
) -> Result<Parsed, FormulaProblem> {
    let found = text.chars().count();
    if found > MAX_FORMULA_CHARS {
        return Err(FormulaProblem::TooLong {
            found,
            max: MAX_FORMULA_CHARS,
        });
    }
    let trimmed = text.trim_start();
    let mut offset = found - trimmed.chars().count();
    let mut body = trimmed;
    let mut prefix = None;
    for (written, format) in [
        ("%:", FormulaFormat::Percent),
        ("$:", FormulaFormat::Currency),
    ] {
        if let Some(rest) = trimmed.strip_prefix(written) {
            prefix = Some((written, format));
            body = rest;
            offset += 2;
        }
    }
    if body.trim().is_empty() {
        return Err(FormulaProblem::Empty);
    }
    let tokens = lex(body, offset)?;
    let mut parser = Parser {
        tokens,
        next: 0,
        depth: 0,
        series,
        segments,
        max_window,
    };
    let expr = parser.expression()?;
    let end = parser.peek();
    if end.token != Token::End {
        return Err(FormulaProblem::Expected {
            at: end.at,
            expected: "an operator (+ - * /) or the end of the formula",
            found: end.token.describe(),
        });
    }
    Ok((prefix, expr, body.trim().to_owned()))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(String),
    Name(String),
    Plus,
    Minus,
    Star,
    Slash,
    Open,
    Close,
    Comma,
    End,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Number(n) => format!("number {n}"),
            Token::Name(n) => format!("{n:?}"),
            Token::Plus => "'+'".into(),
            Token::Minus => "'-'".into(),
            Token::Star => "'*'".into(),
            Token::Slash => "'/'".into(),
            Token::Open => "'('".into(),
            Token::Close => "')'".into(),
            Token::Comma => "','".into(),
            Token::End => "the end of the formula".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Lexed {
    token: Token,
    /// 1-based character position.
    at: usize,
}

fn lex(text: &str, offset: usize) -> Result<Vec<Lexed>, FormulaProblem> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = offset + i + 1;
        let single = match c {
            '+' => Some(Token::Plus),
            '-' => Some(Token::Minus),
            '*' => Some(Token::Star),
            '/' => Some(Token::Slash),
            '(' => Some(Token::Open),
            ')' => Some(Token::Close),
            ',' => Some(Token::Comma),
            _ => None,
        };
        if let Some(token) = single {
            tokens.push(Lexed { token, at });
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i < chars.len() && chars[i] == '.' {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let number: String = chars[start..i].iter().collect();
            if number == "." {
                return Err(FormulaProblem::Expected {
                    at,
                    expected: "a number, '(' or a function call such as UNIQUES(A)",
                    found: "'.'".into(),
                });
            }
            tokens.push(Lexed {
                token: Token::Number(number),
                at,
            });
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Lexed {
                token: Token::Name(chars[start..i].iter().collect()),
                at,
            });
        } else {
            return Err(FormulaProblem::Expected {
                at,
                expected: "a number, a name, an operator (+ - * /), '(', ')' or ','",
                found: format!("{c:?}"),
            });
        }
    }
    tokens.push(Lexed {
        token: Token::End,
        at: offset + chars.len() + 1,
    });
    Ok(tokens)
}

/// A function argument: a bare name (a series letter or a metric) or an expression.
enum Argument {
    Name(String, usize),
    Value(Expr, usize),
}

impl Argument {
    fn at(&self) -> usize {
        match self {
            Argument::Name(_, at) | Argument::Value(_, at) => *at,
        }
    }
}

struct Parser<'s> {
    tokens: Vec<Lexed>,
    next: usize,
    depth: usize,
    series: &'s [SeriesQuery],
    /// The segments compared: `A1` is series A in the first.
    segments: usize,
    max_window: MaxWindow,
}

/// A percentile call: its name, the arguments it takes, and its metric at a percentile.
type PercentileCall = (&'static str, &'static str, fn(u32) -> Metric);

/// A series (its index) and, for a reference across segments, the segment (its index).
type SeriesRef = (usize, Option<usize>);

const VALUE: &str = "a number, '(' or a function call such as UNIQUES(A)";

impl Parser<'_> {
    fn peek(&self) -> Lexed {
        // The token list always ends with `End`, which is never consumed.
        self.tokens[self.next.min(self.tokens.len() - 1)].clone()
    }

    fn advance(&mut self) -> Lexed {
        let token = self.peek();
        if token.token != Token::End {
            self.next += 1;
        }
        token
    }

    fn expect(&mut self, token: Token, expected: &'static str) -> Result<(), FormulaProblem> {
        let found = self.advance();
        if found.token == token {
            Ok(())
        } else {
            Err(FormulaProblem::Expected {
                at: found.at,
                expected,
                found: found.token.describe(),
            })
        }
    }

    fn deeper(&mut self, at: usize) -> Result<(), FormulaProblem> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FormulaProblem::TooDeep { at, max: MAX_DEPTH });
        }
        Ok(())
    }

    fn expression(&mut self) -> Result<Expr, FormulaProblem> {
        let mut left = self.term()?;
        loop {
            let op = match self.peek().token {
                Token::Plus => BinaryOp::Add,
                Token::Minus => BinaryOp::Subtract,
                _ => return Ok(left),
            };
            self.advance();
            left = Expr::Binary(op, Box::new(left), Box::new(self.term()?));
        }
    }

    fn term(&mut self) -> Result<Expr, FormulaProblem> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek().token {
                Token::Star => BinaryOp::Multiply,
                Token::Slash => BinaryOp::Divide,
                _ => return Ok(left),
            };
            self.advance();
            left = Expr::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, FormulaProblem> {
        let next = self.peek();
        match next.token {
            Token::Minus | Token::Plus => {
                self.advance();
                self.deeper(next.at)?;
                let operand = self.unary()?;
                self.depth -= 1;
                Ok(match next.token {
                    Token::Minus => Expr::Negate(Box::new(operand)),
                    _ => operand,
                })
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Expr, FormulaProblem> {
        let next = self.advance();
        match next.token {
            Token::Number(text) => number(&text, next.at).map(|n| Expr::Number(Literal(n))),
            Token::Open => {
                self.deeper(next.at)?;
                let inner = self.expression()?;
                self.expect(Token::Close, "')'")?;
                self.depth -= 1;
                Ok(inner)
            }
            Token::Name(name) => {
                if self.peek().token != Token::Open {
                    return Err(bare_name(&name, next.at));
                }
                self.advance();
                self.deeper(next.at)?;
                let arguments = self.arguments()?;
                self.depth -= 1;
                self.call(&name, next.at, arguments)
            }
            other => Err(FormulaProblem::Expected {
                at: next.at,
                expected: VALUE,
                found: other.describe(),
            }),
        }
    }

    /// The arguments after `(`, through the closing `)`.
    fn arguments(&mut self) -> Result<Vec<Argument>, FormulaProblem> {
        let mut arguments = Vec::new();
        if self.peek().token == Token::Close {
            self.advance();
            return Ok(arguments);
        }
        loop {
            let start = self.peek();
            let bare = matches!(
                self.tokens.get(self.next + 1).map(|t| &t.token),
                Some(Token::Comma | Token::Close)
            );
            match start.token {
                Token::Name(name) if bare => {
                    self.advance();
                    arguments.push(Argument::Name(name, start.at));
                }
                _ => arguments.push(Argument::Value(self.expression()?, start.at)),
            }
            let separator = self.advance();
            match separator.token {
                Token::Comma => {}
                Token::Close => return Ok(arguments),
                other => {
                    return Err(FormulaProblem::Expected {
                        at: separator.at,
                        expected: "',' or ')'",
                        found: other.describe(),
                    });
                }
            }
        }
    }

    fn call(
        &self,
        name: &str,
        at: usize,
        arguments: Vec<Argument>,
    ) -> Result<Expr, FormulaProblem> {
        let upper = name.to_ascii_uppercase();
        let arity = |function, expected, fewest: usize, most: usize| {
            if (fewest..=most).contains(&arguments.len()) {
                Ok(())
            } else {
                Err(FormulaProblem::Arity {
                    at,
                    function,
                    expected,
                    found: arguments.len(),
                })
            }
        };
        if let Some(metric) = Metric::named(&upper) {
            arity(
                metric.name(),
                "1 argument, a series letter (as in UNIQUES(A))",
                1,
                1,
            )?;
            let series = self.series_letter(&arguments[0])?;
            return self.metric(metric, series, at).map(Expr::Metric);
        }
        let percentile_of: Option<PercentileCall> = match upper.as_str() {
            "PERCENTILE" => Some((
                "PERCENTILE",
                "2 arguments, a series letter and a percentile from 0 to 100 \
                 (as in PERCENTILE(A, 90))",
                Metric::Percentile,
            )),
            "FREQPERCENTILE" => Some((
                "FREQPERCENTILE",
                "2 arguments, a series letter and a percentile from 0 to 100 \
                 (as in FREQPERCENTILE(A, 90))",
                Metric::FrequencyPercentile,
            )),
            _ => None,
        };
        if let Some((function, expected, metric)) = percentile_of {
            arity(function, expected, 2, 2)?;
            let series = self.series_letter(&arguments[0])?;
            let hundredths = percentile(&arguments[1])?;
            return self
                .metric(metric(hundredths), series, at)
                .map(Expr::Metric);
        }
        if upper == "ARPAU" {
            // Average revenue per active user: the series' property sum ÷ the persons active
            // in the point (null when nobody was).
            arity(
                "ARPAU",
                "1 argument, a series letter (as in ARPAU(A))",
                1,
                1,
            )?;
            let series = self.series_letter(&arguments[0])?;
            let revenue = self.metric(Metric::PropertySum, series, at)?;
            let active = MetricRef {
                metric: Metric::ActivePersons,
                ..revenue
            };
            return Ok(Expr::Binary(
                BinaryOp::Divide,
                Box::new(Expr::Metric(revenue)),
                Box::new(Expr::Metric(active)),
            ));
        }
        let aggregation = match upper.as_str() {
            "CUMSUM" => {
                arity(
                    "CUMSUM",
                    "2 arguments, a metric and a series letter (as in CUMSUM(TOTALS, A))",
                    2,
                    2,
                )?;
                Some("CUMSUM")
            }
            "ROLLAVG" | "ROLLWIN" => {
                let function = if upper == "ROLLAVG" {
                    "ROLLAVG"
                } else {
                    "ROLLWIN"
                };
                arity(
                    function,
                    "3 arguments, a metric, a series letter and a number of points \
                     (as in ROLLAVG(UNIQUES, A, 7))",
                    3,
                    3,
                )?;
                Some(function)
            }
            _ => None,
        };
        if let Some(aggregation) = aggregation {
            let metric = metric_name(&arguments[0])?;
            let series = self.series_letter(&arguments[1])?;
            let metric = self.metric(metric, series, arguments[0].at())?;
            if aggregation != "ROLLAVG" && !metric.metric.windowable() {
                return Err(FormulaProblem::NotAdditive {
                    at,
                    aggregation,
                    metric: metric.metric.name(),
                });
            }
            return Ok(match aggregation {
                "CUMSUM" => Expr::Cumulative(metric),
                "ROLLAVG" => Expr::RollingAverage(metric, window(&arguments[2], self.max_window)?),
                _ => Expr::RollingWindow(metric, window(&arguments[2], self.max_window)?),
            });
        }
        let (function, expected, fewest, most) = match upper.as_str() {
            "EXP" => (Function::Exp, "1 argument", 1, 1),
            "LN" => (Function::Ln, "1 argument", 1, 1),
            "LOG" => (
                Function::Log,
                "1 or 2 arguments (a value, then a base: 10 when absent)",
                1,
                2,
            ),
            "LOG10" => (Function::Log10, "1 argument", 1, 1),
            "POWER" => (
                Function::Power,
                "2 arguments (a base and an exponent)",
                2,
                2,
            ),
            "SQRT" => (Function::Sqrt, "1 argument", 1, 1),
            "TRENDLINE" => (Function::Trendline, "1 argument", 1, 1),
            _ => {
                return Err(FormulaProblem::UnknownFunction {
                    at,
                    name: name.to_owned(),
                });
            }
        };
        arity(function_name(function), expected, fewest, most)?;
        let values = arguments
            .into_iter()
            .map(|argument| match argument {
                Argument::Value(expr, _) => Ok(expr),
                Argument::Name(name, at) => Err(bare_name(&name, at)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Expr::Call(function, values))
    }

    /// `metric` of series `series`, refused when it reads a property the series does not have.
    fn metric(
        &self,
        metric: Metric,
        (series, segment): SeriesRef,
        at: usize,
    ) -> Result<MetricRef, FormulaProblem> {
        if metric.reads_property() && self.series[series].property.is_none() {
            return Err(FormulaProblem::NoProperty {
                at,
                metric: metric.name(),
                letter: letter(series),
            });
        }
        Ok(MetricRef {
            metric,
            series,
            segment,
        })
    }

    /// The series an argument names (`A` is the first), and the segment when it names one
    /// (`A1` is series A in the first segment).
    fn series_letter(&self, argument: &Argument) -> Result<SeriesRef, FormulaProblem> {
        let (name, at) = match argument {
            Argument::Name(name, at) => (name.as_str(), *at),
            Argument::Value(_, at) => {
                return Err(FormulaProblem::Expected {
                    at: *at,
                    expected: "a series letter (A for the first series, B, …)",
                    found: "an expression".into(),
                });
            }
        };
        let mut chars = name.chars();
        let first = chars.next().map(|c| c.to_ascii_uppercase());
        let rest = chars.as_str();
        let (c, segment) = match first {
            Some(c @ 'A'..='Z') if rest.is_empty() => (c, None),
            Some(c @ 'A'..='Z') if rest.chars().all(|c| c.is_ascii_digit()) => {
                let segment = rest.parse::<usize>().ok().filter(|&n| n >= 1);
                let (Some(segment), true) = (segment, segment <= Some(self.segments)) else {
                    return Err(FormulaProblem::SegmentReference {
                        at,
                        reference: name.to_owned(),
                        segments: self.segments,
                    });
                };
                (c, Some(segment - 1))
            }
            _ => {
                return Err(FormulaProblem::Expected {
                    at,
                    expected: "a series letter (A for the first series, B, …)",
                    found: format!("{name:?}"),
                });
            }
        };
        let index = usize::from(c as u8 - b'A');
        if index < self.series.len() {
            Ok((index, segment))
        } else {
            Err(FormulaProblem::UnknownSeries {
                at,
                letter: name.to_owned(),
                last: letter(self.series.len().saturating_sub(1)),
            })
        }
    }
}

/// The letter of series `index`.
fn letter(index: usize) -> char {
    char::from(b'A' + u8::try_from(index).unwrap_or(25).min(25))
}

fn function_name(function: Function) -> &'static str {
    match function {
        Function::Exp => "EXP",
        Function::Ln => "LN",
        Function::Log => "LOG",
        Function::Log10 => "LOG10",
        Function::Power => "POWER",
        Function::Sqrt => "SQRT",
        Function::Trendline => "TRENDLINE",
    }
}

/// The error for a name where a value belongs.
fn bare_name(name: &str, at: usize) -> FormulaProblem {
    match Metric::named(&name.to_ascii_uppercase()) {
        Some(metric) => FormulaProblem::MisplacedMetric {
            at,
            name: metric.name().to_owned(),
            hint: "give it a series, as in UNIQUES(A)",
        },
        None => FormulaProblem::Expected {
            at,
            expected: VALUE,
            found: format!("{name:?}"),
        },
    }
}

/// The metric an aggregation's first argument names.
fn metric_name(argument: &Argument) -> Result<Metric, FormulaProblem> {
    match argument {
        Argument::Name(name, at) => {
            Metric::named(&name.to_ascii_uppercase()).ok_or_else(|| FormulaProblem::Expected {
                at: *at,
                expected: "a metric name (UNIQUES, TOTALS, ACTIVE, AVG, PROPSUM, PROPAVG, \
                           PROPMIN, PROPMAX, PROPCOUNT or REVENUETOTAL)",
                found: format!("{name:?}"),
            })
        }
        Argument::Value(_, at) => Err(FormulaProblem::Expected {
            at: *at,
            expected: "a metric name without a series, as in CUMSUM(TOTALS, A)",
            found: "an expression".into(),
        }),
    }
}

/// A percentile from 0 to 100, in hundredths of a percent (`99.9` is 9 990).
fn percentile(argument: &Argument) -> Result<u32, FormulaProblem> {
    let problem = |at, found: String| FormulaProblem::Expected {
        at,
        expected: "a percentile from 0 to 100 (as in PERCENTILE(A, 90))",
        found,
    };
    match argument {
        Argument::Value(Expr::Number(Literal(p)), at) if (0.0..=100.0).contains(p) => {
            Ok((p * 100.0).round() as u32)
        }
        Argument::Value(Expr::Number(Literal(p)), at) => Err(problem(*at, p.to_string())),
        Argument::Value(_, at) => Err(problem(*at, "an expression".into())),
        Argument::Name(name, at) => Err(problem(*at, format!("{name:?}"))),
    }
}

/// A rolling window: a whole number of points, 1 to the longest window at the interval.
fn window(argument: &Argument, (max, unit): MaxWindow) -> Result<usize, FormulaProblem> {
    let problem = |at, found| FormulaProblem::Window {
        at,
        found,
        max,
        unit,
    };
    match argument {
        Argument::Value(Expr::Number(Literal(n)), at) => {
            if n.fract() == 0.0 && *n >= 1.0 && *n <= max as f64 {
                Ok(*n as usize)
            } else {
                Err(problem(*at, n.to_string()))
            }
        }
        Argument::Value(_, at) => Err(problem(*at, "an expression".into())),
        Argument::Name(name, at) => Err(problem(*at, format!("{name:?}"))),
    }
}

fn number(text: &str, at: usize) -> Result<f64, FormulaProblem> {
    text.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .ok_or_else(|| FormulaProblem::Expected {
            at,
            expected: "a number",
            found: text.to_owned(),
        })
}
