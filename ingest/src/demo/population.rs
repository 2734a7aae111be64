//! The simulated people: when they first arrive, how engaged they are, what they like, which
//! devices they use, and whether (and when) they sign up or sell.
//!
//! New visitors arrive every day of the window, more on weekdays and slowly more over time. A
//! small group of sellers was already on the marketplace before the window (their listings form
//! the established catalog); a few new arrivals become sellers too. How often someone comes back
//! decays with the days since their first visit (a power law), scaled by their engagement, which
//! is what gives retention its familiar shape.

use rand::Rng;
use rand::rngs::StdRng;

use super::calendar::{Calendar, MINUTE_MS};
use super::catalog::{self, Catalog, Service, lognormal};
use super::device::{Device, PLACES, Platform, weighted};
use super::ids::{self, Stream};

/// Sign-up and login methods: weight and the value of the `method` property.
pub(crate) const METHODS: [(f64, &str); 5] = [
    (0.30, "email"),
    (0.40, "kakao"),
    (0.15, "naver"),
    (0.10, "google"),
    (0.05, "apple"),
];

/// A seller's shop.
#[derive(Debug, Clone)]
pub(crate) struct Shop {
    /// The day the person registered as a seller (negative: before the window).
    pub(crate) registered_day: i32,
    /// The category the seller works in.
    pub(crate) category: u8,
    /// The seller's listings (catalog ids), in publication order.
    pub(crate) services: Vec<u32>,
    /// Whether the seller pays for the `pro` plan.
    pub(crate) pro: bool,
}

/// One simulated person and everything the generator remembers about them.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    /// Position in the population; also the number in the user id.
    pub(crate) index: u32,
    /// The day of the first visit (negative for sellers who joined before the window).
    pub(crate) arrival_day: i32,
    /// How much more (or less) than average this person comes back.
    pub(crate) engagement: f64,
    /// Favourite category (index into the category table).
    pub(crate) favourite: u8,
    /// Where they live (index into [`PLACES`]).
    pub(crate) place: u8,
    /// Whether they buy for a company (the `business` plan).
    pub(crate) business: bool,
    /// Whether they accept marketing messages.
    pub(crate) opt_in: bool,
    /// Sign-up method (index into [`METHODS`]).
    pub(crate) method: u8,
    /// The session (0 = the first visit) in which they sign up of their own accord, if ever.
    pub(crate) signup_session: Option<u32>,
    /// The day they signed up, once they have.
    pub(crate) signup_day: Option<i32>,
    /// Their devices; the first is created with the person, the second on first use.
    pub(crate) devices: Vec<Device>,
    /// A second platform they start using (after signing up) from the given day.
    pub(crate) second_platform: Option<(Platform, i32)>,
    /// Sessions so far.
    pub(crate) sessions: u32,
    /// The last day they were active.
    pub(crate) last_active_day: i32,
    /// The time of their latest event.
    pub(crate) last_time_ms: i64,
    /// Orders paid so far.
    pub(crate) orders: u32,
    /// A listing they inquired about and may come back to buy, with the day of the inquiry.
    pub(crate) considering: Option<(u32, i32)>,
    /// The listing of their latest paid order, which regulars reorder.
    pub(crate) last_bought: Option<u32>,
    /// A listing they left at checkout, with the day.
    pub(crate) abandoned: Option<(u32, i32)>,
    /// A campaign they clicked recently (index) and the last day its effect lasts.
    pub(crate) lift: Option<(u8, i32)>,
    /// Their shop, if they sell.
    pub(crate) shop: Option<Shop>,
}

impl Person {
    /// Whether they have an account.
    pub(crate) fn signed_up(&self) -> bool {
        self.signup_day.is_some()
    }

    /// Whether they use one of the apps (push messages can reach them).
    pub(crate) fn has_app(&self) -> bool {
        self.devices.iter().any(|d| d.platform.is_mobile())
    }

    /// The campaign whose effect is active on `day`, if any.
    pub(crate) fn lift_on(&self, day: i32) -> Option<u8> {
        self.lift.filter(|&(_, until)| day <= until).map(|(c, _)| c)
    }

    /// Whether a seller has registration or publishing to do on `day`.
    pub(crate) fn has_shop_work(&self, day: i32, catalog: &Catalog) -> bool {
        self.shop.as_ref().is_some_and(|shop| {
            shop.registered_day == day
                || shop
                    .services
                    .iter()
                    .any(|&s| catalog.service(s).publish_day == day)
        })
    }

    /// The chance that they come back on `day` (a day after their arrival).
    pub(crate) fn return_probability(&self, day: i32, weekend: bool) -> f64 {
        let age = f64::from((day - self.arrival_day).max(1));
        let mut p = 0.36 * self.engagement * age.powf(-0.5);
        p *= if self.signed_up() { 1.25 } else { 0.55 };
        if self.orders > 0 {
            p *= 2.0;
        }
        if weekend {
            p *= 0.8;
        }
        if self.lift_on(day).is_some() {
            p += 0.1;
        }
        if self.shop.is_some() {
            p = p.max(0.15);
        }
        p.min(0.9)
    }
}

/// Builds the people and the catalog of their listings. People are ordered by arrival.
pub(crate) fn build(seed: u64, users: u32, calendar: &Calendar) -> (Vec<Person>, Catalog) {
    let mut rng = ids::rng(seed, Stream::Population, &[]);
    let veterans = (users / 100).max(16).min(users);
    let arrivals = arrival_days(users - veterans, calendar, &mut rng);
    let mut people = Vec::with_capacity(users as usize);
    for i in 0..veterans {
        let day = -rng.random_range(30..700);
        people.push(veteran_seller(i, day, &mut rng));
    }
    for day in arrivals {
        people.push(newcomer(day, &mut rng));
    }
    people.sort_by_key(|p| p.arrival_day);
    let mut services = Vec::new();
    for (i, person) in people.iter_mut().enumerate() {
        person.index = i as u32;
        let platform = first_platform(person.shop.is_some(), &mut rng);
        let mut device = Device::new(seed, person.index, 0, platform, &mut rng);
        if person.signed_up() {
            // A veteran's app has been in use (and logged in) for a long time.
            device.logged_in = true;
            device.next_event_id = rng.random_range(500..20_000);
            device.sessions = rng.random_range(50..500);
        }
        person.devices.push(device);
        if let Some(shop) = &mut person.shop {
            let count = if shop.registered_day < 0 {
                rng.random_range(1..=6)
            } else {
                rng.random_range(1..=3)
            };
            for k in 0..count {
                let publish_day = if shop.registered_day < 0 {
                    shop.registered_day
                } else {
                    shop.registered_day + if k == 0 { 0 } else { rng.random_range(1..=6) }
                };
                shop.services.push(services.len() as u32);
                services.push(Service::new(
                    shop.category,
                    person.index,
                    publish_day,
                    &mut rng,
                ));
            }
        }
    }
    (people, Catalog::new(services))
}

/// Days of arrival for `count` newcomers: more on weekdays, slowly growing, some noise.
fn arrival_days(count: u32, calendar: &Calendar, rng: &mut StdRng) -> Vec<i32> {
    let days = calendar.days() as i32;
    let weights: Vec<f64> = (0..days)
        .map(|d| {
            let growth = 1.0 + 0.4 * f64::from(d) / f64::from(days.max(1));
            let weekday = if calendar.is_weekend(d) { 0.65 } else { 1.0 };
            growth * weekday * lognormal(rng, 0.08)
        })
        .collect();
    (0..count)
        .map(|_| weighted(rng, weights.iter().copied()) as i32)
        .collect()
}

/// A person with defaults for everything that is decided later.
fn blank(arrival_day: i32, rng: &mut StdRng) -> Person {
    Person {
        index: 0,
        arrival_day,
        engagement: 1.0,
        favourite: catalog::sample_category(rng),
        place: weighted(rng, PLACES.iter().map(|p| p.0)) as u8,
        business: rng.random_bool(0.05),
        opt_in: rng.random_bool(0.55),
        method: weighted(rng, METHODS.iter().map(|m| m.0)) as u8,
        signup_session: None,
        signup_day: None,
        devices: Vec::with_capacity(2),
        second_platform: None,
        sessions: 0,
        last_active_day: arrival_day,
        last_time_ms: i64::MIN,
        orders: 0,
        considering: None,
        last_bought: None,
        abandoned: None,
        lift: None,
        shop: None,
    }
}

/// A seller who joined before the window. The first sixteen cover every category once.
fn veteran_seller(i: u32, arrival_day: i32, rng: &mut StdRng) -> Person {
    let mut p = blank(arrival_day, rng);
    let category = if (i as usize) < catalog::CATEGORIES.len() {
        i as u8
    } else {
        catalog::sample_category(rng)
    };
    p.favourite = category;
    p.engagement = 1.5;
    p.signup_day = Some(arrival_day);
    p.shop = Some(Shop {
        registered_day: arrival_day,
        category,
        services: Vec::new(),
        pro: rng.random_bool(0.35),
    });
    p
}

/// A visitor whose first visit falls on `arrival_day`.
fn newcomer(arrival_day: i32, rng: &mut StdRng) -> Person {
    let mut p = blank(arrival_day, rng);
    let tier = rng.random::<f64>();
    let (engagement, signup_chance) = match tier {
        t if t < 0.45 => (0.35, 0.22),
        t if t < 0.80 => (1.0, 0.5),
        _ => (2.4, 0.75),
    };
    p.engagement = engagement * lognormal(rng, 0.25);
    if rng.random_bool(0.012) {
        // A freelancer joining to sell: signs up on the first visit.
        p.signup_session = Some(0);
        let registered_day = arrival_day + weighted(rng, [0.6, 0.25, 0.15].into_iter()) as i32;
        p.shop = Some(Shop {
            registered_day,
            category: p.favourite,
            services: Vec::new(),
            pro: rng.random_bool(0.2),
        });
        p.engagement = p.engagement.max(1.0);
    } else if rng.random_bool(signup_chance) {
        p.signup_session = Some(if rng.random_bool(0.6) {
            0
        } else {
            rng.random_range(1..5)
        });
    }
    if rng.random_bool(0.3) {
        let after = 1 + (rng.random::<f64>() * 20.0) as i32;
        p.second_platform = Some((second_platform(rng), arrival_day + after));
    }
    p
}

/// The platform of someone's first device.
fn first_platform(seller: bool, rng: &mut StdRng) -> Platform {
    let weights = if seller {
        [0.75, 0.1, 0.15]
    } else {
        [0.45, 0.22, 0.33]
    };
    [Platform::Web, Platform::Ios, Platform::Android][weighted(rng, weights.into_iter())]
}

/// The platform of a second device (may equal the first: a new phone counts as a new device).
fn second_platform(rng: &mut StdRng) -> Platform {
    [Platform::Web, Platform::Ios, Platform::Android][weighted(rng, [0.4, 0.3, 0.3].into_iter())]
}

/// Milliseconds in a typical gap between two sessions of one person (at least the SDK timeout).
pub(crate) fn session_gap_ms(rng: &mut StdRng) -> i64 {
    31 * MINUTE_MS + (rng.random::<f64>().powi(2) * 240.0) as i64 * MINUTE_MS
}
