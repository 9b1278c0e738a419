//! Small conversions the rule modules share, each written as Prometheus (Go) writes it.

use std::collections::BTreeMap;

use tsdb_index::Labels;

/// A label map, Prometheus's `labels.Labels` as the rule code handles it (sorted by name).
pub type LabelMap = BTreeMap<String, String>;

/// The pairs of `labels` as a map.
pub fn to_map(labels: &Labels) -> LabelMap {
    labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `map` as storage labels. Empty values are dropped (Prometheus's `labels.Builder`
/// deletes a label set to ""); a set the index refuses is an error naming why.
pub fn to_labels(map: &LabelMap) -> Result<Labels, String> {
    Labels::new(
        map.iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
    .map_err(|e| e.to_string())
}

/// Sets `name` to `value` as `labels.Builder.Set` does: an empty value deletes.
pub fn set_label(map: &mut LabelMap, name: &str, value: String) {
    if value.is_empty() {
        map.remove(name);
    } else {
        map.insert(name.to_string(), value);
    }
}

/// Prometheus's `labels.Labels.String()`: `{a="1", b="2"}`.
pub fn labels_string(map: &LabelMap) -> String {
    let parts: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::rulefile::go_quote(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Prometheus's `labels.Labels.Hash()`: XXH64 of `name\xffvalue\xff…` in name order.
pub fn labels_hash(pairs: &[(&str, &str)]) -> u64 {
    use std::hash::Hasher;
    let mut h = twox_hash::XxHash64::with_seed(0);
    for (k, v) in pairs {
        h.write(k.as_bytes());
        h.write(&[0xff]);
        h.write(v.as_bytes());
        h.write(&[0xff]);
    }
    h.finish()
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: the shortest digits, `1.5e+00`.
pub fn go_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = format!("{v:e}");
    let Some((mantissa, exp)) = s.split_once('e') else {
        return s;
    };
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    if digits.len() < 2 {
        format!("{mantissa}e{sign}0{digits}")
    } else {
        format!("{mantissa}e{sign}{digits}")
    }
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Prometheus's `strutil.TableLinkForExpression`: the generator URL's path.
pub fn table_link_for_expression(expr: &str) -> String {
    format!("/graph?g0.expr={}&g0.tab=1", query_escape(expr))
}

/// Milliseconds since the epoch as Go's JSON writes a `time.Time` (RFC 3339 with the
/// fraction's trailing zeros cut), UTC. `None` is Go's zero time.
pub fn rfc3339(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "0001-01-01T00:00:00Z".into();
    };
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if frac != 0 {
        let f = format!("{frac:03}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Howard Hinnant's days-to-civil.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        assert_eq!(go_float_e(1.0), "1e+00");
        assert_eq!(go_float_e(0.25), "2.5e-01");
        assert_eq!(go_float_e(12345.0), "1.2345e+04");
        assert_eq!(go_float_e(1e100), "1e+100");
        assert_eq!(rfc3339(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(Some(1_700_000_000_120)), "2023-11-14T22:13:20.12Z");
        assert_eq!(query_escape("up == 0"), "up+%3D%3D+0");
        // Prometheus's labels.Labels{}.Hash() of the empty set is xxhash of nothing.
        assert_eq!(labels_hash(&[]), 0xef46db3751d8e999);
    }
}
