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
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${(s / 60).toFixed(1)} min`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

/** A group's label: its values joined, "(none)" for a missing one, "(other)" for the rest. */
export function groupLabel(group) {
  if (group.other) return "(other)";
  if (group.did_not_reach) return "(did not reach)";
  const values = group.values ?? [group.value];
  return values.map((v) => (v === null || v === undefined ? "(none)" : String(v))).join(" / ");
}
