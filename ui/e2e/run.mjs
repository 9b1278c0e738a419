// The web UI end to end in a real browser: Debian's Chromium driven by playwright-core,
// against a tsdb-server the caller started (examples/tests/server_ui.rs starts one with
// a demo fleet, a firing alert, a down target and basic auth, then runs this).
//
//   node e2e/run.mjs
//
// Environment: TSDB_URL (http://127.0.0.1:PORT), TSDB_READ_USER/PASS (a read
// credential), TSDB_ADMIN_USER/PASS (an admin credential), TSDB_SCREENSHOTS (a
// directory for one PNG per page), CHROMIUM (default /usr/bin/chromium),
// TSDB_FLEET_HOSTS (hosts of the demo fleet). Exits non-zero naming the failed step.

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (k, d) => process.env[k] ?? d ?? (() => { throw new Error(`set ${k}`); })();
const base = env("TSDB_URL");
const shots = env("TSDB_SCREENSHOTS");
const reader = { username: env("TSDB_READ_USER"), password: env("TSDB_READ_PASS") };
const admin = { username: env("TSDB_ADMIN_USER"), password: env("TSDB_ADMIN_PASS") };
const hosts = Number(env("TSDB_FLEET_HOSTS"));
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  headless: true,
  // as root there is no sandbox; the machine has no network, so nothing may phone home
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions"],
});
const timings = {};
let step = "start";
const problems = [];
// the page a step works on, for a screenshot when it fails
let current = null;

async function newPage(credentials) {
  const context = await browser.newContext({ httpCredentials: credentials, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  current = page;
  page.setDefaultTimeout(15000);
  page.on("pageerror", (e) => problems.push(`${step}: script error: ${e.message}`));
  page.on("response", (r) => {
    // 4xx answers the steps ask for are checked by the steps themselves
    if (r.status() >= 500) problems.push(`${step}: ${r.status()} from ${r.url()}`);
  });
  return page;
}

/** The API's own answer, for the numbers the page must show. */
async function api(path) {
  const auth = Buffer.from(`${reader.username}:${reader.password}`).toString("base64");
  const res = await fetch(base + path, { headers: { Authorization: `Basic ${auth}` } });
  assert.equal(res.status, 200, `${path}: HTTP ${res.status}`);
  const body = await res.json();
  // Prometheus's API wraps its answers in {status, data}; Alertmanager's v2 API does not
  return Array.isArray(body) ? body : body.data;
}

async function run(name, f) {
  step = name;
  const t0 = Date.now();
  await f();
  timings[name] = Date.now() - t0;
  console.log(`ok ${name} (${timings[name]} ms)`);
}

const testid = (id) => `[data-testid="${id}"]`;

try {
  const page = await newPage(reader);

  await run("no credential gets 401 and a basic-auth challenge", async () => {
    const res = await fetch(`${base}/graph`);
    assert.equal(res.status, 401);
    assert.match(res.headers.get("www-authenticate") ?? "", /Basic/);
  });

  let shareUrl;
  await run("graph: the page without a link graphs the server's own metrics", async () => {
    await page.goto(`${base}/`);
    await page.waitForURL(/\/graph\?g0\.expr=sum/);
    // a server started seconds ago has no rate at the last step yet: run it again until
    // it has (the step-aligned end can be up to a step before now)
    const canvas = page.locator(`${testid("chart")} canvas`);
    for (let i = 0; i < 30 && !(await canvas.isVisible()); i++) {
      await page.waitForTimeout(1000);
      await page.locator(testid("execute")).click();
    }
    await canvas.waitFor();
    assert.equal(await page.locator(testid("legend-item")).count(), 1);
    assert.ok((await page.locator(`${testid("examples")} a`).count()) >= 3);
  });

  await run("graph: type with completion, run, chart with one series per host", async () => {
    await page.goto(`${base}/graph?g0.expr=`);
    const input = page.locator(testid("expr-input"));
    await input.click();
    await page.keyboard.type("node_loa");
    await page.locator(`${testid("completions")} li`, { hasText: "node_load1" }).first().waitFor();
    await page.keyboard.press("Tab");
    assert.equal(await input.inputValue(), "node_load1");
    // highlighting: the metric name is drawn as a metric
    assert.equal(await page.locator(".editor-highlight .t-metric").first().textContent(), "node_load1");
    await page.keyboard.press("Enter");
    await page.locator(`${testid("chart")} canvas`).waitFor();
    const want = (await api("/api/v1/query?query=count(node_load1)")).result[0].value[1];
    assert.equal(Number(want), hosts, "the fleet has one node_load1 per host");
    assert.equal(await page.locator(testid("legend-item")).count(), hosts);
    assert.match(await page.locator(testid("stats")).textContent(), new RegExp(`Result series: ${hosts}\\b`));
    await page.screenshot({ path: join(shots, "graph.png") });
  });

  await run("graph: hovering shows a value", async () => {
    const box = await page.locator(`${testid("chart")} .u-over`).boundingBox();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5);
    await page.mouse.move(box.x + box.width * 0.61, box.y + box.height * 0.5);
    const value = page.locator(testid("tooltip-value"));
    await value.waitFor();
    assert.match(await value.textContent(), /^value: -?\d/);
  });

  await run("graph: legend toggles a series", async () => {
    const first = page.locator(testid("legend-item")).first();
    await first.click();
    assert.match(await first.getAttribute("class"), /\boff\b/);
    await first.click();
    assert.doesNotMatch(await first.getAttribute("class"), /\boff\b/);
  });

  await run("graph: the time range changes the query and the URL", async () => {
    const range = page.locator(testid("range-input"));
    await range.fill("30m");
    await range.press("Enter");
    await page.waitForFunction(() => location.search.includes("g0.range_input=30m"));
    await page.locator(testid("stats"), { hasText: "Resolution: 7s" }).waitFor();
    await page.locator(testid("range-plus")).click();
    await page.waitForFunction(() => location.search.includes("g0.range_input=1h"));
    shareUrl = page.url();
  });

  await run("graph: dragging over the chart zooms in", async () => {
    const box = await page.locator(`${testid("chart")} .u-over`).boundingBox();
    await page.mouse.move(box.x + box.width * 0.3, box.y + 40);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.5, box.y + 40, { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction(() => new URLSearchParams(location.search).has("g0.end_input"));
    const range = await page.locator(testid("range-input")).inputValue();
    assert.notEqual(range, "1h", "a fifth of the hour is shown");
    assert.match(range, /^(1[0-3]m|\d+m\d+s)$/);
  });

  await run("graph: stacked", async () => {
    await page.goto(shareUrl);
    await page.locator(`${testid("chart")} canvas`).waitFor();
    await page.locator(testid("stacked")).check();
    await page.waitForFunction(() => location.search.includes("g0.display_mode=stacked"));
    await page.locator(`${testid("chart")} canvas`).waitFor();
  });

  await run("graph: table view", async () => {
    await page.locator(testid("tab-table")).click();
    await page.locator(testid("result-table")).waitFor();
    assert.equal(await page.locator(`${testid("result-table")} tr`).count(), hosts);
    assert.match(await page.locator(`${testid("result-table")} td.series`).first().textContent(), /^node_load1\{instance="/);
    await page.waitForFunction(() => location.search.includes("g0.tab=table"));
  });

  await run("graph: a shared link reproduces the view", async () => {
    const other = await newPage(reader);
    await other.goto(shareUrl);
    assert.equal(await other.locator(testid("expr-input")).inputValue(), "node_load1");
    assert.equal(await other.locator(testid("range-input")).inputValue(), "1h");
    await other.locator(`${testid("chart")} canvas`).waitFor();
    assert.equal(await other.locator(testid("legend-item")).count(), hosts);
    await other.context().close();
  });

  await run("graph: a Prometheus 2 link with two panels opens", async () => {
    await page.goto(`${base}/graph?g0.expr=count(node_load1)&g0.tab=1&g1.expr=up&g1.tab=0&g1.range_input=15m`);
    const panels = page.locator(testid("panel"));
    assert.equal(await panels.count(), 2);
    await panels.nth(0).locator(testid("result-table")).waitFor();
    assert.equal(await panels.nth(0).locator("td.value").textContent(), String(hosts));
    await panels.nth(1).locator(`${testid("chart")} canvas`).waitFor();
  });

  await run("graph: a query error is shown where the query is typed", async () => {
    await page.goto(`${base}/graph?g0.expr=sum(rate(node_load1[5m])&g0.tab=table`);
    const err = page.locator(testid("query-error"));
    await err.waitFor();
    assert.match(await err.textContent(), /parse|unclosed|expected|unexpected/i);
  });

  await run("graph: more than 1,000 series are limited with a notice", async () => {
    const total = Number((await api('/api/v1/query?query=count({job="node"})')).result[0].value[1]);
    assert.ok(total > 1000, `the fleet must have over 1,000 series, has ${total}`);
    const t0 = Date.now();
    await page.goto(`${base}/graph?g0.expr=%7Bjob%3D%22node%22%7D&g0.range_input=1h`);
    await page.locator(testid("series-notice")).waitFor({ timeout: 60000 });
    await page.locator(`${testid("chart")} canvas`).waitFor();
    timings["1000 series: load and draw"] = Date.now() - t0;
    assert.match(await page.locator(testid("series-notice")).textContent(), new RegExp(`first 1,000 of ${total.toLocaleString("en-US")} series`));
    assert.equal(await page.locator(testid("legend-item")).count(), 1000);
    // the page still answers: a hover over 1,000 series shows a value
    const box = await page.locator(`${testid("chart")} .u-over`).boundingBox();
    const t1 = Date.now();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
    await page.mouse.move(box.x + box.width * 0.52, box.y + box.height * 0.5);
    await page.locator(testid("tooltip-value")).waitFor();
    timings["1000 series: hover to tooltip"] = Date.now() - t1;
  });

  await run("alerts: the firing alert with its labels and annotations", async () => {
    await page.goto(`${base}/alerts`);
    const firing = page.locator(`${testid("alert-rule")}[data-state="firing"]`, { hasText: "TargetDown" });
    await firing.waitFor();
    const row = firing.locator(testid("active-alert"), { hasText: 'job="gone"' });
    assert.match(await row.textContent(), /instance="127\.0\.0\.1:\d+"/);
    assert.match(await row.textContent(), /127\.0\.0\.1:\d+ of gone is down/, "the annotation, templated");
    await page.screenshot({ path: join(shots, "alerts.png") });
  });

  await run("alerts: a reader cannot create a silence and is told why", async () => {
    await page.locator(testid("silence-matchers")).fill('alertname="TargetDown"');
    await page.locator(testid("silence-author")).fill("e2e");
    await page.locator(testid("create-silence")).click();
    const err = page.locator(testid("silence-error"));
    await err.waitFor();
    assert.match(await err.textContent(), /forbidden|admin/i);
  });

  await run("alerts: an admin creates and expires a silence", async () => {
    const comment = `maintenance ${Date.now()}`;
    const adminPage = await newPage(admin);
    await adminPage.goto(`${base}/alerts`);
    await adminPage.locator(`${testid("alert-rule")}[data-state="firing"]`).first().waitFor();
    await adminPage.locator(testid("silence-matchers")).fill('alertname="TargetDown", job=~"go.*"');
    await adminPage.locator(testid("silence-duration")).fill("1h");
    await adminPage.locator(testid("silence-author")).fill("e2e");
    await adminPage.locator(testid("silence-comment")).fill(comment);
    await adminPage.locator(testid("create-silence")).click();
    const row = adminPage.locator(testid("silence"), { hasText: comment });
    await row.waitFor();
    assert.match(await row.textContent(), /alertname="TargetDown", job=~"go\.\*"/);
    const silences = await api("/api/v2/silences");
    assert.ok(silences.some((s) => s.comment === comment && s.status.state === "active"));
    await adminPage.screenshot({ path: join(shots, "alerts-silence.png") });
    await row.locator(testid("expire-silence")).click();
    await row.waitFor({ state: "detached" });
    const after = await api("/api/v2/silences");
    assert.ok(after.filter((s) => s.comment === comment).every((s) => s.status.state === "expired"));
    await adminPage.context().close();
  });

  await run("rules: groups with health", async () => {
    await page.goto(`${base}/rules`);
    await page.locator(testid("rules")).first().waitFor();
    assert.match(await page.locator(testid("rules")).first().textContent(), /TargetDown/);
    await page.screenshot({ path: join(shots, "rules.png") });
  });

  await run("targets: the down target with its error", async () => {
    await page.goto(`${base}/targets`);
    const down = page.locator(`${testid("target")}[data-health="down"]`);
    await down.first().waitFor();
    assert.match(await down.first().textContent(), /refused|error/i);
    await page.locator(testid("unhealthy-only")).check();
    assert.equal(await page.locator(`${testid("target")}[data-health="up"]`).count(), 0);
    await page.locator(testid("unhealthy-only")).uncheck();
    await page.screenshot({ path: join(shots, "targets.png") });
  });

  await run("TSDB status: head, top metrics, segments", async () => {
    // the head grows while the page loads (self-monitoring, rules): the page's count lies
    // between the API's before and after
    const before = (await api("/api/v1/status/tsdb")).headStats.numSeries;
    await page.goto(`${base}/tsdb-status`);
    await page.locator(testid("head-stats")).waitFor();
    const after = (await api("/api/v1/status/tsdb")).headStats.numSeries;
    const shown = Number((await page.locator(`${testid("head-stats")} td`).first().textContent()).replaceAll(",", ""));
    assert.ok(before <= shown && shown <= after, `head series shown ${shown}, API ${before}..${after}`);
    assert.ok((await page.locator(`${testid("top-metrics")} tbody tr`).count()) >= 5);
    await page.locator(testid("segments")).waitFor();
    await page.screenshot({ path: join(shots, "tsdb-status.png"), fullPage: true });
  });

  await run("config, flags, runtime", async () => {
    await page.goto(`${base}/config`);
    assert.match(await page.locator(testid("config")).textContent(), /scrape_configs/);
    await page.screenshot({ path: join(shots, "config.png") });
    await page.goto(`${base}/flags`);
    assert.match(await page.locator(testid("flags")).textContent(), /listen/);
    await page.screenshot({ path: join(shots, "flags.png") });
    await page.goto(`${base}/status`);
    await page.locator(testid("build")).waitFor();
    await page.screenshot({ path: join(shots, "status.png") });
  });

  await run("the README's picture: the fleet's CPU by pool", async () => {
    const q = encodeURIComponent('sum by (pool) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))');
    await page.goto(`${base}/graph?g0.expr=${q}&g0.range_input=2h&g0.display_mode=stacked`);
    await page.locator(`${testid("chart")} canvas`).waitFor();
    await page.mouse.move(640, 330);
    await page.screenshot({ path: join(shots, "readme.png"), clip: { x: 0, y: 0, width: 1280, height: 640 } });
  });

  assert.deepEqual(problems, [], "no script errors and no 5xx answers");
  console.log(`timings: ${JSON.stringify(timings)}`);
  console.log("all browser steps passed");
} catch (e) {
  console.error(`FAILED at "${step}": ${e.stack ?? e}`);
  if (current) {
    const path = join(shots, "failure.png");
    await current.screenshot({ path, fullPage: true }).then(() => console.error(`the page then: ${path}`), () => {});
    console.error(`its text: ${(await current.locator("body").innerText().catch(() => "")).slice(0, 2000)}`);
  }
  if (problems.length) console.error(`also: ${problems.join("\n")}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
