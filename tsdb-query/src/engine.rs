//! The query engine: limits, instant and range queries over a [`Db`].

use std::time::Duration;

use tsdb_core::Db;
use tsdb_index::Labels;

use crate::ast::{AggregateOp, Expr, Function, ValueType};
use crate::error::{Error, Result};
use crate::eval::{Evaluator, Steps, Val};
use crate::parse::parse;
use crate::value::{InstantSample, Point, Series, Value};

/// Prometheus' default lookback delta, 5 minutes.
pub const DEFAULT_LOOKBACK_DELTA_MS: i64 = 5 * 60 * 1000;

/// Settings of an [`Engine`]. Defaults are Prometheus' server defaults.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (Prometheus
    /// `--query.lookback-delta`, 5 minutes; 0 means that default, as in Prometheus).
    pub lookback_delta_ms: i64,
    /// The most samples one query may load or produce (Prometheus `--query.max-samples`,
    /// 50 million).
    pub max_samples: usize,
    /// How long one query may run (Prometheus `--query.timeout`, 2 minutes).
    pub timeout: Duration,
    /// The step of a subquery written without one, `expr[30m:]` (Prometheus: the global
    /// evaluation interval, 1 minute by default).
    pub default_subquery_step_ms: i64,
    /// Threads one query may use to read and decode a selector's series (only when each
    /// gets 64+ chunks to decode). Default: the machine's cores, at most 4; 1 reads on
    /// the caller's thread only.
    pub parallelism: usize,
    /// The most `(end − start) / step` a range query may have: Prometheus refuses a query
    /// above 11,000 (so it allows 11,001 points).
    pub max_steps: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: DEFAULT_LOOKBACK_DELTA_MS,
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            default_subquery_step_ms: 60_000,
            max_steps: 11_000,
            parallelism: std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
        }
    }
}

/// Evaluates PromQL (text or [`Expr`] trees) against a [`Db`].
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
#[derive(Debug, Clone, Default)]
pub struct Engine {
    options: EngineOptions,
}

impl Engine {
    /// An engine with the given options.
    pub fn new(options: EngineOptions) -> Engine {
        Engine { options }
    }

    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Parses and evaluates `query` at `time_ms`, like Prometheus' `/api/v1/query`.
    pub fn instant_query(&self, db: &Db, query: &str, time_ms: i64) -> Result<Value> {
        self.instant(db, &parse(query)?, time_ms)
    }

    /// Parses and evaluates `query` at every step of `[start_ms, end_ms]`, like
    /// Prometheus' `/api/v1/query_range`. The result is always a matrix.
    pub fn range_query(
        &self,
        db: &Db,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Value> {
        self.range(db, &parse(query)?, start_ms, end_ms, step_ms)
    }

    /// Evaluates an expression tree at `time_ms`.
    pub fn instant(&self, db: &Db, expr: &Expr, time_ms: i64) -> Result<Value> {
        let steps = Steps {
            start: time_ms,
            end: time_ms,
            step: 1,
        };
        let mut ev = Evaluator::new(db, &self.options, time_ms, time_ms);
        let val = ev.eval(expr, steps)?;
        Ok(match val {
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
        })
    }

    /// Evaluates an expression tree at every step of `[start_ms, end_ms]`.
    pub fn range(
        &self,
        db: &Db,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Value> {
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
        let mut ev = Evaluator::new(db, &self.options, start_ms, end_ms);
        let val = ev.eval(expr, steps)?;
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
        Ok(Value::Matrix(series))
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
