import assert from "node:assert/strict";
import { test } from "node:test";
import { chartOption, clickedPoint, flatten, viewsOf } from "./options.js";

const steps = (...persons) =>
  persons.map((p, i) => ({
    persons: p,
    conversion_from_first: p / persons[0],
    conversion_from_previous: i ? p / persons[i - 1] : 1,
    drop_off: i ? persons[i - 1] - p : 0,
  }));
const funnel = { analysis: "funnel", steps: ["A", "B", "C"], overall: { steps: steps(100, 40, 10) }, by_breakdown: [] };

test("segments and groups flatten into labelled results", () => {
  const wrapped = {
    analysis: "segments",
    segments: [
      { name: "iOS", result: { analysis: "groups", overall: funnel, groups: [{ values: ["design"], result: funnel }, { values: [null], other: true, result: funnel }] } },
    ],
  };
  assert.deepEqual(
    flatten(wrapped).map((x) => x.label),
    ["iOS · (all)", "iOS · design", "iOS · (other)"],
  );
  assert.deepEqual(viewsOf(wrapped).map(([key]) => key), ["funnel_bars", "funnel_groups", "table"]);
});

test("funnel bars: persons, with the previous step's drop-off stacked above", () => {
  const option = chartOption(funnel, "funnel_bars", { width: 800 });
  assert.deepEqual(option.series[0].data, [100, 40, 10]);
  assert.deepEqual(option.series[1].data, [0, 60, 30]);
  assert.equal(option.series[0].stack, option.series[1].stack);
});

test("a click on a drop-off bar names who reached the step before but not that one", () => {
  const dropped = clickedPoint(funnel, "funnel_bars", { componentType: "series", seriesIndex: 1, dataIndex: 2 });
  assert.deepEqual(dropped.body, { step: 3, dropped: true });
  assert.equal(dropped.persons, 30);
  const reached = clickedPoint(funnel, "funnel_bars", { componentType: "series", seriesIndex: 0, dataIndex: 1 });
  assert.deepEqual(reached.body, { step: 2, dropped: false });
  assert.equal(reached.persons, 40);
  assert.equal(clickedPoint(funnel, "funnel_bars", { componentType: "series", seriesIndex: 1, dataIndex: 0 }), null, "step 1 has no drop-off");
  assert.equal(clickedPoint({ ...funnel, counting: "totals" }, "funnel_bars", { componentType: "series", seriesIndex: 0, dataIndex: 1 }), null, "attempts are not persons");
});

test("lifecycle: dormant below zero, and a bar click names its state and period", () => {
  const lifecycle = { analysis: "lifecycle", points: [{ period: "2026-11-02", new: 5, current: 3, resurrected: 2, dormant: 4 }] };
  const option = chartOption(lifecycle, "lifecycle_bars");
  const dormant = option.series.find((s) => s.name === "dormant");
  assert.deepEqual(dormant.data, [-4]);
  assert.ok(option.series.filter((s) => s.name !== "dormant").every((s) => s.data[0] > 0));
  const point = clickedPoint(lifecycle, "lifecycle_bars", { componentType: "series", seriesIndex: option.series.indexOf(dormant), dataIndex: 0 });
  assert.deepEqual(point.body, { period: "2026-11-02", state: "dormant" });
  assert.equal(point.persons, 4);
  const phone = chartOption(lifecycle, "lifecycle_bars", { width: 340 });
  assert.ok(phone.legend.itemGap < 10 && phone.legend.textStyle.fontSize <= 11, "a phone's legend is compact, so dormant is not paged away");
  assert.equal(option.legend.itemGap, undefined, "a wide chart keeps ECharts' own legend");
});

test("paths become a Sankey whose links join nodes of consecutive steps", () => {
  const paths = {
    analysis: "paths",
    nodes: [{ level: 0, event_type: "Searched", persons: 3 }, { level: 1, event_type: "Service Viewed", persons: 2 }],
    links: [{ level: 0, source: "Searched", target: "Service Viewed", persons: 2 }],
  };
  const [sankey] = chartOption(paths, "sankey").series;
  const names = new Set(sankey.data.map((n) => n.name));
  for (const link of sankey.links) assert.ok(names.has(link.source) && names.has(link.target), JSON.stringify(link));
});

test("frequency: persons per bucket at each point, and a histogram over the whole range", () => {
  const seg = {
    analysis: "segmentation",
    interval: "week",
    points: ["w1", "w2"],
    series: [
      {
        event_type: "Purchase Completed",
        measure: "frequency",
        values: [3, 4],
        frequency: [
          { label: "1", from: 1, to: 2, persons: [2, 3], in_range: 3 },
          { label: "2-3", from: 2, to: 4, persons: [1, 0], in_range: 2 },
          { label: "4+", from: 4, persons: [0, 1], in_range: 1 },
        ],
      },
    ],
  };
  assert.deepEqual(viewsOf(seg).map(([key]) => key), ["frequency_time", "frequency", "line", "bar", "table"], "a frequency series alone opens on its buckets per point");
  const perPoint = chartOption(seg, "frequency_time");
  assert.deepEqual(perPoint.xAxis.data, ["w1", "w2"]);
  assert.deepEqual(perPoint.series.map((x) => [x.name, x.data]), [["1 time", [2, 3]], ["2-3 times", [1, 0]], ["4+ times", [0, 1]]], "a band per bucket");
  assert.equal(new Set(perPoint.series.map((x) => x.stack)).size, 1, "stacked per point");
  const option = chartOption(seg, "frequency");
  assert.deepEqual(option.xAxis.data, ["1", "2-3", "4+"]);
  assert.deepEqual(option.series[0].data, [3, 2, 1], "each person once, by their count over the range");
  assert.match(option.xAxis.name, /whole range/);
  const mixed = { ...seg, series: [{ event_type: "_all", measure: "uniques", values: [9, 9] }, ...seg.series] };
  assert.deepEqual(viewsOf(mixed).map(([key]) => key), ["line", "bar", "frequency_time", "frequency", "table"]);
});

test("retention with two return events: the second event's curve beside the first", () => {
  const overall = (rate) => ({ persons: 10, eligible: [10, 10], returned: [], rate });
  const retention = {
    analysis: "retention",
    columns: ["0", "1"],
    cohorts: [],
    overall: overall([1, 0.5]),
    second_return: { return_event: "Purchase Completed", cohorts: [], overall: overall([0.2, null]) },
  };
  const option = chartOption(retention, "retention_curve", { spec: { return_events: [{ event_type: "Service Viewed" }, { event_type: "Purchase Completed" }] } });
  assert.deepEqual(option.series.map((s) => s.name), ["1: Service Viewed", "2: Purchase Completed"]);
  assert.deepEqual(option.series[1].data, [20, null]);
  assert.equal(option.series[1].lineStyle.type, "dashed");
});

test("a funnel by group draws every group the server listed, (other) included, and the overall line apart", () => {
  const overTime = (a, b) => [{ start: "2026-11-02", steps: steps(a, b) }, { start: "2026-11-09", steps: steps(a * 2, b) }];
  const groups = Array.from({ length: 11 }, (_, i) => ({
    value: i === 10 ? null : `g${i}`,
    ...(i === 10 ? { other: true } : {}),
    steps: steps(10 + i, 5),
    over_time: overTime(10 + i, 5),
  }));
  const grouped = { analysis: "funnel", steps: ["A", "B"], overall: { steps: steps(200, 55) }, over_time: overTime(200, 55), by_breakdown: groups };
  const bars = chartOption(grouped, "funnel_groups", { width: 800 });
  assert.equal(bars.series.length, 12, "All and the 11 groups the server listed");
  const colors = bars.series.map((s) => s.itemStyle.color);
  assert.equal(new Set(colors).size, 12, "no group shares a colour, and none the overall's");
  const lines = chartOption(grouped, "conversion_over_time", { width: 800 });
  assert.equal(lines.series.length, 12, "one line per group and the overall one");
  assert.deepEqual(lines.series[1].data, [50, 25], "a group's own conversion per point");
  assert.ok(Math.abs(lines.series[0].data[0] - 27.5) < 1e-9, "the overall conversion per point");
  const plain = chartOption({ ...funnel, over_time: overTime(100, 10) }, "conversion_over_time", { width: 800 });
  assert.deepEqual(plain.series.map((s) => s.name), ["Conversion to the last step"]);
});

test("durations read without a trailing .0", async () => {
  const { duration } = await import("./format.js");
  assert.deepEqual([0, 1000, 1500, 10_000, 60_000, 90_000, 3_600_000, 86_400_000 * 7].map(duration), ["0", "1 s", "1.5 s", "10 s", "1 min", "1.5 min", "1 h", "7 d"]);
});

test("a Sankey's labels fit between its levels, the last level's on the left of its nodes", () => {
  const paths = {
    analysis: "paths",
    nodes: [
      { level: 0, event_type: "A", persons: 10 },
      { level: 1, event_type: "B", persons: 6 },
      { level: 2, event_type: "A very long event name that would run off the chart", persons: 3 },
      { level: 2, event_type: "Rare", persons: 0.2 },
    ],
    links: [{ level: 0, source: "A", target: "B", persons: 6 }, { level: 1, source: "B", target: "A very long event name that would run off the chart", persons: 3 }],
  };
  const wide = chartOption(paths, "sankey", { width: 800 }).series[0];
  const phone = chartOption(paths, "sankey", { width: 360 }).series[0];
  assert.ok(phone.label.width < wide.label.width, "narrower room on a phone");
  assert.equal(phone.label.overflow, "truncate");
  assert.equal(wide.data[2].label.position, "left", "the last level's label stays inside the chart");
  assert.equal(wide.data[2].label.width, wide.label.width / 2, "sharing the last gap with the level before's");
  assert.equal(wide.data[1].label.width, wide.label.width / 2);
  assert.equal(wide.data[0].label, undefined);
  assert.equal(wide.right, 8, "no wide blank margin on the right");
  assert.equal(wide.data[3].label.show, false, "a node too thin for a label has none");
});

test("RFM draws buyers per segment in rule order, each bar labelled with its share", () => {
  const rfm = {
    analysis: "rfm",
    buyers: 4,
    segments: [
      { segment: "champions", persons: 1, share: 0.25, recency_days: 4, frequency: 4, monetary: 10, revenue: 10 },
      { segment: "cant_lose_them", persons: 3, share: 0.75, recency_days: 40, frequency: 2, monetary: 5, revenue: 15 },
    ],
    grid: [],
  };
  assert.deepEqual(viewsOf(rfm).map(([key]) => key), ["rfm_segments", "table"]);
  const option = chartOption(rfm, "rfm_segments");
  assert.deepEqual(option.xAxis.data, ["Champions", "Can't lose them"]);
  assert.deepEqual(option.series[0].data, [1, 3]);
  assert.equal(option.series[0].label.formatter({ dataIndex: 1 }), "75.0%");
  assert.match(option.tooltip.formatter([{ dataIndex: 0 }]), /1 buyers \(25\.0%\)/);
});
