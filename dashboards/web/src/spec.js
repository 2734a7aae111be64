// Query specs as the builder edits them: a default per analysis, and the spec actually sent
// (half-filled rows dropped), plus whether it is complete enough to run.
import { dateTime } from "./charts/format.js";

export const ANALYSES = [
  ["segmentation", "Segmentation"],
  ["funnel", "Funnel"],
  ["retention", "Retention"],
  ["lifecycle", "Lifecycle"],
  ["stickiness", "Stickiness"],
  ["paths", "Paths"],
];

export function defaultSpec(analysis, catalog) {
  const base = { version: 1, analysis, date_range: { last_days: 30 }, time_zone: catalog.timeZone || "UTC" };
  if (catalog.project) base.project = catalog.project;
  // Paths start at the busiest event a person chose to do: not a session marker or an SDK's own.
  const automatic = (name) => /^(session_|\$|\[Amplitude\])/.test(name);
  const top = catalog.events.find((e) => !automatic(e.name))?.name ?? catalog.events[0]?.name ?? "_all";
  switch (analysis) {
    case "funnel":
      return { ...base, steps: [{ event_type: "" }, { event_type: "" }], conversion_window: { value: 1, unit: "day" } };
    case "retention":
      return { ...base, start_event: { event_type: "_new" }, return_event: { event_type: "_all" }, interval: "day", periods: 7 };
    case "lifecycle":
      return { ...base, date_range: { last_days: 56 }, interval: "week", event: { event_type: "_all" } };
    case "stickiness":
      return { ...base, date_range: { last_days: 28 }, interval: "week", event: { event_type: "_all" } };
    case "paths":
      return { ...base, date_range: { last_days: 7 }, anchor: { event_type: top }, depth: 3, collapse_repeats: true, limit: 10 };
    default:
      return { ...base, interval: "day", events: [{ event_type: "_all", measure: "uniques" }] };
  }
}

const complete = (c) => c.property && (c.kind === "cohort" || c.op === "set" || c.op === "not_set" || (c.values && c.values.length));

export function cleanWhere(picked) {
  if (!picked) return picked;
  const where = (picked.where ?? []).filter(complete);
  const out = { ...picked };
  if (where.length) out.where = where;
  else delete out.where;
  return out;
}

/** The spec to send: conditions missing a property or values, empty lists and blank steps go. */
export function cleanSpec(spec) {
  const out = { ...spec };
  for (const key of ["start_event", "return_event", "event", "anchor"]) {
    if (out[key]) out[key] = cleanWhere(out[key]);
  }
  if (out.return_events) out.return_events = out.return_events.map(cleanWhere);
  if (out.steps) out.steps = out.steps.map(cleanWhere);
  if (out.hold_constant) {
    out.hold_constant = out.hold_constant.filter((p) => p.property);
    if (!out.hold_constant.length) delete out.hold_constant;
  }
  if (out.events) out.events = out.events.map(cleanWhere);
  if (out.exclusions) {
    out.exclusions = out.exclusions.filter((e) => e.event_type).map(cleanWhere);
    if (!out.exclusions.length) delete out.exclusions;
  }
  if (out.formulas) {
    out.formulas = out.formulas.filter((f) => f.formula?.trim());
    if (!out.formulas.length) delete out.formulas;
  }
  if (out.group_by) {
    out.group_by = out.group_by.filter((g) => g.property);
    if (!out.group_by.length) delete out.group_by;
  }
  if (out.segments) {
    out.segments = out.segments.map((s) => ({ ...s, where: (s.where ?? []).filter(complete) }));
    if (!out.segments.length) delete out.segments;
  }
  return out;
}

/** Why the spec cannot run yet (null when it can): shown instead of a server error. */
export function missing(spec) {
  if (spec.analysis === "funnel" && spec.steps.some((s) => !s.event_type)) return "Choose an event for every step.";
  if (spec.analysis === "segmentation" && spec.events.some((s) => !s.event_type)) return "Choose an event for every series.";
  if (spec.analysis === "paths" && !spec.anchor?.event_type) return "Choose the event paths start at.";
  if (spec.analysis === "retention" && spec.return_events?.some((e) => !e.event_type)) return "Choose the second return event.";
  return null;
}

const eventName = (picked) => ({ _all: "any event", _new: "new users" })[picked?.event_type] ?? picked?.event_type ?? "?";

/** A title for an unsaved chart, from what it asks: "Funnel: A → B → C", "Retention: …". */
export function describeSpec(spec) {
  switch (spec.analysis) {
    case "funnel":
      return `Funnel: ${spec.steps.map(eventName).join(" → ")}`;
    case "segmentation":
      return `Segmentation: ${spec.events.map(eventName).join(", ")}`;
    case "retention":
      return `Retention: ${eventName(spec.start_event)} → ${(spec.return_event ? [spec.return_event] : spec.return_events ?? []).map(eventName).join(", ")}`;
    case "lifecycle":
    case "stickiness":
      return `${spec.analysis[0].toUpperCase()}${spec.analysis.slice(1)}: ${eventName(spec.event)}`;
    case "paths":
      return `Paths ${spec.direction ?? "after"} ${eventName(spec.anchor)}`;
    default:
      return `${spec.analysis[0].toUpperCase()}${spec.analysis.slice(1)}`;
  }
}

/**
 * The funnel spec without step `i` (0-based): what names later steps by number follows them. The
 * two gaps around the removed step become one, so an exclusion's `between` (and time to convert's
 * `from_step`/`to_step`) that started or ended at it now spans that merged gap; a group-by read
 * on the removed step reads step 1 again. Ranges that become first–last are left out (the default).
 */
export function removeStep(spec, i) {
  const r = i + 1;
  const n = spec.steps.length - 1;
  const from = (a) => (a < r ? a : a === r ? Math.max(1, r - 1) : a - 1);
  const to = (b) => (b < r ? b : b === r ? (r <= n ? r : n) : b - 1);
  const out = { ...spec, steps: spec.steps.filter((_, j) => j !== i) };
  if (out.group_by) {
    out.group_by = out.group_by.map((g) => {
      if (g.step === undefined) return g;
      const { step, ...rest } = g;
      return step === r ? rest : { ...rest, step: step > r ? step - 1 : step };
    });
  }
  if (out.exclusions) {
    out.exclusions = out.exclusions.map((x) => {
      if (!x.between) return x;
      const { between, ...rest } = x;
      const [a, b] = [from(between[0]), to(between[1])];
      return a < b && !(a === 1 && b === n) ? { ...rest, between: [a, b] } : rest;
    });
  }
  if (out.time_to_convert) {
    const t = { ...out.time_to_convert };
    const a = from(t.from_step ?? 1);
    const b = t.to_step === undefined ? n : to(t.to_step);
    delete t.from_step;
    delete t.to_step;
    if (a < b) {
      if (a !== 1) t.from_step = a;
      if (b !== n) t.to_step = b;
    }
    out.time_to_convert = t;
  }
  return out;
}

/** What a funnel's strict modes cannot be combined with, as set in `spec` (docs/query-api.md). */
export function strictConflicts(spec) {
  const found = [];
  if (spec.order && spec.order !== "this") found.push(`${spec.order} order`);
  if (spec.counting === "totals") found.push("event totals");
  if (spec.exclusions?.length) found.push("exclusions");
  if (spec.time_to_convert) found.push("time to convert");
  return found;
}

/** "1, 2, 5" → [1, 2, 5]; a part that is not a number is kept as text, so the server names it. */
export function parseNumbers(text) {
  return text
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => (Number.isNaN(Number(p)) ? p : Number(p)));
}

const UNITS = [["d", 86400000], ["h", 3600000], ["m", 60000], ["s", 1000], ["ms", 1]];

/** A bucket bound as typed: 90s, 10m, 1h, 7d, or plain milliseconds. */
export function formatMs(ms) {
  if (typeof ms !== "number") return String(ms);
  if (ms === 0) return "0";
  const [unit, size] = UNITS.find(([, size]) => ms % size === 0);
  return `${ms / size}${unit}`;
}

/** "0, 1m, 1h, 1d" → [0, 60000, 3600000, 86400000]; a part that cannot be read stays text. */
export function parseDurations(text) {
  return text
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?$/i.exec(p);
      if (!m) return p;
      const unit = (m[2] ?? "ms").toLowerCase();
      const size = unit === "min" ? 60000 : UNITS.find(([u]) => u === unit)[1];
      return Math.round(Number(m[1]) * size);
    });
}

/**
 * The chart of one of a retention spec's return events: `from-retention` takes one, and a cell
 * of the i-th return event's table is the same cell of that chart (the rows and columns do not
 * depend on the return event).
 */
export function oneReturn(spec, i) {
  if (!spec.return_events) return spec;
  const { return_events, ...rest } = spec;
  return { ...rest, return_event: return_events[i] };
}

/** A from–to range with the day just `moved` kept, and the other moved to it if they crossed. */
export function ordered(from, to, moved) {
  if (!from || !to || from <= to) return { from, to };
  return moved === "from" ? { from, to: from } : { from: to, to };
}

/** How the UI names a spec list's i-th item (the API's paths count from 0, the forms from 1). */
const PLACE_NAMES = {
  steps: (i) => `step ${i + 1}`,
  events: (i) => `series ${String.fromCharCode(65 + i)}`,
  exclusions: (i) => `exclusion ${i + 1}`,
  where: (i) => `filter ${i + 1}`,
  group_by: (i) => `group-by ${i + 1}`,
  segments: (i) => `segment ${i + 1}`,
  return_events: (i) => `return event ${i + 1}`,
  formulas: (i) => `formula ${i + 1}`,
  hold_constant: (i) => `held property ${i + 1}`,
  brackets: (i) => `bracket ${i + 1}`,
  frequency_buckets: (i) => `bucket ${i + 1}`,
};

/**
 * An API error about a spec, led by the place it names as the form numbers it ("Step 1, filter
 * 1 — steps[0].where[0]: …"); the API's own words follow unchanged. Other messages as they are.
 */
export function explainError(message) {
  const m = /^(?:invalid query spec: )?([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*)[:\s]/.exec(message ?? "");
  if (!m) return message;
  const parts = [...m[1].matchAll(/([a-z_]+)\[(\d+)\]/g)].filter(([, key]) => PLACE_NAMES[key]).map(([, key, i]) => PLACE_NAMES[key](Number(i)));
  if (!parts.length) return message;
  const place = parts.join(", ");
  return `${place[0].toUpperCase()}${place.slice(1)} — ${message}`;
}

/** Today's date (`YYYY-MM-DD`) in `timeZone` (an IANA name), else in the browser's zone. */
export function todayIn(timeZone, now = new Date()) {
  try {
    return dateTime(now.getTime(), timeZone || undefined).slice(0, 10);
  } catch {
    return dateTime(now.getTime()).slice(0, 10); // an unknown zone
  }
}
