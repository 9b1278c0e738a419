//! One recording rule (Prometheus's `rules/recording.go`): the expression's result renamed
//! to the rule's name, the rule's labels set over it.

use tsdb_query::ast::Expr;

use crate::rule::{EvalError, RuleQuery, RuleStatus};
use crate::rulefile::RuleSpec;
use crate::util::{set_label, LabelMap};

/// One recording rule.
#[derive(Debug)]
pub struct RecordingRule {
    pub(crate) spec: RuleSpec,
    expr: Expr,
    query_text: String,
    pub(crate) status: RuleStatus,
}

impl RecordingRule {
    /// Builds the rule from its spec (the expression parsed).
    pub fn new(spec: RuleSpec) -> Result<RecordingRule, String> {
        let expr = tsdb_query::parse(&spec.expr).map_err(|e| e.to_string())?;
        let query_text = tsdb_query::format(&spec.expr).map_err(|e| e.to_string())?;
        Ok(RecordingRule {
            spec,
            expr,
            query_text,
            status: RuleStatus::default(),
        })
    }

    /// The recorded metric name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The rule as written.
    pub fn spec(&self) -> &RuleSpec {
        &self.spec
    }

    /// The expression as Prometheus prints it.
    pub fn query(&self) -> &str {
        &self.query_text
    }

    /// Health and last evaluation.
    pub fn status(&self) -> &RuleStatus {
        &self.status
    }

    /// Prometheus's `RecordingRule.Eval`: the query at `t` (already shifted by the
    /// group's query offset), each sample renamed and relabelled; a duplicate label set
    /// or more series than `limit` (when not 0) is an error.
    pub fn eval(
        &self,
        t: i64,
        query: &dyn RuleQuery,
        limit: usize,
    ) -> Result<Vec<(LabelMap, i64, f64)>, EvalError> {
        let vector = query.query_expr(&self.expr, t)?;
        let mut out: Vec<(LabelMap, i64, f64)> = Vec::with_capacity(vector.len());
        for (mut metric, v) in vector {
            set_label(&mut metric, "__name__", self.spec.name.clone());
            for (k, val) in &self.spec.labels {
                set_label(&mut metric, k, val.clone());
            }
            out.push((metric, t, v));
        }
        let mut seen: Vec<&LabelMap> = out.iter().map(|(l, _, _)| l).collect();
        seen.sort();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            return Err(EvalError::DuplicateSeries);
        }
        if limit > 0 && out.len() > limit {
            return Err(EvalError::Limit {
                limit,
                count: out.len(),
                what: "series",
            });
        }
        Ok(out)
    }
}
