//! Rule files for the rule-evaluation report (`rules-report`): recording and alerting
//! rules of the kinds operators write, over the metrics of the peers' fleet data
//! (`../shared/peers/gen.py`: `cpu_usage_*` gauges, `node_*` counters and memory gauges,
//! `http_requests_total{code}`; labels host, region, datacenter, rack, os, service, team).
//!
//! Deterministic: the same arguments give the same files, so Prometheus and our engine
//! read the very same text. Every rule carries a *kind* (the report's profile unit),
//! kept beside the files rather than in them so the files stay what an operator writes.
//! Alerting rules that read recording rules read ones of their own group, written earlier
//! in the same evaluation: Prometheus evaluates groups concurrently, so a read across
//! groups could see either the previous or the current evaluation's sample and the two
//! engines would not do the same work.

use std::fmt::Write as _;

/// The ten `cpu_usage_*` fields.
const CPU: [&str; 10] = [
    "user",
    "system",
    "idle",
    "nice",
    "iowait",
    "irq",
    "softirq",
    "steal",
    "guest",
    "guest_nice",
];
/// The byte and event counters besides `http_requests_total`.
const COUNTERS: [&str; 5] = [
    "node_context_switches_total",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
];
/// The aggregation labels recording rules group by.
const BY: [&str; 5] = ["service", "region", "datacenter", "team", "os"];
/// The memory gauges that change.
const MEM: [&str; 4] = ["MemAvailable", "MemFree", "Cached", "Buffers"];
/// gen.py's regions and teams (filters in alerting rules).
const REGIONS: [&str; 9] = [
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
];
const TEAMS: [&str; 4] = ["SF", "NYC", "LON", "CHI"];

/// One generated rule: its YAML list item and its kind.
#[derive(Clone, Debug)]
pub struct GenRule {
    /// The profile unit, e.g. `rec:rate_sum` or `alert:threshold`.
    pub kind: &'static str,
    /// `record:`/`alert:` name.
    pub name: String,
    /// Whether it is a recording rule.
    pub recording: bool,
    /// The rule as a YAML list item (indented for a group's `rules:`).
    pub yaml: String,
}

/// One generated file: one group.
#[derive(Clone, Debug)]
pub struct GenFile {
    /// File name (`fleet-00.yml`…).
    pub file_name: String,
    /// Group name.
    pub group: String,
    /// The file's text.
    pub text: String,
    /// The rules in file order.
    pub rules: Vec<GenRule>,
}

/// YAML single-quoted scalar.
fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn record(kind: &'static str, name: String, expr: String) -> GenRule {
    let yaml = format!("  - record: {name}\n    expr: {}\n", q(&expr));
    GenRule {
        kind,
        name,
        recording: true,
        yaml,
    }
}

struct AlertSpec<'a> {
    kind: &'static str,
    name: String,
    expr: String,
    for_: &'a str,
    severity: &'a str,
    summary: String,
    description: String,
}

fn alert(a: AlertSpec<'_>) -> GenRule {
    let mut yaml = format!("  - alert: {}\n    expr: {}\n", a.name, q(&a.expr));
    if !a.for_.is_empty() {
        let _ = writeln!(yaml, "    for: {}", a.for_);
    }
    let _ = writeln!(yaml, "    labels:\n      severity: {}", a.severity);
    let _ = writeln!(
        yaml,
        "    annotations:\n      summary: {}\n      description: {}\n      runbook_url: {}",
        q(&a.summary),
        q(&a.description),
        q(&format!(
            "https://runbooks.example.com/{}",
            a.name.to_lowercase()
        ))
    );
    GenRule {
        kind: a.kind,
        name: a.name,
        recording: false,
        yaml,
    }
}

fn camel(s: &str) -> String {
    s.split(['_', '-', '.'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// Recording rules, at least 500, in a fixed order.
fn recording_rules() -> Vec<GenRule> {
    let mut out = Vec::new();
    for c in COUNTERS {
        for by in BY {
            for w in ["1m", "5m"] {
                out.push(record(
                    "rec:rate_sum",
                    format!("{by}:{c}:rate{w}"),
                    format!("sum by ({by}) (rate({c}[{w}]))"),
                ));
            }
            out.push(record(
                "rec:rate_sum",
                format!("{by}:{c}:irate1m"),
                format!("sum by ({by}) (irate({c}[1m]))"),
            ));
            out.push(record(
                "rec:rate_sum",
                format!("{by}:{c}:increase10m"),
                format!("sum by ({by}) (increase({c}[10m]))"),
            ));
        }
    }
    for by in BY {
        for w in ["1m", "5m"] {
            out.push(record(
                "rec:rate_sum",
                format!("{by}_code:http_requests_total:rate{w}"),
                format!("sum by ({by}, code) (rate(http_requests_total[{w}]))"),
            ));
        }
        out.push(record(
            "rec:ratio",
            format!("{by}:http_requests:error_ratio5m"),
            format!(
                "sum by ({by}) (rate(http_requests_total{{code=\"500\"}}[5m])) / sum by ({by}) (rate(http_requests_total[5m]))"
            ),
        ));
        out.push(record(
            "rec:ratio",
            format!("{by}:node_memory_available:ratio"),
            format!("avg by ({by}) (node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)"),
        ));
        out.push(record(
            "rec:ratio",
            format!("{by}:node_context_switches:rate5m_per_cpu"),
            format!(
                "sum by ({by}) (rate(node_context_switches_total[5m])) / sum by ({by}) (node_cpu_count)"
            ),
        ));
        out.push(record(
            "rec:gauge_agg",
            format!("{by}:node_up:count"),
            format!("count by ({by}) (node_up == 1)"),
        ));
        out.push(record(
            "rec:gauge_agg",
            format!("{by}:node_cpu_count:sum"),
            format!("sum by ({by}) (node_cpu_count)"),
        ));
        out.push(record(
            "rec:rate_sum",
            format!("{by}:node_network_bytes:rate5m"),
            format!(
                "sum by ({by}) (rate(node_network_receive_bytes_total[5m]) + rate(node_network_transmit_bytes_total[5m]))"
            ),
        ));
        for m in MEM {
            out.push(record(
                "rec:gauge_agg",
                format!("{by}:node_memory_{m}_bytes:sum"),
                format!("sum by ({by}) (node_memory_{m}_bytes)"),
            ));
            out.push(record(
                "rec:over_time",
                format!("{by}:node_memory_{m}_bytes:deriv10m"),
                format!("avg by ({by}) (deriv(node_memory_{m}_bytes[10m]))"),
            ));
        }
    }
    for f in CPU {
        let m = format!("cpu_usage_{f}");
        for by in BY {
            for agg in ["avg", "max", "min", "stddev"] {
                out.push(record(
                    "rec:gauge_agg",
                    format!("{by}:{m}:{agg}"),
                    format!("{agg} by ({by}) ({m})"),
                ));
            }
            out.push(record(
                "rec:gauge_agg",
                format!("{by}:{m}:p90"),
                format!("quantile by ({by}) (0.9, {m})"),
            ));
            out.push(record(
                "rec:over_time",
                format!("{by}:{m}:max_over_time10m"),
                format!("max by ({by}) (max_over_time({m}[10m]))"),
            ));
        }
        out.push(record(
            "rec:over_time",
            format!("host:{m}:avg5m"),
            format!("avg_over_time({m}[5m])"),
        ));
        out.push(record(
            "rec:over_time",
            format!("host:{m}:p90_10m"),
            format!("quantile_over_time(0.9, {m}[10m])"),
        ));
    }
    out
}

/// Alerting rules that read only raw series, at least 450, in a fixed order.
fn alerting_rules() -> Vec<GenRule> {
    let mut out = Vec::new();
    for f in CPU {
        let m = format!("cpu_usage_{f}");
        for (t, sev) in [(95.0_f64, "info"), (98.0, "warning"), (99.5, "critical")] {
            let filters =
                std::iter::once(String::new()).chain(TEAMS.iter().map(|t| format!("team=\"{t}\"")));
            for filter in filters {
                let team = filter
                    .split('"')
                    .nth(1)
                    .map(|t| format!("Team{t}"))
                    .unwrap_or_default();
                out.push(alert(AlertSpec {
                    kind: "alert:threshold",
                    name: format!("HostHighCpu{}{}{team}", camel(f), t * 10.0),
                    expr: format!("{m}{{{filter}}} > {t}"),
                    for_: "5m",
                    severity: sev,
                    summary: format!("High {f} CPU on {{{{ $labels.host }}}}"),
                    description: format!(
                        "{{{{ $labels.host }}}} ({{{{ $labels.region }}}}, rack {{{{ $labels.rack }}}}) has {m} at {{{{ $value | printf \"%.1f\" }}}}% (threshold {t}%)."
                    ),
                }));
            }
        }
    }
    for (x, sev) in [(0.01, "info"), (0.05, "warning"), (0.1, "critical")] {
        out.push(alert(AlertSpec {
            kind: "alert:error_ratio",
            name: format!("HostHttpErrors{}", (x * 100.0) as i64),
            expr: format!(
                "rate(http_requests_total{{code=\"500\"}}[5m]) / ignoring(code) sum without (code) (rate(http_requests_total[5m])) > {x}"
            ),
            for_: "5m",
            severity: sev,
            summary: "HTTP 500s on {{ $labels.host }}".into(),
            description: "{{ $labels.host }} answers {{ $value | humanizePercentage }} of its requests with 500.".into(),
        }));
        for s in 0..20 {
            out.push(alert(AlertSpec {
                kind: "alert:error_ratio",
                name: format!("Service{s}HttpErrors{}", (x * 100.0) as i64),
                expr: format!(
                    "sum by (service) (rate(http_requests_total{{code=\"500\",service=\"{s}\"}}[5m])) / sum by (service) (rate(http_requests_total{{service=\"{s}\"}}[5m])) > {x}"
                ),
                for_: "5m",
                severity: sev,
                summary: "Service {{ $labels.service }} error ratio".into(),
                description: "Service {{ $labels.service }}: {{ $value | humanizePercentage }} of requests fail.".into(),
            }));
        }
    }
    for x in [0.05, 0.1, 0.2, 0.3] {
        let filters =
            std::iter::once(String::new()).chain(REGIONS.iter().map(|r| format!("region=\"{r}\"")));
        for filter in filters {
            let region = filter.split('"').nth(1).map(camel).unwrap_or_default();
            out.push(alert(AlertSpec {
                kind: "alert:memory",
                name: format!("HostLowMemory{}{region}", (x * 100.0) as i64),
                expr: format!(
                    "node_memory_MemAvailable_bytes{{{filter}}} / node_memory_MemTotal_bytes{{{filter}}} < {x}"
                ),
                for_: "5m",
                severity: if x < 0.15 { "critical" } else { "warning" },
                summary: "Low memory on {{ $labels.host }}".into(),
                description: "{{ $labels.host }} has {{ $value | humanizePercentage }} of its memory available.".into(),
            }));
        }
    }
    for r in REGIONS {
        out.push(alert(AlertSpec {
            kind: "alert:absent",
            name: format!("NodeMetricsAbsent{}", camel(r)),
            expr: format!("absent(node_up{{region=\"{r}\"}})"),
            for_: "10m",
            severity: "critical",
            summary: format!("No node metrics from {r}"),
            description: "node_up is absent for {{ $labels.region }}.".into(),
        }));
        out.push(alert(AlertSpec {
            kind: "alert:up",
            name: format!("NodeDown{}", camel(r)),
            expr: format!("node_up{{region=\"{r}\"}} == 0"),
            for_: "1m",
            severity: "critical",
            summary: "{{ $labels.host }} is down".into(),
            description: "{{ $labels.host }} in {{ $labels.datacenter }} reports node_up == 0."
                .into(),
        }));
    }
    for f in CPU {
        for t in TEAMS {
            out.push(alert(AlertSpec {
                kind: "alert:absent",
                name: format!("CpuMetricsAbsent{}{t}", camel(f)),
                expr: format!("absent(cpu_usage_{f}{{team=\"{t}\"}})"),
                for_: "10m",
                severity: "warning",
                summary: format!("cpu_usage_{f} missing for team {t}"),
                description: "No cpu_usage series for team {{ $labels.team }}.".into(),
            }));
        }
    }
    for m in MEM {
        for (h, name) in [(3600, "1h"), (4 * 3600, "4h"), (24 * 3600, "24h")] {
            out.push(alert(AlertSpec {
                kind: "alert:predict_linear",
                name: format!("HostMemory{m}Exhaustion{name}"),
                expr: format!("predict_linear(node_memory_{m}_bytes[30m], {h}) < 0"),
                for_: "15m",
                severity: "warning",
                summary: format!("{m} on {{{{ $labels.host }}}} runs out within {name}"),
                description: "Predicted {{ $value | humanize1024 }}B in the window.".into(),
            }));
        }
    }
    for c in &COUNTERS[1..] {
        out.push(alert(AlertSpec {
            kind: "alert:predict_linear",
            name: format!("Host{}Growth", camel(c)),
            expr: format!("predict_linear({c}[1h], 24 * 3600) > 1e14"),
            for_: "30m",
            severity: "info",
            summary: format!("{c} grows fast on {{{{ $labels.host }}}}"),
            description: "{{ $value | humanize }} predicted in a day.".into(),
        }));
    }
    for c in COUNTERS {
        for (x, sev) in [(1.5e7_f64, "info"), (2e7, "warning"), (5e7, "critical")] {
            let filters =
                std::iter::once(String::new()).chain(TEAMS.iter().map(|t| format!("team=\"{t}\"")));
            for filter in filters {
                let team = filter.split('"').nth(1).unwrap_or("");
                out.push(alert(AlertSpec {
                    kind: "alert:rate_threshold",
                    name: format!("Host{}High{}{team}", camel(c), (x / 1e6) as i64),
                    expr: format!("rate({c}{{{filter}}}[5m]) > {x:e}"),
                    for_: "5m",
                    severity: sev,
                    summary: format!("{c} rate high on {{{{ $labels.host }}}}"),
                    description: "{{ $labels.host }}: {{ $value | humanize }}/s.".into(),
                }));
            }
        }
    }
    for f in CPU {
        let m = format!("cpu_usage_{f}");
        for (func, w, x) in [
            ("avg_over_time", "10m", 90),
            ("max_over_time", "10m", 99),
            ("min_over_time", "5m", 95),
        ] {
            out.push(alert(AlertSpec {
                kind: "alert:over_time",
                name: format!("HostCpu{}{}", camel(f), camel(func)),
                expr: format!("{func}({m}[{w}]) > {x}"),
                for_: "5m",
                severity: "warning",
                summary: format!("{m} {func} over {w} above {x} on {{{{ $labels.host }}}}"),
                description: "Value {{ $value }}.".into(),
            }));
        }
        out.push(alert(AlertSpec {
            kind: "alert:count",
            name: format!("RegionManyHotHosts{}", camel(f)),
            expr: format!("count by (region) ({m} > 90) > 3"),
            for_: "5m",
            severity: "warning",
            summary: "{{ $value }} hot hosts in {{ $labels.region }}".into(),
            description: format!(
                "More than 3 hosts of {{{{ $labels.region }}}} have {m} above 90%."
            ),
        }));
    }
    for (code, x) in [("200", 500000), ("404", 10000), ("500", 1000)] {
        out.push(alert(AlertSpec {
            kind: "alert:rate_threshold",
            name: format!("HostHttp{code}Burst"),
            expr: format!("increase(http_requests_total{{code=\"{code}\"}}[10m]) > {x}"),
            for_: "5m",
            severity: "warning",
            summary: format!("Many {code} answers on {{{{ $labels.host }}}}"),
            description: "{{ $value | humanize }} in 10 minutes.".into(),
        }));
    }
    out.push(alert(AlertSpec {
        kind: "alert:ratio",
        name: "HostContextSwitchesPerCpu".into(),
        expr: "sum by (host) (rate(node_context_switches_total[5m])) / sum by (host) (node_cpu_count) > 20000".into(),
        for_: "10m",
        severity: "info",
        summary: "Context switches on {{ $labels.host }}".into(),
        description: "{{ $value | printf \"%.0f\" }} per CPU and second.".into(),
    }));
    out.push(alert(AlertSpec {
        kind: "alert:ratio",
        name: "DatacenterHttpErrors".into(),
        expr: "sum by (datacenter) (rate(http_requests_total{code=\"500\"}[5m])) > 5".into(),
        for_: "5m",
        severity: "warning",
        summary: "500s in {{ $labels.datacenter }}".into(),
        description: "{{ $value | humanize }}/s.".into(),
    }));
    for m in MEM {
        out.push(alert(AlertSpec {
            kind: "alert:over_time",
            name: format!("HostMemory{m}Churn"),
            expr: format!("changes(node_memory_{m}_bytes[10m]) > 20"),
            for_: "10m",
            severity: "info",
            summary: "{{ $labels.host }} memory churn".into(),
            description: "{{ $value }} changes in 10m.".into(),
        }));
    }
    out
}

/// Alerting rules over recording rules of the group (`recorded` are their names).
fn record_alerts(group: usize, recorded: &[&GenRule], n: usize) -> Vec<GenRule> {
    recorded
        .iter()
        .filter(|r| r.kind != "rec:over_time")
        .take(n)
        .enumerate()
        .map(|(i, r)| {
            alert(AlertSpec {
                kind: "alert:on_record",
                name: format!("Recorded{group:02}x{i:02}"),
                expr: format!("{} > 1e12", r.name),
                for_: "5m",
                severity: "info",
                summary: format!("{} positive", r.name),
                description: "{{ $labels }} = {{ $value | humanize }}".into(),
            })
        })
        .collect()
}

/// `groups` files of one group each, every group `per_group` rules at `interval`: half
/// recording rules first, then the alerting rules (a tenth of them over the group's own
/// recording rules). Rules are dealt round-robin so every group has the same mix.
pub fn generate(groups: usize, per_group: usize, interval: &str) -> Result<Vec<GenFile>, String> {
    let rec_per = per_group / 2;
    let alert_per = per_group - rec_per;
    let on_record = alert_per / 10;
    let recs = recording_rules();
    let alerts = alerting_rules();
    if recs.len() < groups * rec_per || alerts.len() < groups * (alert_per - on_record) {
        return Err(format!(
            "only {} recording and {} alerting rule shapes for {groups} groups of {per_group}",
            recs.len(),
            alerts.len()
        ));
    }
    let mut out = Vec::with_capacity(groups);
    for g in 0..groups {
        let mine_rec: Vec<&GenRule> = recs.iter().skip(g).step_by(groups).take(rec_per).collect();
        let mine_alert: Vec<&GenRule> = alerts
            .iter()
            .skip(g)
            .step_by(groups)
            .take(alert_per - on_record)
            .collect();
        let mut rules: Vec<GenRule> = mine_rec.iter().map(|r| (*r).clone()).collect();
        rules.extend(mine_alert.iter().map(|r| (*r).clone()));
        rules.extend(record_alerts(g, &mine_rec, on_record));
        let group = format!("fleet-{g:02}");
        let mut text = format!(
            "# Generated by tsdb-benches rules-report: group {g} of {groups}.\ngroups:\n- name: {group}\n  interval: {interval}\n  rules:\n"
        );
        for r in &rules {
            text.push_str(&r.yaml);
        }
        out.push(GenFile {
            file_name: format!("{group}.yml"),
            group,
            text,
            rules,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_groups_of_a_hundred_parse_with_the_counts_asked() {
        let files = generate(10, 100, "1m").unwrap_or_default();
        assert_eq!(files.len(), 10);
        let mut names = std::collections::HashSet::new();
        for f in &files {
            assert_eq!(f.rules.len(), 100);
            assert_eq!(f.rules.iter().filter(|r| r.recording).count(), 50);
            for r in f.rules.iter().filter(|r| r.recording) {
                assert!(names.insert(r.name.clone()), "duplicate record {}", r.name);
            }
            let parsed = tsdb_rules::parse_rule_file(&f.file_name, f.text.as_bytes());
            let parsed = parsed.map_err(|e| format!("{e:?}"));
            assert!(parsed.is_ok(), "{}: {parsed:?}", f.file_name);
        }
    }
}
