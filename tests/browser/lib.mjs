// What the browser scripts share: their options, waiting, logging in, watching the pages for
// script errors, screenshots, and the run itself (exit 1 with a failure screenshot on any error).
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

export const TIMEOUT = 30_000;

/**
 * The options every script takes, from flags or the environment: `--url` (SLUICE_URL),
 * `--admin`/`--admin-password`, `--viewer`/`--viewer-password`, `--artifacts` (SLUICE_ARTIFACTS).
 * `required` names the ones the script needs.
 */
export function options(script, required) {
  const { values } = parseArgs({
    options: {
      url: { type: "string", default: process.env.SLUICE_URL },
      admin: { type: "string", default: process.env.SLUICE_ADMIN },
      "admin-password": { type: "string", default: process.env.SLUICE_ADMIN_PASSWORD },
      viewer: { type: "string", default: process.env.SLUICE_VIEWER },
      "viewer-password": { type: "string", default: process.env.SLUICE_VIEWER_PASSWORD },
      artifacts: { type: "string", default: process.env.SLUICE_ARTIFACTS ?? "browser-artifacts" },
    },
  });
  for (const name of required) {
    if (!values[name]) {
      console.error(`${script}: --${name} (or its environment variable) is required`);
      process.exit(2);
    }
  }
  const artifacts = resolve(values.artifacts);
  mkdirSync(artifacts, { recursive: true });
  return { ...values, base: values.url.replace(/\/+$/, ""), artifacts };
}

const started = Date.now();
export const say = (text) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${text}`);

/** Polls `check` (async) until it returns a value other than undefined/false/null, or fails with `what`. */
export async function waitFor(what, check, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false && value !== null) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function decodeState(text) {
  return JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
}

export function encodeState(value) {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

/** Logs `name` in through the login page of `base`. */
export async function login(page, base, name, password) {
  await page.goto(`${base}/`);
  await page.fill("input[name=name]", name);
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  await page.waitForSelector("header.top", { timeout: TIMEOUT });
  const who = (await page.textContent("header.top .who")) ?? "";
  assert.ok(who.includes(name), `the header names the logged-in user ${name}: ${JSON.stringify(who)}`);
}

/**
 * Opens the picker `testid`, searches `text` and clicks the option labelled exactly `text`; then
 * waits until the picker `shownBy` (itself, or the chip an "add" picker makes) shows `text`
 * (`null`: no such check, for an "add" picker whose chip has no testid).
 */
export async function pick(page, testid, text, shownBy = testid) {
  await page.locator(`[data-testid="${testid}"]`).click();
  const panel = page.locator(`span.picker:has(> [data-testid="${testid}"]) .picker-panel`);
  await panel.locator("input").fill(text);
  const exact = new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
  await panel.locator("li[role=option]").filter({ has: page.locator("span", { hasText: exact }) }).first().click();
  if (shownBy === null) return;
  const shown = page.locator(`[data-testid="${shownBy}"]`);
  await waitFor(`the picker ${shownBy} to show ${text}`, async () => (await shown.textContent()) === text || undefined);
}

/**
 * Starts Debian's chromium and runs `body({browser, watch, shot})`; `watch(page, who, expected?)`
 * records the page's script errors (answers matching `expected` aside: 401 and 403 by default,
 * which the tests ask for) and makes it the page a failure screenshot shows. Exits 1 on a failure, after printing it and the pages' errors.
 */
export async function run(artifacts, body) {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  let current = null;
  const pageErrors = [];
  const watch = (page, who, expected = /status of 40[13]/) => {
    current = page;
    page.on("pageerror", (e) => pageErrors.push(`${who}: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error" && !expected.test(m.text())) pageErrors.push(`${who} console: ${m.text()}`);
    });
    page.setDefaultTimeout(TIMEOUT);
    return page;
  };
  const shot = async (page, name, fullPage = true) => {
    await page.screenshot({ path: join(artifacts, name), fullPage });
    say(`  screenshot ${name}`);
  };
  let failed = false;
  try {
    await body({ browser, watch, shot, setCurrent: (page) => (current = page) });
    assert.deepEqual(pageErrors, [], "no script errors in the pages");
    say(`all checks passed; screenshots in ${artifacts}`);
  } catch (error) {
    failed = true;
    console.error(`\nFAILED: ${error.stack ?? error}`);
    if (pageErrors.length) console.error(`errors in the pages:\n  ${pageErrors.join("\n  ")}`);
    if (current) {
      await current
        .screenshot({ path: join(artifacts, "failure.png"), fullPage: true })
        .then(() => console.error(`screenshot of the page: ${join(artifacts, "failure.png")}`))
        .catch((e) => console.error(`no failure screenshot: ${e.message}`));
    }
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
}
