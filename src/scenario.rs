//! The demo's seed scenario, the CRM team's loop end to end: three days before the demo data
//! ends, the persons who viewed a service in the last week and did not buy (a funnel's drop-off
//! bar) are saved as a cohort and synced to the campaign engine — a file destination, the
//! engine's import folder; the simulated engine sends them the drop-off rescue campaign and
//! reports its engagement as Braze Currents events; afterwards the campaign funnel (by message
//! variant) and the RFM table are printed.

use std::collections::HashSet;
use std::path::Path;

use anyhow::Context;
use chrono::NaiveDate;
use sluice_query::sync::{self, SyncConfig, SyncOutcome, SyncStore};
use sluice_query::{QueryEngine, QuerySpec};

/// The drop-off cohort.
pub(crate) const COHORT: &str = "service-dropoffs";
/// Its sync to the campaign engine.
pub(crate) const SYNC: &str = "service-dropoffs-to-crm";
/// The campaign engine's import folder, under the data directory.
const INBOX: &str = "campaign-engine/inbox";
/// The campaign funnel printed at the end (also an example of the query docs).
const CAMPAIGN_FUNNEL: &str = include_str!("../docs/examples/campaign-funnel.json");
/// The RFM table printed at the end.
const RFM: &str = include_str!("../docs/examples/rfm.json");

/// Saves the drop-off cohort of the week ending `as_of` (category page → service page →
/// purchase, dropped after the service page), computes it on `as_of`, and syncs it to the
/// campaign engine's inbox. Returns the user ids the engine received (persons never identified
/// cannot be messaged and are not among them).
pub(crate) async fn sync_dropoffs(
    data_dir: &Path,
    as_of: NaiveDate,
) -> anyhow::Result<HashSet<String>> {
    let engine = QueryEngine::new(data_dir);
    let from = as_of - chrono::Days::new(6);
    let funnel = serde_json::json!({
        "version": 1, "analysis": "funnel", "project": "marketplace", "time_zone": "Asia/Seoul",
        "date_range": {"from": from.to_string(), "to": as_of.to_string()},
        "steps": [{"event_type": "Category Viewed"}, {"event_type": "Service Viewed"},
                  {"event_type": "Purchase Completed"}],
        "conversion_window": {"value": 7, "unit": "day"},
    });
    let QuerySpec::Funnel(funnel) = QuerySpec::from_json(&funnel.to_string())? else {
        anyhow::bail!("the scenario's funnel is not a funnel spec");
    };
    let description =
        "viewed a service in the week and did not buy (the funnel's drop-off after step 2)";
    engine.cohort_from_funnel(COHORT, &funnel, 3, true, Some(description.to_owned()))?;
    let (run, _) = engine
        .compute_cohort(COHORT, Some(as_of.to_string()), Some(0))
        .await?;
    let inbox = data_dir.join(INBOX);
    let config: SyncConfig = serde_json::from_value(serde_json::json!({
        "name": SYNC, "cohort": COHORT,
        "destination": {"kind": "file", "dir": inbox, "format": "csv"},
    }))?;
    SyncStore::new(data_dir).save(&config)?;
    let report = sync::run(&engine, SYNC).await?;
    anyhow::ensure!(
        report.outcome == SyncOutcome::Completed,
        "the scenario's sync failed: {:?}",
        report.detail
    );
    let users = received_users(&inbox, report.run_ms)?;
    eprintln!(
        "seed scenario: cohort {COHORT} on {as_of}: {} persons; synced to {} ({} with a user id the campaign engine can message)",
        run.size,
        inbox.display(),
        users.len()
    );
    Ok(users)
}

/// The user ids of the entering users' files of the sync to computation `run_ms`.
fn received_users(inbox: &Path, run_ms: i64) -> anyhow::Result<HashSet<String>> {
    let prefix = format!("{SYNC}-{run_ms}-enter-");
    let mut users = HashSet::new();
    for entry in std::fs::read_dir(inbox).with_context(|| format!("reading {}", inbox.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !name.starts_with(&prefix) {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        for line in text.lines().skip(1) {
            let user = line.split(',').next().unwrap_or_default();
            if !user.is_empty() {
                users.insert(user.to_owned());
            }
        }
    }
    Ok(users)
}

/// Prints what the CRM team looks at afterwards: the rescue campaign's funnel by variant, and
/// the RFM table.
pub(crate) async fn report(data_dir: &Path) -> anyhow::Result<()> {
    let engine = QueryEngine::new(data_dir);
    for (title, spec) in [
        (
            "the rescue campaign's funnel by variant (docs/examples/campaign-funnel.json)",
            CAMPAIGN_FUNNEL,
        ),
        ("RFM segments (docs/examples/rfm.json)", RFM),
    ] {
        let result = engine.run(&QuerySpec::from_json(spec)?).await?;
        eprintln!(
            "seed scenario: {title}\n{}",
            sluice_query::render_table(&result)
        );
    }
    Ok(())
}
