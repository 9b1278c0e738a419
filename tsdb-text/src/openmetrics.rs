//! Writer for OpenMetrics 1.0 text with timestamps, the export format.
//!
//! The output is read back by this crate's [`prometheus`](crate::prometheus) parser and
//! by `promtool tsdb create-blocks-from openmetrics`:
//!
//! - one `# TYPE <name> unknown` line per metric family (one family per metric name:
//!   the engine keeps no metadata, and `unknown` is the type whose sample names are the
//!   family name itself), the samples of a family together, `# EOF` at the end;
//! - label values escaped (`\\`, `\"`, `\n`); names need no escaping, [`Labels`] holds
//!   only valid names;
//! - values as the shortest decimal that reads back as the same `f64` (so every finite
//!   value, `-0.0` and subnormals included, round-trips exactly), and `NaN`, `+Inf`,
//!   `-Inf` spelled as the specification spells them;
//! - timestamps in seconds, formatted from the integer milliseconds (`S` or `S.mmm`) and
//!   never through a float; see [`write_timestamp`] for the few extra digits added where
//!   Prometheus's own float reading would be off by a millisecond.
//!
//! Text cannot carry NaN payloads: every NaN is written `NaN` and reads back as the one
//! quiet NaN. Prometheus's stale marker (`0x7ff0000000000002`) therefore comes back as
//! an ordinary NaN sample, not as a staleness marker; drop stale markers before writing
//! if that matters (promtool and `promtool tsdb dump-openmetrics` have the same limit).
//!
//! ```
//! use tsdb_index::Labels;
//! use tsdb_text::openmetrics::Writer;
//!
//! let cpu = Labels::new([("__name__", "cpu_usage_user"), ("host", "a \"b\"")])?;
//! let mut w = Writer::new(Vec::new());
//! w.write_series(&cpu, [(1_705_190_400_000, 51.84), (1_705_190_410_500, f64::NAN)])?;
//! let text = String::from_utf8(w.finish()?).unwrap();
//! assert_eq!(
//!     text,
//!     "# TYPE cpu_usage_user unknown\n\
//!      cpu_usage_user{host=\"a \\\"b\\\"\"} 51.84 1705190400\n\
//!      cpu_usage_user{host=\"a \\\"b\\\"\"} NaN 1705190410.500\n# EOF\n"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cmp::Ordering;
use std::collections::HashSet;
use std::io;

use tsdb_index::{Labels, METRIC_NAME};

use crate::error::{cut, WriteError};
pub use crate::num::{write_timestamp, write_value};

/// Writes samples as OpenMetrics text to `W`. Writes go straight to `W`, one
/// `write_all` per series (or sample): give it a `BufWriter` for files. Call
/// [`Writer::finish`] to write `# EOF`; without it the output is not valid OpenMetrics.
#[derive(Debug)]
pub struct Writer<W: io::Write> {
    out: W,
    buf: String,
    prefix: String,
    family: Option<String>,
    closed: HashSet<String>,
    finished: bool,
}

impl<W: io::Write> Writer<W> {
    /// A writer with nothing written yet.
    pub fn new(out: W) -> Self {
        Writer {
            out,
            buf: String::new(),
            prefix: String::new(),
            family: None,
            closed: HashSet::new(),
            finished: false,
        }
    }

    /// Writes the samples `(milliseconds, value)` of one series, in the order given
    /// (OpenMetrics wants them in time order). Returns the number written. Series of
    /// the same metric name must come one after another: a name that comes back after
    /// another is refused with [`WriteError::InterleavedFamily`] (sort with
    /// [`family_order`]).
    pub fn write_series<I>(&mut self, labels: &Labels, samples: I) -> Result<usize, WriteError>
    where
        I: IntoIterator<Item = (i64, f64)>,
    {
        if self.finished {
            return Err(WriteError::Finished);
        }
        let mut samples = samples.into_iter().peekable();
        if samples.peek().is_none() {
            return Ok(0);
        }
        self.buf.clear();
        self.start_family(labels)?;
        self.prefix.clear();
        write_series_text(&mut self.prefix, labels);
        self.prefix.push(' ');
        let mut n = 0;
        for (t, v) in samples {
            self.buf.push_str(&self.prefix);
            write_value(&mut self.buf, v);
            self.buf.push(' ');
            write_timestamp(&mut self.buf, t);
            self.buf.push('\n');
            n += 1;
            if self.buf.len() >= 1 << 16 {
                self.out.write_all(self.buf.as_bytes())?;
                self.buf.clear();
            }
        }
        if !self.buf.is_empty() {
            self.out.write_all(self.buf.as_bytes())?;
        }
        Ok(n)
    }

    /// Writes one sample. Consecutive calls for the same series are fine; see
    /// [`Writer::write_series`] for the grouping rule.
    pub fn write_sample(
        &mut self,
        labels: &Labels,
        timestamp_ms: i64,
        value: f64,
    ) -> Result<(), WriteError> {
        self.write_series(labels, [(timestamp_ms, value)])
            .map(|_| ())
    }

    /// Writes `# EOF` and returns the underlying writer (flushed).
    pub fn finish(mut self) -> Result<W, WriteError> {
        if self.finished {
            return Err(WriteError::Finished);
        }
        self.finished = true;
        self.out.write_all(b"# EOF\n")?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Appends a `# TYPE` line to `buf` if `labels` starts a new family.
    fn start_family(&mut self, labels: &Labels) -> Result<(), WriteError> {
        let Some(name) = labels.metric_name() else {
            return Err(WriteError::MissingMetricName {
                labels: cut(&labels.to_string()),
            });
        };
        if self.family.as_deref() == Some(name) {
            return Ok(());
        }
        if self.closed.contains(name) {
            return Err(WriteError::InterleavedFamily {
                name: name.to_owned(),
            });
        }
        if let Some(prev) = self.family.take() {
            self.closed.insert(prev);
        }
        self.family = Some(name.to_owned());
        self.buf.push_str("# TYPE ");
        self.buf.push_str(name);
        self.buf.push_str(" unknown\n");
        Ok(())
    }
}

/// Orders label sets by metric name first, then by the whole label set: the order in
/// which [`Writer`] wants its series.
pub fn family_order(a: &Labels, b: &Labels) -> Ordering {
    a.metric_name().cmp(&b.metric_name()).then_with(|| a.cmp(b))
}

/// Appends `name{label="value",...}` for `labels` (the metric name, then the other labels
/// in order, values escaped; no braces when there are no other labels).
pub fn write_series_text(out: &mut String, labels: &Labels) {
    if let Some(name) = labels.metric_name() {
        out.push_str(name);
    }
    let mut first = true;
    for (n, v) in labels.iter().filter(|(n, _)| *n != METRIC_NAME) {
        out.push_str(if first { "{" } else { "," });
        first = false;
        out.push_str(n);
        out.push_str("=\"");
        write_escaped(out, v);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
}

/// Appends a label value with `\`, `"` and line feed escaped.
pub fn write_escaped(out: &mut String, value: &str) {
    if !value.contains(['\\', '"', '\n']) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}
