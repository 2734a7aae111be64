//! The supply side and order follow-ups: sellers registering, publishing listings and delivering
//! orders; buyers reviewing deliveries or cancelling before them.
//!
//! All of it happens in the first session of the day on which it is due (see `orders.rs` for how
//! the tasks are scheduled).

use rand::Rng;
use serde_json::{Value, json};

use super::catalog::CATEGORIES;
use super::ids;
use super::orders::{CANCEL_REASONS, Order, Task, rating};
use super::visit::{Visit, props};

/// A seller's own work for the day: registration, new listings, and a look at the dashboard.
pub(crate) fn shop_work(v: &mut Visit<'_>) {
    let Some(shop) = v.person.shop.clone() else {
        return;
    };
    if !v.person.signed_up() {
        v.sign_up();
    }
    let category = CATEGORIES[usize::from(shop.category)].slug;
    if shop.registered_day == v.day {
        v.wait(20, 120);
        v.page("/seller/register", "전문가 등록");
        v.wait(60, 400);
        v.track("Seller Registered", props([("category", json!(category))]));
        let role = if v.person.orders > 0 {
            "both"
        } else {
            "seller"
        };
        let mut set = props([("buyer_or_seller", json!(role))]);
        if shop.pro {
            set.insert("plan".into(), json!("pro"));
        }
        v.identify(props([("$set", Value::Object(set))]));
    }
    for &service in &shop.services {
        let s = v.world.catalog.service(service);
        if s.publish_day != v.day {
            continue;
        }
        let (price, delivery_days) = (s.price, s.delivery_days);
        v.page("/seller/services/new", "서비스 등록");
        v.wait(300, 1200);
        let tags = CATEGORIES[usize::from(shop.category)].tags;
        let first = v.rng.random_range(0..tags.len());
        let second = (first + 1 + v.rng.random_range(0..tags.len() - 1)) % tags.len();
        let p = props([
            ("category", json!(category)),
            ("service_id", json!(ids::service_id(service))),
            ("price", json!(price)),
            ("delivery_days", json!(delivery_days)),
            ("service_tags", json!([tags[first], tags[second]])),
        ]);
        v.track("Service Published", p);
    }
    v.wait(5, 30);
    v.page("/seller/dashboard", "전문가 대시보드");
    v.track("Seller Dashboard Viewed", serde_json::Map::new());
}

/// Does a task that is due today.
pub(crate) fn do_task(v: &mut Visit<'_>, task: Task) {
    match task {
        Task::Deliver(order) => deliver(v, order),
        Task::Review(order) => review(v, &order),
        Task::Cancel(order) => cancel(v, &order),
    }
}

fn order_props(v: &Visit<'_>, order: &Order) -> serde_json::Map<String, Value> {
    let s = v.world.catalog.service(order.service);
    props([
        ("order_id", json!(ids::order_id(order.id))),
        ("service_id", json!(ids::service_id(order.service))),
        ("seller_id", json!(ids::user_id(s.seller))),
        ("category", json!(CATEGORIES[usize::from(s.category)].slug)),
    ])
}

fn deliver(v: &mut Visit<'_>, order: Order) {
    v.wait(30, 300);
    v.page("/seller/orders", "주문 관리");
    v.wait(60, 600);
    let mut p = order_props(v, &order);
    p.insert("delivery_days".into(), json!(v.day - order.paid_day));
    v.track("Order Delivered", p);
    v.market.delivered(order, v.day, v.rng);
}

fn review(v: &mut Visit<'_>, order: &Order) {
    v.wait(10, 60);
    v.page(
        &format!("/orders/{}/review", ids::order_id(order.id)),
        "리뷰 작성",
    );
    v.wait(30, 240);
    let mut p = order_props(v, order);
    p.insert("rating".into(), json!(rating(v.rng)));
    v.track("Review Written", p);
}

/// A cancellation before delivery: a refund, sent as negative revenue.
fn cancel(v: &mut Visit<'_>, order: &Order) {
    v.wait(10, 60);
    v.page(&format!("/orders/{}", ids::order_id(order.id)), "주문 상세");
    v.wait(20, 120);
    let mut p = order_props(v, order);
    p.insert("price".into(), json!(order.price));
    let reason = CANCEL_REASONS[v.rng.random_range(0..CANCEL_REASONS.len())];
    p.insert("cancel_reason".into(), json!(reason));
    let service_id = ids::service_id(order.service);
    v.track_revenue("Order Cancelled", p, -order.price, &service_id, "refund");
    let add = props([
        ("lifetime_orders", json!(-1)),
        ("lifetime_revenue", json!(-order.price)),
    ]);
    v.identify(props([("$add", Value::Object(add))]));
}
