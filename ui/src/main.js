// The page router: the server serves the same page at every UI path and this picks what
// to draw from the path. Links between pages are ordinary links.

import { h, setChildren } from "./dom.js";
import { alertsPage } from "./pages/alerts.js";
import { graphPage } from "./pages/graph.js";
import { rulesPage } from "./pages/rules.js";
import { configPage, flagsPage, runtimePage, tsdbStatusPage } from "./pages/status.js";
import { targetsPage } from "./pages/targets.js";

const PAGES = [
  ["/graph", "Graph", graphPage],
  ["/alerts", "Alerts", alertsPage],
  ["/rules", "Rules", rulesPage],
  ["/targets", "Targets", targetsPage],
  ["/tsdb-status", "TSDB status", tsdbStatusPage],
  ["/status", "Runtime", runtimePage],
  ["/config", "Config", configPage],
  ["/flags", "Flags", flagsPage],
];

function start() {
  const path = location.pathname.replace(/\/+$/, "") || "/graph";
  const page = PAGES.find(([p]) => p === path) ?? PAGES[0];
  const nav = h(
    "nav",
    { class: "nav" },
    h("a", { class: "brand", href: "/graph" }, "tsdb"),
    PAGES.map(([p, title]) => h("a", { href: p, class: p === page[0] ? "active" : "" }, title)),
  );
  const main = h("main", { class: "main" });
  setChildren(document.body, nav, main);
  document.title = `${page[1]} · tsdb`;
  page[2](main);
}

start();
