import { test } from "node:test";
import assert from "node:assert/strict";
import { candidates, classify, completionContext, highlight, tokenize } from "../src/promql.js";

const classes = (q) => classify(tokenize(q)).filter((t) => t.cls).map((t) => `${t.cls}:${t.text}`);

test("tokens cover the text exactly, whatever it is", () => {
  for (const q of ['sum by (pool) (rate(x{a="b"}[5m]))', 'up{a="unterminated', "1e3 + 0x1F - .5", "  # c\nfoo", "§§{", ""]) {
    assert.equal(tokenize(q).map((t) => t.text).join(""), q);
  }
});

test("classes: functions, aggregations, keywords, metrics, labels, strings, durations", () => {
  assert.deepEqual(classes('sum by (pool) (rate(http_requests_total{code=~"5.."}[5m])) > bool 0.5 offset 1h'), [
    "func:sum", "kw:by", "paren:(", "label:pool", "paren:)", "paren:(", "func:rate", "paren:(",
    "metric:http_requests_total", "paren:{", "label:code", "op:=~", 'str:"5.."', "paren:}", "paren:[",
    "dur:5m", "paren:]", "paren:)", "paren:)", "op:>", "kw:bool", "num:0.5", "kw:offset", "dur:1h",
  ]);
  // a metric may be called like a function name when it is not called
  assert.deepEqual(classes("rate + sum"), ["metric:rate", "op:+", "metric:sum"]);
  assert.deepEqual(classes("job:requests:rate5m"), ["metric:job:requests:rate5m"]);
  assert.deepEqual(classes("sum without (a) (x)").slice(0, 2), ["func:sum", "kw:without"]);
  assert.deepEqual(classes("# note"), ["comment:# note"]);
});

test("highlighting escapes the text", () => {
  assert.equal(highlight('x{a="<b>"}'), '<span class="t-metric">x</span><span class="t-paren">{</span><span class="t-label">a</span><span class="t-op">=</span><span class="t-str">&quot;&lt;b&gt;&quot;</span><span class="t-paren">}</span>');
});

test("completion context at the cursor", () => {
  const at = (q) => {
    const pos = q.indexOf("|");
    return completionContext(q.replace("|", ""), pos);
  };
  assert.deepEqual(at("node_cp|"), { kind: "metric", prefix: "node_cp", from: 0, to: 7 });
  assert.deepEqual(at("rate(|"), { kind: "metric", prefix: "", from: 5, to: 5 });
  assert.deepEqual(at("up{|"), { kind: "labelName", metric: "up", prefix: "", from: 3, to: 3 });
  assert.deepEqual(at('up{job="x", ins|'), { kind: "labelName", metric: "up", prefix: "ins", from: 12, to: 15 });
  assert.deepEqual(at('up{job="no|'), { kind: "labelValue", metric: "up", label: "job", prefix: "no", from: 8, to: 10 });
  assert.deepEqual(at('{job=~"|'), { kind: "labelValue", metric: null, label: "job", prefix: "", from: 7, to: 7 });
  assert.deepEqual(at("sum by (po|"), { kind: "labelName", metric: null, prefix: "po", from: 8, to: 10 });
  assert.deepEqual(at("rate(x[5|"), { kind: "none" });
  assert.deepEqual(at('up{job="x"|'), { kind: "none" });
  assert.deepEqual(at("up{job|"), { kind: "labelName", metric: "up", prefix: "job", from: 3, to: 6 });
  assert.deepEqual(at("up{job=|"), { kind: "none" });
  assert.deepEqual(at("1.5|"), { kind: "none" });
  assert.deepEqual(at("up{a=\"b\"} + node|"), { kind: "metric", prefix: "node", from: 12, to: 16 });
});

test("candidates: prefix matches first, then substring matches, functions for metrics", () => {
  const ctx = { kind: "metric", prefix: "rat" };
  const got = candidates(ctx, ["rate_limit_hits", "node_ratio", "up"]).map((c) => c.text);
  assert.deepEqual(got, ["rate_limit_hits", "rate", "node_ratio", "irate", "limit_ratio"]);
  const labels = candidates({ kind: "labelName", prefix: "" }, ["job", "instance"]).map((c) => c.kind);
  assert.deepEqual(labels, ["labelName", "labelName"], "no functions among label names");
  assert.equal(candidates({ kind: "metric", prefix: "" }, [], 5).length, 5, "limited");
  assert.deepEqual(candidates({ kind: "labelValue", prefix: "up" }, ["up"]), [], "an exact match is not offered");
});
