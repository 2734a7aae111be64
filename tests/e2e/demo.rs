//! The demo's seed scenario through the real binary: `sluice demo` on a small marketplace saves
//! the week's service-page drop-offs as a cohort, syncs it to the campaign engine's inbox, the
//! engine messages them and reports engagement as Currents events, and the campaign funnel and
//! the RFM table answer.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::query_cli;

/// Runs `sluice query --json` on `spec` and parses the answer.
fn query(data: &Path, spec: &Value) -> Value {
    let file = data.join("spec.json");
    std::fs::write(&file, spec.to_string()).unwrap();
    serde_json::from_str(&query_cli(data, &file, "--json")).unwrap()
}

fn persons(steps: &Value) -> Vec<u64> {
    steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["persons"].as_u64().unwrap())
        .collect()
}

#[test]
fn the_demo_syncs_a_dropoff_cohort_and_measures_the_campaign_it_gets() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "demo",
            "--no-serve",
            "--users",
            "4000",
            "--days",
            "21",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .expect("running sluice demo");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "sluice demo failed: {stderr}");
    assert!(
        stderr.contains("seed scenario: cohort service-dropoffs"),
        "{stderr}"
    );

    // The cohort was synced once, completely, to the engine's inbox.
    let log =
        std::fs::read_to_string(data.join("syncs/service-dropoffs-to-crm/log.jsonl")).unwrap();
    let entries: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sync = entries
        .iter()
        .find(|e| e["kind"] == "sync")
        .expect("a sync entry");
    assert_eq!(sync["completed"], json!(true), "{sync}");
    let entered = sync["entered"].as_u64().unwrap();
    assert!(entered > 20, "only {entered} drop-offs");

    // The campaign funnel: every step answered, both variants, and the persons messaged are
    // at most the cohort's identified members.
    let funnel: Value =
        serde_json::from_str(include_str!("../../docs/examples/campaign-funnel.json")).unwrap();
    let result = query(&data, &funnel);
    let overall = persons(&result["overall"]["steps"]);
    assert_eq!(overall.len(), 5);
    assert!(
        overall[0] > 0 && overall[0] <= entered,
        "{overall:?} of {entered}"
    );
    assert!(overall[2] > 0, "nobody clicked: {overall:?}");
    assert!(overall[4] > 0, "nobody bought after a click: {overall:?}");
    let variants: Vec<&str> = result["by_breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|row| row["value"].as_str())
        .collect();
    assert!(
        variants.contains(&"A") && variants.contains(&"B"),
        "{variants:?}"
    );

    // Nobody outside the synced cohort got the rescue campaign.
    let outsiders = query(
        &data,
        &json!({"version": 1, "analysis": "cohort", "project": "marketplace",
            "definition": {"all": [
                {"performed": {"event": {"event_type": "Campaign Message Sent",
                    "where": [{"kind": "event", "property": "campaign_id", "op": "is",
                               "values": ["cmp_dropoff_rescue"]}]},
                    "during": {"last_days": 30}}},
                {"not": {"in_cohort": "service-dropoffs"}}]}}),
    );
    assert_eq!(outsiders["size"], json!(0), "{outsiders}");

    // The engagement came in through the Currents translation.
    let currents = query(
        &data,
        &json!({"version": 1, "analysis": "segmentation", "project": "marketplace",
            "date_range": {"last_days": 30}, "interval": "day",
            "events": [{"event_type": "Campaign Message Opened", "measure": "uniques",
                "where": [{"kind": "event", "property": "currents_event_type", "op": "is",
                           "values": ["users.messages.email.Open"]}]}]}),
    );
    let opens: u64 = currents["series"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap_or(0))
        .sum();
    assert_eq!(opens, overall[1], "{currents}");

    // The "Key metrics" board holds the example charts, each a valid saved chart.
    let board_files: Vec<_> = std::fs::read_dir(data.join("boards")).unwrap().collect();
    assert_eq!(board_files.len(), 1);
    let board: Value =
        serde_json::from_slice(&std::fs::read(board_files[0].as_ref().unwrap().path()).unwrap())
            .unwrap();
    assert_eq!(board["name"], "Key metrics");
    assert_eq!(board["charts"].as_array().unwrap().len(), 6);
    for tile in board["charts"].as_array().unwrap() {
        let id = tile["chart_id"].as_str().unwrap();
        assert!(
            data.join("charts").join(format!("{id}.json")).is_file(),
            "{id}"
        );
    }

    // The RFM table answers with buyers in several segments.
    let rfm: Value = serde_json::from_str(include_str!("../../docs/examples/rfm.json")).unwrap();
    let result = query(&data, &rfm);
    let segments = result["segments"].as_array().unwrap();
    let buyers: u64 = segments
        .iter()
        .map(|s| s["persons"].as_u64().unwrap_or(0))
        .sum();
    assert!(buyers > 50, "{result}");
    assert!(
        segments
            .iter()
            .filter(|s| s["persons"].as_u64().unwrap_or(0) > 0)
            .count()
            >= 4,
        "{result}"
    );
}
