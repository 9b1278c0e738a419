//! OTLP metric, unit and label names as Prometheus 3 builds them by default
//! (`translation_strategy: UnderscoreEscapingWithSuffixes`,
//! `label_name_underscore_sanitization: true`,
//! `label_name_preserve_multiple_underscores: true`): a port of
//! `github.com/prometheus/otlptranslator`'s `MetricNamer`, `UnitNamer` and `LabelNamer`,
//! function by function (each names the Go function it follows).

/// The OTLP metric kinds naming distinguishes (`otlptranslator.MetricType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Gauge,
    MonotonicCounter,
    NonMonotonicCounter,
    Histogram,
    ExponentialHistogram,
    Summary,
}

/// OTLP (UCUM) units and their Prometheus names (`unitMap`).
fn unit_name(unit: &str) -> &str {
    match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        other => other,
    }
}

/// The denominators of "per" units (`perUnitMap`).
fn per_unit_name(unit: &str) -> &str {
    match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

/// `isValidCompliantMetricChar`: `[a-zA-Z0-9:]`.
fn metric_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// `buildUnitSuffixes`: the main unit's and the "per" unit's Prometheus names
/// (`per_` included), each empty when absent or a `{annotation}`.
fn unit_suffixes(unit: &str) -> (String, String) {
    let mut parts = unit.splitn(2, '/');
    let main = parts.next().unwrap_or("").trim();
    let main = if !main.is_empty() && !main.contains(['{', '}']) {
        unit_name(main).to_owned()
    } else {
        String::new()
    };
    let per = match parts.next() {
        Some(p) if !p.is_empty() => {
            let p = p.trim();
            if !p.is_empty() && !p.contains(['{', '}']) {
                let name = per_unit_name(p);
                if name.is_empty() {
                    String::new()
                } else {
                    format!("per_{name}")
                }
            } else {
                String::new()
            }
        }
        _ => String::new(),
    };
    (main, per)
}

/// `collapseMultipleUnderscores`.
fn collapse_underscores(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev = false;
    for c in s.chars() {
        if c == '_' {
            if !prev {
                out.push('_');
            }
            prev = true;
        } else {
            out.push(c);
            prev = false;
        }
    }
    out
}

/// `cleanUpUnit`: invalid characters to `_`, runs of `_` collapsed, no leading `_`.
fn clean_up_unit(unit: &str) -> String {
    let mapped: String = unit
        .chars()
        .map(|c| if metric_char(c) { c } else { '_' })
        .collect();
    let collapsed = collapse_underscores(&mapped);
    collapsed
        .strip_prefix('_')
        .map(str::to_owned)
        .unwrap_or(collapsed)
}

/// `UnitNamer.Build` (UTF-8 not allowed): the unit as `/api/v1/metadata` shows it.
pub(crate) fn unit(unit: &str) -> String {
    let (main, per) = unit_suffixes(unit);
    let (main, per) = (clean_up_unit(&main), clean_up_unit(&per));
    let u = match (main.is_empty(), per.is_empty()) {
        (false, false) => format!("{main}_{per}"),
        (false, true) => main,
        _ => per,
    };
    let u = u.strip_prefix('_').unwrap_or(&u);
    u.strip_suffix('_').unwrap_or(u).to_owned()
}

/// `MetricNamer.Build` with suffixes and escaping (`buildCompliantMetricName` →
/// `normalizeName`). An error when the name normalises to nothing or to underscores
/// only.
pub(crate) fn metric(name: &str, unit: &str, kind: Kind) -> Result<String, String> {
    let mut tokens: Vec<String> = name
        .split(|c: char| !metric_char(c))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    let (main, per) = unit_suffixes(unit);
    add_unit_tokens(&mut tokens, clean_up_unit(&main), clean_up_unit(&per));
    if kind == Kind::MonotonicCounter {
        tokens.retain(|t| t != "total");
        tokens.push("total".to_owned());
    }
    if unit == "1" && kind == Kind::Gauge {
        tokens.retain(|t| t != "ratio");
        tokens.push("ratio".to_owned());
    }
    let mut normalized = tokens.join("_");
    if normalized.starts_with(|c: char| c.is_ascii_digit()) {
        normalized.insert(0, '_');
    }
    if normalized.is_empty() {
        return Err(format!(
            "normalization for metric {name:?} resulted in empty name"
        ));
    }
    if normalized != name && normalized.chars().all(|c| c == '_') {
        return Err(format!(
            "normalization for metric {name:?} resulted in invalid name {normalized:?}"
        ));
    }
    Ok(normalized)
}

/// `addUnitTokens`.
fn add_unit_tokens(tokens: &mut Vec<String>, mut main: String, mut per: String) {
    if tokens.contains(&main) {
        main.clear();
    }
    if per == "per_" {
        per.clear();
    } else {
        if let Some(p) = per.strip_suffix('_') {
            per = p.to_owned();
        }
        if tokens.contains(&per) {
            per.clear();
        }
    }
    if !per.is_empty() {
        if let Some(m) = main.strip_suffix('_') {
            main = m.to_owned();
        }
    }
    if !main.is_empty() {
        tokens.push(main);
    }
    if !per.is_empty() {
        tokens.push(per);
    }
}

/// `LabelNamer.Build` as Prometheus configures it by default: every character outside
/// `[a-zA-Z0-9_]` becomes `_` (runs of `_` kept), a leading digit gets `key_` in front
/// and a single leading `_` gets `key` in front. An error for an empty name or one of
/// underscores only.
pub(crate) fn label(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("label name is empty".to_owned());
    }
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out.insert_str(0, "key");
    }
    if out.chars().all(|c| c == '_') {
        return Err(format!(
            "normalization for label name {name:?} resulted in invalid name {out:?}"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_as_otlptranslator_tests_expect() {
        let cases = [
            ("simple_metric", "", Kind::Gauge, "simple_metric"),
            (
                "metric@with#special$chars",
                "",
                Kind::Gauge,
                "metric_with_special_chars",
            ),
            ("123metric", "", Kind::Gauge, "_123metric"),
            ("metric@@##$$name", "", Kind::Gauge, "metric_name"),
            ("requests", "", Kind::MonotonicCounter, "requests_total"),
            ("cpu_usage", "1", Kind::Gauge, "cpu_usage_ratio"),
            ("items", "1", Kind::MonotonicCounter, "items_total"),
            (
                "response_time",
                "ms",
                Kind::Gauge,
                "response_time_milliseconds",
            ),
            ("memory_usage", "By", Kind::Gauge, "memory_usage_bytes"),
            ("requests", "1/s", Kind::Gauge, "requests_per_second"),
            (
                "throughput",
                "By/s",
                Kind::Gauge,
                "throughput_bytes_per_second",
            ),
            (
                "custom_metric",
                "custom_unit",
                Kind::Gauge,
                "custom_metric_custom_unit",
            ),
            ("custom_metric", "{custom}", Kind::Gauge, "custom_metric"),
            (
                "custom_metric",
                "By/{custom}",
                Kind::Gauge,
                "custom_metric_bytes",
            ),
            (
                "requests_total",
                "",
                Kind::MonotonicCounter,
                "requests_total",
            ),
            ("cpu_usage_ratio", "1", Kind::Gauge, "cpu_usage_ratio"),
            (
                "response_time_seconds",
                "s",
                Kind::Gauge,
                "response_time_seconds",
            ),
            (
                "cpu_seconds_total",
                "s",
                Kind::MonotonicCounter,
                "cpu_seconds_total",
            ),
            (
                "otelcol_process_cpu_seconds",
                "s",
                Kind::MonotonicCounter,
                "otelcol_process_cpu_seconds_total",
            ),
            (
                "http.server.duration",
                "s",
                Kind::Histogram,
                "http_server_duration_seconds",
            ),
            (
                "memory.usage",
                "By",
                Kind::NonMonotonicCounter,
                "memory_usage_bytes",
            ),
            (
                "system.network.io",
                "By",
                Kind::MonotonicCounter,
                "system_network_io_bytes_total",
            ),
        ];
        for (name, unit, kind, want) in cases {
            assert_eq!(
                metric(name, unit, kind).as_deref(),
                Ok(want),
                "{name} {unit}"
            );
        }
        assert!(metric("@#$%", "", Kind::Gauge).is_err());
        assert!(metric("", "", Kind::Gauge).is_err());
    }

    #[test]
    fn units_and_labels() {
        assert_eq!(unit("ms"), "milliseconds");
        assert_eq!(unit("By/s"), "bytes_per_second");
        assert_eq!(unit("1/s"), "per_second");
        assert_eq!(unit("{request}"), "");
        assert_eq!(unit("1"), "");
        assert_eq!(label("http.method").as_deref(), Ok("http_method"));
        assert_eq!(label("a..b").as_deref(), Ok("a__b"));
        assert_eq!(label("0abc").as_deref(), Ok("key_0abc"));
        assert_eq!(label("_abc").as_deref(), Ok("key_abc"));
        assert_eq!(label("__abc").as_deref(), Ok("__abc"));
        assert_eq!(label("service.name").as_deref(), Ok("service_name"));
        assert!(label("").is_err());
        assert!(label("...").is_err());
    }
}
