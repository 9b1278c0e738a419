import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ago, axisTimes, effectiveStep, formatDuration, formatTime, humanSeconds, parseDuration, parseTime, stepRange,
} from "../src/time.js";

test("durations parse as Prometheus parses them", () => {
  assert.equal(parseDuration("90s"), 90000);
  assert.equal(parseDuration("1h30m"), 5400000);
  assert.equal(parseDuration("1w2d"), 9 * 86400000);
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("0"), 0);
  assert.equal(parseDuration(""), null);
  assert.equal(parseDuration("1x"), null);
  assert.equal(parseDuration("30m1h"), null, "units must shrink");
  assert.equal(parseDuration("1h1h"), null, "each unit once");
  assert.equal(parseDuration("1.5h"), null, "no fractions");
});

test("durations format back to the shortest Prometheus form", () => {
  assert.equal(formatDuration(5400000), "1h30m");
  assert.equal(formatDuration(86400000), "1d");
  assert.equal(formatDuration(1500), "1s500ms");
  assert.equal(formatDuration(0), "0s");
  for (const s of ["1m", "2h", "1d", "1w", "1y", "1d12h", "5m30s"]) {
    assert.equal(formatDuration(parseDuration(s)), s);
  }
});

test("range buttons step through the ladder", () => {
  assert.equal(stepRange(parseDuration("1h"), 1), parseDuration("2h"));
  assert.equal(stepRange(parseDuration("1h"), -1), parseDuration("30m"));
  assert.equal(stepRange(parseDuration("45m"), 1), parseDuration("1h"));
  assert.equal(stepRange(parseDuration("1m"), -1), parseDuration("1m"), "no smaller than the first");
  assert.equal(stepRange(parseDuration("1y"), 1), parseDuration("1y"), "no larger than the last");
});

test("the auto step gives about 250 points, at least 1 s, at most 11,000 points", () => {
  assert.equal(effectiveStep(3600e3, { type: "auto", density: "medium" }), 14);
  assert.equal(effectiveStep(86400e3, { type: "auto", density: "medium" }), 345);
  assert.equal(effectiveStep(60e3, { type: "auto", density: "medium" }), 1);
  assert.equal(effectiveStep(86400e3, { type: "auto", density: "high" }), 86);
  assert.equal(effectiveStep(86400e3, { type: "auto", density: "low" }), 1382);
  assert.equal(effectiveStep(3600e3, { type: "fixed", step: 60 }), 60);
  assert.equal(effectiveStep(3600e3, undefined), 14);
  // an explicit 1 s step over a week would be 604,800 points: raised to the server's limit
  const week = 7 * 86400e3;
  const step = effectiveStep(week, { type: "custom", step: 1 });
  assert.ok(week / 1000 / step <= 11000);
  assert.equal(step, 55);
});

test("times show and parse in UTC", () => {
  const t = Date.UTC(2024, 0, 2, 3, 4, 5);
  assert.equal(formatTime(t), "2024-01-02 03:04:05");
  assert.equal(parseTime("2024-01-02 03:04:05"), t);
  assert.equal(parseTime("2024-01-02T03:04:05Z"), t);
  assert.equal(parseTime("2024-01-02T05:04:05+02:00"), t);
  assert.equal(parseTime("2024-01-02 03:04"), t - 5000);
  assert.equal(parseTime(String(t / 1000)), t);
  assert.equal(parseTime("1704164645.5"), t + 500);
  assert.equal(parseTime("2024-02-31 00:00:00"), null);
  assert.equal(parseTime("yesterday"), null);
  assert.equal(parseTime(""), null);
});

test("ago and humanSeconds are short and exact at the unit edges", () => {
  assert.equal(ago(1000, 1500), "500ms ago");
  assert.equal(ago(0, 3200), "3.2s ago");
  assert.equal(ago(0, 125000), "2m5s ago");
  assert.equal(ago(2000, 1000), "0ms ago", "a clock ahead is not negative");
  assert.equal(humanSeconds(0.0123), "12.3ms");
  assert.equal(humanSeconds(1.25), "1.25s");
  assert.equal(humanSeconds(0.0000042), "4µs");
  assert.equal(humanSeconds(3600), "1h");
});

test("time axis labels fit the span", () => {
  const t = Date.UTC(2024, 0, 2, 3, 4, 0) / 1000;
  assert.deepEqual(axisTimes([t, t + 15], 300), ["03:04:00", "03:04:15"]);
  assert.deepEqual(axisTimes([t, t + 3600], 86400), ["03:04", "04:04"]);
  assert.deepEqual(axisTimes([t, t + 6 * 3600], 7 * 86400), ["01-02 03:04", "01-02 09:04"]);
  assert.deepEqual(axisTimes([t, t + 86400], 30 * 86400), ["01-02", "01-03"]);
});
