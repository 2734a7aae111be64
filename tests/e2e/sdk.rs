//! The official Amplitude SDKs, unchanged, against the real binary: `@amplitude/analytics-node`,
//! `amplitude-analytics` (Python) and `@amplitude/analytics-browser` in headless Chromium, driven
//! by the harness in `tests/sdk/` (installed by `scripts/install-test-deps.sh`, which the test
//! command runs). What they stored is checked through `POST /api/v1/query` only.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Server, eventually};

const KEY: &str = "sdk-e2e-key";

/// The three clients of the harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sdk {
    Node,
    Python,
    Browser,
}

const ALL_SDKS: [Sdk; 3] = [Sdk::Node, Sdk::Python, Sdk::Browser];

impl Sdk {
    /// Appended to every id of a scenario, so the SDKs can share one server.
    fn suffix(self) -> &'static str {
        match self {
            Sdk::Node => ".node",
            Sdk::Python => ".py",
            Sdk::Browser => ".web",
        }
    }

    /// The `library` value the SDK puts on its events.
    fn library_prefix(self) -> &'static str {
        match self {
            Sdk::Node => "amplitude-node-ts/",
            Sdk::Python => "amplitude-python/",
            Sdk::Browser => "amplitude-ts/",
        }
    }

    fn command(self) -> Command {
        let dir = harness_dir();
        let (program, script) = match self {
            Sdk::Node => (PathBuf::from("node"), "node_client.mjs"),
            Sdk::Python => (dir.join(".venv/bin/python"), "python_client.py"),
            Sdk::Browser => (PathBuf::from("node"), "browser_client.mjs"),
        };
        let mut command = Command::new(program);
        command.arg(dir.join(script)).current_dir(&dir);
        command
    }
}

fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk")
}

fn scenario(name: &str) -> PathBuf {
    harness_dir().join("scenarios").join(format!("{name}.json"))
}

/// What one SDK run reported: the code of each call, in action order.
#[derive(Debug)]
struct Outcome {
    sdk: Sdk,
    results: Vec<Value>,
}

impl Outcome {
    fn codes(&self) -> Vec<i64> {
        self.results
            .iter()
            .map(|r| r["code"].as_i64().unwrap_or(-1))
            .collect()
    }
}

/// Runs one client to completion and parses its result line; panics with its stderr on failure.
fn run_client(sdk: Sdk, url: &str, scenario: &Path, suffix: &str, timeout: Duration) -> Outcome {
    let dir = harness_dir();
    assert!(
        dir.join("node_modules").is_dir() && dir.join(".venv").is_dir(),
        "the SDK harness is not installed: run `bash scripts/install-test-deps.sh`"
    );
    let mut command = sdk.command();
    command
        .arg(url)
        .arg(KEY)
        .arg(scenario)
        .arg(format!("--timeout-ms={}", timeout.as_millis()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if !suffix.is_empty() {
        command.arg(format!("--id-suffix={suffix}"));
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("starting {sdk:?}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{sdk:?} client failed ({}):\n{stderr}",
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let parsed: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{sdk:?} printed no result line ({e}): {stdout}\n{stderr}"));
    let results = parsed["results"].as_array().cloned().unwrap_or_default();
    Outcome { sdk, results }
}

/// Runs clients side by side (each is mostly waiting), returning their outcomes in order.
async fn run_clients(runs: Vec<(Sdk, String, PathBuf, String)>, timeout: Duration) -> Vec<Outcome> {
    let handles: Vec<_> = runs
        .into_iter()
        .map(|(sdk, url, scenario, suffix)| {
            tokio::task::spawn_blocking(move || run_client(sdk, &url, &scenario, &suffix, timeout))
        })
        .collect();
    let mut outcomes = Vec::new();
    for handle in handles {
        outcomes.push(handle.await.expect("client thread"));
    }
    outcomes
}

async fn query(server: &Server, spec: Value) -> Value {
    let response = server
        .client()
        .post(format!("{}/api/v1/query", server.base_url))
        .json(&spec)
        .send()
        .await
        .expect("query request");
    assert_eq!(response.status(), 200, "query {spec} failed");
    response.json().await.expect("query answer is JSON")
}

/// The events listing for one user, once `expected` of their events are stored.
async fn user_events(server: &Server, user_id: &str, expected: u64) -> Value {
    let spec = json!({"version": 1, "analysis": "events", "user_id": user_id, "limit": 1000});
    eventually(
        Duration::from_secs(30),
        "the SDK's events to be stored",
        async || {
            let listing = query(server, spec.clone()).await;
            (listing["total"] == json!(expected)).then_some(listing)
        },
    )
    .await
}

fn counts_by_type(listing: &Value) -> Vec<(String, u64)> {
    listing["by_event_type"]
        .as_array()
        .expect("by_event_type")
        .iter()
        .map(|c| {
            let name = c["event_type"].as_str().unwrap_or_default().to_owned();
            (name, c["events"].as_u64().unwrap_or_default())
        })
        .collect()
}

fn insert_ids(listing: &Value) -> Vec<String> {
    let mut ids: Vec<String> = listing["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["insert_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    ids
}

/// The sum of the `sluice_http_requests_total` series answered with `code`.
async fn responses_with_code(server: &Server, code: u16) -> u64 {
    let text = reqwest::get(format!("{}/metrics", server.base_url))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let label = format!("code=\"{code}\"");
    text.lines()
        .filter(|l| l.starts_with("sluice_http_requests_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn expected(values: &[(&str, u64)]) -> Vec<(String, u64)> {
    values.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn official_sdks_track_identify_group_and_revenue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--api-key", KEY, "--throttle-eps", "0"]);
    let url = format!("{}/2/httpapi", server.base_url);
    let runs = ALL_SDKS
        .iter()
        .map(|&sdk| (sdk, url.clone(), scenario("basic"), sdk.suffix().to_owned()))
        .collect();
    for outcome in run_clients(runs, Duration::from_secs(90)).await {
        assert_eq!(
            outcome.codes(),
            [200; 10],
            "{:?}: {:?}",
            outcome.sdk,
            outcome.results
        );
        check_basic_scenario(&server, outcome.sdk).await;
    }
    // The SDKs' events feed the analyses: every user viewed, then purchased.
    let funnel = query(
        &server,
        json!({"version": 1, "analysis": "funnel",
               "date_range": {"from": "2026-01-01", "to": "2026-01-01"},
               "steps": [{"event_type": "Service Viewed"}, {"event_type": "Service Purchased"}]}),
    )
    .await;
    let persons: Vec<u64> = funnel["overall"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["persons"].as_u64().unwrap_or_default())
        .collect();
    assert_eq!(persons, [3, 3], "{funnel}");
    server.stop();
}

/// What `scenarios/basic.json` must leave behind for one SDK's ids.
async fn check_basic_scenario(server: &Server, sdk: Sdk) {
    let s = sdk.suffix();
    let listing = user_events(server, &format!("u1{s}"), 10).await;
    assert_eq!(
        counts_by_type(&listing),
        expected(&[
            ("$identify", 6),
            ("$groupidentify", 1),
            ("Service Purchased", 1),
            ("Service Viewed", 1),
            ("revenue_amount", 1),
        ]),
        "{sdk:?}"
    );
    let user = &listing["user"];
    assert_eq!(user["device_ids"], json!([format!("d1{s}")]), "{sdk:?}");
    // Every operation applied in Amplitude's order: set, setOnce (the second one ignored), add,
    // append / prepend / preInsert / postInsert / remove on one list, unset of a missing key,
    // and setGroup's $set of the group.
    assert_eq!(
        user["user_properties"],
        json!({"plan": "pro", "first_seen": "2026-01-01", "logins": 3,
               "tags": ["y", "z", "b"], "org": format!("acme{s}")}),
        "{sdk:?}"
    );
    assert_eq!(
        user["group_properties"],
        json!({"org": {format!("acme{s}"): {"tier": "gold", "seats": 5}}}),
        "{sdk:?}"
    );
    let events = listing["events"].as_array().expect("events");
    let of_type = |t: &str| -> &Value {
        events
            .iter()
            .find(|e| e["event_type"] == t)
            .unwrap_or_else(|| panic!("{sdk:?}: no {t} event"))
    };
    let revenue = of_type("revenue_amount");
    assert_eq!(revenue["price"], json!(30.5), "{sdk:?}: {revenue}");
    assert_eq!(revenue["quantity"], json!(2), "{sdk:?}: {revenue}");
    assert_eq!(revenue["revenue"], json!(61.0), "{sdk:?}: {revenue}");
    assert_eq!(revenue["product_id"], json!("svc-1"), "{sdk:?}: {revenue}");
    let purchase = of_type("Service Purchased");
    assert_eq!(purchase["insert_id"], json!(format!("basic-purchase-1{s}")));
    assert_eq!(purchase["event_properties"]["service_id"], json!("svc-1"));
    // Stamped at arrival: the purchase carries the properties the identifies had set.
    assert_eq!(purchase["user_properties"]["plan"], json!("pro"), "{sdk:?}");
    let viewed = of_type("Service Viewed");
    assert!(
        viewed["user_properties"].get("plan").is_none(),
        "{sdk:?}: the first view happened before plan was set: {viewed}"
    );
    for event in events {
        let library = event["library"].as_str().unwrap_or_default();
        assert!(
            library.starts_with(sdk.library_prefix()),
            "{sdk:?}: library {library:?}"
        );
    }
}

/// Runs `scenario` with every SDK (ids suffixed) against one server started with `flags`, and
/// checks that each SDK got 200 for all `events` calls and that each of its `<prefix>-<i>` insert
/// ids is stored exactly once for `user`; then that the server answered `code` at least once
/// per SDK.
async fn every_event_lands_once(
    flags: &[&str],
    scenario_name: &str,
    user: &str,
    prefix: &str,
    events: usize,
    code: u16,
    timeout: Duration,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args = vec!["--api-key", KEY];
    args.extend_from_slice(flags);
    let server = Server::start(dir.path(), &args);
    let url = format!("{}/2/httpapi", server.base_url);
    let runs = ALL_SDKS
        .iter()
        .map(|&sdk| {
            (
                sdk,
                url.clone(),
                scenario(scenario_name),
                sdk.suffix().to_owned(),
            )
        })
        .collect();
    for outcome in run_clients(runs, timeout).await {
        assert_eq!(
            outcome.codes(),
            vec![200; events],
            "{:?}: {:?}",
            outcome.sdk,
            outcome.results
        );
        let s = outcome.sdk.suffix();
        let listing = user_events(&server, &format!("{user}{s}"), events as u64).await;
        let mut wanted: Vec<String> = (0..events).map(|i| format!("{prefix}-{i}{s}")).collect();
        wanted.sort();
        assert_eq!(insert_ids(&listing), wanted, "{:?}", outcome.sdk);
    }
    let seen = responses_with_code(&server, code).await;
    assert!(
        seen >= ALL_SDKS.len() as u64,
        "every SDK saw a {code} (seen {seen})"
    );
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sdks_split_an_oversized_batch_after_413_and_deliver_each_event_once() {
    // Ten events queued, three allowed per request: the SDKs halve their batch until it fits.
    let flags = ["--throttle-eps", "0", "--max-events-per-request", "3"];
    let timeout = Duration::from_secs(90);
    every_event_lands_once(&flags, "oversized", "buyer-413", "big", 10, 413, timeout).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sdks_hold_throttled_events_after_429_and_deliver_them_later() {
    // Five events per device and user at once, then one per second: the first three go out
    // (explicit flush), the next four exceed what is left and get a 429; the SDKs hold them back
    // 30 s (TS: the whole batch; Python: the throttled ones, the rest at once) and resend.
    let flags = ["--throttle-eps", "1", "--throttle-window-secs", "5"];
    let timeout = Duration::from_secs(150);
    every_event_lands_once(&flags, "throttled", "buyer-429", "slow", 7, 429, timeout).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sdks_drop_events_reported_invalid_by_index_and_deliver_the_rest() {
    // No id suffix here (it would lengthen the short id and unmake the forbidden one), so each
    // SDK gets a server of its own.
    let dirs: Vec<_> = ALL_SDKS
        .iter()
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let servers: Vec<Server> = dirs
        .iter()
        .map(|d| Server::start(d.path(), &["--api-key", KEY, "--throttle-eps", "0"]))
        .collect();
    let runs = ALL_SDKS
        .iter()
        .zip(&servers)
        .map(|(&sdk, server)| {
            let url = format!("{}/2/httpapi", server.base_url);
            (sdk, url, scenario("invalid"), String::new())
        })
        .collect();
    let outcomes = run_clients(runs, Duration::from_secs(90)).await;
    for (outcome, server) in outcomes.iter().zip(&servers) {
        // Ids all shorter than 5 and the forbidden "unknown" are refused by index; the SDK
        // drops those two and resends the valid rest.
        assert_eq!(
            outcome.codes(),
            [200, 400, 400, 200],
            "{:?}: {:?}",
            outcome.sdk,
            outcome.results
        );
        let listing = user_events(server, "buyer-400", 2).await;
        assert_eq!(insert_ids(&listing), ["ok-0", "ok-1"], "{:?}", outcome.sdk);
        let everything = query(server, json!({"version": 1, "analysis": "events"})).await;
        assert_eq!(
            everything["total"],
            json!(2),
            "{:?}: nothing else stored",
            outcome.sdk
        );
        assert!(responses_with_code(server, 400).await >= 1);
    }
    for server in servers {
        server.stop();
    }
}
