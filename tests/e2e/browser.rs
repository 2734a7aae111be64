//! The web UI in a real browser: `tests/browser/acceptance.mjs` (playwright-core driving Debian's
//! headless Chromium, installed by `scripts/install-test-deps.sh`, which the test command runs)
//! against `sluice serve` on a small demo data set, logged in as an admin and as a viewer made
//! with `sluice user add`. The script builds a funnel by clicks and checks every number it reads
//! against `POST /api/v1/query`; `tests/browser/charts.mjs` opens every example query of
//! `docs/examples/` as a chart link and checks its views, table and CSV; `cohorts.mjs` builds a
//! cohort by clicks and checks its size against the API; `syncs.mjs` creates, runs, edits and
//! deletes a cohort's file sync from the cohort's page and counts the rows of the files it wrote;
//! `builder.mjs` drives the builder's less common options (strict modes, exclusion ranges,
//! brackets, frequency buckets…) and checks the spec fields they write and the API's answers.
//! Screenshots go to `target/browser-artifacts/<script>/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::Server;

const ADMIN: (&str, &str) = ("ada", "browser-test-admin-password");
const VIEWER: (&str, &str) = ("vic", "browser-test-viewer-password");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `sluice demo --no-serve` into `data`: 1 500 people over 35 days (a few seconds).
fn make_demo(data: &Path) {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["demo", "--no-serve", "--users", "1500", "--days", "35"])
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("running sluice demo");
    assert!(
        output.status.success(),
        "sluice demo failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `sluice user add NAME --role ROLE`, the password from `SLUICE_PASSWORD`.
fn add_user(data: &Path, (name, password): (&str, &str), role: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["user", "add", name, "--role", role, "--data-dir"])
        .arg(data)
        .env("SLUICE_PASSWORD", password)
        .output()
        .expect("running sluice user add");
    assert!(
        output.status.success(),
        "sluice user add {name} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Where a script's screenshots go: `target/browser-artifacts/<script>/`, emptied first.
fn artifacts_dir(script: &str) -> PathBuf {
    let dir = root().join("target/browser-artifacts").join(script);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating target/browser-artifacts");
    dir
}

/// Runs `tests/browser/<script>.mjs` against a server of a fresh small demo data set, with an
/// admin and a viewer made by `sluice user add`, and fails with its output unless it passes.
fn run_browser_script(script: &str) {
    let harness = root().join("tests/browser");
    assert!(
        harness.join("node_modules/playwright-core").is_dir(),
        "the browser tests are not installed (tests/browser/node_modules): run `bash scripts/install-test-deps.sh`"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: run `bash scripts/install-test-deps.sh`"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("demo");
    make_demo(&data);
    add_user(&data, ADMIN, "admin");
    add_user(&data, VIEWER, "viewer");
    // Served as the demo serves it: its tracking plan (properties, project, time zone) and key.
    let plan = root().join("schema/plans/marketplace.toml");
    let plan = plan.to_str().expect("a UTF-8 path");
    let server = Server::start(
        &data,
        &[
            "--tracking-plan",
            plan,
            "--api-key",
            "demo-marketplace-key=marketplace",
        ],
    );

    let artifacts = artifacts_dir(script);
    let output = Command::new("node")
        .arg(harness.join(format!("{script}.mjs")))
        .current_dir(&harness)
        .env("SLUICE_URL", &server.base_url)
        .env("SLUICE_ADMIN", ADMIN.0)
        .env("SLUICE_ADMIN_PASSWORD", ADMIN.1)
        .env("SLUICE_VIEWER", VIEWER.0)
        .env("SLUICE_VIEWER_PASSWORD", VIEWER.1)
        .env("SLUICE_ARTIFACTS", &artifacts)
        .output()
        .unwrap_or_else(|e| panic!("starting node tests/browser/{script}.mjs: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser test {script}.mjs failed ({}); screenshots in {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status,
        artifacts.display()
    );
    server.stop();
}

#[test]
fn the_web_ui_builds_saves_and_shares_a_funnel_that_matches_the_api() {
    run_browser_script("acceptance");
}

#[test]
fn every_example_query_draws_from_its_link_with_the_apis_table_and_csv() {
    run_browser_script("charts");
}

#[test]
fn an_editor_builds_previews_saves_and_computes_a_cohort_by_clicks() {
    run_browser_script("cohorts");
}

#[test]
fn a_cohort_page_creates_runs_edits_and_deletes_a_file_sync() {
    run_browser_script("syncs");
}

#[test]
fn the_builders_less_common_options_write_the_documented_spec_fields() {
    run_browser_script("builder");
}
