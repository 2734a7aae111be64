// Numbers as the charts and tables print them.
const integer = new Intl.NumberFormat("en");
const decimal = new Intl.NumberFormat("en", { maximumFractionDigits: 2 });

export function num(x) {
  if (x === null || x === undefined) return "–";
  return Number.isInteger(x) ? integer.format(x) : decimal.format(x);
}

export function pct(ratio) {
  if (ratio === null || ratio === undefined) return "–";
  return `${(ratio * 100).toFixed(1)}%`;
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms === 0) return "0";
  const s = ms / 1000;
  const trim = (text) => text.replace(/\.0$/, ""); // "1 s", "10 min", but "1.5 h"
  if (s < 60) return `${trim(s.toFixed(s < 10 ? 1 : 0))} s`;
  if (s < 3600) return `${trim((s / 60).toFixed(1))} min`;
  if (s < 86400) return `${trim((s / 3600).toFixed(1))} h`;
  return `${trim((s / 86400).toFixed(1))} d`;
}

/** The RFM segments in the rule order of docs/query-api.md "RFM spec": [key, name]. */
export const RFM_SEGMENTS = [
  ["champions", "Champions"],
  ["new_customers", "New customers"],
  ["loyal", "Loyal"],
  ["potential_loyalists", "Potential loyalists"],
  ["cant_lose_them", "Can't lose them"],
  ["at_risk", "At risk"],
  ["about_to_sleep", "About to sleep"],
  ["hibernating", "Hibernating"],
  ["lost", "Lost"],
];
export const rfmName = (segment) => RFM_SEGMENTS.find(([key]) => key === segment)?.[1] ?? segment;

/** A group's label: its values joined, "(none)" for a missing one, "(other)" for the rest. */
export function groupLabel(group) {
  if (group.other) return "(other)";
  if (group.did_not_reach) return "(did not reach)";
  const values = group.values ?? [group.value];
  return values.map((v) => (v === null || v === undefined ? "(none)" : String(v))).join(" / ");
}

/** How long ago a Unix-ms time was: "just now", "5 min ago", "3 h ago", "12 d ago". */
export function ago(ms, now = Date.now()) {
  if (ms === null || ms === undefined) return "never";
  const s = Math.round((now - ms) / 1000);
  if (s < 0) return "in the future";
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** A Unix-ms time as "2026-12-05 14:03" in `timeZone` (the browser's when absent). */
export function dateTime(ms, timeZone) {
  if (ms === null || ms === undefined) return "–";
  const parts = {};
  const format = new Intl.DateTimeFormat("en-CA", {
    timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
  for (const p of format.formatToParts(new Date(ms))) parts[p.type] = p.value;
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}
