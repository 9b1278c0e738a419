//! InfluxDB line protocol (`POST /write`, `POST /api/v2/write`), parsed by
//! `tsdb_text::influx`: each numeric field a sample of `<measurement>_<field>`, tags as
//! labels, string fields skipped and counted, each bad line refused with its line number
//! and InfluxDB's message shape (`unable to parse '<line>': <reason>`) while the good
//! lines land.

use tsdb_index::Labels;
use tsdb_text::influx::{Options, Parser, Precision};
use tsdb_text::ErrorKind;

use crate::ingester::{cut, Ingester, Pending};
use crate::outcome::{Outcome, RequestError};
use crate::reason::{Protocol, Reason};

/// The query parameters of an Influx write.
#[derive(Clone, Debug, Default)]
pub struct InfluxParams<'a> {
    /// `precision` (`ns` by default; v1 also takes `n` and `u`).
    pub precision: Option<&'a str>,
    /// A label added to every series, e.g. `("db", "telegraf")` to keep the v1 `db` or
    /// v2 `bucket` parameter (InfluxDB's databases have no equivalent here). A tag of
    /// the same name in a line wins. `None`: the parameter is ignored.
    pub extra_label: Option<(&'a str, &'a str)>,
}

impl Ingester {
    /// Ingests a line-protocol body. `protocol` is [`Protocol::InfluxV1`] (`/write`) or
    /// [`Protocol::InfluxV2`] (`/api/v2/write`, any other value is taken as this); it
    /// only changes the shape of the error body and the answer to an empty body
    /// (204 for v1, 400 `writing requires points` for v2). Lines without a timestamp get
    /// the time of the call. A gzip body is the HTTP server's to decompress first.
    ///
    /// ```
    /// use tsdb_ingest::{Ingester, InfluxParams, Protocol};
    /// # let dir = tempfile::tempdir()?;
    /// # let db = tsdb_core::Db::open(dir.path(), tsdb_core::Options::default())?;
    /// let ingester = Ingester::new(db, Default::default())?;
    /// let body = b"cpu,host=a usage=0.5,state=\"ok\"\ncpu,host=a usage=oops\n";
    /// let outcome = ingester.influx(body, Protocol::InfluxV2, &InfluxParams::default());
    /// assert_eq!((outcome.accepted, outcome.string_fields_skipped), (1, 1));
    /// let response = outcome.response();
    /// assert_eq!(response.status, 400);
    /// assert!(response.body_text().contains("unable to parse 'cpu,host=a usage=oops'"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn influx(&self, body: &[u8], protocol: Protocol, params: &InfluxParams<'_>) -> Outcome {
        let p = match protocol {
            Protocol::InfluxV1 => Protocol::InfluxV1,
            _ => Protocol::InfluxV2,
        };
        if let Err(e) = crate::body::check_size(body, self.limits()) {
            return self.fail(p, e);
        }
        let precision = match params.precision.filter(|s| !s.is_empty()) {
            None => Precision::Nanoseconds,
            Some(s) => match Precision::parse(s) {
                // v2 takes only the four long forms
                Some(pr) if p == Protocol::InfluxV1 || matches!(s, "ns" | "us" | "ms" | "s") => pr,
                _ => return self.fail(p, RequestError::InvalidPrecision(s.to_owned())),
            },
        };
        if body.iter().all(u8::is_ascii_whitespace) {
            if p == Protocol::InfluxV2 {
                return self.fail(p, RequestError::EmptyBody);
            }
            return self.write(Pending::new(p, self.limits()));
        }
        let now = self.clock_ms();
        let mut pending = Pending::new(p, self.limits());
        decode(body, precision, now, self.limits(), &mut pending);
        if let Some(extra) = params.extra_label {
            add_label_to_all(&mut pending, extra, &self.limits().labels);
        }
        self.write(pending)
    }
}

/// Parses a body into `pending`: samples by series, each bad line refused with its
/// text, string fields counted. Lines without a timestamp get `now`.
pub(crate) fn decode(
    body: &[u8],
    precision: Precision,
    now: i64,
    limits: &crate::IngestLimits,
    pending: &mut Pending,
) {
    let opts = Options {
        precision,
        default_timestamp: Some(now),
        limits: limits.labels.clone(),
        skip_string_fields: true,
    };
    let mut parser = Parser::new(body, opts);
    let mut lines = Lines::new(body);
    for item in parser.by_ref() {
        match item {
            Ok(sample) => {
                let series = pending.series_dedup(sample.labels);
                pending.sample(series, sample.timestamp.unwrap_or(now), sample.value);
            }
            Err(e) => {
                let reason = match &e.kind {
                    ErrorKind::Labels(le) => Reason::from_labels_error(le),
                    _ => Reason::Malformed,
                };
                pending.outcome.refuse(reason, 1, || {
                    format!("unable to parse '{}': {e}", cut(&lines.line(e.line)))
                });
            }
        }
    }
    pending.outcome.string_fields_skipped = parser.string_fields_skipped();
}

/// Adds `extra` to every series of `pending` (unless a series has that label).
fn add_label_to_all(pending: &mut Pending, extra: (&str, &str), limits: &tsdb_index::LabelLimits) {
    pending.relabel(|l| {
        add_label(l, extra, limits).map_err(|e| {
            (
                Reason::from_labels_error(&e),
                format!("series {}: {e}", cut(&l.to_string())),
            )
        })
    });
}

/// `labels` with `name="value"` added unless it has that label already.
fn add_label(
    labels: &Labels,
    (name, value): (&str, &str),
    limits: &tsdb_index::LabelLimits,
) -> Result<Labels, tsdb_index::Error> {
    if labels.get(name).is_some() {
        return Ok(labels.clone());
    }
    Labels::with_limits(labels.iter().chain(std::iter::once((name, value))), limits)
}

/// Finds the text of line `n` (1-based) of a body, for error messages. Errors come in
/// line order, so a cursor makes finding all of them one pass over the body.
struct Lines<'a> {
    body: &'a [u8],
    /// Line number and byte offset of the cursor's line start.
    line: usize,
    at: usize,
}

impl<'a> Lines<'a> {
    fn new(body: &'a [u8]) -> Self {
        Lines {
            body,
            line: 1,
            at: 0,
        }
    }

    fn line(&mut self, n: usize) -> String {
        if n < self.line {
            self.line = 1;
            self.at = 0;
        }
        while self.line < n {
            match self
                .body
                .get(self.at..)
                .and_then(|r| r.iter().position(|&b| b == b'\n'))
            {
                Some(p) => {
                    self.at += p + 1;
                    self.line += 1;
                }
                None => return String::new(),
            }
        }
        let rest = self.body.get(self.at..).unwrap_or_default();
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let text = rest.get(..end).unwrap_or_default();
        String::from_utf8_lossy(text)
            .trim_end_matches('\r')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_found_in_any_order() {
        let mut l = Lines::new(b"a\r\nb\n\nd");
        assert_eq!(l.line(2), "b");
        assert_eq!(l.line(4), "d");
        assert_eq!(l.line(1), "a");
        assert_eq!(l.line(3), "");
        assert_eq!(l.line(9), "");
    }
}
