//! `promtool test rules` (Prometheus 2.42, `cmd/promtool/unittest.go`): rule unit-test
//! files run against this crate's rule evaluation over a real [`tsdb_core::Db`] in a
//! temporary directory, with promtool's output and verdicts, so a team's existing rule
//! tests run unchanged in CI.
//!
//! A test file names `rule_files` (globs, relative to the test file), an
//! `evaluation_interval` (default 1m), an optional `group_eval_order`, and `tests`: each
//! loads its `input_series` (the expanding notation of [`series`]) every `interval` from
//! time 0, evaluates every group at 0, `evaluation_interval`, … up to the largest
//! `eval_time` of its cases, compares the firing alerts of each `alert_rule_test` at the
//! evaluation covering its `eval_time`, then runs each `promql_expr_test` query.
//!
//! Modules: [`series`] (the series notation), `report` (promtool's texts: durations,
//! labels, floats).

mod report;
pub mod series;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tsdb_core::{Batch, Db, Options};
use tsdb_query::{Engine, EngineOptions, Value};

use crate::alerting::AlertState;
use crate::duration::parse_duration;
use crate::group::{Rule, RuleGroup, RuleOptions};
use crate::rulefile::load_rule_file;
use crate::util::{to_labels, to_map, LabelMap};

use report::{go_duration, labels_string, model_duration, parsed_samples_string, quote};

/// Runs the unit-test `files` as `promtool test rules` does: for each, `Unit Testing:
/// FILE` and `  SUCCESS` on `stdout`, or `  FAILED:` and every failure on `stderr`.
/// Returns whether every file passed (promtool's exit code 0; otherwise 1).
pub fn run_test_files(files: &[PathBuf], stdout: &mut dyn Write, stderr: &mut dyn Write) -> bool {
    let mut failed = false;
    for f in files {
        let _ = writeln!(stdout, "Unit Testing:  {}", f.display());
        let errs = run_file(f, stderr);
        if errs.is_empty() {
            let _ = writeln!(stdout, "  SUCCESS");
        } else {
            let _ = writeln!(stderr, "  FAILED:");
            for e in &errs {
                let _ = writeln!(stderr, "{e}");
                let _ = writeln!(stdout);
            }
            failed = true;
        }
        let _ = writeln!(stdout);
    }
    !failed
}

/// A YAML scalar read as its text as written, as yaml.v2 decodes any scalar into a Go
/// string.
#[derive(Debug, Clone, Default)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(crate::template::go_float_text(v)))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text(v))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Text, E> {
                Ok(Text(String::new()))
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Text, E> {
                Ok(Text(String::new()))
            }
        }
        // Asked for a string, the deserializer hands over the scalar as written
        // (`0x10` stays `0x10`, not 16), as yaml.v2 fills a Go string.
        d.deserialize_string(V)
    }
}

/// A `model.Duration` in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Dur(i64);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = Text::deserialize(d)?;
        parse_duration(&t.0)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UnitTestFile {
    #[serde(default)]
    rule_files: Option<Vec<String>>,
    #[serde(default)]
    evaluation_interval: Option<Dur>,
    #[serde(default)]
    group_eval_order: Option<Vec<String>>,
    #[serde(default)]
    tests: Option<Vec<TestGroup>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    interval: Option<Dur>,
    #[serde(default)]
    input_series: Option<Vec<InputSeries>>,
    #[serde(default)]
    alert_rule_test: Option<Vec<AlertTest>>,
    #[serde(default)]
    promql_expr_test: Option<Vec<PromqlTest>>,
    #[serde(default)]
    external_labels: Option<BTreeMap<String, Text>>,
    #[serde(default)]
    external_url: Option<Text>,
    #[serde(default)]
    name: Option<Text>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    #[serde(default)]
    series: Option<Text>,
    #[serde(default)]
    values: Option<Text>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    #[serde(default)]
    eval_time: Option<Dur>,
    #[serde(default)]
    alertname: Option<Text>,
    #[serde(default)]
    exp_alerts: Option<Vec<ExpAlert>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: Option<BTreeMap<String, Text>>,
    #[serde(default)]
    exp_annotations: Option<BTreeMap<String, Text>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PromqlTest {
    #[serde(default)]
    expr: Option<Text>,
    #[serde(default)]
    eval_time: Option<Dur>,
    #[serde(default)]
    exp_samples: Option<Vec<ExpSample>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    #[serde(default)]
    labels: Option<Text>,
    #[serde(default)]
    value: Option<f64>,
}

fn texts(m: &Option<BTreeMap<String, Text>>) -> LabelMap {
    m.iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect()
}

/// One file: every failure, as promtool words it.
fn run_file(path: &Path, stderr: &mut dyn Write) -> Vec<String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return vec![format!("open {}: {}", path.display(), io_message(&e))],
    };
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(e) => return vec![format!("yaml: invalid Unicode at byte {}", e.valid_up_to())],
    };
    let file: UnitTestFile = if text.trim().is_empty() {
        UnitTestFile::default()
    } else {
        match serde_saphyr::from_str::<Option<UnitTestFile>>(text) {
            Ok(f) => f.unwrap_or_default(),
            Err(e) => return vec![yaml_message(&e)],
        }
    };
    let base = path.parent().unwrap_or_else(|| Path::new(""));
    let rule_files =
        match resolve_rule_files(base, file.rule_files.as_deref().unwrap_or(&[]), stderr) {
            Ok(f) => f,
            Err(e) => return vec![e],
        };
    let eval_interval = match file.evaluation_interval {
        Some(Dur(ms)) if ms != 0 => ms,
        _ => 60_000,
    };
    let mut order = HashMap::new();
    for (i, g) in file.group_eval_order.iter().flatten().enumerate() {
        if order.insert(g.clone(), i).is_some() {
            return vec![format!("group name repeated in evaluation order: {g}")];
        }
    }
    let mut errs = Vec::new();
    for tg in file.tests.iter().flatten() {
        errs.extend(run_group(tg, eval_interval, &order, &rule_files));
    }
    errs
}

fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// The YAML error as yaml.v2's `UnmarshalStrict` words the common one, an unknown field
/// (`yaml: unmarshal errors:\n  line 2: field x not found in type main.unitTestFile`),
/// and the deserializer's own words otherwise.
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("").trim().to_string();
    let line = e.location().map_or(0, |l| l.line());
    if let Some(rest) = first.split("unknown field `").nth(1) {
        if let Some((field, expected)) = rest.split_once('`') {
            // The struct is told by the fields it expects.
            let go_type = [
                ("rule_files", "main.unitTestFile"),
                ("input_series", "main.testGroup"),
                ("series", "main.series"),
                ("alertname", "main.alertTestCase"),
                ("exp_labels", "main.alert"),
                ("expr", "main.promqlTestCase"),
                ("value", "main.sample"),
            ]
            .iter()
            .find(|(f, _)| expected.contains(f))
            .map_or("struct", |(_, t)| t);
            return format!(
                "yaml: unmarshal errors:\n  line {line}: field {field} not found in type {go_type}"
            );
        }
    }
    let m = match first.rfind(" at line ") {
        Some(i) => &first[..i],
        None => &first,
    };
    if line > 0 {
        format!("yaml: line {line}: {m}")
    } else {
        format!("yaml: {m}")
    }
}

/// `resolveAndGlobFilepaths`: relative paths joined to the test file's directory, then
/// each pattern globbed (sorted, as Go's `filepath.Glob`); a pattern matching nothing is
/// a warning on stderr.
fn resolve_rule_files(
    base: &Path,
    patterns: &[String],
    stderr: &mut dyn Write,
) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in patterns {
        let full = if !p.is_empty() && !Path::new(p).is_absolute() {
            base.join(p)
        } else {
            PathBuf::from(p)
        };
        let pattern = full.to_string_lossy().to_string();
        let paths = glob::glob(&pattern).map_err(|_| "syntax error in pattern".to_string())?;
        let mut matched: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
        matched.sort();
        if matched.is_empty() {
            let _ = writeln!(stderr, "  WARNING: no file match pattern {pattern}");
        }
        out.extend(matched);
    }
    Ok(out)
}

/// A firing alert as compared: labels and annotations in label order.
type Pairs = Vec<(String, String)>;
type LabelsAndAnnotations = Vec<(Pairs, Pairs)>;

fn pairs(m: &LabelMap) -> Pairs {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// `labelsAndAnnotations.String()`.
fn la_string(la: &LabelsAndAnnotations) -> String {
    if la.is_empty() {
        return "[]".into();
    }
    let one = |(l, a): &(Pairs, Pairs)| {
        format!(
            "Labels:{}\nAnnotations:{}",
            labels_string(l),
            labels_string(a)
        )
    };
    let mut s = format!("[\n0:{}", indent_lines(&format!("\n{}", one(&la[0])), "  "));
    for (i, l) in la[1..].iter().enumerate() {
        s += &format!(
            ",\n{}:{}",
            i + 1,
            indent_lines(&format!("\n{}", one(l)), "  ")
        );
    }
    s + "\n]"
}

fn indent_lines(lines: &str, indent: &str) -> String {
    lines
        .split('\n')
        .enumerate()
        .map(|(i, l)| {
            if i > 0 {
                format!("{indent}{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A test group: load, evaluate, compare.
fn run_group(
    tg: &TestGroup,
    eval_interval: i64,
    order: &HashMap<String, usize>,
    rule_files: &[PathBuf],
) -> Vec<String> {
    let interval = tg.interval.map_or(0, |d| d.0);
    // The input series, parsed before anything runs (promql.NewLazyLoader).
    let mut inputs = Vec::new();
    for s in tg.input_series.iter().flatten() {
        let series_text = s.series.as_ref().map_or("", |t| t.0.as_str());
        let values_text = s.values.as_ref().map_or("", |t| t.0.as_str());
        let (labels, steps) = match series::parse_input_series(series_text, values_text) {
            Ok(v) => v,
            Err(e) => return vec![e],
        };
        inputs.push((labels, steps));
    }
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return vec![format!("creating the test database: {e}")],
    };
    let db = match Db::open(
        dir.path(),
        Options {
            background_maintenance: false,
            sync: tsdb_core::wal::SyncMode::Never,
            max_future_ms: i64::MAX / 4,
            ..Options::default()
        },
    ) {
        Ok(db) => db,
        Err(e) => return vec![format!("opening the test database: {e}")],
    };
    let mut loader = match Loader::new(&inputs, interval) {
        Ok(l) => l,
        Err(e) => return vec![e],
    };

    let options = RuleOptions {
        evaluation_interval_ms: if interval > 0 {
            interval
        } else {
            eval_interval
        },
        external_labels: texts(&tg.external_labels),
        external_url: tg
            .external_url
            .as_ref()
            .map(|t| t.0.clone())
            .unwrap_or_default(),
        ..RuleOptions::default()
    };
    let mut groups = Vec::new();
    let mut load_errs = Vec::new();
    for f in rule_files {
        let name = f.to_string_lossy().to_string();
        match load_rule_file(f) {
            Err(es) => load_errs.extend(es.iter().map(ToString::to_string)),
            Ok(file) => {
                for spec in file.groups {
                    match RuleGroup::new(&name, spec, &options, false) {
                        Ok(mut g) => {
                            g.set_should_restore(false);
                            groups.push(g);
                        }
                        Err(e) => load_errs.push(format!("{name}: {e}")),
                    }
                }
            }
        }
    }
    if !load_errs.is_empty() {
        return load_errs;
    }
    // orderedGroups: groups not named in group_eval_order sort as the first one named.
    groups.sort_by_key(|g| order.get(g.name()).copied().unwrap_or(0));

    let engine = Engine::new(EngineOptions {
        default_subquery_step_ms: eval_interval,
        ..EngineOptions::default()
    });

    let name_prefix = tg
        .name
        .as_ref()
        .filter(|n| !n.0.is_empty())
        .map(|n| format!("    name: {},\n", n.0))
        .unwrap_or_default();

    // Alert tests by eval_time.
    let mut alert_tests: BTreeMap<i64, Vec<&AlertTest>> = BTreeMap::new();
    for a in tg.alert_rule_test.iter().flatten() {
        let eval_time = a.eval_time.map_or(0, |d| d.0);
        if a.alertname.as_ref().is_none_or(|n| n.0.is_empty()) {
            let in_group = tg
                .name
                .as_ref()
                .filter(|n| !n.0.is_empty())
                .map(|n| format!(" (in TestGroup {})", n.0))
                .unwrap_or_default();
            return vec![format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{in_group}",
                model_duration(eval_time)
            )];
        }
        alert_tests.entry(eval_time).or_default().push(a);
    }
    let alert_times: Vec<i64> = alert_tests.keys().copied().collect();
    let max_eval = tg
        .alert_rule_test
        .iter()
        .flatten()
        .map(|a| a.eval_time.map_or(0, |d| d.0))
        .chain(
            tg.promql_expr_test
                .iter()
                .flatten()
                .map(|p| p.eval_time.map_or(0, |d| d.0)),
        )
        .max()
        .unwrap_or(0);

    let mut errs = Vec::new();
    let mut curr = 0;
    let mut ts = 0i64;
    while ts <= max_eval {
        let mut eval_errs = Vec::new();
        if let Err(e) = loader.load_till(&db, ts) {
            errs.push(e);
        }
        for g in groups.iter_mut() {
            g.evaluate(ts, &engine, &db, &db, &options);
            for r in g.rules() {
                if let Some(e) = &r.status().last_error {
                    eval_errs.push(format!(
                        "    rule: {}, time: {}, err: {e}",
                        r.name(),
                        go_duration(ts)
                    ));
                }
            }
        }
        let stop = !eval_errs.is_empty();
        errs.extend(eval_errs);
        if stop {
            return errs;
        }
        while curr < alert_times.len()
            && ts <= alert_times[curr]
            && alert_times[curr] < ts.saturating_add(eval_interval)
        {
            let t = alert_times[curr];
            let cases = &alert_tests[&t];
            for case in cases {
                let alertname = case.alertname.as_ref().map_or("", |n| n.0.as_str());
                let mut got: LabelsAndAnnotations = Vec::new();
                for g in &groups {
                    for r in g.rules() {
                        let Rule::Alerting(ar) = r else { continue };
                        if ar.name() != alertname {
                            continue;
                        }
                        for a in ar.alerts().filter(|a| a.state == AlertState::Firing) {
                            got.push((pairs(&a.labels), pairs(&a.annotations)));
                        }
                    }
                }
                let mut exp: LabelsAndAnnotations = case
                    .exp_alerts
                    .iter()
                    .flatten()
                    .map(|a| {
                        let mut l = texts(&a.exp_labels);
                        l.insert("alertname".into(), alertname.to_string());
                        (pairs(&l), pairs(&texts(&a.exp_annotations)))
                    })
                    .collect();
                got.sort();
                exp.sort();
                if exp != got {
                    errs.push(format!(
                        "{name_prefix}    alertname: {alertname}, time: {}, \n        exp:{}, \n        got:{}",
                        model_duration(t),
                        indent_lines(&la_string(&exp), "            "),
                        indent_lines(&la_string(&got), "            ")
                    ));
                }
            }
            curr += 1;
        }
        ts = match ts.checked_add(eval_interval) {
            Some(t) => t,
            None => break,
        };
    }

    // PromQL expression tests.
    'cases: for case in tg.promql_expr_test.iter().flatten() {
        let expr = case.expr.as_ref().map_or("", |t| t.0.as_str());
        let t = case.eval_time.map_or(0, |d| d.0);
        let got = match engine.instant_query(&db, expr, t) {
            Ok(Value::Vector(v)) => v
                .into_iter()
                .map(|s| (pairs(&to_map(&s.labels)), s.v))
                .collect::<Vec<_>>(),
            Ok(Value::Scalar { v, .. }) => vec![(Vec::new(), v)],
            Ok(_) => {
                errs.push(format!(
                    "    expr: {}, time: {}, err: rule result is not a vector or scalar",
                    quote(expr),
                    model_duration(t)
                ));
                continue;
            }
            Err(e) => {
                errs.push(format!(
                    "    expr: {}, time: {}, err: {}",
                    quote(expr),
                    model_duration(t),
                    crate::rulefile::promql_error(&e)
                ));
                continue;
            }
        };
        let mut exp = Vec::new();
        for s in case.exp_samples.iter().flatten() {
            let text = s.labels.as_ref().map_or("", |t| t.0.as_str());
            match series::parse_metric(text) {
                Ok(l) => exp.push((pairs(&l), s.value.unwrap_or(0.0))),
                Err(e) => {
                    errs.push(format!(
                        "    expr: {}, time: {}, err: labels {}: {e}",
                        quote(expr),
                        model_duration(t),
                        quote(text)
                    ));
                    continue 'cases;
                }
            }
        }
        let by_labels = |a: &(Pairs, f64), b: &(Pairs, f64)| a.0.cmp(&b.0);
        let mut got = got;
        exp.sort_by(by_labels);
        got.sort_by(by_labels);
        // reflect.DeepEqual: float64 compared with ==, so NaN never matches.
        let equal =
            exp.len() == got.len() && exp.iter().zip(&got).all(|(a, b)| a.0 == b.0 && a.1 == b.1);
        if !equal {
            errs.push(format!(
                "    expr: {}, time: {},\n        exp: {}\n        got: {}",
                quote(expr),
                model_duration(t),
                parsed_samples_string(&exp),
                parsed_samples_string(&got)
            ));
        }
    }
    errs
}

/// The input series, written into the database as evaluation reaches them: before the
/// evaluation at `ts`, every sample at or before `ts` (promql's `LazyLoader`, so a query
/// at `ts` never sees later input, and rule results are never written behind input).
/// Samples sit at `step × interval` from time 0; one at or before its series' previous
/// sample (an interval of 0 puts them all at 0) is dropped, as Prometheus's head drops it.
struct Loader {
    series: Vec<Pending>,
}

/// One input series: its samples, and how many of them are already written.
struct Pending {
    labels: tsdb_index::Labels,
    samples: Vec<(i64, f64)>,
    next: usize,
}

impl Loader {
    fn new(inputs: &[(LabelMap, Vec<series::Step>)], interval: i64) -> Result<Loader, String> {
        let mut series = Vec::with_capacity(inputs.len());
        for (labels, steps) in inputs {
            let l = to_labels(labels).map_err(|e| format!("input series {labels:?}: {e}"))?;
            let mut samples = Vec::new();
            let mut last: Option<i64> = None;
            for (i, step) in steps.iter().enumerate() {
                let Some(v) = step else { continue };
                let t = (i as i64).saturating_mul(interval);
                if last.is_some_and(|l| t <= l) {
                    continue;
                }
                last = Some(t);
                samples.push((t, *v));
            }
            series.push(Pending {
                labels: l,
                samples,
                next: 0,
            });
        }
        Ok(Loader { series })
    }

    /// Appends every sample not yet written with a timestamp at or before `ts`.
    fn load_till(&mut self, db: &Db, ts: i64) -> Result<(), String> {
        let mut batch = Batch::new();
        let mut any = false;
        for Pending {
            labels,
            samples,
            next,
        } in &mut self.series
        {
            let end = *next
                + samples[*next..]
                    .iter()
                    .take_while(|(t, _)| *t <= ts)
                    .count();
            if end == *next {
                continue;
            }
            let s = batch.series(labels.clone());
            for (t, v) in &samples[*next..end] {
                batch.sample(s, *t, *v);
            }
            *next = end;
            any = true;
        }
        if !any {
            return Ok(());
        }
        let outcome = db
            .append_batch(&batch)
            .map_err(|e| format!("loading the input series: {e}"))?;
        match outcome.rejected.first() {
            Some(r) => Err(format!("loading the input series: {}", r.error)),
            None => Ok(()),
        }
    }
}
