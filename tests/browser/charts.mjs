// Every example query of docs/examples/ opened as a chart link (`#/chart?spec=…`) in headless
// Chromium against a running `sluice` with the demo data: each must draw every one of its views
// without an error, its table view and its downloaded CSV must be the API's CSV of the same spec,
// and the link opened in a fresh browser must show the same table. Then the demo's dashboard,
// the taxonomy, cohort and admin pages must load without an error.
//
// Usage: node charts.mjs [--url URL] [--admin NAME] [--admin-password PW] [--artifacts DIR]
// (or SLUICE_URL, SLUICE_ADMIN, SLUICE_ADMIN_PASSWORD, SLUICE_ARTIFACTS). Exits 1 on a failure.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { encodeState, login, options, run, say, waitFor } from "./lib.mjs";

const args = options("charts.mjs", ["url", "admin", "admin-password"]);
const BASE = args.base;
const EXAMPLES = fileURLToPath(new URL("../../docs/examples/", import.meta.url));

/** The API's CSV of `spec`, as the table view and the download should hold it. */
async function apiCsv(page, spec) {
  const response = await page.request.post(`${BASE}/api/v1/query`, { data: spec, headers: { accept: "text/csv" } });
  assert.equal(response.status(), 200, `CSV of ${JSON.stringify(spec)}: ${await response.text()}`);
  return response.text();
}

/** Waits for the builder's answer; fails with the error the page shows, if any. */
async function answered(page, what) {
  await page.waitForSelector("[data-testid=result] .toolbar, [data-testid=query-error], [data-testid=missing]");
  const error = page.locator("[data-testid=query-error]");
  if (await error.count()) assert.fail(`${what}: the page shows an error: ${await error.textContent()}`);
}

/** The table view's cells, as text (the raw CSV numbers are in the cells' titles). */
async function tableCells(page) {
  await page.click("[data-testid=view-table]");
  const table = page.locator("[data-testid=result-table]");
  await table.waitFor();
  return table.locator("tr").evaluateAll((rows) => rows.map((r) => [...r.children].map((c) => c.title || c.textContent)));
}

function csvCells(text) {
  // The demo's CSVs quote nothing that holds a comma in these examples' columns except names,
  // so a plain parse with quote handling is enough to compare cell by cell.
  const rows = [];
  for (const line of text.trim().split("\n")) {
    const cells = [];
    let cell = "";
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quoted && c === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = !quoted;
      else if (c === "," && !quoted) {
        cells.push(cell);
        cell = "";
      } else cell += c;
    }
    cells.push(cell);
    rows.push(cells);
  }
  return rows;
}

/** How many pixels of the chart's canvas are drawn (not transparent). */
async function drawnPixels(page) {
  const canvas = page.locator(".echart canvas").first();
  await canvas.waitFor();
  return canvas.evaluate((c) => {
    const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
    return n;
  });
}

await run(args.artifacts, async ({ browser, watch, shot }) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const page = watch(await context.newPage(), "admin");
  await login(page, BASE, args.admin, args["admin-password"]);
  const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const other = watch(await fresh.newPage(), "second browser");
  await login(other, BASE, args.admin, args["admin-password"]);

  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith(".json")).sort();
  assert.ok(files.length >= 15, `the examples are found in ${EXAMPLES}`);
  for (const file of files) {
    const spec = JSON.parse(readFileSync(EXAMPLES + file, "utf8"));
    const link = `${BASE}/#/chart?spec=${encodeState(spec)}`;
    say(`${file} (${spec.analysis})`);
    // A fresh load each time, as a link pasted into a new tab: nothing of the last chart stays.
    await page.goto("about:blank");
    await page.goto(link);
    await answered(page, file);
    const views = await page.locator("[data-testid=result] .views button").evaluateAll((bs) => bs.map((b) => b.dataset.testid));
    for (const view of views) {
      await page.click(`[data-testid=${view}]`);
      if (view === "view-table") continue;
      if (view === "view-retention_table") {
        await waitFor(`${file}: the retention table`, async () => (await page.locator("[data-testid=retention-table] tbody tr").count()) > 1);
        continue;
      }
      const pixels = await waitFor(`${file}: ${view} draws`, async () => {
        const n = await drawnPixels(page);
        return n > 2000 ? n : undefined;
      });
      assert.ok(pixels > 2000, `${file}: ${view} drew ${pixels} pixels`);
    }
    await shot(page, `example-${file.replace(/\.json$/, "")}.png`, false);

    const expected = csvCells(await apiCsv(page, spec));
    const shown = await tableCells(page);
    assert.deepEqual(shown, expected.slice(0, 2001), `${file}: the table view is the API's CSV`);
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=download-csv]")]);
    const downloaded = readFileSync(await download.path(), "utf8");
    assert.deepEqual(csvCells(downloaded), expected, `${file}: the downloaded CSV is the API's`);

    // The same link in another browser shows the same table.
    await other.goto("about:blank");
    await other.goto(link);
    await answered(other, `${file} in a second browser`);
    assert.deepEqual(await tableCells(other), shown, `${file}: the link reproduces the chart`);
  }

  say("the demo's Key metrics dashboard");
  await page.goto(`${BASE}/#/boards`);
  await page.locator("[data-testid=board-list] a", { hasText: "Key metrics" }).click();
  const tiles = page.locator(".tile");
  await waitFor("every tile answers", async () => {
    const n = await tiles.count();
    const done = await page.locator(".tile .toolbar, .tile [data-testid=query-error]").count();
    return n > 0 && done === n;
  });
  assert.equal(await page.locator(".tile [data-testid=query-error]").count(), 0, "no tile shows an error");
  await shot(page, "key-metrics.png");

  for (const [path, testid] of [
    ["#/taxonomy", "taxonomy-events"],
    ["#/cohorts", "cohort-list"],
    ["#/admin", "usage-table"],
  ]) {
    say(path);
    await page.goto(`${BASE}/${path}`);
    await page.waitForSelector(`[data-testid=${testid}]`);
    assert.equal(await page.locator(".error").count(), 0, `${path} shows no error`);
  }
  const cohort = page.locator("[data-testid=cohort-list] a").first();
  await page.goto(`${BASE}/#/cohorts`);
  await cohort.click();
  await page.waitForSelector("[data-testid=cohort-history-chart]");
  await page.waitForSelector("[data-testid=cohort-members]");
  assert.equal(await page.locator(".error").count(), 0, "a cohort's page shows no error");
  await shot(page, "cohort.png");
  await context.close();
  await fresh.close();
});
