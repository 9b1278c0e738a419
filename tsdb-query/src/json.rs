//! The Prometheus HTTP API's JSON for query results and errors, byte for byte as
//! Prometheus writes it: timestamps as seconds with millisecond fractions; sample values
//! as strings in Go's shortest `'f'` format, or `'e'` format below 1e-6 and from 1e21 up
//! (Prometheus' `marshalPointJSON`); scalar results always in `'f'` format; strings
//! escaped like Go's `encoding/json`.

use std::fmt::Write;

use tsdb_index::Labels;

use crate::error::Error;
use crate::eval::format_float;
use crate::value::Value;

/// `{"status":"success","data":{"resultType":...,"result":...}}`.
pub fn success(value: &Value) -> String {
    success_with_infos(value, &[])
}

/// [`success`] with Prometheus 3's `"infos":[...]` after the data when there are any
/// (its API writes `warnings` and then `infos`, each left out when empty): the
/// [`Annotations::infos`](crate::Annotations::infos) of the answer.
pub fn success_with_infos(value: &Value, infos: &[String]) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(r#"{"status":"success","data":{"resultType":""#);
    out.push_str(value.result_type());
    out.push_str(r#"","result":"#);
    match value {
        // Scalars and strings go through Go's generic float marshalling in Prometheus:
        // their timestamp is the shortest decimal (`1700000300.25`), unlike samples'.
        Value::Scalar { t, v } => scalar_point(&mut out, *t, &format_float(*v)),
        Value::String { t, s } => scalar_point(&mut out, *t, s),
        Value::Vector(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                metric(&mut out, &s.labels);
                out.push_str(r#","value":"#);
                sample_point(&mut out, s.t, s.v);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push('[');
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                metric(&mut out, &s.labels);
                out.push_str(r#","values":["#);
                for (j, p) in s.points.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    sample_point(&mut out, p.t, p.v);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push('}');
    if !infos.is_empty() {
        out.push_str(r#","infos":["#);
        for (i, info) in infos.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            string(&mut out, info);
        }
        out.push(']');
    }
    out.push('}');
    out
}

/// The Prometheus API's `errorType` for an error.
pub fn error_type(err: &Error) -> &'static str {
    match err {
        Error::Parse { .. } | Error::Invalid(_) | Error::TooDeep { .. } => "bad_data",
        Error::Timeout { .. } => "timeout",
        Error::Canceled => "canceled",
        Error::Storage(_) | Error::Internal(_) => "internal",
        _ => "execution",
    }
}

/// `{"status":"error","errorType":...,"error":...}`.
pub fn error(err: &Error) -> String {
    let mut out = String::from(r#"{"status":"error","errorType":""#);
    out.push_str(error_type(err));
    out.push_str(r#"","error":"#);
    string(&mut out, &err.to_string());
    out.push('}');
    out
}

/// A vector or matrix sample value as Prometheus writes it: Go's shortest `'f'` format,
/// or `'e'` format (`1e-09`, `1.7e+308`) when `|v|` is below 1e-6 or at least 1e21.
pub fn format_sample_value(v: f64) -> String {
    let mut out = String::new();
    write_sample_value(&mut out, v);
    out
}

/// [`format_sample_value`] appended to `out` (no allocation on the common path).
fn write_sample_value(out: &mut String, v: f64) {
    let abs = v.abs();
    if abs != 0.0 && abs.is_finite() && !(1e-6..1e21).contains(&abs) {
        // Rust writes `1.7e308`; Go writes `1.7e+308`, with at least two exponent digits.
        let rust = format!("{v:e}");
        if let Some((mantissa, exponent)) = rust.split_once('e') {
            if let Ok(e) = exponent.parse::<i32>() {
                let sign = if e < 0 { '-' } else { '+' };
                let _ = write!(out, "{mantissa}e{sign}{:02}", e.unsigned_abs());
                return;
            }
        }
        out.push_str(&rust);
    } else if v.is_finite() {
        let _ = write!(out, "{v}");
    } else {
        out.push_str(&format_float(v));
    }
}

/// `[timestamp,"value"]` of a vector or matrix sample; a number needs no escaping.
fn sample_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    timestamp(out, t);
    out.push_str(",\"");
    write_sample_value(out, v);
    out.push_str("\"]");
}

fn scalar_point(out: &mut String, t: i64, v: &str) {
    out.push('[');
    let _ = write!(out, "{}", t as f64 / 1000.0);
    out.push(',');
    string(out, v);
    out.push(']');
}

/// Milliseconds as seconds with exactly the digits Prometheus writes
/// (`jsonutil.MarshalTimestamp`: three fraction digits, omitted when zero).
fn timestamp(out: &mut String, t: i64) {
    let abs = t.unsigned_abs();
    if t < 0 {
        out.push('-');
    }
    let _ = write!(out, "{}", abs / 1000);
    let frac = abs % 1000;
    if frac != 0 {
        // Three digits, trailing zeros kept (`1.500`), as Prometheus writes them.
        let _ = write!(out, ".{frac:03}");
    }
}

/// A label set as a JSON object, `{"__name__":"up","job":"a"}`, in label order and escaped
/// as Go's `encoding/json` does: the shape of every `metric` in query results and of each
/// series in `/api/v1/series`.
pub fn write_labels(out: &mut String, labels: &Labels) {
    metric(out, labels);
}

/// A JSON string escaped as Go's `encoding/json` does (HTML-safe, `<` as `\u003c`), as
/// Prometheus' API writes label names, values and error messages.
pub fn write_string(out: &mut String, s: &str) {
    string(out, s);
}

fn metric(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, (n, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, n);
        out.push(':');
        string(out, v);
    }
    out.push('}');
}

/// A JSON string escaped as Go's `encoding/json` does (HTML-safe).
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{InstantSample, Point, Series};

    #[test]
    fn vector_and_matrix_json_match_prometheus_shape() {
        let labels = Labels::new([("__name__", "up"), ("job", "a<b")]).unwrap();
        let v = Value::Vector(vec![InstantSample {
            labels: labels.clone(),
            t: 1_435_781_451_781,
            v: 1.0,
        }]);
        assert_eq!(
            success(&v),
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\u003cb"},"value":[1435781451.781,"1"]}]}}"#
        );
        let m = Value::Matrix(vec![Series {
            labels,
            points: vec![
                Point {
                    t: 1500,
                    v: f64::INFINITY,
                },
                Point { t: 2000, v: 0.5 },
            ],
        }]);
        assert!(success(&m).contains(r#""values":[[1.500,"+Inf"],[2,"0.5"]]"#));
        assert_eq!(format_sample_value(1e-9), "1e-09");
        assert_eq!(format_sample_value(-1.7e308), "-1.7e+308");
        assert_eq!(format_sample_value(1.5e21), "1.5e+21");
        assert_eq!(format_sample_value(0.000001), "0.000001");
        assert_eq!(format_sample_value(-0.0), "-0");
        let s = Value::Scalar { t: -1, v: f64::NAN };
        assert!(success(&s).contains(r#""result":[-0.001,"NaN"]"#));
        let s = Value::Scalar {
            t: 1_700_000_300_250,
            v: 1.0,
        };
        assert!(success(&s).contains(r#""result":[1700000300.25,"1"]"#));
    }
}
