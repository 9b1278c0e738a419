// The graph page: panels of an expression each, shown as a chart (range query) or a
// table (instant query), their state kept in the URL in Prometheus's parameters.

import * as api from "../api.js";
import { drawChart } from "../chart.js";
import { errorBox, h, setChildren } from "../dom.js";
import { createEditor } from "../editor.js";
import { formatCount, formatSampleValue, seriesName } from "../format.js";
import { decodePanels, encodePanels, newPanel } from "../urlstate.js";
import { effectiveStep, formatDuration, formatTime, parseDuration, parseTime, stepRange } from "../time.js";

/** Rows a table shows before it says how many more there are. */
const MAX_TABLE_ROWS = 10000;

/**
 * The page without a link opens on the server's own ingest rate (self-monitoring is on by
 * default, so a newcomer sees a graph at once) with these examples beneath.
 */
const DEFAULT_EXPR = "sum(rate(tsdb_samples_appended_total[1m]))";
const EXAMPLES = [
  ["samples appended per second (the server's own metrics)", DEFAULT_EXPR],
  ["HTTP requests per second by handler", "sum by (handler) (rate(tsdb_http_requests_total[1m]))"],
  ["busy CPU by pool (the --demo-fleet)", 'sum by (pool) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))'],
  ["memory used, % per host (the --demo-fleet)", "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)"],
  ["the ten busiest hosts (the --demo-fleet)", "topk(10, node_load1)"],
];

export function graphPage(root) {
  let panels = decodePanels(location.search);
  const fresh = panels.length === 0;
  if (fresh) panels = [newPanel(DEFAULT_EXPR)];
  const list = h("div", { class: "panels" });
  const views = [];

  const saveUrl = () => {
    const qs = encodePanels(panels);
    history.replaceState(null, "", `${location.pathname}?${qs}`);
  };
  const addPanel = (p, run) => {
    const v = panelView(p, saveUrl, () => {
      const i = views.indexOf(v);
      views.splice(i, 1);
      panels.splice(i, 1);
      v.el.remove();
      saveUrl();
    });
    views.push(v);
    list.append(v.el);
    if (run) v.run();
  };
  panels.forEach((p) => addPanel(p, p.expr.trim() !== ""));
  setChildren(
    root,
    list,
    h(
      "button",
      {
        class: "btn",
        dataset: { testid: "add-panel" },
        onclick: () => {
          const p = newPanel("");
          panels.push(p);
          addPanel(p, false);
          saveUrl();
        },
      },
      "Add panel",
    ),
    fresh
      ? h("section", { class: "examples", dataset: { testid: "examples" } },
          h("h3", {}, "Examples"),
          h("ul", {}, EXAMPLES.map(([title, expr]) =>
            h("li", {}, h("a", { href: `/graph?${encodePanels([newPanel(expr)])}` }, title), " ", h("code", {}, expr)))))
      : null,
  );
  if (views[0] && panels[0].expr === "") views[0].focus();
}

function panelView(p, saveUrl, remove) {
  let chart = null;
  let controller = null;
  const editor = createEditor(p.expr, () => run());
  const errorEl = h("div", { class: "query-error-slot" });
  const content = h("div", { class: "panel-content" });
  const stats = h("div", { class: "stats", dataset: { testid: "stats" } });

  const rangeInput = h("input", { class: "input range-input", value: formatDuration(p.range), dataset: { testid: "range-input" }, size: 6, title: "Range: a duration (1h, 6h, 2d)" });
  const endInput = h("input", { class: "input end-input", value: p.endTime === null ? "" : formatTime(p.endTime), placeholder: "End time (now)", dataset: { testid: "end-input" }, size: 19, title: "End: YYYY-MM-DD HH:mm:ss (UTC), RFC 3339 or Unix seconds; empty for now" });
  const stepInput = h("input", {
    class: "input step-input",
    value: p.resolution.type === "auto" ? "" : String(p.resolution.step),
    placeholder: "Res. (s)",
    dataset: { testid: "step-input" },
    size: 7,
    title: "Resolution: a step in seconds or a duration (15, 1m); empty for auto (about 250 points)",
  });
  const stackedBox = h("input", { type: "checkbox", checked: p.stacked, dataset: { testid: "stacked" } });
  const tabGraph = h("button", { class: "tab", dataset: { testid: "tab-graph" }, onclick: () => setTab("graph") }, "Graph");
  const tabTable = h("button", { class: "tab", dataset: { testid: "tab-table" }, onclick: () => setTab("table") }, "Table");

  const shiftEnd = (dir) => {
    const end = p.endTime ?? Date.now();
    p.endTime = end + (dir * p.range) / 2;
    endInput.value = formatTime(p.endTime);
    changed();
  };
  const graphControls = h(
    "div",
    { class: "controls graph-controls" },
    h("button", { class: "btn small", title: "Shorter range", dataset: { testid: "range-minus" }, onclick: () => { p.range = stepRange(p.range, -1); rangeInput.value = formatDuration(p.range); changed(); } }, "−"),
    rangeInput,
    h("button", { class: "btn small", title: "Longer range", dataset: { testid: "range-plus" }, onclick: () => { p.range = stepRange(p.range, 1); rangeInput.value = formatDuration(p.range); changed(); } }, "+"),
    h("button", { class: "btn small", title: "Earlier", onclick: () => shiftEnd(-1) }, "«"),
    endInput,
    h("button", { class: "btn small", title: "Later", onclick: () => shiftEnd(1) }, "»"),
    h("button", { class: "btn small", title: "Back to now", onclick: () => { p.endTime = null; endInput.value = ""; changed(); } }, "now"),
    stepInput,
    h("label", { class: "check" }, stackedBox, " stacked"),
  );

  const readInputs = () => {
    const problems = [];
    const range = parseDuration(rangeInput.value);
    if (range && range > 0) p.range = range;
    else problems.push(`range "${rangeInput.value}" is not a duration such as 1h or 2d`);
    if (endInput.value.trim() === "") p.endTime = null;
    else {
      const t = parseTime(endInput.value);
      if (t === null) problems.push(`end time "${endInput.value}" is not YYYY-MM-DD HH:mm:ss, RFC 3339 or Unix seconds`);
      else p.endTime = t;
    }
    const step = stepInput.value.trim();
    if (step === "") p.resolution = { type: "auto", density: "medium" };
    else {
      const secs = /^\d+(\.\d+)?$/.test(step) ? Number(step) : (parseDuration(step) ?? NaN) / 1000;
      if (secs > 0) p.resolution = { type: "fixed", step: secs };
      else problems.push(`resolution "${step}" is not a number of seconds or a duration`);
    }
    p.stacked = stackedBox.checked;
    return problems;
  };
  const changed = () => {
    saveUrl();
    run();
  };
  for (const input of [rangeInput, endInput, stepInput]) {
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") changed();
    });
    input.addEventListener("change", changed);
  }
  stackedBox.addEventListener("change", changed);

  const setTab = (tab) => {
    p.tab = tab;
    changed();
  };

  async function run() {
    p.expr = editor.value();
    const problems = readInputs();
    saveUrl();
    tabGraph.classList.toggle("active", p.tab === "graph");
    tabTable.classList.toggle("active", p.tab === "table");
    graphControls.hidden = p.tab !== "graph";
    setChildren(errorEl);
    if (problems.length) {
      setChildren(errorEl, errorBox(problems.join("; "), "query-error"));
      return;
    }
    if (p.expr.trim() === "") {
      setChildren(content, h("div", { class: "empty" }, "No expression: type one above."));
      setChildren(stats);
      return;
    }
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    const started = performance.now();
    content.classList.add("loading");
    try {
      if (p.tab === "graph") await runGraph(signal, started);
      else await runTable(signal, started);
    } catch (e) {
      if (e.name === "AbortError") return;
      if (chart) {
        chart.destroy();
        chart = null;
      }
      setChildren(content);
      setChildren(stats);
      setChildren(errorEl, errorBox(e.message, "query-error"));
    } finally {
      content.classList.remove("loading");
    }
  }

  async function runGraph(signal, started) {
    const endMs = p.endTime ?? Date.now();
    const stepS = effectiveStep(p.range, p.resolution);
    // align on the step, as Prometheus's UI does, so successive refreshes share points
    const endS = Math.floor(endMs / 1000 / stepS) * stepS;
    const startS = endS - Math.floor(p.range / 1000 / stepS) * stepS;
    const data = await api.postForm("/api/v1/query_range", { query: p.expr, start: startS, end: endS, step: stepS }, signal);
    if (chart) chart.destroy();
    chart = null;
    if (data.resultType !== "matrix") throw new Error(`a graph needs a range vector result, the query gave a ${data.resultType}`);
    const took = performance.now() - started;
    if (data.result.length === 0) {
      setChildren(content, h("div", { class: "empty", dataset: { testid: "empty-result" } }, "Empty query result"));
    } else {
      chart = drawChart(content, data.result, {
        startS,
        endS,
        stepS,
        stacked: p.stacked,
        onZoom: (fromMs, toMs) => {
          p.range = Math.max(1000, Math.round((toMs - fromMs) / 1000) * 1000);
          p.endTime = toMs;
          rangeInput.value = formatDuration(p.range);
          endInput.value = formatTime(p.endTime);
          changed();
        },
      });
    }
    setChildren(stats, `Load time: ${Math.round(took)}ms · Resolution: ${stepS}s · Result series: ${formatCount(data.result.length)}`);
  }

  async function runTable(signal, started) {
    const params = { query: p.expr };
    if (p.endTime !== null) params.time = p.endTime / 1000;
    const data = await api.postForm("/api/v1/query", params, signal);
    if (chart) chart.destroy();
    chart = null;
    const took = performance.now() - started;
    const rows = [];
    let count = 0;
    switch (data.resultType) {
      case "vector":
        count = data.result.length;
        for (const s of data.result.slice(0, MAX_TABLE_ROWS)) {
          rows.push(h("tr", {}, h("td", { class: "series" }, seriesName(s.metric)), h("td", { class: "value" }, formatSampleValue(s.value[1]))));
        }
        break;
      case "matrix":
        count = data.result.length;
        for (const s of data.result.slice(0, MAX_TABLE_ROWS)) {
          const values = s.values.map(([t, v]) => `${formatSampleValue(v)} @${t}`);
          rows.push(h("tr", {}, h("td", { class: "series" }, seriesName(s.metric)), h("td", { class: "value" }, values.map((v) => h("div", {}, v)))));
        }
        break;
      case "scalar":
      case "string":
        count = 1;
        rows.push(h("tr", {}, h("td", { class: "series" }, data.resultType), h("td", { class: "value" }, formatSampleValue(data.result[1]))));
        break;
      default:
        throw new Error(`unknown result type ${data.resultType}`);
    }
    const more = count > MAX_TABLE_ROWS ? h("div", { class: "notice" }, `Showing ${formatCount(MAX_TABLE_ROWS)} of ${formatCount(count)} series.`) : null;
    setChildren(
      content,
      more,
      rows.length
        ? h("table", { class: "table result-table", dataset: { testid: "result-table" } }, h("tbody", {}, rows))
        : h("div", { class: "empty", dataset: { testid: "empty-result" } }, "Empty query result"),
    );
    setChildren(stats, `Load time: ${Math.round(took)}ms · Result series: ${formatCount(count)}`);
  }

  const el = h(
    "section",
    { class: "panel", dataset: { testid: "panel" } },
    h(
      "div",
      { class: "query-row" },
      editor.el,
      h("button", { class: "btn primary", dataset: { testid: "execute" }, onclick: () => run() }, "Execute"),
      h("button", { class: "btn", title: "Remove this panel", dataset: { testid: "remove-panel" }, onclick: () => remove() }, "✕"),
    ),
    errorEl,
    h("div", { class: "tabs" }, tabGraph, tabTable),
    graphControls,
    content,
    stats,
  );
  tabGraph.classList.toggle("active", p.tab === "graph");
  tabTable.classList.toggle("active", p.tab === "table");
  graphControls.hidden = p.tab !== "graph";
  return { el, run, focus: editor.focus };
}
