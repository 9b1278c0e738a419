// The time-series chart: uPlot (about 50 KB, canvas, fast with many points; Prometheus 3's
// UI draws with it too) with our own legend and tooltip. uPlot's built-in legend updates
// every row on every mouse move, which at 1,000 series is what freezes a page; ours is
// static and the tooltip shows the one series under the cursor.

import uPlot from "uplot";
import { h, setChildren } from "./dom.js";
import { formatAxisValue, formatCount, seriesName } from "./format.js";
import { alignMatrix, nearestSeries, seriesColor, stack } from "./series.js";
import { axisTimes, formatTime } from "./time.js";

const utc = (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");

/**
 * Draws `matrix` (a range query's result) into `container`. `onZoom(startMs, endMs)` is
 * called when the user drags over a time span. Returns a handle with `destroy()`.
 */
export function drawChart(container, matrix, { startS, endS, stepS, stacked, onZoom }) {
  const { xs, series, total, dropped } = alignMatrix(matrix, startS, endS, stepS);
  const shown = series.map(() => true);
  const raw = series.map((s) => s.values);
  const names = series.map((s) => seriesName(s.metric));

  const plotEl = h("div", { class: "chart-plot", dataset: { testid: "chart" } });
  const tooltip = h("div", { class: "tooltip", dataset: { testid: "tooltip" }, hidden: true });
  const legend = h("div", { class: "legend", dataset: { testid: "legend" } });
  const notice = dropped
    ? h(
        "div",
        { class: "notice", dataset: { testid: "series-notice" } },
        `Showing the first ${formatCount(series.length)} of ${formatCount(total)} series: narrow the query (a label matcher, topk, an aggregation) to see the others.`,
      )
    : null;
  setChildren(container, notice, h("div", { class: "chart-wrap" }, plotEl, tooltip), legend);
  container.dataset.seriesCount = String(series.length);

  const data = () => [xs, ...(stacked ? stack(raw, shown) : raw)];
  const opts = {
    width: Math.max(300, container.clientWidth || 800),
    height: 360,
    tzDate: utc,
    legend: { show: false },
    cursor: {
      drag: { x: true, y: false, setScale: false },
      points: { show: false },
    },
    scales: { x: { time: true } },
    axes: [
      { stroke: "#555", grid: { stroke: "#eee" }, values: (u, ticks) => axisTimes(ticks, endS - startS) },
      { stroke: "#555", grid: { stroke: "#eee" }, size: 60, values: (u, vals) => vals.map(formatAxisValue) },
    ],
    series: [
      {},
      ...series.map((s, i) => ({
        label: names[i],
        stroke: seriesColor(i),
        width: 1.25,
        fill: stacked ? seriesColor(i).replace("45%)", "45%, 0.35)").replace("hsl(", "hsla(") : undefined,
        spanGaps: false,
        points: { show: xs.length < 60 },
      })),
    ],
    bands: stacked ? bands(shown) : [],
    hooks: {
      setCursor: [(u) => showTooltip(u)],
      setSelect: [
        (u) => {
          if (u.select.width < 5) return;
          const from = u.posToVal(u.select.left, "x");
          const to = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          if (onZoom && to > from) onZoom(Math.round(from * 1000), Math.round(to * 1000));
        },
      ],
    },
  };
  const u = new uPlot(opts, data(), plotEl);

  function bands(visible) {
    // each stacked series filled down to the shown one beneath it
    const out = [];
    let below = null;
    visible.forEach((v, k) => {
      if (!v) return;
      if (below !== null) out.push({ series: [k + 1, below + 1] });
      below = k;
    });
    return out;
  }

  function showTooltip(u) {
    const idx = u.cursor.idx;
    if (idx === null || idx === undefined || u.cursor.left < 0) {
      tooltip.hidden = true;
      return;
    }
    const values = u.data.slice(1).map((vals) => vals[idx]);
    const ys = values.map((v) => (v === null || v === undefined ? null : u.valToPos(v, "y")));
    const k = nearestSeries(ys, shown, u.cursor.top);
    if (k < 0) {
      tooltip.hidden = true;
      return;
    }
    const value = raw[k][idx];
    setChildren(
      tooltip,
      h("div", { class: "tooltip-time" }, formatTime(xs[idx] * 1000)),
      h("div", { class: "tooltip-series" }, h("span", { class: "swatch", style: `background:${seriesColor(k)}` }), names[k]),
      h("div", { class: "tooltip-value", dataset: { testid: "tooltip-value" } }, `value: ${value}`),
    );
    tooltip.hidden = false;
    const left = Math.min(u.cursor.left + 16, u.over.clientWidth - 260);
    tooltip.style.left = `${Math.max(0, left)}px`;
    tooltip.style.top = `${u.cursor.top + 16}px`;
  }

  series.forEach((s, i) => {
    const item = h(
      "div",
      {
        class: "legend-item",
        dataset: { testid: "legend-item" },
        title: "click: show or hide; shift-click: show only this series",
        onclick: (e) => {
          if (e.shiftKey) {
            const only = shown.every((v, k) => v === (k === i));
            shown.forEach((_, k) => (shown[k] = only ? true : k === i));
          } else {
            shown[i] = !shown[i];
          }
          shown.forEach((v, k) => {
            u.setSeries(k + 1, { show: v });
            legend.children[k].classList.toggle("off", !v);
          });
          if (stacked) {
            u.delBand(null);
            bands(shown).forEach((b) => u.addBand(b));
            u.setData(data(), false);
            u.redraw();
          }
        },
      },
      h("span", { class: "swatch", style: `background:${seriesColor(i)}` }),
      names[i],
    );
    legend.append(item);
  });

  const resize = () => u.setSize({ width: Math.max(300, container.clientWidth || 800), height: 360 });
  window.addEventListener("resize", resize);
  return {
    destroy() {
      window.removeEventListener("resize", resize);
      u.destroy();
    },
  };
}
