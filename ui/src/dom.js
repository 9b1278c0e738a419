// A few DOM helpers: the UI is small enough not to need a framework.

/**
 * An element: `h("a", {href: "/x", class: "y", onclick: fn, dataset: {testid: "z"}}, "text", child)`.
 * Strings become text nodes (never HTML); null/false children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function setChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A state badge: firing/pending/inactive, up/down/unknown, ok/err. */
export function badge(text, kind) {
  return h("span", { class: `badge badge-${kind}` }, text);
}

/** A label set as chips. */
export function labelChips(labels) {
  return h(
    "span",
    { class: "labels" },
    Object.keys(labels)
      .sort()
      .map((k) => h("span", { class: "chip" }, `${k}="${labels[k]}"`)),
  );
}

/** An error box, shown in place. */
export function errorBox(message, testid = "error") {
  return h("div", { class: "error", role: "alert", dataset: { testid } }, message);
}
