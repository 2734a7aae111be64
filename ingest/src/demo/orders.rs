//! Orders after payment: the work that crosses from one person to another on later days.
//!
//! A paid order becomes a task for its seller (deliver within the promised days) or, sometimes, a
//! cancellation by the buyer; a delivery may in turn become a review task for the buyer. Tasks are
//! always due on a later day than the one that created them, so each day can be simulated person
//! by person without looking ahead, and the queue only ever holds about a week of work.

use std::collections::BTreeMap;

use rand::Rng;
use rand::rngs::StdRng;

use super::catalog::Service;

/// Packages a listing sells: name, weight, price multiplier over the basic price.
pub(crate) const PACKAGES: [(&str, f64, f64); 3] = [
    ("basic", 0.55, 1.0),
    ("standard", 0.30, 1.8),
    ("premium", 0.15, 3.0),
];

/// Why buyers cancel.
pub(crate) const CANCEL_REASONS: [&str; 4] = [
    "changed_mind",
    "seller_unresponsive",
    "found_elsewhere",
    "schedule_conflict",
];

/// A paid order.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    /// Sequence number from 1 (the public id is derived from it).
    pub(crate) id: u32,
    /// The person who paid.
    pub(crate) buyer: u32,
    /// The listing bought (catalog id).
    pub(crate) service: u32,
    /// Amount paid, KRW.
    pub(crate) price: f64,
    /// The day it was paid.
    pub(crate) paid_day: i32,
}

/// Something a person has to do on a given day because of an order.
#[derive(Debug, Clone)]
pub(crate) enum Task {
    /// The seller delivers the order.
    Deliver(Order),
    /// The buyer reviews the delivered order.
    Review(Order),
    /// The buyer cancels the order before delivery (a refund).
    Cancel(Order),
}

/// Open orders and the tasks they create, by due day.
#[derive(Debug, Default)]
pub(crate) struct Market {
    next_order: u32,
    due: BTreeMap<i32, Vec<(u32, Task)>>,
}

impl Market {
    /// Records a paid order and schedules what follows: a cancellation or a delivery.
    pub(crate) fn place(
        &mut self,
        buyer: u32,
        service_id: u32,
        service: &Service,
        price: f64,
        day: i32,
        rng: &mut StdRng,
    ) -> u32 {
        self.next_order += 1;
        let id = self.next_order;
        let order = Order {
            id,
            buyer,
            service: service_id,
            price,
            paid_day: day,
        };
        if rng.random_bool(0.04) {
            let when = day + rng.random_range(1..=2);
            self.schedule(when, buyer, Task::Cancel(order));
        } else {
            let promised = i32::from(service.delivery_days);
            let when = day + (promised + rng.random_range(-1..=1)).max(1);
            self.schedule(when, service.seller, Task::Deliver(order));
        }
        id
    }

    /// Schedules a review of a delivered order by its buyer, for some buyers.
    pub(crate) fn delivered(&mut self, order: Order, day: i32, rng: &mut StdRng) {
        if rng.random_bool(0.45) {
            let when = day + rng.random_range(1..=3);
            self.schedule(when, order.buyer, Task::Review(order));
        }
    }

    /// The tasks due on `day`, ordered by person.
    pub(crate) fn take(&mut self, day: i32) -> Vec<(u32, Task)> {
        let mut tasks = self.due.remove(&day).unwrap_or_default();
        tasks.sort_by_key(|(person, _)| *person);
        tasks
    }

    fn schedule(&mut self, day: i32, person: u32, task: Task) {
        self.due.entry(day).or_default().push((person, task));
    }
}

/// A star rating, skewed to the top like real marketplace reviews.
pub(crate) fn rating(rng: &mut StdRng) -> i64 {
    let u: f64 = rng.random();
    match u {
        u if u < 0.68 => 5,
        u if u < 0.88 => 4,
        u if u < 0.95 => 3,
        u if u < 0.98 => 2,
        _ => 1,
    }
}
