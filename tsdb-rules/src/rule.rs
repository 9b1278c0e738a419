//! What recording and alerting rules share: the query they run, their health and last
//! error, and the typed errors of an evaluation.

use std::time::Duration;

use tsdb_query::{ast::Expr, Engine, Queryable, Value};

use crate::util::{to_map, LabelMap};

/// A rule's health after its last evaluation, as `/api/v1/rules` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Health {
    /// Not evaluated yet.
    #[default]
    Unknown,
    /// The last evaluation succeeded.
    Good,
    /// The last evaluation failed.
    Bad,
}

impl Health {
    /// Prometheus's name: `unknown`, `ok`, `err`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Good => "ok",
            Health::Bad => "err",
        }
    }
}

/// The state of a rule's last evaluation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleStatus {
    /// Health.
    pub health: Health,
    /// The last evaluation's error, if it failed.
    pub last_error: Option<String>,
    /// The evaluation time of the last evaluation (the caller's clock, ms), if any.
    pub last_evaluation_ms: Option<i64>,
    /// How long the last evaluation took (wall time).
    pub evaluation_duration: Duration,
}

/// Why a rule's evaluation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The query failed (its error text as the engine gives it).
    #[error("{0}")]
    Query(String),
    /// The result is neither a vector nor a scalar.
    #[error("rule result is not a vector or scalar")]
    NotAVector,
    /// A recording rule's result has two series with the same labels once the rule's
    /// labels are applied.
    #[error("vector contains metrics with the same labelset after applying rule labels")]
    DuplicateSeries,
    /// An alerting rule's result has two alerts with the same labels.
    #[error("vector contains metrics with the same labelset after applying alert labels")]
    DuplicateAlerts,
    /// The group's `limit` was exceeded (`what` is `alerts` or `series`).
    #[error("exceeded limit of {limit} with {count} {what}")]
    Limit {
        /// The limit.
        limit: usize,
        /// How many there were.
        count: usize,
        /// `alerts` or `series`.
        what: &'static str,
    },
    /// Appending the results failed.
    #[error("{0}")]
    Append(String),
}

/// Runs the instant queries of rules and templates (Prometheus's `QueryFunc`): a vector
/// result as it is, a scalar as one sample without labels.
pub trait RuleQuery {
    /// Evaluates a parsed expression at `t_ms`.
    fn query_expr(&self, expr: &Expr, t_ms: i64) -> Result<Vec<(LabelMap, f64)>, EvalError>;
    /// Parses and evaluates `text` at `t_ms` (the `query` template function).
    fn query_text(&self, text: &str, t_ms: i64) -> Result<Vec<(LabelMap, f64)>, EvalError> {
        let expr = tsdb_query::parse(text).map_err(|e| EvalError::Query(e.to_string()))?;
        self.query_expr(&expr, t_ms)
    }
}

/// [`RuleQuery`] over an engine and any storage.
pub struct EngineQuery<'a, Q: Queryable + ?Sized> {
    /// The engine.
    pub engine: &'a Engine,
    /// The storage.
    pub storage: &'a Q,
}

impl<Q: Queryable + ?Sized> RuleQuery for EngineQuery<'_, Q> {
    fn query_expr(&self, expr: &Expr, t_ms: i64) -> Result<Vec<(LabelMap, f64)>, EvalError> {
        match self.engine.instant(self.storage, expr, t_ms) {
            Ok(Value::Vector(v)) => Ok(v.into_iter().map(|s| (to_map(&s.labels), s.v)).collect()),
            Ok(Value::Scalar { v, .. }) => Ok(vec![(LabelMap::new(), v)]),
            Ok(_) => Err(EvalError::NotAVector),
            Err(e) => Err(EvalError::Query(e.to_string())),
        }
    }
}
