//! Prometheus remote write 1.0 (`prometheus.WriteRequest`) and 2.0
//! (`io.prometheus.write.v2.Request`), as the specs at prometheus.io describe them:
//! content negotiation on `Content-Type` (`application/x-protobuf`, with `proto=` naming
//! the message; none means 1.0) and `Content-Encoding` (`snappy`; none is taken as
//! snappy, as Prometheus' receiver does for old senders), a snappy block body, label
//! sets validated as every other series (a series refused for its labels costs only its
//! own samples), float samples written with their value bits untouched (stale markers
//! survive), native histograms and exemplars refused and counted (not stored), metadata
//! collected into the outcome.
//!
//! For 2.0, every reference into the symbol table is checked: a series with a
//! reference outside it (or an odd number of label references) is refused as
//! malformed, never indexed out of bounds.

use std::collections::HashMap;

use prost::Message as _;
use tsdb_index::Labels;

use crate::ingester::{cut, Ingester, Pending};
use crate::metadata::{MetricMetadata, MetricType};
use crate::outcome::{Outcome, RequestError};
use crate::proto::{prometheus, write_v2};
use crate::reason::{Protocol, Reason};

/// The `proto=` of remote write 1.0.
pub const PROTO_V1: &str = "prometheus.WriteRequest";
/// The `proto=` of remote write 2.0.
pub const PROTO_V2: &str = "io.prometheus.write.v2.Request";

/// Which message a request carries, from its `Content-Type` and `Content-Encoding`;
/// `Err` is the 415 refusal.
pub fn negotiate(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
) -> Result<Protocol, RequestError> {
    let encoding = content_encoding.unwrap_or("").trim();
    if !encoding.is_empty() && !encoding.eq_ignore_ascii_case("snappy") {
        return Err(RequestError::UnsupportedEncoding(encoding.to_owned()));
    }
    let ct = content_type.unwrap_or("").trim();
    if ct.is_empty() {
        return Ok(Protocol::RemoteWriteV1);
    }
    let mut parts = ct.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/x-protobuf") {
        return Err(RequestError::UnsupportedContentType(ct.to_owned()));
    }
    let mut proto = None;
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            if k.trim().eq_ignore_ascii_case("proto") {
                proto = Some(v.trim().trim_matches('"'));
            }
        }
    }
    match proto {
        None | Some(PROTO_V1) => Ok(Protocol::RemoteWriteV1),
        Some(PROTO_V2) => Ok(Protocol::RemoteWriteV2),
        Some(_) => Err(RequestError::UnsupportedContentType(ct.to_owned())),
    }
}

impl Ingester {
    /// Ingests a remote-write request: `body` as received (snappy-compressed),
    /// `content_type` and `content_encoding` as the request's headers give them.
    ///
    /// ```
    /// use prost::Message;
    /// use tsdb_ingest::proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
    /// # let dir = tempfile::tempdir()?;
    /// # let db = tsdb_core::Db::open(dir.path(), tsdb_core::Options::default())?;
    /// let ingester = tsdb_ingest::Ingester::new(db, Default::default())?;
    /// let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    /// let label = |n: &str, v: &str| Label { name: n.into(), value: v.into() };
    /// let request = WriteRequest {
    ///     timeseries: vec![TimeSeries {
    ///         labels: vec![label("__name__", "up"), label("job", "node")],
    ///         samples: vec![Sample { value: 1.0, timestamp: now }],
    ///         ..Default::default()
    ///     }],
    ///     ..Default::default()
    /// };
    /// let body = snap::raw::Encoder::new().compress_vec(&request.encode_to_vec())?;
    /// let outcome = ingester.remote_write(&body, Some("application/x-protobuf"), Some("snappy"));
    /// assert_eq!(outcome.accepted, 1);
    /// assert_eq!(outcome.response().status, 204);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remote_write(
        &self,
        body: &[u8],
        content_type: Option<&str>,
        content_encoding: Option<&str>,
    ) -> Outcome {
        let protocol = match negotiate(content_type, content_encoding) {
            Ok(p) => p,
            // counted under 1.0 unless the type named 2.0
            Err(e) => {
                let p = if content_type.is_some_and(|c| c.contains(PROTO_V2)) {
                    Protocol::RemoteWriteV2
                } else {
                    Protocol::RemoteWriteV1
                };
                return self.fail(p, e);
            }
        };
        let raw = match crate::body::snappy(body, self.limits()) {
            Ok(r) => r,
            Err(e) => return self.fail(protocol, e),
        };
        let mut pending = Pending::new(protocol, self.limits());
        let decoded = if protocol == Protocol::RemoteWriteV2 {
            write_v2::Request::decode(raw.as_slice())
                .map(|req| decode_v2(&req, &mut pending, &self.limits().labels))
        } else {
            prometheus::WriteRequest::decode(raw.as_slice())
                .map(|req| decode_v1(&req, &mut pending, &self.limits().labels))
        };
        if let Err(e) = decoded {
            let name = if protocol == Protocol::RemoteWriteV2 {
                PROTO_V2
            } else {
                PROTO_V1
            };
            return self.fail(
                protocol,
                RequestError::Malformed(format!("cannot decode {name}: {e}")),
            );
        }
        self.write(pending)
    }
}

/// Remote write 1.0 into `pending`.
pub(crate) fn decode_v1(
    req: &prometheus::WriteRequest,
    pending: &mut Pending,
    limits: &tsdb_index::LabelLimits,
) {
    for ts in &req.timeseries {
        refuse_unstored(pending, ts.exemplars.len(), ts.histograms.len(), || {
            ts.labels
                .iter()
                .map(|l| format!("{}={:?}", l.name, l.value))
                .collect::<Vec<_>>()
                .join(",")
        });
        if ts.samples.is_empty() {
            continue;
        }
        let pairs = ts
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()));
        match Labels::with_limits(pairs, limits) {
            Ok(labels) => {
                let s = pending.series(labels);
                for sample in &ts.samples {
                    pending.sample(s, sample.timestamp, sample.value);
                }
            }
            Err(e) => {
                let n = ts.samples.len() as u64;
                pending
                    .outcome
                    .refuse(Reason::from_labels_error(&e), n, || {
                        format!("series {{{}}}: {e}", cut(&v1_labels_text(ts)))
                    });
            }
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for m in &req.metadata {
        let md = MetricMetadata {
            metric: m.metric_family_name.clone(),
            metric_type: MetricType::from_wire(m.r#type),
            help: m.help.clone(),
            unit: m.unit.clone(),
        };
        match seen.get(m.metric_family_name.as_str()) {
            Some(&i) => {
                if let Some(slot) = pending.outcome.metadata.get_mut(i) {
                    *slot = md;
                }
            }
            None => {
                seen.insert(&m.metric_family_name, pending.outcome.metadata.len());
                pending.outcome.metadata.push(md);
            }
        }
    }
}

fn v1_labels_text(ts: &prometheus::TimeSeries) -> String {
    ts.labels
        .iter()
        .map(|l| format!("{}={:?}", l.name, l.value))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Counts a series' exemplars and histogram samples as refused.
fn refuse_unstored(
    pending: &mut Pending,
    exemplars: usize,
    histograms: usize,
    series: impl Fn() -> String,
) {
    pending
        .outcome
        .refuse(Reason::Exemplar, exemplars as u64, || {
            format!(
                "series {{{}}}: {exemplars} exemplars refused: exemplars are not stored",
                cut(&series())
            )
        });
    pending
        .outcome
        .refuse(Reason::NativeHistogram, histograms as u64, || {
            format!(
                "series {{{}}}: {histograms} native histogram samples refused: native histograms are not stored",
                cut(&series())
            )
        });
}

/// Remote write 2.0 into `pending`.
pub(crate) fn decode_v2(
    req: &write_v2::Request,
    pending: &mut Pending,
    limits: &tsdb_index::LabelLimits,
) {
    let symbols = &req.symbols;
    let symbol =
        |r: u32| -> Option<&str> { symbols.get(usize::try_from(r).ok()?).map(String::as_str) };
    let mut metadata_index: HashMap<String, usize> = HashMap::new();
    for ts in &req.timeseries {
        let count = (ts.samples.len() + ts.histograms.len()) as u64;
        // label pairs through the symbol table, every reference checked
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(ts.labels_refs.len() / 2);
        let mut bad_ref = None;
        if ts.labels_refs.len() % 2 != 0 {
            bad_ref = Some(format!(
                "odd number of label references ({})",
                ts.labels_refs.len()
            ));
        } else {
            for pair in ts.labels_refs.chunks_exact(2) {
                match (symbol(pair[0]), symbol(pair[1])) {
                    (Some(n), Some(v)) => pairs.push((n, v)),
                    _ => {
                        bad_ref = Some(format!(
                            "label reference ({}, {}) outside the symbol table of {} symbols",
                            pair[0],
                            pair[1],
                            symbols.len()
                        ));
                        break;
                    }
                }
            }
        }
        let show = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(n, v)| format!("{n}={v:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(why) = bad_ref {
            pending.outcome.refuse(Reason::Malformed, count.max(1), || {
                format!(
                    "parsing labels for series {:?}: {why}",
                    ts.labels_refs.iter().take(16).collect::<Vec<_>>()
                )
            });
            continue;
        }
        if ts.samples.is_empty() && ts.histograms.is_empty() {
            pending.outcome.refuse(Reason::Malformed, 1, || {
                format!(
                    "TimeSeries must contain at least one sample or histogram for series {{{}}}",
                    cut(&show(&pairs))
                )
            });
            continue;
        }
        if !ts.samples.is_empty() && !ts.histograms.is_empty() {
            pending.outcome.refuse(Reason::Malformed, count, || {
                format!(
                    "TimeSeries must not contain both samples and histograms, series {{{}}}",
                    cut(&show(&pairs))
                )
            });
            continue;
        }
        refuse_unstored(pending, ts.exemplars.len(), ts.histograms.len(), || {
            show(&pairs)
        });
        // metadata, its references checked too
        if let Some(m) = &ts.metadata {
            let help = symbol(m.help_ref);
            let unit = symbol(m.unit_ref);
            let name = pairs
                .iter()
                .find(|(n, _)| *n == "__name__")
                .map(|(_, v)| *v);
            match (help, unit, name) {
                (Some(help), Some(unit), Some(name)) => {
                    let md = MetricMetadata {
                        metric: name.to_owned(),
                        metric_type: MetricType::from_wire(m.r#type),
                        help: help.to_owned(),
                        unit: unit.to_owned(),
                    };
                    let has_any = md.metric_type != MetricType::Unknown
                        || !md.help.is_empty()
                        || !md.unit.is_empty();
                    if has_any {
                        match metadata_index.get(name) {
                            Some(&i) => {
                                if let Some(slot) = pending.outcome.metadata.get_mut(i) {
                                    *slot = md;
                                }
                            }
                            None => {
                                metadata_index
                                    .insert(name.to_owned(), pending.outcome.metadata.len());
                                pending.outcome.metadata.push(md);
                            }
                        }
                    }
                }
                (None, _, _) | (_, None, _) => {
                    pending.outcome.refuse(Reason::Malformed, ts.samples.len() as u64, || {
                        format!(
                            "parsing metadata for series {{{}}}: help or unit reference outside the symbol table of {} symbols",
                            cut(&show(&pairs)),
                            symbols.len()
                        )
                    });
                    continue;
                }
                _ => {}
            }
        }
        if ts.samples.is_empty() {
            continue;
        }
        match Labels::with_limits(pairs.iter().copied(), limits) {
            Ok(labels) => {
                let s = pending.series(labels);
                for sample in &ts.samples {
                    pending.sample(s, sample.timestamp, sample.value);
                }
            }
            Err(e) => {
                let n = ts.samples.len() as u64;
                pending
                    .outcome
                    .refuse(Reason::from_labels_error(&e), n, || {
                        format!("series {{{}}}: {e}", cut(&show(&pairs)))
                    });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        let ok = |ct, enc| negotiate(ct, enc).ok();
        assert_eq!(ok(None, None), Some(Protocol::RemoteWriteV1));
        assert_eq!(
            ok(Some("application/x-protobuf"), Some("snappy")),
            Some(Protocol::RemoteWriteV1)
        );
        assert_eq!(
            ok(
                Some("application/x-protobuf;proto=prometheus.WriteRequest"),
                None
            ),
            Some(Protocol::RemoteWriteV1)
        );
        assert_eq!(
            ok(
                Some("application/x-protobuf; proto=io.prometheus.write.v2.Request"),
                Some("SNAPPY")
            ),
            Some(Protocol::RemoteWriteV2)
        );
        assert!(matches!(
            negotiate(Some("application/json"), None),
            Err(RequestError::UnsupportedContentType(_))
        ));
        assert!(matches!(
            negotiate(Some("application/x-protobuf;proto=foo.Bar"), None),
            Err(RequestError::UnsupportedContentType(_))
        ));
        assert!(matches!(
            negotiate(None, Some("gzip")),
            Err(RequestError::UnsupportedEncoding(_))
        ));
    }
}
