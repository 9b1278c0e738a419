// The graph page in Firefox (Debian's firefox-esr driven by puppeteer-core over WebDriver
// BiDi): the chart draws, a hover shows a value, the table tab answers, and the other
// pages load without a script error. The full walk-through is run.mjs, in Chromium;
// this checks that the bundle (built for Firefox 100+) runs in the second engine.
//
//   TSDB_URL=http://127.0.0.1:PORT TSDB_SCREENSHOTS=DIR FIREFOX=/usr/bin/firefox-esr node e2e/firefox.mjs
//
// The server must run without --auth-file (puppeteer's Firefox driver cannot answer a
// basic-auth challenge) and with a demo fleet (TSDB_FLEET_HOSTS hosts).

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import puppeteer from "puppeteer-core";

const env = (k, d) => process.env[k] ?? d ?? (() => { throw new Error(`set ${k}`); })();
const base = env("TSDB_URL");
const shots = env("TSDB_SCREENSHOTS");
const hosts = Number(env("TSDB_FLEET_HOSTS"));
mkdirSync(shots, { recursive: true });

const browser = await puppeteer.launch({
  browser: "firefox",
  executablePath: env("FIREFOX", "/usr/bin/firefox-esr"),
  headless: true,
  protocol: "webDriverBiDi",
  // the BiDi driver of Firefox ESR cannot set a viewport: size the window instead
  defaultViewport: null,
  args: ["--width=1280", "--height=900"],
  // no network beyond loopback: nothing may phone home
  extraPrefsFirefox: {
    "network.proxy.type": 0,
    "app.update.enabled": false,
    "browser.safebrowsing.malware.enabled": false,
    "browser.safebrowsing.phishing.enabled": false,
    "datareporting.policy.dataSubmissionEnabled": false,
  },
});
const errors = [];
let step = "start";
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => errors.push(`${step}: ${e.message}`));
  const testid = (id) => `[data-testid="${id}"]`;

  step = "graph";
  await page.goto(`${base}/graph?g0.expr=node_load1&g0.range_input=1h`);
  await page.waitForSelector(`${testid("chart")} canvas`, { timeout: 20000 });
  assert.equal(await page.$$eval(testid("legend-item"), (e) => e.length), hosts);
  const box = await (await page.$(`${testid("chart")} .u-over`)).boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.move(box.x + box.width / 2 + 5, box.y + box.height / 2);
  await page.waitForSelector(testid("tooltip-value"), { visible: true, timeout: 10000 });
  assert.match(await page.$eval(testid("tooltip-value"), (e) => e.textContent), /^value: -?\d/);
  await page.screenshot({ path: join(shots, "firefox-graph.png") });

  step = "table";
  await page.click(testid("tab-table"));
  await page.waitForSelector(testid("result-table"), { timeout: 10000 });
  assert.equal(await page.$$eval(`${testid("result-table")} tr`, (e) => e.length), hosts);

  for (const [path, selector] of [["/alerts", testid("alert-counts")], ["/targets", "h1"], ["/tsdb-status", testid("head-stats")], ["/flags", testid("flags")]]) {
    step = path;
    await page.goto(`${base}${path}`);
    await page.waitForSelector(selector, { timeout: 10000 });
  }
  assert.deepEqual(errors, [], "no script errors");
  console.log(`firefox ${await browser.version()}: all steps passed`);
} catch (e) {
  console.error(`FAILED at "${step}": ${e.stack ?? e}`);
  if (errors.length) console.error(`script errors: ${errors.join("\n")}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
