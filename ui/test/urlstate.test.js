import { test } from "node:test";
import assert from "node:assert/strict";
import { decodePanels, encodePanels, newPanel } from "../src/urlstate.js";

test("Prometheus 2 links open: numeric tab, stacked, step_input, end_input", () => {
  const q =
    "?g0.expr=rate(node_cpu_seconds_total%5B5m%5D)&g0.tab=0&g0.stacked=1&g0.range_input=6h" +
    "&g0.end_input=2024-01-02%2003%3A04%3A05&g0.step_input=30&g1.expr=up&g1.tab=1";
  const [a, b, c] = decodePanels(q);
  assert.equal(c, undefined);
  assert.equal(a.expr, "rate(node_cpu_seconds_total[5m])");
  assert.equal(a.tab, "graph");
  assert.equal(a.stacked, true);
  assert.equal(a.range, 6 * 3600e3);
  assert.equal(a.endTime, Date.UTC(2024, 0, 2, 3, 4, 5));
  assert.deepEqual(a.resolution, { type: "custom", step: 30 });
  assert.equal(b.expr, "up");
  assert.equal(b.tab, "table");
  assert.equal(b.endTime, null);
});

test("Prometheus 3 links open: named tab, display_mode, res_type", () => {
  const [p] = decodePanels(
    "g0.expr=up&g0.tab=table&g0.display_mode=stacked&g0.res_type=fixed&g0.res_step=60&g0.range_input=1d",
  );
  assert.equal(p.tab, "table");
  assert.equal(p.stacked, true);
  assert.deepEqual(p.resolution, { type: "fixed", step: 60 });
  assert.equal(p.range, 86400e3);
  const [q] = decodePanels("g0.expr=up&g0.res_type=auto&g0.res_density=high");
  assert.deepEqual(q.resolution, { type: "auto", density: "high" });
});

test("bad values fall back to the defaults instead of breaking the page", () => {
  const [p] = decodePanels("g0.expr=up&g0.range_input=soon&g0.end_input=never&g0.res_type=fixed&g0.res_step=-1");
  const d = newPanel("up");
  assert.deepEqual(p, d);
  assert.deepEqual(decodePanels(""), []);
  assert.deepEqual(decodePanels("g1.expr=up"), [], "panels are numbered from g0");
});

test("encoding then decoding gives the same panels", () => {
  const panels = [
    { ...newPanel('sum by (pool) (rate(http_requests_total{code=~"5.."}[5m]))'), stacked: true, range: 2 * 86400e3 },
    { ...newPanel("up"), tab: "table", endTime: Date.UTC(2025, 5, 6, 7, 8, 9), resolution: { type: "fixed", step: 15 } },
    { ...newPanel("a & b + c"), resolution: { type: "auto", density: "low" } },
  ];
  const decoded = decodePanels(encodePanels(panels));
  assert.deepEqual(decoded, panels);
  assert.match(encodePanels(panels), /g0\.expr=sum\+by/);
});
