// The chart builder's less common options, by clicks, in headless Chromium against a running
// `sluice` with the demo data: each control must write the spec field the query API documents
// (read back from the URL, which reproduces the chart), keep it through other edits, refuse the
// combinations the API refuses, and the page must show the API's numbers or its error message. A
// cell of a second return event's retention table saves that cell's persons as a cohort. The
// saved-charts list names each chart's dashboards and deletes one that is on none.
//
// Usage: node builder.mjs [--url URL] [--admin NAME] [--admin-password PW] [--artifacts DIR]
// (or the SLUICE_* variables). Exits 1 on a failure.
import assert from "node:assert/strict";
import { decodeState, login, options, pick as pickIn, run, say, waitFor } from "./lib.mjs";

const args = options("builder.mjs", ["url", "admin", "admin-password"]);
const BASE = args.base;

await run(args.artifacts, async ({ browser, watch, shot }) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // The API's 400 for a refused spec is expected once (and its message checked on the page).
  const page = watch(await context.newPage(), "editor", /status of 40[013]/);
  await login(page, BASE, args.admin, args["admin-password"]);

  const spec = () => decodeState(new URLSearchParams(new URL(page.url()).hash.split("?")[1]).get("spec"));
  /** Waits until the URL's spec satisfies `check` (the builder writes it as it is edited). */
  const specWhere = (what, check) => waitFor(what, async () => check(spec()) && spec());
  // "add" pickers (group-by, held properties) turn into chips with their own testids.
  const pick = (testid, text) => pickIn(page, testid, text, testid.endsWith("-add") ? null : testid);
  const fill = async (testid, text) => {
    await page.fill(`[data-testid=${testid}]`, text);
    await page.press(`[data-testid=${testid}]`, "Tab");
  };
  /**
   * The answer to the spec being built (the "Query spec (JSON)" block: what the page sends), once
   * the page shows its answer or error: the API's status and JSON for the same spec.
   */
  const answer = async () => {
    const sent = await waitFor("the page's answer to the spec it shows", async () => {
      const shown = JSON.stringify(JSON.parse(await page.locator(".spec-json pre").textContent()));
      const answered = await page.locator("[data-testid=result]").getAttribute("data-answered");
      return answered === shown && JSON.parse(shown);
    });
    const response = await page.request.post(`${BASE}/api/v1/query`, { data: sent });
    return { status: response.status(), body: await response.json() };
  };
  const pageError = async () => {
    const error = page.locator("[data-testid=query-error]");
    return (await error.count()) ? error.textContent() : null;
  };

  say("funnel: exclusion ranges, strict modes, time to convert, hold constant, a step's group-by");
  await page.goto(`${BASE}/#/chart`);
  await page.click("[data-testid=analysis-funnel]");
  await pick("step-0-event", "Searched");
  await pick("step-1-event", "Service Viewed");
  await page.click("[data-testid=step-add]");
  await pick("step-2-event", "Purchase Completed");
  await page.click("[data-testid=exclusion-add]");
  await pick("exclusion-0-event", "Category Viewed");
  await page.selectOption("[data-testid=exclusion-0-between-from]", "2");
  await specWhere("exclusion between 2 and 3", (s) => JSON.stringify(s.exclusions?.[0]?.between) === "[2,3]");
  await page.selectOption("[data-testid=exclusion-0-between-from]", "1");
  await specWhere("first to last is the default, left out", (s) => s.exclusions?.[0] && s.exclusions[0].between === undefined);
  await page.selectOption("[data-testid=exclusion-0-between-to]", "2");
  await specWhere("exclusion between 1 and 2", (s) => JSON.stringify(s.exclusions?.[0]?.between) === "[1,2]");
  let { status, body } = await answer();
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(await pageError(), null, "an exclusion range runs");
  assert.equal(await page.isDisabled("[data-testid=strict-increase]"), true, "strict modes exclude exclusions");

  await page.locator("[data-testid=exclusion-0] button.icon[title=Remove]").first().click();
  await specWhere("no exclusions", (s) => s.exclusions === undefined);
  await page.check("[data-testid=strict-increase]");
  await page.check("[data-testid=strict-deduplication]");
  await specWhere("both strict modes", (s) => JSON.stringify(s.strict) === '["strict_deduplication","strict_increase"]');
  for (const testid of ["time-to-convert", "exclusion-add", "funnel-order"]) {
    assert.equal(await page.isDisabled(`[data-testid=${testid}]`), true, `strict modes disable ${testid}`);
  }
  ({ status, body } = await answer());
  assert.equal(status, 200, JSON.stringify(body));
  const strictLast = body.overall.steps[2].persons;
  assert.equal(Number((await page.textContent("[data-testid=funnel-step-3-persons]")).replace(/,/g, "")), strictLast, "the strict funnel's last step is the API's");
  await page.uncheck("[data-testid=strict-deduplication]");
  await page.uncheck("[data-testid=strict-increase]");
  await specWhere("no strict modes", (s) => s.strict === undefined);

  await page.check("[data-testid=time-to-convert]");
  await page.selectOption("[data-testid=ttc-from]", "2");
  await fill("ttc-buckets", "0, 1m, 1h, 1d");
  await specWhere("time to convert from step 2 with buckets", (s) => JSON.stringify(s.time_to_convert) === '{"from_step":2,"buckets_ms":[0,60000,3600000,86400000]}');
  ({ status, body } = await answer());
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.time_to_convert.histogram.length, 4, "one bar per bucket");
  await page.click("[data-testid=view-time_to_convert]");

  await pick("hold-constant-add", "platform");
  await specWhere("platform held constant", (s) => JSON.stringify(s.hold_constant) === '[{"kind":"field","property":"platform"}]');
  await pick("group-by-add", "package");
  await page.selectOption("[data-testid=group-by-0-step]", "2");
  await specWhere("package read on step 2", (s) => s.group_by?.[0]?.step === 2);
  await pick("group-by-add", "category");
  const later = await page.locator("[data-testid=group-by-1-step] option").evaluateAll((os) => os.map((o) => o.disabled));
  assert.deepEqual(later, [false, true, true], "only one group-by property may read a later step");
  await fill("group-limit", "4");
  await specWhere("four groups", (s) => s.group_limit === 4);
  ({ status, body } = await answer());
  assert.equal(status, 200, JSON.stringify(body));
  assert.ok(body.by_breakdown.length <= 5, "at most four groups and the other row");
  await shot(page, "builder-funnel.png");

  say("removing step 2 renumbers what named it");
  await page.locator("[data-testid=step-1] button.icon[title=Remove]").first().click();
  const after = await specWhere("two steps", (s) => s.steps.length === 2);
  assert.deepEqual(after.steps.map((x) => x.event_type), ["Searched", "Purchase Completed"]);
  assert.ok((after.group_by ?? []).every((g) => (g.step ?? 1) <= 2), `no group-by reads a step that is gone: ${JSON.stringify(after.group_by)}`);
  assert.ok(!after.time_to_convert?.from_step || after.time_to_convert.from_step <= 2, `time to convert names existing steps: ${JSON.stringify(after.time_to_convert)}`);

  say("retention: a second return event, brackets, and the API's refusal shown");
  await page.click("[data-testid=analysis-retention]");
  await pick("return-event", "Service Viewed");
  await page.click("[data-testid=return-add]");
  await pick("return-2-event", "Purchase Completed");
  await specWhere("two return events", (s) => s.return_events?.map((e) => e.event_type).join() === "Service Viewed,Purchase Completed" && s.return_event === undefined);
  await page.selectOption("[data-testid=retention-method]", "brackets");
  await specWhere("brackets", (s) => JSON.stringify(s.method) === '{"brackets":[[1,2],[2,8]]}');
  await page.click("[data-testid=bracket-add]");
  await specWhere("a third bracket", (s) => s.method.brackets.length === 3);
  ({ status, body } = await answer());
  assert.equal(status, 400, "a bracket past the periods followed is refused");
  const refusal = await waitFor("the refusal on the page", pageError);
  assert.ok(refusal.endsWith(body.error), `the page shows the API's message: ${refusal}`);
  assert.match(refusal, /^Bracket 3 — /, "led by the place in the form's own numbering");
  await fill("periods", "8");
  ({ status, body } = await answer());
  assert.equal(status, 200, JSON.stringify(body));
  await page.waitForSelector("[data-testid=retention-table-2]");
  assert.equal(await page.locator("[data-testid=retention-table-2] tbody tr").count(), body.second_return.cohorts.length + 1, "the second return event's table");
  await shot(page, "builder-retention.png");

  say("a cell of the second return event's table saves its persons as a cohort");
  const cohorts2 = body.second_return.cohorts;
  const row = cohorts2.findIndex((c) => c.returned[0] > 0);
  assert.ok(row >= 0, `someone returned with the second event: ${JSON.stringify(cohorts2)}`);
  const cellName = `second-return-${Date.now().toString(36)}`;
  await page.locator("[data-testid=retention-table-2] tbody tr").nth(row + 1).locator("td.cell").first().click();
  const dialog = page.locator("[data-testid=cohort-dialog]");
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /Purchase Completed/, "the dialog names the return event");
  await page.fill("[data-testid=cohort-dialog] [data-testid=cohort-name]", cellName);
  await page.click("[data-testid=cohort-dialog] [data-testid=cohort-save]");
  const made = await waitFor("the second table's cell cohort", async () => {
    const size = page.locator("[data-testid=cohort-made-size]");
    return (await size.count()) ? Number((await size.textContent()).replace(/,/g, "")) : undefined;
  });
  assert.equal(made, cohorts2[row].returned[0], `the cohort of ${cohorts2[row].period}'s first bracket has the cell's persons`);
  const saved = await (await page.request.get(`${BASE}/api/v1/cohorts/${cellName}`)).json();
  assert.equal(saved.cohort.definition.retention.return_event.event_type, "Purchase Completed", "the cohort reads the second return event");
  await dialog.locator("button", { hasText: "Close" }).click();
  await page.request.delete(`${BASE}/api/v1/cohorts/${cellName}`);

  say("segmentation: frequency buckets and a grouped series' limit");
  await page.click("[data-testid=analysis-segmentation]");
  await page.selectOption("[data-testid=series-0-measure]", "frequency");
  await fill("series-0-buckets", "1, 2, 4");
  await specWhere("frequency buckets", (s) => JSON.stringify(s.events[0].frequency_buckets) === "[1,2,4]");
  ({ status, body } = await answer());
  assert.equal(status, 200, JSON.stringify(body));
  const inRange = body.series[0].frequency.map((b) => b.in_range);
  assert.ok(inRange.every(Number.isInteger) && inRange.some((n) => n > 0), `every bucket has its persons over the whole range: ${inRange}`);
  await page.click("[data-testid=view-frequency]");
  await page.locator("[data-testid=chart-frequency] canvas").waitFor();
  await page.selectOption("[data-testid=series-0-measure]", "totals");
  await specWhere("buckets go with the frequency measure", (s) => s.events[0].frequency_buckets === undefined);
  await pick("group-by-add", "platform");
  await fill("group-limit", "2");
  await specWhere("two groups", (s) => s.group_limit === 2);
  ({ status, body } = await answer());
  assert.equal(status, 200, JSON.stringify(body));
  assert.ok(body.groups.length <= 3, "two groups and the other one");
  await page.locator(".group-by .chip button.icon").first().click();
  await specWhere("no group-by, no limit", (s) => !s.group_by?.length && s.group_limit === undefined);

  say("saved charts: listed with their dashboards; one on no dashboard is deleted from the list");
  const posted = await page.request.post(`${BASE}/api/v1/charts`, { data: { name: `loose-${Date.now().toString(36)}`, spec: spec() } });
  assert.equal(posted.status(), 201, await posted.text());
  const loose = await posted.json();
  await page.goto(`${BASE}/#/boards`);
  const listed = page.locator(`[data-testid=chart-row-${loose.id}]`);
  await listed.waitFor();
  assert.match(await listed.textContent(), /none/, "the list says the chart is on no dashboard");
  const onBoard = (await (await page.request.get(`${BASE}/api/v1/boards`)).json()).boards.find((b) => b.charts.length)?.charts[0].chart_id;
  assert.ok(onBoard, "the demo has a dashboard with a chart");
  assert.ok(await page.locator(`[data-testid=chart-delete-${onBoard}]`).isDisabled(), "a chart on a dashboard cannot be deleted from the list");
  page.once("dialog", (d) => d.accept());
  await page.click(`[data-testid=chart-delete-${loose.id}]`);
  await waitFor("the deleted chart to leave the list", async () => (await listed.count()) === 0 || undefined);
  assert.equal((await page.request.get(`${BASE}/api/v1/charts/${loose.id}`)).status(), 404, "the chart is gone");
  await context.close();
});
