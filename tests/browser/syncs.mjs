// A cohort's syncs managed from its page in headless Chromium against a running `sluice` with the
// demo data: a file sync is created by clicks (into a fresh folder under SLUICE_SYNC_DIR, the
// system's temporary folder when unset), run, its delivery log must show a completed sync and its
// CSV files as many user rows as the cohort's size on the page; then its schedule is edited (which
// must not start it over), the page is checked on a phone, and the sync is deleted (and the folder
// removed). With a viewer, the viewer sees no button that changes a sync.
//
// Usage: node syncs.mjs [--url URL] [--admin NAME] [--admin-password PW] [--viewer NAME]
// [--viewer-password PW] [--artifacts DIR] (or SLUICE_URL, SLUICE_ADMIN, … as lib.mjs reads
// them; SLUICE_SYNC_DIR for the files). Exits 1 on a failure.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { login, options, run, say, waitFor } from "./lib.mjs";
import { dateTime } from "../../dashboards/web/src/charts/format.js";

const args = options("syncs.mjs", ["url", "admin", "admin-password"]);
const BASE = args.base;
const SYNC = `ui-files-${Date.now().toString(36)}`;
const DIR = mkdtempSync(join(process.env.SLUICE_SYNC_DIR || tmpdir(), "sluice-sync-"));

/** The demo's seeded cohort when it is computed, else the first computed cohort. */
async function pickCohort(page) {
  const response = await page.request.get(`${BASE}/api/v1/cohorts`);
  assert.equal(response.status(), 200, `GET /api/v1/cohorts: ${await response.text()}`);
  const computed = (await response.json()).cohorts.filter((c) => c.latest && c.latest.size > 0);
  assert.ok(computed.length, "the data has a computed, non-empty cohort (the demo seeds service-dropoffs)");
  return (computed.find((c) => c.cohort.name === "service-dropoffs") ?? computed[0]).cohort.name;
}

async function apiSync(page, name) {
  const response = await page.request.get(`${BASE}/api/v1/syncs/${name}`);
  return { status: response.status(), body: response.status() === 200 ? await response.json() : null };
}

/** Data rows of the sync's CSV files in DIR (each file has a header line). */
function csvRows() {
  const files = readdirSync(DIR).filter((f) => f.startsWith(`${SYNC}-`));
  assert.ok(files.length > 0, `the sync wrote files into ${DIR}: ${JSON.stringify(readdirSync(DIR))}`);
  assert.ok(files.every((f) => f.endsWith(".csv")), `only finished CSV files (no temporary names): ${JSON.stringify(files)}`);
  let rows = 0;
  for (const f of files) {
    const lines = readFileSync(join(DIR, f), "utf8").split("\n").filter((l) => l.trim());
    assert.equal(lines[0].replace(/"/g, ""), "user_id,device_id,in_cohort", `${f}'s header`);
    assert.ok(/-enter-\d+\.csv$/.test(f), `the first sync only sends entering users: ${f}`);
    rows += lines.length - 1;
  }
  return { files, rows };
}

await run(args.artifacts, async ({ browser, watch, shot }) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = watch(await context.newPage(), "admin");
  await login(page, BASE, args.admin, args["admin-password"]);
  const cohort = await pickCohort(page);

  say(`cohort ${cohort}: its page`);
  await page.goto(`${BASE}/#/cohorts/${cohort}`);
  await page.waitForSelector("[data-testid=cohort-syncs] [data-testid=sync-new]");
  const size = Number((await page.textContent("[data-testid=cohort-size]")).replace(/[^0-9]/g, ""));
  assert.ok(size > 0, `the page shows the cohort's size: ${size}`);
  say(`  ${size} persons`);

  say(`new file sync ${SYNC} into ${DIR}, by clicks`);
  await page.click("[data-testid=sync-new]");
  const editor = page.locator("[data-testid=sync-editor]");
  await editor.waitFor();
  assert.equal(await page.inputValue("[data-testid=sync-cohort]"), cohort, "the new sync sends this page's cohort");
  await page.click("[data-testid=sync-save]");
  await page.waitForSelector("[data-testid=sync-problem-name]"); // an empty name is refused before anything is sent
  await page.fill("[data-testid=sync-name]", SYNC);
  await page.selectOption("[data-testid=sync-kind]", "file");
  await page.fill("[data-testid=sync-dir]", DIR);
  await page.selectOption("[data-testid=sync-format]", "csv");
  await shot(page, "sync-new.png");
  await page.click("[data-testid=sync-save]");
  const card = page.locator(`[data-testid=sync-${SYNC}]`);
  await card.waitFor();
  await editor.waitFor({ state: "detached" });
  assert.match(await page.textContent("[data-testid=sync-notice]"), new RegExp(`Created the sync “${SYNC}”`));
  const created = await apiSync(page, SYNC);
  assert.equal(created.status, 200);
  assert.deepEqual(created.body.sync.destination, { kind: "file", dir: DIR, format: "csv" }, "the saved destination");
  assert.equal(created.body.sync.cohort, cohort);
  assert.equal(created.body.sync.every_secs, undefined, "manual only");

  say("run it");
  await page.click(`[data-testid=sync-run-${SYNC}]`);
  const report = card.locator("[data-testid=sync-report]");
  await report.waitFor();
  const reportText = await report.textContent();
  assert.match(reportText, /^completed: /, `the run's report: ${reportText}`);
  await card.locator("summary", { hasText: "Delivery log" }).click();
  await waitFor("a completed sync in the delivery log", async () => {
    const rows = await card.locator("tr.sync-row").allTextContents();
    return rows.some((r) => r.includes("completed"));
  });
  const { files, rows } = csvRows();
  say(`  ${files.length} file(s), ${rows} user rows`);
  assert.equal(rows, size, "the CSV files hold one row per member of the cohort shown on the page");
  await shot(page, "sync-ran.png");
  const ranState = (await apiSync(page, SYNC)).body.state;
  assert.ok(ranState.synced_run_ms, "the destination holds a computation");
  // The sync's times are the cohort's zone's, as its computations are (not the browser's UTC).
  const zone = (await (await page.request.get(`${BASE}/api/v1/cohorts/${cohort}`)).json()).cohort.time_zone;
  const syncRow = await card.locator("tr.sync-row").first().textContent();
  assert.ok(syncRow.includes(`computation of ${dateTime(ranState.synced_run_ms, zone)}`), `the log names the computation in ${zone}: ${syncRow}`);

  say("edit its schedule: every 2 hours");
  await page.click(`[data-testid=sync-edit-${SYNC}]`);
  await editor.waitFor();
  assert.equal(await page.inputValue("[data-testid=sync-name]"), SYNC);
  assert.ok(await page.isDisabled("[data-testid=sync-name]"), "a sync's name cannot change");
  assert.equal(await page.inputValue("[data-testid=sync-dir]"), DIR, "the form is filled from the saved sync");
  await page.selectOption("[data-testid=sync-schedule]", "every");
  await page.fill("[data-testid=sync-every]", "2");
  await page.selectOption("[data-testid=sync-every-unit]", "hours");
  assert.equal(await page.locator("[data-testid=sync-warning]").count(), 0, "a schedule change does not start the sync over");
  await page.fill("[data-testid=sync-dir]", `${DIR}/elsewhere`);
  await page.locator("[data-testid=sync-warning]").waitFor(); // a new folder would
  await page.fill("[data-testid=sync-dir]", DIR);
  await page.locator("[data-testid=sync-warning]").waitFor({ state: "detached" });
  await page.click("[data-testid=sync-save]");
  await editor.waitFor({ state: "detached" });
  await waitFor("the card's new schedule", async () => (await card.textContent()).includes("every 2 h"));
  const edited = await apiSync(page, SYNC);
  assert.equal(edited.body.sync.every_secs, 7200);
  assert.equal(edited.body.state.synced_run_ms, ranState.synced_run_ms, "the edit kept what the destination holds");

  say("a phone (390×844): the form and the list fit the screen");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.click(`[data-testid=sync-edit-${SYNC}]`);
  await editor.waitFor();
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no sideways scrolling on a phone: ${width} px`);
  await shot(page, "phone-sync-edit.png");
  await page.click("[data-testid=sync-cancel]");
  await editor.waitFor({ state: "detached" });
  await page.setViewportSize({ width: 1280, height: 800 });

  say("delete it (confirmed)");
  page.once("dialog", (dialog) => dialog.accept());
  await page.click(`[data-testid=sync-delete-${SYNC}]`);
  await card.waitFor({ state: "detached" });
  assert.match(await page.textContent("[data-testid=sync-notice]"), /Deleted/);
  assert.equal((await apiSync(page, SYNC)).status, 404, "the sync is gone");
  await shot(page, "sync-deleted.png");

  if (args.viewer && args["viewer-password"]) {
    say("a viewer: no button that changes a sync");
    const viewerContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const viewer = watch(await viewerContext.newPage(), "viewer");
    await login(viewer, BASE, args.viewer, args["viewer-password"]);
    await viewer.goto(`${BASE}/#/cohorts/${cohort}`);
    await viewer.waitForSelector("[data-testid=cohort-syncs] h2");
    await viewer.waitForSelector("[data-testid=cohort-syncs] .loading", { state: "detached" });
    for (const selector of ["[data-testid=sync-new]", "[data-testid^=sync-edit-]", "[data-testid^=sync-delete-]", "[data-testid^=sync-run-]"]) {
      assert.equal(await viewer.locator(selector).count(), 0, `the viewer sees no ${selector}`);
    }
    await viewerContext.close();
  }
  rmSync(DIR, { recursive: true, force: true }); // kept after a failure, to look at
});
