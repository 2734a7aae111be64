// ECharts options for each analysis's result, and which views a result has. A result may be
// wrapped: `segments` (one result per compared segment) or `groups` (one per group-by value);
// `flatten` turns both into labelled results so every chart draws them side by side.
import { duration, groupLabel, num, pct, rfmName } from "./format.js";

const PALETTE = ["#4e6ef2", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#86bcb6", "#d37295"];
/** The colour of an "All" row beside its groups, so no group reads as the overall number. */
const ALL_COLOR = "#344054";

/** [{label, result}]: the plain results inside a (possibly wrapped) result. */
export function flatten(result, prefix = "") {
  const join = (a, b) => (a ? `${a} · ${b}` : b);
  if (result.analysis === "segments") {
    return result.segments.flatMap((s) => flatten(s.result, join(prefix, s.name)));
  }
  if (result.analysis === "groups") {
    return [
      { label: join(prefix, "(all)"), result: result.overall },
      ...result.groups.map((g) => ({ label: join(prefix, groupLabel(g)), result: g.result })),
    ];
  }
  return [{ label: prefix, result }];
}

/** The analysis under any wrapper. */
export function innerAnalysis(result) {
  return flatten(result)[0]?.result.analysis ?? result.analysis;
}

/** The views of a result, first the default: [key, label]. "table" (the CSV) is always last. */
export function viewsOf(result) {
  const items = flatten(result);
  const inner = items[0]?.result ?? result;
  const views = [];
  switch (inner.analysis) {
    case "segmentation": {
      const frequency = inner.series.filter((s) => s.frequency);
      // Frequency series alone open on their buckets per point, as Amplitude shows the frequency
      // measure (a stack per point, a band per bucket); the histogram over the whole range is
      // one more view.
      const FREQUENCY = [["frequency_time", "Frequency"], ["frequency", "Histogram"]];
      const alone = frequency.length && frequency.length === inner.series.length && !inner.formulas?.length;
      if (alone) views.push(...FREQUENCY);
      views.push(["line", "Line"], ["bar", "Bar"]);
      if (frequency.length && !alone) views.push(...FREQUENCY);
      break;
    }
    case "funnel":
      views.push(["funnel_bars", "Funnel"]);
      if (items.length > 1 || inner.by_breakdown?.length) views.push(["funnel_groups", "By group"]);
      if (inner.over_time) views.push(["conversion_over_time", "Conversion over time"]);
      if (inner.time_to_convert) views.push(["time_to_convert", "Time to convert"]);
      break;
    case "retention":
      views.push(["retention_table", "Retention table"], ["retention_curve", "Retention curve"]);
      break;
    case "lifecycle":
      views.push(["lifecycle_bars", "Lifecycle"]);
      break;
    case "stickiness":
      views.push(["stickiness", "Stickiness"]);
      break;
    case "paths":
      views.push(["sankey", "Paths"]);
      break;
    case "rfm":
      views.push(["rfm_segments", "Segments"]);
      break;
    default:
      break;
  }
  views.push(["table", "Table"]);
  return views;
}

const tooltipAxis = { trigger: "axis", confine: true };
const tooltipBars = { ...tooltipAxis, axisPointer: { type: "shadow" } };
const grid = { left: 56, right: 24, top: 48, bottom: 56, containLabel: true };
const legend = (n) => ({ type: "scroll", top: 0, show: n > 1 });

function seriesName(s, i) {
  const label = s.event_type === "_all" ? "Any event" : s.event_type;
  const measure = s.measure && s.measure !== "uniques" ? ` (${s.measure.replace(/_/g, " ")})` : "";
  return `${String.fromCharCode(65 + i)}: ${label}${measure}`;
}

function segmentationOption(result, kind) {
  const items = flatten(result);
  const points = items[0].result.points;
  const series = [];
  for (const { label, result: r } of items) {
    r.series.forEach((s, i) => {
      series.push({ name: label ? `${label} · ${seriesName(s, i)}` : seriesName(s, i), values: s.values });
    });
    for (const f of r.formulas ?? []) {
      const values = f.format === "percent" ? f.values.map((v) => (v === null ? null : v * 100)) : f.values;
      series.push({ name: `${label ? `${label} · ` : ""}${f.name ?? f.formula}${f.format === "percent" ? " (%)" : ""}`, values });
    }
  }
  return {
    color: PALETTE,
    tooltip: tooltipAxis,
    legend: legend(series.length),
    grid,
    xAxis: { type: "category", data: points },
    yAxis: { type: "value" },
    series: series.slice(0, 40).map((s) => ({ name: s.name, type: kind, data: s.values, showSymbol: points.length < 40 })),
  };
}

/**
 * The frequency measure as Amplitude draws it: at each point, the persons in each bucket (how
 * many times they did the event in that point), stacked, one stack per frequency series.
 */
export function frequencyOverTimeOption(result) {
  const items = flatten(result);
  const points = items[0].result.points;
  const series = [];
  const many = items.length > 1 || items[0].result.series.filter((s) => s.frequency).length > 1;
  for (const { label, result: r } of items) {
    r.series.forEach((s, i) => {
      if (!s.frequency) return;
      const name = label ? `${label} · ${seriesName(s, i)}` : seriesName(s, i);
      s.frequency.forEach((b, k) => {
        series.push({
          name: many ? `${name} · ${b.label}` : `${b.label} time${b.label === "1" ? "" : "s"}`,
          type: "bar",
          stack: name,
          itemStyle: { color: PALETTE[k % PALETTE.length] },
          data: b.persons,
        });
      });
    });
  }
  const interval = items[0]?.result.interval ?? "day";
  return {
    tooltip: tooltipAxis,
    legend: legend(series.length),
    grid,
    xAxis: { type: "category", data: points },
    yAxis: { type: "value", name: `persons, by times in the ${interval}`, nameLocation: "middle", nameGap: 44 },
    series: series.slice(0, 60),
  };
}

/**
 * The frequency measure's histogram over the whole date range (amplitude.md §4.1: "users by
 * number of times fired in the range"): per bucket, the persons whose count over every point
 * falls in it, each person once (the server's `in_range`); one bar series per frequency series
 * (and segment or group).
 */
export function frequencyOption(result) {
  const items = flatten(result);
  const buckets = new Map(); // label → {from, to}, every series' buckets
  const series = [];
  for (const { label, result: r } of items) {
    r.series.forEach((s, i) => {
      if (!s.frequency) return;
      const persons = new Map(s.frequency.map((b) => [b.label, b.in_range]));
      for (const b of s.frequency) if (!buckets.has(b.label)) buckets.set(b.label, { from: b.from, to: b.to ?? Infinity });
      series.push({ name: label ? `${label} · ${seriesName(s, i)}` : seriesName(s, i), persons });
    });
  }
  const labels = [...buckets.entries()].sort(([, a], [, b]) => a.from - b.from || a.to - b.to).map(([l]) => l);
  return {
    color: PALETTE,
    tooltip: tooltipBars,
    legend: legend(series.length),
    grid,
    xAxis: { type: "category", name: "times in the whole range", nameLocation: "middle", nameGap: 28, data: labels },
    yAxis: { type: "value", name: "persons", nameLocation: "middle", nameGap: 44 },
    series: series.slice(0, 40).map((s) => ({ name: s.name, type: "bar", data: labels.map((l) => (s.persons.has(l) ? s.persons.get(l) : null)) })),
  };
}

function stepNames(result) {
  return result.steps.map((s, i) => `${i + 1}. ${s}`);
}

/** Step names under the bars, cut to the room each bar has; only numbers when that is too little. */
function stepLabels(result, width) {
  const room = (width - 90) / result.steps.length - 8;
  return room < 70
    ? { interval: 0, formatter: (v) => v.split(".")[0] }
    : { interval: 0, overflow: "truncate", width: Math.min(room, 160) };
}

/** Persons at each step (solid) with the previous step's drop-off stacked above (pale). */
function funnelBarsOption(result, width) {
  const items = flatten(result);
  const { result: first } = items[0];
  // Two-line labels need a bar about 70 px wide.
  const narrow = (width - 90) / first.steps.length < 110;
  const multi = items.length > 1;
  const series = [];
  items.slice(0, 10).forEach(({ label, result: r }, i) => {
    const color = PALETTE[i % PALETTE.length];
    const stack = `s${i}`;
    series.push({
      name: multi ? label : "Converted",
      type: "bar",
      stack,
      itemStyle: { color },
      data: r.overall.steps.map((s) => s.persons),
      label: {
        show: !multi,
        position: "insideTop",
        fontSize: narrow ? 10 : 12,
        color: "#fff",
        // Inside the bar only when it is tall enough to hold two lines; the summary has every number.
        formatter: (p) =>
          p.value < 0.12 * (r.overall.steps[0]?.persons ?? 0)
            ? ""
            : narrow
              ? num(p.value)
              : `${num(p.value)}\n${pct(r.overall.steps[p.dataIndex].conversion_from_first)}`,
      },
    });
    series.push({
      name: multi ? `${label} dropped` : "Dropped off",
      type: "bar",
      stack,
      itemStyle: { color, opacity: 0.25 },
      data: r.overall.steps.map((s) => s.drop_off),
      label: {
        show: !multi && !narrow,
        position: "inside",
        color: "#333",
        formatter: (p) => (p.value >= 0.06 * (r.overall.steps[0]?.persons ?? 0) ? `−${num(p.value)}` : ""),
      },
    });
  });
  return {
    color: PALETTE,
    tooltip: tooltipBars,
    legend: legend(2),
    grid,
    xAxis: { type: "category", data: stepNames(first), axisLabel: stepLabels(first, width) },
    yAxis: { type: "value", name: first.counting === "totals" ? "attempts" : "persons" },
    series,
  };
}

/**
 * A funnel's rows: the overall funnel of each part (a segment, or the only one) and, with a
 * breakdown or group-by, every group the server listed (its `(other)` row included), each with
 * its steps and its conversion over time.
 */
export function funnelRows(result) {
  const rows = [];
  for (const { label, result: r } of flatten(result)) {
    if (r.by_breakdown?.length) {
      rows.push({ name: label ? `${label} · all` : "All", all: true, steps: r.overall.steps, overTime: r.over_time });
      for (const g of r.by_breakdown) rows.push({ name: `${label ? `${label} · ` : ""}${groupLabel(g)}`, all: false, steps: g.steps, overTime: g.over_time });
    } else {
      rows.push({ name: label || "All", all: false, steps: r.overall.steps, overTime: r.over_time });
    }
  }
  let next = 0;
  for (const row of rows) row.color = row.all ? ALL_COLOR : PALETTE[next++ % PALETTE.length];
  return rows;
}

/** Conversion from step 1 at each step, one bar per group (a breakdown's rows or the segments). */
function funnelGroupsOption(result, width) {
  const items = flatten(result);
  const rows = funnelRows(result);
  return {
    tooltip: { ...tooltipBars, valueFormatter: (v) => `${v.toFixed(1)}%` },
    legend: legend(rows.length),
    grid,
    xAxis: { type: "category", data: stepNames(items[0].result), axisLabel: stepLabels(items[0].result, width) },
    yAxis: { type: "value", name: "conversion %", max: 100 },
    series: rows.map((row) => ({
      name: row.name,
      type: "bar",
      itemStyle: { color: row.color },
      data: row.steps.map((s) => Math.round(s.conversion_from_first * 1000) / 10),
    })),
  };
}

/** Conversion to the last step per point of the range: one line per row (groups, segments). */
function conversionOverTimeOption(result) {
  const rows = funnelRows(result).filter((row) => row.overTime);
  const points = rows[0].overTime.map((p) => p.start);
  return {
    tooltip: { ...tooltipAxis, valueFormatter: (v) => (v === null || v === undefined ? "–" : `${v.toFixed(1)}%`) },
    legend: legend(rows.length),
    grid,
    xAxis: { type: "category", data: points },
    yAxis: { type: "value", name: "converted %" },
    series: rows.map((row) => ({
      name: rows.length === 1 ? "Conversion to the last step" : row.name,
      type: "line",
      itemStyle: { color: row.color },
      lineStyle: { color: row.color, width: row.all ? 3 : 2 },
      data: row.overTime.map((p) => {
        const first = p.steps[0].persons;
        return first ? (p.steps[p.steps.length - 1].persons / first) * 100 : null;
      }),
    })),
  };
}

function timeToConvertOption(result) {
  const items = flatten(result);
  const buckets = items[0].result.time_to_convert.histogram;
  return {
    color: PALETTE,
    tooltip: tooltipBars,
    legend: legend(items.length),
    grid,
    xAxis: {
      type: "category",
      axisLabel: { interval: 0, rotate: buckets.length > 6 ? 30 : 0 },
      data: buckets.map((b) => `${duration(b.from_ms)}${b.to_ms === null || b.to_ms === undefined ? "+" : `–${duration(b.to_ms)}`}`),
    },
    yAxis: { type: "value", name: "persons" },
    series: items.map(({ label, result: r }) => ({
      name: label || `median ${duration(r.time_to_convert.median_ms)}`,
      type: "bar",
      data: r.time_to_convert.histogram.map((b) => b.persons),
    })),
  };
}

const returnName = (e) => (e === "_all" ? "any event" : e ?? "?");

/** The retention curve: the overall row's rate per column; `spec` names two return events. */
function retentionCurveOption(result, spec) {
  const items = flatten(result);
  return {
    color: PALETTE,
    tooltip: { ...tooltipAxis, valueFormatter: (v) => (v === null ? "–" : `${v.toFixed(1)}%`) },
    legend: legend(items.length + (items[0].result.second_return ? 1 : 0)),
    grid,
    xAxis: { type: "category", data: items[0].result.columns.map((c) => `${c}`) },
    yAxis: { type: "value", name: "retained %", max: 100 },
    // With two return events, the second's curve is dashed, in its result's colour.
    series: items.flatMap(({ label, result: r }, i) => {
      const rate = (o) => o.rate.map((x, j) => (o.eligible[j] && x !== null ? x * 100 : null));
      const first = { name: label || "All users", type: "line", data: rate(r.overall) };
      const second = r.second_return;
      if (!second) return [first];
      const color = PALETTE[(items.length > 1 ? i : 0) % PALETTE.length];
      const color2 = items.length > 1 ? color : PALETTE[1];
      const prefix = label ? `${label} · ` : "";
      return [
        { ...first, name: `${prefix}1: ${returnName(spec?.return_events?.[0]?.event_type)}`, itemStyle: { color }, lineStyle: { color } },
        {
          name: `${prefix}2: ${returnName(second.return_event)}`,
          type: "line",
          data: rate(second.overall),
          itemStyle: { color: color2 },
          lineStyle: { color: color2, type: "dashed" },
        },
      ];
    }),
  };
}

export const LIFECYCLE_STATES = ["new", "resurrected", "current", "dormant"];
const LIFECYCLE_COLORS = { new: "#59a14f", resurrected: "#edc948", current: "#4e6ef2", dormant: "#e15759" };

/** New, resurrected and current stacked above zero, dormant below it. */
function lifecycleOption(result) {
  const items = flatten(result);
  const multi = items.length > 1;
  const periods = items[0].result.points.map((p) => p.period);
  const series = [];
  items.forEach(({ label, result: r }, i) => {
    for (const state of LIFECYCLE_STATES) {
      series.push({
        name: multi ? `${label} · ${state}` : state,
        type: "bar",
        // One stack per part: ECharts stacks positive and negative values apart ("samesign"),
        // so dormant hangs below the same bar as new, current and resurrected.
        stack: String(i),
        stackStrategy: "samesign",
        itemStyle: { color: LIFECYCLE_COLORS[state], opacity: 1 - i * 0.3 },
        data: r.points.map((p) => (state === "dormant" ? -p.dormant : p[state])),
      });
    }
  });
  return {
    tooltip: { ...tooltipBars, valueFormatter: (v) => num(Math.abs(v)) },
    legend: legend(2),
    grid,
    xAxis: { type: "category", data: periods },
    yAxis: { type: "value", name: "persons", axisLabel: { formatter: (v) => num(Math.abs(v)) } },
    series,
  };
}

function stickinessOption(result) {
  const items = flatten(result);
  const series = [];
  for (const { label, result: r } of items) {
    for (const p of r.periods) {
      series.push({
        name: label ? `${label} · ${p.period}` : p.period,
        type: "bar",
        data: p.exactly.map((n) => (p.persons ? (n / p.persons) * 100 : 0)),
      });
    }
  }
  const days = Math.max(...items.flatMap(({ result: r }) => r.periods.map((p) => p.exactly.length)), 0);
  return {
    color: PALETTE,
    tooltip: { ...tooltipBars, valueFormatter: (v) => `${v.toFixed(1)}%` },
    legend: legend(series.length),
    grid,
    xAxis: { type: "category", name: "days active in the period", nameLocation: "middle", nameGap: 28, data: Array.from({ length: days }, (_, i) => `${i + 1}`) },
    yAxis: { type: "value", name: "% of the period's persons" },
    series,
  };
}

/**
 * Paths as a Sankey, labels fitted to the chart's width: each level's labels are cut to the room
 * between its nodes and the next level's (the last level's sit to the left of its nodes, sharing
 * that room with the level before), and nodes too thin for a label have none (the tooltip names
 * every node).
 */
export function sankeyOption(result, width = 800) {
  const { result: r } = flatten(result)[0];
  const id = (level, event) => `${level + 1}. ${event}`;
  const levels = Math.max(1, ...r.nodes.map((n) => n.level + 1));
  const margin = 8;
  const nodeWidth = 14;
  const room = Math.max(40, (width - 2 * margin) / Math.max(1, levels - 1) - nodeWidth - 10);
  // The last level's labels sit left of its nodes, sharing the gap before it with the level
  // before's; nodes too thin to hold a label (under 2.5 % of the first level) get none.
  const first = r.nodes.filter((n) => n.level === 0).reduce((a, n) => a + n.persons, 0);
  const nodeLabel = (n) => {
    if (n.persons < first * 0.025) return { show: false };
    if (levels > 1 && n.level === levels - 1) return { position: "left", width: levels > 2 ? room / 2 : room };
    if (levels > 2 && n.level === levels - 2) return { width: room / 2 };
    return undefined;
  };
  return {
    tooltip: { trigger: "item", confine: true },
    series: [
      {
        type: "sankey",
        left: margin,
        right: margin,
        nodeWidth,
        nodeGap: 10,
        nodeAlign: "left",
        emphasis: { focus: "adjacency" },
        data: r.nodes.map((n) => ({ name: id(n.level, n.event_type), value: n.persons, label: nodeLabel(n) })),
        links: r.links.map((l) => ({
          source: id(l.level, l.source),
          target: id(l.level + 1, l.target),
          value: l.persons,
        })),
        lineStyle: { color: "gradient", opacity: 0.35 },
        label: { fontSize: 11, width: room, overflow: "truncate" },
      },
    ],
  };
}

/** RFM: buyers per segment (in rule order), each bar labelled with its share; revenue in the tooltip. */
export function rfmOption(result) {
  const segments = result.segments ?? [];
  return {
    tooltip: {
      ...tooltipBars,
      formatter: (items) => {
        const s = segments[items[0].dataIndex];
        const mean = (v, unit) => (v === null || v === undefined ? "–" : `${num(Math.round(v * 10) / 10)}${unit}`);
        return `<b>${rfmName(s.segment)}</b><br>${num(s.persons)} buyers (${pct(s.share)})<br>last purchase ${mean(s.recency_days, " days ago")} on average<br>purchases ${mean(s.frequency, "")} · revenue ${num(s.revenue ?? 0)}`;
      },
    },
    grid,
    xAxis: { type: "category", data: segments.map((s) => rfmName(s.segment)), axisLabel: { interval: 0, rotate: 30 } },
    yAxis: { type: "value", name: "buyers" },
    series: [
      {
        type: "bar",
        name: "buyers",
        itemStyle: { color: PALETTE[0] },
        label: { show: true, position: "top", formatter: (p) => pct(segments[p.dataIndex].share) },
        data: segments.map((s) => s.persons),
      },
    ],
  };
}

export function chartOption(result, view, { width = 800, spec } = {}) {
  const option = baseOption(result, view, width, spec);
  return option && width < NARROW ? narrowed(option) : option;
}

/** Below this width (a phone, a narrow tile) legends are drawn compact, so four or five fit. */
const NARROW = 520;

/** The option with a compact legend: smaller keys, gaps and type. */
function narrowed(option) {
  if (!option.legend || option.legend.show === false) return option;
  return { ...option, legend: { ...option.legend, itemWidth: 14, itemHeight: 10, itemGap: 6, textStyle: { fontSize: 11 } } };
}

function baseOption(result, view, width, spec) {
  switch (view) {
    case "line":
    case "bar":
      return segmentationOption(result, view);
    case "funnel_bars":
      return funnelBarsOption(result, width);
    case "funnel_groups":
      return funnelGroupsOption(result, width);
    case "conversion_over_time":
      return conversionOverTimeOption(result);
    case "time_to_convert":
      return timeToConvertOption(result);
    case "frequency":
      return frequencyOption(result);
    case "frequency_time":
      return frequencyOverTimeOption(result);
    case "retention_curve":
      return retentionCurveOption(result, spec);
    case "lifecycle_bars":
      return lifecycleOption(result);
    case "stickiness":
      return stickinessOption(result);
    case "sankey":
      return sankeyOption(result, width);
    case "rfm_segments":
      return rfmOption(result);
    default:
      return null;
  }
}

/**
 * The chart point a click names, as a cohort request (null when the point makes no cohort):
 * funnel bars (reached step k, or dropped before it) and lifecycle bars, of an unwrapped result.
 */
export function clickedPoint(result, view, params) {
  if (result.analysis === "funnel" && result.counting !== "totals" && view === "funnel_bars" && params.componentType === "series") {
    const step = params.dataIndex + 1;
    const dropped = params.seriesIndex === 1;
    if (dropped && step === 1) return null;
    const persons = dropped ? result.overall.steps[params.dataIndex].drop_off : result.overall.steps[params.dataIndex].persons;
    const what = dropped
      ? `reached step ${step - 1} (${result.steps[step - 2]}) but not step ${step} (${result.steps[step - 1]})`
      : `reached step ${step} (${result.steps[step - 1]})`;
    return { route: "from-funnel", body: { step, dropped }, persons, what, key: dropped ? `dropped-step-${step}` : `reached-step-${step}` };
  }
  if (result.analysis === "lifecycle" && view === "lifecycle_bars" && params.componentType === "series") {
    const state = LIFECYCLE_STATES[params.seriesIndex % 4];
    const point = result.points[params.dataIndex];
    return {
      route: "from-lifecycle",
      body: { period: point.period, state },
      persons: point[state],
      what: `were ${state} in the period of ${point.period}`,
      key: `${state}-${point.period}`,
    };
  }
  return null;
}
