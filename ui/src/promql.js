// PromQL for the editor: a tokenizer that never fails (the editor highlights whatever is
// typed, half-written queries included), HTML highlighting, and the completion context at
// the cursor (metric name, label name, label value). Errors are the server's job: the page
// shows the API's parse error where the query is typed.

export const FUNCTIONS = [
  "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
  "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
  "count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
  "delta", "deriv", "exp", "floor", "histogram_avg", "histogram_count", "histogram_fraction",
  "histogram_quantile", "histogram_stddev", "histogram_stdvar", "histogram_sum", "holt_winters",
  "hour", "idelta", "increase", "irate", "label_join", "label_replace", "last_over_time", "ln",
  "log10", "log2", "mad_over_time", "max_over_time", "min_over_time", "minute", "month", "pi",
  "predict_linear", "present_over_time", "quantile_over_time", "rad", "rate", "resets", "round",
  "scalar", "sgn", "sin", "sinh", "sort", "sort_by_label", "sort_by_label_desc", "sort_desc",
  "sqrt", "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time",
  "timestamp", "vector", "year",
];

export const AGGREGATIONS = [
  "avg", "bottomk", "count", "count_values", "group", "limit_ratio", "limitk", "max", "min",
  "quantile", "stddev", "stdvar", "sum", "topk",
];

export const KEYWORDS = [
  "and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left", "group_right",
  "offset", "bool", "start", "end",
];

const LABEL_LIST_KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
const FUNC_SET = new Set(FUNCTIONS);
const AGG_SET = new Set(AGGREGATIONS);
const KW_SET = new Set(KEYWORDS);

const OPERATORS = ["==", "!=", ">=", "<=", "=~", "!~", "+", "-", "*", "/", "%", "^", ">", "<", "=", "@", ":"];

/**
 * Tokens of `text`, covering it exactly: {type, text, start, end}. Types: space, comment,
 * string, number, duration, ident, op, paren ( ) { } [ ] and comma. Unterminated strings
 * run to the end; an unknown character is an `op` of its own.
 */
export function tokenize(text) {
  const tokens = [];
  let i = 0;
  const push = (type, start, end) => tokens.push({ type, text: text.slice(start, end), start, end });
  while (i < text.length) {
    const c = text[i];
    const start = i;
    if (/\s/.test(c)) {
      while (i < text.length && /\s/.test(text[i])) i++;
      push("space", start, i);
    } else if (c === "#") {
      while (i < text.length && text[i] !== "\n") i++;
      push("comment", start, i);
    } else if (c === '"' || c === "'" || c === "`") {
      i++;
      while (i < text.length && text[i] !== c) {
        if (text[i] === "\\" && c !== "`") i++;
        i++;
      }
      i = Math.min(i + 1, text.length);
      push("string", start, i);
    } else if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(text[i + 1] ?? ""))) {
      const dur = /^(\d+(ms|[smhdwy]))+/.exec(text.slice(i));
      const num = /^(0x[0-9a-fA-F]+|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)/.exec(text.slice(i));
      if (dur && (!num || dur[0].length > num[0].length)) {
        i += dur[0].length;
        push("duration", start, i);
      } else {
        i += num ? num[0].length : 1;
        push("number", start, i);
      }
    } else if (/[a-zA-Z_]/.test(c)) {
      // metric names may hold colons (recording rules)
      while (i < text.length && /[a-zA-Z0-9_:]/.test(text[i])) i++;
      push("ident", start, i);
    } else if ("(){}[]".includes(c)) {
      i++;
      push("paren", start, i);
    } else if (c === ",") {
      i++;
      push("comma", start, i);
    } else {
      const op = OPERATORS.find((o) => text.startsWith(o, i));
      i += op ? op.length : 1;
      push("op", start, i);
    }
  }
  return tokens;
}

/** What each token means: adds `cls` (metric, label, func, kw, str, num, dur, op, comment). */
export function classify(tokens) {
  const out = [];
  // a stack of open brackets, each marked with what it holds
  const stack = [];
  const next = (k) => {
    for (let j = k + 1; j < tokens.length; j++) if (tokens[j].type !== "space") return tokens[j];
    return null;
  };
  let prevSignificant = null;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k];
    const top = stack[stack.length - 1];
    let cls = "";
    switch (t.type) {
      case "space":
        break;
      case "comment":
        cls = "comment";
        break;
      case "string":
        cls = "str";
        break;
      case "number":
        cls = "num";
        break;
      case "duration":
        cls = "dur";
        break;
      case "op":
      case "comma":
        cls = "op";
        break;
      case "paren":
        cls = "paren";
        if ("({[".includes(t.text)) {
          const kind =
            t.text === "{" ? "matchers" :
            t.text === "[" ? "range" :
            prevSignificant && prevSignificant.type === "ident" && LABEL_LIST_KEYWORDS.has(prevSignificant.text.toLowerCase())
              ? "labels" : "expr";
          stack.push(kind);
        } else {
          stack.pop();
        }
        break;
      case "ident": {
        const lower = t.text.toLowerCase();
        const n = next(k);
        if (top === "matchers" || top === "labels") cls = "label";
        else if (n && n.text === "(" && (FUNC_SET.has(t.text) || AGG_SET.has(lower))) cls = "func";
        else if (AGG_SET.has(lower) && n && ["by", "without"].includes(n.text.toLowerCase())) cls = "func";
        else if (KW_SET.has(lower)) cls = "kw";
        else if (["inf", "nan"].includes(lower)) cls = "num";
        else cls = "metric";
        break;
      }
      default:
        break;
    }
    out.push({ ...t, cls });
    if (t.type !== "space" && t.type !== "comment") prevSignificant = t;
  }
  return out;
}

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** The query as HTML spans (`<span class="t-func">rate</span>`), text escaped. */
export function highlight(text) {
  return classify(tokenize(text))
    .map((t) => (t.cls ? `<span class="t-${t.cls}">${escapeHtml(t.text)}</span>` : escapeHtml(t.text)))
    .join("");
}

/**
 * What completes the text at `pos`:
 * - `{kind: "metric", prefix, from, to}`: a metric name, function or keyword;
 * - `{kind: "labelName", metric, prefix, from, to}`: in a `{...}` or `by (...)` list;
 * - `{kind: "labelValue", metric, label, prefix, from, to}`: in a matcher's quoted value;
 * - `{kind: "none"}`: in a number, a range, a comment or a closed string.
 * `from`..`to` is the text a chosen completion replaces; `metric` is the name the
 * matchers belong to (null when unknown), for the API's `match[]`.
 */
export function completionContext(text, pos) {
  const tokens = classify(tokenize(text.slice(0, pos)));
  const stack = [];
  let metricBefore = null;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k];
    if (t.type === "paren") {
      if ("({[".includes(t.text)) {
        let metric = null;
        if (t.text === "{") {
          const prev = prevSignificant(tokens, k);
          metric = prev && prev.type === "ident" && prev.cls === "metric" ? prev.text : null;
        }
        const prev = prevSignificant(tokens, k);
        const kind =
          t.text === "{" ? "matchers" : t.text === "[" ? "range" :
          prev && prev.type === "ident" && LABEL_LIST_KEYWORDS.has(prev.text.toLowerCase()) ? "labels" : "expr";
        stack.push({ kind, metric });
      } else {
        stack.pop();
      }
    }
  }
  const top = stack[stack.length - 1];
  const last = tokens[tokens.length - 1];
  const atEnd = (type) => last && last.type === type && last.end === pos;
  if (last && last.type === "comment") return { kind: "none" };
  if (top && top.kind === "range") return { kind: "none" };
  if (top && top.kind === "matchers") {
    if (atEnd("string")) {
      const quote = last.text[0];
      const closed = last.text.length > 1 && last.text.endsWith(quote) && !last.text.endsWith("\\" + quote);
      if (closed) return { kind: "none" };
      const op = prevSignificant(tokens, tokens.length - 1);
      const label = op ? prevSignificant(tokens, tokens.indexOf(op)) : null;
      if (op && op.type === "op" && ["=", "!=", "=~", "!~"].includes(op.text) && label && label.type === "ident") {
        return { kind: "labelValue", metric: top.metric, label: label.text, prefix: last.text.slice(1), from: last.start + 1, to: pos };
      }
      return { kind: "none" };
    }
    const prev = atEnd("ident") ? prevSignificant(tokens, tokens.length - 1) : last && last.type !== "space" ? last : prevSignificant(tokens, tokens.length);
    const startsName = !prev || prev.text === "{" || prev.type === "comma";
    if (!startsName) return { kind: "none" };
    if (atEnd("ident")) return { kind: "labelName", metric: top.metric, prefix: last.text, from: last.start, to: pos };
    return { kind: "labelName", metric: top.metric, prefix: "", from: pos, to: pos };
  }
  if (top && top.kind === "labels") {
    if (atEnd("ident")) return { kind: "labelName", metric: metricBefore, prefix: last.text, from: last.start, to: pos };
    return { kind: "labelName", metric: null, prefix: "", from: pos, to: pos };
  }
  if (atEnd("ident")) return { kind: "metric", prefix: last.text, from: last.start, to: pos };
  if (last && (last.type === "number" || last.type === "duration" || last.type === "string") && last.end === pos) {
    return { kind: "none" };
  }
  return { kind: "metric", prefix: "", from: pos, to: pos };
}

function prevSignificant(tokens, k) {
  for (let j = k - 1; j >= 0; j--) if (tokens[j].type !== "space" && tokens[j].type !== "comment") return tokens[j];
  return null;
}

/**
 * The candidates for a context, best first: those starting with the prefix, then those
 * containing it; at most `limit`. `names` are the metric names (or label names / values)
 * the API gave; for a metric context functions, aggregations and keywords are offered too.
 */
export function candidates(ctx, names, limit = 50) {
  let pool = names.map((n) => ({ text: n, kind: ctx.kind === "metric" ? "metric" : ctx.kind }));
  if (ctx.kind === "metric") {
    pool = pool.concat(
      FUNCTIONS.map((f) => ({ text: f, kind: "function" })),
      AGGREGATIONS.map((f) => ({ text: f, kind: "aggregation" })),
      KEYWORDS.map((f) => ({ text: f, kind: "keyword" })),
    );
  }
  const p = ctx.prefix.toLowerCase();
  const starts = [];
  const contains = [];
  for (const c of pool) {
    const t = c.text.toLowerCase();
    if (p === "" || t.startsWith(p)) starts.push(c);
    else if (t.includes(p)) contains.push(c);
  }
  const exact = (c) => c.text === ctx.prefix;
  return starts.filter((c) => !exact(c)).concat(contains).slice(0, limit);
}
