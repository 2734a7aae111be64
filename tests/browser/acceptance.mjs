// The web UI's acceptance test: headless Chromium (Debian's, driven by playwright-core) against a
// running `sluice` with the demo data set. It builds a funnel by clicks, checks what the page shows
// against `POST /api/v1/query`, saves it onto a new dashboard, makes a cohort from a drop-off bar
// by clicking the chart's canvas, builds retention and lifecycle charts, takes screenshots (also
// at a phone's size), and checks what a viewer and a logged-out browser may do.
//
// Usage: node acceptance.mjs [--url URL] [--admin NAME] [--admin-password PW] [--viewer NAME]
//                            [--viewer-password PW] [--artifacts DIR]
// Each option may come from the environment instead: SLUICE_URL, SLUICE_ADMIN,
// SLUICE_ADMIN_PASSWORD, SLUICE_VIEWER, SLUICE_VIEWER_PASSWORD, SLUICE_ARTIFACTS. The admin may be
// any editor or admin. Exits 0 when every check passed; on a failure it prints it, saves
// `failure.png` of the page it was on, and exits 1.
import assert from "node:assert/strict";
import { decodeState, login as loginAt, options, pick, run, say, waitFor } from "./lib.mjs";

const args = options("acceptance.mjs", ["url", "admin", "admin-password", "viewer", "viewer-password"]);
const BASE = args.base;
const ARTIFACTS = args.artifacts;

// The funnel built by clicks: four steps of the demo marketplace, grouped by platform.
const STEPS = ["Category Viewed", "Service Viewed", "Checkout Started", "Purchase Completed"];
const GROUP_BY = { label: "platform", ref: { kind: "field", property: "platform" } };
// Names made by this run are unique, so the script can run again on the same data directory.
const RUN = Date.now().toString(36);

/** "1,234" → 1234. */
const parseNum = (text) => {
  const n = Number(String(text).replace(/[,\s]/g, ""));
  assert.ok(Number.isFinite(n), `a number, not ${JSON.stringify(text)}`);
  return n;
};

/** `POST /api/v1/query` with the session cookie of `page`'s context; the JSON answer. */
async function apiQuery(page, spec) {
  const response = await page.request.post(`${BASE}/api/v1/query`, { data: spec });
  assert.equal(response.status(), 200, `POST /api/v1/query ${JSON.stringify(spec)}: ${await response.text()}`);
  return response.json();
}

const login = (page, name, password) => loginAt(page, BASE, name, password);

/** The builder's spec as the page shows it (the "Query spec (JSON)" block): what it sends. */
async function shownSpec(page) {
  return JSON.parse(await page.locator(".spec-json pre").textContent());
}

/** The spec in the page's URL (`#/chart?spec=…` or `#/charts/<id>?spec=…`). */
function urlSpec(page) {
  const hash = new URL(page.url()).hash;
  const params = new URLSearchParams(hash.split("?")[1] ?? "");
  assert.ok(params.get("spec"), `the URL holds the spec: ${page.url()}`);
  return decodeState(params.get("spec"));
}

/** Records the JSON queries a page sends and their answers: [{spec, result}]. */
function recordQueries(page) {
  const seen = [];
  page.on("response", async (response) => {
    const request = response.request();
    if (request.method() !== "POST" || !request.url().endsWith("/api/v1/query")) return;
    if ((request.headers().accept ?? "").includes("csv")) return;
    try {
      seen.push({ spec: request.postDataJSON(), status: response.status(), result: await response.json() });
    } catch {
      // aborted (the spec changed while it ran)
    }
  });
  return seen;
}

/** Waits until the page has shown the answer to its current spec; returns that spec. */
async function settledSpec(page, queries) {
  return waitFor("the page's answer to its current spec", async () => {
    if (await page.locator("[data-testid=progress]").count()) return undefined;
    const spec = await shownSpec(page);
    const last = queries.at(-1);
    if (!last || !isDeepEqual(last.spec, spec) || last.status !== 200) return undefined;
    if (!(await page.locator("[data-testid=result] .toolbar").count())) return undefined;
    return spec;
  });
}

function isDeepEqual(a, b) {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

// --- canvas reading: where ECharts drew the bars -------------------------------------------------

/** An RGBA colour as the chart's canvas holds it (its background is transparent). */
const rgba = (hex, opacity = 1) => [...[1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)), Math.round(opacity * 255)];
const BLUE = rgba("#4e6ef2"); // a funnel's "Converted" bars (series 0)
const PALE_BLUE = rgba("#4e6ef2", 0.25); // its "Dropped off" bars (series 1)
const LIFECYCLE = ["#59a14f", "#edc948", "#4e6ef2", "#e15759"].map((c) => rgba(c));

/**
 * The bars ECharts drew in one of `colors` on the canvas of `chart` (a locator of `.echart`), left
 * to right, ignoring the top `skipTop` CSS pixels (the legend): `{box, bars: [{center, left,
 * right, points}]}` in page pixels, where `points` are the bar's points well inside a region of
 * `inside` (a colour, or null), middle first.
 */
async function barsOf(chart, colors, { skipTop = 36, inside = null } = {}) {
  const canvas = chart.locator("canvas").first();
  const box = await canvas.boundingBox();
  assert.ok(box && box.width > 0 && box.height > 0, "the chart's canvas has a size");
  const found = await canvas.evaluate(
    (c, { colors, skipTop, inside }) => {
      const scale = c.width / c.clientWidth;
      const { data } = c.getContext("2d").getImageData(0, 0, c.width, c.height);
      // Anti-aliased edges and thin bars are partly transparent: finding bars compares the
      // colour only; `inside` compares the opacity too (the pale drop-off vs the solid bar).
      const near = (x, y, color, tolerance, opacity = false) => {
        const i = (y * c.width + x) * 4;
        if (data[i + 3] < 32) return false;
        return color.slice(0, opacity ? 4 : 3).every((v, k) => Math.abs(data[i + k] - v) <= tolerance);
      };
      const top = Math.ceil(skipTop * scale);
      const runs = [];
      for (let x = 0; x < c.width; x++) {
        let hits = 0;
        for (let y = top; y < c.height && hits < 2; y++) if (colors.some((color) => near(x, y, color, 6))) hits++;
        if (hits < 2) continue;
        // A label over a thin bar can hide some of its columns: a gap under 10 CSS pixels is
        // inside one bar (bars are much further apart).
        const last = runs.at(-1);
        if (last && x - last[1] <= 10 * scale) last[1] = x;
        else runs.push([x, x]);
      }
      return runs
        .filter(([l, r]) => r - l >= 3 * scale)
        .map(([left, right]) => {
          const points = [];
          if (inside) {
            // Points whose 7×7 neighbourhood is all `inside` (no label, no edge).
            for (let y = top + 3; y < c.height - 3; y++) {
              for (let x = left + 3; x <= right - 3; x++) {
                let ok = true;
                for (let dy = -3; dy <= 3 && ok; dy++) for (let dx = -3; dx <= 3 && ok; dx++) ok = near(x + dx, y + dy, inside, 6, true);
                if (ok) points.push([x / scale, y / scale]);
              }
            }
            const cx = (left + right) / 2 / scale;
            const cy = points.reduce((s, p) => s + p[1], 0) / (points.length || 1);
            points.sort((a, b) => Math.hypot(a[0] - cx, a[1] - cy) - Math.hypot(b[0] - cx, b[1] - cy));
          }
          return { left: left / scale, right: right / scale, points: points.slice(0, 10) };
        });
    },
    { colors, skipTop, inside },
  );
  return {
    box,
    bars: found.map((b) => ({
      left: box.x + b.left,
      right: box.x + b.right,
      center: box.x + (b.left + b.right) / 2,
      points: b.points.map(([x, y]) => ({ x: box.x + x, y: box.y + y })),
    })),
  };
}

/** Whether the chart drew bars in one of `colors` (not only its legend). */
async function drew(chart, colors) {
  const { bars } = await barsOf(chart, colors);
  return bars.length > 0;
}

// --- the test ------------------------------------------------------------------------------------

await run(ARTIFACTS, async ({ browser, watch, shot, setCurrent }) => {
  const admin = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = watch(await admin.newPage(), "admin");
  const queries = recordQueries(page);

  // a. Log in through the login page.
  say(`a. log in as ${args.admin} at ${BASE}`);
  await login(page, args.admin, args["admin-password"]);

  // The demo's events: the funnel's steps must all be there.
  const taxonomy = await (await page.request.get(`${BASE}/api/v1/taxonomy`)).json();
  const eventNames = new Set(taxonomy.events.map((e) => e.event_type));
  for (const s of STEPS) assert.ok(eventNames.has(s), `the data has ${s} events (taxonomy: ${[...eventNames].join(", ")})`);

  // b. The builder: a four-step funnel grouped by platform, by clicks.
  say("b. build a 4-step funnel grouped by platform, by clicks");
  await page.goto(`${BASE}/#/chart`);
  await page.click("[data-testid=analysis-funnel]");
  await page.waitForSelector("[data-testid=step-0-event]");
  for (let i = 0; i < STEPS.length; i++) {
    if (i >= 2) await page.click("[data-testid=step-add]");
    await pick(page, `step-${i}-event`, STEPS[i]);
  }
  await pick(page, "group-by-add", GROUP_BY.label, "group-by-0");

  // c. The answer on the page against the API's.
  say("c. compare the funnel the page shows with POST /api/v1/query");
  await page.waitForSelector("[data-testid=view-funnel_groups]"); // only a grouped answer has it
  const spec = await settledSpec(page, queries);
  assert.deepEqual(spec.steps.map((s) => s.event_type), STEPS, "the spec has the steps clicked");
  assert.deepEqual(spec.group_by, [GROUP_BY.ref], "the spec groups by the property picked");
  assert.deepEqual(urlSpec(page), spec, "the URL holds the spec the page shows");
  const funnel = await apiQuery(page, spec);
  assert.equal(funnel.analysis, "funnel");
  const overall = funnel.overall.steps.map((s) => s.persons);
  for (let i = 0; i < STEPS.length; i++) {
    const shown = parseNum(await page.textContent(`[data-testid=funnel-step-${i + 1}-persons]`));
    assert.equal(shown, overall[i], `step ${i + 1} (${STEPS[i]}): the page shows ${shown} persons, the API ${overall[i]}`);
    assert.ok(overall[i] > 0, `step ${i + 1} (${STEPS[i]}) has persons: ${overall}`);
  }
  say(`  persons per step: ${overall.join(" → ")}`);
  const byPlatform = funnel.by_breakdown.filter((g) => !g.other && g.value !== null);
  assert.ok(byPlatform.length >= 2, `the API answers several platforms: ${JSON.stringify(funnel.by_breakdown)}`);
  const group = byPlatform[0];
  await shot(page, "funnel.png");

  say(`  the Table view's rows of platform ${group.value}`);
  await page.click("[data-testid=view-table]");
  const table = page.locator("[data-testid=result-table]");
  await table.waitFor();
  const head = await table.locator("thead th").allTextContents();
  const col = (name) => {
    const i = head.indexOf(name);
    assert.ok(i >= 0, `the table has a ${name} column: ${head}`);
    return i;
  };
  const rows = await table.locator("tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
  const groupRows = rows.filter((r) => r[col("breakdown")] === String(group.value));
  assert.equal(groupRows.length, STEPS.length, `the table has ${STEPS.length} rows for ${group.value}: ${JSON.stringify(rows)}`);
  for (const r of groupRows) {
    const k = parseNum(r[col("step")]) - 1;
    assert.equal(r[col("event_type")], STEPS[k], `row ${r}: the step's event`);
    assert.equal(parseNum(r[col("persons")]), group.steps[k].persons, `${group.value}, step ${k + 1}: the table's persons vs the API's by_breakdown`);
    assert.equal(parseNum(r[col("drop_off")]), group.steps[k].drop_off, `${group.value}, step ${k + 1}: the table's drop-off vs the API's by_breakdown`);
  }
  await page.click("[data-testid=view-funnel_bars]");
  await page.waitForSelector("[data-testid=chart-funnel_bars] canvas");

  // d. Save onto a new dashboard; the dashboard shows it, also after a reload.
  const chartName = `Browse to purchase by platform ${RUN}`;
  const boardName = `Acceptance ${RUN}`;
  say(`d. save as "${chartName}" onto a new dashboard "${boardName}"`);
  await page.click("[data-testid=save-chart]");
  await page.fill("[data-testid=chart-name]", chartName);
  await page.selectOption("[data-testid=chart-board]", "new");
  await page.fill("[data-testid=new-board-name]", boardName);
  await page.click("[data-testid=save-confirm]");
  const openBoard = page.locator("[data-testid=open-board]");
  await openBoard.waitFor();
  const chartId = await waitFor("the saved chart's URL", async () => /#\/charts\/([^?]+)/.exec(page.url())?.[1]);
  const savedChart = await (await page.request.get(`${BASE}/api/v1/charts/${chartId}`)).json();
  assert.equal(savedChart.name, chartName);
  assert.deepEqual(savedChart.spec, spec, "the saved chart's spec is the one built");
  const boardId = (/#\/boards\/(.+)$/.exec(await openBoard.getAttribute("href")) ?? [])[1];
  assert.ok(boardId, "the notice links the new dashboard");
  await openBoard.click();
  await page.waitForSelector("[data-testid=board-name]");
  await page.reload();
  assert.equal((await page.textContent("[data-testid=board-name]")).trim(), boardName, "the dashboard's name after a reload");
  const tile = page.locator(`[data-testid="tile-${chartId}"]`);
  await tile.waitFor();
  assert.equal((await tile.locator(".tile-title").textContent()).trim(), chartName, "the tile's title");
  const tileChart = tile.locator("[data-testid=chart-funnel_bars]");
  await tileChart.locator("canvas").waitFor();
  await waitFor("the tile's funnel bars to be drawn", () => drew(tileChart, [BLUE]));
  const tileBars = (await barsOf(tileChart, [BLUE, PALE_BLUE])).bars.length;
  assert.equal(tileBars, STEPS.length, `the tile draws ${STEPS.length} bars, not ${tileBars}`);
  await shot(page, "dashboard.png");

  // e. Back to the chart: a cohort from a drop-off bar, clicked on the canvas.
  say("e. a cohort from a drop-off bar of the saved chart");
  await page.goto(`${BASE}/#/charts/${chartId}`);
  const bigChart = page.locator("[data-testid=chart-funnel_bars]");
  await bigChart.locator("canvas").waitFor();
  await page.waitForSelector("[data-testid=funnel-step-4-persons]");
  const chartSpec = await settledSpec(page, queries);
  assert.deepEqual(chartSpec, spec, "the saved chart opens with its spec");
  // The cohort is the plain funnel's point: the same funnel without its group-by.
  const { group_by: _g, ...plainSpec } = spec;
  const plain = await apiQuery(page, plainSpec);
  // The largest drop-off after step 1 is the tallest pale bar, easy to hit.
  const dropStep = plain.overall.steps.reduce((best, s, i) => (i > 0 && s.drop_off > plain.overall.steps[best].drop_off ? i : best), 1) + 1;
  const dropped = plain.overall.steps[dropStep - 1].drop_off;
  assert.ok(dropped > 0, `a step with drop-offs: ${JSON.stringify(plain.overall.steps)}`);
  const layout = await waitFor("the funnel bars to be drawn", async () => {
    const l = await barsOf(bigChart, [BLUE, PALE_BLUE]);
    return l.bars.length === STEPS.length ? l : undefined;
  });
  const palePoints = (await barsOf(bigChart, [BLUE, PALE_BLUE], { inside: PALE_BLUE })).bars[dropStep - 1].points;
  assert.ok(palePoints.length > 0, `the pale drop-off part of bar ${dropStep} is on the canvas`);
  const target = palePoints[0];
  say(`  click the drop-off of step ${dropStep} (${dropped} persons) at (${target.x.toFixed(0)}, ${target.y.toFixed(0)})`);
  await page.mouse.click(target.x, target.y);
  const dialog = page.locator("[data-testid=cohort-dialog]");
  await dialog.waitFor();
  const dialogText = await dialog.textContent();
  assert.ok(dialogText.includes(`but not step ${dropStep}`), `the dialog names the drop-off before step ${dropStep}: ${dialogText}`);
  assert.match(dialogText, new RegExp(`The ${dropped.toLocaleString("en")} persons`), `the dialog counts the drop-off's ${dropped} persons`);
  const nameInput = page.locator("[data-testid=cohort-name]");
  await nameInput.fill("Not a cohort name!");
  assert.equal(await nameInput.evaluate((i) => i.validity.patternMismatch), true, "the browser refuses a cohort name outside a-z 0-9 - _");
  const cohortName = `dropped-step-${dropStep}-${RUN}`;
  await nameInput.fill(cohortName);
  assert.equal(await nameInput.evaluate((i) => i.validity.valid), true, `the browser accepts the cohort name ${cohortName}`);
  await page.click("[data-testid=cohort-save]");
  const made = page.locator("[data-testid=cohort-made-size]");
  await made.waitFor();
  assert.equal(parseNum(await made.textContent()), dropped, `the cohort ${cohortName} has the ${dropped} persons who dropped off before step ${dropStep}`);
  await shot(page, "funnel-cohort.png", false);
  await dialog.locator("button", { hasText: "Close" }).click();

  // f. Retention and lifecycle charts.
  say("f. a retention chart");
  await page.goto(`${BASE}/#/chart`);
  await page.click("[data-testid=analysis-retention]");
  await pick(page, "return-event", "Service Viewed");
  await page.waitForSelector("[data-testid=retention-table]");
  const retentionSpec = await settledSpec(page, queries);
  assert.equal(retentionSpec.analysis, "retention");
  assert.equal(retentionSpec.return_event.event_type, "Service Viewed");
  const retention = await apiQuery(page, retentionSpec);
  const retentionRows = page.locator("[data-testid=retention-table] tbody tr");
  assert.equal(await retentionRows.count(), retention.cohorts.length + 1, "the table has the All row and one row per cohort");
  const cells = await retentionRows.evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => ({ text: td.textContent, title: td.title }))));
  assert.equal(parseNum(cells[0][1].text), retention.overall.persons, "the All row's persons");
  const row = retention.cohorts.findIndex((c) => c.persons > 0 && c.returned[1] > 0);
  assert.ok(row >= 0, `a cohort that returned on day 1: ${JSON.stringify(retention.cohorts)}`);
  const cohort = retention.cohorts[row];
  const shownRow = cells[row + 1];
  assert.equal(shownRow[0].text, cohort.period, "the cohort row's period");
  assert.equal(parseNum(shownRow[1].text), cohort.persons, `cohort ${cohort.period}: persons`);
  const cell = /^([\d,]+) of ([\d,]+)/.exec(shownRow[3].title);
  assert.ok(cell, `the day-1 cell says how many returned: ${JSON.stringify(shownRow[3])}`);
  assert.equal(parseNum(cell[1]), cohort.returned[1], `cohort ${cohort.period}, day 1: returned`);
  assert.equal(shownRow[3].text, `${((cohort.returned[1] / cohort.persons) * 100).toFixed(1)}%`, `cohort ${cohort.period}, day 1: the rate`);
  say(`  cohort ${cohort.period}: ${cohort.returned[1]} of ${cohort.persons} returned on day 1`);
  await shot(page, "retention.png");

  // A click on that cell saves its persons as a cohort, as many as the cell says.
  await retentionRows.nth(row + 1).locator("td").nth(3).click();
  const cellDialog = page.locator("[data-testid=cohort-dialog]");
  await cellDialog.waitFor();
  await page.fill("[data-testid=cohort-name]", `returned-day-1-${RUN}`);
  await page.click("[data-testid=cohort-save]");
  const cellSize = await waitFor("the retention cell's cohort", async () => {
    const made = page.locator("[data-testid=cohort-made-size]");
    return (await made.count()) ? parseNum(await made.textContent()) : undefined;
  });
  assert.equal(cellSize, cohort.returned[1], `the cohort of the cell (${cohort.period}, day 1) has the cell's persons`);
  await cellDialog.locator("button", { hasText: "Close" }).click();

  say("f. a lifecycle chart");
  await page.click("[data-testid=analysis-lifecycle]");
  await pick(page, "event-event", "Service Viewed");
  const lifeChart = page.locator("[data-testid=chart-lifecycle_bars]");
  await lifeChart.locator("canvas").waitFor();
  const lifecycleSpec = await settledSpec(page, queries);
  assert.equal(lifecycleSpec.analysis, "lifecycle");
  assert.equal(lifecycleSpec.event.event_type, "Service Viewed");
  const lifecycle = await apiQuery(page, lifecycleSpec);
  const drawn = lifecycle.points.filter((p) => p.new + p.current + p.resurrected + p.dormant > 0);
  const lifeLayout = await waitFor("the lifecycle bars to be drawn", async () => {
    const l = await barsOf(lifeChart, LIFECYCLE);
    return l.bars.length === drawn.length ? l : undefined;
  });
  // Hover the last complete period's bar: the tooltip lists its four numbers.
  const pointIndex = drawn.length - 2;
  const point = drawn[pointIndex];
  const bar = lifeLayout.bars[pointIndex];
  await page.mouse.move(bar.center, lifeLayout.box.y + lifeLayout.box.height / 2, { steps: 5 });
  const tooltip = await waitFor(`the tooltip of period ${point.period}`, async () => {
    const texts = await lifeChart.locator("div").evaluateAll((divs) => divs.filter((d) => !d.querySelector("canvas") && d.offsetParent).map((d) => d.textContent));
    return texts.find((t) => t.includes(point.period));
  });
  for (const state of ["new", "resurrected", "current", "dormant"]) {
    const m = new RegExp(`${state}\\s*([\\d,]+)`).exec(tooltip);
    assert.ok(m, `the tooltip shows ${state}: ${tooltip}`);
    assert.equal(parseNum(m[1]), point[state], `period ${point.period}: ${state} in the tooltip vs the API`);
  }
  say(`  period ${point.period}: new ${point.new}, resurrected ${point.resurrected}, current ${point.current}, dormant ${point.dormant}`);
  // The tooltip and the hover shadow glide to the bar (a CSS transition): the screenshot waits
  // until they are still.
  let previous = null;
  await waitFor("the tooltip to stop moving", async () => {
    const now = await lifeChart.locator("div").evaluateAll((divs) => divs.filter((d) => !d.querySelector("canvas") && d.offsetParent).map((d) => JSON.stringify(d.getBoundingClientRect())).join());
    const still = now === previous;
    previous = now;
    if (!still) await new Promise((r) => setTimeout(r, 150));
    return still;
  });
  await shot(page, "lifecycle.png", false);

  // g. The other pages, then the key screens at a phone's size.
  say("g. screenshots of the taxonomy and cohorts pages");
  await page.goto(`${BASE}/#/taxonomy`);
  await page.waitForSelector("[data-testid=taxonomy-events]");
  await shot(page, "taxonomy.png");
  await page.goto(`${BASE}/#/cohorts`);
  // The cohorts made above are listed.
  await page.waitForSelector(`[data-testid=cohort-row-returned-day-1-${RUN}]`);
  await shot(page, "cohorts.png");

  say("g. a phone (390×844): the dashboard, the funnel, the menu");
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, storageState: await admin.storageState(), isMobile: true, hasTouch: true });
  const mobile = watch(await phone.newPage(), "phone");
  const noOverflow = async (what) => {
    const width = await mobile.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390 + 2, `${what}: nothing overflows the 390 px screen (scrollWidth ${width})`);
  };
  const visibleChart = async (locator, what) => {
    await locator.locator("canvas").waitFor();
    const box = await locator.boundingBox();
    assert.ok(box && box.width > 100 && box.height > 100, `${what}: the chart has a size (${JSON.stringify(box)})`);
    assert.ok(box.x >= 0 && box.x + box.width <= 390 + 1, `${what}: the chart fits the screen's width (${JSON.stringify(box)})`);
    await waitFor(`${what}: the bars to be drawn`, () => drew(locator, [BLUE]));
  };
  await mobile.goto(`${BASE}/#/boards/${boardId}`);
  const phoneTile = mobile.locator(`[data-testid="tile-${chartId}"] [data-testid=chart-funnel_bars]`);
  await visibleChart(phoneTile, "the phone's dashboard");
  await noOverflow("the phone's dashboard");
  await shot(mobile, "phone-dashboard.png");
  await mobile.goto(`${BASE}/#/charts/${chartId}`);
  await mobile.waitForSelector("[data-testid=funnel-step-4-persons]");
  await visibleChart(mobile.locator("[data-testid=chart-funnel_bars]"), "the phone's builder");
  await noOverflow("the phone's builder");
  await shot(mobile, "phone-builder.png");
  const nav = mobile.locator("header.top nav");
  assert.equal(await nav.isVisible(), false, "the phone's navigation is folded");
  await mobile.click(".menu-toggle");
  await nav.waitFor({ state: "visible" });
  await noOverflow("the phone's open menu");
  await shot(mobile, "phone-menu.png", false);
  await phone.close();
  setCurrent(page);

  // h. A viewer reads but cannot save or delete; a logged-out browser cannot query.
  say(`h. as the viewer ${args.viewer}`);
  const viewer = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const vpage = watch(await viewer.newPage(), "viewer");
  await login(vpage, args.viewer, args["viewer-password"]);
  await vpage.goto(`${BASE}/#/charts/${chartId}`);
  await vpage.waitForSelector("[data-testid=funnel-step-4-persons]");
  for (let i = 0; i < STEPS.length; i++) {
    assert.equal(parseNum(await vpage.textContent(`[data-testid=funnel-step-${i + 1}-persons]`)), overall[i], `the viewer sees step ${i + 1}'s persons`);
  }
  assert.equal(await vpage.locator("[data-testid=save-chart]").count(), 0, "a viewer has no Save button");
  await vpage.goto(`${BASE}/#/boards/${boardId}`);
  await vpage.locator(`[data-testid="tile-${chartId}"]`).waitFor();
  assert.equal(await vpage.locator("[data-testid=delete-board]").count(), 0, "a viewer has no Delete dashboard button");
  await shot(vpage, "viewer-dashboard.png");
  const saveAsViewer = await vpage.request.post(`${BASE}/api/v1/charts`, { data: { name: "not allowed", spec, view: { type: "funnel_bars" } } });
  assert.equal(saveAsViewer.status(), 403, `a viewer's POST /api/v1/charts: ${saveAsViewer.status()} ${await saveAsViewer.text()}`);
  const deleteAsViewer = await vpage.request.delete(`${BASE}/api/v1/boards/${boardId}`);
  assert.equal(deleteAsViewer.status(), 403, `a viewer's DELETE /api/v1/boards/${boardId}: ${deleteAsViewer.status()} ${await deleteAsViewer.text()}`);
  const stillThere = await page.request.get(`${BASE}/api/v1/boards/${boardId}`);
  assert.equal(stillThere.status(), 200, "the dashboard is still there");
  await viewer.close();
  setCurrent(page);

  say("h. logged out");
  const anonymous = await browser.newContext();
  const anonQuery = await anonymous.request.post(`${BASE}/api/v1/query`, { data: spec });
  assert.equal(anonQuery.status(), 401, `a logged-out POST /api/v1/query: ${anonQuery.status()} ${await anonQuery.text()}`);
  const anonPage = watch(await anonymous.newPage(), "logged out");
  await anonPage.goto(`${BASE}/#/charts/${chartId}`);
  await anonPage.waitForSelector("input[name=password]");
  await anonymous.close();
  setCurrent(page);

  await admin.close();
});
