// Cohort definitions as the pages handle them (docs/query-api.md, "Cohort spec"): which
// conditions the builder edits, a plain-English summary of any definition, what is still
// missing before one can run, and the cleaned definition that is sent.
import { dateTime, rfmName } from "../../charts/format.js";
import { cleanWhere, todayIn } from "../../spec.js";

export const NAME_RE = /^[a-z0-9_-]{1,64}$/;
export const NAME_RULE = "1–64 of a-z 0-9 - _";

/** `count.op` as the builder words it. */
export const COUNT_OPS = [
  ["greater_or_equal", "at least"],
  ["less_or_equal", "at most"],
  ["equal", "exactly"],
  ["greater", "more than"],
  ["less", "fewer than"],
];
const COUNT_WORD = Object.fromEntries(COUNT_OPS);

const WHERE_WORD = {
  is: "is",
  is_not: "is not",
  contains: "contains",
  does_not_contain: "does not contain",
  greater: ">",
  greater_or_equal: "≥",
  less: "<",
  less_or_equal: "≤",
  set: "is set",
  not_set: "is not set",
};

const isGroup = (n) => !!n && (Array.isArray(n.all) || Array.isArray(n.any));
const keysOf = (o) => (o && typeof o === "object" ? Object.keys(o) : []);
const only = (o, allowed) => keysOf(o).every((k) => allowed.includes(k));
const isRange = (r) => !!r && keysOf(r).length > 0 && only(r, ["last_days", "from", "to", "since", "within_days_of_first_use"]);
/** The same days for everyone: what `rfm`, `funnel` and `was_new` take. */
const isFixedRange = (r) => isRange(r) && r.within_days_of_first_use === undefined;
const isEvent = (e) => !!e && typeof e.event_type === "string" && only(e, ["event_type", "where"]);
const isComparison = (m) => !!m && !!COUNT_WORD[m.op] && Number.isFinite(m.value);

/** How `performed` measures its event: at most one of these keys (none: at least once). */
export const MEASURES = [
  ["", "at least once"],
  ["count", "a number of times"],
  ["sum", "with a total of a property"],
  ["distinct_values", "with different values of a property"],
  ["distinct_days", "on a number of days"],
  ["nth_time", "for the n-th time ever"],
];
const MEASURE_KEYS = MEASURES.map(([k]) => k).filter(Boolean);

/** The measure key a `performed` uses, or "" for at least once. */
export function measureOf(performed) {
  return MEASURE_KEYS.find((k) => performed?.[k] !== undefined) ?? "";
}

function measureEditable(c) {
  const present = MEASURE_KEYS.filter((k) => c[k] !== undefined);
  if (present.length > 1) return false;
  switch (present[0]) {
    case undefined:
      return true;
    case "count":
    case "distinct_days":
      return isComparison(c[present[0]]) && only(c[present[0]], ["op", "value"]);
    case "sum":
    case "distinct_values":
      return isComparison(c[present[0]]) && typeof c[present[0]].property === "string" && only(c[present[0]], ["property", "op", "value"]);
    default:
      return Number.isInteger(c.nth_time);
  }
}

/** 1st, 2nd, 3rd, 4th, 5th: the n-th times a `performed` condition may ask for (1 to 5). */
export const ordinal = (n) => `${n}${["st", "nd", "rd"][n - 1] ?? "th"}`;

/** `relative_count.op` as the builder words it: E1 … E2. */
export const RELATIVE_OPS = [
  ["greater", "more times than"],
  ["greater_or_equal", "at least as many times as"],
  ["equal", "exactly as many times as"],
  ["less_or_equal", "at most as many times as"],
  ["less", "fewer times than"],
];
const RELATIVE_WORD = Object.fromEntries(RELATIVE_OPS);

export const FUNNEL_ORDERS = [
  ["this", "in this order"],
  ["exact", "in exactly this order"],
  ["any", "in any order"],
];
export const WINDOW_UNITS = ["second", "minute", "hour", "day"];

function funnelEditable(c) {
  if (!only(c, ["steps", "conversion_window", "order", "exclusions", "during", "reached", "dropped_after"])) return false;
  if (!Array.isArray(c.steps) || !c.steps.every(isEvent) || !isFixedRange(c.during)) return false;
  if (c.order !== undefined && !FUNNEL_ORDERS.some(([o]) => o === c.order)) return false;
  const w = c.conversion_window;
  if (w !== undefined && !(only(w, ["value", "unit"]) && Number.isFinite(w.value) && WINDOW_UNITS.includes(w.unit))) return false;
  return (c.reached === undefined) !== (c.dropped_after === undefined);
}

export const INTERVALS = [["day", "day"], ["week", "week"], ["month", "month"]];
export const WEEK_STARTS = [["monday", "weeks from Monday"], ["sunday", "weeks from Sunday"]];
export const LIFECYCLE_STATES = [["new", "new"], ["current", "current"], ["resurrected", "resurrected"], ["dormant", "dormant"]];
const oneOf = (v, list) => v === undefined || list.some(([k]) => k === v);

function retentionEditable(c) {
  if (!only(c, ["start_event", "return_event", "started_during", "interval", "week_start", "boundaries", "period", "periods", "returned"])) return false;
  if (!isEvent(c.start_event) || !isEvent(c.return_event) || !isFixedRange(c.started_during) || typeof c.returned !== "boolean") return false;
  if (!oneOf(c.interval, INTERVALS) || !oneOf(c.week_start, WEEK_STARTS) || !oneOf(c.boundaries, [["rolling"], ["calendar"]])) return false;
  const bracket = Array.isArray(c.periods) && c.periods.length === 2 && c.periods.every(Number.isInteger);
  return (c.period === undefined) !== (c.periods === undefined) && (Number.isInteger(c.period) || bracket);
}

function lifecycleEditable(c) {
  return only(c, ["event", "state", "interval", "week_start", "in"]) && isEvent(c.event) && typeof c.in === "string"
    && oneOf(c.state, LIFECYCLE_STATES) && c.state !== undefined && oneOf(c.interval, INTERVALS) && oneOf(c.week_start, WEEK_STARTS);
}

/**
 * The first day of the `interval` holding `day` (`YYYY-MM-DD`): itself, the week's first day
 * (`week_start`), or the month's 1st — the only days a lifecycle condition's `in` may be.
 */
export function periodStart(day, interval = "day", weekStart = "monday") {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day ?? "");
  if (!m || interval === "day") return day;
  if (interval === "month") return `${m[1]}-${m[2]}-01`;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  const first = weekStart === "sunday" ? 0 : 1;
  d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() - first + 7) % 7));
  return d.toISOString().slice(0, 10);
}

/** Where each condition kind names events (a funnel: its `steps`). */
const EVENT_FIELDS = {
  performed: ["event"],
  did_not_perform: ["event"],
  then: ["first", "then"],
  relative_count: ["event", "compared_to"],
  rfm: ["revenue_event"],
  retention: ["start_event", "return_event"],
  lifecycle: ["event"],
};
const eventsOf = (kind, c) => (kind === "funnel" ? c.steps ?? [] : (EVENT_FIELDS[kind] ?? []).map((field) => c[field]));

/** Condition `c` of `kind` with `f` applied to every event it names. */
function mapEvents(kind, c, f) {
  if (kind === "funnel") return { ...c, steps: c.steps.map(f) };
  const out = { ...c };
  for (const field of EVENT_FIELDS[kind] ?? []) out[field] = f(c[field]);
  return out;
}

/** Whether the builder has controls for this one condition (groups are checked child by child). */
export function editable(node) {
  if (!node || typeof node !== "object") return false;
  if (isGroup(node)) return keysOf(node).length === 1;
  if (node.not) return keysOf(node).length === 1 && editable(node.not);
  const [kind, ...rest] = keysOf(node);
  if (rest.length) return false;
  const c = node[kind];
  switch (kind) {
    case "performed":
      return only(c, ["event", "during", ...MEASURE_KEYS]) && isEvent(c.event) && isRange(c.during) && measureEditable(c);
    case "did_not_perform":
      return only(c, ["event", "during"]) && isEvent(c.event) && isRange(c.during);
    case "user_property":
      return only(c, ["property", "op", "values", "mode", "during"]) && isRange(c.during);
    case "in_cohort":
      return typeof c === "string";
    case "was_new":
      return only(c, ["during"]) && isFixedRange(c.during);
    case "then":
      return only(c, ["first", "then", "during"]) && isEvent(c.first) && isEvent(c.then) && isRange(c.during);
    case "relative_count":
      return only(c, ["event", "op", "compared_to", "during"]) && isEvent(c.event) && isEvent(c.compared_to) && !!RELATIVE_WORD[c.op] && isRange(c.during);
    case "rfm":
      return only(c, ["segment", "revenue_event", "revenue_property", "during"]) && isEvent(c.revenue_event) && typeof c.revenue_property === "string" && isFixedRange(c.during);
    case "funnel":
      return funnelEditable(c);
    case "retention":
      return retentionEditable(c);
    case "lifecycle":
      return lifecycleEditable(c);
    default:
      return false;
  }
}

// ---- plain English ----------------------------------------------------------------------------

const q = (s) => `“${s}”`;
const eventName = (t) => (t === "_all" ? "any event" : t === "_new" ? "their first event" : t ? q(t) : "(an event to choose)");

function valuesText(values) {
  if (!values?.length) return "";
  const shown = values.slice(0, 5).map((v) => q(String(v)));
  return ` ${shown.join(" or ")}${values.length > 5 ? ` (+${values.length - 5} more)` : ""}`;
}

function whereText(where) {
  if (!where?.length) return "";
  const parts = where.map((c) =>
    c.kind === "cohort"
      ? `${c.op === "is_not" ? "not in" : "in"} cohort ${q(c.property)}`
      : `${c.property} ${WHERE_WORD[c.op] ?? c.op}${valuesText(c.values)}`,
  );
  return ` where ${parts.join(" and ")}`;
}

const eventText = (e) => (e ? `${eventName(e.event_type)}${whereText(e.where)}` : "an event");

export function rangeText(r) {
  if (!r) return "";
  if (r.last_days !== undefined) return r.last_days === 1 ? "in the last day" : `in the last ${r.last_days} days`;
  if (r.within_days_of_first_use !== undefined) return `within ${r.within_days_of_first_use} days of first use`;
  if (r.since !== undefined) return `since ${r.since}`;
  if (r.from !== undefined) return r.from === r.to ? `on ${r.from}` : `between ${r.from} and ${r.to}`;
  return "";
}

const measureText = (m, unit) => `${COUNT_WORD[m.op] ?? m.op} ${m.value}${unit}`;

function conditionText(node) {
  const [kind] = keysOf(node);
  const c = node[kind];
  switch (kind) {
    case "performed": {
      let how = "";
      if (c.count) how = ` ${measureText(c.count, c.count.value === 1 ? " time" : " times")}`;
      else if (c.sum) how = ` with ${c.sum.property || "(a property to choose)"} adding up to ${measureText(c.sum, "")}`;
      else if (c.distinct_values) how = ` with ${measureText(c.distinct_values, "")} different values of ${c.distinct_values.property || "(a property to choose)"}`;
      else if (c.distinct_days) how = ` on ${measureText(c.distinct_days, " different days")}`;
      else if (c.nth_time) how = ` for the ${ordinal(c.nth_time)} time ever`;
      return `did ${eventText(c.event)}${how} ${rangeText(c.during)}`;
    }
    case "did_not_perform":
      return `did not do ${eventText(c.event)} ${rangeText(c.during)}`;
    case "user_property":
      return `user property ${c.property || "(to choose)"} ${WHERE_WORD[c.op] ?? c.op}${valuesText(c.values)} (${c.mode === "any_time" ? "at any time" : "most recently"} ${rangeText(c.during)})`;
    case "user_ids":
      return `has one of ${c.length} listed user ids`;
    case "in_cohort":
      return `is in cohort ${q(c)}`;
    case "was_new":
      return `was new (first used) ${rangeText(c.during)}`;
    case "rfm":
      return `is a buyer in RFM segment ${q(rfmName(c.segment).toLowerCase())} (purchases: ${eventText(c.revenue_event)}, revenue from property ${c.revenue_property || "(to choose)"}) ${rangeText(c.during)}`;
    case "relative_count":
      return `did ${eventText(c.event)} ${RELATIVE_WORD[c.op] ?? c.op} ${eventText(c.compared_to)} ${rangeText(c.during)}`;
    case "then":
      return `did ${eventText(c.first)}, then ${eventText(c.then)} ${rangeText(c.during)}`;
    case "funnel": {
      const steps = (c.steps ?? []).map((s) => eventText(s)).join(" → ");
      const reached = c.dropped_after !== undefined
        ? `reached step ${c.dropped_after} but not step ${c.dropped_after + 1}`
        : `reached step ${c.reached ?? 1} or further`;
      const w = c.conversion_window;
      const window = w ? ` (within ${w.value} ${w.unit}${w.value === 1 ? "" : "s"})` : "";
      const order = c.order && c.order !== "this" ? ` ${FUNNEL_ORDERS.find(([o]) => o === c.order)?.[1] ?? c.order}` : "";
      const excluded = c.exclusions?.length ? `, excluding ${c.exclusions.map((e) => eventText(e)).join(" and ")}` : "";
      return `entered the funnel ${steps}${order} ${rangeText(c.during)} and ${reached}${window}${excluded}`;
    }
    case "retention": {
      const unit = c.interval ?? "day";
      const when = c.periods ? `${unit}s ${c.periods[0]} to ${c.periods[1] - 1}` : `${unit} ${c.period}`;
      return `started with ${eventText(c.start_event)} ${rangeText(c.started_during)} and ${c.returned === false ? "did not return" : "returned"} (${eventText(c.return_event)}) in ${when} after their start`;
    }
    case "lifecycle":
      return `was ${c.state} for ${eventText(c.event)} in the ${c.interval ?? "day"} starting ${c.in}`;
    default:
      return `${kind} (see the JSON)`;
  }
}

/** A definition in words; nested groups are parenthesised. */
export function summarize(node, nested = false) {
  if (!node || typeof node !== "object") return "";
  if (isGroup(node)) {
    const list = node.all ?? node.any;
    const text = list.map((c) => summarize(c, true)).join(node.all ? " and " : " or ");
    return nested && list.length > 1 ? `(${text})` : text;
  }
  if (node.not) {
    const inner = node.not;
    if (inner.in_cohort) return `is not in cohort ${q(inner.in_cohort)}`;
    if (inner.user_property) return `not: ${conditionText(inner)}`;
    if (inner.any) return `none of (${summarize(inner)})`;
    return `not ${summarize(inner, true)}`;
  }
  return conditionText(node);
}

// ---- new conditions ---------------------------------------------------------------------------

export function newCondition(kind) {
  const event = { event_type: "" };
  const during = { last_days: 30 };
  switch (kind) {
    case "did_not_perform":
      return { did_not_perform: { event, during } };
    case "user_property":
      return { user_property: { property: "", op: "is", values: [], mode: "most_recent", during } };
    case "in_cohort":
      return { in_cohort: "" };
    case "was_new":
      return { was_new: { during: { last_days: 7 } } };
    case "then":
      return { then: { first: event, then: { event_type: "" }, during } };
    case "relative_count":
      return { relative_count: { event, op: "greater", compared_to: { event_type: "" }, during } };
    case "rfm":
      return { rfm: { segment: "at_risk", revenue_event: event, revenue_property: "", during: { last_days: 180 } } };
    case "funnel":
      return {
        funnel: {
          steps: [event, { event_type: "" }, { event_type: "" }],
          conversion_window: { value: 1, unit: "day" },
          order: "this",
          during: { last_days: 7 },
          dropped_after: 2,
        },
      };
    case "retention":
      return {
        retention: { start_event: { event_type: "_new" }, return_event: { event_type: "_all" }, started_during: { last_days: 30 }, interval: "day", period: 1, returned: false },
      };
    case "lifecycle": {
      const today = todayIn();
      return { lifecycle: { event: { event_type: "_all" }, state: "dormant", interval: "week", in: periodStart(today, "week") } };
    }
    case "group":
      return { any: [{ performed: { event, during } }] };
    default:
      return { performed: { event, during } };
  }
}

export function emptyDefinition() {
  return { all: [{ performed: { event: { event_type: "" }, during: { last_days: 30 } } }] };
}

// ---- before sending ---------------------------------------------------------------------------

/** Why the definition cannot run yet (`{path, message}`), or null. Paths are the server's. */
export function missing(node, path = "definition") {
  if (!node || typeof node !== "object") return { path, message: "Add a condition." };
  if (isGroup(node)) {
    const key = node.all ? "all" : "any";
    if (!node[key].length) return { path, message: "This group needs at least one condition." };
    for (let i = 0; i < node[key].length; i++) {
      const m = missing(node[key][i], `${path}.${key}[${i}]`);
      if (m) return m;
    }
    return null;
  }
  if (node.not) return missing(node.not, `${path}.not`);
  const [kind] = keysOf(node);
  const c = node[kind];
  if (eventsOf(kind, c).some((e) => !e?.event_type)) return { path, message: kind === "funnel" ? "Choose every step's event." : "Choose an event." };
  if (kind === "performed") {
    const measure = measureOf(c);
    if ((measure === "sum" || measure === "distinct_values") && !c[measure].property) return { path, message: "Choose the property to measure." };
  }
  if (kind === "user_property" && !c.property) return { path, message: "Choose a user property." };
  if (kind === "user_property" && !["set", "not_set"].includes(c.op) && !c.values?.length) {
    return { path, message: "Give the property's value." };
  }
  if (kind === "rfm" && !c.revenue_property) return { path, message: "Choose the property holding each purchase's amount." };
  if (kind === "funnel" && c.steps.length < 2) return { path, message: "A funnel needs at least two steps." };
  if (kind === "in_cohort" && c === "") return { path, message: "Choose a cohort." };
  if (kind === "lifecycle" && !c.in) return { path, message: "Choose the interval's first day." };
  const during = c?.during ?? c?.started_during;
  if (during && during.from !== undefined && (!during.from || !during.to)) return { path, message: "Choose both dates." };
  if (during && during.since === "") return { path, message: "Choose the first day." };
  return null;
}

/** The definition as sent: half-filled `where` conditions dropped, values arrays only when needed. */
export function cleanDefinition(node) {
  if (isGroup(node)) {
    const key = node.all ? "all" : "any";
    return { [key]: node[key].map(cleanDefinition) };
  }
  if (!editable(node)) return node;
  if (node.not) return { not: cleanDefinition(node.not) };
  const [kind] = keysOf(node);
  if (kind === "funnel" || EVENT_FIELDS[kind]) return { [kind]: mapEvents(kind, node[kind], cleanWhere) };
  if (node.user_property && ["set", "not_set"].includes(node.user_property.op)) {
    const { values, ...rest } = node.user_property;
    return { user_property: rest };
  }
  return node;
}

/**
 * The builder always edits a group at the top; a definition that is one condition is shown
 * inside an "all" and saved unwrapped again, so opening and saving it changes nothing.
 */
export function toRoot(definition) {
  return isGroup(definition) ? { root: definition, wrapped: false } : { root: { all: [definition] }, wrapped: true };
}

export function fromRoot(root, wrapped) {
  return wrapped && root.all?.length === 1 ? root.all[0] : root;
}

/** The builder path a server error names (`definition.all[0].performed.count: …`), if any. */
export function errorPath(message, wrapped) {
  const m = /\b(definition(?:\.[a-z_]+|\[\d+\])*)/.exec(message ?? "");
  if (!m) return null;
  return wrapped ? m[1].replace(/^definition/, "definition.all[0]") : m[1];
}

// ---- times ------------------------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, "0");

/** `YYYY-MM-DD HH:MM` in `timeZone` (a cohort's, so it reads with its `as_of`), else the browser's. */
/** Every condition object of kind `kind` anywhere in `node` (groups, negations, nested specs). */
function conditionsOf(node, kind, found = []) {
  if (Array.isArray(node)) node.forEach((n) => conditionsOf(n, kind, found));
  else if (node && typeof node === "object") {
    for (const [key, value] of Object.entries(node)) {
      if (key === kind) found.push(value);
      else conditionsOf(value, kind, found);
    }
  }
  return found;
}

/** The day after `day` + `n` of `interval` (`YYYY-MM-DD`, calendar arithmetic). */
function periodEnd(day, interval) {
  const d = new Date(`${day}T00:00:00Z`);
  if (interval === "month") d.setUTCMonth(d.getUTCMonth() + 1);
  else d.setUTCDate(d.getUTCDate() + (interval === "week" ? 7 : 1));
  return d.toISOString().slice(0, 10);
}

/**
 * What a preview as of `day` (`YYYY-MM-DD`; `past`: chosen, not today) cannot show as it might
 * be read: lifecycle periods not over on that day, and saved cohorts read as they are now.
 */
export function previewCaveats(definition, day, past) {
  const caveats = [];
  if (past && conditionsOf(definition, "in_cohort").length) {
    caveats.push(`“In cohort” conditions read that cohort's latest computation, not its members on ${day}.`);
  }
  for (const c of conditionsOf(definition, "lifecycle")) {
    const interval = c.interval ?? "day";
    if (c.in && c.in <= day && periodEnd(c.in, interval) > periodEnd(day, "day")) {
      caveats.push(`The ${interval} starting ${c.in} is not over on ${day}: its lifecycle states are provisional, and everyone not back yet counts as dormant.`);
    }
  }
  return caveats;
}

export function fmtTime(ms, timeZone) {
  if (!ms) return "–";
  try {
    return dateTime(ms, timeZone);
  } catch {
    return dateTime(ms); // an unknown zone: the browser's
  }
}

export function fmtEvery(secs) {
  if (!secs) return "manual only";
  if (secs % 86400 === 0) return `every ${secs / 86400} d`;
  if (secs % 3600 === 0) return `every ${secs / 3600} h`;
  if (secs % 60 === 0) return `every ${secs / 60} min`;
  return `every ${secs} s`;
}

/** The builder node (by path) a server error belongs to: the deepest one whose path it starts with. */
export function claimPath(root, path) {
  if (!path) return null;
  let best = null;
  const walk = (node, p) => {
    if (path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`)) best = p;
    else return;
    if (!node || typeof node !== "object") return;
    for (const key of ["all", "any"]) if (Array.isArray(node[key])) node[key].forEach((c, i) => walk(c, `${p}.${key}[${i}]`));
    if (node.not) walk(node.not, `${p}.not`);
  };
  walk(root, "definition");
  return best;
}

/** A cohort page's route (`#/cohorts/new` is the builder, so a cohort named "new" is at `new/view`). */
export function cohortPath(name) {
  return name === "new" ? "/cohorts/new/view" : `/cohorts/${name}`;
}
