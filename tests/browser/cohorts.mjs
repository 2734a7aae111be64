// The cohort pages in headless Chromium against a running `sluice` with the demo data: an editor
// builds "viewed a service but bought nothing in the last 30 days" by clicks, previews it (the
// size must be the API's answer to the definition the clicks mean), saves and computes it (the
// page's size must be the preview's), sees its members and its size over time; a viewer sees the
// cohort but no button that changes it. Then the conditions that read more than one event by
// clicks: "reached step 2 but not step 3 last week" (its preview must be the funnel chart's
// drop-off between those steps, from the funnel API), and "did A, then B" with "on at least 2
// different days", and "new in the last 30 days, did not return on days 1 to 7" (each must send the
// intended definition and be counted as the API counts it).
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

const FUNNEL_STEPS = ["Category Viewed", "Service Viewed", "Purchase Completed"];
const DROPPED = {
  all: [
    {
      funnel: {
        steps: FUNNEL_STEPS.map((event_type) => ({ event_type })),
        conversion_window: { value: 1, unit: "day" },
        order: "this",
        during: { last_days: 7 },
        dropped_after: 2,
      },
    },
  ],
};
const SEQUENCE = {
  all: [
    { then: { first: { event_type: "Service Viewed" }, then: { event_type: "Checkout Started" }, during: { last_days: 30 } } },
    { performed: { event: { event_type: "Category Viewed" }, during: { last_days: 30 }, distinct_days: { op: "greater_or_equal", value: 2 } } },
  ],
};
const NOT_RETAINED = {
  all: [
    {
      retention: {
        start_event: { event_type: "_new" },
        return_event: { event_type: "_all" },
        started_during: { last_days: 30 },
        interval: "day",
        periods: [1, 8],
        returned: false,
      },
    },
  ],
};

const parseNum = (text) => Number(String(text).replace(/[,\s]/g, ""));

/** Clicks Preview and answers the size shown and the spec the page sent. */
async function preview(page, sent) {
  const before = sent.length;
  await page.click("[data-testid=cohort-preview]");
  await waitFor("the preview's request", async () => sent.length > before || undefined);
  await page.waitForSelector("[data-testid=cohort-preview-size]");
  await waitFor("the preview to be current", async () => (await page.locator("[data-testid=cohort-preview-stale]").count()) === 0 || undefined);
  return { size: parseNum(await page.locator("[data-testid=cohort-preview-size]").textContent()), spec: sent.at(-1) };
}

/**
 * Previews, checks the page sent `definition` and shows the API's size for the spec it sent, and
 * that someone is in it; answers the size and the spec.
 */
async function previewMatchesApi(page, sent, definition, what) {
  const shown = await preview(page, sent);
  assert.deepEqual(shown.spec.definition, definition, `the builder sends the definition the clicks describe: ${what}`);
  const answer = await page.request.post(`${BASE}/api/v1/query`, { data: shown.spec });
  assert.equal(answer.status(), 200, await answer.text());
  assert.equal(shown.size, (await answer.json()).size, `the preview shows the API's size: ${what}`);
  assert.ok(shown.size > 0, `someone ${what}`);
  return shown;
}

/** Starts a new cohort whose only condition is added by `addKind` (the first, default, row removed). */
async function startWith(page, addKind) {
  await page.goto(`${BASE}/#/cohorts`);
  await page.click("[data-testid=cohort-new]");
  await page.click(`[data-testid=cohort-definition-add-${addKind}]`);
  await page.locator('[data-testid=cond-0] button[title="Remove this condition"]').first().click();
}

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

  say("preview as of ten days ago: the spec carries as_of, and the size is the API's for that day");
  const earlier = new Date(Date.now() - 10 * 86_400_000).toISOString().slice(0, 10);
  await page.fill("[data-testid=cohort-preview-as-of]", earlier);
  const past = await previewMatchesApi(page, sent, DEFINITION, "viewed a service and bought nothing, as of ten days ago");
  assert.equal(past.spec.as_of, earlier, "the preview asks for the chosen day");
  assert.match(await page.textContent("[data-testid=cohort-preview-result]"), new RegExp(`as of ${earlier}`));
  await page.fill("[data-testid=cohort-preview-as-of]", "");

  say("save, which computes it: the cohort's page shows the same size, its members and its history");
  await page.click("[data-testid=cohort-save]");
  await page.waitForSelector("[data-testid=cohort-page]");
  assert.equal(await page.textContent("[data-testid=cohort-title]"), NAME);
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
  const { history } = await (await page.request.get(`${BASE}/api/v1/cohorts/${NAME}`)).json();
  assert.equal(history.length, 1, `saving computed it once: ${JSON.stringify(history)}`);
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

  say("a funnel drop-off cohort by clicks: reached step 2 but not step 3 in the last 7 days");
  await startWith(page, "funnel");
  for (const [i, step] of FUNNEL_STEPS.entries()) await pick(page, `cond-0-step-${i}-event`, step);
  assert.equal(await page.locator("[data-testid=cond-0-outcome]").inputValue(), "dropped_after");
  assert.equal(await page.locator("[data-testid=cond-0-outcome-step]").inputValue(), "2");
  assert.match(await page.textContent("[data-testid=cohort-summary]"), /reached step 2 but not step 3/);
  const dropped = await previewMatchesApi(page, sent, DROPPED, "reached step 2 but not step 3");
  const funnelSpec = {
    version: 1,
    analysis: "funnel",
    ...(dropped.spec.project ? { project: dropped.spec.project } : {}),
    time_zone: dropped.spec.time_zone,
    date_range: { last_days: 7 },
    steps: FUNNEL_STEPS.map((event_type) => ({ event_type })),
    conversion_window: { value: 1, unit: "day" },
  };
  const chart = await page.request.post(`${BASE}/api/v1/query`, { data: funnelSpec });
  assert.equal(chart.status(), 200, await chart.text());
  const steps = (await chart.json()).overall.steps;
  const expected = steps[1].persons - steps[2].persons;
  assert.ok(expected > 0, `someone dropped off between steps 2 and 3: ${JSON.stringify(steps)}`);
  assert.equal(dropped.size, expected, "the cohort is the funnel chart's drop-off between steps 2 and 3");
  say(`  ${dropped.size} persons, as the funnel chart's ${steps[1].persons} − ${steps[2].persons}`);
  await shot(page, "cohort-funnel-dropoff.png");

  say("a sequence and a measure by clicks: viewed a service, then started a checkout; category pages on 2+ days");
  await startWith(page, "then");
  await pick(page, "cond-0-first-event", "Service Viewed");
  await pick(page, "cond-0-then-event", "Checkout Started");
  await page.click("[data-testid=cohort-definition-add-performed]");
  await pick(page, "cond-1-event", "Category Viewed");
  await page.selectOption("[data-testid=cond-1-measure]", "distinct_days");
  await page.selectOption("[data-testid=cond-1-measure-op]", "greater_or_equal");
  await page.fill("[data-testid=cond-1-measure-value]", "2");
  await page.locator("[data-testid=cond-1-measure-value]").blur();
  await previewMatchesApi(page, sent, SEQUENCE, "viewed a service, then checked out, and browsed categories on two days");

  say("a retention condition by clicks: new in the last 30 days, did not return on days 1 to 7");
  await startWith(page, "retention");
  await page.selectOption("[data-testid=cond-0-when]", "bracket");
  await page.fill("[data-testid=cond-0-to]", "7");
  await page.locator("[data-testid=cond-0-to]").blur();
  await previewMatchesApi(page, sent, NOT_RETAINED, "was new in the last 30 days and did not come back in the first week");

  say("delete the first cohort");
  await page.goto(`${BASE}/#/cohorts/${NAME}`);
  await page.waitForSelector("[data-testid=cohort-page]");
  page.once("dialog", (d) => d.accept());
  await page.click("[data-testid=cohort-delete]");
  await page.waitForSelector("[data-testid=cohort-list]");
  const gone = await page.request.get(`${BASE}/api/v1/cohorts/${NAME}`);
  assert.equal(gone.status(), 404, "the cohort is gone");

  say("the list's filter keeps the cohorts whose name, description or definition has every word");
  const all = await page.locator("[data-testid^=cohort-row-]").count();
  const listed = (await (await page.request.get(`${BASE}/api/v1/cohorts`)).json()).cohorts;
  assert.equal(all, listed.length, "every saved cohort is listed");
  await page.fill("[data-testid=cohort-filter]", "no-such-cohort-anywhere");
  await waitFor("no row", async () => (await page.locator("[data-testid^=cohort-row-]").count()) === 0 || undefined);
  assert.match(await page.textContent("[data-testid=cohort-list] + p.hint"), /No cohort matches/);
  // Words in any order and case, from the name and the definition's words.
  await page.fill("[data-testid=cohort-filter]", "DROPOFFS service");
  const rows = await waitFor("the demo's service-dropoffs", async () => {
    const ids = await page.locator("[data-testid^=cohort-row-]").evaluateAll((trs) => trs.map((tr) => tr.dataset.testid));
    return ids.length ? ids : undefined;
  });
  assert.ok(rows.includes("cohort-row-service-dropoffs"), `${rows}`);
  await page.fill("[data-testid=cohort-filter]", "service-dropoffs funnel");
  await waitFor("a match by name and definition", async () => (await page.locator("[data-testid=cohort-row-service-dropoffs]").count()) === 1 || undefined);
  await context.close();
});
