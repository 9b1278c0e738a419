// The status pages: TSDB status (head, cardinality, segments by resolution), runtime and
// build information, the configuration and the command-line flags.

import * as api from "../api.js";
import { errorBox, h, setChildren } from "../dom.js";
import { formatBytes, formatCount } from "../format.js";
import { formatTime } from "../time.js";

function statTable(title, rows, testid) {
  return h("section", { class: "group" },
    h("h3", {}, title),
    rows.length === 0
      ? h("div", { class: "empty" }, "None.")
      : h("table", { class: "table", dataset: { testid } },
          h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", { class: "num" }, "Count"))),
          h("tbody", {}, rows.map((r) => h("tr", {}, h("td", {}, r.name), h("td", { class: "num" }, formatCount(r.value)))))));
}

function kvTable(rows, testid) {
  return h("table", { class: "table kv", dataset: { testid } },
    h("tbody", {}, rows.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v)))));
}

export async function tsdbStatusPage(root) {
  const limitSel = h("select", { class: "input", dataset: { testid: "tsdb-limit" } }, [10, 20, 50, 100].map((n) => h("option", { value: n }, `top ${n}`)));
  const body = h("div");
  const load = async () => {
    let d;
    let storage = null;
    try {
      [d, storage] = await Promise.all([
        api.get("/api/v1/status/tsdb", { limit: limitSel.value }),
        // ours, not Prometheus's: the page works without it against a Prometheus
        api.get("/api/v1/status/storage").catch(() => null),
      ]);
    } catch (e) {
      setChildren(body, errorBox(`Cannot load the TSDB status: ${e.message}`));
      return;
    }
    const hs = d.headStats;
    const time = (t) => (Math.abs(t) >= 9e15 ? "—" : formatTime(t));
    setChildren(
      body,
      h("section", { class: "group" }, h("h3", {}, "Head"),
        kvTable([
          ["Series", formatCount(hs.numSeries)],
          ["Chunks", formatCount(hs.chunkCount)],
          ["Label pairs", formatCount(hs.numLabelPairs)],
          ["Oldest sample", time(hs.minTime)],
          ["Newest sample", time(hs.maxTime)],
        ], "head-stats")),
      storage
        ? h("section", { class: "group" }, h("h3", {}, "Segments by resolution"),
            h("table", { class: "table", dataset: { testid: "segments" } },
              h("thead", {}, h("tr", {}, ["Resolution", "Tier", "Segments", "Samples", "Size", "From", "To"].map((c) => h("th", {}, c)))),
              h("tbody", {}, storage.segments.length === 0 ? h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No segments yet: the head has not been persisted.")) : storage.segments.map((s) =>
                h("tr", {}, h("td", {}, s.resolution), h("td", {}, s.tier), h("td", { class: "num" }, formatCount(s.count)),
                  h("td", { class: "num" }, formatCount(s.samples)), h("td", { class: "num" }, formatBytes(s.bytes)),
                  h("td", {}, time(s.minTime)), h("td", {}, time(s.maxTime)))))),
            h("p", { class: "muted" }, `Write-ahead log: ${formatBytes(storage.walBytes)} in ${storage.walFiles} files. Persisted until ${time(storage.persistedUntil)}.`))
        : null,
      statTable("Top metric names by series count", d.seriesCountByMetricName, "top-metrics"),
      statTable("Top label names by value count", d.labelValueCountByLabelName, "top-label-names"),
      statTable("Top label pairs by series count", d.seriesCountByLabelValuePair, "top-label-pairs"),
    );
  };
  limitSel.addEventListener("change", load);
  setChildren(root, h("h1", {}, "TSDB status"), h("div", { class: "controls" }, limitSel), body);
  await load();
}

export async function runtimePage(root) {
  try {
    const [runtime, build] = await Promise.all([api.get("/api/v1/status/runtimeinfo"), api.get("/api/v1/status/buildinfo")]);
    const rows = (o) => Object.entries(o).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)]);
    setChildren(root, h("h1", {}, "Runtime and build information"),
      h("h3", {}, "Runtime"), kvTable(rows(runtime), "runtime"),
      h("h3", {}, "Build"), kvTable(rows(build), "build"));
  } catch (e) {
    setChildren(root, h("h1", {}, "Runtime and build information"), errorBox(e.message));
  }
}

export async function configPage(root) {
  try {
    const d = await api.get("/api/v1/status/config");
    setChildren(root, h("h1", {}, "Configuration"), h("pre", { class: "config", dataset: { testid: "config" } }, d.yaml || "# no configuration file: every setting is its default"));
  } catch (e) {
    setChildren(root, h("h1", {}, "Configuration"), errorBox(e.message));
  }
}

export async function flagsPage(root) {
  let flags;
  try {
    flags = await api.get("/api/v1/status/flags");
  } catch (e) {
    setChildren(root, h("h1", {}, "Flags"), errorBox(e.message));
    return;
  }
  const body = h("tbody");
  const render = (filter) => {
    setChildren(body, Object.keys(flags).sort()
      .filter((k) => k.includes(filter) || String(flags[k]).includes(filter))
      .map((k) => h("tr", {}, h("th", {}, k), h("td", {}, flags[k]))));
  };
  setChildren(root, h("h1", {}, "Command-line flags"),
    h("input", { class: "input", placeholder: "Filter", oninput: (e) => render(e.target.value) }),
    h("table", { class: "table kv", dataset: { testid: "flags" } }, body));
  render("");
}
