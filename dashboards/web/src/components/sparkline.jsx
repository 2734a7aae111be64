// An event type's volume per day as a small line (the taxonomy browser's rows) or, with `axes`,
// a readable chart with its days and counts. Quarantined events, when given, are a red line.
import { useMemo } from "preact/hooks";
import { EChart } from "../charts/echart.jsx";

const ACCENT = "#4e6ef2";
const DANGER = "#d92d20";

function line(name, data, color, area) {
  return {
    name, type: "line", data, showSymbol: false, smooth: false,
    lineStyle: { width: 1.5, color }, itemStyle: { color },
    areaStyle: area ? { color, opacity: 0.12 } : undefined,
  };
}

export function volumeOption(days, daily, quarantined, axes = false) {
  const series = [line("stored", daily, ACCENT, true)];
  if (quarantined) series.push(line("quarantined", quarantined, DANGER, false));
  return {
    grid: axes ? { left: 44, right: 12, top: quarantined ? 30 : 12, bottom: 24 } : { left: 1, right: 1, top: 3, bottom: 1 },
    xAxis: { type: "category", data: days, show: axes, boundaryGap: false, axisLabel: { hideOverlap: true } },
    yAxis: { type: "value", show: axes, min: 0, minInterval: 1, splitLine: { show: axes } },
    tooltip: { trigger: "axis", confine: true, axisPointer: { type: "line" } },
    legend: axes && quarantined ? { top: 0, right: 0 } : { show: false },
    series,
  };
}

/** `days` (x axis), `daily` (events per day), `quarantined` (optional, per day). */
export function Sparkline({ days, daily, quarantined, axes = false, height = 36, testid }) {
  const option = useMemo(() => volumeOption(days, daily, quarantined, axes), [days, daily, quarantined, axes]);
  return <EChart option={option} height={height} testid={testid} />;
}
