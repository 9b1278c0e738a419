// The alerts page: alerting rules by group with their state and active alerts, and the
// built-in alert manager's silences (an admin may create and expire them).

import * as api from "../api.js";
import { badge, errorBox, h, labelChips, setChildren } from "../dom.js";
import { parseDuration } from "../time.js";

const STATES = ["firing", "pending", "inactive"];
const STATE_KIND = { firing: "err", pending: "warn", inactive: "ok" };

export async function alertsPage(root) {
  const show = new Set(STATES);
  const rulesEl = h("div", { class: "rules" });
  const silencesEl = h("div", { class: "silences" });
  const filters = h(
    "div",
    { class: "controls" },
    STATES.map((s) =>
      h("label", { class: "check" },
        h("input", { type: "checkbox", checked: true, onchange: (e) => { e.target.checked ? show.add(s) : show.delete(s); renderRules(); } }),
        ` ${s}`),
    ),
  );
  setChildren(root, h("h1", {}, "Alerts"), filters, rulesEl, h("h2", {}, "Silences"), silencesEl);

  let groups = [];
  const renderRules = () => {
    const counts = { firing: 0, pending: 0, inactive: 0 };
    const sections = [];
    for (const g of groups) {
      const rules = g.rules.filter((r) => r.type === "alerting");
      rules.forEach((r) => counts[r.state]++);
      const shown = rules.filter((r) => show.has(r.state));
      if (shown.length === 0) continue;
      sections.push(
        h("section", { class: "group" },
          h("h3", {}, `${g.file} > ${g.name}`),
          shown.map((r) => ruleView(r, silenceForm))),
      );
    }
    setChildren(
      rulesEl,
      h("div", { class: "summary", dataset: { testid: "alert-counts" } },
        badge(`firing (${counts.firing})`, "err"), " ", badge(`pending (${counts.pending})`, "warn"), " ",
        badge(`inactive (${counts.inactive})`, "ok")),
      sections.length ? sections : h("div", { class: "empty" }, groups.length ? "No rules in the chosen states." : "No alerting rules are loaded (`rule_files` in the configuration)."),
    );
  };

  let silenceForm = null;
  try {
    const data = await api.get("/api/v1/rules", { type: "alert" });
    groups = data.groups;
  } catch (e) {
    setChildren(rulesEl, errorBox(`Cannot load the rules: ${e.message}`));
  }
  silenceForm = await renderSilences(silencesEl);
  renderRules();
}

function ruleView(r, silenceForm) {
  const details = h("details", { class: `rule rule-${r.state}`, dataset: { testid: "alert-rule", state: r.state }, open: r.state !== "inactive" });
  details.append(
    h("summary", {}, badge(r.state, STATE_KIND[r.state]), " ", h("strong", {}, r.name), r.alerts.length ? ` (${r.alerts.length} active)` : ""),
    h("pre", { class: "rule-def" }, ruleYaml(r)),
  );
  if (r.alerts.length) {
    details.append(
      h("table", { class: "table" },
        h("thead", {}, h("tr", {}, ["Labels", "State", "Active since", "Value", "Annotations", ""].map((c) => h("th", {}, c)))),
        h("tbody", {}, r.alerts.map((a) =>
          h("tr", { dataset: { testid: "active-alert" } },
            h("td", {}, labelChips(a.labels)),
            h("td", {}, badge(a.state, STATE_KIND[a.state] ?? "ok")),
            h("td", {}, a.activeAt ?? ""),
            h("td", {}, a.value ?? ""),
            h("td", {}, Object.entries(a.annotations ?? {}).map(([k, v]) => h("div", {}, h("b", {}, `${k}: `), v))),
            h("td", {}, silenceForm ? h("button", { class: "btn small", onclick: () => silenceForm.prefill(a.labels) }, "Silence") : ""),
          ))),
      ),
    );
  }
  return details;
}

function ruleYaml(r) {
  const lines = [`alert: ${r.name}`, `expr: ${r.query}`];
  if (r.duration) lines.push(`for: ${r.duration}s`);
  if (r.keepFiringFor) lines.push(`keep_firing_for: ${r.keepFiringFor}s`);
  const map = (name, m) => {
    if (m && Object.keys(m).length) {
      lines.push(`${name}:`);
      for (const [k, v] of Object.entries(m)) lines.push(`  ${k}: ${JSON.stringify(v)}`);
    }
  };
  map("labels", r.labels);
  map("annotations", r.annotations);
  if (r.lastError) lines.push(`# last error: ${r.lastError}`);
  return lines.join("\n");
}

/** `alertname="X", severity=~"crit.*"` as Alertmanager matchers; throws on a bad one. */
export function parseMatchers(text) {
  const out = [];
  const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
  let pos = 0;
  const s = text.trim().replace(/^\{|\}$/g, "");
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m || m[0] === "") throw new Error(`cannot read a matcher at "${s.slice(pos)}": write name="value", name=~"regex", name!="value" or name!~"regex", separated by commas`);
    out.push({ name: m[1], value: JSON.parse(`"${m[3]}"`), isRegex: m[2].includes("~"), isEqual: !m[2].startsWith("!") });
    pos = re.lastIndex;
  }
  if (out.length === 0) throw new Error("a silence needs at least one matcher");
  return out;
}

/** A matcher as Alertmanager writes it: `name=~"value"`. */
export function formatMatcher(m) {
  const op = m.isRegex ? (m.isEqual === false ? "!~" : "=~") : m.isEqual === false ? "!=" : "=";
  return `${m.name}${op}${JSON.stringify(m.value)}`;
}

async function renderSilences(el) {
  let silences;
  try {
    silences = await api.get("/api/v2/silences");
  } catch (e) {
    setChildren(el, h("div", { class: "empty" }, e.status === 404 || e.status === 503
      ? "No built-in alert manager is configured (`alertmanager.config_file`)."
      : `Cannot load the silences: ${e.message}`));
    return null;
  }
  const matchers = h("input", { class: "input wide", placeholder: 'alertname="HostDown", pool="pool-03"', dataset: { testid: "silence-matchers" } });
  const duration = h("input", { class: "input", value: "2h", size: 6, dataset: { testid: "silence-duration" } });
  const createdBy = h("input", { class: "input", placeholder: "your name", dataset: { testid: "silence-author" } });
  const comment = h("input", { class: "input wide", placeholder: "why", dataset: { testid: "silence-comment" } });
  const formError = h("div");
  const list = h("div");
  const draw = () => {
    const active = silences.filter((s) => s.status.state !== "expired");
    setChildren(
      list,
      active.length === 0
        ? h("div", { class: "empty" }, "No active or pending silences.")
        : h("table", { class: "table", dataset: { testid: "silences" } },
            h("thead", {}, h("tr", {}, ["Matchers", "State", "Ends", "Created by", "Comment", ""].map((c) => h("th", {}, c)))),
            h("tbody", {}, active.map((s) =>
              h("tr", { dataset: { testid: "silence", id: s.id } },
                h("td", {}, s.matchers.map(formatMatcher).join(", ")),
                h("td", {}, s.status.state),
                h("td", {}, s.endsAt),
                h("td", {}, s.createdBy),
                h("td", {}, s.comment),
                h("td", {}, h("button", { class: "btn small", dataset: { testid: "expire-silence" }, onclick: () => expire(s.id) }, "Expire")),
              )))),
    );
  };
  const reload = async () => {
    silences = await api.get("/api/v2/silences");
    draw();
  };
  const expire = async (id) => {
    setChildren(formError);
    try {
      await api.sendJson("DELETE", `/api/v2/silence/${encodeURIComponent(id)}`);
      await reload();
    } catch (e) {
      setChildren(formError, errorBox(`Cannot expire the silence: ${e.message}`, "silence-error"));
    }
  };
  const create = async () => {
    setChildren(formError);
    try {
      const ms = parseDuration(duration.value);
      if (!ms) throw new Error(`duration "${duration.value}" is not a duration such as 2h`);
      if (createdBy.value.trim() === "") throw new Error("say who creates the silence");
      const now = Date.now();
      await api.sendJson("POST", "/api/v2/silences", {
        matchers: parseMatchers(matchers.value),
        startsAt: new Date(now).toISOString(),
        endsAt: new Date(now + ms).toISOString(),
        createdBy: createdBy.value.trim(),
        comment: comment.value.trim() || "created in the web UI",
      });
      matchers.value = "";
      comment.value = "";
      await reload();
    } catch (e) {
      setChildren(formError, errorBox(`Cannot create the silence: ${e.message}`, "silence-error"));
    }
  };
  setChildren(
    el,
    h("div", { class: "silence-form controls" }, matchers, duration, createdBy, comment,
      h("button", { class: "btn primary", dataset: { testid: "create-silence" }, onclick: create }, "Create silence")),
    formError,
    list,
  );
  draw();
  return {
    prefill(labels) {
      matchers.value = Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(", ");
      matchers.focus();
    },
  };
}
