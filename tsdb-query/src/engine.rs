//! The query engine: the instant and range entry points over any [`Queryable`].

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use tsdb_index::Labels;

use crate::ast::{AggregateOp, Expr, Function, ValueType};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::eval::annotations::Annotations;
use crate::eval::budget::Budget;
use crate::eval::pool::ReadPool;
use crate::eval::span::SpanCtx;
use crate::eval::{Evaluator, Snapshot, Steps, Val};
use crate::nesting;
use crate::options::EngineOptions;
use crate::parse::parse;
use crate::storage::Queryable;
use crate::value::{InstantSample, Point, Series, Value};

/// Evaluates PromQL (text or [`Expr`] trees) against a [`Queryable`] storage, such as a
/// [`tsdb_core::Db`].
///
/// Each query opens one querier of the storage for its whole time range, so all its
/// selectors read one consistent snapshot. Clones share the engine's reading threads (see
/// [`EngineOptions::parallelism`]): make one engine and clone it where it is needed.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tsdb_core::{Db, Options};
/// use tsdb_index::Labels;
/// use tsdb_query::{Engine, Value};
///
/// let dir = tempfile::tempdir()?;
/// let db = Db::open(dir.path(), Options::default())?;
/// let series = Labels::new([("__name__", "requests_total"), ("service", "api")])?;
/// for i in 0..10 {
///     db.append(&series, i * 15_000, (i * 30) as f64)?;
/// }
/// let engine = Engine::default();
/// let Value::Vector(v) = engine.instant_query(&db, "rate(requests_total[1m])", 135_000)? else {
///     unreachable!()
/// };
/// assert!((v[0].v - 2.0).abs() < 1e-12); // 30 per 15 s
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Engine {
    options: EngineOptions,
    pool: Arc<ReadPool>,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(EngineOptions::default())
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with the given options. No thread starts until a query needs one.
    pub fn new(options: EngineOptions) -> Engine {
        let pool = Arc::new(ReadPool::new(options.parallelism.saturating_sub(1)));
        Engine { options, pool }
    }

    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Parses and evaluates `query` at `time_ms`, like Prometheus' `/api/v1/query`.
    pub fn instant_query<Q: Queryable + ?Sized>(
        &self,
        storage: &Q,
        query: &str,
        time_ms: i64,
    ) -> Result<Value> {
        self.instant(storage, &parse(query)?, time_ms)
    }

    /// Parses and evaluates `query` at every step of `[start_ms, end_ms]`, like
    /// Prometheus' `/api/v1/query_range`. The result is always a matrix.
    pub fn range_query<Q: Queryable + ?Sized>(
        &self,
        storage: &Q,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Value> {
        self.range(storage, &parse(query)?, start_ms, end_ms, step_ms)
    }

    /// Evaluates an expression tree at `time_ms`.
    pub fn instant<Q: Queryable + ?Sized>(
        &self,
        storage: &Q,
        expr: &Expr,
        time_ms: i64,
    ) -> Result<Value> {
        Ok(self.instant_inner(storage, expr, time_ms, None)?.0)
    }

    /// [`Engine::instant`], stopped with [`Error::Canceled`] once `cancel` is canceled.
    pub fn instant_cancelable<Q: Queryable + ?Sized>(
        &self,
        storage: &Q,
        expr: &Expr,
        time_ms: i64,
        cancel: &CancelToken,
    ) -> Result<Value> {
        Ok(self.instant_inner(storage, expr, time_ms, Some(cancel))?.0)
    }

    /// [`Engine::instant`] (stopped once `cancel` is canceled, when given) with the
    /// answer's [`Annotations`]: which rollups it read, which functions it approximated
    /// from them (Prometheus 3's `infos`).
    pub fn instant_annotated<Q: Queryable + ?Sized>(
        &self,
        storage: &Q,
        expr: &Expr,
        time_ms: i64,
        cancel: Option<&CancelToken>,
    ) -> Result<(Value, Annotations)> {
        self.instant_inner(storage, expr, time_ms, cancel)
    }

    /// Evaluates an expression tree at every step of `[start_ms, end_ms]`.
    pub fn range<Q: Queryable + ?Sized>(
        &self,
        storage: &Q,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Value> {
        Ok(self
            .range_inner(storage, expr, (start_ms, end_ms, step_ms), None)?
            .0)
    }

    /// [`Engine::range`], stopped with [`Error::Canceled`] once `cancel` is canceled.
    pub fn range_cancelable<Q: Queryable + ?Sized>(
        &self,
        storage: &Q,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        cancel: &CancelToken,
    ) -> Result<Value> {
        Ok(self
            .range_inner(storage, expr, (start_ms, end_ms, step_ms), Some(cancel))?
            .0)
    }

    /// [`Engine::range`] (stopped once `cancel` is canceled, when given) with the
    /// answer's [`Annotations`], as [`Engine::instant_annotated`].
    pub fn range_annotated<Q: Queryable + ?Sized>(
        &self,
        storage: &Q,
        expr: &Expr,
        (start_ms, end_ms, step_ms): (i64, i64, i64),
        cancel: Option<&CancelToken>,
    ) -> Result<(Value, Annotations)> {
        self.range_inner(storage, expr, (start_ms, end_ms, step_ms), cancel)
    }

    /// Evaluates `expr` (whose depth was checked) at `steps`: opens the query's one querier over
    /// the union of the windows it reads, and evaluates. A panic in the evaluator (a bug)
    /// becomes [`Error::Internal`] rather than unwinding into the caller.
    fn evaluate<Q: Queryable + ?Sized>(
        &self,
        storage: &Q,
        expr: &Expr,
        steps: Steps,
        cancel: Option<&CancelToken>,
    ) -> Result<(Val, Annotations)> {
        let budget = Budget::new(
            self.options.timeout,
            self.options.max_samples,
            cancel.cloned(),
        );
        budget.check()?;
        let ctx = SpanCtx::new(&self.options, steps.start, steps.end);
        let range = ctx.read_range(expr, steps);
        let querier = match range {
            Some((mint, maxt)) => Some(storage.querier(mint, maxt).map_err(Error::Storage)?),
            None => None,
        };
        let snapshot = match (&querier, range) {
            (Some(q), Some(range)) => Some(Snapshot { querier: q, range }),
            _ => None,
        };
        let mut ev = Evaluator::new(snapshot, &self.options, &self.pool, ctx, budget);
        let val =
            catch_unwind(AssertUnwindSafe(|| ev.eval(expr, steps))).unwrap_or_else(|panic| {
                Err(Error::Internal(format!(
                    "query evaluation panicked: {}",
                    crate::error::panic_message(panic.as_ref())
                )))
            })?;
        Ok((val, ev.take_notes()))
    }

    fn instant_inner<Q: Queryable + ?Sized>(
        &self,
        storage: &Q,
        expr: &Expr,
        time_ms: i64,
        cancel: Option<&CancelToken>,
    ) -> Result<(Value, Annotations)> {
        // First: everything after this may recurse over the tree.
        nesting::check_expr(expr)?;
        let steps = Steps {
            start: time_ms,
            end: time_ms,
            step: 1,
        };
        let (val, notes) = self.evaluate(storage, expr, steps, cancel)?;
        let value = match val {
            Val::Scalar(v) => Value::Scalar {
                t: time_ms,
                v: v.first().copied().unwrap_or(f64::NAN),
            },
            Val::String(s) => Value::String { t: time_ms, s },
            Val::Vector(series) => {
                let mut samples: Vec<InstantSample> = series
                    .into_iter()
                    .filter_map(|s| {
                        s.points.first().map(|&(_, v)| InstantSample {
                            labels: s.labels,
                            t: time_ms,
                            v,
                        })
                    })
                    .collect();
                order_instant(expr, &mut samples);
                Value::Vector(samples)
            }
            Val::Matrix(raw) => {
                let mut series: Vec<Series> = raw
                    .into_iter()
                    .map(|s| Series {
                        labels: s.labels,
                        points: s
                            .ts
                            .into_iter()
                            .zip(s.vs)
                            .map(|(t, v)| Point { t, v })
                            .collect(),
                    })
                    .collect();
                series.sort_by(|a, b| a.labels.cmp(&b.labels));
                Value::Matrix(series)
            }
        };
        Ok((value, notes))
    }

    fn range_inner<Q: Queryable + ?Sized>(
        &self,
        storage: &Q,
        expr: &Expr,
        (start_ms, end_ms, step_ms): (i64, i64, i64),
        cancel: Option<&CancelToken>,
    ) -> Result<(Value, Annotations)> {
        // First: everything after this may recurse over the tree.
        nesting::check_expr(expr)?;
        if step_ms <= 0 {
            return Err(Error::Invalid(
                "zero or negative query resolution step widths are not accepted".into(),
            ));
        }
        if end_ms < start_ms {
            return Err(Error::Invalid(
                "end timestamp must not be before start time".into(),
            ));
        }
        let steps = Steps {
            start: start_ms,
            end: end_ms,
            step: step_ms,
        };
        let Some(span) = end_ms.checked_sub(start_ms) else {
            return Err(Error::Invalid("the query's time range is too long".into()));
        };
        if span / step_ms > self.options.max_steps as i64 {
            return Err(Error::Invalid(format!(
                "exceeded maximum resolution of {} points per timeseries. Try decreasing the \
                 query resolution (?step=XX)",
                self.options.max_steps
            )));
        }
        match expr.value_type() {
            ValueType::Scalar | ValueType::Vector => {}
            other => {
                return Err(Error::Invalid(format!(
                    "invalid expression type \"{other}\" for range query, must be Scalar or \
                     instant Vector"
                )))
            }
        }
        let (val, notes) = self.evaluate(storage, expr, steps, cancel)?;
        let mut series = match val {
            Val::Scalar(values) => vec![Series {
                labels: Labels::empty(),
                points: steps
                    .times()
                    .zip(values)
                    .map(|(t, v)| Point { t, v })
                    .collect(),
            }],
            Val::Vector(series) => series
                .into_iter()
                .filter(|s| !s.points.is_empty())
                .map(|s| Series {
                    labels: s.labels,
                    points: s.points.into_iter().map(|(t, v)| Point { t, v }).collect(),
                })
                .collect(),
            Val::String(_) | Val::Matrix(_) => {
                return Err(Error::Invalid(
                    "range queries must return a scalar or an instant vector".into(),
                ))
            }
        };
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok((Value::Matrix(series), notes))
    }
}

/// Orders an instant vector: by value for a top-level `sort`/`sort_desc` (NaN last, as
/// Prometheus' `funcSort`); a top-level `topk`/`bottomk` as the aggregation left it (by
/// group, each group by value), as Prometheus returns it; otherwise by labels so results
/// are deterministic.
fn order_instant(expr: &Expr, samples: &mut [InstantSample]) {
    let by_value = |desc: bool| {
        move |a: &InstantSample, b: &InstantSample| {
            match (a.v.is_nan(), b.v.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ if desc => b.v.total_cmp(&a.v),
                _ => a.v.total_cmp(&b.v),
            }
            .then_with(|| a.labels.cmp(&b.labels))
        }
    };
    match expr {
        Expr::Call(c) if c.func == Function::Sort => samples.sort_by(by_value(false)),
        Expr::Call(c) if c.func == Function::SortDesc => samples.sort_by(by_value(true)),
        Expr::Aggregate(a) if matches!(a.op, AggregateOp::Topk | AggregateOp::Bottomk) => {}
        _ => samples.sort_by(|a, b| a.labels.cmp(&b.labels)),
    }
}
