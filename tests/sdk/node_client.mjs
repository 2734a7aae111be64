#!/usr/bin/env node
// Drives the unchanged @amplitude/analytics-node SDK against a server, from a scenario file.
// Usage: node node_client.mjs SERVER_URL API_KEY SCENARIO.json [--timeout-ms N] [--id-suffix S] [--verbose]
//   --id-suffix S: append S to every user_id, device_id, insert_id and group value of the scenario.
// Prints one JSON line on stdout: {"sdk":"node","library":...,"results":[{action,code,message,...}]}
// and exits 0 once every call's promise has resolved (whatever its code); exits non-zero with a
// message on stderr on bad usage, a bad scenario, an exception, or the timeout (default 60 s).
import { readFileSync } from 'node:fs';
import { createInstance, Identify, Revenue, Types } from '@amplitude/analytics-node';
import { runScenario, sdkOptions, validateScenario, withIdSuffix } from './scenario.mjs';

const USAGE = 'usage: node node_client.mjs SERVER_URL API_KEY SCENARIO.json [--timeout-ms N] [--id-suffix S] [--verbose]';

function parseArgs(argv) {
  const positional = [];
  let timeoutMs = 60000;
  let verbose = false;
  let idSuffix = '';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--timeout-ms') timeoutMs = Number(argv[++i]);
    else if (a.startsWith('--timeout-ms=')) timeoutMs = Number(a.slice('--timeout-ms='.length));
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
  return { serverUrl, apiKey, scenarioPath, timeoutMs, verbose, idSuffix };
}

function fail(message, code = 1) {
  process.stderr.write(`node_client: ERROR: ${message}\n`);
  process.exit(code);
}

async function main() {
  let args;
  try { args = parseArgs(process.argv.slice(2)); } catch (e) { fail(e.message, 2); }
  let scenario;
  try {
    scenario = JSON.parse(readFileSync(args.scenarioPath, 'utf8'));
    validateScenario(scenario);
    scenario = withIdSuffix(scenario, args.idSuffix);
  } catch (e) {
    fail(`scenario ${args.scenarioPath}: ${e.message}`, 2);
  }

  // stdout carries exactly one JSON line: the SDK's logger (console.log for Log/Debug) goes to stderr.
  console.log = (...a) => console.error(...a);
  console.info = (...a) => console.error(...a);
  console.debug = (...a) => console.error(...a);

  const progress = { done: new Set(), expected: [] };
  const timer = setTimeout(() => {
    const waiting = progress.expected.filter((i) => !progress.done.has(i));
    fail(`timed out after ${args.timeoutMs} ms; actions still without a result: ${JSON.stringify(waiting)}`, 3);
  }, args.timeoutMs);

  const client = createInstance();
  await client.init(args.apiKey, {
    serverUrl: args.serverUrl,
    ...sdkOptions(scenario.config),
    ...(args.verbose ? { logLevel: Types.LogLevel.Debug } : {}),
  }).promise;

  const { library, results } = await runScenario({ client, Identify, Revenue }, scenario, {
    warn: (m) => process.stderr.write(`node_client: warning: ${m}\n`),
    progress,
  });
  clearTimeout(timer);
  const line = JSON.stringify({ sdk: 'node', library, results });
  process.stdout.write(`${line}\n`, () => process.exit(0));
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
