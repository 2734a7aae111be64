#!/usr/bin/env node
// Drives the unchanged @amplitude/analytics-browser SDK (its prebuilt UMD script from node_modules)
// in Debian's headless Chromium against a server, from a scenario file.
// Usage: node browser_client.mjs SERVER_URL API_KEY SCENARIO.json [--timeout-ms N] [--id-suffix S]
//        [--verbose] [--chromium PATH]   (default: $SLUICE_CHROMIUM or /usr/bin/chromium)
//   --id-suffix S: append S to every user_id, device_id, insert_id and group value of the scenario.
//
// A static HTTP server of its own on 127.0.0.1 (random port) serves the test page, the SDK's
// script and scenario.mjs; the page's origin therefore differs from the SERVER_URL's, so the SDK's
// upload is a real cross-origin fetch with a CORS preflight. The page calls
//   amplitude.init(API_KEY, undefined, {serverUrl, flushQueueSize, flushIntervalMillis, minIdLength,
//                  autocapture: false, fetchRemoteConfig: false, enableDiagnostics: false})
// runs the scenario (scenario.mjs), awaits every call's promise and flushes.
// Prints one JSON line on stdout: {"sdk":"browser","library":...,"results":[...]} and exits 0;
// exits non-zero with a message on stderr on any failure or the timeout (default 60 s).
// Chromium is always closed before exit.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { validateScenario, withIdSuffix } from './scenario.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const USAGE = 'usage: node browser_client.mjs SERVER_URL API_KEY SCENARIO.json [--timeout-ms N] [--id-suffix S] [--verbose] [--chromium PATH]';
const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

function parseArgs(argv) {
  const positional = [];
  let timeoutMs = 60000;
  let verbose = false;
  let idSuffix = '';
  let chromiumPath = process.env.SLUICE_CHROMIUM || '/usr/bin/chromium';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--timeout-ms') timeoutMs = Number(argv[++i]);
    else if (a.startsWith('--timeout-ms=')) timeoutMs = Number(a.slice('--timeout-ms='.length));
    else if (a === '--chromium') chromiumPath = argv[++i];
    else if (a === '--id-suffix') idSuffix = argv[++i] ?? '';
    else if (a.startsWith('--id-suffix=')) idSuffix = a.slice('--id-suffix='.length);
    else if (a === '--verbose') verbose = true;
    else if (a === '-h' || a === '--help') { process.stdout.write(`${USAGE}\n`); process.exit(0); }
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}\n${USAGE}`);
    else positional.push(a);
  }
  if (positional.length !== 3) throw new Error(USAGE);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new Error('--timeout-ms needs a positive number');
  const [serverUrl, apiKey, scenarioPath] = positional;
  return { serverUrl, apiKey, scenarioPath, timeoutMs, verbose, chromiumPath, idSuffix };
}

const log = (m) => process.stderr.write(`browser_client: ${m}\n`);
let liveBrowser = null; // for the signal handlers
let gotSignal = null;

/** The SDK's prebuilt UMD bundle (sets `window.amplitude`), as shipped in the npm package. */
function sdkScriptPath() {
  const pkg = require.resolve('@amplitude/analytics-browser/package.json');
  return join(dirname(pkg), 'lib', 'scripts', 'amplitude-min.umd.js');
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>sluice sdk harness</title>
<script src="/amplitude-min.umd.js"></script>
<script type="module">
import { runScenario, sdkOptions } from '/scenario.mjs';
window.__sluiceProgress = { done: new Set(), expected: [] };
window.__sluiceRun = async (serverUrl, apiKey, scenario, verbose) => {
  const amplitude = window.amplitude;
  await amplitude.init(apiKey, undefined, {
    serverUrl,
    ...sdkOptions(scenario.config),
    // Only the scenario's events: no page views, sessions, attribution, form/file-download/
    // element/frustration/network/web-vitals/performance capture, page-URL enrichment.
    autocapture: false,
    // No requests to Amplitude's own hosts (remote configuration, SDK diagnostics).
    fetchRemoteConfig: false,
    enableDiagnostics: false,
    ...(verbose ? { logLevel: amplitude.Types.LogLevel.Debug } : {}),
  }).promise;
  return runScenario({ client: amplitude, Identify: amplitude.Identify, Revenue: amplitude.Revenue }, scenario, {
    warn: (m) => console.warn('harness warning: ' + m),
    progress: window.__sluiceProgress,
  });
};
window.__sluiceReady = true;
</script></head><body><p>sluice sdk harness</p></body></html>
`;

/** Serves the page, the SDK bundle and scenario.mjs; anything else is 404. */
function startStaticServer() {
  const files = {
    '/': { type: 'text/html; charset=utf-8', body: Buffer.from(PAGE) },
    '/amplitude-min.umd.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(sdkScriptPath()) },
    '/scenario.mjs': { type: 'text/javascript; charset=utf-8', body: readFileSync(join(HERE, 'scenario.mjs')) },
    '/favicon.ico': { type: 'image/x-icon', body: Buffer.alloc(0) },
  };
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const f = req.method === 'GET' ? files[path] : undefined;
    if (!f) { res.writeHead(404, { 'content-type': 'text/plain' }).end('not found'); return; }
    res.writeHead(200, { 'content-type': f.type, 'content-length': f.body.length, 'cache-control': 'no-store' });
    res.end(f.body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function main() {
  let args;
  try { args = parseArgs(process.argv.slice(2)); } catch (e) { log(`ERROR: ${e.message}`); return 2; }
  let scenario;
  try {
    scenario = JSON.parse(readFileSync(args.scenarioPath, 'utf8'));
    validateScenario(scenario);
    scenario = withIdSuffix(scenario, args.idSuffix);
  } catch (e) {
    log(`ERROR: scenario ${args.scenarioPath}: ${e.message}`);
    return 2;
  }

  let server;
  let browser;
  let page;
  let timer;
  try {
    server = await startStaticServer();
    const pageUrl = `http://127.0.0.1:${server.address().port}/`;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${args.timeoutMs} ms`)), args.timeoutMs);
    });
    const run = (async () => {
      browser = await chromium.launch({
        executablePath: args.chromiumPath,
        headless: true,
        args: CHROMIUM_FLAGS,
        handleSIGINT: false, // our handlers close it, then exit
        handleSIGTERM: false,
      });
      liveBrowser = browser;
      page = await browser.newPage();
      page.on('console', (m) => {
        if (args.verbose || m.type() === 'error' || m.type() === 'warning') log(`page console.${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => log(`page error: ${e.message}`));
      page.on('requestfailed', (r) => log(`request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
      if (args.verbose) {
        page.on('request', (r) => log(`request: ${r.method()} ${r.url()} ${JSON.stringify(r.headers())}`));
        page.on('response', (r) => log(`response: ${r.status()} ${r.url()}`));
      }
      await page.goto(pageUrl, { waitUntil: 'load' });
      await page.waitForFunction(() => window.__sluiceReady === true);
      return page.evaluate(([s, k, sc, v]) => window.__sluiceRun(s, k, sc, v),
        [args.serverUrl, args.apiKey, scenario, args.verbose]);
    })();
    run.catch(() => {}); // a late rejection after the timeout won is not an unhandled one
    let outcome;
    try {
      outcome = await Promise.race([run, timeout]);
    } catch (e) {
      if (page && /timed out/.test(e.message)) {
        try {
          const waiting = await Promise.race([
            page.evaluate(() => {
              const p = window.__sluiceProgress;
              return p ? p.expected.filter((i) => !p.done.has(i)) : null;
            }),
            new Promise((r) => setTimeout(() => r('unknown'), 2000)),
          ]);
          e.message += `; actions still without a result: ${JSON.stringify(waiting)}`;
        } catch { /* the page is gone; keep the plain message */ }
      }
      throw e;
    }
    const line = JSON.stringify({ sdk: 'browser', library: outcome.library, results: outcome.results });
    await new Promise((r) => process.stdout.write(`${line}\n`, r));
    return 0;
  } catch (e) {
    if (gotSignal) return 130;
    const timedOut = /^timed out/.test(String(e && e.message));
    log(`ERROR: ${timedOut ? e.message : (e && e.stack ? e.stack : e)}`);
    return timedOut ? 3 : 1;
  } finally {
    clearTimeout(timer);
    // Closing must not hang the exit: give it 10 s, then exit regardless (Chromium dies with its pipe).
    const closing = (async () => {
      if (browser) await browser.close().catch((e) => log(`closing chromium: ${e.message}`));
      if (server) {
        server.closeAllConnections?.();
        await new Promise((r) => server.close(r));
      }
    })();
    await Promise.race([closing, new Promise((r) => setTimeout(r, 10000).unref())]);
  }
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, async () => {
    gotSignal = sig;
    log(`ERROR: got ${sig}; closing chromium`);
    const closing = liveBrowser ? liveBrowser.close().catch(() => {}) : Promise.resolve();
    await Promise.race([closing, new Promise((r) => setTimeout(r, 5000).unref())]);
    process.exit(130);
  });
}
main().then((code) => process.exit(code), (e) => { log(`ERROR: ${e && e.stack ? e.stack : e}`); process.exit(1); });
