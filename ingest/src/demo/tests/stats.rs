//! The few analyses the behaviour test checks, computed naively: ordered funnels, N-day
//! retention and the campaign lift, with people identified by `user_id` (or `device_id` for
//! those who never sign up).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde_json::Value;

const DAY_MS: i64 = 86_400_000;
const FUNNEL: [&str; 5] = [
    "Category Viewed",
    "Service Viewed",
    "Inquiry Sent",
    "Checkout Started",
    "Purchase Completed",
];

/// What the behaviour test looks at.
pub(super) struct Stats {
    /// Step-to-step conversion of [`FUNNEL`].
    pub(super) funnel: [f64; 4],
    /// Share of new people active again on day 1, 7 and 30.
    pub(super) retention: [f64; 3],
    /// Share of campaign recipients who pay within three days of the send.
    pub(super) sent_buy_rate: f64,
    /// Share of campaign clickers who pay within three days of the click.
    pub(super) clicked_buy_rate: f64,
    /// Per platform: listing views, inquiries, checkouts, payments (event counts).
    pub(super) by_platform: BTreeMap<String, [usize; 4]>,
    /// The same per category.
    pub(super) by_category: BTreeMap<String, [usize; 4]>,
    events: usize,
    people: usize,
    purchases: usize,
    revenue: f64,
}

impl Stats {
    /// Event-level conversion from funnel step `from` to the next in a breakdown row
    /// (0: listing view → inquiry, 1: inquiry → checkout, 2: checkout → payment).
    pub(super) fn step_rate(row: &[usize; 4], from: usize) -> f64 {
        row[from + 1] as f64 / row[from].max(1) as f64
    }

    /// Computes the statistics of a whole (small) data set.
    pub(super) fn of(events: &[Value]) -> Stats {
        let mut user_of_device: HashMap<&str, &str> = HashMap::new();
        for e in events {
            if let (Some(d), Some(u)) = (e["device_id"].as_str(), e["user_id"].as_str()) {
                user_of_device.entry(d).or_insert(u);
            }
        }
        let person = |e: &Value| -> Option<String> {
            let id = e["user_id"].as_str().or_else(|| {
                e["device_id"]
                    .as_str()
                    .and_then(|d| user_of_device.get(d).copied())
            });
            id.or_else(|| e["device_id"].as_str()).map(str::to_owned)
        };
        let start = events
            .iter()
            .filter_map(|e| e["time"].as_i64())
            .min()
            .unwrap_or(0);
        let mut timelines: HashMap<String, Vec<(i64, &str)>> = HashMap::new();
        let mut revenue = 0.0;
        let mut by_platform: BTreeMap<String, [usize; 4]> = BTreeMap::new();
        let mut by_category: BTreeMap<String, [usize; 4]> = BTreeMap::new();
        for e in events {
            if let Some(step) = FUNNEL[1..].iter().position(|s| e["event_type"] == *s) {
                let platform = e["platform"].as_str().unwrap_or_default().to_owned();
                let category = e["event_properties"]["category"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                by_platform.entry(platform).or_default()[step] += 1;
                by_category.entry(category).or_default()[step] += 1;
            }
            let (Some(who), Some(t), Some(name)) =
                (person(e), e["time"].as_i64(), e["event_type"].as_str())
            else {
                continue;
            };
            revenue += e.get("revenue").and_then(Value::as_f64).unwrap_or(0.0);
            timelines.entry(who).or_default().push((t, name));
        }
        let last_day = events
            .iter()
            .filter_map(|e| e["time"].as_i64())
            .max()
            .unwrap_or(0)
            .saturating_sub(start)
            / DAY_MS;
        let mut reached = [0usize; 5];
        let mut retained = [(0usize, 0usize); 3];
        let (mut sent, mut sent_buy, mut clicked, mut clicked_buy) = (0, 0, 0, 0);
        for timeline in timelines.values_mut() {
            timeline.sort();
            let mut step = 0;
            for &(_, name) in timeline.iter() {
                if step < FUNNEL.len() && name == FUNNEL[step] {
                    reached[step] += 1;
                    step += 1;
                }
            }
            let active: BTreeSet<i64> = timeline
                .iter()
                .filter(|(_, n)| {
                    !n.starts_with("Campaign Message S") && !n.starts_with("Campaign Message O")
                })
                .map(|(t, _)| (t - start) / DAY_MS)
                .collect();
            if let Some(&first) = active.first() {
                for (slot, n) in [1, 7, 30].into_iter().enumerate() {
                    if first + n <= last_day {
                        retained[slot].0 += 1;
                        retained[slot].1 += usize::from(active.contains(&(first + n)));
                    }
                }
            }
            let buys_within = |t: i64| {
                timeline
                    .iter()
                    .any(|&(b, n)| n == "Purchase Completed" && b > t && b - t < 3 * DAY_MS)
            };
            for &(t, name) in timeline.iter() {
                if name == "Campaign Message Sent" {
                    sent += 1;
                    sent_buy += usize::from(buys_within(t));
                } else if name == "Campaign Message Clicked" {
                    clicked += 1;
                    clicked_buy += usize::from(buys_within(t));
                }
            }
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        Stats {
            funnel: [0, 1, 2, 3].map(|i| ratio(reached[i + 1], reached[i])),
            retention: retained.map(|(n, r)| ratio(r, n)),
            sent_buy_rate: ratio(sent_buy, sent),
            clicked_buy_rate: ratio(clicked_buy, clicked),
            by_platform,
            by_category,
            events: events.len(),
            people: timelines.len(),
            purchases: reached[4],
            revenue,
        }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |x: f64| format!("{:.1}%", 100.0 * x);
        writeln!(
            f,
            "{} events, {} people, {} paying, revenue {:.0} KRW",
            self.events, self.people, self.purchases, self.revenue
        )?;
        writeln!(
            f,
            "funnel category→listing→inquiry→checkout→paid: {}",
            self.funnel.map(pct).join(" / ")
        )?;
        writeln!(
            f,
            "retention D1/D7/D30: {}",
            self.retention.map(pct).join(" / ")
        )?;
        for (name, table) in [
            ("platform", &self.by_platform),
            ("category", &self.by_category),
        ] {
            for (key, [views, inquiries, checkouts, paid]) in table {
                let r = |a: &usize, b: &usize| pct(*a as f64 / (*b).max(1) as f64);
                let rates = [
                    r(inquiries, views),
                    r(checkouts, inquiries),
                    r(paid, checkouts),
                ]
                .join(" / ");
                writeln!(
                    f,
                    "  {name} {key:<12} views {views:>6}  inquiry/checkout/paid per previous step: {rates}"
                )?;
            }
        }
        write!(
            f,
            "pay within 3 days: after a send {}, after a click {}",
            pct(self.sent_buy_rate),
            pct(self.clicked_buy_rate)
        )
    }
}
