//! Reading sample files for the report commands and benches.
//!
//! * CSV with a header, `timestamp,value` per row; timestamps as `YYYY-MM-DD HH:MM:SS`
//!   (UTC), RFC 3339, Unix seconds or Unix milliseconds (integers of 10^11 and above are
//!   taken as milliseconds). One file is one series.
//! * OpenMetrics text (`.om`, timestamps in seconds, as `gen.py --formats om` writes) and
//!   Prometheus text (`.prom`, timestamps in milliseconds). Every distinct
//!   `name{labels}` is one series; lines without a timestamp are refused.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use tsdb_compress::Sample;

/// A named series.
#[derive(Clone, Debug)]
pub struct Series {
    /// `name{labels}` as written in the file, or the CSV file name.
    pub name: String,
    /// Samples sorted by time, duplicate timestamps removed (last one wins).
    pub samples: Vec<Sample>,
}

/// Why a file could not be read.
#[derive(Debug)]
pub struct InputError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line number, 0 when not about a line.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.path.display(), self.line, self.reason)
        } else {
            write!(f, "{}: {}", self.path.display(), self.reason)
        }
    }
}

impl std::error::Error for InputError {}

/// The kinds of file understood, by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `.csv`
    Csv,
    /// `.om`: OpenMetrics, seconds.
    OpenMetrics,
    /// `.prom`: Prometheus text exposition, milliseconds.
    Prometheus,
}

impl Format {
    /// The format of `path`, if it is one we read.
    pub fn of(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "csv" => Some(Format::Csv),
            "om" => Some(Format::OpenMetrics),
            "prom" => Some(Format::Prometheus),
            _ => None,
        }
    }
}

/// All readable files under `paths` (files are taken as given, folders walked), sorted.
pub fn collect_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out)?;
    }
    out.sort();
    Ok(out)
}

fn walk(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if p.is_dir() {
        for entry in std::fs::read_dir(p)? {
            walk(&entry?.path(), out)?;
        }
    } else if Format::of(p).is_some() {
        out.push(p.to_path_buf());
    }
    Ok(())
}

/// Reads one file into series.
pub fn read_file(path: &Path) -> Result<Vec<Series>, InputError> {
    let err = |line: usize, reason: String| InputError {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let format = Format::of(path).ok_or_else(|| err(0, "unknown file extension".into()))?;
    let file = File::open(path).map_err(|e| err(0, e.to_string()))?;
    let reader = BufReader::with_capacity(1 << 20, file);
    let mut series = match format {
        Format::Csv => {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            vec![Series {
                name,
                samples: read_csv(reader).map_err(|(l, r)| err(l, r))?,
            }]
        }
        Format::OpenMetrics => read_text(reader, 1000).map_err(|(l, r)| err(l, r))?,
        Format::Prometheus => read_text(reader, 1).map_err(|(l, r)| err(l, r))?,
    };
    for s in &mut series {
        normalise(&mut s.samples);
    }
    Ok(series)
}

/// Sorts by time and keeps the last sample of each timestamp.
fn normalise(samples: &mut Vec<Sample>) {
    if samples.windows(2).all(|w| w[0].t < w[1].t) {
        return;
    }
    samples.sort_by_key(|s| s.t);
    let mut out: Vec<Sample> = Vec::with_capacity(samples.len());
    for s in samples.drain(..) {
        match out.last_mut() {
            Some(last) if last.t == s.t => *last = s,
            _ => out.push(s),
        }
    }
    *samples = out;
}

fn read_csv(reader: impl BufRead) -> Result<Vec<Sample>, (usize, String)> {
    let mut samples = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| (i + 1, e.to_string()))?;
        let line = line.trim();
        if line.is_empty() || (i == 0 && !line.starts_with(|c: char| c.is_ascii_digit())) {
            continue; // header
        }
        let (ts, val) = line
            .split_once(',')
            .ok_or_else(|| (i + 1, "expected timestamp,value".to_string()))?;
        let t = parse_csv_timestamp(ts.trim().trim_matches('"'))
            .ok_or_else(|| (i + 1, format!("unreadable timestamp {ts:?}")))?;
        let v = parse_value(val.trim().trim_matches('"'))
            .ok_or_else(|| (i + 1, format!("unreadable value {val:?}")))?;
        samples.push(Sample { t, v });
    }
    Ok(samples)
}

/// Milliseconds since the epoch from any of the CSV timestamp forms.
pub fn parse_csv_timestamp(s: &str) -> Option<i64> {
    if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f") {
        return Some(dt.and_utc().timestamp_millis());
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_millis());
    }
    if let Ok(n) = s.parse::<i64>() {
        return Some(if n.unsigned_abs() >= 100_000_000_000 {
            n
        } else {
            n.checked_mul(1000)?
        });
    }
    parse_decimal_seconds(s)
}

/// `1705190400.123` seconds as exact milliseconds (no float rounding).
fn parse_decimal_seconds(s: &str) -> Option<i64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let negative = int.starts_with('-');
    let secs: i64 = int.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut ms: i64 = 0;
    for (i, b) in frac.bytes().take(3).enumerate() {
        ms += i64::from(b - b'0') * [100, 10, 1][i];
    }
    let ms = if negative { -ms } else { ms };
    secs.checked_mul(1000)?.checked_add(ms)
}

/// Prometheus-style value: floats plus `NaN`, `+Inf`, `-Inf`.
pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// Reads OpenMetrics or Prometheus text; `ms_per_unit` converts its timestamps.
fn read_text(mut reader: impl BufRead, ms_per_unit: i64) -> Result<Vec<Series>, (usize, String)> {
    let mut index: HashMap<Box<[u8]>, usize> = HashMap::new();
    let mut series: Vec<Series> = Vec::new();
    let mut line = Vec::with_capacity(512);
    let mut last: Option<(Vec<u8>, usize)> = None;
    let mut n = 0usize;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| (n + 1, e.to_string()))?;
        if read == 0 {
            break;
        }
        n += 1;
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() || text.first() == Some(&b'#') {
            continue;
        }
        let key_end = series_key_end(text).ok_or_else(|| (n, "unterminated label set".into()))?;
        let (key, rest) = text.split_at(key_end);
        let rest = std::str::from_utf8(rest).map_err(|_| (n, "not UTF-8".to_string()))?;
        let mut fields = rest.split_ascii_whitespace();
        let value = fields
            .next()
            .and_then(parse_value)
            .ok_or_else(|| (n, "missing or unreadable value".to_string()))?;
        let ts = fields
            .next()
            .ok_or_else(|| (n, "sample has no timestamp".to_string()))?;
        let t = if ms_per_unit == 1 {
            ts.parse::<i64>().ok()
        } else {
            parse_decimal_seconds(ts)
        }
        .ok_or_else(|| (n, format!("unreadable timestamp {ts:?}")))?;
        let idx = match &last {
            Some((k, i)) if k.as_slice() == key => *i,
            _ => {
                let i = match index.get(key) {
                    Some(&i) => i,
                    None => {
                        let i = series.len();
                        index.insert(key.into(), i);
                        series.push(Series {
                            name: String::from_utf8_lossy(key).into_owned(),
                            samples: Vec::new(),
                        });
                        i
                    }
                };
                last = Some((key.to_vec(), i));
                i
            }
        };
        if let Some(s) = series.get_mut(idx) {
            s.samples.push(Sample { t, v: value });
        }
    }
    Ok(series)
}

/// Length of `name{labels}` at the start of a sample line, honouring quoted label values.
fn series_key_end(line: &[u8]) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    let mut in_labels = false;
    for (i, &b) in line.iter().enumerate() {
        if in_quotes {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_quotes = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'{' => in_labels = true,
            b'"' if in_labels => in_quotes = true,
            b'}' if in_labels => return Some(i + 1),
            b' ' | b'\t' if !in_labels => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_every_form() {
        let want = 1_396_449_540_000; // 2014-04-02 14:39:00 UTC
        assert_eq!(parse_csv_timestamp("2014-04-02 14:39:00"), Some(want));
        assert_eq!(parse_csv_timestamp("2014-04-02T14:39:00Z"), Some(want));
        assert_eq!(parse_csv_timestamp("2014-04-02T16:39:00+02:00"), Some(want));
        assert_eq!(parse_csv_timestamp("1396449540"), Some(want));
        assert_eq!(parse_csv_timestamp("1396449540000"), Some(want));
        assert_eq!(parse_csv_timestamp("1396449540.25"), Some(want + 250));
        assert_eq!(parse_csv_timestamp("yesterday"), None);
    }

    #[test]
    fn text_format_groups_series_and_respects_quotes() {
        let text = b"# TYPE x gauge\nx{a=\"b c}\"} 1.5 1700000000\ny 2 1700000000.5\nx{a=\"b c}\"} NaN 1700000010\n# EOF\n";
        let series = read_text(&text[..], 1000).unwrap();
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].name, "x{a=\"b c}\"}");
        assert_eq!(series[0].samples.len(), 2);
        assert!(series[0].samples[1].v.is_nan());
        assert_eq!(series[1].samples[0].t, 1_700_000_000_500);
        assert!(read_text(&b"x 1\n"[..], 1000).is_err());
    }
}
