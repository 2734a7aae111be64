//! Cohorts (`"analysis": "cohort"`): a plain reference written from the documented definitions
//! (per person, over the events in memory) is compared with the engine on random events and
//! random definitions — every condition type, nested `all` / `any` / `not`, each range form, two
//! time zones (New York's clock change on 2025-03-09 gives a 23-hour day), events after `as_of`
//! and ties at one millisecond — plus hand-computed cases for every condition.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Days, NaiveDate, TimeZone};
use chrono_tz::Tz;
use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_query::result::{CohortResult, QueryResult};
use sluice_query::{QueryError, QuerySpec};

use crate::support::{TestEvent, block_on, ev, run_any, utc, write_dataset};

const HOUR: i64 = 3_600_000;
const AS_OF: &str = "2025-03-10";

fn cohort(
    events: &[TestEvent],
    definition: Value,
    time_zone: &str,
) -> Result<CohortResult, QueryError> {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), events, 2);
    let spec = json!({"version": 1, "analysis": "cohort", "project": "p1",
                      "time_zone": time_zone, "as_of": AS_OF, "limit": 1000,
                      "definition": definition});
    let spec = QuerySpec::from_json(&spec.to_string()).expect("valid spec JSON");
    match run_any(dir.path(), &spec)? {
        QueryResult::Cohort(result) => Ok(result),
        other => panic!("not a cohort result: {other:?}"),
    }
}

fn members(result: &CohortResult) -> BTreeSet<String> {
    result
        .members
        .iter()
        .map(|m| m.user_id.clone().expect("users"))
        .collect()
}

// ---- The reference ----

/// A random condition, evaluated by the reference and written as JSON for the engine.
#[derive(Debug, Clone)]
enum Def {
    All(Vec<Def>),
    Any(Vec<Def>),
    Not(Box<Def>),
    Leaf(Leaf, Span),
}

#[derive(Debug, Clone)]
enum Leaf {
    Count(Ev, Op, u32),
    Sum(Ev, Op, u32),
    DistinctCategories(Ev, Op, u32),
    DistinctDays(Ev, Op, u32),
    Nth(Ev, u32),
    DidNot(Ev),
    Plan(&'static str, bool),
    UserIds(Vec<String>),
    /// A 2- or 3-step funnel (30-minute window) entered in the span: reached step `k`
    /// (`dropped`: exactly `k`).
    Funnel(Vec<&'static str>, u8, bool),
    /// The person's first event is in the span.
    WasNew,
    /// An event of the first, then one of the second strictly later, both in the span.
    Then(Ev, Ev),
    /// The first's count compared with the second's, in the span.
    Relative(Ev, Op, Ev),
    /// Started in the span, returned (or not) in periods after.
    Retention(RetLeaf),
    /// The state in the day or week starting on offset `in` (a Monday for weeks).
    Lifecycle(Ev, &'static str, bool, u64),
}

/// A retention condition: start (`None`: new users, the first event meeting `new_only_x`),
/// return event, weeks or days, calendar or rolling, periods `[a, b)`, returned or not.
#[derive(Debug, Clone)]
struct RetLeaf {
    start: Option<Ev>,
    new_only_x: bool,
    ret: Ev,
    week: bool,
    calendar: bool,
    window: (u32, u32),
    returned: bool,
}

/// An event picked: a type or `_all`, optionally only of category `x`.
#[derive(Debug, Clone)]
struct Ev {
    event_type: &'static str,
    only_x: bool,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Equal,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

/// Days as offsets from 2025-03-01 (`as_of` is offset 9), or per person from their first
/// event.
#[derive(Debug, Clone, Copy)]
enum Span {
    Between(u64, u64),
    Last(u64),
    Since(u64),
    /// From the person's first event through the end of the local day N days after its day.
    FirstUse(u64),
}

fn day(offset: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 1).expect("date") + Days::new(offset)
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Equal => "equal",
            Op::Greater => "greater",
            Op::GreaterOrEqual => "greater_or_equal",
            Op::Less => "less",
            Op::LessOrEqual => "less_or_equal",
        }
    }

    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Op::Equal => left == right,
            Op::Greater => left > right,
            Op::GreaterOrEqual => left >= right,
            Op::Less => left < right,
            Op::LessOrEqual => left <= right,
        }
    }
}

impl Span {
    fn json(self) -> Value {
        match self {
            Span::Between(a, b) => {
                json!({"from": day(a).to_string(), "to": day(b).to_string()})
            }
            Span::Last(n) => json!({"last_days": n}),
            Span::Since(a) => json!({"since": day(a).to_string()}),
            Span::FirstUse(n) => json!({"within_days_of_first_use": n}),
        }
    }

    /// The first and last day of a fixed span.
    fn days(self) -> (NaiveDate, NaiveDate) {
        match self {
            Span::Between(a, b) => (day(a), day(b)),
            Span::Last(n) => (day(9 + 1 - n), day(9)),
            Span::Since(a) => (day(a), day(9)),
            Span::FirstUse(_) => panic!("a range per person has no fixed days"),
        }
    }
}

impl Ev {
    fn json(&self) -> Value {
        let mut event = json!({"event_type": self.event_type});
        if self.only_x {
            event["where"] = json!([{"kind": "event", "property": "category", "op": "is",
                                     "values": ["x"]}]);
        }
        event
    }

    fn matches(&self, e: &TestEvent) -> bool {
        (self.event_type == "_all" || e.event_type == self.event_type)
            && (!self.only_x || e.category.as_deref() == Some("x"))
    }
}

impl Def {
    fn json(&self) -> Value {
        match self {
            Def::All(items) => json!({"all": items.iter().map(Def::json).collect::<Vec<_>>()}),
            Def::Any(items) => json!({"any": items.iter().map(Def::json).collect::<Vec<_>>()}),
            Def::Not(inner) => json!({"not": inner.json()}),
            Def::Leaf(leaf, span) => {
                let during = span.json();
                let performed = |ev: &Ev, key: &str, measure: Value| {
                    let mut p = json!({"event": ev.json(), "during": during});
                    if !key.is_empty() {
                        p[key] = measure;
                    }
                    json!({"performed": p})
                };
                match leaf {
                    Leaf::Count(ev, op, n) => {
                        performed(ev, "count", json!({"op": op.name(), "value": n}))
                    }
                    Leaf::Sum(ev, op, n) => performed(
                        ev,
                        "sum",
                        json!({"property": "amount", "op": op.name(), "value": n}),
                    ),
                    Leaf::DistinctCategories(ev, op, n) => performed(
                        ev,
                        "distinct_values",
                        json!({"property": "category", "op": op.name(), "value": n}),
                    ),
                    Leaf::DistinctDays(ev, op, n) => {
                        performed(ev, "distinct_days", json!({"op": op.name(), "value": n}))
                    }
                    Leaf::Nth(ev, n) => performed(ev, "nth_time", json!(n)),
                    Leaf::DidNot(ev) => {
                        json!({"did_not_perform": {"event": ev.json(), "during": during}})
                    }
                    Leaf::Plan(plan, any_time) => json!({"user_property": {
                        "property": "plan", "op": "is", "values": [plan],
                        "mode": if *any_time { "any_time" } else { "most_recent" },
                        "during": during}}),
                    Leaf::UserIds(ids) => json!({"user_ids": ids}),
                    Leaf::WasNew => json!({"was_new": {"during": during}}),
                    Leaf::Then(a, b) => json!({"then": {"first": a.json(), "then": b.json(),
                                                        "during": during}}),
                    Leaf::Relative(a, op, b) => json!({"relative_count": {
                        "event": a.json(), "op": op.name(), "compared_to": b.json(),
                        "during": during}}),
                    Leaf::Retention(r) => {
                        let start = match &r.start {
                            Some(ev) => ev.json(),
                            None => Ev {
                                event_type: "_new",
                                only_x: r.new_only_x,
                            }
                            .json(),
                        };
                        let mut c = json!({"start_event": start, "return_event": r.ret.json(),
                            "started_during": during,
                            "interval": if r.week { "week" } else { "day" },
                            "boundaries": if r.calendar { "calendar" } else { "rolling" },
                            "returned": r.returned});
                        let (a, b) = r.window;
                        if b == a + 1 {
                            c["period"] = json!(a);
                        } else {
                            c["periods"] = json!([a, b]);
                        }
                        json!({"retention": c})
                    }
                    Leaf::Lifecycle(ev, state, week, offset) => json!({"lifecycle": {
                        "event": ev.json(), "state": state,
                        "interval": if *week { "week" } else { "day" },
                        "in": day(*offset).to_string()}}),
                    Leaf::Funnel(steps, k, dropped) => {
                        let steps: Vec<Value> =
                            steps.iter().map(|s| json!({"event_type": s})).collect();
                        let mut f = json!({"steps": steps, "during": during,
                            "conversion_window": {"value": 30, "unit": "minute"}});
                        f[if *dropped { "dropped_after" } else { "reached" }] = json!(k);
                        json!({"funnel": f})
                    }
                }
            }
        }
    }
}

/// The reference: one person's events (all counted, of project `p1`, up to the end of `as_of`).
struct Person<'a> {
    events: Vec<&'a TestEvent>,
    tz: Tz,
}

fn start_of(date: NaiveDate, tz: Tz) -> i64 {
    tz.from_local_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight"))
        .earliest()
        .expect("a midnight")
        .timestamp_millis()
}

impl Person<'_> {
    fn span_ms(&self, span: Span) -> (i64, i64) {
        if let Span::FirstUse(n) = span {
            // The person's events are those up to the end of as_of: the first is among them.
            let first = self
                .events
                .iter()
                .map(|e| e.ts)
                .min()
                .expect("a person has events");
            let day = self
                .tz
                .timestamp_millis_opt(first)
                .single()
                .expect("time")
                .date_naive();
            let end = start_of(day + Days::new(n + 1), self.tz) - 1;
            return (first, end.min(start_of(self::day(10), self.tz) - 1));
        }
        let (from, to) = span.days();
        (
            start_of(from, self.tz),
            start_of(to + Days::new(1), self.tz) - 1,
        )
    }

    fn in_span(&self, ev: &Ev, span: Span) -> Vec<&TestEvent> {
        let (from, to) = self.span_ms(span);
        self.events
            .iter()
            .copied()
            .filter(|e| ev.matches(e) && e.ts >= from && e.ts <= to)
            .collect()
    }

    fn holds(&self, def: &Def) -> bool {
        match def {
            Def::All(items) => items.iter().all(|d| self.holds(d)),
            Def::Any(items) => items.iter().any(|d| self.holds(d)),
            Def::Not(inner) => !self.holds(inner),
            Def::Leaf(leaf, span) => self.leaf(leaf, *span),
        }
    }

    fn leaf(&self, leaf: &Leaf, span: Span) -> bool {
        match leaf {
            Leaf::Count(ev, op, n) => op.holds(self.in_span(ev, span).len() as f64, f64::from(*n)),
            Leaf::Sum(ev, op, n) => {
                let amounts: Vec<f64> = self
                    .in_span(ev, span)
                    .iter()
                    .filter_map(|e| e.amount)
                    .collect();
                !amounts.is_empty() && op.holds(amounts.iter().sum(), f64::from(*n))
            }
            Leaf::DistinctCategories(ev, op, n) => {
                let values: BTreeSet<&str> = self
                    .in_span(ev, span)
                    .iter()
                    .filter_map(|e| e.category.as_deref())
                    .collect();
                op.holds(values.len() as f64, f64::from(*n))
            }
            Leaf::DistinctDays(ev, op, n) => {
                let days: BTreeSet<NaiveDate> = self
                    .in_span(ev, span)
                    .iter()
                    .map(|e| {
                        let t = self.tz.timestamp_millis_opt(e.ts).single().expect("time");
                        t.date_naive()
                    })
                    .collect();
                op.holds(days.len() as f64, f64::from(*n))
            }
            Leaf::Nth(ev, n) => {
                let (from, to) = self.span_ms(span);
                let mut times: Vec<i64> = self
                    .events
                    .iter()
                    .filter(|e| ev.matches(e))
                    .map(|e| e.ts)
                    .collect();
                times.sort_unstable();
                times
                    .get(*n as usize - 1)
                    .is_some_and(|&t| t >= from && t <= to)
            }
            Leaf::DidNot(ev) => self.in_span(ev, span).is_empty(),
            Leaf::Plan(plan, any_time) => {
                let all = Ev {
                    event_type: "_all",
                    only_x: false,
                };
                let seen = self.in_span(&all, span);
                let has = |e: &&TestEvent| e.plan.as_deref() == Some(*plan);
                if *any_time {
                    seen.iter().any(has)
                } else {
                    let last = seen.iter().map(|e| e.ts).max();
                    seen.iter().any(|e| Some(e.ts) == last && has(e))
                }
            }
            Leaf::UserIds(ids) => {
                let user = self.events.iter().filter_map(|e| e.user_id.clone()).max();
                user.is_some_and(|u| ids.contains(&u))
            }
            Leaf::Relative(a, op, b) => op.holds(
                self.in_span(a, span).len() as f64,
                self.in_span(b, span).len() as f64,
            ),
            Leaf::Then(a, b) => {
                let firsts = self.in_span(a, span);
                let thens = self.in_span(b, span);
                firsts.iter().any(|x| thens.iter().any(|y| y.ts > x.ts))
            }
            Leaf::WasNew => {
                let (from, to) = self.span_ms(span);
                self.events
                    .iter()
                    .map(|e| e.ts)
                    .min()
                    .is_some_and(|first| (from..=to).contains(&first))
            }
            Leaf::Retention(r) => self.retention(r, span),
            Leaf::Lifecycle(ev, state, week, offset) => self.lifecycle(ev, state, *week, *offset),
            Leaf::Funnel(steps, k, dropped) => {
                let (from, to) = self.span_ms(span);
                let funnel = crate::reference::RefFunnel {
                    steps: steps.iter().map(|s| (*s).to_owned()).collect(),
                    window_ms: 30 * 60_000,
                    entry_from_ms: from,
                    entry_to_ms: to,
                    project: None,
                    held: Vec::new(),
                    exclusions: Vec::new(),
                    order: crate::reference::RefOrder::This,
                    groups: Vec::new(),
                    step_categories: vec![None; steps.len()],
                    strict: None,
                    segment: None,
                };
                let level = crate::reference::person_level(&self.events, &funnel);
                let k = usize::from(*k);
                if *dropped { level == k } else { level >= k }
            }
        }
    }
}

/// Period boundaries from `from` on: the first period starts with `from`, the next ones on
/// each following day (or Monday), `count` boundaries in all.
fn period_starts(from: NaiveDate, week: bool, count: usize, tz: Tz) -> Vec<i64> {
    let mut starts = vec![start_of(from, tz)];
    let mut next = from + Days::new(1);
    while starts.len() < count {
        if !week || next.weekday() == chrono::Weekday::Mon {
            starts.push(start_of(next, tz));
        }
        next = next + Days::new(1);
    }
    starts
}

/// The period of `ms` among `starts` (each period up to the next start).
fn period_of(starts: &[i64], ms: i64) -> Option<usize> {
    (0..starts.len() - 1).find(|&i| starts[i] <= ms && ms < starts[i + 1])
}

impl Person<'_> {
    /// Retention (amplitude.md §4.3): the cohort is the period of the person's first start in
    /// the span; calendar: a return in period cohort + N; rolling: a return N·24 (or N·168)
    /// to (N+1)·24 hours, times rounded down to the hour, after any start of that cohort.
    fn retention(&self, r: &RetLeaf, span: Span) -> bool {
        let (from, to) = span.days();
        let (from_ms, end_ms) = (
            start_of(from, self.tz),
            start_of(to + Days::new(1), self.tz),
        );
        // The cohorts: boundaries from `from` while before the span's end, then its end.
        let mut cohorts: Vec<i64> = period_starts(from, r.week, 40, self.tz)
            .into_iter()
            .take_while(|&s| s < end_ms)
            .collect();
        cohorts.push(end_ms);
        let first = match &r.start {
            None => {
                let first = self.events.iter().map(|e| e.ts).min();
                let only = Ev {
                    event_type: "_all",
                    only_x: r.new_only_x,
                };
                let met = self
                    .events
                    .iter()
                    .any(|e| Some(e.ts) == first && only.matches(e));
                first.filter(|&f| met && f >= from_ms && f < end_ms)
            }
            Some(ev) => self
                .events
                .iter()
                .filter(|e| ev.matches(e) && e.ts >= from_ms && e.ts < end_ms)
                .map(|e| e.ts)
                .min(),
        };
        let Some(first) = first else {
            return false;
        };
        let returns: Vec<i64> = self
            .events
            .iter()
            .filter(|e| r.ret.matches(e))
            .map(|e| e.ts)
            .collect();
        let (a, b) = (i64::from(r.window.0), i64::from(r.window.1));
        let returned = if r.calendar {
            let periods = period_starts(from, r.week, 60, self.tz);
            let Some(c) = period_of(&cohorts, first) else {
                return false;
            };
            returns.iter().any(|&t| {
                period_of(&periods, t)
                    .is_some_and(|p| (c as i64 + a..c as i64 + b).contains(&(p as i64)))
            })
        } else {
            let w = if r.week { 168 } else { 24 };
            let phase = from_ms.rem_euclid(HOUR);
            let hour = |ms: i64| (ms - phase).div_euclid(HOUR);
            let cohort_of = |ms: i64| period_of(&cohorts, (hour(ms) * HOUR + phase).max(from_ms));
            let starts: Vec<i64> = match &r.start {
                None => vec![first],
                Some(ev) => {
                    let c = cohort_of(first);
                    self.events
                        .iter()
                        .filter(|e| ev.matches(e) && e.ts >= from_ms && e.ts < end_ms)
                        .filter(|e| cohort_of(e.ts) == c)
                        .map(|e| e.ts)
                        .collect()
                }
            };
            starts.iter().any(|&s| {
                returns
                    .iter()
                    .any(|&t| t >= from_ms && (hour(s) + a * w..hour(s) + b * w).contains(&hour(t)))
            })
        };
        returned == r.returned
    }

    /// Lifecycle (amplitude.md §4.4) in the day or week starting on day `offset`.
    fn lifecycle(&self, ev: &Ev, state: &str, week: bool, offset: u64) -> bool {
        let step = if week { 7 } else { 1 };
        let at = day(offset);
        let (p0, p1, p2) = (at - Days::new(2 * step), at - Days::new(step), at);
        let bounds = [p0, p1, p2, at + Days::new(step)].map(|d| start_of(d, self.tz));
        let did = |i: usize| {
            self.events
                .iter()
                .any(|e| ev.matches(e) && bounds[i] <= e.ts && e.ts < bounds[i + 1])
        };
        let did_before_now = self
            .events
            .iter()
            .any(|e| ev.matches(e) && e.ts < bounds[2]);
        let first = self.events.iter().map(|e| e.ts).min();
        let first_now = first.is_some_and(|f| bounds[2] <= f && f < bounds[3]);
        let new = did(2) && (first_now || !did_before_now);
        match state {
            "new" => new,
            "current" => did(2) && !new && did(1),
            "resurrected" => did(2) && !new && !did(1),
            "dormant" => !did(2) && did(1),
            other => panic!("no state {other}"),
        }
    }
}

/// The members' user ids and the number of persons considered, by the reference.
fn reference(events: &[TestEvent], def: &Def, tz: Tz) -> (BTreeSet<String>, u64) {
    let end = start_of(day(10), tz) - 1;
    let mut persons: BTreeMap<&str, Vec<&TestEvent>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.ts <= end) {
        persons.entry(e.person()).or_default().push(e);
    }
    let considered = persons.len() as u64;
    let members = persons
        .into_iter()
        .filter(|(_, mine)| {
            Person {
                events: mine.clone(),
                tz,
            }
            .holds(def)
        })
        .map(|(person, _)| person.to_owned())
        .collect();
    (members, considered)
}

// ---- Strategies ----

fn ev_strategy() -> impl Strategy<Value = Ev> {
    (prop::sample::select(vec!["A", "B", "_all"]), any::<bool>())
        .prop_map(|(event_type, only_x)| Ev { event_type, only_x })
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop::sample::select(vec![
        Op::Equal,
        Op::Greater,
        Op::GreaterOrEqual,
        Op::Less,
        Op::LessOrEqual,
    ])
}

/// The same days for everyone.
fn fixed_span_strategy() -> impl Strategy<Value = Span> {
    prop_oneof![
        (0..10u64, 0..10u64).prop_map(|(a, b)| Span::Between(a.min(b), a.max(b))),
        (1..=10u64).prop_map(Span::Last),
        (0..10u64).prop_map(Span::Since),
    ]
}

fn span_strategy() -> impl Strategy<Value = Span> {
    prop_oneof![
        3 => fixed_span_strategy(),
        1 => (0..4u64).prop_map(Span::FirstUse),
    ]
}

fn leaf_strategy() -> impl Strategy<Value = Def> {
    let leaf = prop_oneof![
        (ev_strategy(), op_strategy(), 1..4u32).prop_map(|(ev, op, n)| {
            // A count below 1 is refused (did_not_perform says it).
            let n = if matches!(op, Op::Less) { n.max(2) } else { n };
            Leaf::Count(ev, op, n)
        }),
        (ev_strategy(), op_strategy(), 0..60u32).prop_map(|(ev, op, n)| Leaf::Sum(ev, op, n)),
        (ev_strategy(), op_strategy(), 0..3u32)
            .prop_map(|(ev, op, n)| Leaf::DistinctCategories(ev, op, n)),
        (ev_strategy(), op_strategy(), 0..4u32)
            .prop_map(|(ev, op, n)| Leaf::DistinctDays(ev, op, n)),
        (ev_strategy(), 1..=5u32).prop_map(|(ev, n)| Leaf::Nth(ev, n)),
        ev_strategy().prop_map(Leaf::DidNot),
        (prop::sample::select(vec!["free", "pro"]), any::<bool>())
            .prop_map(|(plan, any_time)| Leaf::Plan(plan, any_time)),
        prop::collection::vec(
            prop::sample::select(vec!["u0", "u1", "u2", "u3", "u9"]),
            1..3
        )
        .prop_map(|ids| Leaf::UserIds(ids.into_iter().map(str::to_owned).collect())),
        (
            prop::collection::vec(prop::sample::select(vec!["A", "B", "C"]), 2..=3),
            1..=3u8,
            any::<bool>()
        )
            .prop_map(|(steps, k, dropped)| {
                let n = steps.len() as u8;
                // Only what the spec accepts: reached 1..=n, dropped after 1..n.
                let k = if dropped { k.min(n - 1) } else { k.min(n) };
                Leaf::Funnel(steps, k, dropped)
            }),
        Just(Leaf::WasNew),
        (
            (
                prop::option::of(ev_strategy()),
                any::<bool>(),
                ev_strategy()
            ),
            (
                any::<bool>(),
                any::<bool>(),
                0..4u32,
                0..3u32,
                any::<bool>()
            )
        )
            .prop_map(
                |((start, new_only_x, ret), (week, calendar, a, len, returned))| {
                    Leaf::Retention(RetLeaf {
                        start,
                        new_only_x,
                        ret,
                        week,
                        calendar,
                        window: (a, a + 1 + len),
                        returned,
                    })
                }
            ),
        (
            ev_strategy(),
            prop::sample::select(vec!["new", "current", "resurrected", "dormant"]),
            any::<bool>(),
            0..10u64
        )
            .prop_map(|(ev, state, week, offset)| {
                // A week's first day: the Mondays 2025-03-03 and 2025-03-10 (offsets 2, 9).
                let offset = if week {
                    if offset < 6 { 2 } else { 9 }
                } else {
                    offset
                };
                Leaf::Lifecycle(ev, state, week, offset)
            }),
        (ev_strategy(), ev_strategy()).prop_map(|(a, b)| Leaf::Then(a, b)),
        (ev_strategy(), op_strategy(), ev_strategy())
            .prop_map(|(a, op, b)| Leaf::Relative(a, op, b)),
    ];
    (leaf, span_strategy(), fixed_span_strategy()).prop_map(|(leaf, span, fixed)| {
        // "Had been new" and funnels take the same days for everyone.
        let span = match leaf {
            Leaf::WasNew | Leaf::Funnel(..) | Leaf::Retention(_) | Leaf::Lifecycle(..) => fixed,
            _ => span,
        };
        Def::Leaf(leaf, span)
    })
}

fn def_strategy() -> impl Strategy<Value = Def> {
    leaf_strategy().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..3).prop_map(Def::All),
            prop::collection::vec(inner.clone(), 1..3).prop_map(Def::Any),
            inner.prop_map(|d| Def::Not(Box::new(d))),
        ]
    })
}

fn event_strategy() -> impl Strategy<Value = TestEvent> {
    (
        0..5u8,
        0..270i64,
        prop::sample::select(vec!["A", "B", "C"]),
        prop::option::of(prop::sample::select(vec!["x", "y"])),
        prop::option::of(prop::sample::select(vec!["free", "pro"])),
        prop::option::of(0..30u32),
    )
        .prop_map(|(user, hour, kind, category, plan, amount)| {
            // Hourly slots from 2025-02-28 12:00 UTC, past the end of as_of in both zones.
            let mut e = ev(
                utc(2025, 2, 28, 12, 0, 0) + hour * HOUR,
                kind,
                &format!("u{user}"),
            );
            e.category = category.map(str::to_owned);
            e.plan = plan.map(str::to_owned);
            e.amount = amount.map(f64::from);
            e
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn cohorts_match_the_reference(
        events in prop::collection::vec(event_strategy(), 0..60),
        def in def_strategy(),
        new_york in any::<bool>(),
    ) {
        let zone = if new_york { "America/New_York" } else { "Asia/Seoul" };
        let tz: Tz = zone.parse().expect("zone");
        let result = cohort(&events, def.json(), zone).expect("runs");
        let (want, considered) = reference(&events, &def, tz);
        prop_assert_eq!(members(&result), want.clone());
        prop_assert_eq!(result.size, want.len() as u64);
        prop_assert_eq!(result.persons, considered);
    }
}

// ---- Hand-computed cases ----

/// Events of u1..u3 around 2025-03-08..10 (UTC; the cohort is computed in UTC here).
fn shop() -> Vec<TestEvent> {
    let d8 = utc(2025, 3, 8, 10, 0, 0);
    let d9 = utc(2025, 3, 9, 10, 0, 0);
    let d10 = utc(2025, 3, 10, 10, 0, 0);
    vec![
        // u1: three views on two days (categories x, y), one purchase of 40, plan pro → free.
        ev(d8, "View", "u1").category("x").plan("pro"),
        ev(d9, "View", "u1").category("y").plan("pro"),
        ev(d9 + HOUR, "View", "u1").category("x").plan("pro"),
        ev(d10, "Purchase", "u1").amount(40.0).plan("free"),
        // u2: one view, two purchases of 15 and 30, plan pro throughout.
        ev(d10, "View", "u2").category("x").plan("pro"),
        ev(d8, "Purchase", "u2").amount(15.0).plan("pro"),
        ev(d9, "Purchase", "u2").amount(30.0).plan("pro"),
        // u3: views only; a view after as_of does not count.
        ev(d8, "View", "u3").category("y"),
        ev(utc(2025, 3, 11, 1, 0, 0), "View", "u3").category("x"),
    ]
}

fn shop_members(definition: Value) -> Vec<&'static str> {
    let result = cohort(&shop(), definition, "UTC").expect("runs");
    let found = members(&result);
    ["u1", "u2", "u3"]
        .into_iter()
        .filter(|u| found.contains(*u))
        .collect()
}

fn performed(event: &str, extra: Value) -> Value {
    let mut p = json!({"event": {"event_type": event}, "during": {"last_days": 3}});
    if let (Some(p), Value::Object(extra)) = (p.as_object_mut(), extra) {
        p.extend(extra);
    }
    json!({"performed": p})
}

#[test]
fn each_condition_by_hand() {
    let count = |op: &str, n: u32| json!({"count": {"op": op, "value": n}});
    assert_eq!(
        shop_members(performed("View", json!({}))),
        ["u1", "u2", "u3"]
    );
    assert_eq!(
        shop_members(performed("View", count("greater_or_equal", 2))),
        ["u1"]
    );
    assert_eq!(
        shop_members(performed("View", count("equal", 1))),
        ["u2", "u3"]
    );
    assert_eq!(
        shop_members(performed("View", count("less", 3))),
        ["u2", "u3"]
    );
    // Sums: u1 40, u2 45; u3 has no purchase, so no sum.
    let sum = |op: &str, n: u32| json!({"sum": {"property": "amount", "op": op, "value": n}});
    assert_eq!(
        shop_members(performed("Purchase", sum("greater", 42))),
        ["u2"]
    );
    assert_eq!(
        shop_members(performed("Purchase", sum("less_or_equal", 45))),
        ["u1", "u2"]
    );
    // Distinct categories viewed: u1 2, u2 1, u3 1 (its x view is after as_of).
    let distinct = json!({"distinct_values": {"property": "category", "op": "greater_or_equal",
                                              "value": 2}});
    assert_eq!(shop_members(performed("View", distinct)), ["u1"]);
    // Distinct days: u1 and u2 were active on 3 days, u3 on 1; u1 viewed on 2 days, u2
    // purchased on 2.
    let days = |n: u32| json!({"distinct_days": {"op": "equal", "value": n}});
    assert_eq!(shop_members(performed("_all", days(3))), ["u1", "u2"]);
    assert_eq!(shop_members(performed("View", days(2))), ["u1"]);
    assert_eq!(shop_members(performed("Purchase", days(2))), ["u2"]);
    // The second view ever on 2025-03-09 or later: u1 (its second view is on the 9th).
    let second = json!({"performed": {"event": {"event_type": "View"},
                                      "during": {"since": "2025-03-09"}, "nth_time": 2}});
    assert_eq!(shop_members(second), ["u1"]);
    // Did not purchase in the last 3 days: u3.
    let did_not = json!({"did_not_perform": {"event": {"event_type": "Purchase"},
                                             "during": {"last_days": 3}}});
    assert_eq!(shop_members(did_not), ["u3"]);
    // Plan: most recently pro (u1's last event says free), or pro at any time.
    let plan = |mode: &str| {
        json!({"user_property": {"property": "plan", "op": "is", "values": ["pro"],
                                 "mode": mode, "during": {"from": "2025-03-08", "to": "2025-03-10"}}})
    };
    assert_eq!(shop_members(plan("most_recent")), ["u2"]);
    assert_eq!(shop_members(plan("any_time")), ["u1", "u2"]);
    assert_eq!(shop_members(json!({"user_ids": ["u3", "u7"]})), ["u3"]);
    // Everyone's first event is on the 8th.
    let new_on = |from: &str, to: &str| json!({"was_new": {"during": {"from": from, "to": to}}});
    assert_eq!(
        shop_members(new_on("2025-03-08", "2025-03-08")),
        ["u1", "u2", "u3"]
    );
    assert_eq!(
        shop_members(new_on("2025-03-09", "2025-03-10")),
        Vec::<&str>::new()
    );
    // Viewed, then purchased later: u1 (u2 bought before its view).
    let then = json!({"then": {"first": {"event_type": "View"}, "then": {"event_type": "Purchase"},
                               "during": {"last_days": 3}}});
    assert_eq!(shop_members(then), ["u1"]);
    // More views than purchases: u1 (3 to 1) and u3 (1 to 0); u2 viewed once, bought twice.
    let relative = |op: &str| {
        json!({"relative_count": {"event": {"event_type": "View"}, "op": op,
                                  "compared_to": {"event_type": "Purchase"},
                                  "during": {"last_days": 3}}})
    };
    assert_eq!(shop_members(relative("greater")), ["u1", "u3"]);
    assert_eq!(shop_members(relative("less")), ["u2"]);
}

#[test]
fn conditions_combine_with_all_any_and_not() {
    // "Reached the service page but did not purchase": viewed, and not purchased.
    let viewed = performed("View", json!({}));
    let purchased = performed("Purchase", json!({}));
    assert_eq!(
        shop_members(json!({"all": [viewed.clone(), {"not": purchased.clone()}]})),
        ["u3"]
    );
    assert_eq!(
        shop_members(json!({"any": [{"user_ids": ["u3"]}, purchased]})),
        ["u1", "u2", "u3"]
    );
    assert_eq!(shop_members(json!({"not": viewed})), Vec::<&str>::new());
    let result = cohort(&shop(), json!({"user_ids": ["u1"]}), "UTC").expect("runs");
    assert_eq!((result.size, result.persons), (1, 3));
}

#[test]
fn bad_definitions_are_spec_errors_naming_the_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let error = |definition: Value| {
        let spec = json!({"version": 1, "analysis": "cohort", "as_of": AS_OF,
                          "definition": definition});
        let spec = QuerySpec::from_json(&spec.to_string()).expect("valid JSON");
        run_any(dir.path(), &spec).expect_err("refused").to_string()
    };
    let zero =
        error(json!({"all": [performed("View", json!({"count": {"op": "equal", "value": 0}}))]}));
    assert!(
        zero.contains("definition.all[0].performed.count") && zero.contains("did_not_perform"),
        "{zero}"
    );
    let two = error(performed(
        "View",
        json!({"count": {"op": "equal", "value": 1}, "nth_time": 2}),
    ));
    assert!(two.contains("at most one of"), "{two}");
    let range = error(json!({"performed": {"event": {"event_type": "View"},
                                           "during": {"last_days": 3, "since": "2025-01-01"}}}));
    assert!(
        range.contains("during") && range.contains("one form only"),
        "{range}"
    );
    let nth = error(performed("View", json!({"nth_time": 6})));
    assert!(nth.contains("nth_time") && nth.contains("1 to 5"), "{nth}");
    assert!(error(json!({"any": []})).contains("at least one condition"));
}

// ---- Saved cohorts as conditions ----

fn engine_with(events: &[TestEvent]) -> (tempfile::TempDir, sluice_query::QueryEngine) {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), events, 2);
    let engine = sluice_query::QueryEngine::new(dir.path());
    (dir, engine)
}

fn save(engine: &sluice_query::QueryEngine, name: &str, definition: Value) {
    let cohort = sluice_query::cohort::store::SavedCohort {
        name: name.to_owned(),
        description: None,
        owner: None,
        project: Some("p1".to_owned()),
        time_zone: "UTC".to_owned(),
        definition: serde_json::from_value(definition).expect("a definition"),
    };
    engine.save_cohort(&cohort).expect("saved");
}

fn daily_uniques(engine: &sluice_query::QueryEngine, extra: Value) -> Result<Value, QueryError> {
    let mut spec = json!({"version": 1, "analysis": "segmentation", "project": "p1",
                          "date_range": {"from": "2025-03-08", "to": "2025-03-10"},
                          "events": [{"event_type": "_all"}]});
    if let (Some(spec), Value::Object(extra)) = (spec.as_object_mut(), extra) {
        spec.extend(extra);
    }
    let spec = QuerySpec::from_json(&spec.to_string()).expect("spec");
    let result = block_on(engine.run(&spec))?;
    Ok(serde_json::to_value(result).expect("json"))
}

#[test]
fn a_saved_cohort_filters_and_segments_every_analysis_by_its_latest_members() {
    let (_dir, engine) = engine_with(&shop());
    // Buyers in the last 3 days: u1 and u2.
    save(&engine, "buyers", performed("Purchase", json!({})));
    let not_computed = daily_uniques(
        &engine,
        json!({"segments": [{"where": [{"kind": "cohort", "property": "buyers", "op": "is"}]}]}),
    )
    .expect_err("never computed")
    .to_string();
    assert!(
        not_computed.contains("never been computed"),
        "{not_computed}"
    );
    let (run, _) =
        block_on(engine.compute_cohort("buyers", Some(AS_OF.to_owned()), None)).expect("computed");
    assert_eq!(run.size, 2);

    // Daily active persons: u1 u2 u3 on the 8th; u1 u2 on the 9th and the 10th.
    let everyone = daily_uniques(&engine, json!({})).expect("runs");
    assert_eq!(everyone["series"][0]["values"], json!([3, 2, 2]));
    let segments = json!({"segments": [
        {"name": "buyers", "where": [{"kind": "cohort", "property": "buyers", "op": "is"}]},
        {"name": "others", "where": [{"kind": "cohort", "property": "buyers", "op": "is_not"}]},
    ]});
    let split = daily_uniques(&engine, segments).expect("runs");
    let values = |i: usize| split["segments"][i]["result"]["series"][0]["values"].clone();
    assert_eq!(values(0), json!([2, 2, 2]));
    assert_eq!(values(1), json!([1, 0, 0]));

    // As a condition on a funnel step: views by buyers only.
    let funnel = json!({"version": 1, "analysis": "funnel", "project": "p1",
        "date_range": {"from": "2025-03-08", "to": "2025-03-10"},
        "steps": [{"event_type": "View", "where": [
            {"kind": "cohort", "property": "buyers", "op": "is"}]}, {"event_type": "Purchase"}],
        "conversion_window": {"value": 3, "unit": "day"}});
    let spec = QuerySpec::from_json(&funnel.to_string()).expect("spec");
    let result = match block_on(engine.run(&spec)).expect("runs") {
        QueryResult::Funnel(f) => f,
        other => panic!("{other:?}"),
    };
    // u1 views then buys; u2's view (the 10th) comes after its purchases.
    assert_eq!(crate::support::overall(&result), [2, 1]);

    // In another cohort's definition: buyers who viewed, and everyone who is not a buyer.
    let nested = |definition: Value| -> Vec<String> {
        let spec = json!({"version": 1, "analysis": "cohort", "project": "p1", "as_of": AS_OF,
                          "definition": definition});
        let spec = QuerySpec::from_json(&spec.to_string()).expect("spec");
        match block_on(engine.run(&spec)).expect("runs") {
            QueryResult::Cohort(c) => c.members.iter().filter_map(|m| m.user_id.clone()).collect(),
            other => panic!("{other:?}"),
        }
    };
    let viewed = performed("View", json!({}));
    assert_eq!(
        nested(json!({"all": [{"in_cohort": "buyers"}, viewed]})),
        ["u1", "u2"]
    );
    assert_eq!(nested(json!({"not": {"in_cohort": "buyers"}})), ["u3"]);

    // Grouped by the cohort: its members' group and everyone else's, as the two segments.
    let grouped = daily_uniques(
        &engine,
        json!({"group_by": [{"kind": "cohort", "property": "buyers"}]}),
    )
    .expect("groups");
    let group = |i: usize| {
        (
            grouped["groups"][i]["values"].clone(),
            grouped["groups"][i]["result"]["series"][0]["values"].clone(),
        )
    };
    assert_eq!(group(0), (json!(["buyers"]), values(0)));
    assert_eq!(group(1), (json!([null]), values(1)));
    // An unknown cohort is a spec error.
    let unknown = daily_uniques(
        &engine,
        json!({"segments": [{"where": [{"kind": "cohort", "property": "nobody", "op": "is"}]}]}),
    )
    .expect_err("refused");
    assert!(unknown.is_user_error());
    assert!(unknown.to_string().contains("no saved cohort"), "{unknown}");
    let with_values = daily_uniques(
        &engine,
        json!({"segments": [{"where": [
            {"kind": "cohort", "property": "buyers", "op": "is", "values": ["x"]}]}]}),
    )
    .expect_err("refused");
    assert!(with_values.to_string().contains("is_not"), "{with_values}");
}

#[test]
fn funnel_conditions_keep_who_reached_or_dropped_after_a_step_by_as_of() {
    let d10 = utc(2025, 3, 10, 9, 0, 0);
    let events = vec![
        // u1: view → cart → purchase; u2: view → cart; u3: view only.
        ev(d10, "View", "u1"),
        ev(d10 + HOUR, "Cart", "u1"),
        ev(d10 + 2 * HOUR, "Purchase", "u1"),
        ev(d10, "View", "u2"),
        ev(d10 + HOUR, "Cart", "u2"),
        ev(d10, "View", "u3"),
        // u4 views late on as_of and puts in the cart after it: not read.
        ev(utc(2025, 3, 10, 23, 0, 0), "View", "u4"),
        ev(utc(2025, 3, 11, 0, 30, 0), "Cart", "u4"),
    ];
    let funnel = |key: &str, k: u32| {
        json!({"funnel": {
            "steps": [{"event_type": "View"}, {"event_type": "Cart"}, {"event_type": "Purchase"}],
            "conversion_window": {"value": 1, "unit": "day"},
            "during": {"last_days": 7}, key: k}})
    };
    let members = |definition: Value| -> Vec<String> {
        members(&cohort(&events, definition, "UTC").expect("runs"))
            .into_iter()
            .collect()
    };
    // "Reached step 2 but not step 3": dropped after the cart.
    assert_eq!(members(funnel("dropped_after", 2)), ["u2"]);
    assert_eq!(members(funnel("dropped_after", 1)), ["u3", "u4"]);
    assert_eq!(members(funnel("reached", 2)), ["u1", "u2"]);
    assert_eq!(members(funnel("reached", 3)), ["u1"]);
    let error = cohort(&events, funnel("dropped_after", 3), "UTC")
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("dropped_after a step from 1 to 2"),
        "{error}"
    );
}

#[test]
fn within_days_of_first_use_by_hand() {
    // Everyone's first event is on the 8th at 10:00: day 0 is the 8th, day 1 the 9th.
    let within = |n: u32| json!({"within_days_of_first_use": n});
    let performed_within = |event: &str, n: u32, extra: Value| {
        let mut p = json!({"event": {"event_type": event}, "during": within(n)});
        if let (Some(p), Value::Object(extra)) = (p.as_object_mut(), extra) {
            p.extend(extra);
        }
        json!({"performed": p})
    };
    // Viewed on the first day: u1 and u3 (u2's view is on the 10th).
    assert_eq!(
        shop_members(performed_within("View", 0, json!({}))),
        ["u1", "u3"]
    );
    // Purchased within a day of first use: u2 (8th, 9th); u1 bought on the 10th.
    assert_eq!(
        shop_members(performed_within("Purchase", 1, json!({}))),
        ["u2"]
    );
    assert_eq!(
        shop_members(performed_within("Purchase", 2, json!({}))),
        ["u1", "u2"]
    );
    // Three views within a day: u1 (8th, 9th twice).
    let count = json!({"count": {"op": "greater_or_equal", "value": 3}});
    assert_eq!(shop_members(performed_within("View", 1, count)), ["u1"]);
    // Active on two distinct days within a day of first use: u1 and u2.
    let days = json!({"distinct_days": {"op": "equal", "value": 2}});
    assert_eq!(
        shop_members(performed_within("_all", 1, days)),
        ["u1", "u2"]
    );
    let did_not = json!({"did_not_perform": {"event": {"event_type": "Purchase"},
                                             "during": within(1)}});
    assert_eq!(shop_members(did_not), ["u1", "u3"]);
    // Viewed then purchased within two days: u1 only.
    let then = json!({"then": {"first": {"event_type": "View"},
                               "then": {"event_type": "Purchase"}, "during": within(2)}});
    assert_eq!(shop_members(then), ["u1"]);
    let relative = json!({"relative_count": {"event": {"event_type": "Purchase"},
        "op": "greater", "compared_to": {"event_type": "View"}, "during": within(1)}});
    assert_eq!(shop_members(relative), ["u2"]);
}

#[test]
fn retention_conditions_by_hand() {
    let retention = |start: &str, ret: &str, extra: Value| {
        let mut r = json!({"start_event": {"event_type": start}, "return_event": {"event_type": ret},
                           "started_during": {"from": "2025-03-08", "to": "2025-03-08"}});
        if let (Some(r), Value::Object(extra)) = (r.as_object_mut(), extra) {
            r.extend(extra);
        }
        json!({"retention": r})
    };
    // Viewed on the 8th (u1, u3); u1 purchased two days later, u3 never.
    let day_two = |returned: bool, boundaries: &str| json!({"period": 2, "returned": returned, "boundaries": boundaries});
    assert_eq!(
        shop_members(retention("View", "Purchase", day_two(true, "calendar"))),
        ["u1"]
    );
    assert_eq!(
        shop_members(retention("View", "Purchase", day_two(false, "calendar"))),
        ["u3"]
    );
    // Rolling: u1 viewed at 10:00 on the 8th and bought at 10:00 on the 10th, 48 hours later.
    assert_eq!(
        shop_members(retention("View", "Purchase", day_two(true, "rolling"))),
        ["u1"]
    );
    // New users of the 8th back on day 1: u1 and u2 (u3 only comes back on the 11th, after
    // as_of); in the bracket [1, 3) as well.
    let day_one = json!({"period": 1, "returned": true});
    assert_eq!(
        shop_members(retention("_new", "_all", day_one)),
        ["u1", "u2"]
    );
    let bracket = json!({"periods": [1, 3], "returned": false});
    assert_eq!(shop_members(retention("_new", "_all", bracket)), ["u3"]);
    // Rolling windows per start: u1's views on the 9th at 10:00 and 11:00; the purchase on the
    // 10th at 10:00 is 24 hours after the first (day 1) and 23 after the second (day 0).
    let ninth = |period: u32, boundaries: &str| {
        json!({"retention": {"start_event": {"event_type": "View"},
            "return_event": {"event_type": "Purchase"},
            "started_during": {"from": "2025-03-09", "to": "2025-03-09"},
            "boundaries": boundaries, "period": period, "returned": true}})
    };
    assert_eq!(shop_members(ninth(0, "rolling")), ["u1"]);
    assert_eq!(shop_members(ninth(1, "rolling")), ["u1"]);
    assert_eq!(shop_members(ninth(0, "calendar")), Vec::<&str>::new());
    assert_eq!(shop_members(ninth(1, "calendar")), ["u1"]);
}

#[test]
fn lifecycle_conditions_by_hand() {
    let lifecycle = |state: &str, on: &str| {
        json!({"lifecycle": {"event": {"event_type": "View"}, "state": state,
                             "interval": "day", "in": on}})
    };
    // The 9th: u1 viewed on the 8th and the 9th (current); u3 only on the 8th (dormant).
    assert_eq!(shop_members(lifecycle("current", "2025-03-09")), ["u1"]);
    assert_eq!(shop_members(lifecycle("dormant", "2025-03-09")), ["u3"]);
    assert_eq!(
        shop_members(lifecycle("new", "2025-03-09")),
        Vec::<&str>::new()
    );
    // The 8th: u1 and u3 view for the first time.
    assert_eq!(shop_members(lifecycle("new", "2025-03-08")), ["u1", "u3"]);
    // The 10th: u2's first view (new to the event); u1 stopped (dormant).
    assert_eq!(shop_members(lifecycle("new", "2025-03-10")), ["u2"]);
    assert_eq!(shop_members(lifecycle("dormant", "2025-03-10")), ["u1"]);
    // Weeks: every view is in the week of Monday 2025-03-03 or of the 10th.
    let week = json!({"lifecycle": {"event": {"event_type": "View"}, "state": "resurrected",
                                    "interval": "week", "in": "2025-03-10"}});
    assert_eq!(shop_members(week), Vec::<&str>::new());
    let events = vec![
        ev(utc(2025, 3, 1, 10, 0, 0), "View", "u1"),
        ev(utc(2025, 3, 10, 10, 0, 0), "View", "u1"),
        ev(utc(2025, 3, 9, 10, 0, 0), "View", "u2"),
    ];
    let week = |state: &str| {
        let definition = json!({"lifecycle": {"event": {"event_type": "View"}, "state": state,
                                              "interval": "week", "in": "2025-03-10"}});
        members(&cohort(&events, definition, "UTC").expect("runs"))
            .into_iter()
            .collect::<Vec<_>>()
    };
    // u1: the week of Feb 24, not the week of Mar 3, again the week of Mar 10.
    assert_eq!(week("resurrected"), ["u1"]);
    assert_eq!(week("dormant"), ["u2"]);
}

#[test]
fn chart_conditions_refuse_what_they_cannot_match() {
    let dir = tempfile::tempdir().expect("tempdir");
    let error = |definition: Value| {
        let spec = json!({"version": 1, "analysis": "cohort", "as_of": AS_OF,
                          "definition": definition});
        let spec = QuerySpec::from_json(&spec.to_string()).expect("valid JSON");
        run_any(dir.path(), &spec).expect_err("refused").to_string()
    };
    let within = json!({"within_days_of_first_use": 3});
    let new = error(json!({"was_new": {"during": within}}));
    assert!(
        new.contains("was_new.during") && new.contains("per person"),
        "{new}"
    );
    let funnel = error(
        json!({"funnel": {"steps": [{"event_type": "A"}, {"event_type": "B"}],
                                         "during": within, "reached": 2}}),
    );
    assert!(funnel.contains("funnel.during"), "{funnel}");
    let both = error(json!({"performed": {"event": {"event_type": "A"},
        "during": {"within_days_of_first_use": 3, "last_days": 2}}}));
    assert!(both.contains("one form only"), "{both}");
    let retention = |extra: Value| {
        let mut r = json!({"start_event": {"event_type": "A"}, "return_event": {"event_type": "B"},
                           "started_during": {"last_days": 7}, "returned": true});
        if let (Some(r), Value::Object(extra)) = (r.as_object_mut(), extra) {
            r.extend(extra);
        }
        error(json!({"retention": r}))
    };
    let neither = retention(json!({}));
    assert!(
        neither.contains("one of \"period\" and \"periods\""),
        "{neither}"
    );
    let empty = retention(json!({"periods": [3, 3]}));
    assert!(empty.contains("from < to"), "{empty}");
    let per_person = retention(json!({"period": 1, "started_during": within}));
    assert!(per_person.contains("started_during"), "{per_person}");
    let lifecycle = |on: &str, interval: &str| {
        error(
            json!({"lifecycle": {"event": {"event_type": "A"}, "state": "new",
                                   "interval": interval, "in": on}}),
        )
    };
    let midweek = lifecycle("2025-03-05", "week");
    assert!(
        midweek.contains("lifecycle.in") && midweek.contains("give 2025-03-03"),
        "{midweek}"
    );
    let midmonth = lifecycle("2025-03-05", "month");
    assert!(midmonth.contains("give 2025-03-01"), "{midmonth}");
    assert!(lifecycle("March", "day").contains("YYYY-MM-DD"));
}
