//! One alerting rule (Prometheus's `rules/alerting.go`, 2.42 with `keep_firing_for`):
//! its active alerts and their inactive → pending → firing → resolved states, the
//! `ALERTS` and `ALERTS_FOR_STATE` samples, and which alerts to send when
//! (`needsSending`, `sendAlerts`).

use std::collections::BTreeMap;

use tsdb_query::ast::Expr;

use crate::rule::{EvalError, RuleQuery, RuleStatus};
use crate::rulefile::RuleSpec;
use crate::template::{QuerySample, Template, TemplateData, TemplateError};
use crate::util::{set_label, table_link_for_expression, LabelMap};

/// How long a resolved alert is kept (and sent as resolved): Prometheus's
/// `resolvedRetention`.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// The state of one alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    /// Neither pending nor firing (resolved alerts kept for sending).
    Inactive,
    /// Active for less than `for`.
    Pending,
    /// Active for `for` or longer.
    Firing,
}

impl AlertState {
    /// `inactive`, `pending`, `firing`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of a rule (Prometheus's `rules.Alert`). Times are milliseconds on the
/// evaluation clock; `None` is Go's zero time.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// State.
    pub state: AlertState,
    /// The alert's labels (the result's labels without `__name__`, the rule's labels
    /// expanded, `alertname`).
    pub labels: LabelMap,
    /// The annotations, expanded.
    pub annotations: LabelMap,
    /// The expression's value at the last evaluation.
    pub value: f64,
    /// Since when the condition holds.
    pub active_at: i64,
    /// When it started firing.
    pub fired_at: Option<i64>,
    /// When it was resolved.
    pub resolved_at: Option<i64>,
    /// When it was last sent.
    pub last_sent_at: Option<i64>,
    /// The `endsAt` of the last send of a firing alert.
    pub valid_until: Option<i64>,
    /// Since when it has been kept firing by `keep_firing_for` without the condition.
    pub keep_firing_since: Option<i64>,
}

impl Alert {
    /// Prometheus's `needsSending`.
    fn needs_sending(&self, t: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        // An alert resolved since the last send is sent again.
        if let Some(resolved) = self.resolved_at {
            if self.last_sent_at.is_none_or(|sent| resolved > sent) {
                return true;
            }
        }
        match self.last_sent_at {
            None => true,
            Some(sent) => sent.saturating_add(resend_delay_ms) < t,
        }
    }
}

/// An alert as sent to Alertmanager (Prometheus's `notifier.Alert`, its
/// `POST /api/v2/alerts` body element). Times in milliseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct NotifierAlert {
    /// Labels (external labels are the notifier's to add).
    pub labels: LabelMap,
    /// Annotations.
    pub annotations: LabelMap,
    /// `startsAt`: when the alert fired (Go's zero time, `None`, if it never did).
    pub starts_at: Option<i64>,
    /// `endsAt`: the resolution time, or for a firing alert `t + 4 × max(resend_delay,
    /// interval)`.
    pub ends_at: Option<i64>,
    /// `generatorURL`: the external URL and the expression's graph link.
    pub generator_url: String,
}

impl NotifierAlert {
    /// The alert with the external labels it does not carry itself added, the first step
    /// of Prometheus's `notifier.Manager.Send` (before alert relabelling).
    pub fn with_external_labels(mut self, external: &LabelMap) -> NotifierAlert {
        for (k, v) in external {
            if self.labels.get(k).is_none_or(|x| x.is_empty()) {
                set_label(&mut self.labels, k, v.clone());
            }
        }
        self
    }
}

/// One alerting rule and its alerts.
pub struct AlertingRule {
    pub(crate) spec: RuleSpec,
    expr: Expr,
    query_text: String,
    label_templates: Vec<(String, Template)>,
    annotation_templates: Vec<(String, Template)>,
    /// Active alerts by their label set (Prometheus keys them by its hash).
    pub(crate) active: BTreeMap<LabelMap, Alert>,
    /// Whether the `for` state was restored (`ALERTS*` samples are written only then).
    pub(crate) restored: bool,
    pub(crate) status: RuleStatus,
}

impl std::fmt::Debug for AlertingRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertingRule")
            .field("spec", &self.spec)
            .field("active", &self.active)
            .field("restored", &self.restored)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// What the templates see besides the alert.
#[derive(Clone, Debug, Default)]
pub struct TemplateEnv {
    /// `$externalLabels`.
    pub external_labels: LabelMap,
    /// `$externalURL`.
    pub external_url: String,
}

impl AlertingRule {
    /// Builds the rule from its spec: the expression parsed, templates parsed.
    pub fn new(spec: RuleSpec, restored: bool) -> Result<AlertingRule, String> {
        let expr = tsdb_query::parse(&spec.expr).map_err(|e| e.to_string())?;
        let query_text = tsdb_query::format(&spec.expr).map_err(|e| e.to_string())?;
        let name = format!("__alert_{}", spec.name);
        let parse = |m: &BTreeMap<String, String>| -> Result<Vec<(String, Template)>, String> {
            m.iter()
                .map(|(k, v)| {
                    Template::parse(&name, v)
                        .map(|t| (k.clone(), t))
                        .map_err(|e| format!("{k:?}: {e}"))
                })
                .collect()
        };
        let label_templates = parse(&spec.labels)?;
        let annotation_templates = parse(&spec.annotations)?;
        Ok(AlertingRule {
            spec,
            expr,
            query_text,
            label_templates,
            annotation_templates,
            active: BTreeMap::new(),
            restored,
            status: RuleStatus::default(),
        })
    }

    /// The alert name.
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

    /// Whether the `for` state has been restored.
    pub fn restored(&self) -> bool {
        self.restored
    }

    /// Every alert held, resolved ones (kept for sending) included, by label set.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    /// The active (unresolved) alerts: Prometheus's `ActiveAlerts`.
    pub fn active_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.active.values().filter(|a| a.resolved_at.is_none())
    }

    /// The highest state of the rule's alerts.
    pub fn state(&self) -> AlertState {
        self.active
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
    }

    /// Prometheus's `AlertingRule.Eval` at `t` (the group's evaluation time), the query
    /// run at `t - query_offset`: updates the alerts and returns the `ALERTS` and
    /// `ALERTS_FOR_STATE` samples to write (as label maps with `__name__`, value), stamped
    /// `t - query_offset`.
    pub fn eval(
        &mut self,
        t: i64,
        query_offset_ms: i64,
        query: &dyn RuleQuery,
        env: &TemplateEnv,
        limit: usize,
    ) -> Result<Vec<(LabelMap, i64, f64)>, EvalError> {
        let res = query.query_expr(&self.expr, t.saturating_sub(query_offset_ms))?;
        let mut alerts: BTreeMap<LabelMap, Alert> = BTreeMap::new();
        for (metric, value) in res {
            let data = TemplateData {
                labels: &metric,
                external_labels: &env.external_labels,
                external_url: &env.external_url,
                value,
            };
            let mut template_query = |q: &str| -> Result<Vec<QuerySample>, String> {
                query
                    .query_text(q, t)
                    .map(|v| {
                        v.into_iter()
                            .map(|(labels, value)| QuerySample { labels, value })
                            .collect()
                    })
                    .map_err(|e| e.to_string())
            };
            let mut expand = |tmpl: &Template| match tmpl.expand(&data, &mut template_query) {
                Ok(s) => s,
                Err(e) => expansion_error(&e),
            };
            let mut lbs = metric.clone();
            lbs.remove("__name__");
            for (k, tmpl) in &self.label_templates {
                let v = expand(tmpl);
                set_label(&mut lbs, k, v);
            }
            set_label(&mut lbs, "alertname", self.spec.name.clone());
            let mut annotations = LabelMap::new();
            for (k, tmpl) in &self.annotation_templates {
                annotations.insert(k.clone(), expand(tmpl));
            }
            if alerts.contains_key(&lbs) {
                return Err(EvalError::DuplicateAlerts);
            }
            alerts.insert(
                lbs.clone(),
                Alert {
                    state: AlertState::Pending,
                    labels: lbs,
                    annotations,
                    value,
                    active_at: t,
                    fired_at: None,
                    resolved_at: None,
                    last_sent_at: None,
                    valid_until: None,
                    keep_firing_since: None,
                },
            );
        }

        let result_fps: Vec<LabelMap> = alerts.keys().cloned().collect();
        for (h, a) in alerts {
            // An alert already held (and not inactive) keeps its state; value and
            // annotations are updated.
            if let Some(existing) = self.active.get_mut(&h) {
                if existing.state != AlertState::Inactive {
                    existing.value = a.value;
                    existing.annotations = a.annotations;
                    continue;
                }
            }
            self.active.insert(h, a);
        }

        let hold = self.spec.for_ms;
        let keep_for = self.spec.keep_firing_for_ms;
        let mut vec = Vec::new();
        let mut num_active_pending = 0usize;
        let mut delete = Vec::new();
        for (fp, a) in self.active.iter_mut() {
            if result_fps.binary_search(fp).is_err() {
                // The condition no longer holds for this alert.
                let mut keep_firing = false;
                if a.state == AlertState::Firing && keep_for > 0 {
                    let since = *a.keep_firing_since.get_or_insert(t);
                    if t.saturating_sub(since) < keep_for {
                        keep_firing = true;
                    }
                }
                // A resolved alert is kept for `resolvedRetention` so it is sent as such.
                if a.state == AlertState::Pending
                    || a.resolved_at
                        .is_some_and(|r| t.saturating_sub(r) > RESOLVED_RETENTION_MS)
                {
                    delete.push(fp.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(t);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = None;
            }
            num_active_pending += 1;
            if a.state == AlertState::Pending && t.saturating_sub(a.active_at) >= hold {
                a.state = AlertState::Firing;
                a.fired_at = Some(t);
            }
            if self.restored {
                let ts = t.saturating_sub(query_offset_ms);
                vec.push((Self::alert_sample(&self.spec, a), ts, 1.0));
                vec.push((
                    Self::for_state_series(&self.spec, a),
                    ts,
                    a.active_at.div_euclid(1000) as f64,
                ));
            }
        }
        for fp in delete {
            self.active.remove(&fp);
        }
        if limit > 0 && num_active_pending > limit {
            self.active.clear();
            return Err(EvalError::Limit {
                limit,
                count: num_active_pending,
                what: "alerts",
            });
        }
        Ok(vec)
    }

    /// The `ALERTS` series of an alert: the rule's labels (unexpanded), the alert's over
    /// them, `__name__`, `alertname`, `alertstate`.
    fn alert_sample(spec: &RuleSpec, a: &Alert) -> LabelMap {
        let mut lb = Self::for_state_series(spec, a);
        set_label(&mut lb, "__name__", "ALERTS".into());
        set_label(&mut lb, "alertstate", a.state.as_str().into());
        lb
    }

    /// The `ALERTS_FOR_STATE` series of an alert (its value is `active_at` in seconds).
    pub(crate) fn for_state_labels(&self, a: &Alert) -> LabelMap {
        Self::for_state_series(&self.spec, a)
    }

    fn for_state_series(spec: &RuleSpec, a: &Alert) -> LabelMap {
        let mut lb = spec.labels.clone();
        for (k, v) in &a.labels {
            set_label(&mut lb, k, v.clone());
        }
        set_label(&mut lb, "__name__", "ALERTS_FOR_STATE".into());
        set_label(&mut lb, "alertname", spec.name.clone());
        lb
    }

    /// Prometheus's `sendAlerts` at `t`: the alerts due (`needsSending`), marked sent,
    /// firing ones valid until `t + 4 × max(resend_delay, interval)`.
    pub fn alerts_to_send(
        &mut self,
        t: i64,
        resend_delay_ms: i64,
        interval_ms: i64,
        external_url: &str,
    ) -> Vec<NotifierAlert> {
        let generator_url = format!(
            "{external_url}{}",
            table_link_for_expression(&self.query_text)
        );
        let delta = resend_delay_ms.max(interval_ms);
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if !a.needs_sending(t, resend_delay_ms) {
                continue;
            }
            a.last_sent_at = Some(t);
            a.valid_until = Some(t.saturating_add(delta.saturating_mul(4)));
            out.push(NotifierAlert {
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: a.fired_at,
                ends_at: a.resolved_at.or(a.valid_until),
                generator_url: generator_url.clone(),
            });
        }
        out
    }
}

/// The text an annotation or label takes when its template fails, as Prometheus.
fn expansion_error(e: &TemplateError) -> String {
    format!("<error expanding template: {e}>")
}
