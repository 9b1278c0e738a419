import { test } from "node:test";
import assert from "node:assert/strict";
import { alignMatrix, chartValue, nearestSeries, stack } from "../src/series.js";

test("a matrix aligns on the query's steps, gaps are null", () => {
  const m = [
    { metric: { a: "1" }, values: [[100, "1"], [130, "3"]] },
    { metric: { a: "2" }, values: [[110, "NaN"], [120, "+Inf"], [999, "5"]] },
  ];
  const { xs, series, total, dropped } = alignMatrix(m, 100, 130, 10);
  assert.deepEqual(xs, [100, 110, 120, 130]);
  assert.deepEqual(series[0].values, [1, null, null, 3]);
  assert.deepEqual(series[1].values, [null, null, null, null], "NaN, Inf and out-of-range points are gaps");
  assert.equal(total, 2);
  assert.equal(dropped, 0);
});

test("fractional steps and float timestamps land on the nearest point", () => {
  const { xs, series } = alignMatrix([{ metric: {}, values: [[1.5, "2"], [2.0, "4"]] }], 1, 2, 0.5);
  assert.deepEqual(xs, [1, 1.5, 2]);
  assert.deepEqual(series[0].values, [null, 2, 4]);
});

test("more series than the limit are counted, not drawn", () => {
  const m = Array.from({ length: 1200 }, (_, i) => ({ metric: { i: String(i) }, values: [[0, "1"]] }));
  const r = alignMatrix(m, 0, 60, 15, 1000);
  assert.equal(r.series.length, 1000);
  assert.equal(r.total, 1200);
  assert.equal(r.dropped, 200);
  assert.deepEqual(r.series[999].metric, { i: "999" });
});

test("stacking adds shown series in order and keeps gaps", () => {
  const got = stack([[1, 2, null], [10, null, 30], [100, 200, 300]], [true, true, true]);
  assert.deepEqual(got, [[1, 2, null], [11, null, 30], [111, 202, 330]]);
  const hidden = stack([[1, 2], [10, 20], [100, 200]], [true, false, true]);
  assert.deepEqual(hidden, [[1, 2], [10, 20], [101, 202]], "a hidden series adds nothing");
});

test("chart values and the nearest series", () => {
  assert.equal(chartValue("1e3"), 1000);
  assert.equal(chartValue("-Inf"), null);
  assert.equal(nearestSeries([10, 50, 90], [true, true, true], 60), 1);
  assert.equal(nearestSeries([10, 50, 90], [true, false, true], 60), 2);
  assert.equal(nearestSeries([null, null], [true, true], 5), -1);
});
