//! promtool's texts in unit-test reports: Go's `time.Duration` (`1m0s`) and Prometheus's
//! `model.Duration` (`1m`), `labels.Labels.String()`, `%q` and `strconv.FormatFloat(v,
//! 'E', -1, 64)`.

use super::Pairs;

/// Go's `time.Duration.String()` of `ms` milliseconds: `0s`, `500ms`, `1.5s`, `1m0s`,
/// `1h0m0s`.
pub(super) fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let h = ms / 3_600_000;
    let m = ms / 60_000 % 60;
    let s = ms / 1000 % 60;
    let frac = ms % 1000;
    let mut secs = s.to_string();
    if frac != 0 {
        let f = format!("{frac:03}");
        secs = format!("{s}.{}", f.trim_end_matches('0'));
    }
    if h > 0 {
        format!("{sign}{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{sign}{m}m{secs}s")
    } else {
        format!("{sign}{secs}s")
    }
}

/// Prometheus's `model.Duration.String()`.
pub(super) fn model_duration(ms: i64) -> String {
    crate::duration::format_duration(ms)
}

/// Go's `%q`.
pub(super) fn quote(s: &str) -> String {
    crate::template::go_quote(s)
}

/// `labels.Labels.String()`: `{a="1", b="2"}`.
pub(super) fn labels_string(l: &Pairs) -> String {
    let parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect();
    format!("{{{}}}", parts.join(", "))
}

/// `strconv.FormatFloat(v, 'E', -1, 64)`: `1E+00`, `1.5E+00`, `NaN`, `+Inf`.
pub(super) fn float_e(v: f64) -> String {
    crate::util::go_float_e(v).replace('e', "E")
}

/// `parsedSamplesString`: `nil`, or the samples joined by `, `.
pub(super) fn parsed_samples_string(s: &[(Pairs, f64)]) -> String {
    if s.is_empty() {
        return "nil".into();
    }
    s.iter()
        .map(|(l, v)| format!("{} {}", labels_string(l), float_e(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_texts() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(60_000), "1m0s");
        assert_eq!(go_duration(3_600_000), "1h0m0s");
        assert_eq!(go_duration(90_500), "1m30.5s");
        assert_eq!(go_duration(250), "250ms");
        assert_eq!(model_duration(90_000), "1m30s");
        assert_eq!(float_e(1.0), "1E+00");
        assert_eq!(float_e(1.5e10), "1.5E+10");
        assert_eq!(float_e(f64::INFINITY), "+Inf");
        assert_eq!(float_e(f64::NAN), "NaN");
        assert_eq!(
            labels_string(&vec![("a".into(), "x\"y".into()), ("b".into(), "2".into())]),
            "{a=\"x\\\"y\", b=\"2\"}"
        );
        assert_eq!(parsed_samples_string(&[]), "nil");
    }
}
