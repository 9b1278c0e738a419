import { test } from "node:test";
import assert from "node:assert/strict";
import { formatAxisValue, formatBytes, formatCount, seriesName } from "../src/format.js";

test("axis values use SI prefixes with three significant digits", () => {
  assert.equal(formatAxisValue(0), "0");
  assert.equal(formatAxisValue(1500), "1.5k");
  assert.equal(formatAxisValue(999), "999");
  assert.equal(formatAxisValue(1000), "1k");
  assert.equal(formatAxisValue(1234567), "1.23M");
  assert.equal(formatAxisValue(-3.2e6), "-3.2M");
  assert.equal(formatAxisValue(2.5e9), "2.5G");
  assert.equal(formatAxisValue(0.25), "250m");
  assert.equal(formatAxisValue(0.5e-6), "500n");
  assert.equal(formatAxisValue(1e-12), "1.00e-12");
  assert.equal(formatAxisValue(42.123), "42.1");
  assert.equal(formatAxisValue(Infinity), "+Inf");
  assert.equal(formatAxisValue(NaN), "");
  assert.equal(formatAxisValue(null), "");
});

test("bytes and counts", () => {
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1024), "1.0 KiB");
  assert.equal(formatBytes(1.5 * 1024 ** 3), "1.5 GiB");
  assert.equal(formatCount(10000000), "10,000,000");
});

test("series are named as Prometheus's UI names them", () => {
  assert.equal(seriesName({ __name__: "up", job: "node", instance: "a:1" }), 'up{instance="a:1", job="node"}');
  assert.equal(seriesName({ __name__: "up" }), "up");
  assert.equal(seriesName({}), "{}");
  assert.equal(seriesName({ job: 'x"y' }), '{job="x\\"y"}');
});
