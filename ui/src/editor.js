// The expression editor: a textarea over a highlighted copy of its text, and a completion
// list of metric names, label names and values (from the API, cached per page) plus
// functions and keywords. Enter runs the query, Shift+Enter starts a new line.

import * as api from "./api.js";
import { h, setChildren } from "./dom.js";
import { candidates, completionContext, highlight } from "./promql.js";

const cache = new Map();

/** Names for a completion context from the API, cached; [] when the API fails. */
async function namesFor(ctx) {
  let key;
  let load;
  const match = ctx.metric ? { "match[]": ctx.metric } : {};
  if (ctx.kind === "metric") {
    key = "metric";
    load = () => api.get("/api/v1/label/__name__/values");
  } else if (ctx.kind === "labelName") {
    key = `labels:${ctx.metric ?? ""}`;
    load = () => api.get("/api/v1/labels", match).then((ls) => ls.filter((l) => l !== "__name__"));
  } else if (ctx.kind === "labelValue") {
    key = `values:${ctx.metric ?? ""}:${ctx.label}`;
    load = () => api.get(`/api/v1/label/${encodeURIComponent(ctx.label)}/values`, match);
  } else {
    return [];
  }
  if (!cache.has(key)) cache.set(key, load().catch(() => []));
  return cache.get(key);
}

/** Creates an editor; `onRun()` is called on Enter. Returns {el, value(), setValue(v), focus()}. */
export function createEditor(initial, onRun) {
  const pre = h("pre", { class: "editor-highlight", "aria-hidden": "true" });
  const textarea = h("textarea", {
    class: "editor-input",
    rows: 1,
    spellcheck: "false",
    autocomplete: "off",
    autocapitalize: "off",
    placeholder: "Expression (press Enter to run, Shift+Enter for a new line)",
    dataset: { testid: "expr-input" },
    "aria-label": "PromQL expression",
  });
  const list = h("ul", { class: "completions", dataset: { testid: "completions" }, hidden: true, role: "listbox" });
  const el = h("div", { class: "editor" }, pre, textarea, list);
  let items = [];
  let selected = 0;
  let ctx = null;
  let requestSeq = 0;

  const render = () => {
    // a trailing newline needs a character after it to be drawn
    pre.innerHTML = highlight(textarea.value) + "\n";
    textarea.style.height = "auto";
    textarea.style.height = `${Math.max(textarea.scrollHeight, 34)}px`;
  };
  textarea.value = initial;

  const close = () => {
    list.hidden = true;
    items = [];
  };
  const accept = (i) => {
    const c = items[i];
    if (!c || !ctx) return;
    const v = textarea.value;
    let insert = c.text;
    if (c.kind === "function" || c.kind === "aggregation") insert += "(";
    textarea.value = v.slice(0, ctx.from) + insert + v.slice(ctx.to);
    const caret = ctx.from + insert.length;
    textarea.setSelectionRange(caret, caret);
    close();
    render();
    textarea.focus();
  };
  const showList = () => {
    setChildren(
      list,
      items.map((c, i) =>
        h(
          "li",
          {
            class: i === selected ? "selected" : "",
            role: "option",
            onmousedown: (e) => {
              e.preventDefault();
              accept(i);
            },
          },
          h("span", { class: `kind kind-${c.kind}` }, c.kind.replace("labelName", "label").replace("labelValue", "value")),
          c.text,
        ),
      ),
    );
    list.hidden = items.length === 0;
  };
  const complete = async () => {
    const seq = ++requestSeq;
    const pos = textarea.selectionStart;
    if (pos !== textarea.selectionEnd) return close();
    const c = completionContext(textarea.value, pos);
    if (c.kind === "none" || (c.kind === "metric" && c.prefix === "")) return close();
    const names = await namesFor(c);
    if (seq !== requestSeq) return; // a later keystroke won
    ctx = c;
    items = candidates(c, names, 30);
    selected = 0;
    showList();
  };

  textarea.addEventListener("input", () => {
    render();
    complete();
  });
  textarea.addEventListener("scroll", () => {
    pre.scrollTop = textarea.scrollTop;
  });
  textarea.addEventListener("blur", () => setTimeout(close, 100));
  textarea.addEventListener("keydown", (e) => {
    if (!list.hidden && items.length) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        selected = (selected + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
        showList();
        return;
      }
      if (e.key === "Tab" || (e.key === "Enter" && !e.shiftKey)) {
        e.preventDefault();
        accept(selected);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        close();
        return;
      }
    }
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      close();
      onRun();
    }
  });
  render();
  return {
    el,
    value: () => textarea.value,
    setValue(v) {
      textarea.value = v;
      render();
    },
    focus: () => textarea.focus(),
  };
}
