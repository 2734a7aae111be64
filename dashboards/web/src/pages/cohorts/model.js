// Cohort definitions as the pages handle them (docs/query-api.md, "Cohort spec"): which
// conditions the builder edits, a plain-English summary of any definition, what is still
// missing before one can run, and the cleaned definition that is sent.
import { cleanWhere } from "../../spec.js";

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
const isEvent = (e) => !!e && typeof e.event_type === "string" && only(e, ["event_type", "where"]);

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
      return only(c, ["event", "during", "count"]) && isEvent(c.event) && isRange(c.during)
        && (!c.count || (COUNT_WORD[c.count.op] && Number.isFinite(c.count.value)));
    case "did_not_perform":
      return only(c, ["event", "during"]) && isEvent(c.event) && isRange(c.during);
    case "user_property":
      return only(c, ["property", "op", "values", "mode", "during"]) && isRange(c.during);
    case "in_cohort":
      return typeof c === "string";
    case "was_new":
      return only(c, ["during"]) && isRange(c.during);
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
      else if (c.sum) how = ` with a total ${c.sum.property} ${measureText(c.sum, "")}`;
      else if (c.distinct_values) how = ` with ${measureText(c.distinct_values, "")} different values of ${c.distinct_values.property}`;
      else if (c.distinct_days) how = ` on ${measureText(c.distinct_days, " different days")}`;
      else if (c.nth_time) how = ` for the ${c.nth_time}${["st", "nd", "rd"][c.nth_time - 1] ?? "th"} time ever`;
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
      return `is in RFM segment ${q(c.segment)} (revenue: ${eventName(c.revenue_event)} ${c.revenue_property}) ${rangeText(c.during)}`;
    case "relative_count":
      return `did ${eventText(c.event)} ${COUNT_WORD[c.op] ?? c.op} as many times as ${eventText(c.compared_to)} ${rangeText(c.during)}`.replace(
        /(more than|fewer than) as many times as/,
        "$1 the number of times of",
      );
    case "then":
      return `did ${eventText(c.first)}, then ${eventText(c.then)} ${rangeText(c.during)}`;
    case "funnel": {
      const steps = (c.steps ?? []).map((s) => eventText(s)).join(" → ");
      const reached = c.dropped_after !== undefined
        ? `reached step ${c.dropped_after} but not step ${c.dropped_after + 1}`
        : `reached step ${c.reached ?? 1} or further`;
      const window = c.conversion_window ? ` (within ${c.conversion_window.value} ${c.conversion_window.unit}${c.conversion_window.value === 1 ? "" : "s"})` : "";
      return `entered the funnel ${steps} ${rangeText(c.during)} and ${reached}${window}`;
    }
    case "retention": {
      const unit = c.interval ?? "day";
      const when = c.periods ? `${unit}s ${c.periods[0]} to ${c.periods[1] - 1}` : `${unit} ${c.period}`;
      return `started with ${eventText(c.start_event)} ${rangeText(c.started_during)} and ${c.returned === false ? "did not return" : "returned"} (${eventText(c.return_event)}) in ${when}`;
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
    if (inner.user_property) return `does not have ${conditionText(inner)}`;
    if (inner.any) return `none of (${summarize(inner)})`;
    return `not ${summarize(inner, true)}`;
  }
  return conditionText(node);
}

// ---- new conditions ---------------------------------------------------------------------------

export function newCondition(kind) {
  const event = { event_type: "" };
  switch (kind) {
    case "did_not_perform":
      return { did_not_perform: { event, during: { last_days: 30 } } };
    case "user_property":
      return { user_property: { property: "", op: "is", values: [], mode: "most_recent", during: { last_days: 30 } } };
    case "in_cohort":
      return { in_cohort: "" };
    case "was_new":
      return { was_new: { during: { last_days: 7 } } };
    case "group":
      return { any: [{ performed: { event, during: { last_days: 30 } } }] };
    default:
      return { performed: { event, during: { last_days: 30 } } };
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
  const c = node.performed ?? node.did_not_perform;
  if (c && !c.event?.event_type) return { path, message: "Choose an event." };
  if (node.user_property && !node.user_property.property) return { path, message: "Choose a user property." };
  if (node.user_property && !["set", "not_set"].includes(node.user_property.op) && !node.user_property.values?.length) {
    return { path, message: "Give the property's value." };
  }
  if (node.in_cohort === "") return { path, message: "Choose a cohort." };
  const during = c?.during ?? node.user_property?.during ?? node.was_new?.during;
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
  if (node.performed) return { performed: { ...node.performed, event: cleanWhere(node.performed.event) } };
  if (node.did_not_perform) return { did_not_perform: { ...node.did_not_perform, event: cleanWhere(node.did_not_perform.event) } };
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

export function fmtTime(ms) {
  if (!ms) return "–";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
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
