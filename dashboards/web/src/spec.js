// Query specs as the builder edits them: a default per analysis, and the spec actually sent
// (half-filled rows dropped), plus whether it is complete enough to run.

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
  const top = catalog.events[0]?.name ?? "_all";
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
  if (out.steps) out.steps = out.steps.map(cleanWhere);
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
      return `Retention: ${eventName(spec.start_event)} → ${eventName(spec.return_event ?? spec.return_events?.[0])}`;
    case "lifecycle":
    case "stickiness":
      return `${spec.analysis[0].toUpperCase()}${spec.analysis.slice(1)}: ${eventName(spec.event)}`;
    case "paths":
      return `Paths ${spec.direction ?? "after"} ${eventName(spec.anchor)}`;
    default:
      return `${spec.analysis[0].toUpperCase()}${spec.analysis.slice(1)}`;
  }
}
