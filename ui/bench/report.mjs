// The web UI benchmark: our graph page against Prometheus 2.42's own UI, in the same run,
// in the same Chromium, on the same data (`bench/data.mjs`, loaded into both servers by
// `benches/tools/ui-report.sh`, which starts the servers and runs this).
//
//   OURS_URL=http://127.0.0.1:P1 PROM_URL=http://127.0.0.1:P2 END_S=<unix s> node bench/report.mjs
//
// Per series count N and per UI, REPEATS times (a fresh browser context each time, the two
// UIs alternating so drift on a shared machine hits both alike), with the link
// /graph?g0.expr=bench_gauge_nN&g0.tab=0&g0.range_input=2h&g0.end_input=<END>:
//
// - drawn: ms from navigation start to the frame after the chart is in the DOM with its
//   legend complete (ours: `[data-testid="chart"] canvas` and min(N, 1000) legend items;
//   Prometheus 2.42 as Debian ships it, whose /graph redirects to the classic UI drawing
//   with Rickshaw/d3 into SVG: `.graph svg path` and N `.legend li` rows).
// - long tasks: main-thread tasks over 50 ms (PerformanceObserver 'longtask') from
//   navigation start until the chart is drawn (plus a short settle): total and max ms.
// - hover: ms from the mousemove event (its timeStamp) to the frame after the tooltip shows
//   (ours: `[data-testid="tooltip-value"]`; theirs: Rickshaw's `.detail .item.active`).
// - JS+CSS bytes: resource timing's transferSize (on the wire, compressed when the server
//   compresses) and decodedBodySize of the page's scripts and style sheets.
//
// Environment: OURS_URL, PROM_URL, END_S (window end, unix seconds), COUNTS (default
// 10,100,1000,2000), REPEATS (5), TIMEOUT_MS (60000), CHROMIUM (/usr/bin/chromium), OUT (a
// JSON file for the raw measurements), PROFILE_DIR (optional: a V8 CPU profile of one
// load per UI at the smallest and largest N, `.cpuprofile` for Chromium's DevTools, with
// the top functions by self time printed to standard error). Prints a Markdown table; exits non-zero if the servers disagree on the data.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (k, d) => process.env[k] ?? d ?? (() => { throw new Error(`set ${k}`); })();
const OURS = env("OURS_URL");
const PROM = env("PROM_URL");
const END_S = Number(env("END_S"));
const COUNTS = env("COUNTS", "10,100,1000,2000").split(",").map(Number);
const REPEATS = Number(env("REPEATS", "5"));
const TIMEOUT_MS = Number(env("TIMEOUT_MS", "60000"));
const OUR_LIMIT = 1000; // the chart's series limit (ui/src/series.js)

const pad = (n) => String(n).padStart(2, "0");
const endDate = new Date(END_S * 1000);
const END_INPUT = `${endDate.getUTCFullYear()}-${pad(endDate.getUTCMonth() + 1)}-${pad(endDate.getUTCDate())} ${pad(endDate.getUTCHours())}:${pad(endDate.getUTCMinutes())}:${pad(endDate.getUTCSeconds())}`;

const graphUrl = (base, n) =>
  `${base}/graph?g0.expr=${encodeURIComponent(`bench_gauge_n${n}`)}&g0.tab=0&g0.range_input=2h&g0.end_input=${encodeURIComponent(END_INPUT)}`;

/** What "drawn" and "tooltip shown" mean on each page, evaluated in the page. */
const UIS = {
  ours: {
    base: OURS,
    drawn: (n) => `document.querySelector('[data-testid="chart"] canvas') !== null && document.querySelectorAll('[data-testid="legend-item"]').length === ${Math.min(n, OUR_LIMIT)}`,
    hoverTarget: '[data-testid="chart"] .u-over',
    tooltip: `(() => { const v = document.querySelector('[data-testid="tooltip-value"]'); return v !== null && v.offsetParent !== null; })()`,
    drawnSeries: `document.querySelectorAll('[data-testid="legend-item"]').length`,
    notice: `document.querySelector('[data-testid="series-notice"]')?.textContent ?? ""`,
  },
  prometheus: {
    base: PROM,
    drawn: (n) => `document.querySelector('.graph svg path') !== null && document.querySelectorAll('.legend li').length === ${n}`,
    hoverTarget: ".graph_area .graph",
    tooltip: `document.querySelector('.detail .item.active') !== null`,
    drawnSeries: `document.querySelectorAll('.legend li').length`,
    notice: `document.querySelector('.warning')?.textContent?.trim() ?? ""`,
  },
};

/**
 * Installed before any page script: long-task accounting, the drawn-time probe (checked
 * on every DOM change, stamped at the next frame), and the hover probe (armed by the
 * runner: the first mousemove's timeStamp, then the frame after the tooltip shows).
 */
function initScript({ drawn, tooltip }) {
  const B = (window.__bench = { lt: { total: 0, max: 0, count: 0 }, drawnAt: null, hover: null });
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      B.lt.total += e.duration;
      B.lt.max = Math.max(B.lt.max, e.duration);
      B.lt.count += 1;
    }
  }).observe({ type: "longtask", buffered: true });
  const isDrawn = new Function(`return ${drawn};`);
  const isTip = new Function(`return ${tooltip};`);
  // the frame after a DOM condition first holds: rAF then a task, i.e. after that paint
  const afterPaint = (f) => requestAnimationFrame(() => setTimeout(f, 0));
  let pending = false;
  const check = () => {
    if (B.drawnAt === null && !pending && document.documentElement && isDrawn()) {
      pending = true;
      afterPaint(() => (B.drawnAt = performance.now()));
    }
    const h = B.hover;
    if (h && h.moveAt !== null && !h.pending && isTip()) {
      h.pending = true;
      afterPaint(() => (h.shownAt = performance.now()));
    }
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true });
  window.addEventListener(
    "mousemove",
    (e) => {
      const h = B.hover;
      if (h && h.moveAt === null) {
        h.moveAt = e.timeStamp;
        // a tooltip drawn without DOM changes after the move (already present) counts too
        setTimeout(check, 0);
      }
    },
    true,
  );
}

/** The functions with the most self time in a V8 CPU profile: [ms, "function file:line"]. */
function topSelfTime(profile, k) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dts = profile.timeDeltas;
  profile.samples.forEach((id, i) => {
    const f = byId.get(id).callFrame;
    const file = f.url ? f.url.split("/").pop().split("?")[0] : "";
    const key = `${f.functionName || "(anonymous)"} ${file}${file ? `:${f.lineNumber + 1}` : ""}`;
    self.set(key, (self.get(key) ?? 0) + (dts[i + 1] ?? 0) / 1000);
  });
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, ms]) => [Math.round(ms), name]);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function measureOnce(browser, uiName, n, { trace } = {}) {
  const ui = UIS[uiName];
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.addInitScript(initScript, { drawn: ui.drawn(n), tooltip: ui.tooltip });
  let cdp = null;
  if (trace) {
    // a CPU profile of the load (V8's sampling profiler, 100 µs), for where the time goes
    cdp = await context.newCDPSession(page);
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.setSamplingInterval", { interval: 100 });
    await cdp.send("Profiler.start");
  }
  const result = { ui: uiName, n, drawnMs: null, longTotalMs: null, longMaxMs: null, longCount: null, hoverMs: null, jsCss: null, data: null, series: null, notice: "", errors };
  try {
    await page.goto(graphUrl(ui.base, n), { waitUntil: "commit", timeout: TIMEOUT_MS });
    await page.waitForFunction(() => window.__bench.drawnAt !== null, null, { timeout: TIMEOUT_MS, polling: 50 });
    // let the drawing task's long-task entry arrive
    await page.waitForTimeout(300);
    Object.assign(result, await page.evaluate(({ drawnSeries, notice }) => {
      const B = window.__bench;
      const res = performance.getEntriesByType("resource");
      const kind = (r) => {
        const p = new URL(r.name).pathname;
        if (p.endsWith(".js") || r.initiatorType === "script") return "js";
        if (p.endsWith(".css") || (r.initiatorType === "link" && !p.includes("/api/"))) return "css";
        if (p.includes("/api/v1/query_range")) return "data";
        return "other";
      };
      const sum = (k) => res.filter((r) => kind(r) === k).reduce((a, r) => ({ wire: a.wire + r.transferSize, decoded: a.decoded + r.decodedBodySize, files: a.files + 1 }), { wire: 0, decoded: 0, files: 0 });
      const js = sum("js");
      const css = sum("css");
      return {
        drawnMs: B.drawnAt,
        longTotalMs: B.lt.total,
        longMaxMs: B.lt.max,
        longCount: B.lt.count,
        jsCss: { wire: js.wire + css.wire, decoded: js.decoded + css.decoded, files: js.files + css.files },
        data: sum("data"),
        series: eval(drawnSeries),
        notice: eval(notice),
      };
    }, { drawnSeries: ui.drawnSeries, notice: ui.notice }));
  } catch (e) {
    result.error = `not drawn within ${TIMEOUT_MS} ms: ${e.message.split("\n")[0]}`;
  }
  if (result.drawnMs !== null) {
    try {
      // idle a moment so hover measures the page at rest, not the tail of the load
      await page.waitForTimeout(700);
      const box = await page.locator(ui.hoverTarget).first().boundingBox();
      await page.evaluate(() => (window.__bench.hover = { moveAt: null, shownAt: null, pending: false }));
      await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5);
      const t0 = Date.now();
      await page.waitForFunction(() => window.__bench.hover.shownAt !== null, null, { timeout: TIMEOUT_MS, polling: 20 });
      const h = await page.evaluate(() => window.__bench.hover);
      result.hoverMs = h.shownAt - h.moveAt;
      result.hoverWallMs = Date.now() - t0;
    } catch (e) {
      result.hoverError = e.message.split("\n")[0];
    }
  }
  if (cdp) {
    const { profile } = await cdp.send("Profiler.stop");
    writeFileSync(trace, JSON.stringify(profile));
    result.profileTop = topSelfTime(profile, 12);
  }
  await context.close();
  return result;
}

async function apiScalar(base, query) {
  const u = `${base}/api/v1/query?query=${encodeURIComponent(query)}&time=${END_S}`;
  const res = await fetch(u);
  if (res.status !== 200) throw new Error(`${u}: HTTP ${res.status}`);
  const body = await res.json();
  const r = body.data.result;
  return r.length ? Number(r[0].value[1]) : NaN;
}

/** Both servers hold the same data: N series and the same sum at the window's end. */
async function checkData() {
  const lines = [];
  for (const n of COUNTS) {
    const q = [`count(bench_gauge_n${n})`, `sum(bench_gauge_n${n})`, `count(count_over_time(bench_gauge_n${n}[10m]))`];
    const ours = await Promise.all(q.map((x) => apiScalar(OURS, x)));
    const prom = await Promise.all(q.map((x) => apiScalar(PROM, x)));
    const same = ours[0] === n && prom[0] === n && Math.abs(ours[1] - prom[1]) < 1e-6 * Math.abs(prom[1]) && ours[2] === prom[2];
    lines.push(`N=${n}: ours count ${ours[0]} sum ${ours[1]}, prometheus count ${prom[0]} sum ${prom[1]}${same ? "" : "  MISMATCH"}`);
    if (!same) {
      console.error(lines.join("\n"));
      throw new Error(`the servers disagree on bench_gauge_n${n}`);
    }
  }
  return lines;
}

const fmtMs = (x) => (x === null || x === undefined ? "-" : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`);

/** Median (min–max) of `key` over the runs; runs that never drew count as over the timeout. */
function summarize(runs, key, { timedOut = true } = {}) {
  const ok = runs.filter((r) => r[key] !== null && r[key] !== undefined && !r.error);
  const failed = runs.length - ok.length;
  if (!ok.length) return { text: failed && timedOut ? `>${TIMEOUT_MS / 1000} s` : "-", med: null };
  const xs = ok.map((r) => r[key]);
  const med = median(xs);
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  let text = `${fmtMs(med)} (${fmtMs(lo)}–${fmtMs(hi)})`;
  if (failed && timedOut) text += ` [${failed}/${runs.length} >${TIMEOUT_MS / 1000} s]`;
  return { text, med: failed > ok.length ? null : med };
}

const ratio = (a, b) => (a === null || b === null ? "-" : b === 0 ? (a === 0 ? "1.00" : "∞") : (a / b).toFixed(2));

const browser = await chromium.launch({
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions"],
});
const all = [];
try {
  const dataCheck = await checkData();
  console.log(`# Web UI: our graph page vs Prometheus ${env("PROM_VERSION", "2.42")} (classic UI), ${new Date().toISOString()}`);
  console.log(`window: 2 h ending ${END_INPUT} UTC, 15 s samples; ${REPEATS} runs per cell, fresh context each; Chromium ${browser.version()}`);
  for (const l of dataCheck) console.log(`data check: ${l}`);
  // one unmeasured load per UI so neither pays for the browser's first start
  await measureOnce(browser, "ours", COUNTS[0]);
  await measureOnce(browser, "prometheus", COUNTS[0]);
  for (const n of COUNTS) {
    for (let rep = 0; rep < REPEATS; rep++) {
      const order = rep % 2 ? ["prometheus", "ours"] : ["ours", "prometheus"];
      for (const ui of order) {
        const r = await measureOnce(browser, ui, n);
        all.push(r);
        process.stderr.write(`N=${n} ${ui} run ${rep + 1}: drawn ${fmtMs(r.drawnMs)}, long tasks ${fmtMs(r.longTotalMs)} (max ${fmtMs(r.longMaxMs)}), hover ${fmtMs(r.hoverMs)}, series ${r.series}${r.error ? `, ${r.error}` : ""}${r.hoverError ? `, hover: ${r.hoverError}` : ""}\n`);
      }
    }
  }
  const profileDir = process.env.PROFILE_DIR;
  if (profileDir) {
    const n = COUNTS[COUNTS.length - 1];
    for (const pn of [...new Set([COUNTS[0], n])]) {
      for (const ui of ["ours", "prometheus"]) {
        const r = await measureOnce(browser, ui, pn, { trace: join(profileDir, `${ui}-n${pn}.cpuprofile`) });
        process.stderr.write(`\nprofile ${ui} N=${pn} (drawn ${fmtMs(r.drawnMs)}; self ms, function):\n${(r.profileTop ?? []).map(([ms, f]) => `  ${ms} ${f}`).join("\n")}\n`);
      }
    }
  }
} finally {
  await browser.close();
}
if (process.env.OUT) writeFileSync(process.env.OUT, JSON.stringify(all, null, 1));

// the table
const rows = [];
rows.push("| N | UI | series drawn | drawn: median (min–max) | ours/theirs | long tasks total | ours/theirs | longest task | hover → tooltip | ours/theirs |");
rows.push("|---:|---|---:|---|---:|---|---:|---|---|---:|");
for (const n of COUNTS) {
  const pick = (ui) => all.filter((r) => r.n === n && r.ui === ui);
  const s = {};
  for (const ui of ["ours", "prometheus"]) {
    const runs = pick(ui);
    const drawnRuns = runs.filter((r) => !r.error);
    s[ui] = {
      drawn: summarize(runs, "drawnMs"),
      lt: summarize(runs, "longTotalMs", { timedOut: false }),
      ltMax: summarize(runs, "longMaxMs", { timedOut: false }),
      hover: summarize(drawnRuns, "hoverMs"),
      series: drawnRuns.length ? drawnRuns[0].series : "-",
      notice: runs.find((r) => r.notice)?.notice ?? "",
    };
  }
  for (const ui of ["ours", "prometheus"]) {
    const me = s[ui];
    const first = ui === "ours";
    const seriesText = `${me.series}${first && n > OUR_LIMIT ? ` of ${n} (limit, notice shown)` : ""}`;
    rows.push(`| ${first ? n : ""} | ${ui === "ours" ? "ours" : "Prometheus 2.42"} | ${seriesText} | ${me.drawn.text} | ${first ? ratio(s.ours.drawn.med, s.prometheus.drawn.med) : ""} | ${me.lt.text} | ${first ? ratio(s.ours.lt.med, s.prometheus.lt.med) : ""} | ${me.ltMax.text} | ${me.hover.text} | ${first ? ratio(s.ours.hover.med, s.prometheus.hover.med) : ""} |`);
  }
}
console.log("");
console.log(rows.join("\n"));

// bytes: the same files at every N, so over every run
console.log("");
console.log("| UI | JS+CSS files | JS+CSS on the wire | JS+CSS decoded | query_range response at N=" + COUNTS[COUNTS.length - 1] + " (wire) |");
console.log("|---|---:|---:|---:|---:|");
const kb = (b) => `${(b / 1024).toFixed(1)} KiB`;
const bytesOf = {};
for (const ui of ["ours", "prometheus"]) {
  const runs = all.filter((r) => r.ui === ui && r.jsCss);
  if (!runs.length) continue;
  const wire = median(runs.map((r) => r.jsCss.wire));
  const decoded = median(runs.map((r) => r.jsCss.decoded));
  const big = all.filter((r) => r.ui === ui && r.n === COUNTS[COUNTS.length - 1] && r.data);
  const data = big.length ? median(big.map((r) => r.data.wire)) : null;
  bytesOf[ui] = { wire, decoded };
  console.log(`| ${ui === "ours" ? "ours" : "Prometheus 2.42"} | ${runs[0].jsCss.files} | ${kb(wire)} | ${kb(decoded)} | ${data === null ? "-" : kb(data)} |`);
}
if (bytesOf.ours && bytesOf.prometheus) {
  console.log(`| ours/theirs | | ${ratio(bytesOf.ours.wire, bytesOf.prometheus.wire)} | ${ratio(bytesOf.ours.decoded, bytesOf.prometheus.decoded)} | |`);
}
const notices = COUNTS.flatMap((n) => ["ours", "prometheus"].map((ui) => [n, ui, all.find((r) => r.n === n && r.ui === ui && r.notice)?.notice]))
  .filter(([, , t]) => t);
for (const [n, ui, t] of notices) console.log(`\nnotice (${ui}, N=${n}): ${t}`);
const errs = all.filter((r) => r.errors.length || r.hoverError);
// script errors the pages raise themselves (counted once per UI and message)
const seen = new Map();
for (const r of errs) {
  for (const m of [...r.errors, r.hoverError].filter(Boolean)) {
    const k = `${r.ui === "ours" ? "ours" : "Prometheus"}: ${m}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
}
for (const [k, c] of seen) console.log(`\npage problem (${k}), in ${c} of ${all.filter((r) => k.startsWith(r.ui === "ours" ? "ours" : "Prometheus")).length} loads`);
