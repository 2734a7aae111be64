// The sync editor's logic, apart from the page (tested by sync-model.test.js): a sync config
// (docs/query-api.md, "Cohort syncs") turned into the form's draft and back, what the form checks
// before saving, which field a server message names, and whether an edit starts the sync over.

export const KINDS = [
  ["braze", "Braze"],
  ["webhook", "Webhook"],
  ["file", "Files (CSV or Parquet)"],
  ["kafka", "Kafka"],
];

/** The server's defaults (query/src/sync/config.rs). */
export const RETRY_DEFAULTS = { max_attempts: 8, base_ms: 1000, max_ms: 128000, timeout_ms: 10000 };
export const BATCH_DEFAULTS = { braze: "50 (at most 75)", webhook: "1000", file: "one file per direction", kafka: "1000" };
export const MAX_HEADERS = 5;
export const BRAZE_MAX_BATCH = 75;
/** What the API shows instead of a secret written out as a value. */
export const HIDDEN = "(hidden)";

const NAME = /^[a-z0-9_-]{1,64}$/;
const ENV = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

/**
 * A secret as the form edits it: `mode` "value", "env" or "none" (webhooks only), the typed
 * `value` or `env`, and `stored` — what the saved sync holds: "value" (hidden by the API; left
 * empty, the form sends "(hidden)", which keeps it), "env", "none", or null for a new sync.
 */
function secretDraft(secret, isNew) {
  if (secret === undefined || secret === null) return { mode: isNew ? "env" : "none", value: "", env: "", stored: isNew ? null : "none" };
  if (typeof secret === "object" && secret.env !== undefined) return { mode: "env", value: "", env: secret.env, stored: isNew ? null : "env", storedEnv: secret.env };
  return { mode: "value", value: "", env: "", stored: isNew ? null : "value" };
}

const str = (v) => (v === undefined || v === null ? "" : String(v));

/** A schedule in seconds as the form shows it: manual, or every N minutes/hours (seconds when neither fits). */
export function scheduleDraft(everySecs) {
  if (!everySecs) return { schedule: "manual", every: "1", unit: "hours" };
  if (everySecs % 3600 === 0) return { schedule: "every", every: String(everySecs / 3600), unit: "hours" };
  if (everySecs % 60 === 0) return { schedule: "every", every: String(everySecs / 60), unit: "minutes" };
  return { schedule: "every", every: String(everySecs), unit: "seconds" };
}

const UNIT_SECS = { seconds: 1, minutes: 60, hours: 3600 };

/** The draft of a new sync of `cohort`, or of the saved `sync` (as `GET /api/v1/syncs/{name}` shows it). */
export function toDraft(sync, cohort) {
  const isNew = !sync;
  const d = sync?.destination ?? { kind: "webhook" };
  const retry = sync?.retry ?? {};
  const draft = {
    name: sync?.name ?? "",
    cohort: sync?.cohort ?? cohort,
    ...scheduleDraft(sync?.every_secs),
    kind: d.kind,
    braze: { url: "", api_key: secretDraft(undefined, isNew), attribute: "", batch_size: "", match_by: "external_id" },
    webhook: { url: "", secret: secretDraft(undefined, isNew), headers: [], batch_size: "" },
    file: { dir: "", format: "csv", batch_size: "" },
    kafka: { brokers: "", topic: "", batch_size: "", partitions: "", replication: "" },
    retry: {
      max_attempts: str(retry.max_attempts),
      base_ms: str(retry.base_ms),
      max_ms: str(retry.max_ms),
      timeout_ms: str(retry.timeout_ms),
    },
  };
  // A new sync's webhook secret is optional: none until the user asks for one.
  if (isNew) {
    draft.webhook.secret = { mode: "none", value: "", env: "", stored: null };
    return draft;
  }
  switch (d.kind) {
    case "braze":
      draft.braze = {
        url: str(d.url),
        api_key: secretDraft(d.api_key, isNew),
        attribute: str(d.attribute),
        batch_size: str(d.batch_size),
        match_by: d.match_by ?? "external_id",
      };
      break;
    case "webhook":
      draft.webhook = {
        url: str(d.url),
        secret: secretDraft(d.secret, isNew),
        headers: Object.entries(d.headers ?? {}).map(([name, value]) => ({ name, value })),
        batch_size: str(d.batch_size),
      };
      break;
    case "file":
      draft.file = { dir: str(d.dir), format: d.format ?? "csv", batch_size: str(d.batch_size) };
      break;
    case "kafka":
      draft.kafka = {
        brokers: Array.isArray(d.brokers) ? d.brokers.join(",") : str(d.brokers),
        topic: str(d.topic),
        batch_size: str(d.batch_size),
        partitions: str(d.partitions),
        replication: str(d.replication),
      };
      break;
  }
  return draft;
}

/** A whole number from a field: undefined when blank, NaN when not a whole number. */
function whole(text) {
  const t = String(text ?? "").trim();
  if (!t) return undefined;
  return /^\d+$/.test(t) ? Number(t) : NaN;
}

function secretValue(s) {
  if (s.mode === "env") return { env: s.env.trim() };
  if (s.mode === "value") return !s.value && s.stored === "value" ? HIDDEN : s.value;
  return undefined;
}

/**
 * The form's problems before anything is sent: `{field: message}`, field keys as the form's
 * (`name`, `cohort`, `every`, `url`, `api_key`, `secret`, `headers`, `batch_size`, …, `retry`).
 */
export function problems(draft, { isNew = true } = {}) {
  const p = {};
  if (isNew && !NAME.test(draft.name)) p.name = "1 to 64 of a-z, 0-9, - and _ (no capitals or spaces).";
  if (!draft.cohort) p.cohort = "Pick the cohort this sync sends.";
  if (draft.schedule === "every") {
    const n = Number(draft.every);
    const secs = n * (UNIT_SECS[draft.unit] ?? 1);
    if (!(n > 0) || !Number.isInteger(secs)) p.every = "A number of minutes or hours: at least 1 minute.";
    else if (secs < 60) p.every = "At least once a minute (60 seconds).";
  }
  const d = draft[draft.kind];
  const batch = whole(d.batch_size);
  if (Number.isNaN(batch) || batch === 0) p.batch_size = "A whole number, at least 1 (or empty for the default).";
  const checkSecret = (s, key, required) => {
    if (s.mode === "env") {
      if (!ENV.test(s.env.trim())) p[key] = "The name of an environment variable: letters, digits and _, not starting with a digit.";
    } else if (s.mode === "value") {
      if (!s.value && s.stored !== "value") p[key] = "Type the secret, or name an environment variable that holds it.";
    } else if (required) p[key] = "Braze needs an API key.";
  };
  const url = (u) => /^https?:\/\/[^/\s]+/i.test(u.trim());
  switch (draft.kind) {
    case "braze":
      if (!url(d.url)) p.url = "The REST endpoint, e.g. https://rest.iad-01.braze.com.";
      checkSecret(d.api_key, "api_key", true);
      if (batch > BRAZE_MAX_BATCH) p.batch_size = `Braze takes at most ${BRAZE_MAX_BATCH} users per request.`;
      if (d.attribute.startsWith("$") || d.attribute.length > 255) p.attribute = "1 to 255 characters, not starting with $ (or empty for the default).";
      break;
    case "webhook": {
      if (!url(d.url)) p.url = "An http:// or https:// URL.";
      checkSecret(d.secret, "secret", false);
      const names = d.headers.map((h) => h.name.trim().toLowerCase());
      if (d.headers.length > MAX_HEADERS) p.headers = `At most ${MAX_HEADERS} headers.`;
      else if (names.some((n) => !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(n))) p.headers = "Every header needs a name (letters, digits and - only).";
      else if (new Set(names).size !== names.length) p.headers = "A header is named twice.";
      break;
    }
    case "file":
      if (!d.dir.trim()) p.dir = "The folder on the server's machine the files go to.";
      break;
    case "kafka": {
      if (!d.brokers.trim()) p.brokers = "host:port, several separated by commas.";
      if (!TOPIC.test(d.topic.trim())) p.topic = "1 to 249 of a-z, A-Z, 0-9, '.', '_' and '-'.";
      const part = whole(d.partitions);
      const repl = whole(d.replication);
      if (Number.isNaN(part) || part === 0 || Number.isNaN(repl) || repl === 0) p.partitions = "Whole numbers, at least 1 (or empty for 1).";
      break;
    }
  }
  const r = Object.fromEntries(Object.entries(draft.retry).map(([k, v]) => [k, whole(v)]));
  if (Object.values(r).some(Number.isNaN)) p.retry = "Whole numbers (or empty for the defaults).";
  else if (r.max_attempts === 0 || r.timeout_ms === 0) p.retry = "Tries and the timeout must be at least 1.";
  else if ((r.base_ms ?? RETRY_DEFAULTS.base_ms) > (r.max_ms ?? RETRY_DEFAULTS.max_ms)) p.retry = "The first wait must not be longer than the longest wait.";
  return p;
}

/** The destination the draft describes, as the API takes it (optional fields left out when empty). */
export function toDestination(draft) {
  const d = draft[draft.kind];
  const put = (o, k, v) => {
    if (v !== undefined && v !== "") o[k] = v;
  };
  const out = { kind: draft.kind };
  switch (draft.kind) {
    case "braze":
      out.url = d.url.trim();
      out.api_key = secretValue(d.api_key);
      put(out, "attribute", d.attribute.trim());
      put(out, "batch_size", whole(d.batch_size));
      out.match_by = d.match_by;
      break;
    case "webhook":
      out.url = d.url.trim();
      // An empty typed secret is kept (problems() refuses it), so it does not read as "no secret".
      if (secretValue(d.secret) !== undefined) out.secret = secretValue(d.secret);
      if (d.headers.length) out.headers = Object.fromEntries(d.headers.map((h) => [h.name.trim(), h.value]));
      put(out, "batch_size", whole(d.batch_size));
      break;
    case "file":
      out.dir = d.dir.trim();
      out.format = d.format;
      put(out, "batch_size", whole(d.batch_size));
      break;
    case "kafka":
      out.brokers = d.brokers.trim();
      out.topic = d.topic.trim();
      put(out, "batch_size", whole(d.batch_size));
      put(out, "partitions", whole(d.partitions));
      put(out, "replication", whole(d.replication));
      break;
  }
  return out;
}

/** The config `PUT /api/v1/syncs/{name}` is sent. */
export function toConfig(draft) {
  const config = { name: draft.name, cohort: draft.cohort, destination: toDestination(draft) };
  if (draft.schedule === "every") config.every_secs = Math.round(Number(draft.every) * (UNIT_SECS[draft.unit] ?? 1));
  const retry = {};
  for (const [k, v] of Object.entries(draft.retry)) {
    const n = whole(v);
    if (n !== undefined) retry[k] = n;
  }
  if (Object.keys(retry).length) config.retry = retry;
  return config;
}

/** JSON with sorted keys, to compare destinations. */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * What an edit changes that makes the sync start over (the server resets its state when the
 * cohort or anything of the destination changes, secrets and batch size included): a list of
 * words ("cohort", "destination"), and whether a newly typed secret might (the server compares
 * it with the stored one, which the page cannot see; an empty field keeps the stored one).
 */
export function startsOver(saved, draft) {
  if (!saved) return { changed: [], secretUnknown: false };
  const changed = [];
  if (saved.cohort !== draft.cohort) changed.push("cohort");
  // Written-out secrets are compared as "some value": the page cannot tell whether the retyped one is the same.
  const mask = (dest) => {
    const out = { ...dest };
    for (const k of ["api_key", "secret"]) if (typeof out[k] === "string") out[k] = HIDDEN;
    if (out.kind === "braze" && out.match_by === undefined) out.match_by = "external_id";
    if (out.headers && !Object.keys(out.headers).length) delete out.headers;
    return out;
  };
  const now = toDestination(draft);
  if (canonical(mask(saved.destination)) !== canonical(mask(now))) changed.push("destination");
  const secretKey = now.kind === "braze" ? "api_key" : now.kind === "webhook" ? "secret" : null;
  const secretUnknown =
    !changed.includes("destination") && !!secretKey && typeof now[secretKey] === "string" && now[secretKey] !== HIDDEN && typeof saved.destination[secretKey] === "string";
  return { changed, secretUnknown };
}

const FIELD_WORDS = [
  [/sync name|the config names sync/, "name"],
  [/every_secs/, "every"],
  [/retry|max_attempts|base_ms|max_ms|timeout_ms/, "retry"],
  [/api_key/, "api_key"],
  [/\bsecret\b/, "secret"],
  [/batch_size/, "batch_size"],
  [/\battribute\b/, "attribute"],
  [/\bheaders?\b/, "headers"],
  [/\burl\b/, "url"],
  [/\bdir\b/, "dir"],
  [/brokers/, "brokers"],
  [/\btopic\b/, "topic"],
  [/partitions|replication/, "partitions"],
  [/\bformat\b|`csv` or `parquet`/, "format"],
  [/match_by|external_id/, "match_by"],
  [/^sync config: cohort|cohort:/, "cohort"],
];

/** The form field a server message (a 400's `error`) is about, or null. */
export function fieldOf(message) {
  for (const [pattern, field] of FIELD_WORDS) if (pattern.test(message)) return field;
  return null;
}
