//! Parser for the Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 text.
//!
//! The two dialects share one grammar and differ in what a timestamp means:
//!
//! | dialect | timestamp | end |
//! |---|---|---|
//! | [`Dialect::Prometheus`] | integer milliseconds (`1705190400123`) | end of input |
//! | [`Dialect::OpenMetrics`] | decimal seconds (`1705190400.123`, `1.7e9`) | a `# EOF` line |
//!
//! OpenMetrics seconds are converted to milliseconds exactly, digit by digit, never
//! through a float; digits below the millisecond are truncated toward zero.
//!
//! [`Parser`] is an iterator that yields one item per sample line: `Ok(`[`Sample`]`)` or
//! `Err(`[`LineError`]`)`. A bad line never stops the lines after it. `# HELP`, `# TYPE`
//! and `# UNIT` lines yield nothing when they are well formed; what they declare is kept
//! per family and available from [`Parser::families`]. Input too large to hold whole is
//! parsed in pieces cut at line ends, each continuing the last ([`Parser::resume`]).
//!
//! What is accepted beyond the strict grammar, in both dialects (Prometheus's parser for
//! the 0.0.4 text format accepts the same): runs of spaces and tabs wherever a space
//! separates tokens, leading and trailing whitespace, CRLF line ends, blank lines, a
//! trailing comma in a label set, and quoted metric and label names
//! (`{"my_metric", "label"="v"}`), which must still be valid names. Exemplars
//! (`# {trace_id="x"} 1.0 [ts]` after the value or timestamp) are skipped. `_created`
//! samples of counter, histogram and summary families are skipped unless
//! [`Options::keep_created`] is set: they are creation times, not measurements. Label
//! names starting with `__`, an explicit `__name__` label included, are refused by
//! [`Labels`] validation like any other invalid label set.
//!
//! ```
//! use tsdb_text::prometheus::{Dialect, MetricType, Options, Parser};
//!
//! let text = "# TYPE http_requests counter\n\
//!             http_requests_total{code=\"200\"} 1027 1705190400.5 # {trace_id=\"a\"} 1\n\
//!             http_requests_created{code=\"200\"} 1705190000\n\
//!             oops{code=\"200\" 1\n# EOF\n";
//! let mut p = Parser::new(text.as_bytes(), Options::new(Dialect::OpenMetrics));
//! let s = p.next().unwrap()?;
//! assert_eq!(s.labels.to_string(), r#"http_requests_total{code="200"}"#);
//! assert_eq!((s.timestamp, s.value), (Some(1_705_190_400_500), 1027.0));
//! let e = p.next().unwrap().unwrap_err(); // the _created line was skipped
//! assert_eq!(e.line, 4);
//! assert!(p.next().is_none());
//! assert_eq!(p.families()[0].metric_type, MetricType::Counter);
//! # Ok::<(), tsdb_text::LineError>(())
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use tsdb_index::{LabelLimits, Labels, METRIC_NAME};

use crate::error::{cut, ErrorKind, LineError};
use crate::find::find_byte;
use crate::num;
use crate::Sample;

/// Which text format the input is in; it decides the unit of timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Prometheus text exposition format 0.0.4: timestamps are integer milliseconds.
    Prometheus,
    /// OpenMetrics 1.0 text: timestamps are decimal seconds; the input ends with `# EOF`.
    OpenMetrics,
}

impl Dialect {
    /// Guesses the dialect from the content: OpenMetrics if a line reads `# EOF`,
    /// Prometheus otherwise. A truncated OpenMetrics file has no `# EOF` and is taken
    /// for Prometheus text, which would read its second timestamps as milliseconds:
    /// callers that know the format (a file extension, a content type) should say so.
    pub fn detect(input: &[u8]) -> Dialect {
        let is_eof = |line: &[u8]| trim_end(line) == b"# EOF";
        // The last non-blank line is `# EOF` in any complete OpenMetrics text.
        let last = input
            .rsplit(|&b| b == b'\n')
            .find(|l| !trim_end(l).is_empty());
        if last.is_some_and(is_eof)
            || input
                .split(|&b| b == b'\n')
                .any(|l| l.first() == Some(&b'#') && is_eof(l))
        {
            Dialect::OpenMetrics
        } else {
            Dialect::Prometheus
        }
    }

    /// The dialect named by an HTTP `Content-Type`: `application/openmetrics-text` is
    /// OpenMetrics, `text/plain` (with or without `version=0.0.4`) is Prometheus text.
    pub fn from_content_type(content_type: &str) -> Option<Dialect> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        if media.eq_ignore_ascii_case("application/openmetrics-text") {
            Some(Dialect::OpenMetrics)
        } else if media.eq_ignore_ascii_case("text/plain") {
            Some(Dialect::Prometheus)
        } else {
            None
        }
    }
}

/// The type a `# TYPE` line declares for a metric family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricType {
    /// `counter`
    Counter,
    /// `gauge`
    Gauge,
    /// `histogram`
    Histogram,
    /// `gaugehistogram` (OpenMetrics)
    GaugeHistogram,
    /// `summary`
    Summary,
    /// `info` (OpenMetrics)
    Info,
    /// `stateset` (OpenMetrics)
    StateSet,
    /// `untyped` (Prometheus text)
    Untyped,
    /// `unknown` (OpenMetrics), and every family without a `# TYPE` line.
    Unknown,
}

impl MetricType {
    /// The word used in `# TYPE` lines.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Untyped => "untyped",
            MetricType::Unknown => "unknown",
        }
    }

    /// Reads a `# TYPE` word; the types of both dialects are accepted in either.
    pub fn parse(word: &str) -> Option<MetricType> {
        Some(match word {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            "untyped" => MetricType::Untyped,
            "unknown" => MetricType::Unknown,
            _ => return None,
        })
    }

    /// True for the types whose `<family>_created` samples are creation times
    /// (OpenMetrics 1.0: counters, histograms and summaries).
    fn has_created(self) -> bool {
        matches!(
            self,
            MetricType::Counter | MetricType::Histogram | MetricType::Summary
        )
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the metadata lines of the input declared about one metric family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Family {
    /// The family name as written in the metadata line.
    pub name: String,
    /// From `# TYPE`; [`MetricType::Unknown`] if only HELP or UNIT was given.
    pub metric_type: MetricType,
    /// From `# HELP`, unescaped.
    pub help: Option<String>,
    /// From `# UNIT` (OpenMetrics).
    pub unit: Option<String>,
}

/// How to parse.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The dialect; `None` (the default) means [`Dialect::detect`] on the input.
    pub dialect: Option<Dialect>,
    /// The timestamp given to samples written without one (a scrape's time). Default
    /// `None`: such samples have no timestamp.
    pub default_timestamp: Option<i64>,
    /// Limits for the label sets. Default [`LabelLimits::default`].
    pub limits: LabelLimits,
    /// Yield the `_created` samples of counter, histogram and summary families too.
    /// Default `false`.
    pub keep_created: bool,
}

impl Options {
    /// Default options for a known dialect.
    pub fn new(dialect: Dialect) -> Self {
        Options {
            dialect: Some(dialect),
            ..Options::default()
        }
    }
}

/// Streaming parser over a byte buffer: an iterator of `Result<Sample, LineError>`, one
/// item per sample line or refused line.
#[derive(Debug)]
pub struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    line_no: usize,
    dialect: Dialect,
    default_timestamp: Option<i64>,
    limits: LabelLimits,
    keep_created: bool,
    families: Vec<Family>,
    family_index: HashMap<String, usize>,
    eof_seen: bool,
    /// The line of the first `# EOF`, in either dialect.
    eof_line: Option<usize>,
    /// More input follows in another piece (see [`Parser::resume`]).
    more_input: bool,
    done: bool,
    /// The series text (`name{labels}`) of the previous sample and its labels: scrapes
    /// and exports repeat a series on consecutive lines.
    last_series: Option<(&'a [u8], Labels)>,
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// What one line produced.
enum Outcome<'a> {
    Skip,
    /// A sample, and its series text as written.
    Sample(Sample, &'a [u8]),
    /// A sample of a series text the caller knows (see [`Parser::next_known`]).
    Known {
        series: &'a [u8],
        value: f64,
        timestamp: Option<i64>,
    },
}

/// A sample line read by [`Parser::next_known`].
#[derive(Clone, Debug)]
pub enum SampleRef<'a> {
    /// The caller knows this series text: its label set was not built.
    Known {
        /// The series text as written (`name{labels}`, whitespace inside kept).
        series: &'a [u8],
        /// The value; every NaN is the one quiet NaN `f64::NAN`.
        value: f64,
        /// As [`Sample::timestamp`]: the line's own, else the default, in milliseconds.
        timestamp: Option<i64>,
    },
    /// A series text the caller does not know: parsed whole.
    New {
        /// The series text as written; the key to remember it by.
        series: &'a [u8],
        /// The sample with its validated label set.
        sample: Sample,
    },
}

/// The end of the series text (`name`, `name{...}`, `name {...}` or `{...}`) that starts
/// at `start`, found without parsing the labels: past the name and, if a label set
/// follows, past its closing brace outside quotes. `None` when the text has no end on the
/// line (the full parse then reports why).
fn scan_series_end(line: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    while line.get(i).copied().is_some_and(is_metric_char) {
        i += 1;
    }
    let after_name = i;
    while matches!(line.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    if line.get(i) != Some(&b'{') {
        return (after_name > start).then_some(after_name);
    }
    i += 1;
    let mut quoted = false;
    loop {
        match (line.get(i)?, quoted) {
            (b'\\', true) => i += 1,
            (b'"', _) => quoted = !quoted,
            (b'}', false) => return Some(i + 1),
            _ => {}
        }
        i += 1;
    }
}

impl<'a> Parser<'a> {
    /// A parser over `input` (a whole scrape body or file).
    pub fn new(input: &'a [u8], options: Options) -> Self {
        let dialect = options.dialect.unwrap_or_else(|| Dialect::detect(input));
        Parser {
            input,
            pos: 0,
            line_no: 0,
            dialect,
            default_timestamp: options.default_timestamp,
            limits: options.limits,
            keep_created: options.keep_created,
            families: Vec::new(),
            family_index: HashMap::new(),
            eof_seen: false,
            eof_line: None,
            more_input: false,
            done: false,
            last_series: None,
            pairs: Vec::new(),
        }
    }

    /// Declares whether more input follows this parser's, for input read in pieces (a
    /// file read a block at a time, see [`Parser::resume`]). While more follows, the end
    /// of this piece is not the end of the input: a missing `# EOF` is not reported there.
    /// Default `false`.
    pub fn set_more_input(&mut self, more: bool) {
        self.more_input = more;
    }

    /// A parser over `next`, the piece of input that follows this parser's, continuing
    /// where this one stopped: the same dialect and options, the families declared so far
    /// (so `_created` samples are still recognised), whether `# EOF` was seen (so data
    /// after it is still refused), line numbers counting on, and [`Parser::set_more_input`]
    /// as it was. Pieces must be cut at line ends. Resuming on an empty slice releases the
    /// borrow of a buffer before it is refilled.
    pub fn resume<'b>(self, next: &'b [u8]) -> Parser<'b> {
        Parser {
            input: next,
            pos: 0,
            line_no: self.line_no,
            dialect: self.dialect,
            default_timestamp: self.default_timestamp,
            limits: self.limits,
            keep_created: self.keep_created,
            families: self.families,
            family_index: self.family_index,
            eof_seen: self.eof_seen,
            eof_line: self.eof_line,
            more_input: self.more_input,
            done: false,
            last_series: None,
            pairs: Vec::new(),
        }
    }

    /// The line of the first `# EOF` line read, in either dialect. In Prometheus text it
    /// is only a comment, but it is a sign that the input is OpenMetrics (timestamps in
    /// seconds, not milliseconds): callers told the input is Prometheus text can refuse it.
    pub fn eof_line(&self) -> Option<usize> {
        self.eof_line
    }

    /// The dialect in use (given or detected).
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The families declared by metadata lines so far, in order of first appearance.
    pub fn families(&self) -> &[Family] {
        &self.families
    }

    /// The declared type of the family named `name` (exactly), if any metadata line
    /// named it.
    pub fn family_type(&self, name: &str) -> Option<MetricType> {
        let i = *self.family_index.get(name)?;
        self.families.get(i).map(|f| f.metric_type)
    }

    /// Lines read so far.
    pub fn lines_read(&self) -> usize {
        self.line_no
    }

    /// Applies `update` to the family named `name`, creating it on first mention.
    fn update_family(&mut self, name: &str, update: impl FnOnce(&mut Family)) {
        let i = match self.family_index.get(name) {
            Some(&i) => i,
            None => {
                let i = self.families.len();
                self.families.push(Family {
                    name: name.to_owned(),
                    metric_type: MetricType::Unknown,
                    help: None,
                    unit: None,
                });
                self.family_index.insert(name.to_owned(), i);
                i
            }
        };
        if let Some(f) = self.families.get_mut(i) {
            update(f);
        }
    }

    fn parse_line<K: FnMut(&[u8]) -> bool>(
        &mut self,
        raw: &'a [u8],
        known: Option<&mut K>,
    ) -> Result<Outcome<'a>, (Option<usize>, ErrorKind)> {
        let raw = trim_end(raw);
        let line = std::str::from_utf8(raw)
            .map_err(|e| (Some(e.valid_up_to() + 1), ErrorKind::InvalidUtf8))?;
        let mut c = Cur::new(line);
        c.skip_ws();
        match c.peek() {
            None => return Ok(Outcome::Skip),
            _ if self.eof_seen => return Err((Some(c.col()), ErrorKind::DataAfterEof)),
            Some(b'#') => {
                c.bump();
                self.parse_meta(c)?;
                return Ok(Outcome::Skip);
            }
            _ => {}
        }
        self.parse_sample(raw, c, known)
    }

    /// `# HELP`, `# TYPE`, `# UNIT`, `# EOF` or a comment; `c` is past the `#`.
    fn parse_meta(&mut self, mut c: Cur<'a>) -> Result<(), (Option<usize>, ErrorKind)> {
        if c.skip_ws() == 0 {
            return Ok(()); // `#foo`: a comment
        }
        let word = c.take_until_ws();
        let om = self.dialect == Dialect::OpenMetrics;
        match word {
            "EOF" if c.at_end() => {
                self.eof_line.get_or_insert(self.line_no);
                if om {
                    self.eof_seen = true;
                }
                Ok(())
            }
            "HELP" | "TYPE" | "UNIT" if c.skip_ws() > 0 => {
                if word == "UNIT" && !om {
                    return Ok(()); // Prometheus text has no units: a comment.
                }
                let name_col = c.col();
                let name: Cow<'a, str> = if c.peek() == Some(b'"') {
                    c.bump();
                    c.quoted()?
                } else {
                    Cow::Borrowed(c.take_while(is_metric_char))
                };
                if name.is_empty() {
                    return Err((Some(name_col), syntax("metric name", c.rest())));
                }
                let had_ws = c.skip_ws() > 0;
                if !had_ws && !c.at_end() {
                    return Err((Some(c.col()), syntax("whitespace", c.rest())));
                }
                let text_col = c.col();
                let text = c.rest();
                match word {
                    "TYPE" => {
                        let t = MetricType::parse(text).ok_or_else(|| {
                            let kind = if text.is_empty() {
                                syntax("metric type", "")
                            } else {
                                ErrorKind::InvalidMetricType { text: cut(text) }
                            };
                            (Some(text_col), kind)
                        })?;
                        self.update_family(&name, |f| f.metric_type = t);
                    }
                    "HELP" => {
                        let help = unescape_help(text, om);
                        self.update_family(&name, |f| f.help = Some(help));
                    }
                    _ => {
                        if !text.is_empty() {
                            let ok = name.len() > text.len()
                                && name.ends_with(text)
                                && name.as_bytes().get(name.len() - text.len() - 1) == Some(&b'_');
                            if !ok {
                                return Err((
                                    Some(text_col),
                                    ErrorKind::UnitNotSuffix {
                                        unit: cut(text),
                                        family: cut(&name),
                                    },
                                ));
                            }
                        }
                        self.update_family(&name, |f| f.unit = Some(text.to_owned()));
                    }
                }
                Ok(())
            }
            _ => Ok(()), // any other comment
        }
    }

    fn parse_sample<K: FnMut(&[u8]) -> bool>(
        &mut self,
        raw: &'a [u8],
        mut c: Cur<'a>,
        known: Option<&mut K>,
    ) -> Result<Outcome<'a>, (Option<usize>, ErrorKind)> {
        let series_start = c.i;
        // A series text the caller knows was parsed whole before (with these options), so
        // its labels are valid: read only the value and timestamp. Only texts starting
        // with the metric name qualify, since the `_created` rule needs the name.
        if let Some(known) = known {
            if raw.get(series_start).copied().is_some_and(is_metric_start) {
                if let Some(end) = scan_series_end(raw, series_start) {
                    let series = raw.get(series_start..end).unwrap_or_default();
                    if known(series) {
                        c.i = end;
                        let (value, timestamp) = self.value_and_time(&mut c)?;
                        let name_len = series
                            .iter()
                            .position(|&b| !is_metric_char(b))
                            .unwrap_or(series.len());
                        let name = std::str::from_utf8(series.get(..name_len).unwrap_or_default())
                            .unwrap_or_default();
                        if self.skips_created(name) {
                            return Ok(Outcome::Skip);
                        }
                        return Ok(Outcome::Known {
                            series,
                            value,
                            timestamp: timestamp.or(self.default_timestamp),
                        });
                    }
                }
            }
        }
        let name_col = c.col();
        // The series text of the previous sample again (scrapes and exports repeat a
        // series on consecutive lines): reuse its validated labels.
        let cached = match &self.last_series {
            Some((key, labels)) => {
                let rest = raw.get(series_start..).unwrap_or_default();
                // `m {a="b"} 1` is m{a="b"}, not m: whitespace may separate a name from
                // its label set, so a hit needs something other than `{` after it
                let after = rest.get(key.len()..).unwrap_or_default();
                let hit = rest.starts_with(key)
                    && matches!(after.first(), Some(b' ' | b'\t'))
                    && after.iter().find(|&&b| b != b' ' && b != b'\t') != Some(&b'{');
                hit.then(|| (key.len(), labels.clone()))
            }
            None => None,
        };
        let mut name: Option<Cow<'a, str>> = None;
        if let Some((len, _)) = &cached {
            c.i += len;
        } else {
            if c.peek().is_some_and(is_metric_start) {
                name = Some(Cow::Borrowed(c.take_while(is_metric_char)));
                // Prometheus allows whitespace between the name and `{`.
                let after_name = c;
                c.skip_ws();
                if c.peek() != Some(b'{') {
                    c = after_name;
                }
            }
            self.pairs.clear();
            if c.peek() == Some(b'{') {
                c.bump();
                self.parse_labels(&mut c, &mut name)?;
            }
            // A quoted name can be empty (`{""}`); a sample needs a name whatever the
            // label limits say.
            if name.as_deref().is_none_or(str::is_empty) {
                return Err((Some(name_col), syntax("metric name", c.rest())));
            }
        }
        let series_end = c.i;
        let (value, timestamp) = self.value_and_time(&mut c)?;

        let metric = match (&cached, &name) {
            (Some((_, l)), _) => l.metric_name().unwrap_or_default(),
            (None, Some(n)) => n.as_ref(),
            (None, None) => "",
        };
        if self.skips_created(metric) {
            return Ok(Outcome::Skip);
        }

        let labels = match (cached, name) {
            (Some((_, labels)), _) => labels,
            (None, name) => {
                let name = name.unwrap_or_default();
                let pairs = std::iter::once((METRIC_NAME, name.as_ref()))
                    .chain(self.pairs.iter().map(|(n, v)| (n.as_ref(), v.as_ref())));
                let l = Labels::with_limits(pairs, &self.limits)
                    .map_err(|e| (Some(name_col), ErrorKind::Labels(e)))?;
                let key = raw.get(series_start..series_end).unwrap_or_default();
                self.last_series = Some((key, l.clone()));
                l
            }
        };
        Ok(Outcome::Sample(
            Sample {
                labels,
                timestamp: timestamp.or(self.default_timestamp),
                value,
            },
            raw.get(series_start..series_end).unwrap_or_default(),
        ))
    }

    /// After the series text: whitespace, the value, an optional timestamp, an optional
    /// exemplar (skipped), the end of the line.
    fn value_and_time(
        &self,
        c: &mut Cur<'a>,
    ) -> Result<(f64, Option<i64>), (Option<usize>, ErrorKind)> {
        if c.skip_ws() == 0 {
            let kind = if c.at_end() {
                syntax("value", "")
            } else {
                syntax("whitespace", c.rest())
            };
            return Err((Some(c.col()), kind));
        }
        let value_col = c.col();
        let value = num::parse_value(c.take_until_ws()).map_err(|k| (Some(value_col), k))?;
        let mut timestamp = None;
        if c.skip_ws() > 0 && !c.at_end() && c.peek() != Some(b'#') {
            let ts_col = c.col();
            let text = c.take_until_ws();
            let t = match self.dialect {
                Dialect::Prometheus => num::parse_int_ms(text),
                Dialect::OpenMetrics => num::parse_seconds_ms(text),
            };
            timestamp = Some(t.map_err(|k| (Some(ts_col), k))?);
            if c.skip_ws() == 0 && !c.at_end() {
                return Err((Some(c.col()), syntax("end of line", c.rest())));
            }
        }
        // Whatever follows now is an exemplar (`# {...} v [ts]`), which is skipped.
        if !c.at_end() && c.peek() != Some(b'#') {
            return Err((Some(c.col()), syntax("end of line or exemplar", c.rest())));
        }

        Ok((value, timestamp))
    }

    /// True for a `_created` sample of a counter, histogram or summary family, unless
    /// they are kept.
    fn skips_created(&self, metric: &str) -> bool {
        if self.keep_created || self.families.is_empty() {
            return false;
        }
        metric
            .strip_suffix("_created")
            .is_some_and(|base| self.family_type(base).is_some_and(MetricType::has_created))
    }

    /// The label set after `{`, up to and including `}`. A quoted string followed by `,`
    /// or `}` is the metric name.
    fn parse_labels(
        &mut self,
        c: &mut Cur<'a>,
        name: &mut Option<Cow<'a, str>>,
    ) -> Result<(), (Option<usize>, ErrorKind)> {
        loop {
            c.skip_ws();
            let col = c.col();
            let label: Cow<'a, str> = match c.peek() {
                Some(b'}') => {
                    c.bump();
                    return Ok(());
                }
                Some(b'"') => {
                    c.bump();
                    let q = c.quoted()?;
                    c.skip_ws();
                    if matches!(c.peek(), Some(b',' | b'}')) {
                        if name.is_some() {
                            return Err((Some(col), syntax("label name", "a second metric name")));
                        }
                        *name = Some(q);
                        if c.peek() == Some(b',') {
                            c.bump();
                        }
                        continue;
                    }
                    q
                }
                Some(b) if is_label_start(b) => Cow::Borrowed(c.take_while(is_label_char)),
                _ => return Err((Some(col), syntax("label name or }", c.rest()))),
            };
            c.skip_ws();
            if !c.eat(b'=') {
                return Err((Some(c.col()), syntax("=", c.rest())));
            }
            c.skip_ws();
            if !c.eat(b'"') {
                return Err((Some(c.col()), syntax("quoted label value", c.rest())));
            }
            let value = c.quoted()?;
            self.pairs.push((label, value));
            c.skip_ws();
            match c.peek() {
                Some(b',') => c.bump(),
                Some(b'}') => {}
                _ => return Err((Some(c.col()), syntax(", or }", c.rest()))),
            }
        }
    }
}

impl<'a> Parser<'a> {
    /// The next item, as [`Iterator::next`], except that a sample line whose series text
    /// `is_known` accepts is returned without building its label set
    /// ([`SampleRef::Known`]): callers that keep what they need per series text (a scrape
    /// cache, as Prometheus's scrape loop keeps one) skip the label parsing for series
    /// they have seen. Report as known only series texts this parser, or one with the
    /// same options, returned as [`SampleRef::New`]: a known text is not checked again,
    /// so its errors would go unseen. Errors, line numbers and skipped lines are those of
    /// [`Iterator::next`].
    pub fn next_known(
        &mut self,
        mut is_known: impl FnMut(&[u8]) -> bool,
    ) -> Option<Result<SampleRef<'a>, LineError>> {
        self.next_item(Some(&mut is_known)).map(|r| {
            r.map(|o| match o {
                Outcome::Known {
                    series,
                    value,
                    timestamp,
                } => SampleRef::Known {
                    series,
                    value,
                    timestamp,
                },
                Outcome::Sample(sample, series) => SampleRef::New { series, sample },
                Outcome::Skip => unreachable_skip(),
            })
        })
    }

    /// The next sample or known sample, skipping lines that yield nothing.
    fn next_item<K: FnMut(&[u8]) -> bool>(
        &mut self,
        mut known: Option<&mut K>,
    ) -> Option<Result<Outcome<'a>, LineError>> {
        loop {
            let rest = self.input.get(self.pos..).unwrap_or_default();
            if rest.is_empty() {
                if self.dialect == Dialect::OpenMetrics
                    && !self.eof_seen
                    && !self.done
                    && !self.more_input
                {
                    self.done = true;
                    return Some(Err(LineError::new(
                        self.line_no + 1,
                        None,
                        ErrorKind::MissingEof,
                    )));
                }
                return None;
            }
            let (raw, consumed) = match find_byte(rest, b'\n') {
                Some(n) => (rest.get(..n).unwrap_or_default(), n + 1),
                None => (rest, rest.len()),
            };
            self.pos += consumed;
            self.line_no += 1;
            match self.parse_line(raw, known.as_deref_mut()) {
                Ok(Outcome::Skip) => continue,
                Ok(o) => return Some(Ok(o)),
                Err((col, kind)) => return Some(Err(LineError::new(self.line_no, col, kind))),
            }
        }
    }
}

/// `next_item` never returns [`Outcome::Skip`]; mapped to a harmless value so that no
/// panic path exists.
fn unreachable_skip<'a>() -> SampleRef<'a> {
    SampleRef::Known {
        series: &[],
        value: f64::NAN,
        timestamp: None,
    }
}

impl Iterator for Parser<'_> {
    type Item = Result<Sample, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            return match self.next_item(None::<&mut fn(&[u8]) -> bool>)? {
                Ok(Outcome::Sample(s, _)) => Some(Ok(s)),
                // without a `known` callback there are no known samples; skips are
                // consumed by `next_item`
                Ok(Outcome::Known { .. } | Outcome::Skip) => continue,
                Err(e) => Some(Err(e)),
            };
        }
    }
}

fn syntax(expected: &'static str, found: &str) -> ErrorKind {
    ErrorKind::Syntax {
        expected,
        found: if found.is_empty() {
            "end of line".to_owned()
        } else {
            format!("{:?}", cut(found))
        },
    }
}

fn trim_end(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line.get(end - 1), Some(b' ' | b'\t' | b'\r')) {
        end -= 1;
    }
    line.get(..end).unwrap_or_default()
}

fn is_metric_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

fn is_metric_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

fn is_label_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_label_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// HELP text escapes: `\\` and `\n` (and `\"` in OpenMetrics). Unknown escapes are kept
/// as written: HELP is informational and Prometheus keeps them too.
fn unescape_help(text: &str, om: bool) -> String {
    if !text.contains('\\') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if om => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A cursor over one line.
#[derive(Clone, Copy)]
struct Cur<'s> {
    s: &'s str,
    i: usize,
}

impl<'s> Cur<'s> {
    fn new(s: &'s str) -> Self {
        Cur { s, i: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    /// 1-based column of the cursor.
    fn col(&self) -> usize {
        self.i + 1
    }

    fn bump(&mut self) {
        self.i += 1;
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn rest(&self) -> &'s str {
        self.s.get(self.i..).unwrap_or_default()
    }

    /// Skips spaces and tabs; returns how many.
    fn skip_ws(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        self.i - start
    }

    /// Takes ASCII bytes matching `pred` (always a char boundary after them).
    fn take_while(&mut self, pred: fn(u8) -> bool) -> &'s str {
        let start = self.i;
        while self.peek().is_some_and(pred) {
            self.i += 1;
        }
        self.s.get(start..self.i).unwrap_or_default()
    }

    /// Takes everything up to the next space or tab (a char boundary, being ASCII).
    fn take_until_ws(&mut self) -> &'s str {
        let start = self.i;
        while self.peek().is_some_and(|b| b != b' ' && b != b'\t') {
            self.i += 1;
        }
        self.s.get(start..self.i).unwrap_or_default()
    }

    /// Reads a quoted string whose opening `"` was consumed, through its closing `"`,
    /// resolving `\\`, `\"` and `\n`.
    fn quoted(&mut self) -> Result<Cow<'s, str>, (Option<usize>, ErrorKind)> {
        let start = self.i;
        let bytes = self.s.as_bytes();
        // Fast path: no escapes before the closing quote.
        let mut j = start;
        loop {
            match bytes.get(j) {
                None => return Err((Some(start), ErrorKind::UnterminatedString)),
                Some(b'"') => {
                    self.i = j + 1;
                    return Ok(Cow::Borrowed(self.s.get(start..j).unwrap_or_default()));
                }
                Some(b'\\') => break,
                Some(_) => j += 1,
            }
        }
        let mut out = String::with_capacity(j - start + 16);
        out.push_str(self.s.get(start..j).unwrap_or_default());
        let mut k = j;
        loop {
            let rest = self.s.get(k..).unwrap_or_default();
            let mut chars = rest.chars();
            match chars.next() {
                None => return Err((Some(start), ErrorKind::UnterminatedString)),
                Some('"') => {
                    self.i = k + 1;
                    return Ok(Cow::Owned(out));
                }
                Some('\\') => {
                    let esc = chars.next();
                    match esc {
                        Some('\\') => out.push('\\'),
                        Some('"') => out.push('"'),
                        Some('n') => out.push('\n'),
                        Some(other) => {
                            return Err((Some(k + 1), ErrorKind::InvalidEscape { found: other }))
                        }
                        None => return Err((Some(start), ErrorKind::UnterminatedString)),
                    }
                    k += 1 + esc.map_or(0, char::len_utf8);
                }
                Some(ch) => {
                    out.push(ch);
                    k += ch.len_utf8();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(dialect: Dialect, text: &str) -> Vec<Result<Sample, LineError>> {
        Parser::new(text.as_bytes(), Options::new(dialect)).collect()
    }

    #[test]
    fn detects_the_dialect() {
        assert_eq!(Dialect::detect(b"a 1 1\n# EOF\n"), Dialect::OpenMetrics);
        assert_eq!(Dialect::detect(b"a 1 1\n# EOF"), Dialect::OpenMetrics);
        assert_eq!(
            Dialect::detect(b"a 1 1\r\n# EOF\r\n\r\n"),
            Dialect::OpenMetrics
        );
        assert_eq!(Dialect::detect(b"# EOF\nb 1\n"), Dialect::OpenMetrics);
        assert_eq!(Dialect::detect(b"a 1 1000\n"), Dialect::Prometheus);
        assert_eq!(Dialect::detect(b"# EOFX\n"), Dialect::Prometheus);
        assert_eq!(Dialect::detect(b""), Dialect::Prometheus);
        assert_eq!(
            Dialect::from_content_type(
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            ),
            Some(Dialect::OpenMetrics)
        );
        assert_eq!(
            Dialect::from_content_type("text/plain; version=0.0.4"),
            Some(Dialect::Prometheus)
        );
        assert_eq!(Dialect::from_content_type("application/json"), None);
    }

    #[test]
    fn cached_series_are_reused_but_equal() {
        let out = parse(
            Dialect::Prometheus,
            "a{x=\"1\"} 1 1\na{x=\"1\"} 2 2\na{x=\"2\"} 3 3\n",
        );
        let s: Vec<Sample> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(s[0].labels, s[1].labels);
        assert_ne!(s[1].labels, s[2].labels);
        assert_eq!(s[2].labels.get("x"), Some("2"));
    }

    #[test]
    fn help_unescaping() {
        assert_eq!(unescape_help(r"a\\b\nc\q", false), "a\\b\nc\\q");
        assert_eq!(unescape_help(r#"say \"hi\""#, true), "say \"hi\"");
        assert_eq!(unescape_help(r#"say \"hi\""#, false), r#"say \"hi\""#);
    }
}
