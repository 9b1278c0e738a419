//! PromQL functions. Each mirrors the Prometheus function of the same name in
//! <https://github.com/prometheus/prometheus/blob/main/promql/functions.go> (Prometheus 3
//! semantics: range windows are left-open, `(t - range, t]`).

use chrono::{DateTime, Datelike, Timelike};
use parking_lot::Mutex;
use regex::Regex;
use tsdb_core::rollup::Bucket as RollupBucket;
use tsdb_index::{is_valid_label_name, Labels, MatchOp};

use super::annotations::Annotations;
use super::labels::{self, METRIC_NAME};
use super::stats::{self, Bucket};
use super::{drop_names, merge_same_labels, Evaluator, StepSeries, Steps, Val};
use crate::ast::{Call, Expr, Function};
use crate::error::{Error, Result};

/// Evaluates a function call at every step.
///
/// A thin dispatcher, like `Evaluator::eval`: it is on the recursion path of nested
/// calls, so every function with temporaries has a function of its own.
pub(super) fn eval_call(ev: &mut Evaluator<'_>, call: &Call, steps: Steps) -> Result<Val> {
    use Function as F;
    match call.func {
        F::Time | F::Pi => constant(call.func, steps),
        F::Vector => vector(ev, call, steps),
        F::Scalar => scalar(ev, call, steps),
        F::Timestamp => timestamp(ev, call, steps),
        F::Absent => absent_call(ev, call, steps),
        F::Sort | F::SortDesc => sort(ev, call, steps),
        F::LabelReplace => label_replace(ev, call, steps),
        F::LabelJoin => label_join(ev, call, steps),
        F::HistogramQuantile => histogram_quantile_call(ev, call, steps),
        F::Round => round(ev, call, steps),
        F::Clamp | F::ClampMax | F::ClampMin => clamp(ev, call, steps),
        F::DayOfMonth
        | F::DayOfWeek
        | F::DayOfYear
        | F::DaysInMonth
        | F::Hour
        | F::Minute
        | F::Month
        | F::Year => date_function(ev, call, steps),
        F::Abs
        | F::Ceil
        | F::Floor
        | F::Exp
        | F::Sqrt
        | F::Ln
        | F::Log2
        | F::Log10
        | F::Sgn
        | F::Acos
        | F::Acosh
        | F::Asin
        | F::Asinh
        | F::Atan
        | F::Atanh
        | F::Cos
        | F::Cosh
        | F::Sin
        | F::Sinh
        | F::Tan
        | F::Tanh
        | F::Deg
        | F::Rad => math(ev, call, steps),
        F::AbsentOverTime => absent_over_time(ev, call, steps),
        F::Rate
        | F::Irate
        | F::Increase
        | F::Delta
        | F::Idelta
        | F::Deriv
        | F::PredictLinear
        | F::Resets
        | F::Changes
        | F::AvgOverTime
        | F::MinOverTime
        | F::MaxOverTime
        | F::SumOverTime
        | F::CountOverTime
        | F::LastOverTime
        | F::PresentOverTime
        | F::QuantileOverTime
        | F::StddevOverTime
        | F::StdvarOverTime
        | F::MadOverTime
        | F::EmaOverTime => range_function(ev, call, steps),
    }
}

/// Argument `i` of a call.
fn arg(call: &Call, i: usize) -> Result<&Expr> {
    call.args.get(i).ok_or_else(|| {
        Error::Invalid(format!(
            "missing argument {} of {}()",
            i + 1,
            call.func.name()
        ))
    })
}

/// `time()` and `pi()`.
fn constant(func: Function, steps: Steps) -> Result<Val> {
    Ok(Val::Scalar(if func == Function::Pi {
        vec![std::f64::consts::PI; steps.len()]
    } else {
        steps.times().map(|t| t as f64 / 1000.0).collect()
    }))
}

fn absent_call(ev: &mut Evaluator<'_>, call: &Call, steps: Steps) -> Result<Val> {
    let e = arg(call, 0)?;
    let series = ev.eval_vector(e, steps)?;
    Ok(Val::Vector(absent(&series, e, steps)?))
}

/// `sort()` and `sort_desc()`: the engine orders a top-level result.
fn sort(ev: &mut Evaluator<'_>, call: &Call, steps: Steps) -> Result<Val> {
    Ok(Val::Vector(ev.eval_vector(arg(call, 0)?, steps)?))
}

fn histogram_quantile_call(ev: &mut Evaluator<'_>, call: &Call, steps: Steps) -> Result<Val> {
    let q = ev.eval_scalar(arg(call, 0)?, steps)?;
    let series = ev.eval_vector(arg(call, 1)?, steps)?;
    Ok(Val::Vector(histogram_quantile(&q, &series, steps)?))
}

/// `abs()` and the other functions of one value.
fn math(ev: &mut Evaluator<'_>, call: &Call, steps: Steps) -> Result<Val> {
    let f = call.func;
    map_with_params(ev, arg(call, 0)?, steps, |v, _| Some(simple_math(f, v)))
}

fn vector(ev: &mut Evaluator<'_>, call: &Call, steps: Steps) -> Result<Val> {
    let values = ev.eval_scalar(arg(call, 0)?, steps)?;
    let points = steps.times().zip(values).collect();
    Ok(Val::Vector(vec![StepSeries {
        labels: Labels::empty(),
        points,
    }]))
}

fn scalar(ev: &mut Evaluator<'_>, call: &Call, steps: Steps) -> Result<Val> {
    let series = ev.eval_vector(arg(call, 0)?, steps)?;
    let mut out = vec![f64::NAN; steps.len()];
    let mut seen = vec![0u32; steps.len()];
    for s in &series {
        for &(t, v) in &s.points {
            let i = steps.index(t);
            seen[i] += 1;
            out[i] = v;
        }
    }
    for (o, n) in out.iter_mut().zip(seen) {
        if n != 1 {
            *o = f64::NAN;
        }
    }
    Ok(Val::Scalar(out))
}

fn timestamp(ev: &mut Evaluator<'_>, call: &Call, steps: Steps) -> Result<Val> {
    let series = match arg(call, 0)? {
        Expr::Selector(sel) => ev.vector_selector(sel, steps, true)?,
        other => {
            let mut series = ev.eval_vector(other, steps)?;
            for s in &mut series {
                s.points.iter_mut().for_each(|p| p.1 = p.0 as f64 / 1000.0);
            }
            series
        }
    };
    Ok(Val::Vector(drop_names(series)?))
}

fn round(ev: &mut Evaluator<'_>, call: &Call, steps: Steps) -> Result<Val> {
    let to_nearest = match call.args.get(1) {
        Some(e) => ev.eval_scalar(e, steps)?,
        None => vec![1.0; steps.len()],
    };
    map_with_params(ev, arg(call, 0)?, steps, |v, i| {
        let inverse = 1.0 / to_nearest[i];
        Some((v * inverse + 0.5).floor() / inverse)
    })
}

/// `clamp`, `clamp_max` and `clamp_min`.
fn clamp(ev: &mut Evaluator<'_>, call: &Call, steps: Steps) -> Result<Val> {
    use Function as F;
    match call.func {
        F::Clamp => {
            let lo = ev.eval_scalar(arg(call, 1)?, steps)?;
            let hi = ev.eval_scalar(arg(call, 2)?, steps)?;
            map_with_params(ev, arg(call, 0)?, steps, |v, i| {
                // Prometheus returns nothing when max < min.
                (hi[i] >= lo[i] || lo[i].is_nan() || hi[i].is_nan())
                    .then(|| stats::go_max(lo[i], stats::go_min(hi[i], v)))
            })
        }
        F::ClampMax => {
            let hi = ev.eval_scalar(arg(call, 1)?, steps)?;
            map_with_params(ev, arg(call, 0)?, steps, |v, i| {
                Some(stats::go_min(hi[i], v))
            })
        }
        _ => {
            let lo = ev.eval_scalar(arg(call, 1)?, steps)?;
            map_with_params(ev, arg(call, 0)?, steps, |v, i| {
                Some(stats::go_max(lo[i], v))
            })
        }
    }
}

/// `day_of_month()` and the other calendar functions.
fn date_function(ev: &mut Evaluator<'_>, call: &Call, steps: Steps) -> Result<Val> {
    let f = call.func;
    match call.args.first() {
        None => {
            let values = steps.times().map(|t| date_part(f, t as f64 / 1000.0));
            Ok(Val::Vector(vec![StepSeries {
                labels: Labels::empty(),
                points: steps.times().zip(values).collect(),
            }]))
        }
        Some(e) => map_with_params(ev, e, steps, |v, _| Some(date_part(f, v))),
    }
}

/// `absent_over_time`: 1 at the steps where no series is present, as
/// `present_over_time` sees it (rollup buckets included).
fn absent_over_time(ev: &mut Evaluator<'_>, call: &Call, steps: Steps) -> Result<Val> {
    let e = arg(call, 0)?;
    let times: Vec<i64> = steps.times().collect();
    let notes = Mutex::new(Annotations::default());
    let (_, present) = ev.map_range_series(e, steps, true, |spec, _, ts, vs, buckets| {
        let points = windows(
            Function::PresentOverTime,
            spec,
            &times,
            (ts, vs, buckets),
            &[],
            &notes,
        );
        (!points.is_empty()).then_some(points)
    })?;
    ev.add_notes(notes);
    let mut any = vec![false; times.len()];
    for (t, _) in present.iter().flatten() {
        if let Some(slot) = any.get_mut(steps.index(*t)) {
            *slot = true;
        }
    }
    let points: Vec<(i64, f64)> = times
        .iter()
        .zip(any)
        .filter(|(_, present)| !present)
        .map(|(&t, _)| (t, 1.0))
        .collect();
    let labels = match e {
        Expr::Range(rs) => absent_labels(&rs.selector.matchers)?,
        _ => Labels::empty(),
    };
    Ok(Val::Vector(if points.is_empty() {
        Vec::new()
    } else {
        vec![StepSeries { labels, points }]
    }))
}

/// Applies `f(value, step index)` to every point of a vector argument, dropping the
/// metric name; `None` removes the point.
fn map_with_params(
    ev: &mut Evaluator<'_>,
    e: &Expr,
    steps: Steps,
    f: impl Fn(f64, usize) -> Option<f64>,
) -> Result<Val> {
    let series = ev.eval_vector(e, steps)?;
    apply_each(series, steps, f)
}

/// The work of [`map_with_params`], out of the recursion's path.
fn apply_each(
    series: Vec<StepSeries>,
    steps: Steps,
    f: impl Fn(f64, usize) -> Option<f64>,
) -> Result<Val> {
    let mut out = Vec::with_capacity(series.len());
    for mut s in series {
        s.points = s
            .points
            .into_iter()
            .filter_map(|(t, v)| f(v, steps.index(t)).map(|r| (t, r)))
            .collect();
        if !s.points.is_empty() {
            out.push(s);
        }
    }
    Ok(Val::Vector(drop_names(out)?))
}

fn simple_math(f: Function, v: f64) -> f64 {
    use Function as F;
    match f {
        F::Abs => v.abs(),
        F::Ceil => v.ceil(),
        F::Floor => v.floor(),
        F::Exp => v.exp(),
        F::Sqrt => v.sqrt(),
        F::Ln => v.ln(),
        F::Log2 => v.log2(),
        F::Log10 => v.log10(),
        F::Sgn => {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        }
        F::Acos => v.acos(),
        F::Acosh => v.acosh(),
        F::Asin => v.asin(),
        F::Asinh => v.asinh(),
        F::Atan => v.atan(),
        F::Atanh => v.atanh(),
        F::Cos => v.cos(),
        F::Cosh => v.cosh(),
        F::Sin => v.sin(),
        F::Sinh => v.sinh(),
        F::Tan => v.tan(),
        F::Tanh => v.tanh(),
        F::Deg => v * 180.0 / std::f64::consts::PI,
        F::Rad => v * std::f64::consts::PI / 180.0,
        _ => f64::NAN,
    }
}

/// `day_of_week()` and friends on a Unix time in seconds, in UTC.
fn date_part(f: Function, seconds: f64) -> f64 {
    use Function as F;
    if !seconds.is_finite() {
        return f64::NAN;
    }
    let Some(t) = DateTime::from_timestamp(seconds as i64, 0) else {
        return f64::NAN;
    };
    match f {
        F::DayOfMonth => t.day() as f64,
        F::DayOfWeek => t.weekday().num_days_from_sunday() as f64,
        F::DayOfYear => t.ordinal() as f64,
        F::DaysInMonth => {
            let (y, m) = (t.year(), t.month());
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            let first_next = chrono::NaiveDate::from_ymd_opt(ny, nm, 1);
            let first = chrono::NaiveDate::from_ymd_opt(y, m, 1);
            match (first, first_next) {
                (Some(a), Some(b)) => (b - a).num_days() as f64,
                _ => f64::NAN,
            }
        }
        F::Hour => t.hour() as f64,
        F::Minute => t.minute() as f64,
        F::Month => t.month() as f64,
        F::Year => t.year() as f64,
        _ => f64::NAN,
    }
}

/// The labels `absent()` reports, built from its selector's matchers in order as
/// Prometheus' `createLabelsForAbsentFunction` does: the first equality matcher of a name
/// sets the label, any other matcher of that name deletes it (only an equality matcher
/// marks the name as set, so `{job=~"a", job="b"}` still gives `job="b"`); the metric
/// name is skipped.
fn absent_labels(matchers: &[tsdb_index::Matcher]) -> Result<Labels> {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    let mut set: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name() == METRIC_NAME {
            continue;
        }
        if m.op() == MatchOp::Equal && !set.contains(&m.name()) {
            pairs.push((m.name(), m.value()));
            set.push(m.name());
        } else {
            pairs.retain(|(n, _)| *n != m.name());
        }
    }
    labels::build(pairs)
}

fn absent(series: &[StepSeries], e: &Expr, steps: Steps) -> Result<Vec<StepSeries>> {
    let mut present = vec![false; steps.len()];
    for s in series {
        for &(t, _) in &s.points {
            present[steps.index(t)] = true;
        }
    }
    let points: Vec<(i64, f64)> = steps
        .times()
        .zip(present)
        .filter(|(_, p)| !p)
        .map(|(t, _)| (t, 1.0))
        .collect();
    if points.is_empty() {
        return Ok(Vec::new());
    }
    let labels = match e {
        Expr::Selector(sel) => absent_labels(&sel.matchers)?,
        _ => Labels::empty(),
    };
    Ok(vec![StepSeries { labels, points }])
}

/// A label name computed at evaluation time: Prometheus raises a bad one while evaluating,
/// so it is an `execution` error (422), not a bad query (400).
fn check_label_name(func: &str, what: &str, name: &str) -> Result<()> {
    if is_valid_label_name(name) {
        Ok(())
    } else {
        Err(Error::Execution(format!(
            "invalid {what} label name in {func}(): {name}"
        )))
    }
}

/// `label_replace(v, dst, replacement, src, regex)`.
fn label_replace(ev: &mut Evaluator<'_>, call: &Call, steps: Steps) -> Result<Val> {
    let [v, dst, replacement, src, regex] = call.args.as_slice() else {
        return Err(Error::Invalid("label_replace() takes 5 arguments".into()));
    };
    let dst = ev.eval_string(dst, steps)?;
    let replacement = ev.eval_string(replacement, steps)?;
    let src = ev.eval_string(src, steps)?;
    let pattern = ev.eval_string(regex, steps)?;
    let re = Regex::new(&format!("^(?s:{pattern})$")).map_err(|e| {
        Error::Execution(format!(
            "invalid regular expression in label_replace(): {e}"
        ))
    })?;
    check_label_name("label_replace", "destination", &dst)?;
    let series = ev.eval_vector(v, steps)?;
    let mut out = Vec::with_capacity(series.len());
    for mut s in series {
        let src_value = s.labels.get(&src).unwrap_or("");
        if let Some(caps) = re.captures(src_value) {
            let mut value = String::new();
            caps.expand(&replacement, &mut value);
            s.labels = labels::with(&s.labels, &dst, &value)?;
        }
        out.push(s);
    }
    Ok(Val::Vector(merge_same_labels(out)?))
}

/// `label_join(v, dst, separator, src...)`.
fn label_join(ev: &mut Evaluator<'_>, call: &Call, steps: Steps) -> Result<Val> {
    let [v, dst, sep, srcs @ ..] = call.args.as_slice() else {
        return Err(Error::Invalid(
            "label_join() takes at least 3 arguments".into(),
        ));
    };
    let dst = ev.eval_string(dst, steps)?;
    let sep = ev.eval_string(sep, steps)?;
    let srcs = srcs
        .iter()
        .map(|e| ev.eval_string(e, steps))
        .collect::<Result<Vec<_>>>()?;
    check_label_name("label_join", "destination", &dst)?;
    for s in &srcs {
        check_label_name("label_join", "source", s)?;
    }
    let series = ev.eval_vector(v, steps)?;
    let mut out = Vec::with_capacity(series.len());
    for mut s in series {
        let joined = srcs
            .iter()
            .map(|n| s.labels.get(n).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(&sep);
        s.labels = labels::with(&s.labels, &dst, &joined)?;
        out.push(s);
    }
    Ok(Val::Vector(merge_same_labels(out)?))
}

/// `histogram_quantile(q, buckets)` over classic `le` buckets.
fn histogram_quantile(q: &[f64], series: &[StepSeries], steps: Steps) -> Result<Vec<StepSeries>> {
    use std::collections::HashMap;
    // Per input series: its group and upper bound, fixed across steps.
    let mut groups: HashMap<Labels, usize> = HashMap::new();
    let mut group_labels: Vec<Labels> = Vec::new();
    let mut member: Vec<Option<(usize, f64)>> = Vec::with_capacity(series.len());
    for s in series {
        let Some(upper) = s.labels.get("le").and_then(parse_go_float) else {
            member.push(None);
            continue;
        };
        // A histogram is its series without `le`, the metric name included (Prometheus
        // `resetHistograms`); the name is dropped from the result below.
        let key = labels::build(s.labels.iter().filter(|(n, _)| *n != "le"))?;
        let g = *groups.entry(key.clone()).or_insert_with(|| {
            group_labels.push(key);
            group_labels.len() - 1
        });
        member.push(Some((g, upper)));
    }
    let mut out: Vec<StepSeries> = group_labels
        .into_iter()
        .map(|labels| StepSeries {
            labels,
            points: Vec::new(),
        })
        .collect();
    let mut buckets: Vec<Vec<Bucket>> = vec![Vec::new(); out.len()];
    for (i, step_values) in super::by_step(series, steps).into_iter().enumerate() {
        for b in buckets.iter_mut() {
            b.clear();
        }
        for (si, v) in step_values {
            if let Some((g, upper)) = member[si] {
                buckets[g].push(Bucket {
                    upper_bound: upper,
                    count: v,
                });
            }
        }
        for (g, b) in buckets.iter_mut().enumerate() {
            if !b.is_empty() {
                let v = stats::bucket_quantile(q[i], b);
                out[g].points.push((steps.time(i), v));
            }
        }
    }
    out.retain(|s| !s.points.is_empty());
    drop_names(out)
}

/// Parses an `le` label as Prometheus' `resetHistograms` does with Go's
/// `strconv.ParseFloat`, which refuses surrounding whitespace: a bucket labelled
/// `le=" 2"` is not a bucket. (Go's hexadecimal floats, `0x1p3`, are not accepted here.)
fn parse_go_float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok()
}

/// Range functions: one value per series per step from the samples in the step's window.
fn range_function(ev: &mut Evaluator<'_>, call: &Call, steps: Steps) -> Result<Val> {
    use Function as F;
    let f = call.func;
    let (range_arg, param_arg) = match f {
        F::QuantileOverTime => (call.args.get(1), call.args.first()),
        F::PredictLinear | F::EmaOverTime => (call.args.first(), call.args.get(1)),
        _ => (call.args.first(), None),
    };
    let range_arg =
        range_arg.ok_or_else(|| Error::Invalid(format!("{}() needs a range vector", f.name())))?;
    let params = match param_arg {
        Some(p) => ev.eval_scalar(p, steps)?,
        None => Vec::new(),
    };
    if f == F::EmaOverTime {
        if let Some(bad) = params.iter().find(|a| !(**a > 0.0 && **a <= 1.0)) {
            return Err(Error::Invalid(format!(
                "invalid smoothing factor for ema_over_time(): {bad}; must be in (0, 1]"
            )));
        }
    }
    let keep_name = f == F::LastOverTime;
    let times: Vec<i64> = steps.times().collect();
    let notes = Mutex::new(Annotations::default());
    // the functions rollups answer exactly may read the coarsest rollups their windows
    // are made of
    let exact = super::rollup::exact(f);
    let (_, out) =
        ev.map_range_series(range_arg, steps, exact, |spec, labels, ts, vs, buckets| {
            let points = windows(f, spec, &times, (ts, vs, buckets), &params, &notes);
            (!points.is_empty()).then(|| StepSeries {
                labels: if keep_name {
                    labels.clone()
                } else {
                    labels::drop_name(labels)
                },
                points,
            })
        })?;
    ev.add_notes(notes);
    // Prometheus fails when two of the function's output series have the same labels,
    // even if they have values at different steps (`mat.ContainsSameLabelset()` after
    // the range function loop of the `*parser.Call` case in engine.go): unlike other
    // operations, the series are not merged.
    let mut seen = std::collections::HashSet::with_capacity(out.len());
    if let Some(dup) = out.iter().find(|s| !seen.insert(&s.labels)) {
        return Err(Error::Execution(format!(
            "vector cannot contain metrics with the same labelset: {}",
            dup.labels
        )));
    }
    Ok(Val::Vector(out))
}

/// One series' values of a range function at every step. A series with rollup buckets
/// is answered by [`super::rollup::windows`] (which adds the buckets it used, and the
/// function if it approximated it, to `notes`); one without, here.
fn windows(
    f: Function,
    spec: super::WindowSpec,
    times: &[i64],
    (ts, vs, buckets): (&[i64], &[f64], &[RollupBucket]),
    params: &[f64],
    notes: &Mutex<Annotations>,
) -> Vec<(i64, f64)> {
    if !buckets.is_empty() {
        return super::rollup::windows(f, spec, times, (ts, vs, buckets), params, notes);
    }
    let mut points = Vec::new();
    let mut scratch = Vec::new();
    let (mut from, mut to) = (0usize, 0usize);
    for (i, &t) in times.iter().enumerate() {
        let (lo, hi) = spec.window(t);
        if spec.at.is_some() {
            from = ts.partition_point(|&x| x <= lo);
            to = ts.partition_point(|&x| x <= hi);
        } else {
            // Windows move forward: jump both ends with binary searches from where they
            // were (steps may be far apart compared to samples).
            if ts.get(from).is_some_and(|&x| x <= lo) {
                from += ts[from..].partition_point(|&x| x <= lo);
            }
            to = to.max(from);
            if ts.get(to).is_some_and(|&x| x <= hi) {
                to += ts[to..].partition_point(|&x| x <= hi);
            }
        }
        if from >= to {
            continue;
        }
        let window = Window {
            ts: &ts[from..to],
            vs: &vs[from..to],
            lo,
            hi,
            range_ms: spec.range_ms,
            eval_t: t,
        };
        let param = params.get(i).copied().unwrap_or(f64::NAN);
        if let Some(v) = window_value(f, &window, param, &mut scratch) {
            points.push((t, v));
        }
    }
    points
}

/// The samples of one series inside one step's window.
pub(super) struct Window<'a> {
    pub ts: &'a [i64],
    pub vs: &'a [f64],
    /// The window is `(lo, hi]`.
    pub lo: i64,
    pub hi: i64,
    pub range_ms: i64,
    /// The step's evaluation time.
    pub eval_t: i64,
}

/// A range function's value over one window's samples (at least one); `None` when the
/// function has none there.
pub(super) fn window_value(
    f: Function,
    w: &Window<'_>,
    param: f64,
    scratch: &mut Vec<f64>,
) -> Option<f64> {
    use Function as F;
    let vs = w.vs;
    let n = vs.len();
    match f {
        F::Rate => extrapolated_rate(w, true, true),
        F::Increase => extrapolated_rate(w, true, false),
        F::Delta => extrapolated_rate(w, false, false),
        F::Irate => instant_value(w, true),
        F::Idelta => instant_value(w, false),
        F::Deriv => (n >= 2).then(|| linear_regression(w.ts, vs, w.ts[0]).0),
        F::PredictLinear => (n >= 2).then(|| {
            let (slope, intercept) = linear_regression(w.ts, vs, w.eval_t);
            intercept + slope * param
        }),
        F::Resets => Some(resets(vs) as f64),
        F::Changes => Some(
            vs.windows(2)
                .filter(|p| !(p[1] == p[0] || (p[1].is_nan() && p[0].is_nan())))
                .count() as f64,
        ),
        F::AvgOverTime => Some(stats::mean(vs.iter().copied())),
        F::SumOverTime => Some(stats::kahan_sum(vs.iter().copied())),
        F::CountOverTime => Some(n as f64),
        F::LastOverTime => vs.last().copied(),
        F::PresentOverTime => Some(1.0),
        F::MinOverTime => Some(
            vs.iter()
                .fold(vs[0], |m, &v| if v < m || m.is_nan() { v } else { m }),
        ),
        F::MaxOverTime => Some(
            vs.iter()
                .fold(vs[0], |m, &v| if v > m || m.is_nan() { v } else { m }),
        ),
        F::QuantileOverTime => {
            scratch.clear();
            scratch.extend_from_slice(vs);
            Some(stats::quantile(param, scratch))
        }
        F::StdvarOverTime => Some(stats::variance(vs.iter().copied())),
        F::StddevOverTime => Some(stats::variance(vs.iter().copied()).sqrt()),
        F::MadOverTime => {
            scratch.clear();
            scratch.extend_from_slice(vs);
            let median = stats::quantile(0.5, scratch);
            scratch.clear();
            scratch.extend(vs.iter().map(|v| (v - median).abs()));
            Some(stats::quantile(0.5, scratch))
        }
        F::EmaOverTime => {
            let alpha = param;
            let mut s = vs[0];
            for &v in &vs[1..] {
                s = alpha * v + (1.0 - alpha) * s;
            }
            Some(s)
        }
        _ => None,
    }
}

/// `rate`, `increase` and `delta`: the change over the window, extrapolated towards the
/// window's edges (Prometheus `extrapolatedRate`).
fn extrapolated_rate(w: &Window<'_>, is_counter: bool, is_rate: bool) -> Option<f64> {
    let (ts, vs) = (w.ts, w.vs);
    if vs.len() < 2 {
        return None;
    }
    let (first_t, last_t) = (ts[0], ts[ts.len() - 1]);
    let mut result = vs[vs.len() - 1] - vs[0];
    // Counter resets are rare: count them with a loop the compiler vectorises, and add
    // the corrections (in Prometheus' order) only when there are any.
    if is_counter && resets(vs) > 0 {
        let mut last = 0.0;
        for &v in vs {
            if v < last {
                result += last;
            }
            last = v;
        }
    }
    let mut duration_to_start = first_t.saturating_sub(w.lo) as f64 / 1000.0;
    let mut duration_to_end = w.hi.saturating_sub(last_t) as f64 / 1000.0;
    let sampled_interval = last_t.saturating_sub(first_t) as f64 / 1000.0;
    let average_between = sampled_interval / (vs.len() - 1) as f64;
    let threshold = average_between * 1.1;
    let mut extrapolate_to = sampled_interval;
    if duration_to_start >= threshold {
        duration_to_start = average_between / 2.0;
    }
    if is_counter && result > 0.0 && vs[0] >= 0.0 {
        let duration_to_zero = sampled_interval * (vs[0] / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    extrapolate_to += duration_to_start;
    if duration_to_end >= threshold {
        duration_to_end = average_between / 2.0;
    }
    extrapolate_to += duration_to_end;
    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= w.range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// How many times a value is below the one before it.
fn resets(vs: &[f64]) -> usize {
    let next = vs.get(1..).unwrap_or_default();
    vs.iter().zip(next).map(|(a, b)| usize::from(b < a)).sum()
}

/// `irate` and `idelta`: from the last two samples (Prometheus `instantValue`).
fn instant_value(w: &Window<'_>, is_rate: bool) -> Option<f64> {
    let n = w.vs.len();
    if n < 2 {
        return None;
    }
    let (last_t, last_v) = (w.ts[n - 1], w.vs[n - 1]);
    let (prev_t, prev_v) = (w.ts[n - 2], w.vs[n - 2]);
    let mut result = if is_rate && last_v < prev_v {
        last_v
    } else {
        last_v - prev_v
    };
    let interval = last_t.saturating_sub(prev_t);
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

/// Least-squares slope and intercept (at `intercept_t`) of the samples, with compensated
/// sums (Prometheus `linearRegression`).
fn linear_regression(ts: &[i64], vs: &[f64], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0f64, 0.0, 0.0, 0.0);
    let init_y = vs[0];
    let mut const_y = true;
    for (i, (&t, &v)) in ts.iter().zip(vs).enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = t.saturating_sub(intercept_t) as f64 / 1000.0;
        (sum_x, c_x) = stats::kahan_sum_inc(x, sum_x, c_x);
        (sum_y, c_y) = stats::kahan_sum_inc(v, sum_y, c_y);
        (sum_xy, c_xy) = stats::kahan_sum_inc(x * v, sum_xy, c_xy);
        (sum_x2, c_x2) = stats::kahan_sum_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}
