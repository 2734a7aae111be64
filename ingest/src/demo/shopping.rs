//! What a buyer does in a session: the funnel from category page to payment.
//!
//! A session enters through search, a category page or the home page's recommendations; some
//! visitors leave there. Those who go on view a few listings, each of which may lead to an
//! inquiry (which needs an account: anonymous visitors sign up or give up), an inquiry to a
//! checkout (now, or in a later session after the seller answers), and a checkout to a payment.
//! Step rates depend on the category (see `catalog.rs`), the platform (the apps convert better
//! than the website, iOS best), repeat buying, and a recent campaign click.

use rand::Rng;
use serde_json::json;

use super::campaign::Click;
use super::catalog::{self, CATEGORIES};
use super::device::{Platform, weighted};
use super::ids;
use super::orders::PACKAGES;
use super::visit::{Visit, props};

/// Chance that a category page or search leads to at least one listing view.
const CONTINUE_TO_LISTING: f64 = 0.19;
/// Chance, per listing view, of an inquiry.
const INQUIRY_PER_VIEW: f64 = 0.05;
/// Chance, per listing view, of buying a package straight away (no inquiry).
const DIRECT_CHECKOUT_PER_VIEW: f64 = 0.006;
/// Chance that an inquiry is followed by a checkout in the same session.
const CHECKOUT_AFTER_INQUIRY: f64 = 0.3;
/// Chance that an inquiry not followed by a checkout stays under consideration.
const KEEP_CONSIDERING: f64 = 0.55;
/// Chance, per session within a week, of coming back to a listing under consideration.
const RESUME_CONSIDERED: f64 = 0.4;
/// Chance, per session of someone who has paid before, of reordering the same listing.
const REORDER: f64 = 0.06;
/// Chance that a checkout is paid.
const PAY: f64 = 0.53;
/// Chance that a returning visitor only glances at the home screen and leaves.
const GLANCE: f64 = 0.35;
/// Chance that an anonymous visitor with no plan to sign up does so to send an inquiry.
const SIGN_UP_TO_INQUIRE: f64 = 0.3;

/// Payment methods: weight and value.
const PAYMENT_METHODS: [(f64, &str); 5] = [
    (0.45, "card"),
    (0.25, "kakao_pay"),
    (0.15, "naver_pay"),
    (0.10, "toss_pay"),
    (0.05, "bank_transfer"),
];

/// Step-rate multipliers of a platform: listing view, inquiry, checkout, payment.
fn platform_rates(platform: Platform) -> [f64; 4] {
    match platform {
        Platform::Web => [1.0, 0.85, 1.0, 0.85],
        Platform::Ios => [1.1, 1.2, 1.1, 1.15],
        Platform::Android => [1.05, 1.0, 0.95, 1.0],
    }
}

/// A buyer's session after the landing: sign-up if it is time, then browsing and buying.
pub(crate) fn shop(v: &mut Visit<'_>) {
    let wants_account = !v.person.signed_up()
        && v.person
            .signup_session
            .is_some_and(|s| s <= v.person.sessions);
    if wants_account && v.rng.random_bool(0.5) {
        v.wait(10, 60);
        v.sign_up();
    }
    match v.click {
        Some(click) => campaign_session(v, click),
        None => match (v.person.considering, v.person.last_bought) {
            (Some((service, since)), _)
                if v.day - since <= 7 && v.rng.random_bool(RESUME_CONSIDERED) =>
            {
                v.person.considering = None;
                view_listing(v, service, "inquiry", 1);
                checkout(v, service);
            }
            (_, Some(service)) if v.rng.random_bool(REORDER) => {
                view_listing(v, service, "recommendation", 1);
                checkout(v, service);
            }
            _ => browse(v),
        },
    }
    if wants_account && !v.person.signed_up() {
        v.wait(20, 120);
        v.sign_up();
    }
}

/// A session opened by a campaign click.
fn campaign_session(v: &mut Visit<'_>, click: Click) {
    v.wait(1, 5);
    v.track("Campaign Message Clicked", click.properties());
    match v.person.abandoned {
        Some((service, _)) if click.id() == "cmp_checkout_reminder" => {
            view_listing(v, service, "campaign", 1);
            checkout(v, service);
        }
        _ => {
            let category = v.person.favourite;
            category_page(v, category);
            listings(v, category, "campaign");
        }
    }
}

/// Organic browsing: search, a category page, or the home page's recommendations.
fn browse(v: &mut Visit<'_>) {
    if v.person.sessions > 0 && v.rng.random_bool(GLANCE) {
        return;
    }
    let category = if v.rng.random_bool(0.7) {
        v.person.favourite
    } else {
        catalog::sample_category(v.rng)
    };
    let [view_rate, ..] = platform_rates(v.platform());
    let entry: f64 = v.rng.random();
    let source = if entry < 0.25 {
        let c = &CATEGORIES[usize::from(category)];
        let term = c.terms[v.rng.random_range(0..c.terms.len())];
        let available = v.world.catalog.available(category, v.day) as f64;
        let results = if v.rng.random_bool(0.06) {
            0
        } else {
            (available * v.rng.random_range(0.3..1.5)) as i64 + 1
        };
        v.wait(5, 30);
        v.page_query("/search", &format!("?q={term}"), "검색");
        let p = props([
            ("search_term", json!(term)),
            ("results_count", json!(results)),
            ("category", json!(c.slug)),
        ]);
        v.track("Searched", p);
        if results == 0 {
            return;
        }
        "search"
    } else if entry < 0.8 {
        category_page(v, category);
        "category"
    } else {
        "recommendation"
    };
    if v.rng
        .random_bool((CONTINUE_TO_LISTING * view_rate).min(1.0))
    {
        listings(v, category, source);
    }
}

fn category_page(v: &mut Visit<'_>, category: u8) {
    let c = &CATEGORIES[usize::from(category)];
    v.wait(3, 40);
    v.page(&format!("/category/{}", c.slug), c.title);
    v.track("Category Viewed", props([("category", json!(c.slug))]));
}

/// Views a few listings of `category`; any may lead down the funnel. Stops after a payment.
fn listings(v: &mut Visit<'_>, category: u8, source: &str) {
    let count = 1 + (v.rng.random::<f64>().ln() / 0.55f64.ln()) as u32;
    let [_, inquiry_rate, ..] = platform_rates(v.platform());
    let c = &CATEGORIES[usize::from(category)];
    let mut p_inquiry = INQUIRY_PER_VIEW * c.inquiry * inquiry_rate;
    if v.person.orders > 0 {
        p_inquiry *= 2.5;
    }
    if v.person.business {
        p_inquiry *= 2.0;
    }
    if let Some(lift) = lift(v) {
        p_inquiry *= lift;
    }
    let mut seen = Vec::with_capacity(8);
    for position in 1..=count.min(8) {
        // A list shows each listing once; a few redraws find one not yet opened.
        let Some(service) = (0..4)
            .filter_map(|_| v.world.catalog.pick(category, v.day, v.rng))
            .find(|s| !seen.contains(s))
        else {
            return;
        };
        seen.push(service);
        view_listing(v, service, source, i64::from(position));
        if v.rng.random_bool(0.05) {
            v.wait(2, 10);
            v.track("Service Favorited", listing_props(v, service));
        }
        if v.rng.random_bool(p_inquiry.min(1.0)) {
            if inquire(v, service) {
                return;
            }
        } else if v.rng.random_bool(DIRECT_CHECKOUT_PER_VIEW) && checkout(v, service) {
            return;
        }
    }
}

/// The campaign lift in effect for this session, if any.
fn lift(v: &Visit<'_>) -> Option<f64> {
    v.person
        .lift_on(v.day)
        .map(|c| super::campaign::CAMPAIGNS[usize::from(c)].lift)
}

fn listing_props(v: &Visit<'_>, service: u32) -> serde_json::Map<String, serde_json::Value> {
    let s = v.world.catalog.service(service);
    props([
        ("category", json!(CATEGORIES[usize::from(s.category)].slug)),
        ("service_id", json!(ids::service_id(service))),
        ("seller_id", json!(ids::user_id(s.seller))),
        ("price", json!(s.price)),
    ])
}

fn view_listing(v: &mut Visit<'_>, service: u32, source: &str, position: i64) {
    v.wait(4, 40);
    v.page(&format!("/gig/{service}"), "서비스 상세");
    let mut p = listing_props(v, service);
    p.insert("source".into(), json!(source));
    p.insert("position".into(), json!(position));
    v.track("Service Viewed", p);
    v.wait(20, 180);
}

/// Sends an inquiry (signing up first if needed); may go on to checkout. True if paid.
fn inquire(v: &mut Visit<'_>, service: u32) -> bool {
    if !v.person.signed_up() {
        if v.person.signup_session.is_none() && !v.rng.random_bool(SIGN_UP_TO_INQUIRE) {
            return false;
        }
        v.sign_up();
    }
    v.wait(60, 300);
    v.track("Inquiry Sent", listing_props(v, service));
    let c = &CATEGORIES[usize::from(v.world.catalog.service(service).category)];
    let [_, _, checkout_rate, _] = platform_rates(v.platform());
    let p = CHECKOUT_AFTER_INQUIRY * c.checkout * checkout_rate;
    if v.rng.random_bool(p.min(1.0)) {
        return checkout(v, service);
    }
    if v.rng.random_bool(KEEP_CONSIDERING) {
        v.person.considering = Some((service, v.day));
    }
    false
}

/// Starts a checkout for a package of `service`; pays or abandons. True if paid.
fn checkout(v: &mut Visit<'_>, service: u32) -> bool {
    if !v.person.signed_up() {
        v.sign_up();
    }
    let s = v.world.catalog.service(service);
    let c = &CATEGORIES[usize::from(s.category)];
    let package = weighted(v.rng, PACKAGES.iter().map(|p| p.1));
    let lift = lift(v);
    let coupon = lift.is_some() || v.rng.random_bool(0.08);
    let mut price = s.price * PACKAGES[package].2;
    if coupon {
        price = (price * 0.9 / 100.0).round() * 100.0;
    }
    v.wait(10, 60);
    v.page(&format!("/checkout/{service}"), "결제");
    let mut p = listing_props(v, service);
    p.insert("price".into(), json!(price));
    p.insert("package".into(), json!(PACKAGES[package].0));
    p.insert("coupon_applied".into(), json!(coupon));
    v.track("Checkout Started", p.clone());
    v.wait(30, 240);
    let [.., pay_rate] = platform_rates(v.platform());
    let repeat = if v.person.orders > 0 { 1.2 } else { 1.0 };
    let chance = PAY * c.purchase * pay_rate * repeat * lift.unwrap_or(1.0);
    if !v.rng.random_bool(chance.min(0.97)) {
        v.person.abandoned = Some((service, v.day));
        return false;
    }
    let order = v
        .market
        .place(v.person.index, service, s, price, v.day, v.rng);
    p.insert("order_id".into(), json!(ids::order_id(order)));
    p.insert("currency".into(), json!("KRW"));
    p.insert("is_repurchase".into(), json!(v.person.orders > 0));
    let method = PAYMENT_METHODS[weighted(v.rng, PAYMENT_METHODS.iter().map(|m| m.0))].1;
    p.insert("payment_method".into(), json!(method));
    let credited = v.person.lift_on(v.day);
    if let Some(campaign) = credited {
        p.insert(
            "campaign_id".into(),
            json!(super::campaign::CAMPAIGNS[usize::from(campaign)].id),
        );
    }
    v.track_revenue(
        "Purchase Completed",
        p,
        price,
        &ids::service_id(service),
        "purchase",
    );
    if let Some(campaign) = credited {
        v.report_conversion(campaign, order);
    }
    v.person.orders += 1;
    // A good first order makes a regular: they come back (and buy) more often.
    v.person.engagement = (v.person.engagement * 1.4).min(4.0);
    v.person.abandoned = None;
    v.person.considering = None;
    v.person.last_bought = Some(service);
    v.wait(2, 10);
    v.page("/order/complete", "주문 완료");
    let add = props([
        ("lifetime_orders", json!(1)),
        ("lifetime_revenue", json!(price)),
    ]);
    v.identify(props([("$add", serde_json::Value::Object(add))]));
    true
}
