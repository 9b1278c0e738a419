//! Every panel of the Grafana dashboards in `examples/grafana/dashboards` answers, on a
//! server with the demo fleet, self-monitoring, rules with a firing alert and both kinds
//! of notification (the built-in alert manager to a webhook, and an external
//! Alertmanager).
//!
//! Grafana itself is not packaged in Debian, so this test is a faithful replay of what
//! Grafana's Prometheus data source (`pkg/promlib` and the frontend's template service)
//! sends for each dashboard, with the settings of the provisioning file
//! `examples/grafana/provisioning/datasources/tsdb.yaml`:
//!
//! - template variables in order, each query interpolated with the variables before it:
//!   `label_values(selector, label)` is `GET /api/v1/label/<label>/values?match[]=…`
//!   over the dashboard's range, `label_values(label)` the same without `match[]`,
//!   `query_result(expr)` an instant query; a variable that finds no value fails;
//! - values go into expressions as Grafana's Prometheus data source formats them: a
//!   multi-value or "All" variable as a regex (metacharacters escaped, several values
//!   `(a|b)`), a single-value one with only `\` and `'` escaped; every panel runs twice,
//!   once with "All" selected where a variable allows it and once with each variable's
//!   first value;
//! - built-ins as `promlib` computes them: the step is `range / maxDataPoints` rounded
//!   Grafana's way, at least the data source's `timeInterval` (or the panel's
//!   `interval`) and at least `range / 11000`; `$__rate_interval` is `max(step +
//!   timeInterval, 4 × timeInterval)` written as Go prints durations (`1m0s`);
//!   `$__interval`, `$__interval_ms`, `$__range`, `$__range_s`, `$__range_ms`;
//! - range queries by POST with start and end aligned down to the step; instant queries
//!   (`"instant": true`, stat and table panels) at the end of the range.
//!
//! A query that errs or answers no series fails the test naming the dashboard, panel
//! and expression. The JSON is checked for what Grafana needs to import it: unique uids
//! and panel ids, a `gridPos` inside the 24-column grid for every panel, every target's
//! data source the provisioned uid (directly or through the `datasource` variable).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use server_common::{enc, form, Receiver, Server};

fn grafana_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Grafana's `gtime` interval strings (`15s`, `1m`, `500ms`, `1h`).
fn parse_interval(s: &str) -> i64 {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().unwrap_or_else(|_| panic!("interval {s:?}"));
    n * match unit {
        "" | "s" => 1_000,
        "ms" => 1,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => panic!("unit of {s:?}"),
    }
}

/// `gtime.RoundInterval`: the "nice" interval Grafana rounds a calculated one to.
fn round_interval(ms: i64) -> i64 {
    const TABLE: [(i64, i64); 31] = [
        (10, 1),
        (15, 10),
        (35, 20),
        (75, 50),
        (150, 100),
        (350, 200),
        (750, 500),
        (1_500, 1_000),
        (3_500, 2_000),
        (7_500, 5_000),
        (12_500, 10_000),
        (17_500, 15_000),
        (25_000, 20_000),
        (45_000, 30_000),
        (90_000, 60_000),
        (210_000, 120_000),
        (450_000, 300_000),
        (750_000, 600_000),
        (1_050_000, 900_000),
        (1_500_000, 1_200_000),
        (2_700_000, 1_800_000),
        (5_400_000, 3_600_000),
        (9_000_000, 7_200_000),
        (16_200_000, 10_800_000),
        (32_400_000, 21_600_000),
        (86_400_000, 43_200_000),
        (172_800_000, 86_400_000),
        (604_800_000, 86_400_000),
        (1_814_400_000, 604_800_000),
        (3_628_800_000 - 1, 2_592_000_000),
        (i64::MAX, 31_536_000_000),
    ];
    TABLE
        .iter()
        .find(|(limit, _)| ms <= *limit)
        .map_or(31_536_000_000, |(_, r)| *r)
}

/// `gtime.FormatInterval`, used for `$__interval`.
fn format_interval(ms: i64) -> String {
    const Y: i64 = 365 * 86_400_000;
    match ms {
        _ if ms >= Y => format!("{}y", ms / Y),
        _ if ms >= 86_400_000 => format!("{}d", ms / 86_400_000),
        _ if ms >= 3_600_000 => format!("{}h", ms / 3_600_000),
        _ if ms >= 60_000 => format!("{}m", ms / 60_000),
        _ if ms >= 1_000 => format!("{}s", ms / 1_000),
        _ if ms >= 1 => format!("{ms}ms"),
        _ => "1ms".into(),
    }
}

/// Go's `time.Duration.String()` for whole milliseconds: `1m0s`, `1h2m3s`, `1.5s`.
fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let secs = if rest % 1_000 == 0 {
        format!("{}s", rest / 1_000)
    } else {
        let s = format!("{:.3}", rest as f64 / 1_000.0);
        format!("{}s", s.trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

/// Grafana's `prometheusSpecialRegexEscape` (classic behaviour).
fn regex_escape(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\\\\\"),
            '$' | '^' | '*' | '{' | '}' | '[' | ']' | '+' | '?' | '.' | '(' | ')' | '|' => {
                out.push_str("\\\\");
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Grafana's `prometheusRegularEscape` (classic behaviour).
fn regular_escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\'', "\\\\'")
}

/// A variable's value as Grafana's Prometheus data source writes it into a query.
#[derive(Clone, Debug)]
struct Selected {
    values: Vec<String>,
    /// `allValue` when "All" is selected and the variable has one.
    all_value: Option<String>,
    multi_or_all: bool,
}

impl Selected {
    fn render(&self) -> String {
        if let Some(a) = &self.all_value {
            return a.clone();
        }
        if !self.multi_or_all {
            return regular_escape(self.values.first().map_or("", String::as_str));
        }
        let escaped: Vec<String> = self.values.iter().map(|v| regex_escape(v)).collect();
        if escaped.len() == 1 {
            escaped[0].clone()
        } else {
            format!("({})", escaped.join("|"))
        }
    }
}

/// Replaces `$name`, `${name}` and `[[name]]` of dashboard variables (built-ins, `$__…`,
/// are left to [`builtins`]); an unknown variable fails.
fn interpolate(expr: &str, vars: &BTreeMap<String, Selected>, what: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(i) = rest.find(['$', '[']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (name, len) = if let Some(t) = tail.strip_prefix("${") {
            let end = t
                .find('}')
                .unwrap_or_else(|| panic!("{what}: unclosed ${{"));
            (t[..end].split(':').next().unwrap_or(""), end + 3)
        } else if let Some(t) = tail.strip_prefix("[[") {
            match t.find("]]") {
                Some(end) if t[..end].chars().all(|c| c.is_alphanumeric() || c == '_') => {
                    (&t[..end], end + 4)
                }
                _ => ("", 0),
            }
        } else if let Some(t) = tail.strip_prefix('$') {
            let end = t
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(t.len());
            (&t[..end], end + 1)
        } else {
            ("", 0)
        };
        if len == 0 || name.is_empty() || name.starts_with("__") {
            let keep = len.max(1);
            out.push_str(&tail[..keep]);
            rest = &tail[keep..];
            continue;
        }
        let v = vars
            .get(name)
            .unwrap_or_else(|| panic!("{what}: unknown variable ${name} in {expr}"));
        out.push_str(&v.render());
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// A panel's time settings, as `promlib` derives them.
struct Timing {
    from: i64,
    to: i64,
    step: i64,
    rate_interval: i64,
}

/// Replaces the built-in variables as `promlib`'s `InterpolateVariables` does.
fn builtins(expr: &str, t: &Timing) -> String {
    let range_ms = t.to - t.from;
    let range_s = (range_ms as f64 / 1000.0).round() as i64;
    let pairs = [
        ("__interval_ms", t.step.to_string()),
        ("__interval", format_interval(t.step)),
        ("__range_ms", range_ms.to_string()),
        ("__range_s", range_s.to_string()),
        ("__range", format!("{range_s}s")),
        ("__rate_interval_ms", t.rate_interval.to_string()),
        ("__rate_interval", go_duration(t.rate_interval)),
    ];
    let mut out = expr.to_owned();
    // longest names first: `$__interval_ms` before `$__interval`
    let mut ordered = pairs.to_vec();
    ordered.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    for (name, value) in &ordered {
        out = out.replace(&format!("${{{name}}}"), value);
        out = out.replace(&format!("${name}"), value);
    }
    assert!(!out.contains("$"), "a variable is left in {out}");
    out
}

/// `now-6h` and friends.
fn relative_time(s: &str, now: i64) -> i64 {
    if s == "now" {
        return now;
    }
    let d = s
        .strip_prefix("now-")
        .unwrap_or_else(|| panic!("time {s:?}"));
    now - parse_interval(d)
}

/// The top-level comma of `a, b` outside quotes, braces and parentheses.
fn split_top_comma(s: &str) -> Option<(&str, &str)> {
    let (mut depth, mut quote) = (0i32, None::<char>);
    let mut prev = ' ';
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q && prev != '\\' => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'' | '`') => quote = Some(c),
            (None, '{' | '(' | '[') => depth += 1,
            (None, '}' | ')' | ']') => depth -= 1,
            (None, ',') if depth == 0 => {
                let (a, b) = s.split_at(i);
                return Some((a.trim(), b[1..].trim()));
            }
            _ => {}
        }
        prev = c;
    }
    None
}

struct Replay<'a> {
    server: &'a Server,
    ds_uid: String,
    time_interval_ms: i64,
    now: i64,
    queries: usize,
}

impl Replay<'_> {
    fn api(&self, path: &str, pairs: &[(&str, &str)], what: &str) -> Value {
        let r = self.server.post_form(path, &form(pairs));
        assert_eq!(r.status, 200, "{what}: {path} {pairs:?}: {}", r.body);
        let v = r.json();
        assert_eq!(v["status"], "success", "{what}: {v}");
        v["data"].clone()
    }

    /// The values a query variable finds.
    fn variable_values(&mut self, query: &str, from: i64, to: i64, what: &str) -> Vec<String> {
        let (start, end) = (secs(from), secs(to));
        self.queries += 1;
        let q = query.trim();
        if let Some(args) = q
            .strip_prefix("label_values(")
            .and_then(|a| a.strip_suffix(')'))
        {
            let (selector, label) = match split_top_comma(args) {
                Some((sel, label)) => (Some(sel), label),
                None => (None, args.trim()),
            };
            let path = format!("/api/v1/label/{}/values", enc(label));
            let r = match selector {
                Some(sel) => self.server.get(&format!(
                    "{path}?match[]={}&start={start}&end={end}",
                    enc(sel)
                )),
                None => self.server.get(&format!("{path}?start={start}&end={end}")),
            };
            assert_eq!(r.status, 200, "{what}: {q}: {}", r.body);
            let v = r.json();
            assert_eq!(v["status"], "success", "{what}: {q}: {v}");
            return v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_owned())
                .collect();
        }
        if let Some(expr) = q
            .strip_prefix("query_result(")
            .and_then(|a| a.strip_suffix(')'))
        {
            let data = self.api("/api/v1/query", &[("query", expr), ("time", &end)], what);
            // Grafana lists each result as `name{labels} value timestamp`
            return data["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let labels: Vec<String> = r["metric"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .filter(|(k, _)| k.as_str() != "__name__")
                        .map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap()))
                        .collect();
                    format!(
                        "{}{{{}}} {} {}",
                        r["metric"]["__name__"].as_str().unwrap_or(""),
                        labels.join(", "),
                        r["value"][1].as_str().unwrap(),
                        r["value"][0]
                    )
                })
                .collect();
        }
        panic!("{what}: a variable query this replay does not know: {q}");
    }

    /// Resolves the dashboard's variables in order; `all` selects "All" where allowed.
    fn resolve_variables(
        &mut self,
        dash: &Value,
        title: &str,
        all: bool,
    ) -> BTreeMap<String, Selected> {
        let (from, to) = dashboard_range(dash, self.now);
        let mut vars = BTreeMap::new();
        for v in dash["templating"]["list"].as_array().unwrap() {
            let name = v["name"].as_str().unwrap().to_owned();
            let what = format!("dashboard {title:?}, variable ${name}");
            let multi = v["multi"].as_bool().unwrap_or(false);
            let include_all = v["includeAll"].as_bool().unwrap_or(false);
            match v["type"].as_str().unwrap() {
                "datasource" => {
                    assert_eq!(v["query"], "prometheus", "{what}");
                    assert_eq!(v["current"]["value"], self.ds_uid.as_str(), "{what}");
                    vars.insert(
                        name,
                        Selected {
                            values: vec![self.ds_uid.clone()],
                            all_value: None,
                            multi_or_all: false,
                        },
                    );
                }
                "query" => {
                    check_datasource(&v["datasource"], dash, &self.ds_uid, &what);
                    let query = v["query"]["query"]
                        .as_str()
                        .or_else(|| v["query"].as_str())
                        .or_else(|| v["definition"].as_str())
                        .unwrap_or_else(|| panic!("{what}: no query"));
                    assert!(
                        v["regex"].as_str().unwrap_or("").is_empty(),
                        "{what}: this replay does not apply a variable's regex"
                    );
                    let query = interpolate(query, &vars, &what);
                    let mut values = self.variable_values(&query, from, to, &what);
                    if v["sort"].as_i64().unwrap_or(0) == 1 {
                        values.sort();
                    }
                    values.dedup();
                    assert!(
                        !values.is_empty(),
                        "{what}: {query} finds no value on the demo fleet"
                    );
                    let all_value = v["allValue"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned);
                    let selected = if all && include_all {
                        Selected {
                            values,
                            all_value,
                            multi_or_all: true,
                        }
                    } else {
                        Selected {
                            values: vec![values[0].clone()],
                            all_value: None,
                            multi_or_all: multi || include_all,
                        }
                    };
                    vars.insert(name, selected);
                }
                other => panic!("{what}: variable type {other} not replayed"),
            }
        }
        vars
    }

    /// Runs one target as Grafana would; returns the number of series.
    fn run_target(
        &mut self,
        dash: &Value,
        panel: &Value,
        target: &Value,
        vars: &BTreeMap<String, Selected>,
        what: &str,
    ) -> usize {
        let (from, to) = dashboard_range(dash, self.now);
        let raw = target["expr"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no expr"));
        assert!(!raw.trim().is_empty(), "{what}: empty expr");
        let expr = interpolate(raw, vars, what);
        // promlib's calculatePrometheusInterval
        let min_interval = panel["interval"]
            .as_str()
            .or_else(|| target["interval"].as_str())
            .filter(|s| !s.is_empty() && !s.starts_with('$'))
            .map_or(self.time_interval_ms, parse_interval);
        let max_points = panel["maxDataPoints"]
            .as_i64()
            .unwrap_or_else(|| panel_width_px(panel));
        let range = to - from;
        let calculated = {
            let c = range / max_points;
            if c < min_interval {
                min_interval
            } else {
                round_interval(c)
            }
        };
        let safe = round_interval(range / 11_000);
        let step = calculated.max(safe);
        let rate_interval = (step + self.time_interval_ms).max(4 * self.time_interval_ms);
        let timing = Timing {
            from,
            to,
            step,
            rate_interval,
        };
        let expr = builtins(&expr, &timing);
        self.queries += 1;
        let instant = target["instant"].as_bool().unwrap_or(false)
            && !target["range"].as_bool().unwrap_or(false);
        let data = if instant {
            self.api(
                "/api/v1/query",
                &[("query", &expr), ("time", &secs(to))],
                &format!("{what}: {expr}"),
            )
        } else {
            let start = from.div_euclid(step) * step;
            let end = to.div_euclid(step) * step;
            self.api(
                "/api/v1/query_range",
                &[
                    ("query", &expr),
                    ("start", &secs(start)),
                    ("end", &secs(end)),
                    ("step", &secs(step)),
                ],
                &format!("{what}: {expr}"),
            )
        };
        let n = data["result"].as_array().map_or(0, Vec::len);
        assert!(
            n > 0,
            "{what}: no series for {expr} ({} query, step {step} ms)",
            if instant { "instant" } else { "range" }
        );
        n
    }
}

/// Milliseconds as the float seconds Grafana sends.
fn secs(ms: i64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

/// A panel's width in pixels on a 1920-pixel-wide screen: Grafana's default
/// `maxDataPoints` is the panel's width.
fn panel_width_px(panel: &Value) -> i64 {
    let w = panel["gridPos"]["w"].as_i64().unwrap_or(24);
    (w * 1_880 / 24).max(100)
}

fn dashboard_range(dash: &Value, now: i64) -> (i64, i64) {
    let from = dash["time"]["from"].as_str().unwrap_or("now-6h");
    let to = dash["time"]["to"].as_str().unwrap_or("now");
    (relative_time(from, now), relative_time(to, now))
}

/// A target's or panel's data source: the provisioned uid, directly or through the
/// dashboard's `datasource` variable (whose selection is the provisioned uid).
fn check_datasource(ds: &Value, dash: &Value, uid: &str, what: &str) {
    assert_eq!(ds["type"], "prometheus", "{what}: data source {ds}");
    let u = ds["uid"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: data source without uid: {ds}"));
    if u == uid {
        return;
    }
    let name = u
        .strip_prefix("${")
        .and_then(|s| s.strip_suffix('}'))
        .or_else(|| u.strip_prefix('$'))
        .unwrap_or_else(|| panic!("{what}: data source uid {u:?}, not {uid:?}"));
    let var = dash["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("{what}: data source variable ${name} is not defined"));
    assert_eq!(var["type"], "datasource", "{what}");
    assert_eq!(var["current"]["value"], uid, "{what}");
}

/// The panels of a dashboard, rows' nested ones included.
fn all_panels(dash: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for p in dash["panels"].as_array().unwrap() {
        out.push(p.clone());
        if let Some(nested) = p["panels"].as_array() {
            out.extend(nested.iter().cloned());
        }
    }
    out
}

/// What Grafana needs to import the dashboard and draw it.
fn check_structure(dash: &Value, file: &str, ds_uid: &str) {
    assert!(dash["schemaVersion"].as_i64().unwrap() >= 36, "{file}");
    let uid = dash["uid"].as_str().unwrap();
    assert!(!uid.is_empty() && uid.len() <= 40, "{file}: uid {uid:?}");
    assert!(!dash["title"].as_str().unwrap().is_empty(), "{file}");
    assert!(
        dash["id"].is_null(),
        "{file}: an id would clash on import; leave it null"
    );
    let mut ids = BTreeSet::new();
    let mut targets = 0;
    for p in all_panels(dash) {
        let title = p["title"].as_str().unwrap_or("");
        let what = format!("{file}, panel {title:?}");
        let id = p["id"].as_i64().unwrap_or_else(|| panic!("{what}: no id"));
        assert!(ids.insert(id), "{what}: panel id {id} twice");
        let g = &p["gridPos"];
        for k in ["h", "w", "x", "y"] {
            assert!(g[k].is_i64(), "{what}: gridPos.{k} missing: {g}");
        }
        assert!(
            g["x"].as_i64().unwrap() + g["w"].as_i64().unwrap() <= 24,
            "{what}: wider than the grid"
        );
        if p["type"] == "row" {
            continue;
        }
        assert!(!title.is_empty(), "{file}: a panel without a title");
        check_datasource(&p["datasource"], dash, ds_uid, &what);
        let ts = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: no targets"));
        assert!(!ts.is_empty(), "{what}: no targets");
        let mut refs = BTreeSet::new();
        for t in ts {
            check_datasource(&t["datasource"], dash, ds_uid, &what);
            assert!(
                refs.insert(t["refId"].as_str().unwrap().to_owned()),
                "{what}: refId twice"
            );
            targets += 1;
        }
    }
    assert!(targets > 0, "{file}: no queries");
}

/// Waits until `query` (instant) has a series, or fails naming `what`.
fn wait_for_series(s: &Server, query: &str, what: &str, limit: Duration) {
    let t0 = Instant::now();
    loop {
        let r = s.get(&format!("/api/v1/query?query={}", enc(query)));
        if r.status == 200
            && r.json()["data"]["result"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        {
            return;
        }
        assert!(
            t0.elapsed() < limit,
            "timed out waiting for {what} ({query}): {}\n{}",
            r.body,
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn grafana_builtins_are_computed_as_grafana_does() {
    assert_eq!(round_interval(3_000), 2_000);
    assert_eq!(round_interval(3_600), 5_000);
    assert_eq!(round_interval(21_600), 20_000);
    assert_eq!(round_interval(86_400), 60_000);
    assert_eq!(go_duration(60_000), "1m0s");
    assert_eq!(go_duration(75_000), "1m15s");
    assert_eq!(go_duration(3_600_000), "1h0m0s");
    assert_eq!(go_duration(1_500), "1.5s");
    assert_eq!(format_interval(20_000), "20s");
    assert_eq!(format_interval(120_000), "2m");
    assert_eq!(regex_escape("a.b|c"), "a\\\\.b\\\\|c");
    let vars = BTreeMap::from([
        (
            "pool".to_owned(),
            Selected {
                values: vec!["pool-01".into(), "pool-02".into()],
                all_value: None,
                multi_or_all: true,
            },
        ),
        (
            "host".to_owned(),
            Selected {
                values: vec!["it's".into()],
                all_value: None,
                multi_or_all: false,
            },
        ),
    ]);
    assert_eq!(
        interpolate(
            r#"up{pool=~"$pool", h="${host}"}[$__rate_interval]"#,
            &vars,
            "t"
        ),
        r#"up{pool=~"(pool-01|pool-02)", h="it\\'s"}[$__rate_interval]"#
    );
    let t = Timing {
        from: 0,
        to: 3_600_000,
        step: 15_000,
        rate_interval: 60_000,
    };
    assert_eq!(
        builtins(
            "rate(x[$__rate_interval]) $__interval $__range ${__range_s}",
            &t
        ),
        "rate(x[1m0s]) 15s 3600s 3600"
    );
    assert_eq!(
        split_top_comma(r#"up{a="1,2", b=~"x"}, pool"#),
        Some((r#"up{a="1,2", b=~"x"}"#, "pool"))
    );
}

#[test]
fn every_dashboard_panel_answers_on_the_demo_fleet() {
    // the provisioning files
    let ds_file = grafana_dir().join("provisioning/datasources/tsdb.yaml");
    let ds: Value = serde_saphyr::from_str(&std::fs::read_to_string(&ds_file).unwrap()).unwrap();
    let source = &ds["datasources"][0];
    assert_eq!(source["type"], "prometheus");
    assert_eq!(
        source["url"], "http://127.0.0.1:8491",
        "the default --listen"
    );
    assert_eq!(source["jsonData"]["httpMethod"], "POST");
    let ds_uid = source["uid"].as_str().unwrap().to_owned();
    let time_interval_ms = parse_interval(source["jsonData"]["timeInterval"].as_str().unwrap());
    let boards_file = grafana_dir().join("provisioning/dashboards/tsdb.yaml");
    let boards: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&boards_file).unwrap()).unwrap();
    assert_eq!(boards["providers"][0]["type"], "file");
    assert!(boards["providers"][0]["options"]["path"].is_string());

    // a server with the demo fleet, fast self-monitoring, the fleet's rules evaluated
    // every second, the built-in alert manager delivering to a webhook and an external
    // Alertmanager receiving alerts
    let tmp = tempfile::tempdir().unwrap();
    let webhook = Receiver::start();
    let external_am = Receiver::start();
    let rules = std::fs::read_to_string(grafana_dir().join("rules/demo-fleet.rules.yml"))
        .unwrap()
        .replace("interval: 15s", "interval: 1s");
    std::fs::write(tmp.path().join("fleet.rules.yml"), rules).unwrap();
    std::fs::write(
        tmp.path().join("alertmanager.yml"),
        format!(
            "route:\n  receiver: team\n  group_by: [alertname]\n  group_wait: 100ms\n  \
             group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: team\n    \
             webhook_configs:\n      - url: {}/hook\n",
            webhook.url
        ),
    )
    .unwrap();
    let am_addr = external_am.url.trim_start_matches("http://");
    std::fs::write(
        tmp.path().join("tsdb.yml"),
        format!(
            "rule_files: [fleet.rules.yml]\nalerting:\n  alertmanagers:\n    - \
             static_configs: [{{targets: ['{am_addr}']}}]\nalertmanager:\n  config_file: \
             alertmanager.yml\n"
        ),
    )
    .unwrap();
    let config = tmp.path().join("tsdb.yml");
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            "--demo-fleet",
            "7",
            "--demo-fleet-history",
            "26h",
            "--self-scrape-interval",
            "1s",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    server.wait_ready();
    let limit = Duration::from_secs(90);
    wait_for_series(
        &server,
        r#"ALERTS{alertname="HostHighErrorRatio",alertstate="firing"}"#,
        "a firing alert",
        limit,
    );
    wait_for_series(
        &server,
        r#"tsdb_alertmanager_notifications_total{integration="webhook"} > 0"#,
        "a delivered notification, self-scraped",
        limit,
    );
    wait_for_series(
        &server,
        "tsdb_notifications_sent_total > 0",
        "an alert sent to the external Alertmanager, self-scraped",
        limit,
    );
    wait_for_series(
        &server,
        "tsdb_segments_by_level",
        "persisted segments, self-scraped",
        limit,
    );
    wait_for_series(
        &server,
        "tsdb_persisted_until_seconds",
        "how far persistence has come, self-scraped",
        limit,
    );
    wait_for_series(
        &server,
        "tsdb_query_duration_seconds_count",
        "query metrics, self-scraped",
        limit,
    );
    // A range query's end is aligned down to its step (20 s for 6 hours), as Grafana
    // does: what started a moment ago is not in it yet. Half a minute of history.
    wait_for_series(
        &server,
        "count_over_time(tsdb_head_series[1m]) >= 30",
        "half a minute of self-scrapes",
        limit,
    );
    wait_for_series(
        &server,
        r#"count_over_time(ALERTS{alertstate="firing"}[1m]) >= 25"#,
        "an alert firing for 25 evaluations",
        limit,
    );

    let mut files: Vec<PathBuf> = std::fs::read_dir(grafana_dir().join("dashboards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let mut replay = Replay {
        server: &server,
        ds_uid: ds_uid.clone(),
        time_interval_ms,
        now: now_ms(),
        queries: 0,
    };
    let mut uids = BTreeSet::new();
    let mut panels_run = 0;
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let dash: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        check_structure(&dash, &name, &ds_uid);
        assert!(
            uids.insert(dash["uid"].as_str().unwrap().to_owned()),
            "{name}: uid used twice"
        );
        let title = dash["title"].as_str().unwrap().to_owned();
        for all in [true, false] {
            replay.now = now_ms();
            let vars = replay.resolve_variables(&dash, &title, all);
            for panel in all_panels(&dash) {
                if panel["type"] == "row" {
                    continue;
                }
                let ptitle = panel["title"].as_str().unwrap();
                for target in panel["targets"].as_array().unwrap() {
                    let what = format!(
                        "dashboard {title:?} ({name}), panel {ptitle:?}, target {} ({})",
                        target["refId"].as_str().unwrap(),
                        if all { "All selected" } else { "first values" }
                    );
                    replay.run_target(&dash, &panel, target, &vars, &what);
                }
                panels_run += 1;
            }
        }
    }
    assert!(panels_run > 50, "{panels_run} panels");
    eprintln!(
        "{} dashboards, {panels_run} panel runs, {} queries",
        files.len(),
        replay.queries
    );
}
