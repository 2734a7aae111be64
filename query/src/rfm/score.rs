//! RFM scores and named segments, from each buyer's recency, frequency and monetary value.
//!
//! # Scores (quintiles, 1 to 5)
//! Among the persons scored, a person's score for a measure is `1 + ⌊5 · below / n⌋`, where
//! `below` counts the persons whose value is strictly worse and `n` all of them. So equal values
//! always share a score (a plain "NTILE" would split ties by chance), the best value scores
//! `1 + ⌊5 · (n − ties) / n⌋`, and a score of 5 means "better than at least 80 % of buyers".
//! Worse is: longer since the last purchase (recency), fewer purchases (frequency), less spent
//! (monetary).
//!
//! # Segments
//! From the recency score `R`, the frequency score `F` and `FM = ⌈(F + M) / 2⌉`, the first rule
//! that holds names the segment:
//!
//! | segment | rule |
//! |---|---|
//! | `champions` | R ≥ 4 and FM ≥ 4 |
//! | `new_customers` | R ≥ 4 and F = 1 |
//! | `loyal` | R ≥ 3 and FM ≥ 3 |
//! | `potential_loyalists` | R ≥ 3 |
//! | `cant_lose_them` | R = 1 and FM ≥ 4 |
//! | `at_risk` | R ≤ 2 and FM ≥ 3 |
//! | `about_to_sleep` | R = 2 |
//! | `hibernating` | FM = 2 |
//! | `lost` | otherwise (R = 1, FM = 1) |

use serde::{Deserialize, Serialize};

/// One buyer's measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Measures {
    /// Days from the last purchase to the end of the range (0: on its last day).
    pub(crate) recency_days: i64,
    /// Purchases in the range.
    pub(crate) frequency: u64,
    /// Revenue in the range.
    pub(crate) monetary: f64,
}

/// One buyer's scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Scores {
    pub(crate) r: u8,
    pub(crate) f: u8,
    pub(crate) m: u8,
}

/// The named RFM segments, in the order of their rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RfmSegment {
    /// Bought recently, often and much.
    Champions,
    /// Bought recently for the first time.
    NewCustomers,
    /// Buy regularly.
    Loyal,
    /// Recent buyers who may become loyal.
    PotentialLoyalists,
    /// Were among the best, long ago.
    CantLoseThem,
    /// Bought often or much, not lately.
    AtRisk,
    /// Below average recency and value.
    AboutToSleep,
    /// Last bought long ago, little.
    Hibernating,
    /// Lowest on every score.
    Lost,
}

impl RfmSegment {
    /// Every segment, in rule order.
    pub const ALL: [RfmSegment; 9] = [
        RfmSegment::Champions,
        RfmSegment::NewCustomers,
        RfmSegment::Loyal,
        RfmSegment::PotentialLoyalists,
        RfmSegment::CantLoseThem,
        RfmSegment::AtRisk,
        RfmSegment::AboutToSleep,
        RfmSegment::Hibernating,
        RfmSegment::Lost,
    ];

    /// The segment's name as written in specs and results.
    pub fn as_str(self) -> &'static str {
        match self {
            RfmSegment::Champions => "champions",
            RfmSegment::NewCustomers => "new_customers",
            RfmSegment::Loyal => "loyal",
            RfmSegment::PotentialLoyalists => "potential_loyalists",
            RfmSegment::CantLoseThem => "cant_lose_them",
            RfmSegment::AtRisk => "at_risk",
            RfmSegment::AboutToSleep => "about_to_sleep",
            RfmSegment::Hibernating => "hibernating",
            RfmSegment::Lost => "lost",
        }
    }

    /// The segment of `scores` (module docs).
    pub(crate) fn of(scores: Scores) -> Self {
        let Scores { r, f, m } = scores;
        let fm = (f + m).div_ceil(2);
        match () {
            _ if r >= 4 && fm >= 4 => RfmSegment::Champions,
            _ if r >= 4 && f == 1 => RfmSegment::NewCustomers,
            _ if r >= 3 && fm >= 3 => RfmSegment::Loyal,
            _ if r >= 3 => RfmSegment::PotentialLoyalists,
            _ if r == 1 && fm >= 4 => RfmSegment::CantLoseThem,
            _ if fm >= 3 => RfmSegment::AtRisk,
            _ if r == 2 => RfmSegment::AboutToSleep,
            _ if fm == 2 => RfmSegment::Hibernating,
            _ => RfmSegment::Lost,
        }
    }
}

/// Scores every buyer of `measures`, in the same order.
pub(crate) fn score(measures: &[Measures]) -> Vec<Scores> {
    // Better is: smaller recency, larger frequency, larger monetary. Rank on keys where larger
    // is better.
    let r = quintiles(measures.iter().map(|m| -(m.recency_days as f64)));
    let f = quintiles(measures.iter().map(|m| m.frequency as f64));
    let m = quintiles(measures.iter().map(|m| m.monetary));
    r.into_iter()
        .zip(f)
        .zip(m)
        .map(|((r, f), m)| Scores { r, f, m })
        .collect()
}

/// `1 + ⌊5 · below / n⌋` for each value, `below` counting the values strictly smaller.
fn quintiles(values: impl Iterator<Item = f64>) -> Vec<u8> {
    let values: Vec<f64> = values.collect();
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    values
        .iter()
        .map(|v| {
            let below = sorted.partition_point(|x| x.total_cmp(v).is_lt());
            (1 + 5 * below / n.max(1)) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buyer(recency_days: i64, frequency: u64, monetary: f64) -> Measures {
        Measures {
            recency_days,
            frequency,
            monetary,
        }
    }

    #[test]
    fn quintiles_share_a_score_on_ties_and_reach_five_for_the_best_fifth() {
        assert_eq!(
            quintiles([1.0, 2.0, 3.0, 4.0, 5.0].into_iter()),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(
            quintiles((1..=10).map(f64::from)),
            [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        );
        // Everyone equal: all score 1 (nobody is better than anyone).
        assert_eq!(quintiles([7.0, 7.0, 7.0].into_iter()), [1, 1, 1]);
        assert_eq!(quintiles([1.0, 9.0, 9.0, 9.0].into_iter()), [1, 2, 2, 2]);
    }

    #[test]
    fn recency_scores_the_most_recent_highest() {
        let scores = score(&[buyer(0, 1, 10.0), buyer(30, 5, 100.0), buyer(90, 2, 50.0)]);
        assert_eq!(scores.iter().map(|s| s.r).collect::<Vec<_>>(), [4, 2, 1]);
        assert_eq!(scores.iter().map(|s| s.f).collect::<Vec<_>>(), [1, 4, 2]);
        assert_eq!(scores.iter().map(|s| s.m).collect::<Vec<_>>(), [1, 4, 2]);
    }

    #[test]
    fn segments_follow_the_rules_in_order() {
        let of = |r, f, m| RfmSegment::of(Scores { r, f, m });
        assert_eq!(of(5, 5, 5), RfmSegment::Champions);
        assert_eq!(of(4, 3, 5), RfmSegment::Champions);
        assert_eq!(of(5, 1, 1), RfmSegment::NewCustomers);
        assert_eq!(of(3, 3, 3), RfmSegment::Loyal);
        assert_eq!(of(3, 1, 2), RfmSegment::PotentialLoyalists);
        assert_eq!(of(1, 5, 4), RfmSegment::CantLoseThem);
        assert_eq!(of(2, 4, 4), RfmSegment::AtRisk);
        assert_eq!(of(1, 3, 3), RfmSegment::AtRisk);
        assert_eq!(of(2, 1, 1), RfmSegment::AboutToSleep);
        assert_eq!(of(1, 2, 2), RfmSegment::Hibernating);
        assert_eq!(of(1, 1, 1), RfmSegment::Lost);
        // Every combination has a segment.
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    let _ = of(r, f, m);
                }
            }
        }
    }
}
