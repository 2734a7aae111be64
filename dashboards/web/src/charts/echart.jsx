// An ECharts chart in a Preact component: only the chart types Sluice draws are bundled.
import { useEffect, useRef } from "preact/hooks";
import * as echarts from "echarts/core";
import { BarChart, LineChart, SankeyChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent, MarkLineComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([BarChart, LineChart, SankeyChart, GridComponent, LegendComponent, TooltipComponent, MarkLineComponent, CanvasRenderer]);

/** `option`: an ECharts option; `onClick(params)`: a click on a bar, point or node. */
export function EChart({ option, onClick, height = 360, testid = "chart" }) {
  const box = useRef(null);
  const chart = useRef(null);
  const clickRef = useRef(onClick);
  clickRef.current = onClick;
  useEffect(() => {
    chart.current = echarts.init(box.current, null, { renderer: "canvas" });
    chart.current.on("click", (params) => clickRef.current?.(params));
    const resize = new ResizeObserver(() => chart.current?.resize());
    resize.observe(box.current);
    return () => {
      resize.disconnect();
      chart.current.dispose();
      chart.current = null;
    };
  }, []);
  useEffect(() => {
    chart.current.setOption({ animation: false, ...option }, true);
  }, [option]);
  return <div class="echart" ref={box} style={{ height: `${height}px` }} data-testid={testid} />;
}
