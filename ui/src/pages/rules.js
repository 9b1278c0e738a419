// The rules page: every rule group with its rules' health, last evaluation and errors.

import * as api from "../api.js";
import { badge, errorBox, h, setChildren } from "../dom.js";
import { ago, humanSeconds } from "../time.js";

export async function rulesPage(root) {
  setChildren(root, h("h1", {}, "Rules"), h("div", { class: "empty" }, "Loading…"));
  let data;
  try {
    data = await api.get("/api/v1/rules");
  } catch (e) {
    setChildren(root, h("h1", {}, "Rules"), errorBox(`Cannot load the rules: ${e.message}`));
    return;
  }
  const now = Date.now();
  const health = (r) => badge(r.health, r.health === "ok" ? "ok" : r.health === "err" ? "err" : "unknown");
  setChildren(
    root,
    h("h1", {}, "Rules"),
    data.groups.length === 0 ? h("div", { class: "empty" }, "No rules are loaded (`rule_files` in the configuration).") : null,
    data.groups.map((g) =>
      h("section", { class: "group" },
        h("h3", {}, `${g.file} > ${g.name}`,
          h("span", { class: "muted" }, ` every ${g.interval}s · last evaluation ${g.lastEvaluation ? ago(Date.parse(g.lastEvaluation), now) : "never"} · took ${humanSeconds(g.evaluationTime)}`)),
        h("table", { class: "table", dataset: { testid: "rules" } },
          h("thead", {}, h("tr", {}, ["Rule", "Health", "Last evaluation", "Took"].map((c) => h("th", {}, c)))),
          h("tbody", {}, g.rules.map((r) =>
            h("tr", {},
              h("td", {}, h("pre", { class: "rule-def" }, `${r.type === "alerting" ? "alert" : "record"}: ${r.name}\nexpr: ${r.query}`),
                r.lastError ? errorBox(r.lastError, "rule-error") : null),
              h("td", {}, health(r)),
              h("td", {}, r.lastEvaluation ? ago(Date.parse(r.lastEvaluation), now) : "never"),
              h("td", {}, humanSeconds(r.evaluationTime)),
            )))),
      ),
    ),
  );
}
