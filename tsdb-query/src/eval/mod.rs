//! Evaluation of an [`Expr`] over a grid of steps, the way Prometheus' engine does it
//! (<https://github.com/prometheus/prometheus/blob/main/promql/engine.go>): an instant query
//! is a range query with one step; every node is evaluated for all steps at once, and
//! per-step operators (binary operators, aggregations) walk the steps of their inputs.

mod aggregate;
pub(crate) mod annotations;
mod binary;
pub(crate) mod budget;
mod functions;
pub(crate) mod labels;
pub(crate) mod pool;
pub(crate) mod read;
mod rollup;
pub(crate) mod span;
mod stats;

pub use stats::format_float;

use std::collections::HashMap;

use parking_lot::Mutex;
use tsdb_core::rollup::Bucket;
use tsdb_index::Labels;

use crate::ast::{Expr, Selector, Subquery, ValueType};
use crate::error::{Error, Result};
use crate::options::EngineOptions;
use annotations::Annotations;
use budget::Budget;
use pool::ReadPool;
use read::DynQuerier;
use span::SpanCtx;

/// Prometheus' staleness marker: a NaN with this bit pattern ends a series.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// True if `v` is a staleness marker.
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// The evaluation grid: `start, start + step, ..., end` in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Steps {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl Steps {
    // In i128: a grid may span the whole i64 range (the engine refuses such range
    // queries, but `@` and offsets can put a subquery's grid anywhere).
    pub fn len(&self) -> usize {
        let span = i128::from(self.end) - i128::from(self.start);
        usize::try_from(span / i128::from(self.step.max(1)) + 1).unwrap_or(usize::MAX)
    }

    pub fn time(&self, i: usize) -> i64 {
        let t = i128::from(self.start) + i as i128 * i128::from(self.step);
        i64::try_from(t).unwrap_or(i64::MAX)
    }

    pub fn index(&self, t: i64) -> usize {
        let offset = i128::from(t) - i128::from(self.start);
        usize::try_from(offset / i128::from(self.step.max(1))).unwrap_or(0)
    }

    pub fn times(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.time(i))
    }
}

/// An instant-vector-valued result over all steps: each series has at most one point per
/// step, stamped with the step's time.
#[derive(Debug, Clone)]
pub(crate) struct StepSeries {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// Raw samples of one series (a range vector's input).
#[derive(Debug, Clone)]
pub(crate) struct RawSeries {
    pub labels: Labels,
    pub ts: Vec<i64>,
    pub vs: Vec<f64>,
}

/// The value of a node over all steps.
#[derive(Debug)]
pub(crate) enum Val {
    /// One number per step.
    Scalar(Vec<f64>),
    /// An instant vector per step.
    Vector(Vec<StepSeries>),
    /// A range vector (only as a query's result or a range function's argument).
    Matrix(Vec<RawSeries>),
    /// A string.
    String(String),
}

/// How a range function reads its input: the window length, offset and `@` time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowSpec {
    pub range_ms: i64,
    pub offset_ms: i64,
    /// The resolved `@` time, which fixes the window for every step.
    pub at: Option<i64>,
}

impl WindowSpec {
    /// The window `(start, end]` evaluated at step time `t`.
    pub fn window(&self, t: i64) -> (i64, i64) {
        let end = self.at.unwrap_or(t).saturating_sub(self.offset_ms);
        (end.saturating_sub(self.range_ms), end)
    }
}

/// A range function's input, materialised: raw series and the window they are read
/// through.
pub(crate) struct RangeInput {
    pub series: Vec<RawSeries>,
    pub spec: WindowSpec,
}

/// The storage side of one query: its one querier and the range it was opened for.
#[derive(Clone, Copy)]
pub(crate) struct Snapshot<'a> {
    pub querier: &'a dyn DynQuerier,
    /// `[mint, maxt]` of the querier: the union of every window the query reads.
    pub range: (i64, i64),
}

/// One query's evaluation state: the storage, limits and counters.
pub(crate) struct Evaluator<'a> {
    /// `None` for a query that reads no series.
    snapshot: Option<Snapshot<'a>>,
    opts: &'a EngineOptions,
    pool: &'a ReadPool,
    /// The outer query's range (for `@ start()` and `@ end()`) and the window arithmetic
    /// shared with the computation of the querier's range.
    ctx: SpanCtx,
    budget: Budget,
    /// What the answer's caller is told beside it (rollups read, approximations).
    notes: Annotations,
}

impl<'a> Evaluator<'a> {
    pub fn new(
        snapshot: Option<Snapshot<'a>>,
        opts: &'a EngineOptions,
        pool: &'a ReadPool,
        ctx: SpanCtx,
        budget: Budget,
    ) -> Self {
        Evaluator {
            snapshot,
            opts,
            pool,
            ctx,
            budget,
            notes: Annotations::default(),
        }
    }

    /// The annotations gathered so far (the query's, once it is evaluated).
    pub fn take_notes(&mut self) -> Annotations {
        std::mem::take(&mut self.notes)
    }

    /// Adds what a selector's reading noted (rollups used, approximations).
    pub fn add_notes(&mut self, notes: Mutex<Annotations>) {
        self.notes.merge(&notes.into_inner());
    }

    /// Fails once the query was canceled or has run past the engine's timeout.
    pub fn check_deadline(&self) -> Result<()> {
        self.budget.check()
    }

    /// Counts `n` more samples held by the query against the engine's limit.
    pub fn charge_samples(&mut self, n: usize) -> Result<()> {
        self.budget.charge(n)
    }

    /// Evaluates `expr` at every step of `steps`.
    ///
    /// A thin dispatcher: it recurses once per level of the query, so it holds no
    /// temporaries of its own (an unoptimised build gives a frame room for every arm's),
    /// and the work of each node kind is in a function of its own.
    pub fn eval(&mut self, expr: &Expr, steps: Steps) -> Result<Val> {
        self.check_deadline()?;
        match expr {
            Expr::Number(_) | Expr::String(_) => Ok(literal(expr, steps)),
            Expr::Neg(inner) => self.negate(inner, steps),
            Expr::Selector(sel) => self.selector(sel, steps),
            Expr::Range(_) | Expr::Subquery(_) => self.matrix(expr, steps),
            Expr::Call(call) => functions::eval_call(self, call, steps),
            Expr::Aggregate(agg) => aggregate::eval(self, agg, steps),
            Expr::Binary(bin) => binary::eval(self, bin, steps),
        }
    }

    fn selector(&mut self, sel: &Selector, steps: Steps) -> Result<Val> {
        Ok(Val::Vector(self.vector_selector(sel, steps, false)?))
    }

    /// Unary minus.
    fn negate(&mut self, inner: &Expr, steps: Steps) -> Result<Val> {
        match self.eval(inner, steps)? {
            Val::Scalar(mut v) => {
                v.iter_mut().for_each(|x| *x = -*x);
                Ok(Val::Scalar(v))
            }
            Val::Vector(mut series) => {
                for s in &mut series {
                    s.points.iter_mut().for_each(|p| p.1 = -p.1);
                }
                Ok(Val::Vector(drop_names(series)?))
            }
            other => Err(type_error("unary minus", &other)),
        }
    }

    /// A range selector or subquery as a query's result (an instant query only).
    fn matrix(&mut self, expr: &Expr, steps: Steps) -> Result<Val> {
        if steps.len() != 1 {
            return Err(Error::Invalid(
                "a range vector cannot be the result of a range query; \
                 use an instant query or a function over it"
                    .into(),
            ));
        }
        let input = self.range_input(expr, steps)?;
        let (lo, hi) = input.spec.window(steps.start);
        let series = input
            .series
            .into_iter()
            .filter_map(|mut s| {
                let from = s.ts.partition_point(|&t| t <= lo);
                let to = s.ts.partition_point(|&t| t <= hi);
                s.ts = s.ts[from..to].to_vec();
                s.vs = s.vs[from..to].to_vec();
                (!s.ts.is_empty()).then_some(s)
            })
            .collect();
        Ok(Val::Matrix(series))
    }

    /// Evaluates an expression that must be a scalar (function and aggregation
    /// parameters).
    pub fn eval_scalar(&mut self, expr: &Expr, steps: Steps) -> Result<Vec<f64>> {
        match self.eval(expr, steps)? {
            Val::Scalar(v) => Ok(v),
            other => Err(type_error("expected a scalar", &other)),
        }
    }

    /// Evaluates an expression that must be an instant vector.
    pub fn eval_vector(&mut self, expr: &Expr, steps: Steps) -> Result<Vec<StepSeries>> {
        match self.eval(expr, steps)? {
            Val::Vector(v) => Ok(v),
            other => Err(type_error("expected an instant vector", &other)),
        }
    }

    /// Evaluates a string argument (it does not vary over steps).
    pub fn eval_string(&mut self, expr: &Expr, steps: Steps) -> Result<String> {
        match self.eval(expr, steps)? {
            Val::String(s) => Ok(s),
            other => Err(type_error("expected a string", &other)),
        }
    }

    /// Maps every series matching `sel` with samples in `[mint, maxt]` (staleness
    /// markers included) and its rollup buckets, if any, through `map`, on up to
    /// `EngineOptions::parallelism` threads, reading the query's one snapshot.
    fn map_series<T: Send>(
        &mut self,
        sel: &Selector,
        (mint, maxt): (i64, i64),
        max_resolution_ms: i64,
        map: impl Fn(&Labels, &[i64], &[f64], &[Bucket]) -> Option<T> + Sync,
    ) -> Result<Vec<T>> {
        if mint > maxt {
            return Ok(Vec::new());
        }
        // The querier's range is the union of the windows computed by the same
        // functions before evaluating: a window outside it is a bug in that
        // computation, which must not go unnoticed as a silently clipped answer.
        let snapshot = self
            .snapshot
            .filter(|s| s.range.0 <= mint && maxt <= s.range.1)
            .ok_or_else(|| {
                Error::Internal(format!(
                    "selector window [{mint}, {maxt}] outside the query's snapshot {:?}",
                    self.snapshot.map(|s| s.range)
                ))
            })?;
        let threads = self.opts.parallelism.max(1);
        let (pool, budget) = (self.pool, &self.budget);
        let mut out = Vec::new();
        snapshot.querier.with_select(
            (mint, maxt),
            &sel.matchers,
            max_resolution_ms,
            &mut |series| {
                out = read::map_series(series, threads, pool, budget, &map)?;
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// An instant vector selector: at each step, the newest sample within the lookback
    /// window `(t - lookback, t]`, unless it is a staleness marker
    /// (<https://github.com/prometheus/prometheus/blob/main/promql/engine.go>,
    /// `vectorSelectorSingle`). With `sample_time`, the value is the sample's own
    /// timestamp in seconds, which is what `timestamp(selector)` returns. A series with
    /// rollup buckets falls back to them where it has no raw sample (see
    /// [`rollup::instant_points`]).
    pub fn vector_selector(
        &mut self,
        sel: &Selector,
        steps: Steps,
        sample_time: bool,
    ) -> Result<Vec<StepSeries>> {
        let at = self.ctx.resolve_at(sel.at);
        let lookback = self.ctx.lookback_ms();
        let window = self.ctx.instant_window(sel, steps);
        let notes = Mutex::new(Annotations::default());
        let out = self.map_series(sel, window, 0, |labels, ts, vs, buckets| {
            if !buckets.is_empty() {
                let points = rollup::instant_points(
                    steps,
                    (at, sel.offset_ms, lookback),
                    sample_time,
                    (ts, vs),
                    buckets,
                    &notes,
                );
                return (!points.is_empty()).then(|| StepSeries {
                    labels: labels.clone(),
                    points,
                });
            }
            let mut points = Vec::new();
            let mut next = 0usize; // index of the first sample after the reference time
            for t in steps.times() {
                let reference = at.unwrap_or(t).saturating_sub(sel.offset_ms);
                // Steps are usually far apart compared to samples: jump, don't walk.
                if ts.get(next).is_some_and(|&x| x <= reference) {
                    next += ts[next..].partition_point(|&x| x <= reference);
                }
                if next == 0 {
                    continue;
                }
                let (st, sv) = (ts[next - 1], vs[next - 1]);
                if st <= reference.saturating_sub(lookback) || is_stale_nan(sv) {
                    continue;
                }
                let v = if sample_time { st as f64 / 1000.0 } else { sv };
                points.push((t, v));
            }
            (!points.is_empty()).then(|| StepSeries {
                labels: labels.clone(),
                points,
            })
        })?;
        self.add_notes(notes);
        Ok(out)
    }

    /// Maps the input of a range function series by series: a range selector's raw
    /// samples (staleness markers dropped) and rollup buckets straight from storage, or a
    /// subquery's results (no buckets). `map` gets the window the series are read
    /// through.
    ///
    /// `exact_from_rollups`: the function is answered exactly from rollups whose buckets
    /// its windows and steps are made of, so a range selector may read the coarsest such
    /// rollups in place of raw data ([`aligned_resolution`]).
    pub fn map_range_series<T: Send>(
        &mut self,
        expr: &Expr,
        steps: Steps,
        exact_from_rollups: bool,
        map: impl Fn(WindowSpec, &Labels, &[i64], &[f64], &[Bucket]) -> Option<T> + Sync,
    ) -> Result<(WindowSpec, Vec<T>)> {
        match expr {
            Expr::Range(rs) => {
                let sel = &rs.selector;
                let spec = WindowSpec {
                    range_ms: rs.range_ms,
                    offset_ms: sel.offset_ms,
                    at: self.ctx.resolve_at(sel.at),
                };
                let window = self.ctx.range_window(rs, steps);
                let resolution = if exact_from_rollups {
                    aligned_resolution(spec, steps)
                } else {
                    0
                };
                let out = self.map_series(sel, window, resolution, |labels, ts, vs, buckets| {
                    if !vs.iter().any(|v| is_stale_nan(*v)) {
                        return map(spec, labels, ts, vs, buckets);
                    }
                    let (fresh_ts, fresh_vs): (Vec<i64>, Vec<f64>) = ts
                        .iter()
                        .zip(vs)
                        .filter(|(_, v)| !is_stale_nan(**v))
                        .map(|(&t, &v)| (t, v))
                        .unzip();
                    map(spec, labels, &fresh_ts, &fresh_vs, buckets)
                })?;
                Ok((spec, out))
            }
            Expr::Subquery(sq) => {
                let input = self.subquery(sq, steps)?;
                let mut out = Vec::with_capacity(input.series.len());
                for s in &input.series {
                    self.check_deadline()?;
                    out.extend(map(input.spec, &s.labels, &s.ts, &s.vs, &[]));
                }
                Ok((input.spec, out))
            }
            other => Err(Error::Invalid(format!(
                "expected a range vector, got {}",
                other.value_type()
            ))),
        }
    }

    /// The input of a range vector returned as an instant query's result, materialised.
    /// Rollup buckets become one sample each, their last, before the raw samples; the
    /// buckets whose sample falls in the window at `steps.start` are noted.
    pub fn range_input(&mut self, expr: &Expr, steps: Steps) -> Result<RangeInput> {
        let notes = Mutex::new(Annotations::default());
        let (spec, series) =
            self.map_range_series(expr, steps, false, |spec, labels, ts, vs, buckets| {
                let mut s = RawSeries {
                    labels: labels.clone(),
                    ts: Vec::with_capacity(buckets.len() + ts.len()),
                    vs: Vec::with_capacity(buckets.len() + vs.len()),
                };
                let (lo, hi) = spec.window(steps.start);
                for b in buckets {
                    s.ts.push(b.agg.last_t);
                    s.vs.push(b.agg.last_v);
                    if b.agg.last_t > lo && b.agg.last_t <= hi {
                        let mut n = notes.lock();
                        n.read_rollup(b.resolution_ms, b.start(), b.end);
                        n.approximated(annotations::RANGE_VECTOR);
                    }
                }
                s.ts.extend_from_slice(ts);
                s.vs.extend_from_slice(vs);
                Some(s)
            })?;
        self.add_notes(notes);
        Ok(RangeInput { series, spec })
    }

    /// Evaluates a subquery's inner expression at its own steps, aligned to multiples of
    /// the subquery step as Prometheus does (`case *parser.SubqueryExpr` in engine.go).
    fn subquery(&mut self, sq: &Subquery, steps: Steps) -> Result<RangeInput> {
        let at = self.ctx.resolve_at(sq.at);
        let mut series = Vec::new();
        if let Some(inner_steps) = self.ctx.subquery_steps(sq, steps) {
            // Every inner step holds at least a number: refuse a subquery whose step count
            // alone is over the limit before allocating for it.
            self.charge_samples(inner_steps.len())?;
            match self.eval(&sq.expr, inner_steps)? {
                Val::Scalar(values) => {
                    let ts: Vec<i64> = inner_steps.times().collect();
                    self.charge_samples(ts.len())?;
                    series.push(RawSeries {
                        labels: Labels::empty(),
                        ts,
                        vs: values,
                    });
                }
                Val::Vector(vector) => {
                    for s in vector {
                        self.charge_samples(s.points.len())?;
                        let (ts, vs) = s.points.into_iter().unzip();
                        series.push(RawSeries {
                            labels: s.labels,
                            ts,
                            vs,
                        });
                    }
                }
                other => return Err(type_error("subquery", &other)),
            }
        }
        Ok(RangeInput {
            series,
            spec: WindowSpec {
                range_ms: sq.range_ms,
                offset_ms: sq.offset_ms,
                at,
            },
        })
    }
}

/// A number or string literal at every step.
fn literal(expr: &Expr, steps: Steps) -> Val {
    match expr {
        Expr::String(s) => Val::String(s.clone()),
        Expr::Number(n) => Val::Scalar(vec![*n; steps.len()]),
        _ => Val::Scalar(vec![f64::NAN; steps.len()]),
    }
}

pub(crate) fn type_error(context: &str, got: &Val) -> Error {
    let t = match got {
        Val::Scalar(_) => ValueType::Scalar,
        Val::Vector(_) => ValueType::Vector,
        Val::Matrix(_) => ValueType::Matrix,
        Val::String(_) => ValueType::String,
    };
    Error::Invalid(format!("{context}: unexpected {t}"))
}

/// Drops `__name__` from every series, failing if that makes two series at one step the
/// same.
pub(crate) fn drop_names(series: Vec<StepSeries>) -> Result<Vec<StepSeries>> {
    let mut dropped = false;
    let series: Vec<StepSeries> = series
        .into_iter()
        .map(|mut s| {
            if s.labels.get(labels::METRIC_NAME).is_some() {
                s.labels = labels::drop_name(&s.labels);
                dropped = true;
            }
            s
        })
        .collect();
    if dropped {
        merge_same_labels(series)
    } else {
        Ok(series)
    }
}

/// Groups series by label set, merging points. Two points of the same labels at one step
/// is Prometheus' "vector cannot contain metrics with the same labelset" error.
pub(crate) fn merge_same_labels(series: Vec<StepSeries>) -> Result<Vec<StepSeries>> {
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(series.len());
    let mut out: Vec<StepSeries> = Vec::with_capacity(series.len());
    let mut merged_any = false;
    for s in series {
        match index.get(&s.labels) {
            Some(&i) => {
                merged_any = true;
                out[i].points.extend(s.points);
            }
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    if merged_any {
        for s in &mut out {
            s.points.sort_by_key(|p| p.0);
            if s.points.windows(2).any(|w| w[0].0 == w[1].0) {
                return Err(Error::Execution(format!(
                    "vector cannot contain metrics with the same labelset: {}",
                    s.labels
                )));
            }
        }
    }
    Ok(out)
}

/// Collects per-step output samples into series keyed by label set.
pub(crate) struct SeriesBuilder {
    index: HashMap<Labels, usize>,
    out: Vec<StepSeries>,
}

impl SeriesBuilder {
    pub fn new() -> Self {
        SeriesBuilder {
            index: HashMap::new(),
            out: Vec::new(),
        }
    }

    /// The output series for `labels`, created empty the first time.
    pub fn slot(&mut self, labels: &Labels) -> usize {
        if let Some(&i) = self.index.get(labels) {
            return i;
        }
        self.index.insert(labels.clone(), self.out.len());
        self.out.push(StepSeries {
            labels: labels.clone(),
            points: Vec::new(),
        });
        self.out.len() - 1
    }

    /// Adds a point to the series of `slot`; steps must be pushed in time order.
    pub fn push_slot(&mut self, slot: usize, t: i64, v: f64) -> Result<()> {
        let Some(series) = self.out.get_mut(slot) else {
            return Err(Error::Execution("internal: unknown output series".into()));
        };
        if series.points.last().is_some_and(|p| p.0 == t) {
            return Err(Error::Execution(format!(
                "vector cannot contain metrics with the same labelset: {}",
                series.labels
            )));
        }
        series.points.push((t, v));
        Ok(())
    }

    /// Adds a point; steps must be pushed in time order.
    pub fn push(&mut self, labels: &Labels, t: i64, v: f64) -> Result<()> {
        let slot = self.slot(labels);
        self.push_slot(slot, t, v)
    }

    /// The series, dropping any that got no point.
    pub fn finish(self) -> Vec<StepSeries> {
        self.out
            .into_iter()
            .filter(|s| !s.points.is_empty())
            .collect()
    }
}

/// Lays a vector-valued input out by step: for each step, the (series index, value) pairs
/// present at that step.
pub(crate) fn by_step(series: &[StepSeries], steps: Steps) -> Vec<Vec<(usize, f64)>> {
    let mut out: Vec<Vec<(usize, f64)>> = vec![Vec::new(); steps.len()];
    for (i, s) in series.iter().enumerate() {
        for &(t, v) in &s.points {
            out[steps.index(t)].push((i, v));
        }
    }
    out
}

/// The largest bucket width that every window `(t - range, t]` of `spec` at `steps` is
/// made of whole buckets of: the greatest common divisor of the range, the step and the
/// first window's end (buckets end at multiples of their width). Any resolution dividing
/// it answers the exact range functions as the raw samples do.
pub(crate) fn aligned_resolution(spec: WindowSpec, steps: Steps) -> i64 {
    fn gcd(mut a: i64, mut b: i64) -> i64 {
        (a, b) = (a.abs(), b.abs());
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }
    let first_end = spec.window(steps.start).1;
    let mut g = gcd(spec.range_ms, first_end);
    if spec.at.is_none() && steps.len() > 1 {
        g = gcd(g, steps.step);
    }
    g
}
