// Scenario → Amplitude TypeScript SDK calls. Shared by node_client.mjs (imported in Node) and
// browser_client.mjs (served to the page and imported there), so both SDKs get the same calls.
// Plain ES module with no imports: it is handed the SDK's client and its Identify/Revenue classes.
// The format is described in scenario.schema.md.

/** Event options passed through to the SDK, when the action gives them. */
export const OPTION_KEYS = [
  'user_id', 'device_id', 'time', 'insert_id', 'session_id', 'event_id',
  'app_version', 'version_name', 'platform', 'os_name', 'os_version',
  'device_brand', 'device_manufacturer', 'device_model', 'carrier',
  'country', 'region', 'city', 'dma', 'language', 'ip', 'location_lat', 'location_lng',
];

/** Scenario operation name → TS `Identify` method. */
export const IDENTIFY_METHODS = {
  set: 'set',
  set_once: 'setOnce',
  add: 'add',
  append: 'append',
  prepend: 'prepend',
  pre_insert: 'preInsert',
  post_insert: 'postInsert',
  remove: 'remove',
  unset: 'unset',
  clear_all: 'clearAll',
};

export const ACTION_KINDS = ['track', 'identify', 'group_identify', 'set_group', 'revenue', 'flush'];

/** The SDK configuration a scenario's `config` maps to (unknown keys are ignored). */
export function sdkOptions(config = {}) {
  const out = {};
  if (config.flush_queue_size != null) out.flushQueueSize = config.flush_queue_size;
  if (config.flush_interval_ms != null) out.flushIntervalMillis = config.flush_interval_ms;
  if (config.min_id_length != null) out.minIdLength = config.min_id_length;
  return out;
}

/** Checks the scenario's shape; throws an Error naming the first problem. */
export function validateScenario(scenario) {
  if (scenario === null || typeof scenario !== 'object') throw new Error('scenario: not a JSON object');
  if (scenario.config != null && typeof scenario.config !== 'object') throw new Error('scenario.config: not an object');
  if (!Array.isArray(scenario.actions)) throw new Error('scenario.actions: missing or not an array');
  scenario.actions.forEach((action, i) => {
    const keys = action && typeof action === 'object' ? Object.keys(action) : [];
    if (keys.length !== 1 || !ACTION_KINDS.includes(keys[0])) {
      throw new Error(`actions[${i}]: must be an object with exactly one of ${ACTION_KINDS.join(', ')}`);
    }
    const a = action[keys[0]] ?? {};
    const need = {
      track: ['event_type'],
      identify: ['operations'],
      group_identify: ['group_type', 'group_value', 'operations'],
      set_group: ['group_type', 'group_value'],
      revenue: ['price'],
      flush: [],
    }[keys[0]];
    for (const k of need) {
      if (a[k] == null) throw new Error(`actions[${i}].${keys[0]}: missing "${k}"`);
    }
    for (const op of a.operations ?? []) {
      if (!Array.isArray(op) || !(op[0] in IDENTIFY_METHODS)) {
        throw new Error(`actions[${i}].${keys[0]}.operations: bad operation ${JSON.stringify(op)}`);
      }
    }
  });
}

/** Keys that `withIdSuffix` rewrites. */
export const SUFFIXED_KEYS = ['user_id', 'device_id', 'insert_id', 'group_value'];

/**
 * A copy of the scenario whose every user_id, device_id, insert_id and group value (`group_value`,
 * and the values of a track's `groups`) has `suffix` appended, so several SDKs can run the same
 * scenario against one server without their users, groups or insert_id dedup colliding.
 * An empty suffix returns the scenario unchanged.
 */
export function withIdSuffix(scenario, suffix) {
  if (!suffix) return scenario;
  const copy = JSON.parse(JSON.stringify(scenario));
  const add = (v) => (typeof v === 'string' ? v + suffix : Array.isArray(v) ? v.map(add) : v);
  for (const action of copy.actions ?? []) {
    const a = action && typeof action === 'object' ? Object.values(action)[0] : null;
    if (!a || typeof a !== 'object') continue;
    for (const k of SUFFIXED_KEYS) if (a[k] != null) a[k] = add(a[k]);
    if (a.groups && typeof a.groups === 'object') {
      for (const g of Object.keys(a.groups)) a.groups[g] = add(a.groups[g]);
    }
  }
  return copy;
}

function eventOptions(a) {
  const opts = {};
  for (const k of OPTION_KEYS) if (a[k] != null) opts[k] = a[k];
  return opts;
}

function buildIdentify(Identify, operations, where, warn) {
  const identify = new Identify();
  const seen = new Set();
  for (const [op, prop, value] of operations) {
    if (op !== 'clear_all') {
      if (seen.has(prop)) {
        warn(`${where}: property "${prop}" is used by more than one operation; the SDK keeps only the first`);
      }
      seen.add(prop);
    }
    const method = IDENTIFY_METHODS[op];
    if (op === 'clear_all') identify.clearAll();
    else if (op === 'unset') identify.unset(prop);
    else identify[method](prop, value);
  }
  return identify;
}

function buildRevenue(Revenue, a) {
  const revenue = new Revenue().setPrice(a.price);
  if (a.product_id != null) revenue.setProductId(a.product_id);
  if (a.quantity != null) revenue.setQuantity(a.quantity);
  if (a.revenue_type != null) revenue.setRevenueType(a.revenue_type);
  if (a.currency != null) revenue.setCurrency(a.currency);
  if (a.revenue != null) revenue.setRevenue(a.revenue);
  if (a.receipt != null) revenue.setReceipt(a.receipt);
  if (a.receipt_sig != null) revenue.setReceiptSig(a.receipt_sig);
  if (a.event_properties != null) revenue.setEventProperties(a.event_properties);
  return revenue;
}

/**
 * Runs the scenario's actions in order on an initialised SDK client, then flushes and waits for
 * every call's promise. `progress.done` (a Set of action indexes) is filled in as results arrive,
 * so a caller's timeout can say which actions are still waiting.
 * Returns `{library, results}`; each result is `{action, code, message, event_type, insert_id}`.
 */
export async function runScenario({ client, Identify, Revenue }, scenario, { warn = () => {}, progress = { done: new Set(), expected: [] } } = {}) {
  validateScenario(scenario);
  const pending = [];
  let library = null;
  for (const [i, action] of scenario.actions.entries()) {
    const kind = Object.keys(action)[0];
    const a = action[kind] ?? {};
    const where = `actions[${i}].${kind}`;
    const opts = eventOptions(a);
    let call;
    switch (kind) {
      case 'track': {
        if (a.groups != null) opts.groups = a.groups;
        if (a.user_properties != null) opts.user_properties = a.user_properties;
        call = client.track(a.event_type, a.event_properties, opts);
        break;
      }
      case 'identify':
        call = client.identify(buildIdentify(Identify, a.operations, where, warn), opts);
        break;
      case 'group_identify':
        call = client.groupIdentify(a.group_type, a.group_value,
          buildIdentify(Identify, a.operations, where, warn), opts);
        break;
      case 'set_group':
        call = client.setGroup(a.group_type, a.group_value, opts);
        break;
      case 'revenue':
        call = client.revenue(buildRevenue(Revenue, a), opts);
        break;
      case 'flush':
        await client.flush().promise;
        continue;
      default:
        throw new Error(`${where}: unknown action`);
    }
    progress.expected.push(i);
    pending.push(call.promise.then((res) => {
      progress.done.add(i);
      const ev = res && res.event ? res.event : {};
      if (library === null && typeof ev.library === 'string') library = ev.library;
      return {
        action: i,
        code: res ? res.code : null,
        message: res ? res.message : null,
        event_type: ev.event_type ?? null,
        insert_id: ev.insert_id ?? null,
      };
    }));
  }
  // An explicit flush() sends once and reports any failure as final (TS SDKs retry 413/429/400
  // only on their own timer-driven flushes); `sdk_flush_only` leaves sending to that timer.
  if (scenario.config?.sdk_flush_only !== true) await client.flush().promise;
  const results = await Promise.all(pending);
  await client.flush().promise;
  return { library, results };
}
