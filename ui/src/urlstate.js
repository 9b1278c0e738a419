// The graph page's state in its URL, so a link reproduces the view. The parameters are
// Prometheus's (`g0.expr`, `g0.tab`, `g0.range_input`, `g0.end_input`, ...): links from
// Prometheus 2 and 3 open here, and ours open there.

import { formatDuration, formatTime, parseDuration, parseTime } from "./time.js";

/** A panel as the graph page keeps it. */
export function newPanel(expr = "") {
  return {
    expr,
    tab: "graph", // "graph" | "table"
    stacked: false,
    range: 3600 * 1000, // ms
    endTime: null, // ms, or null for "now"
    resolution: { type: "auto", density: "medium" }, // or { type: "fixed"|"custom", step: seconds }
  };
}

/** The panels in a query string (`?g0.expr=...&g1.expr=...`); none when there is no g0.expr. */
export function decodePanels(search) {
  const params = new URLSearchParams(search);
  const panels = [];
  for (let i = 0; params.has(`g${i}.expr`); i++) {
    const get = (k) => params.get(`g${i}.${k}`);
    const p = newPanel(get("expr") ?? "");
    const tab = get("tab");
    if (tab === "1" || tab === "table") p.tab = "table";
    const stacked = get("stacked");
    if (stacked !== null) p.stacked = stacked === "1";
    const mode = get("display_mode");
    if (mode !== null) p.stacked = mode === "stacked";
    const range = get("range_input");
    if (range !== null) p.range = parseDuration(range) || p.range;
    for (const k of ["end_input", "moment_input"]) {
      const v = get(k);
      if (v !== null && v !== "") {
        const t = parseTime(v);
        if (t !== null) p.endTime = t;
      }
    }
    const legacyStep = get("step_input");
    if (legacyStep !== null && Number.parseFloat(legacyStep) > 0) {
      p.resolution = { type: "custom", step: Number.parseFloat(legacyStep) };
    }
    const resType = get("res_type");
    if (resType === "auto") {
      const d = get("res_density");
      p.resolution = { type: "auto", density: ["low", "medium", "high"].includes(d) ? d : "medium" };
    } else if (resType === "fixed" || resType === "custom") {
      const s = Number.parseFloat(get("res_step") ?? "");
      if (s > 0) p.resolution = { type: resType, step: s };
    }
    panels.push(p);
  }
  return panels;
}

/** The query string of `panels`, in Prometheus 3's parameter names. */
export function encodePanels(panels) {
  const params = new URLSearchParams();
  panels.forEach((p, i) => {
    const add = (k, v) => params.append(`g${i}.${k}`, v);
    add("expr", p.expr);
    add("tab", p.tab);
    if (p.endTime !== null) {
      add("end_input", formatTime(p.endTime));
      add("moment_input", formatTime(p.endTime));
    }
    add("range_input", formatDuration(p.range));
    if (p.resolution.type === "auto") {
      add("res_type", "auto");
      add("res_density", p.resolution.density);
    } else {
      add("res_type", p.resolution.type);
      add("res_step", String(p.resolution.step));
    }
    add("display_mode", p.stacked ? "stacked" : "lines");
  });
  return params.toString();
}
