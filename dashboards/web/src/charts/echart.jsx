// An ECharts chart in a Preact component: only the chart types Sluice draws are bundled.
import { useEffect, useRef, useState } from "preact/hooks";
import * as echarts from "echarts/core";
import { BarChart, LineChart, SankeyChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent, MarkLineComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([BarChart, LineChart, SankeyChart, GridComponent, LegendComponent, TooltipComponent, MarkLineComponent, CanvasRenderer]);

/**
 * `option`: an ECharts option, or a function of the chart's width in pixels giving one (for
 * labels that fit the room there is); `onClick(params)`: a click on a bar, point or node.
 */
export function EChart({ option, onClick, height = 360, testid = "chart" }) {
  const box = useRef(null);
  const chart = useRef(null);
  const [width, setWidth] = useState(0);
  const clickRef = useRef(onClick);
  clickRef.current = onClick;
  useEffect(() => {
    chart.current = echarts.init(box.current, null, { renderer: "canvas" });
    chart.current.on("click", (params) => clickRef.current?.(params));
    setWidth(box.current.clientWidth);
    const resize = new ResizeObserver(() => {
      chart.current?.resize();
      setWidth(box.current?.clientWidth ?? 0);
    });
    resize.observe(box.current);
    return () => {
      resize.disconnect();
      chart.current.dispose();
      chart.current = null;
    };
  }, []);
  useEffect(() => {
    if (!width) return;
    const built = typeof option === "function" ? option(width) : option;
    chart.current.setOption({ animation: false, ...built }, true);
  }, [option, width]);
  return <div class="echart" ref={box} style={{ height: `${height}px` }} data-testid={testid} />;
}
