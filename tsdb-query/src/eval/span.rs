//! The time windows a query reads: each selector's, and their union, the range of the
//! query's one querier (Prometheus' `FindMinMaxTime` in `promql/engine.go`).
//!
//! The evaluator computes every selector's window with the same functions, so the union
//! computed before evaluation covers every window the evaluation asks for, exactly.

use crate::ast::{At, Expr, RangeSelector, Selector, Subquery};
use crate::eval::Steps;
use crate::options::EngineOptions;

/// What a window depends on besides the expression: the outer query's range (for
/// `@ start()` and `@ end()`), the lookback delta and the default subquery step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpanCtx {
    pub query_start: i64,
    pub query_end: i64,
    lookback_ms: i64,
    default_subquery_step_ms: i64,
}

impl SpanCtx {
    pub fn new(opts: &EngineOptions, query_start: i64, query_end: i64) -> SpanCtx {
        SpanCtx {
            query_start,
            query_end,
            lookback_ms: opts.lookback_ms(),
            default_subquery_step_ms: opts.default_subquery_step_ms,
        }
    }

    /// The lookback delta in effect.
    pub fn lookback_ms(&self) -> i64 {
        self.lookback_ms
    }

    /// An `@` modifier's time.
    pub fn resolve_at(&self, at: Option<At>) -> Option<i64> {
        at.map(|a| match a {
            At::Time(t) => t,
            At::Start => self.query_start,
            At::End => self.query_end,
        })
    }

    /// The samples an instant selector reads at `steps`: `(t − lookback, t]` around each
    /// reference time (step or `@` time, minus the offset), as `[mint, maxt]`.
    pub fn instant_window(&self, sel: &Selector, steps: Steps) -> (i64, i64) {
        let (lo, hi) = reference_range(self.resolve_at(sel.at), sel.offset_ms, steps);
        (lo.saturating_sub(self.lookback_ms).saturating_add(1), hi)
    }

    /// The samples a range selector reads at `steps`: `(t − range, t]` around each
    /// reference time, as `[mint, maxt]`.
    pub fn range_window(&self, rs: &RangeSelector, steps: Steps) -> (i64, i64) {
        let sel = &rs.selector;
        let (lo, hi) = reference_range(self.resolve_at(sel.at), sel.offset_ms, steps);
        (lo.saturating_sub(rs.range_ms).saturating_add(1), hi)
    }

    /// A subquery's inner steps at outer `steps`, aligned to multiples of the subquery
    /// step as Prometheus does (`case *parser.SubqueryExpr` in engine.go); `None` when no
    /// step falls in the window.
    pub fn subquery_steps(&self, sq: &Subquery, steps: Steps) -> Option<Steps> {
        let interval = sq.step_ms.unwrap_or(self.default_subquery_step_ms).max(1);
        let (outer_start, outer_end) = match self.resolve_at(sq.at) {
            Some(a) => (a, a),
            None => (steps.start, steps.end),
        };
        let lowest = outer_start
            .saturating_sub(sq.offset_ms)
            .saturating_sub(sq.range_ms);
        // The first multiple of the step after `lowest`: windows are left-open.
        let mut start = interval * (lowest / interval);
        if start <= lowest {
            start = start.saturating_add(interval);
        }
        let end = outer_end.saturating_sub(sq.offset_ms);
        (start <= end).then_some(Steps {
            start,
            end,
            step: interval,
        })
    }

    /// The union `[mint, maxt]` of every window the evaluation of `expr` at `steps`
    /// reads, or `None` if it reads no series. Recursive: call it on trees whose depth
    /// was checked (`nesting::check_expr`).
    pub fn read_range(&self, expr: &Expr, steps: Steps) -> Option<(i64, i64)> {
        let union = |a: Option<(i64, i64)>, b: Option<(i64, i64)>| match (a, b) {
            (Some((a0, a1)), Some((b0, b1))) => Some((a0.min(b0), a1.max(b1))),
            (a, None) => a,
            (None, b) => b,
        };
        let window = |(mint, maxt): (i64, i64)| (mint <= maxt).then_some((mint, maxt));
        match expr {
            Expr::Number(_) | Expr::String(_) => None,
            Expr::Neg(inner) => self.read_range(inner, steps),
            Expr::Selector(sel) => window(self.instant_window(sel, steps)),
            Expr::Range(rs) => window(self.range_window(rs, steps)),
            Expr::Subquery(sq) => self
                .subquery_steps(sq, steps)
                .and_then(|inner| self.read_range(&sq.expr, inner)),
            Expr::Call(call) => call
                .args
                .iter()
                .fold(None, |acc, a| union(acc, self.read_range(a, steps))),
            Expr::Aggregate(agg) => union(
                agg.param.as_ref().and_then(|p| self.read_range(p, steps)),
                self.read_range(&agg.expr, steps),
            ),
            Expr::Binary(bin) => union(
                self.read_range(&bin.lhs, steps),
                self.read_range(&bin.rhs, steps),
            ),
        }
    }
}

/// The range of reference times (step or `@` time, minus the offset) of a selector.
fn reference_range(at: Option<i64>, offset_ms: i64, steps: Steps) -> (i64, i64) {
    match at {
        Some(a) => (a.saturating_sub(offset_ms), a.saturating_sub(offset_ms)),
        None => (
            steps.start.saturating_sub(offset_ms),
            steps.end.saturating_sub(offset_ms),
        ),
    }
}
