//! The text of notifications: Alertmanager's template data (`.Status`, `.GroupLabels`…),
//! its default templates (`__subject`, `__text_alert_list`, `email.default.html`…)
//! written in Rust, and the configurable fields (PagerDuty's `description`, email
//! `headers`…) as a small subset of Go's template language.
//!
//! A configured field is literal text with `{{ … }}` actions from a fixed list: the
//! data's fields (`.Status`, `.Receiver`, `.ExternalURL`, `.GroupLabels.NAME`,
//! `.CommonLabels.NAME`, `.CommonAnnotations.NAME`), the counts (`.Alerts | len`,
//! `.Alerts.Firing | len`, `.Alerts.Resolved | len`), `.Status | toUpper`, and
//! `template "NAME" .` of the default templates (with `.Alerts.Firing` or
//! `.Alerts.Resolved` for the alert lists). Anything else is refused when the
//! configuration loads, naming the action: Alertmanager's full template language (range,
//! if, custom template files) is not implemented.

use crate::model::{fingerprint, rfc3339, Alert, LabelSet, Notification};

/// One alert as templates see it (Alertmanager's `template.Alert`).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertData {
    /// `firing` or `resolved` at flush time.
    pub status: &'static str,
    /// Its labels.
    pub labels: LabelSet,
    /// Its annotations.
    pub annotations: LabelSet,
    /// RFC 3339 start.
    pub starts_at: String,
    /// RFC 3339 end (Go's zero time when open).
    pub ends_at: String,
    /// The link back to the rule.
    pub generator_url: String,
    /// Sixteen hex digits.
    pub fingerprint: String,
}

/// What templates render (Alertmanager's `template.Data`), for the alerts one
/// integration sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    /// The receiver's name.
    pub receiver: String,
    /// `firing` if any alert fires, else `resolved`.
    pub status: &'static str,
    /// The alerts sent.
    pub alerts: Vec<AlertData>,
    /// The group's labels.
    pub group_labels: LabelSet,
    /// Labels shared by every alert sent.
    pub common_labels: LabelSet,
    /// Annotations shared by every alert sent.
    pub common_annotations: LabelSet,
    /// The manager's external URL.
    pub external_url: String,
}

impl Data {
    /// The data of `alerts` (a subset of `n`'s: resolved ones left out, or truncated) for
    /// `n`'s group.
    pub fn new(n: &Notification, alerts: &[Alert]) -> Data {
        let view = Notification {
            alerts: alerts.to_vec(),
            ..n.clone()
        };
        let at = n.flushed_at_ms;
        Data {
            receiver: n.receiver.clone(),
            status: view.status(),
            alerts: alerts
                .iter()
                .map(|a| AlertData {
                    status: if a.is_resolved_at(at) {
                        "resolved"
                    } else {
                        "firing"
                    },
                    labels: a.labels.clone(),
                    annotations: a.annotations.clone(),
                    starts_at: rfc3339(Some(a.starts_at_ms)),
                    ends_at: rfc3339(a.ends_at_ms),
                    generator_url: a.generator_url.clone(),
                    fingerprint: fingerprint(&a.labels).to_string(),
                })
                .collect(),
            group_labels: n.group_labels.clone(),
            common_labels: view.common_labels(),
            common_annotations: view.common_annotations(),
            external_url: n.external_url.clone(),
        }
    }

    /// The firing alerts.
    pub fn firing(&self) -> impl Iterator<Item = &AlertData> {
        self.alerts.iter().filter(|a| a.status == "firing")
    }

    /// The resolved alerts.
    pub fn resolved(&self) -> impl Iterator<Item = &AlertData> {
        self.alerts.iter().filter(|a| a.status == "resolved")
    }

    /// Alertmanager's `__subject`: `[FIRING:2] group values (other common values)`, with
    /// its trailing space when there is nothing in parentheses, exactly as Alertmanager
    /// renders it.
    pub fn subject(&self) -> String {
        let mut s = format!("[{}", self.status.to_uppercase());
        if self.status == "firing" {
            s.push_str(&format!(":{}", self.firing().count()));
        }
        s.push_str("] ");
        s.push_str(&join_values(self.group_labels.values()));
        s.push(' ');
        if self.common_labels.len() > self.group_labels.len() {
            let rest = self
                .common_labels
                .iter()
                .filter(|(k, _)| !self.group_labels.contains_key(*k))
                .map(|(_, v)| v);
            s.push('(');
            s.push_str(&join_values(rest));
            s.push(')');
        }
        s
    }

    /// Alertmanager's `__alertmanagerURL`: the manager's alerts page for the receiver.
    pub fn alertmanager_url(&self) -> String {
        format!(
            "{}/#/alerts?receiver={}",
            self.external_url,
            query_escape(&self.receiver)
        )
    }

    /// The plain-text body of an email: the subject line, then the firing and resolved
    /// alerts as Alertmanager's `__text_alert_list`, and the link to the manager.
    pub fn email_text(&self) -> String {
        let mut s = self.subject();
        s.push_str("\n\n");
        let firing: Vec<&AlertData> = self.firing().collect();
        let resolved: Vec<&AlertData> = self.resolved().collect();
        if !firing.is_empty() {
            s.push_str(&format!("Alerts Firing:\n{}", text_alert_list(&firing)));
        }
        if !resolved.is_empty() {
            s.push_str(&format!("Alerts Resolved:\n{}", text_alert_list(&resolved)));
        }
        s.push_str(&format!(
            "\nView in Alertmanager: {}\n",
            self.alertmanager_url()
        ));
        s
    }

    /// The HTML body of an email, close to Alertmanager's `email.default.html`: a
    /// heading with the count, and each alert's labels, annotations and source link.
    pub fn email_html(&self) -> String {
        let mut s = String::from("<!DOCTYPE html>\n<html><head><meta charset=\"UTF-8\"><title>");
        s.push_str(&html_escape(&self.subject()));
        s.push_str("</title></head>\n<body style=\"font-family: Helvetica, Arial, sans-serif\">\n");
        let nf = self.firing().count();
        let nr = self.resolved().count();
        let (color, heading) = if self.status == "firing" {
            (
                "#E6522C",
                format!(
                    "{} alert{} for {}",
                    nf,
                    if nf == 1 { "" } else { "s" },
                    html_escape(&join_pairs(&self.group_labels))
                ),
            )
        } else {
            (
                "#68B90F",
                format!(
                    "{} alert{} resolved for {}",
                    nr,
                    if nr == 1 { "" } else { "s" },
                    html_escape(&join_pairs(&self.group_labels))
                ),
            )
        };
        s.push_str(&format!(
            "<table width=\"100%\"><tr><td style=\"background-color:{color};color:#fff;padding:20px\">{heading}</td></tr>\n"
        ));
        s.push_str(&format!(
            "<tr><td style=\"padding:20px\"><a href=\"{}\">View in Alertmanager</a></td></tr>\n",
            html_escape(&self.alertmanager_url())
        ));
        for (title, list) in [
            ("Firing", self.firing().collect::<Vec<_>>()),
            ("Resolved", self.resolved().collect::<Vec<_>>()),
        ] {
            if list.is_empty() {
                continue;
            }
            s.push_str(&format!(
                "<tr><td style=\"padding:0 20px\"><strong>[{}] {title}</strong></td></tr>\n",
                list.len()
            ));
            for a in list {
                s.push_str("<tr><td style=\"padding:10px 20px;border-bottom:1px solid #eee\">\n<strong>Labels</strong><br />\n");
                for (k, v) in &a.labels {
                    s.push_str(&format!("{} = {}<br />\n", html_escape(k), html_escape(v)));
                }
                if !a.annotations.is_empty() {
                    s.push_str("<strong>Annotations</strong><br />\n");
                    for (k, v) in &a.annotations {
                        s.push_str(&format!("{} = {}<br />\n", html_escape(k), html_escape(v)));
                    }
                }
                s.push_str(&format!(
                    "<a href=\"{}\">Source</a><br />\n</td></tr>\n",
                    html_escape(&a.generator_url)
                ));
            }
        }
        s.push_str("</table>\n<p style=\"color:#999;font-size:12px\">Sent by tsdb-alert</p>\n</body></html>\n");
        s
    }
}

fn join_values<'a>(values: impl Iterator<Item = &'a String>) -> String {
    values.map(String::as_str).collect::<Vec<_>>().join(" ")
}

fn join_pairs(set: &LabelSet) -> String {
    set.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Alertmanager's `__text_alert_list`.
pub fn text_alert_list(alerts: &[&AlertData]) -> String {
    let mut s = String::new();
    for a in alerts {
        s.push_str("Labels:\n");
        for (k, v) in &a.labels {
            s.push_str(&format!(" - {k} = {v}\n"));
        }
        s.push_str("Annotations:\n");
        for (k, v) in &a.annotations {
            s.push_str(&format!(" - {k} = {v}\n"));
        }
        s.push_str(&format!("Source: {}\n", a.generator_url));
    }
    s
}

/// Go's `url.QueryEscape`: unreserved bytes kept, space as `+`, the rest `%XX`.
fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// HTML text and attribute escaping (Go's `html/template` escapes the same five).
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A template action that is not in the supported list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{` without its `}}`.
    #[error("unclosed action in template {0:?}")]
    Unclosed(String),
    /// An action outside the supported subset.
    #[error("unsupported template action {{{{ {0} }}}} (supported: .Status, .Receiver, .ExternalURL, .GroupLabels.X, .CommonLabels.X, .CommonAnnotations.X, counts with | len, and the default templates)")]
    Unsupported(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Status,
    StatusUpper,
    Receiver,
    ExternalUrl,
    GroupLabel(String),
    CommonLabel(String),
    CommonAnnotation(String),
    CountAll,
    CountFiring,
    CountResolved,
    Subject,
    AlertmanagerUrl,
    Alertmanager,
    EmailHtml,
    EmailText,
    ListFiring,
    ListResolved,
    ListAll,
}

/// A parsed configurable field.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(Vec<Part>);

impl Template {
    /// Parses `text`, refusing actions outside the supported subset.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut trim_next = false;
        while let Some(open) = rest.find("{{") {
            let mut literal = &rest[..open];
            if trim_next {
                literal = literal.trim_start();
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| TemplateError::Unclosed(text.to_string()))?;
            let mut action = &after[..close];
            if let Some(a) = action.strip_prefix('-') {
                literal = literal.trim_end();
                action = a;
            }
            trim_next = false;
            if let Some(a) = action.strip_suffix('-') {
                trim_next = true;
                action = a;
            }
            if !literal.is_empty() {
                parts.push(Part::Text(literal.to_string()));
            }
            parts.push(parse_action(action.trim())?);
            rest = &after[close + 2..];
        }
        let tail = if trim_next { rest.trim_start() } else { rest };
        if !tail.is_empty() {
            parts.push(Part::Text(tail.to_string()));
        }
        Ok(Template(parts))
    }

    /// The text for `data`.
    pub fn render(&self, data: &Data) -> String {
        let get = |set: &LabelSet, k: &str| set.get(k).cloned().unwrap_or_default();
        let mut s = String::new();
        for part in &self.0 {
            match part {
                Part::Text(t) => s.push_str(t),
                Part::Status => s.push_str(data.status),
                Part::StatusUpper => s.push_str(&data.status.to_uppercase()),
                Part::Receiver => s.push_str(&data.receiver),
                Part::ExternalUrl => s.push_str(&data.external_url),
                Part::GroupLabel(k) => s.push_str(&get(&data.group_labels, k)),
                Part::CommonLabel(k) => s.push_str(&get(&data.common_labels, k)),
                Part::CommonAnnotation(k) => s.push_str(&get(&data.common_annotations, k)),
                Part::CountAll => s.push_str(&data.alerts.len().to_string()),
                Part::CountFiring => s.push_str(&data.firing().count().to_string()),
                Part::CountResolved => s.push_str(&data.resolved().count().to_string()),
                Part::Subject => s.push_str(&data.subject()),
                Part::AlertmanagerUrl => s.push_str(&data.alertmanager_url()),
                Part::Alertmanager => s.push_str("Alertmanager"),
                Part::EmailHtml => s.push_str(&data.email_html()),
                Part::EmailText => s.push_str(&data.email_text()),
                Part::ListFiring => {
                    s.push_str(&text_alert_list(&data.firing().collect::<Vec<_>>()))
                }
                Part::ListResolved => {
                    s.push_str(&text_alert_list(&data.resolved().collect::<Vec<_>>()))
                }
                Part::ListAll => {
                    s.push_str(&text_alert_list(&data.alerts.iter().collect::<Vec<_>>()))
                }
            }
        }
        s
    }
}

/// `text` parsed and rendered; the configuration was checked at load time, so a parse
/// error here renders the text as it is written.
pub fn render(text: &str, data: &Data) -> String {
    match Template::parse(text) {
        Ok(t) => t.render(data),
        Err(_) => text.to_string(),
    }
}

fn parse_action(action: &str) -> Result<Part, TemplateError> {
    let unsupported = || TemplateError::Unsupported(action.to_string());
    let compact: String = action.split_whitespace().collect::<Vec<_>>().join(" ");
    let part = match compact.as_str() {
        ".Status" => Part::Status,
        ".Status | toUpper" | "toUpper .Status" => Part::StatusUpper,
        ".Receiver" => Part::Receiver,
        ".ExternalURL" => Part::ExternalUrl,
        ".Alerts | len" | "len .Alerts" => Part::CountAll,
        ".Alerts.Firing | len" | "len .Alerts.Firing" => Part::CountFiring,
        ".Alerts.Resolved | len" | "len .Alerts.Resolved" => Part::CountResolved,
        other => {
            if let Some(rest) = other.strip_prefix("template ") {
                let (name, arg) = match rest.split_once(' ') {
                    Some((n, a)) => (n.trim_matches('"'), a.trim()),
                    None => return Err(unsupported()),
                };
                return match (name, arg) {
                    (
                        "__subject" | "email.default.subject" | "pagerduty.default.description",
                        ".",
                    ) => Ok(Part::Subject),
                    ("__alertmanagerURL" | "pagerduty.default.clientURL", ".") => {
                        Ok(Part::AlertmanagerUrl)
                    }
                    ("__alertmanager" | "pagerduty.default.client", ".") => Ok(Part::Alertmanager),
                    ("email.default.html", ".") => Ok(Part::EmailHtml),
                    ("email.default.text", ".") => Ok(Part::EmailText),
                    ("__text_alert_list" | "pagerduty.default.instances", ".Alerts.Firing") => {
                        Ok(Part::ListFiring)
                    }
                    ("__text_alert_list" | "pagerduty.default.instances", ".Alerts.Resolved") => {
                        Ok(Part::ListResolved)
                    }
                    ("__text_alert_list" | "pagerduty.default.instances", ".Alerts") => {
                        Ok(Part::ListAll)
                    }
                    _ => Err(unsupported()),
                };
            }
            let field = |prefix: &str| {
                other
                    .strip_prefix(prefix)
                    .filter(|k| {
                        !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    })
                    .map(str::to_string)
            };
            if let Some(k) = field(".GroupLabels.") {
                Part::GroupLabel(k)
            } else if let Some(k) = field(".CommonLabels.") {
                Part::CommonLabel(k)
            } else if let Some(k) = field(".CommonAnnotations.") {
                Part::CommonAnnotation(k)
            } else {
                return Err(unsupported());
            }
        }
    };
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn data() -> Data {
        let alert = |instance: &str, ends: Option<i64>| Alert {
            labels: labels(&[
                ("alertname", "HighCPU"),
                ("instance", instance),
                ("severity", "page"),
            ]),
            annotations: labels(&[("summary", "CPU high")]),
            starts_at_ms: 1_000,
            ends_at_ms: ends,
            generator_url: "http://prom/graph".into(),
            updated_at_ms: 1_000,
        };
        let n = Notification {
            receiver: "team a".into(),
            group_key: "{}:{alertname=\"HighCPU\"}".into(),
            group_labels: labels(&[("alertname", "HighCPU")]),
            alerts: vec![alert("a", None), alert("b", Some(500))],
            truncated_alerts: 0,
            external_url: "http://am:9093".into(),
            flushed_at_ms: 2_000,
        };
        Data::new(&n, &n.alerts)
    }

    #[test]
    fn the_subject_is_alertmanagers() {
        let d = data();
        // common labels beyond the group's: severity (instance differs)
        assert_eq!(d.subject(), "[FIRING:1] HighCPU (page)");
        assert_eq!(
            d.alertmanager_url(),
            "http://am:9093/#/alerts?receiver=team+a"
        );
        let only_group = Data {
            common_labels: d.group_labels.clone(),
            ..d.clone()
        };
        assert_eq!(only_group.subject(), "[FIRING:1] HighCPU ");
    }

    #[test]
    fn fields_render_and_unknown_actions_are_refused() {
        let d = data();
        let t = Template::parse("{{ .Status | toUpper }}: {{ .CommonLabels.severity }} {{ .Alerts.Firing | len }}/{{ .Alerts | len }} {{- \" x\" }}");
        assert!(matches!(t, Err(TemplateError::Unsupported(_))));
        let t = Template::parse("{{ .Status | toUpper }}: {{ .CommonLabels.severity }} {{ .Alerts.Firing | len }}/{{ .Alerts | len }}  {{- .Receiver }}").unwrap_or(Template(vec![]));
        assert_eq!(t.render(&d), "FIRING: page 1/2team a");
        assert_eq!(
            render(r#"{{ template "pagerduty.default.description" . }}"#, &d),
            d.subject()
        );
        assert!(Template::parse("{{ range .Alerts }}x{{ end }}").is_err());
        assert!(Template::parse("{{ .Status").is_err());
        assert!(render(
            r#"{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#,
            &d
        )
        .contains(" - instance = b\n"));
    }

    #[test]
    fn html_is_escaped() {
        let mut d = data();
        d.alerts[0]
            .annotations
            .insert("summary".into(), "<b>&".into());
        let html = d.email_html();
        assert!(html.contains("summary = &lt;b&gt;&amp;"));
        assert!(html.contains("1 alert for alertname=HighCPU"));
    }
}
