//! The engine's settings, in a module of their own so that the engine (which owns them)
//! and the evaluator (which reads them) both depend on it and not on each other.

use std::time::Duration;

/// Prometheus' default lookback delta, 5 minutes.
pub const DEFAULT_LOOKBACK_DELTA_MS: i64 = 5 * 60 * 1000;

/// Settings of an [`Engine`](crate::Engine). Defaults are Prometheus' server defaults.
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
    /// Threads that read and decode a selector's series (only when each gets 64+ chunks
    /// to decode): the query's own thread and up to `parallelism − 1` threads of a pool
    /// that every query of the engine and of its clones shares, so concurrent queries
    /// never start more than that many reading threads in all. The pool is started by
    /// the first query that needs it. Default: the machine's cores, at most 4; 1 reads on
    /// the caller's thread only and starts no pool.
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

impl EngineOptions {
    /// The lookback delta in effect: as in Prometheus, 0 (or less) means the default.
    pub(crate) fn lookback_ms(&self) -> i64 {
        match self.lookback_delta_ms {
            l if l > 0 => l,
            _ => DEFAULT_LOOKBACK_DELTA_MS,
        }
    }
}
