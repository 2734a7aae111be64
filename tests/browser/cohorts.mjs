// The cohort pages in headless Chromium against a running `sluice` with the demo data: an editor
// builds "viewed a service but bought nothing in the last 30 days" by clicks, previews it (the
// size must be the API's answer to the definition the clicks mean), saves and computes it (the
// page's size must be the preview's), sees its members and its size over time; a viewer sees the
// cohort but no button that changes it.
//
// Usage: node cohorts.mjs [--url URL] [--admin NAME] [--admin-password PW] [--viewer NAME]
//                         [--viewer-password PW] [--artifacts DIR] (or the SLUICE_* variables).
import assert from "node:assert/strict";
import { login, options, pick, run, say, waitFor } from "./lib.mjs";

const args = options("cohorts.mjs", ["url", "admin", "admin-password", "viewer", "viewer-password"]);
const BASE = args.base;
const NAME = `viewed-not-bought-${Date.now().toString(36)}`;
const DEFINITION = {
  all: [
    { performed: { event: { event_type: "Service Viewed" }, during: { last_days: 30 } } },
    { did_not_perform: { event: { event_type: "Purchase Completed" }, during: { last_days: 30 } } },
  ],
};

const parseNum = (text) => Number(String(text).replace(/[,\s]/g, ""));

await run(args.artifacts, async ({ browser, watch, shot }) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = watch(await context.newPage(), "editor");
  const sent = [];
  page.on("request", (r) => {
    if (r.url().endsWith("/api/v1/query") && r.method() === "POST") sent.push(r.postDataJSON());
  });
  await login(page, BASE, args.admin, args["admin-password"]);

  say(`build ${NAME} by clicks`);
  await page.goto(`${BASE}/#/cohorts`);
  await page.click("[data-testid=cohort-new]");
  await page.fill("[data-testid=cohort-name]", NAME);
  await pick(page, "cond-0-event", "Service Viewed");
  await page.click("[data-testid=cohort-definition-add-did_not_perform]");
  await pick(page, "cond-1-event", "Purchase Completed");
  const summary = await page.textContent("[data-testid=cohort-summary]");
  assert.match(summary, /Service Viewed/, "the summary says what the cohort is");
  assert.match(summary, /Purchase Completed/, "the summary says what the cohort is");

  say("preview: the size is the API's for the definition the clicks mean");
  await page.click("[data-testid=cohort-preview]");
  const previewed = parseNum(await page.locator("[data-testid=cohort-preview-size]").textContent());
  const spec = sent.at(-1);
  assert.equal(spec.analysis, "cohort");
  assert.deepEqual(spec.definition, DEFINITION, "the builder sends the definition the clicks describe");
  const answer = await page.request.post(`${BASE}/api/v1/query`, { data: spec });
  assert.equal(answer.status(), 200, await answer.text());
  const api = await answer.json();
  assert.equal(previewed, api.size, "the preview shows the API's size");
  assert.ok(previewed > 0, "someone viewed a service and bought nothing");
  await shot(page, "cohort-builder.png");

  say("save and compute: the cohort's page shows the same size, its members and its history");
  await page.click("[data-testid=cohort-save]");
  await page.waitForSelector("[data-testid=cohort-page]");
  assert.equal(await page.textContent("[data-testid=cohort-title]"), NAME);
  await page.click("[data-testid=cohort-compute]");
  const computed = await waitFor("the computed size", async () => {
    const n = parseNum(await page.locator("[data-testid=cohort-size]").textContent());
    return Number.isFinite(n) && n > 0 ? n : undefined;
  });
  assert.equal(computed, previewed, "the computation counts the persons the preview counted");
  const members = page.locator("[data-testid=cohort-members-table] tbody tr");
  const sample = Math.min(50, computed);
  await waitFor(`the members sample of ${sample}`, async () => (await members.count()) > 0);
  assert.equal(await members.count(), sample, "the members sample lists the first 50 (or everyone)");
  await page.waitForSelector("[data-testid=cohort-history-chart] canvas");
  await shot(page, "cohort-page.png");

  say("a viewer sees the cohort but cannot change it");
  const viewing = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const viewer = watch(await viewing.newPage(), "viewer");
  await login(viewer, BASE, args.viewer, args["viewer-password"]);
  await viewer.goto(`${BASE}/#/cohorts/${NAME}`);
  await viewer.waitForSelector("[data-testid=cohort-page]");
  assert.equal(parseNum(await viewer.locator("[data-testid=cohort-size]").textContent()), computed);
  for (const testid of ["cohort-compute", "cohort-edit", "cohort-delete"]) {
    assert.equal(await viewer.locator(`[data-testid=${testid}]`).count(), 0, `a viewer has no ${testid} button`);
  }
  const refused = await viewer.request.delete(`${BASE}/api/v1/cohorts/${NAME}`);
  assert.equal(refused.status(), 403, "a viewer cannot delete a cohort");
  const width = await viewer.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 392, `the cohort page fits a phone (${width} px wide)`);
  await shot(viewer, "cohort-phone.png");
  await viewing.close();

  say("delete it");
  page.once("dialog", (d) => d.accept());
  await page.click("[data-testid=cohort-delete]");
  await page.waitForSelector("[data-testid=cohort-list]");
  const gone = await page.request.get(`${BASE}/api/v1/cohorts/${NAME}`);
  assert.equal(gone.status(), 404, "the cohort is gone");
  await context.close();
});
