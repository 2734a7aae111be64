//! Devices and the context fields each Amplitude SDK stamps on every event.
//!
//! - Web (`amplitude-ts`): a UUID device id, `platform: "Web"`, `language`, `user_agent`; no
//!   `app_version` (it is only sent when the site configures one).
//! - iOS (`amplitude-swift`): the IDFV as device id (upper-case UUID), `os_name: "ios"`,
//!   `device_manufacturer: "Apple"`, a hardware model id, and the app version as `version_name`.
//! - Android (`amplitude-kotlin`): a random UUID with the SDK's `R` suffix, `os_name: "android"`,
//!   brand, manufacturer, model, carrier, `android_app_set_id`, and `version_name`.
//!
//! Deviation, on purpose: the browser SDK leaves OS, browser, country and city to server-side
//! enrichment from `user_agent` and the IP, which Sluice does not do yet; so Web events also carry
//! `os_name`/`os_version` (browser name and version, as the HTTP API defines them) and the
//! location fields, the values Amplitude's enrichment would have produced.

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value};

use super::ids::{self, Stream};

/// Library string of the browser SDK.
pub(crate) const LIBRARY_WEB: &str = "amplitude-ts/2.45.6";
/// Library string of the iOS SDK.
pub(crate) const LIBRARY_IOS: &str = "amplitude-swift/1.18.6";
/// Library string of the Android SDK.
pub(crate) const LIBRARY_ANDROID: &str = "amplitude-kotlin/1.21.0";

/// Where an event was tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Platform {
    /// The website (browser SDK).
    Web,
    /// The iOS app.
    Ios,
    /// The Android app.
    Android,
}

impl Platform {
    /// The `platform` value the SDK sends.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Platform::Web => "Web",
            Platform::Ios => "iOS",
            Platform::Android => "Android",
        }
    }

    /// Whether this is one of the apps.
    pub(crate) fn is_mobile(self) -> bool {
        self != Platform::Web
    }
}

/// Browsers: weight, name, major version, user agent.
#[rustfmt::skip]
const BROWSERS: [(f64, &str, &str, &str); 8] = [
    (0.36, "Chrome", "141", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36"),
    (0.12, "Chrome", "141", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36"),
    (0.08, "Safari", "26.1", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Safari/605.1.15"),
    (0.08, "Edge", "141", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36 Edg/141.0.0.0"),
    (0.07, "Whale", "4.34", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Whale/4.34.340.12 Safari/537.36"),
    (0.15, "Mobile Safari", "26.1", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Mobile/15E148 Safari/604.1"),
    (0.08, "Samsung Internet", "29.0", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/29.0 Chrome/136.0.0.0 Mobile Safari/537.36"),
    (0.06, "Chrome Mobile", "141", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Mobile Safari/537.36"),
];

/// iPhones: weight, hardware model id.
const IPHONES: [(f64, &str); 7] = [
    (0.20, "iPhone17,3"),
    (0.16, "iPhone17,1"),
    (0.14, "iPhone16,2"),
    (0.14, "iPhone15,4"),
    (0.12, "iPhone14,7"),
    (0.12, "iPhone14,5"),
    (0.12, "iPhone18,1"),
];
/// iOS versions: weight, version.
const IOS_VERSIONS: [(f64, &str); 4] = [
    (0.45, "26.1"),
    (0.25, "26.0.1"),
    (0.2, "18.7"),
    (0.1, "17.6.1"),
];

/// Android phones: weight, manufacturer/brand, model.
const ANDROIDS: [(f64, &str, &str); 7] = [
    (0.22, "samsung", "SM-S928N"),
    (0.20, "samsung", "SM-S921N"),
    (0.16, "samsung", "SM-A356N"),
    (0.12, "samsung", "SM-F956N"),
    (0.12, "samsung", "SM-F741N"),
    (0.10, "Google", "Pixel 9"),
    (0.08, "Xiaomi", "23129RAA4G"),
];
/// Android versions: weight, version.
const ANDROID_VERSIONS: [(f64, &str); 4] = [(0.35, "16"), (0.35, "15"), (0.2, "14"), (0.1, "13")];
/// Korean carriers as Android reports them.
const CARRIERS: [(f64, &str); 3] = [(0.45, "SKTelecom"), (0.3, "KT"), (0.25, "LG U+")];

/// The app's releases: the version live before the window, then one release every two weeks.
const APP_VERSIONS: [&str; 8] = [
    "5.7.2", "5.8.0", "5.9.0", "5.10.0", "5.11.1", "5.12.0", "5.13.0", "5.14.0",
];
/// Days between app releases.
const RELEASE_EVERY_DAYS: i32 = 14;

/// Index of a weighted choice.
pub(crate) fn weighted(rng: &mut StdRng, weights: impl Iterator<Item = f64> + Clone) -> usize {
    let total: f64 = weights.clone().sum();
    let mut u = rng.random::<f64>() * total;
    let mut last = 0;
    for (i, w) in weights.enumerate() {
        u -= w;
        last = i;
        if u < 0.0 {
            return i;
        }
    }
    last
}

/// One browser or app install of a person.
#[derive(Debug, Clone)]
pub(crate) struct Device {
    /// Which SDK tracks it.
    pub(crate) platform: Platform,
    /// The SDK's device id.
    pub(crate) device_id: String,
    /// Distinguishes this device's `insert_id`s from every other device's.
    pub(crate) key: u64,
    /// Browser or phone model (index into the platform's table).
    model: u8,
    /// OS version (index into the platform's table).
    os: u8,
    /// Mobile carrier (index into [`CARRIERS`]).
    carrier: u8,
    /// Days this install takes to pick up an app update (255: never updates).
    update_lag: u8,
    /// Android app set id.
    app_set_id: Option<String>,
    /// The next `event_id` the SDK will stamp.
    pub(crate) next_event_id: i64,
    /// Whether the app already knows the user id (persisted after sign-up or login).
    pub(crate) logged_in: bool,
    /// Sessions started on this device so far.
    pub(crate) sessions: u32,
}

impl Device {
    /// A new install for person `person` (its `slot`-th device) on `platform`.
    pub(crate) fn new(
        seed: u64,
        person: u32,
        slot: u8,
        platform: Platform,
        rng: &mut StdRng,
    ) -> Device {
        let key = u64::from(person) << 2 | u64::from(slot);
        let uuid = ids::uuid_for(seed, Stream::Device, &[key]);
        let (device_id, model, os) = match platform {
            Platform::Web => (uuid, weighted(rng, BROWSERS.iter().map(|b| b.0)), 0),
            Platform::Ios => (
                uuid.to_uppercase(),
                weighted(rng, IPHONES.iter().map(|m| m.0)),
                weighted(rng, IOS_VERSIONS.iter().map(|v| v.0)),
            ),
            Platform::Android => (
                format!("{uuid}R"),
                weighted(rng, ANDROIDS.iter().map(|m| m.0)),
                weighted(rng, ANDROID_VERSIONS.iter().map(|v| v.0)),
            ),
        };
        let app_set_id =
            (platform == Platform::Android).then(|| ids::uuid_for(seed, Stream::Device, &[key, 1]));
        let update_lag = if rng.random_bool(0.08) {
            u8::MAX
        } else {
            rng.random_range(0..21)
        };
        Device {
            platform,
            device_id,
            key,
            model: model as u8,
            os: os as u8,
            carrier: weighted(rng, CARRIERS.iter().map(|c| c.0)) as u8,
            update_lag,
            app_set_id,
            next_event_id: 1,
            logged_in: false,
            sessions: 0,
        }
    }

    /// The app version installed on `day`.
    fn app_version(&self, day: i32) -> &'static str {
        if self.update_lag == u8::MAX {
            return APP_VERSIONS[0];
        }
        let since_first = day - i32::from(self.update_lag) - 5;
        let release = if since_first < 0 {
            0
        } else {
            1 + since_first / RELEASE_EVERY_DAYS
        };
        APP_VERSIONS[(release as usize).min(APP_VERSIONS.len() - 1)]
    }

    /// Writes the context fields this device's SDK puts on every event.
    pub(crate) fn write_context(&self, day: i32, place: &Place, obj: &mut Map<String, Value>) {
        let mut put = |k: &str, v: &str| {
            obj.insert(k.to_owned(), Value::String(v.to_owned()));
        };
        put("platform", self.platform.name());
        put("country", place.country);
        put("city", place.city);
        put("ip", "$remote");
        match self.platform {
            Platform::Web => {
                let (_, browser, version, agent) = BROWSERS[usize::from(self.model)];
                put("library", LIBRARY_WEB);
                put("language", place.web_language);
                put("os_name", browser);
                put("os_version", version);
                put("user_agent", agent);
            }
            Platform::Ios => {
                put("library", LIBRARY_IOS);
                put("language", place.app_language);
                put("os_name", "ios");
                put("os_version", IOS_VERSIONS[usize::from(self.os)].1);
                put("device_manufacturer", "Apple");
                put("device_model", IPHONES[usize::from(self.model)].1);
                put("version_name", self.app_version(day));
                put("idfv", &self.device_id);
            }
            Platform::Android => {
                let (_, maker, model) = ANDROIDS[usize::from(self.model)];
                put("library", LIBRARY_ANDROID);
                put("language", place.app_language);
                put("os_name", "android");
                put("os_version", ANDROID_VERSIONS[usize::from(self.os)].1);
                put("device_brand", maker);
                put("device_manufacturer", maker);
                put("device_model", model);
                put("carrier", CARRIERS[usize::from(self.carrier)].1);
                put("version_name", self.app_version(day));
                if let Some(id) = &self.app_set_id {
                    put("android_app_set_id", id);
                }
            }
        }
    }
}

/// Where a person lives and which language their devices report.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place {
    /// Country name.
    pub(crate) country: &'static str,
    /// City name.
    pub(crate) city: &'static str,
    /// Browser language tag (`navigator.language`).
    pub(crate) web_language: &'static str,
    /// Language code the apps report.
    pub(crate) app_language: &'static str,
}

/// Cities: weight and place. Mostly Korea; a few buyers abroad.
#[rustfmt::skip]
pub(crate) const PLACES: [(f64, Place); 14] = [
    (0.40, Place { country: "South Korea", city: "Seoul", web_language: "ko-KR", app_language: "ko" }),
    (0.08, Place { country: "South Korea", city: "Seongnam", web_language: "ko-KR", app_language: "ko" }),
    (0.07, Place { country: "South Korea", city: "Suwon", web_language: "ko-KR", app_language: "ko" }),
    (0.05, Place { country: "South Korea", city: "Goyang", web_language: "ko-KR", app_language: "ko" }),
    (0.05, Place { country: "South Korea", city: "Yongin", web_language: "ko-KR", app_language: "ko" }),
    (0.08, Place { country: "South Korea", city: "Busan", web_language: "ko-KR", app_language: "ko" }),
    (0.06, Place { country: "South Korea", city: "Incheon", web_language: "ko-KR", app_language: "ko" }),
    (0.05, Place { country: "South Korea", city: "Daegu", web_language: "ko-KR", app_language: "ko" }),
    (0.04, Place { country: "South Korea", city: "Daejeon", web_language: "ko-KR", app_language: "ko" }),
    (0.03, Place { country: "South Korea", city: "Gwangju", web_language: "ko-KR", app_language: "ko" }),
    (0.03, Place { country: "South Korea", city: "Jeju", web_language: "ko-KR", app_language: "ko" }),
    (0.03, Place { country: "South Korea", city: "Seoul", web_language: "en-US", app_language: "en" }),
    (0.02, Place { country: "Japan", city: "Tokyo", web_language: "ja-JP", app_language: "ja" }),
    (0.01, Place { country: "United States", city: "Los Angeles", web_language: "en-US", app_language: "en" }),
];
