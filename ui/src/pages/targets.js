// The targets page: scrape targets by job, their health, last scrape and last error.

import * as api from "../api.js";
import { badge, errorBox, h, labelChips, setChildren } from "../dom.js";
import { ago, humanSeconds } from "../time.js";

export async function targetsPage(root) {
  let data;
  try {
    data = await api.get("/api/v1/targets", { state: "active" });
  } catch (e) {
    setChildren(root, h("h1", {}, "Targets"), errorBox(`Cannot load the targets: ${e.message}`));
    return;
  }
  let unhealthyOnly = false;
  let search = "";
  const body = h("div");
  const render = () => {
    const now = Date.now();
    const pools = new Map();
    for (const t of data.activeTargets) {
      if (!pools.has(t.scrapePool)) pools.set(t.scrapePool, []);
      pools.get(t.scrapePool).push(t);
    }
    const sections = [];
    for (const [pool, targets] of [...pools.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const up = targets.filter((t) => t.health === "up").length;
      const shown = targets.filter(
        (t) => (!unhealthyOnly || t.health !== "up") &&
          (search === "" || t.scrapeUrl.includes(search) || JSON.stringify(t.labels).includes(search)),
      );
      if (shown.length === 0) continue;
      sections.push(
        h("section", { class: "group", dataset: { testid: "scrape-pool", pool } },
          h("h3", {}, pool, " ", badge(`${up}/${targets.length} up`, up === targets.length ? "ok" : "err")),
          h("table", { class: "table" },
            h("thead", {}, h("tr", {}, ["Endpoint", "State", "Labels", "Last scrape", "Scrape duration", "Error"].map((c) => h("th", {}, c)))),
            h("tbody", {}, shown.map((t) =>
              h("tr", { dataset: { testid: "target", health: t.health } },
                h("td", {}, t.scrapeUrl),
                h("td", {}, badge(t.health, t.health === "up" ? "ok" : t.health === "down" ? "err" : "unknown")),
                h("td", {}, labelChips(t.labels)),
                h("td", {}, t.lastScrape && !t.lastScrape.startsWith("0001") ? ago(Date.parse(t.lastScrape), now) : "never"),
                h("td", {}, t.lastScrapeDuration ? humanSeconds(t.lastScrapeDuration) : ""),
                h("td", { class: "error-text" }, t.lastError ?? ""),
              )))),
        ),
      );
    }
    setChildren(
      body,
      sections.length ? sections : h("div", { class: "empty" }, data.activeTargets.length ? "No target matches." : "No scrape targets (`scrape_configs` in the configuration)."),
      data.droppedTargets && data.droppedTargets.length ? h("p", { class: "muted" }, `${data.droppedTargets.length} targets dropped by relabeling.`) : null,
    );
  };
  setChildren(
    root,
    h("h1", {}, "Targets"),
    h("div", { class: "controls" },
      h("label", { class: "check" }, h("input", { type: "checkbox", dataset: { testid: "unhealthy-only" }, onchange: (e) => { unhealthyOnly = e.target.checked; render(); } }), " unhealthy only"),
      h("input", { class: "input", placeholder: "Filter by endpoint or labels", oninput: (e) => { search = e.target.value; render(); } })),
    body,
  );
  render();
}
