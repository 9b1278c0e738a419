//! Typed query operators: build the same [`Expr`] trees the parser builds, without query
//! text, and run them with [`Engine::instant`](crate::Engine::instant) or
//! [`Engine::range`](crate::Engine::range).
//!
//! ```
//! use std::time::Duration;
//! use tsdb_index::Matcher;
//! use tsdb_query::builder::{metric, select};
//!
//! // sum by (service) (rate(http_requests_total{code=~"5.."}[5m]))
//! let errors = select([Matcher::equal("__name__", "http_requests_total"), Matcher::regex("code", "5..").unwrap()])
//!     .range(Duration::from_secs(300))
//!     .rate()
//!     .sum_by(["service"]);
//! // ... divided by all requests, matched on service.
//! let ratio = errors / metric("http_requests_total").range(Duration::from_secs(300)).rate().sum_by(["service"]);
//! assert_eq!(
//!     ratio.to_string(),
//!     r#"(sum by (service) (rate(http_requests_total{code=~"5.."}[5m])) / sum by (service) (rate(http_requests_total[5m])))"#
//! );
//! ```

use std::fmt;
use std::time::Duration;

use tsdb_index::{MatchOp, Matcher};

use crate::ast::{
    Aggregate, AggregateOp, At, Binary, BinaryOp, Call, Cardinality, Expr, Function, Grouping,
    RangeSelector, Selector, Subquery, VectorMatching,
};

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// An instant vector selector from label matchers.
pub fn select(matchers: impl IntoIterator<Item = Matcher>) -> Expr {
    Expr::Selector(Selector {
        matchers: matchers.into_iter().collect(),
        offset_ms: 0,
        at: None,
    })
}

/// All series of one metric: `name`.
pub fn metric(name: &str) -> Expr {
    select([Matcher::equal("__name__", name)])
}

/// A number.
pub fn num(v: f64) -> Expr {
    Expr::Number(v)
}

/// A function call with explicit arguments (for functions without a method here).
pub fn call(func: Function, args: Vec<Expr>) -> Expr {
    Expr::Call(Call { func, args })
}

impl Expr {
    /// `expr[d]`: a range selector for a selector, a subquery at the default step
    /// otherwise.
    pub fn range(self, d: Duration) -> Expr {
        match self {
            Expr::Selector(selector) => Expr::Range(RangeSelector {
                selector,
                range_ms: ms(d),
            }),
            other => Expr::Subquery(Box::new(Subquery {
                expr: other,
                range_ms: ms(d),
                step_ms: None,
                offset_ms: 0,
                at: None,
            })),
        }
    }

    /// `expr[range:step]`: a subquery.
    pub fn subquery(self, range: Duration, step: Duration) -> Expr {
        Expr::Subquery(Box::new(Subquery {
            expr: self,
            range_ms: ms(range),
            step_ms: Some(ms(step)),
            offset_ms: 0,
            at: None,
        }))
    }

    /// `offset d` on a selector or subquery (ignored on other expressions).
    pub fn offset(mut self, d: Duration) -> Expr {
        match &mut self {
            Expr::Selector(s) => s.offset_ms = ms(d),
            Expr::Range(r) => r.selector.offset_ms = ms(d),
            Expr::Subquery(s) => s.offset_ms = ms(d),
            _ => {}
        }
        self
    }

    /// `@ t` (milliseconds) on a selector or subquery (ignored on other expressions).
    pub fn at(mut self, t_ms: i64) -> Expr {
        match &mut self {
            Expr::Selector(s) => s.at = Some(At::Time(t_ms)),
            Expr::Range(r) => r.selector.at = Some(At::Time(t_ms)),
            Expr::Subquery(s) => s.at = Some(At::Time(t_ms)),
            _ => {}
        }
        self
    }

    /// Applies a one-argument function: `func(self)`.
    pub fn apply(self, func: Function) -> Expr {
        call(func, vec![self])
    }

    /// `rate(self)`; `self` must be a range.
    pub fn rate(self) -> Expr {
        self.apply(Function::Rate)
    }

    /// `irate(self)`.
    pub fn irate(self) -> Expr {
        self.apply(Function::Irate)
    }

    /// `increase(self)`.
    pub fn increase(self) -> Expr {
        self.apply(Function::Increase)
    }

    /// `delta(self)`.
    pub fn delta(self) -> Expr {
        self.apply(Function::Delta)
    }

    /// `deriv(self)`.
    pub fn deriv(self) -> Expr {
        self.apply(Function::Deriv)
    }

    /// `avg_over_time(self)`: the windowed moving average.
    pub fn avg_over_time(self) -> Expr {
        self.apply(Function::AvgOverTime)
    }

    /// `max_over_time(self)`.
    pub fn max_over_time(self) -> Expr {
        self.apply(Function::MaxOverTime)
    }

    /// `min_over_time(self)`.
    pub fn min_over_time(self) -> Expr {
        self.apply(Function::MinOverTime)
    }

    /// `sum_over_time(self)`.
    pub fn sum_over_time(self) -> Expr {
        self.apply(Function::SumOverTime)
    }

    /// `last_over_time(self)`.
    pub fn last_over_time(self) -> Expr {
        self.apply(Function::LastOverTime)
    }

    /// `quantile_over_time(q, self)`.
    pub fn quantile_over_time(self, q: f64) -> Expr {
        call(Function::QuantileOverTime, vec![num(q), self])
    }

    /// `ema_over_time(self, alpha)`: exponential moving average over the window, each
    /// sample weighted `alpha` against the average so far.
    pub fn ema_over_time(self, alpha: f64) -> Expr {
        call(Function::EmaOverTime, vec![self, num(alpha)])
    }

    /// `histogram_quantile(q, self)`.
    pub fn histogram_quantile(self, q: f64) -> Expr {
        call(Function::HistogramQuantile, vec![num(q), self])
    }

    /// An aggregation with explicit grouping and parameter.
    pub fn aggregate(self, op: AggregateOp, grouping: Grouping, param: Option<Expr>) -> Expr {
        Expr::Aggregate(Box::new(Aggregate {
            op,
            param,
            grouping,
            expr: self,
        }))
    }

    /// `sum(self)`.
    pub fn sum(self) -> Expr {
        self.aggregate(AggregateOp::Sum, Grouping::By(Vec::new()), None)
    }

    /// `sum by (labels) (self)`.
    pub fn sum_by<S: Into<String>>(self, labels: impl IntoIterator<Item = S>) -> Expr {
        self.aggregate(AggregateOp::Sum, by(labels), None)
    }

    /// `sum without (labels) (self)`.
    pub fn sum_without<S: Into<String>>(self, labels: impl IntoIterator<Item = S>) -> Expr {
        let labels = labels.into_iter().map(Into::into).collect();
        self.aggregate(AggregateOp::Sum, Grouping::Without(labels), None)
    }

    /// `avg by (labels) (self)`.
    pub fn avg_by<S: Into<String>>(self, labels: impl IntoIterator<Item = S>) -> Expr {
        self.aggregate(AggregateOp::Avg, by(labels), None)
    }

    /// `max by (labels) (self)`.
    pub fn max_by<S: Into<String>>(self, labels: impl IntoIterator<Item = S>) -> Expr {
        self.aggregate(AggregateOp::Max, by(labels), None)
    }

    /// `min by (labels) (self)`.
    pub fn min_by<S: Into<String>>(self, labels: impl IntoIterator<Item = S>) -> Expr {
        self.aggregate(AggregateOp::Min, by(labels), None)
    }

    /// `count by (labels) (self)`.
    pub fn count_by<S: Into<String>>(self, labels: impl IntoIterator<Item = S>) -> Expr {
        self.aggregate(AggregateOp::Count, by(labels), None)
    }

    /// `topk(k, self)`.
    pub fn topk(self, k: f64) -> Expr {
        self.aggregate(AggregateOp::Topk, Grouping::By(Vec::new()), Some(num(k)))
    }

    /// `bottomk(k, self)`.
    pub fn bottomk(self, k: f64) -> Expr {
        self.aggregate(AggregateOp::Bottomk, Grouping::By(Vec::new()), Some(num(k)))
    }

    /// A binary operation with explicit vector matching.
    pub fn binary(self, op: BinaryOp, rhs: Expr, matching: VectorMatching) -> Expr {
        let mut matching = matching;
        if op.is_set() {
            matching.card = Cardinality::ManyToMany;
        }
        Expr::Binary(Box::new(Binary {
            op,
            lhs: self,
            rhs,
            return_bool: false,
            matching,
        }))
    }

    /// `self > rhs` (filtering).
    pub fn gt(self, rhs: Expr) -> Expr {
        self.binary(BinaryOp::Gt, rhs, VectorMatching::default())
    }

    /// `self < rhs` (filtering).
    pub fn lt(self, rhs: Expr) -> Expr {
        self.binary(BinaryOp::Lt, rhs, VectorMatching::default())
    }

    /// `self and rhs`.
    pub fn and(self, rhs: Expr) -> Expr {
        self.binary(BinaryOp::And, rhs, VectorMatching::default())
    }

    /// `self or rhs`.
    pub fn or(self, rhs: Expr) -> Expr {
        self.binary(BinaryOp::Or, rhs, VectorMatching::default())
    }

    /// `self unless rhs`.
    pub fn unless(self, rhs: Expr) -> Expr {
        self.binary(BinaryOp::Unless, rhs, VectorMatching::default())
    }
}

fn by<S: Into<String>>(labels: impl IntoIterator<Item = S>) -> Grouping {
    Grouping::By(labels.into_iter().map(Into::into).collect())
}

macro_rules! arith {
    ($trait:ident, $method:ident, $op:ident) => {
        impl std::ops::$trait for Expr {
            type Output = Expr;
            fn $method(self, rhs: Expr) -> Expr {
                self.binary(BinaryOp::$op, rhs, VectorMatching::default())
            }
        }
    };
}
arith!(Add, add, Add);
arith!(Sub, sub, Sub);
arith!(Mul, mul, Mul);
arith!(Div, div, Div);

/// Prints an expression as PromQL that parses back to the same tree.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(n) => write_number(f, *n),
            Expr::String(s) => write!(f, "{s:?}"),
            Expr::Selector(s) => write_selector(f, s),
            Expr::Range(r) => {
                write_selector_body(f, &r.selector)?;
                write!(f, "[{}]", duration(r.range_ms))?;
                write_modifiers(f, r.selector.offset_ms, r.selector.at)
            }
            Expr::Subquery(s) => {
                write!(f, "({})[{}:", s.expr, duration(s.range_ms))?;
                if let Some(step) = s.step_ms {
                    f.write_str(&duration(step))?;
                }
                f.write_str("]")?;
                write_modifiers(f, s.offset_ms, s.at)
            }
            Expr::Call(c) => {
                write!(f, "{}(", c.func.name())?;
                for (i, a) in c.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            Expr::Aggregate(a) => {
                f.write_str(a.op.name())?;
                match &a.grouping {
                    Grouping::By(l) if l.is_empty() => {}
                    Grouping::By(l) => write!(f, " by ({})", l.join(", "))?,
                    Grouping::Without(l) => write!(f, " without ({})", l.join(", "))?,
                }
                f.write_str(" (")?;
                if let Some(p) = &a.param {
                    write!(f, "{p}, ")?;
                }
                write!(f, "{})", a.expr)
            }
            Expr::Binary(b) => {
                write!(f, "({} {}", b.lhs, b.op.symbol())?;
                if b.return_bool {
                    f.write_str(" bool")?;
                }
                let m = &b.matching;
                if m.on || !m.labels.is_empty() {
                    let kw = if m.on { "on" } else { "ignoring" };
                    write!(f, " {kw} ({})", m.labels.join(", "))?;
                }
                match m.card {
                    Cardinality::ManyToOne => write!(f, " group_left ({})", m.include.join(", "))?,
                    Cardinality::OneToMany => write!(f, " group_right ({})", m.include.join(", "))?,
                    _ => {}
                }
                write!(f, " {})", b.rhs)
            }
            Expr::Neg(e) => write!(f, "-({e})"),
        }
    }
}

fn write_number(f: &mut fmt::Formatter<'_>, n: f64) -> fmt::Result {
    if n.is_nan() {
        f.write_str("NaN")
    } else if n.is_infinite() {
        f.write_str(if n > 0.0 { "Inf" } else { "-Inf" })
    } else {
        write!(f, "{n}")
    }
}

fn write_selector(f: &mut fmt::Formatter<'_>, s: &Selector) -> fmt::Result {
    write_selector_body(f, s)?;
    write_modifiers(f, s.offset_ms, s.at)
}

fn write_selector_body(f: &mut fmt::Formatter<'_>, s: &Selector) -> fmt::Result {
    let name = s
        .matchers
        .iter()
        .find(|m| m.name() == "__name__" && m.op() == MatchOp::Equal)
        .map(|m| m.value().to_string());
    let rest: Vec<&Matcher> = s
        .matchers
        .iter()
        .filter(|m| !(name.is_some() && m.name() == "__name__" && m.op() == MatchOp::Equal))
        .collect();
    if let Some(n) = &name {
        f.write_str(n)?;
    }
    if rest.is_empty() && name.is_some() {
        return Ok(());
    }
    f.write_str("{")?;
    for (i, m) in rest.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        let op = match m.op() {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        };
        write!(f, "{}{op}{:?}", m.name(), m.value())?;
    }
    f.write_str("}")
}

fn write_modifiers(f: &mut fmt::Formatter<'_>, offset_ms: i64, at: Option<At>) -> fmt::Result {
    if offset_ms != 0 {
        let sign = if offset_ms < 0 { "-" } else { "" };
        write!(f, " offset {sign}{}", duration(offset_ms.abs()))?;
    }
    match at {
        Some(At::Time(t)) => write!(f, " @ {}.{:03}", t.div_euclid(1000), t.rem_euclid(1000)),
        Some(At::Start) => f.write_str(" @ start()"),
        Some(At::End) => f.write_str(" @ end()"),
        None => Ok(()),
    }
}

/// A duration in PromQL notation (`1h30m`, `250ms`).
fn duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, len) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if rest >= len {
            out.push_str(&format!("{}{unit}", rest / len));
            rest %= len;
        }
    }
    out
}
