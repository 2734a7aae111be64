// The taxonomy browser's model: the answer of `GET /api/v1/taxonomy?days=N` (the tracking plan
// beside the data) as one row per event type, whether stored, planned but unseen, or quarantined.
import { encodeState } from "./router.js";

/**
 * One row per event type: `{name, def, planned, events, last_seen_ms, daily, quarantine, unseen}`.
 * `def` is the plan's entry (null for an event the plan does not declare); `planned` is the
 * route's flag (false: unplanned, null: no plan); `quarantine` the rejected events' volumes.
 */
export function eventRows(taxonomy) {
  const defs = taxonomy.plan?.events ?? {};
  const zeros = taxonomy.days.map(() => 0);
  const rows = new Map();
  const row = (name) => {
    if (!rows.has(name)) {
      rows.set(name, {
        name, def: defs[name] ?? null, planned: taxonomy.plan ? name in defs : null,
        events: 0, last_seen_ms: null, daily: zeros, quarantine: null, unseen: false,
      });
    }
    return rows.get(name);
  };
  for (const e of taxonomy.events) {
    Object.assign(row(e.event_type), { events: e.events, last_seen_ms: e.last_seen_ms, daily: e.daily, planned: e.planned });
  }
  for (const q of taxonomy.quarantined ?? []) row(q.event_type).quarantine = q;
  for (const name of taxonomy.planned_not_seen ?? []) row(name).unseen = true;
  for (const name of Object.keys(defs)) row(name);
  return [...rows.values()];
}

/** Does a row match the search text (name, description, category, owner or a property name)? */
export function matches(row, text) {
  const q = text.trim().toLowerCase();
  if (!q) return true;
  const def = row.def ?? {};
  const hay = [row.name, def.description, def.category, def.owner, ...(def.properties ?? [])];
  return hay.some((s) => s && String(s).toLowerCase().includes(q));
}

/** Identify calls are stored as events but are not counted as events by the analyses. */
export const NOT_CHARTABLE = ["$identify", "$groupidentify"];

/**
 * The chart builder's URL for `name`'s events per day over the last `days` days: the numbers
 * the Data page shows beside the link (in the project's zone, where the page counts UTC days).
 */
export function chartLink(name, project, days = 30) {
  const spec = {
    version: 1,
    analysis: "segmentation",
    project: project?.name,
    date_range: { last_days: days },
    time_zone: project?.time_zone ?? "UTC",
    interval: "day",
    events: [{ event_type: name, measure: "totals" }],
  };
  return `#/chart?spec=${encodeState(spec)}`;
}

/** The taxonomy page's URL: an event opened or not, the days and the search text. */
export function taxonomyPath(name, days, q) {
  const params = new URLSearchParams();
  if (days !== 30) params.set("days", String(days));
  if (q) params.set("q", q);
  const query = params.toString();
  return `/taxonomy${name ? `/${encodeURIComponent(name)}` : ""}${query ? `?${query}` : ""}`;
}
