//! Which rows count for which series: one predicate per distinct selection, one bit each in the
//! mask that the counter and the values aggregates read.
//!
//! Series with the same predicate (the same event and conditions, or "any event" in the segment
//! and the active persons) share a bit, so each predicate is evaluated once per row. It also
//! keeps the plan valid: DataFusion 55's common-subexpression elimination extracts a predicate
//! written twice into a column of its own, whose nullability it then reports differently in the
//! logical and physical plans when the predicate holds an `IS TRUE` test (planned as `IS NOT
//! DISTINCT FROM`, physically nullable), and planning fails.

use datafusion::arrow::datatypes::Schema;
use datafusion::logical_expr::{Expr, lit, when};

use crate::error::Result;
use crate::spec::SegmentationQuery;
use crate::whole_table::{counted_event, event_matches};

/// The distinct predicates of a segmentation and each counted series' bit among them.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Selection {
    /// Distinct predicates; predicate `b` sets bit `b` of the mask.
    predicates: Vec<Expr>,
    /// Per counted series (the spec's, then the active persons when counted), its bit.
    pub(super) bits: Vec<usize>,
}

impl Selection {
    /// The predicates of `query`'s series over rows of `schema` (`active`: the active persons
    /// are counted too, as the last series).
    pub(super) fn new(query: &SegmentationQuery, schema: &Schema, active: bool) -> Self {
        let mut selection = Selection {
            predicates: Vec::new(),
            bits: Vec::new(),
        };
        for (s, series) in query.series.iter().enumerate() {
            let matches = event_matches(&series.event);
            selection.push(match query.series_conditions.get(s) {
                Some(conditions) => conditions.and(matches, schema),
                None => matches,
            });
        }
        if active {
            selection.push(query.active_conditions.and(counted_event(), schema));
        }
        selection
    }

    /// One bit per counted series, none shared (no data to build predicates on).
    pub(super) fn unshared(counted: usize) -> Self {
        Selection {
            predicates: Vec::new(),
            bits: (0..counted).collect(),
        }
    }

    fn push(&mut self, predicate: Expr) {
        let bit = match self.predicates.iter().position(|p| *p == predicate) {
            Some(bit) => bit,
            None => {
                self.predicates.push(predicate);
                self.predicates.len() - 1
            }
        };
        self.bits.push(bit);
    }

    /// Number of bits: the counter's series.
    pub(super) fn width(&self) -> usize {
        self.bits.iter().max().map_or(0, |&b| b + 1)
    }

    /// `Int64` with bit `b` set when predicate `b` holds (a null test does not).
    pub(super) fn mask(&self) -> Result<Expr> {
        let mut mask = lit(0i64);
        for (b, predicate) in self.predicates.iter().enumerate() {
            mask = mask | when(predicate.clone(), lit(1i64 << b)).otherwise(lit(0i64))?;
        }
        Ok(mask)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{DataType, Field};

    use super::*;
    use crate::spec::SegmentationSpec;

    fn query(events: serde_json::Value) -> SegmentationQuery {
        let spec: SegmentationSpec = serde_json::from_value(serde_json::json!({
            "version": 1,
            "date_range": {"from": "2025-01-01", "to": "2025-01-01"},
            "events": events,
        }))
        .expect("spec");
        spec.validate().expect("valid")
    }

    #[test]
    fn equal_predicates_share_a_bit() {
        let schema = Schema::new(vec![
            Field::new("event_type", DataType::Utf8, false),
            Field::new("platform", DataType::Utf8, true),
        ]);
        let ios = serde_json::json!([
            {"kind": "field", "property": "platform", "op": "is", "values": ["iOS"]}]);
        let q = query(serde_json::json!([
            {"event_type": "A", "measure": "active_percent"},
            {"event_type": "B"},
            {"event_type": "A", "measure": "totals"},
            {"event_type": "A", "where": ios},
            {"event_type": "_all"},
        ]));
        let selection = Selection::new(&q, &schema, true);
        // "_all" and the active persons (no segment) select the same rows.
        assert_eq!(selection.bits, [0, 1, 0, 2, 3, 3]);
        assert_eq!(selection.width(), 4);
        assert_eq!(Selection::unshared(3).bits, [0, 1, 2]);
    }
}
