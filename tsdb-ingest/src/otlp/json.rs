//! OTLP/JSON (`Content-Type: application/json`): the JSON encoding of
//! `ExportMetricsServiceRequest` as the OTLP spec defines it (the protobuf JSON mapping
//! with OTLP's exceptions), read into the same prost messages the protobuf path decodes,
//! so translation is shared.
//!
//! Accepted as the spec asks receivers to: field names in lowerCamelCase (the original
//! snake_case too), 64-bit integers as numbers or decimal strings, enums as integers
//! (their names too), doubles as numbers or `"NaN"`/`"Infinity"`/`"-Infinity"`, bytes in
//! base64; unknown fields are ignored. Exemplars are only counted (they are not stored),
//! exponential histogram points only counted and timed (they are refused).
//! `serde_json` bounds nesting at 128 levels.

use serde_json::{Map, Value};

use crate::proto::otlp::collector::ExportMetricsServiceRequest;
use crate::proto::otlp::common::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use crate::proto::otlp::metrics::{
    metric, number_data_point, summary_data_point, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use crate::proto::otlp::resource::Resource;

type Obj = Map<String, Value>;

/// Decodes an OTLP/JSON metrics request.
pub(crate) fn decode(body: &[u8]) -> Result<ExportMetricsServiceRequest, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let o = object(&v, "request")?;
    Ok(ExportMetricsServiceRequest {
        resource_metrics: list(o, "resourceMetrics", "resource_metrics", resource_metrics)?,
    })
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Obj, String> {
    v.as_object()
        .ok_or_else(|| format!("{what}: expected an object"))
}

/// A field by its lowerCamelCase or snake_case name; `null` is absent.
fn field<'a>(o: &'a Obj, camel: &str, snake: &str) -> Option<&'a Value> {
    o.get(camel)
        .or_else(|| o.get(snake))
        .filter(|v| !v.is_null())
}

fn list<T>(
    o: &Obj,
    camel: &str,
    snake: &str,
    f: impl Fn(&Value) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    match field(o, camel, snake) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(f).collect(),
        Some(_) => Err(format!("{camel}: expected an array")),
    }
}

fn string(o: &Obj, camel: &str, snake: &str) -> Result<String, String> {
    match field(o, camel, snake) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("{camel}: expected a string")),
    }
}

fn boolean(o: &Obj, camel: &str, snake: &str) -> Result<bool, String> {
    match field(o, camel, snake) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("{camel}: expected a boolean")),
    }
}

/// An unsigned 64-bit integer: a number or a decimal string.
fn u64_value(v: &Value, what: &str) -> Result<u64, String> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("{what}: expected an unsigned integer"))
}

fn i64_value(v: &Value, what: &str) -> Result<i64, String> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("{what}: expected an integer"))
}

fn f64_value(v: &Value, what: &str) -> Result<f64, String> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.trim().parse().ok(),
        },
        _ => None,
    }
    .ok_or_else(|| format!("{what}: expected a number"))
}

fn u64_field(o: &Obj, camel: &str, snake: &str) -> Result<u64, String> {
    field(o, camel, snake).map_or(Ok(0), |v| u64_value(v, camel))
}

fn f64_field(o: &Obj, camel: &str, snake: &str) -> Result<Option<f64>, String> {
    field(o, camel, snake)
        .map(|v| f64_value(v, camel))
        .transpose()
}

fn u32_field(o: &Obj, camel: &str, snake: &str) -> Result<u32, String> {
    let v = u64_field(o, camel, snake)?;
    u32::try_from(v).map_err(|_| format!("{camel}: {v} is out of range"))
}

/// `aggregationTemporality`: an integer, or the enum value's name.
fn temporality(o: &Obj) -> Result<i32, String> {
    match field(o, "aggregationTemporality", "aggregation_temporality") {
        None => Ok(0),
        Some(Value::String(s)) => match s.as_str() {
            "AGGREGATION_TEMPORALITY_UNSPECIFIED" => Ok(0),
            "AGGREGATION_TEMPORALITY_DELTA" => Ok(1),
            "AGGREGATION_TEMPORALITY_CUMULATIVE" => Ok(2),
            other => other
                .parse()
                .map_err(|_| format!("aggregationTemporality: unknown value {other:?}")),
        },
        Some(v) => {
            let n = i64_value(v, "aggregationTemporality")?;
            i32::try_from(n).map_err(|_| format!("aggregationTemporality: {n} is out of range"))
        }
    }
}

fn resource_metrics(v: &Value) -> Result<ResourceMetrics, String> {
    let o = object(v, "resourceMetrics")?;
    let resource = field(o, "resource", "resource")
        .map(|r| -> Result<Resource, String> {
            let r = object(r, "resource")?;
            Ok(Resource {
                attributes: list(r, "attributes", "attributes", key_value)?,
                dropped_attributes_count: u32_field(
                    r,
                    "droppedAttributesCount",
                    "dropped_attributes_count",
                )?,
                ..Default::default()
            })
        })
        .transpose()?;
    Ok(ResourceMetrics {
        resource,
        scope_metrics: list(o, "scopeMetrics", "scope_metrics", scope_metrics)?,
        schema_url: string(o, "schemaUrl", "schema_url")?,
    })
}

fn scope_metrics(v: &Value) -> Result<ScopeMetrics, String> {
    let o = object(v, "scopeMetrics")?;
    let scope = field(o, "scope", "scope")
        .map(|s| -> Result<InstrumentationScope, String> {
            let s = object(s, "scope")?;
            Ok(InstrumentationScope {
                name: string(s, "name", "name")?,
                version: string(s, "version", "version")?,
                attributes: list(s, "attributes", "attributes", key_value)?,
                dropped_attributes_count: 0,
            })
        })
        .transpose()?;
    Ok(ScopeMetrics {
        scope,
        metrics: list(o, "metrics", "metrics", metric)?,
        schema_url: string(o, "schemaUrl", "schema_url")?,
    })
}

fn metric(v: &Value) -> Result<Metric, String> {
    let o = object(v, "metric")?;
    let data = if let Some(g) = field(o, "gauge", "gauge") {
        let g = object(g, "gauge")?;
        Some(metric::Data::Gauge(Gauge {
            data_points: list(g, "dataPoints", "data_points", number_point)?,
        }))
    } else if let Some(s) = field(o, "sum", "sum") {
        let s = object(s, "sum")?;
        Some(metric::Data::Sum(Sum {
            data_points: list(s, "dataPoints", "data_points", number_point)?,
            aggregation_temporality: temporality(s)?,
            is_monotonic: boolean(s, "isMonotonic", "is_monotonic")?,
        }))
    } else if let Some(h) = field(o, "histogram", "histogram") {
        let h = object(h, "histogram")?;
        Some(metric::Data::Histogram(Histogram {
            data_points: list(h, "dataPoints", "data_points", histogram_point)?,
            aggregation_temporality: temporality(h)?,
        }))
    } else if let Some(h) = field(o, "exponentialHistogram", "exponential_histogram") {
        let h = object(h, "exponentialHistogram")?;
        Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: list(h, "dataPoints", "data_points", |p| {
                let p = object(p, "dataPoint")?;
                Ok(ExponentialHistogramDataPoint {
                    time_unix_nano: u64_field(p, "timeUnixNano", "time_unix_nano")?,
                    ..Default::default()
                })
            })?,
            aggregation_temporality: temporality(h)?,
        }))
    } else if let Some(s) = field(o, "summary", "summary") {
        let s = object(s, "summary")?;
        Some(metric::Data::Summary(Summary {
            data_points: list(s, "dataPoints", "data_points", summary_point)?,
        }))
    } else {
        None
    };
    Ok(Metric {
        name: string(o, "name", "name")?,
        description: string(o, "description", "description")?,
        unit: string(o, "unit", "unit")?,
        data,
        ..Default::default()
    })
}

/// Exemplars are counted, not stored: one empty exemplar per element.
fn exemplars(o: &Obj) -> Result<Vec<Exemplar>, String> {
    list(o, "exemplars", "exemplars", |_| Ok(Exemplar::default()))
}

fn number_point(v: &Value) -> Result<NumberDataPoint, String> {
    let o = object(v, "dataPoint")?;
    let value = if let Some(d) = field(o, "asDouble", "as_double") {
        Some(number_data_point::Value::AsDouble(f64_value(
            d, "asDouble",
        )?))
    } else if let Some(i) = field(o, "asInt", "as_int") {
        Some(number_data_point::Value::AsInt(i64_value(i, "asInt")?))
    } else {
        None
    };
    Ok(NumberDataPoint {
        attributes: list(o, "attributes", "attributes", key_value)?,
        start_time_unix_nano: u64_field(o, "startTimeUnixNano", "start_time_unix_nano")?,
        time_unix_nano: u64_field(o, "timeUnixNano", "time_unix_nano")?,
        exemplars: exemplars(o)?,
        flags: u32_field(o, "flags", "flags")?,
        value,
    })
}

fn histogram_point(v: &Value) -> Result<HistogramDataPoint, String> {
    let o = object(v, "dataPoint")?;
    Ok(HistogramDataPoint {
        attributes: list(o, "attributes", "attributes", key_value)?,
        start_time_unix_nano: u64_field(o, "startTimeUnixNano", "start_time_unix_nano")?,
        time_unix_nano: u64_field(o, "timeUnixNano", "time_unix_nano")?,
        count: u64_field(o, "count", "count")?,
        sum: f64_field(o, "sum", "sum")?,
        bucket_counts: list(o, "bucketCounts", "bucket_counts", |v| {
            u64_value(v, "bucketCounts")
        })?,
        explicit_bounds: list(o, "explicitBounds", "explicit_bounds", |v| {
            f64_value(v, "explicitBounds")
        })?,
        exemplars: exemplars(o)?,
        flags: u32_field(o, "flags", "flags")?,
        min: f64_field(o, "min", "min")?,
        max: f64_field(o, "max", "max")?,
    })
}

fn summary_point(v: &Value) -> Result<SummaryDataPoint, String> {
    let o = object(v, "dataPoint")?;
    Ok(SummaryDataPoint {
        attributes: list(o, "attributes", "attributes", key_value)?,
        start_time_unix_nano: u64_field(o, "startTimeUnixNano", "start_time_unix_nano")?,
        time_unix_nano: u64_field(o, "timeUnixNano", "time_unix_nano")?,
        count: u64_field(o, "count", "count")?,
        sum: f64_field(o, "sum", "sum")?.unwrap_or(0.0),
        quantile_values: list(o, "quantileValues", "quantile_values", |q| {
            let q = object(q, "quantileValue")?;
            Ok(summary_data_point::ValueAtQuantile {
                quantile: f64_field(q, "quantile", "quantile")?.unwrap_or(0.0),
                value: f64_field(q, "value", "value")?.unwrap_or(0.0),
            })
        })?,
        flags: u32_field(o, "flags", "flags")?,
    })
}

fn key_value(v: &Value) -> Result<KeyValue, String> {
    let o = object(v, "attribute")?;
    Ok(KeyValue {
        key: string(o, "key", "key")?,
        value: field(o, "value", "value").map(any_value).transpose()?,
        ..Default::default()
    })
}

fn any_value(v: &Value) -> Result<AnyValue, String> {
    let o = object(v, "value")?;
    let value = if let Some(s) = field(o, "stringValue", "string_value") {
        Some(any_value::Value::StringValue(
            s.as_str()
                .ok_or("stringValue: expected a string")?
                .to_owned(),
        ))
    } else if let Some(b) = field(o, "boolValue", "bool_value") {
        Some(any_value::Value::BoolValue(
            b.as_bool().ok_or("boolValue: expected a boolean")?,
        ))
    } else if let Some(i) = field(o, "intValue", "int_value") {
        Some(any_value::Value::IntValue(i64_value(i, "intValue")?))
    } else if let Some(d) = field(o, "doubleValue", "double_value") {
        Some(any_value::Value::DoubleValue(f64_value(d, "doubleValue")?))
    } else if let Some(a) = field(o, "arrayValue", "array_value") {
        let a = object(a, "arrayValue")?;
        Some(any_value::Value::ArrayValue(ArrayValue {
            values: list(a, "values", "values", any_value)?,
        }))
    } else if let Some(kv) = field(o, "kvlistValue", "kvlist_value") {
        let kv = object(kv, "kvlistValue")?;
        Some(any_value::Value::KvlistValue(KeyValueList {
            values: list(kv, "values", "values", key_value)?,
        }))
    } else if let Some(b) = field(o, "bytesValue", "bytes_value") {
        let text = b.as_str().ok_or("bytesValue: expected a base64 string")?;
        Some(any_value::Value::BytesValue(
            base64_decode(text).ok_or("bytesValue: invalid base64")?,
        ))
    } else {
        None
    };
    Ok(AnyValue { value })
}

/// Standard or URL-safe base64, padding optional (the protobuf JSON mapping accepts both
/// alphabets).
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3 + 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_the_encoder() {
        for input in [
            &b""[..],
            b"f",
            b"fo",
            b"foo",
            b"foobar",
            &[0xff, 0x00, 0xfe],
        ] {
            assert_eq!(base64_decode(&super::super::base64(input)).unwrap(), input);
        }
        assert_eq!(base64_decode("_-8").unwrap(), [0xff, 0xef]);
        assert!(base64_decode("a*b").is_none());
    }

    #[test]
    fn decodes_the_spec_shapes() {
        let body = br#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
            "scopeMetrics":[{"scope":{"name":"s"},"metrics":[
              {"name":"c","unit":"1","sum":{"aggregationTemporality":2,"isMonotonic":true,
                 "dataPoints":[{"timeUnixNano":"1700000000000000000","asInt":"5","attributes":[{"key":"k","value":{"intValue":7}}]}]}},
              {"name":"h","histogram":{"aggregation_temporality":"AGGREGATION_TEMPORALITY_CUMULATIVE",
                 "dataPoints":[{"timeUnixNano":1700000000000000000,"count":"3","sum":1.5,"bucketCounts":["1","2"],"explicitBounds":[0.5],"exemplars":[{}]}]}},
              {"name":"g","gauge":{"dataPoints":[{"asDouble":"NaN"}]}}]}]}]}"#;
        let req = decode(body).unwrap();
        let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
        let Some(metric::Data::Sum(s)) = &metrics[0].data else {
            panic!("{:?}", metrics[0])
        };
        assert_eq!((s.aggregation_temporality, s.is_monotonic), (2, true));
        assert_eq!(
            s.data_points[0].value,
            Some(number_data_point::Value::AsInt(5))
        );
        assert_eq!(s.data_points[0].time_unix_nano, 1_700_000_000_000_000_000);
        let Some(metric::Data::Histogram(h)) = &metrics[1].data else {
            panic!()
        };
        assert_eq!(h.aggregation_temporality, 2);
        assert_eq!(h.data_points[0].bucket_counts, [1, 2]);
        assert_eq!(h.data_points[0].exemplars.len(), 1);
        let Some(metric::Data::Gauge(g)) = &metrics[2].data else {
            panic!()
        };
        assert!(
            matches!(g.data_points[0].value, Some(number_data_point::Value::AsDouble(v)) if v.is_nan())
        );
        assert!(decode(b"[1]").is_err());
        assert!(decode(br#"{"resourceMetrics":{}}"#).is_err());
        assert!(decode(br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[{"timeUnixNano":-1}]}}]}]}]}"#).is_err());
    }
}
