//! Parser for InfluxDB line protocol (v1 and v2, as InfluxData documents it).
//!
//! ```text
//! measurement[,tag_key=tag_value...] field_key=field_value[,field_key=field_value...] [timestamp]
//! ```
//!
//! Each numeric field becomes one sample of the metric `<measurement>_<field_key>`, with
//! the tags as labels (the mapping VictoriaMetrics uses, and the one in
//! `shared/DESIGN.md`): `cpu,host=a usage_user=51.8,usage_idle=40 1705190400000000000`
//! yields `cpu_usage_user{host="a"}` and `cpu_usage_idle{host="a"}`.
//!
//! - **Values**: floats (`1`, `-1.5e3`), integers (`3i`), unsigned integers (`3u`) and
//!   booleans (`t`, `T`, `true`, `True`, `TRUE` → 1; `f`, `F`, `false`, `False`, `FALSE`
//!   → 0). Integers beyond 2^53 are rounded to the nearest `f64`. String fields
//!   (`"..."`) have no number: they are skipped and counted (see
//!   [`Parser::string_fields_skipped`]), or reported as [`ErrorKind::StringField`] when
//!   [`Options::skip_string_fields`] is off. `NaN` and `Inf` are not line protocol.
//! - **Escapes**: a backslash escapes `,` and space in measurements, `,`, `=` and space
//!   in tag keys, tag values and field keys, and `"` in string values; `\\` is one
//!   backslash everywhere; any other backslash is literal. Quoted string values may span
//!   lines.
//! - **Names**: line protocol allows any character; Prometheus names do not. Each
//!   character outside `[a-zA-Z0-9_:]` in a metric name, or outside `[a-zA-Z0-9_]` in a
//!   label name, becomes `_` (VictoriaMetrics' `-usePromCompatibleNaming`), and a name
//!   starting with a digit gets a `_` in front (Prometheus's `influxdb_exporter`).
//!   `cpu.load,host-name=a 1m=0.5` becomes `cpu_load_1m{host_name="a"}`. Label values
//!   are kept as they are. The result is validated by [`Labels`] like any other label
//!   set: a tag key that becomes `__name__` or starts with `__` is refused.
//! - **Timestamps**: integers in the [`Precision`] the caller gives (the `precision`
//!   query parameter of the write API; nanoseconds by default), converted to
//!   milliseconds by truncation toward zero. A line without a timestamp gets
//!   [`Options::default_timestamp`] (the time the request arrived).
//! - Lines starting with `#` are comments; blank lines, leading whitespace, runs of
//!   spaces between sections and CRLF line ends are accepted.
//!
//! Input too large to hold whole is parsed in pieces cut at line ends, each continuing
//! the last ([`Parser::resume`]; a string spanning the cut is carried over).
//!
//! Errors are per line: a line with a syntax error yields one [`LineError`] and no
//! samples. When the label set of a line is refused (a bad tag), the line yields one
//! error rather than one per field.
//!
//! ```
//! use tsdb_text::influx::{Options, Parser, Precision};
//!
//! let body = "weather,location=us\\ midwest temperature=82,humid=true,note=\"hot\" 1465839830\n\
//!             weather,location=paris temperature=\n";
//! let opts = Options { precision: Precision::Seconds, ..Options::default() };
//! let mut p = Parser::new(body.as_bytes(), opts);
//! let t = p.next().unwrap()?;
//! assert_eq!(t.labels.to_string(), r#"weather_temperature{location="us midwest"}"#);
//! assert_eq!((t.timestamp, t.value), (Some(1_465_839_830_000), 82.0));
//! assert_eq!(p.next().unwrap()?.value, 1.0); // weather_humid
//! let e = p.next().unwrap().unwrap_err();
//! assert_eq!(e.line, 2);
//! assert!(p.next().is_none());
//! assert_eq!(p.string_fields_skipped(), 1);
//! # Ok::<(), tsdb_text::LineError>(())
//! ```

use std::borrow::Cow;
use std::collections::hash_map::{Entry, RandomState};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use tsdb_index::{LabelLimits, Labels, METRIC_NAME};

use crate::error::{cut, ErrorKind, LineError};
use crate::num;
use crate::Sample;

/// The unit of the timestamps in the input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// Nanoseconds (`ns`, `n`): the line protocol default.
    #[default]
    Nanoseconds,
    /// Microseconds (`us`, `u`, `µs`).
    Microseconds,
    /// Milliseconds (`ms`).
    Milliseconds,
    /// Seconds (`s`).
    Seconds,
}

impl Precision {
    /// Reads the `precision` parameter of the v1 (`n`, `ns`, `u`, `ms`, `s`) and v2
    /// (`ns`, `us`, `ms`, `s`) write APIs.
    pub fn parse(s: &str) -> Option<Precision> {
        Some(match s {
            "ns" | "n" => Precision::Nanoseconds,
            "us" | "u" | "µs" => Precision::Microseconds,
            "ms" => Precision::Milliseconds,
            "s" => Precision::Seconds,
            _ => return None,
        })
    }

    /// `t` in this precision as milliseconds (truncated toward zero); `None` on overflow.
    pub fn to_millis(self, t: i64) -> Option<i64> {
        match self {
            Precision::Nanoseconds => Some(t / 1_000_000),
            Precision::Microseconds => Some(t / 1_000),
            Precision::Milliseconds => Some(t),
            Precision::Seconds => t.checked_mul(1000),
        }
    }
}

/// How to parse.
#[derive(Clone, Debug)]
pub struct Options {
    /// The unit of timestamps. Default nanoseconds.
    pub precision: Precision,
    /// The timestamp (milliseconds) of lines without one. Default `None`.
    pub default_timestamp: Option<i64>,
    /// Limits for the label sets. Default [`LabelLimits::default`].
    pub limits: LabelLimits,
    /// Skip string fields silently (counted) instead of yielding an
    /// [`ErrorKind::StringField`] for each. Default `true`.
    pub skip_string_fields: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            precision: Precision::Nanoseconds,
            default_timestamp: None,
            limits: LabelLimits::default(),
            skip_string_fields: true,
        }
    }
}

/// Streaming parser over a byte buffer: an iterator of `Result<Sample, LineError>`, one
/// item per numeric field or refused line.
#[derive(Debug)]
pub struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
    /// Line number of the physical line holding `line_start`.
    line_no: usize,
    /// Byte offset where the current physical line starts.
    line_start: usize,
    opts: Options,
    pending: VecDeque<Result<Sample, LineError>>,
    string_fields_skipped: u64,
    fields: Vec<Field<'a>>,
    cache: LabelCache,
    /// More input follows in another piece (see [`Parser::resume`]).
    more_input: bool,
    /// Set when a quoted string ran to the end of a piece with more input to come: the
    /// parser stopped at the start of that line.
    stopped: bool,
}

#[derive(Debug)]
struct Field<'a> {
    key: Cow<'a, str>,
    /// `None` for a string field.
    value: Option<f64>,
    line: usize,
    col: usize,
}

/// A parsed line (its fields are in the parser).
struct Parsed<'a> {
    series_start: usize,
    series_hash: u64,
    /// The raw bytes of measurement and tag set: equal bytes, equal label sets.
    series_key: &'a [u8],
    /// `None` when the series key was in the cache and so was not parsed again.
    series: Option<Series<'a>>,
    timestamp: Option<i64>,
}

/// Measurement and tags of a line, unescaped.
struct Series<'a> {
    measurement: Cow<'a, str>,
    tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// Label sets built for recent lines, by series key and field key. Request bodies
/// repeat each series once per timestamp, so most lines skip parsing their tags and
/// building labels. The cache is dropped whole when it grows past [`CACHE_MAX_LABELS`],
/// so its memory stays bounded on any input.
///
/// Keys are looked up by their SipHash under a random key (one hash per line); the
/// entry keeps the key bytes, so a 64-bit collision is a miss, never a wrong label set.
#[derive(Debug, Default)]
struct LabelCache {
    map: HashMap<u64, CacheEntry, BuildHasherDefault<U64Hasher>>,
    hasher: RandomState,
    labels: usize,
}

#[derive(Debug)]
struct CacheEntry {
    key: Box<[u8]>,
    fields: Vec<(Box<str>, Labels)>,
}

impl LabelCache {
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn get(&self, hash: u64, key: &[u8]) -> Option<&CacheEntry> {
        self.map.get(&hash).filter(|e| *e.key == *key)
    }

    /// The entry for `key`, made empty if absent (or taken by another key).
    fn entry(&mut self, hash: u64, key: &[u8]) -> &mut CacheEntry {
        if self.labels >= CACHE_MAX_LABELS || self.map.len() >= CACHE_MAX_LABELS {
            self.map.clear();
            self.labels = 0;
        }
        let fresh = || CacheEntry {
            key: key.into(),
            fields: Vec::new(),
        };
        match self.map.entry(hash) {
            Entry::Occupied(o) => {
                let e = o.into_mut();
                if *e.key != *key {
                    self.labels -= e.fields.len();
                    *e = fresh();
                }
                e
            }
            Entry::Vacant(v) => v.insert(fresh()),
        }
    }
}

/// The cache's keys are already SipHash values: hashing them again is the identity.
#[derive(Debug, Default)]
struct U64Hasher(u64);

impl Hasher for U64Hasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Most label sets (and series keys) kept in the cache.
const CACHE_MAX_LABELS: usize = 1 << 14;

/// Most fields cached per series key.
const CACHE_MAX_FIELDS: usize = 64;

/// An error noticed at byte offset `at` of the input.
struct Fail {
    at: usize,
    kind: ErrorKind,
    /// Where to resume: the first line end at or after this offset.
    resume: usize,
}

impl Fail {
    fn at(at: usize, kind: ErrorKind) -> Self {
        Fail {
            at,
            kind,
            resume: at,
        }
    }
}

const MEASUREMENT_ESCAPES: &[u8] = b", \\";
const KEY_ESCAPES: &[u8] = b",= \\";
const STRING_ESCAPES: &[u8] = b"\"\\";

impl<'a> Parser<'a> {
    /// A parser over `input` (a whole request body or file).
    pub fn new(input: &'a [u8], options: Options) -> Self {
        Parser {
            b: input,
            pos: 0,
            line_no: 1,
            line_start: 0,
            opts: options,
            pending: VecDeque::new(),
            string_fields_skipped: 0,
            fields: Vec::new(),
            cache: LabelCache::default(),
            more_input: false,
            stopped: false,
        }
    }

    /// Declares whether more input follows this parser's, for input read in pieces (a
    /// file read a block at a time, see [`Parser::resume`]). While more follows, a quoted
    /// string value that runs to the end of this piece may end in the next one: the parser
    /// stops before the line that holds it instead of refusing the line, and
    /// [`Parser::unparsed`] says where. Default `false`.
    pub fn set_more_input(&mut self, more: bool) {
        self.more_input = more;
    }

    /// Offset in this parser's input of the first byte it did not parse: the input's
    /// length once it has been read to the end, or the start of the line it stopped before
    /// (see [`Parser::set_more_input`]). Those bytes begin the next piece.
    pub fn unparsed(&self) -> usize {
        if self.stopped {
            self.pos
        } else {
            self.b.len()
        }
    }

    /// A parser over `next`, the piece of input that follows this parser's (starting with
    /// its [`Parser::unparsed`] bytes), continuing where this one stopped: the same options,
    /// label cache and count of skipped string fields, line numbers counting on, and
    /// [`Parser::set_more_input`] as it was. Pieces must be cut at line ends. Resuming on
    /// an empty slice releases the borrow of a buffer before it is refilled.
    pub fn resume<'b>(self, next: &'b [u8]) -> Parser<'b> {
        Parser {
            b: next,
            pos: 0,
            line_no: self.line_no,
            line_start: 0,
            opts: self.opts,
            pending: VecDeque::new(),
            string_fields_skipped: self.string_fields_skipped,
            fields: Vec::new(),
            cache: self.cache,
            more_input: self.more_input,
            stopped: false,
        }
    }

    /// String fields skipped so far (with [`Options::skip_string_fields`] on).
    pub fn string_fields_skipped(&self) -> u64 {
        self.string_fields_skipped
    }

    fn peek(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    fn col(&self, at: usize) -> usize {
        at.saturating_sub(self.line_start) + 1
    }

    fn error(&self, at: usize, kind: ErrorKind) -> LineError {
        LineError::new(self.line_no, Some(self.col(at)), kind)
    }

    /// Offset just past the line end at or after `from` (or the end of input).
    fn line_end_after(&self, from: usize) -> usize {
        let rest = self.b.get(from..).unwrap_or_default();
        match rest.iter().position(|&c| c == b'\n') {
            Some(n) => from + n + 1,
            None => self.b.len(),
        }
    }

    /// A syntax error at `at`, quoting the rest of the line.
    fn syntax(&self, expected: &'static str, at: usize) -> ErrorKind {
        let end = self.line_end_after(at);
        let rest = self.b.get(at..end).unwrap_or_default();
        let rest = String::from_utf8_lossy(rest);
        let rest = rest.trim_end();
        ErrorKind::Syntax {
            expected,
            found: if rest.is_empty() {
                "end of line".to_owned()
            } else {
                format!("{:?}", cut(rest))
            },
        }
    }

    /// Moves to the next physical line starting at `next`.
    fn advance_line(&mut self, next: usize) {
        self.pos = next;
        self.line_start = next;
        self.line_no += 1;
    }

    /// Scans a name-like element from `i` to the first unescaped byte of `stops`, a line
    /// end or the end of input. Returns the element, unescaped.
    fn scan_element(&self, i: usize, stops: &[u8], escapes: &[u8]) -> (Cow<'a, str>, usize, bool) {
        let mut j = i;
        let mut escaped = false;
        while let Some(c) = self.peek(j) {
            if c == b'\\' {
                if self.peek(j + 1).is_some_and(|n| escapes.contains(&n)) {
                    escaped = true;
                    j += 2;
                    continue;
                }
            } else if c == b'\n' || stops.contains(&c) {
                break;
            }
            j += 1;
        }
        let raw = self.b.get(i..j).unwrap_or_default();
        let text = match std::str::from_utf8(raw) {
            Ok(s) if !escaped => Cow::Borrowed(s),
            Ok(s) => Cow::Owned(unescape(s, escapes)),
            Err(_) => return (Cow::Borrowed(""), j, false),
        };
        (text, j, true)
    }

    /// Where the series (measurement and tag set) starting at `i` ends: the first
    /// unescaped space or line end. For a valid series this is where [`Self::parse_series`]
    /// ends.
    fn series_key_end(&self, i: usize) -> usize {
        let mut j = i;
        while let Some(c) = self.peek(j) {
            match c {
                b'\\' if self.peek(j + 1).is_some_and(|n| KEY_ESCAPES.contains(&n)) => j += 2,
                b' ' | b'\n' => break,
                _ => j += 1,
            }
        }
        j
    }

    /// Parses the measurement and tag set starting at `i`; returns them and the offset
    /// after them.
    fn parse_series(&self, mut i: usize) -> Result<(Series<'a>, usize), Fail> {
        let (measurement, j, utf8) = self.scan_element(i, b", ", MEASUREMENT_ESCAPES);
        if !utf8 {
            return Err(Fail::at(i, ErrorKind::InvalidUtf8));
        }
        if measurement.is_empty() {
            return Err(Fail::at(i, ErrorKind::MissingMeasurement));
        }
        i = j;
        let mut tags = Vec::new();
        while self.peek(i) == Some(b',') {
            i += 1;
            let key_at = i;
            let (key, j, utf8) = self.scan_element(i, b",= ", KEY_ESCAPES);
            if !utf8 {
                return Err(Fail::at(key_at, ErrorKind::InvalidUtf8));
            }
            i = j;
            if self.peek(i) != Some(b'=') {
                return Err(Fail::at(i, self.syntax("'=' after the tag key", i)));
            }
            i += 1;
            let value_at = i;
            // `=` is not a separator inside a tag value: the key already ended.
            let (value, j, utf8) = self.scan_element(i, b", ", KEY_ESCAPES);
            if !utf8 {
                return Err(Fail::at(value_at, ErrorKind::InvalidUtf8));
            }
            if key.is_empty() || value.is_empty() {
                return Err(Fail::at(key_at, ErrorKind::EmptyTag { key: cut(&key) }));
            }
            i = j;
            tags.push((key, value));
        }
        Ok((Series { measurement, tags }, i))
    }

    /// Parses one logical line starting at `self.pos` into `self.tags` / `self.fields`
    /// and returns the measurement and the timestamp; `Ok(None)` for a blank or comment
    /// line. On success `self.pos` is past the line end.
    fn parse_line(&mut self) -> Result<Option<Parsed<'a>>, Fail> {
        self.fields.clear();
        let mut i = self.pos;
        while matches!(self.peek(i), Some(b' ' | b'\t' | b'\r')) {
            i += 1;
        }
        match self.peek(i) {
            None | Some(b'\n') | Some(b'#') => return Ok(None),
            _ => {}
        }

        // Measurement and tags; a series key seen before need not be parsed again.
        let series_start = i;
        let key_end = self.series_key_end(i);
        let series_key = self.b.get(series_start..key_end).unwrap_or_default();
        let series_hash = self.cache.hash(series_key);
        let series = if self.cache.get(series_hash, series_key).is_some() {
            i = key_end;
            None
        } else {
            let (series, end) = self.parse_series(i)?;
            i = end;
            Some(series)
        };
        let series_key = self.b.get(series_start..i).unwrap_or_default();
        // A valid series ends where the quick scan ended; if not, hash what was parsed.
        let series_hash = if i == key_end {
            series_hash
        } else {
            self.cache.hash(series_key)
        };

        // Field set, after one or more spaces.
        if self.peek(i) != Some(b' ') {
            return Err(Fail::at(i, ErrorKind::MissingFields));
        }
        while self.peek(i) == Some(b' ') {
            i += 1;
        }
        if matches!(self.peek(i), None | Some(b'\n' | b'\r')) {
            return Err(Fail::at(i, ErrorKind::MissingFields));
        }
        loop {
            let key_at = i;
            let (key, j, utf8) = self.scan_element(i, b",= ", KEY_ESCAPES);
            if !utf8 {
                return Err(Fail::at(key_at, ErrorKind::InvalidUtf8));
            }
            i = j;
            if self.peek(i) != Some(b'=') {
                return Err(Fail::at(i, self.syntax("'=' after the field key", i)));
            }
            if key.is_empty() {
                return Err(Fail::at(i, ErrorKind::EmptyField { key: String::new() }));
            }
            i += 1;
            let value_at = i;
            let (line, col) = (self.line_no, self.col(value_at));
            let value = if self.peek(i) == Some(b'"') {
                i = self.skip_string(i)?;
                None
            } else {
                let start = i;
                while self
                    .peek(i)
                    .is_some_and(|c| !matches!(c, b',' | b' ' | b'\n' | b'\r'))
                {
                    i += 1;
                }
                let raw = self.b.get(start..i).unwrap_or_default();
                Some(field_value(raw).map_err(|k| Fail::at(start, k.with_key(&key)))?)
            };
            self.fields.push(Field {
                key,
                value,
                line,
                col,
            });
            if self.peek(i) == Some(b',') {
                i += 1;
            } else {
                break;
            }
        }

        // Optional timestamp.
        while matches!(self.peek(i), Some(b' ' | b'\t' | b'\r')) {
            i += 1;
        }
        let mut timestamp = None;
        if !matches!(self.peek(i), None | Some(b'\n')) {
            let start = i;
            while self
                .peek(i)
                .is_some_and(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
            {
                i += 1;
            }
            let raw = self.b.get(start..i).unwrap_or_default();
            let text = std::str::from_utf8(raw).unwrap_or("?");
            let t = num::parse_i64(text).map_err(|overflow| {
                let kind = if overflow {
                    ErrorKind::TimestampOutOfRange { text: cut(text) }
                } else {
                    ErrorKind::InvalidTimestamp { text: cut(text) }
                };
                Fail::at(start, kind)
            })?;
            let ms = self.opts.precision.to_millis(t).ok_or_else(|| {
                Fail::at(start, ErrorKind::TimestampOutOfRange { text: cut(text) })
            })?;
            timestamp = Some(ms);
            while matches!(self.peek(i), Some(b' ' | b'\t' | b'\r')) {
                i += 1;
            }
            if !matches!(self.peek(i), None | Some(b'\n')) {
                return Err(Fail::at(i, self.syntax("end of line", i)));
            }
        }
        self.pos = i;
        Ok(Some(Parsed {
            series_start,
            series_hash,
            series_key,
            series,
            timestamp,
        }))
    }

    /// Skips a quoted string value starting at the `"` at `open`; returns the offset
    /// after the closing quote. Line ends inside the string are counted.
    fn skip_string(&mut self, open: usize) -> Result<usize, Fail> {
        let mut j = open + 1;
        let mut newlines = Vec::new();
        loop {
            match self.peek(j) {
                None => {
                    return Err(Fail {
                        at: open,
                        kind: ErrorKind::UnterminatedString,
                        resume: open,
                    })
                }
                Some(b'\\')
                    if self
                        .peek(j + 1)
                        .is_some_and(|n| STRING_ESCAPES.contains(&n)) =>
                {
                    j += 2
                }
                Some(b'"') => break,
                Some(b'\n') => {
                    newlines.push(j);
                    j += 1;
                }
                Some(_) => j += 1,
            }
        }
        if let Some(&last) = newlines.last() {
            self.line_no += newlines.len();
            self.line_start = last + 1;
        }
        Ok(j + 1)
    }

    /// Turns the parsed line into samples (and string-field notes) in `self.pending`.
    fn emit(&mut self, line: Parsed<'a>) {
        let timestamp = line.timestamp.or(self.opts.default_timestamp);
        // A cached series key skipped parsing; parse it now if a field is new to it.
        let mut series = line.series;
        if series.is_none() {
            let known = self.cache.get(line.series_hash, line.series_key);
            let all_known = self.fields.iter().all(|f| {
                f.value.is_none()
                    || known.is_some_and(|e| e.fields.iter().any(|(k, _)| **k == *f.key))
            });
            if !all_known {
                match self.parse_series(line.series_start) {
                    Ok((s, _)) => series = Some(s),
                    Err(fail) => {
                        let err = self.error(fail.at, fail.kind);
                        self.pending.push_back(Err(err));
                        return;
                    }
                }
            }
        }
        let cache = &mut self.cache;
        let entry = cache.entry(line.series_hash, line.series_key);
        let mut added = 0;
        let mut tags: Option<Vec<(Cow<'_, str>, &str)>> = None;
        let mut first = true;
        let mut name = String::new();
        for f in &self.fields {
            let Some(value) = f.value else {
                if self.opts.skip_string_fields {
                    self.string_fields_skipped += 1;
                } else {
                    self.pending.push_back(Err(LineError::new(
                        f.line,
                        Some(f.col),
                        ErrorKind::StringField { key: cut(&f.key) },
                    )));
                }
                continue;
            };
            let cached = entry.fields.iter().find(|(k, _)| **k == *f.key);
            if let Some((_, labels)) = cached {
                self.pending.push_back(Ok(Sample {
                    labels: labels.clone(),
                    timestamp,
                    value,
                }));
                first = false;
                continue;
            }
            let Some(series) = &series else {
                // Unreachable: a field missing from the cache made us parse the series.
                continue;
            };
            let tags = tags.get_or_insert_with(|| {
                series
                    .tags
                    .iter()
                    .map(|(k, v)| (sanitize_label_name(k), v.as_ref()))
                    .collect()
            });
            name.clear();
            name.push_str(&series.measurement);
            name.push('_');
            name.push_str(&f.key);
            let metric = sanitize_metric_name(&name);
            let pairs = std::iter::once((METRIC_NAME, metric.as_ref()))
                .chain(tags.iter().map(|(k, v)| (k.as_ref(), *v)));
            match Labels::with_limits(pairs, &self.opts.limits) {
                Ok(labels) => {
                    // Lines with very many fields are not cached: the lookup is linear.
                    if entry.fields.len() < CACHE_MAX_FIELDS {
                        entry.fields.push((f.key.as_ref().into(), labels.clone()));
                        added += 1;
                    }
                    self.pending.push_back(Ok(Sample {
                        labels,
                        timestamp,
                        value,
                    }));
                }
                Err(e) => {
                    self.pending.push_back(Err(LineError::new(
                        f.line,
                        Some(f.col),
                        ErrorKind::Labels(e),
                    )));
                    if first {
                        // Most likely the tags: one error for the line, not one per field.
                        break;
                    }
                }
            }
            first = false;
        }
        cache.labels += added;
    }
}

impl Iterator for Parser<'_> {
    type Item = Result<Sample, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if self.pos >= self.b.len() || self.stopped {
                return None;
            }
            // A string field spanning lines moves these on; a line that is not finished
            // in this piece restarts from them in the next.
            let (line_no, line_start) = (self.line_no, self.line_start);
            match self.parse_line() {
                Ok(None) => {
                    let next = self.line_end_after(self.pos);
                    self.advance_line(next);
                }
                Ok(Some(line)) => {
                    self.emit(line);
                    let next = self.line_end_after(self.pos);
                    self.advance_line(next);
                }
                Err(fail)
                    if self.more_input && matches!(fail.kind, ErrorKind::UnterminatedString) =>
                {
                    // the string ran to the end of the piece: the rest of the line is in
                    // the next one
                    self.line_no = line_no;
                    self.line_start = line_start;
                    self.stopped = true;
                    return None;
                }
                Err(fail) => {
                    let err = self.error(fail.at, fail.kind);
                    let next = self.line_end_after(fail.resume);
                    self.advance_line(next);
                    return Some(Err(err));
                }
            }
        }
    }
}

impl ErrorKind {
    /// Fills in the field key of a field-value error.
    fn with_key(self, key: &str) -> ErrorKind {
        match self {
            ErrorKind::InvalidFieldValue { text, .. } => ErrorKind::InvalidFieldValue {
                key: cut(key),
                text,
            },
            ErrorKind::EmptyField { .. } => ErrorKind::EmptyField { key: cut(key) },
            other => other,
        }
    }
}

/// Reads an unquoted field value: float, `i` integer, `u` unsigned, or boolean.
fn field_value(raw: &[u8]) -> Result<f64, ErrorKind> {
    let invalid = || ErrorKind::InvalidFieldValue {
        key: String::new(),
        text: cut(&String::from_utf8_lossy(raw)),
    };
    let Ok(s) = std::str::from_utf8(raw) else {
        return Err(invalid());
    };
    if s.is_empty() {
        return Err(ErrorKind::EmptyField { key: String::new() });
    }
    match s {
        "t" | "T" | "true" | "True" | "TRUE" => return Ok(1.0),
        "f" | "F" | "false" | "False" | "FALSE" => return Ok(0.0),
        _ => {}
    }
    if let Some(int) = s.strip_suffix('i') {
        return num::parse_i64(int).map(|v| v as f64).map_err(|_| invalid());
    }
    if let Some(uint) = s.strip_suffix('u') {
        if uint.is_empty() || !uint.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        return uint.parse::<u64>().map(|v| v as f64).map_err(|_| invalid());
    }
    let numeric = s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !numeric || !s.bytes().any(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(invalid()),
    }
}

/// Resolves backslash escapes of the bytes in `escapes`; other backslashes stay.
fn unescape(s: &str, escapes: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&n) = chars.peek() {
                if n.is_ascii() && escapes.contains(&(n as u8)) {
                    out.push(n);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

/// Makes `name` a valid Prometheus metric name: every character outside
/// `[a-zA-Z0-9_:]` becomes `_`, and a leading digit gets a `_` in front. An empty name
/// stays empty.
pub fn sanitize_metric_name(name: &str) -> Cow<'_, str> {
    sanitize(name, |c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Makes `name` a valid Prometheus label name: every character outside `[a-zA-Z0-9_]`
/// becomes `_`, and a leading digit gets a `_` in front. An empty name stays empty.
pub fn sanitize_label_name(name: &str) -> Cow<'_, str> {
    sanitize(name, |c| c.is_ascii_alphanumeric() || c == '_')
}

fn sanitize(name: &str, allowed: fn(char) -> bool) -> Cow<'_, str> {
    let leading_digit = name.starts_with(|c: char| c.is_ascii_digit());
    if !leading_digit && name.chars().all(allowed) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 1);
    if leading_digit {
        out.push('_');
    }
    out.extend(name.chars().map(|c| if allowed(c) { c } else { '_' }));
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizing() {
        assert_eq!(sanitize_metric_name("cpu_usage"), "cpu_usage");
        assert_eq!(sanitize_metric_name("cpu.load:1m"), "cpu_load:1m");
        assert_eq!(sanitize_metric_name("1m"), "_1m");
        assert_eq!(sanitize_metric_name("naïve"), "na_ve");
        assert_eq!(sanitize_label_name("host-name"), "host_name");
        assert_eq!(sanitize_label_name("a:b"), "a_b");
        assert_eq!(sanitize_label_name(""), "");
    }

    #[test]
    fn field_values() {
        assert_eq!(field_value(b"1").unwrap(), 1.0);
        assert_eq!(field_value(b"-1.5e3").unwrap(), -1500.0);
        assert_eq!(field_value(b"3i").unwrap(), 3.0);
        assert_eq!(field_value(b"-3i").unwrap(), -3.0);
        assert_eq!(field_value(b"3u").unwrap(), 3.0);
        assert_eq!(
            field_value(b"18446744073709551615u").unwrap(),
            18446744073709551615.0
        );
        assert_eq!(field_value(b"TRUE").unwrap(), 1.0);
        assert_eq!(field_value(b"f").unwrap(), 0.0);
        for bad in [
            &b"NaN"[..],
            b"inf",
            b"1e400",
            b"-3u",
            b"9223372036854775808i",
            b"i",
            b"u",
            b"tru",
            b"1.2.3",
            b"0x10",
            b"+",
        ] {
            assert!(
                field_value(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn unescaping() {
        assert_eq!(unescape(r"a\ b\,c\=d", KEY_ESCAPES), "a b,c=d");
        assert_eq!(unescape(r"a\=b", MEASUREMENT_ESCAPES), r"a\=b");
        assert_eq!(unescape(r"a\\b\x", KEY_ESCAPES), r"a\b\x");
        assert_eq!(unescape(r"é\", KEY_ESCAPES), "é\\");
    }

    #[test]
    fn precision() {
        assert_eq!(Precision::parse("us"), Some(Precision::Microseconds));
        assert_eq!(Precision::parse("h"), None);
        assert_eq!(Precision::Nanoseconds.to_millis(-1), Some(0));
        assert_eq!(Precision::Nanoseconds.to_millis(1_999_999), Some(1));
        assert_eq!(Precision::Seconds.to_millis(i64::MAX), None);
    }
}
