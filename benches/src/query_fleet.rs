//! The query-latency fixture: the fleet data of `../shared/peers/gen.py --hosts 100 --hours
//! 24`, imported into a fresh [`Db`] the way `tsdb import` does, persisted to segments and
//! reopened; the peers' PromQL battery (`../shared/peers/queries.txt`, read at run time so
//! it stays theirs); and the query times of the peers' harness (`bench.py`): T = end of the
//! data − interval/2, instant queries at T, range queries over `[T − range, T]` at `step`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tsdb_core::Db;
use tsdb_examples::import::{tool_options, Format, ImportOptions, Note, Parsed, TimeCheck};
use tsdb_examples::timearg::parse_duration_ns;
use tsdb_query::{Engine, Value};

use crate::data;

/// Hosts of the fleet data set.
pub const HOSTS: u32 = 100;
/// Hours of the fleet data set.
pub const HOURS: u32 = 24;

/// Instant (`/api/v1/query`) or range (`/api/v1/query_range`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Evaluated at T.
    Instant,
    /// Evaluated over `[T − range, T]` at `step`.
    Range,
}

impl Kind {
    /// `instant` or `range`, as in queries.txt.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Instant => "instant",
            Kind::Range => "range",
        }
    }
}

/// One query of the battery.
#[derive(Clone, Debug)]
pub struct Query {
    /// Unique name (the peers' result file name).
    pub name: String,
    /// Instant or range.
    pub kind: Kind,
    /// Range length in milliseconds (range queries; 0 for instant ones).
    pub range_ms: i64,
    /// Step in milliseconds (range queries; 0 for instant ones).
    pub step_ms: i64,
    /// The PromQL text.
    pub promql: String,
}

impl Query {
    /// Parses and evaluates the query at `anchor_ms` (T): what one timed repetition does.
    pub fn run(&self, engine: &Engine, db: &Db, anchor_ms: i64) -> tsdb_query::Result<Value> {
        match self.kind {
            Kind::Instant => engine.instant_query(db, &self.promql, anchor_ms),
            Kind::Range => engine.range_query(
                db,
                &self.promql,
                anchor_ms - self.range_ms,
                anchor_ms,
                self.step_ms,
            ),
        }
    }
}

/// The peers' query file, `../shared/peers/queries.txt`.
pub fn queries_file() -> PathBuf {
    data::peers_dir().join("queries.txt")
}

/// Reads a queries.txt: `name | instant|range | range | step | promql` per line (the PromQL
/// may contain `|`), `#` comments and blank lines skipped.
pub fn read_queries(path: &Path) -> Result<Vec<Query>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_queries(&text).map_err(|e| format!("{}:{e}", path.display()))
}

/// Parses the text of a queries.txt; errors start with the line number.
pub fn parse_queries(text: &str) -> Result<Vec<Query>, String> {
    let mut out: Vec<Query> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.splitn(5, '|').map(str::trim).collect();
        let [name, kind, range, step, promql] = parts[..] else {
            return Err(format!(
                "{}: expected 'name | instant|range | range | step | promql'",
                n + 1
            ));
        };
        let kind = match kind {
            "instant" => Kind::Instant,
            "range" => Kind::Range,
            other => return Err(format!("{}: kind {other:?} is not instant or range", n + 1)),
        };
        let ms = |what: &str, s: &str| -> Result<i64, String> {
            match kind {
                Kind::Instant => Ok(0),
                Kind::Range => parse_duration_ns(s)
                    .map(|ns| ns / 1_000_000)
                    .map_err(|e| format!("{}: {what}: {e}", n + 1)),
            }
        };
        if out.iter().any(|q| q.name == name) {
            return Err(format!("{}: duplicate name {name}", n + 1));
        }
        out.push(Query {
            name: name.to_owned(),
            kind,
            range_ms: ms("range", range)?,
            step_ms: ms("step", step)?,
            promql: promql.to_owned(),
        });
    }
    Ok(out)
}

/// What `gen.py` says about its data set (`meta.json`).
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    /// Exclusive end of the data, Unix seconds.
    pub end_s: i64,
    /// Seconds between samples.
    pub interval_s: i64,
    /// Series in the data set.
    pub series: u64,
    /// Samples in the data set.
    pub samples: u64,
}

impl Meta {
    /// Reads `DIR/meta.json`.
    pub fn read(dir: &Path) -> Result<Meta, String> {
        let path = dir.join("meta.json");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let j: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let int = |key: &str| {
            j.get(key)
                .and_then(serde_json::Value::as_i64)
                .ok_or_else(|| format!("{}: no integer {key}", path.display()))
        };
        Ok(Meta {
            end_s: int("end_s")?,
            interval_s: int("interval_s")?,
            series: int("series")? as u64,
            samples: int("samples")? as u64,
        })
    }

    /// T of the peers' harness: `end_s − interval_s / 2`, in milliseconds.
    pub fn anchor_ms(&self) -> i64 {
        self.end_s * 1000 - self.interval_s * 1000 / 2
    }
}

/// A fresh database holding the fleet data, all of it in segments, opened again.
pub struct Fixture {
    /// The reopened database.
    pub db: Db,
    /// The data set's description.
    pub meta: Meta,
    /// Where the data set came from.
    pub source: PathBuf,
    /// Import (read + append) and persist times in seconds, and segments after the reopen.
    pub load: LoadStats,
    _dir: tempfile::TempDir,
}

/// How the fixture was built.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadStats {
    /// Reading and parsing data.om, seconds.
    pub read_s: f64,
    /// Appending, seconds.
    pub append_s: f64,
    /// `persist_all` + close, seconds.
    pub persist_s: f64,
    /// Samples loaded.
    pub samples: u64,
    /// Series loaded.
    pub series: usize,
    /// Segments after the reopen.
    pub segments: usize,
    /// Samples left in the head after the reopen (0: everything is in segments).
    pub head_samples: usize,
}

impl Fixture {
    /// Generates the data set if it is not cached yet (or uses `data_dir`), imports it into
    /// a temporary directory under `tmp_in`, persists everything and reopens it.
    pub fn load(data_dir: Option<&Path>, tmp_in: &Path) -> Result<Fixture, String> {
        let source = match data_dir {
            Some(d) => d.to_path_buf(),
            None => data::fleet_dir(HOSTS, HOURS)?,
        };
        let meta = Meta::read(&source)?;
        let mut report = |note: Note<'_>| {
            if let Note::Refused { message, .. } = note {
                eprintln!("import: {message}");
            }
        };
        // the data set's times are whatever gen.py wrote when it was cached: any time goes
        let options = ImportOptions {
            format: Some(Format::OpenMetrics),
            time_check: TimeCheck::Any,
            show_per_reason: 5,
            ..ImportOptions::default()
        };
        let start = Instant::now();
        let parsed = Parsed::read(&[source.join("data.om")], &options, &mut report)
            .map_err(|e| e.to_string())?;
        let read_s = start.elapsed().as_secs_f64();
        std::fs::create_dir_all(tmp_in).map_err(|e| format!("{}: {e}", tmp_in.display()))?;
        let dir = tempfile::Builder::new()
            .prefix("tsdb-query-bench")
            .tempdir_in(tmp_in)
            .map_err(|e| format!("temporary directory in {}: {e}", tmp_in.display()))?;
        let db = Db::open(dir.path(), options.db_options()).map_err(|e| e.to_string())?;
        let start = Instant::now();
        let summary = parsed
            .append_to(&db, &mut report)
            .map_err(|e| e.to_string())?;
        let append_s = start.elapsed().as_secs_f64();
        if summary.refused_total() > 0 {
            return Err(format!(
                "import refused {} samples",
                summary.refused_total()
            ));
        }
        let start = Instant::now();
        db.persist_all().map_err(|e| e.to_string())?;
        db.close().map_err(|e| e.to_string())?;
        drop(db);
        let persist_s = start.elapsed().as_secs_f64();
        let db = Db::open(dir.path(), tool_options()).map_err(|e| e.to_string())?;
        let stats = db.stats().map_err(|e| e.to_string())?;
        Ok(Fixture {
            db,
            meta,
            source,
            load: LoadStats {
                read_s,
                append_s,
                persist_s,
                samples: summary.loaded,
                series: summary.series,
                segments: stats.segments.len(),
                head_samples: stats.head_samples,
            },
            _dir: dir,
        })
    }

    /// T of the peers' harness, in milliseconds.
    pub fn anchor_ms(&self) -> i64 {
        self.meta.anchor_ms()
    }
}

/// Series and points in a result, counted as the peers' harness counts them (a scalar or
/// string is 1 and 1; an instant vector has a point per series).
pub fn counts(v: &Value) -> (usize, usize) {
    match v {
        Value::Scalar { .. } | Value::String { .. } => (1, 1),
        Value::Vector(s) => (s.len(), s.len()),
        Value::Matrix(m) => (m.len(), m.iter().map(|s| s.points.len()).sum()),
    }
}

/// `/proc/loadavg`'s three load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_peers_format() {
        let q = parse_queries(
            "# comment\n\nnoop | instant | - | - | vector(1)\n\
             r | range | 12h | 1m30s | a{x=~\"1|2\"} or b\n",
        )
        .unwrap_or_default();
        assert_eq!(q.len(), 2);
        assert_eq!(
            (q[0].kind, q[0].range_ms, q[0].step_ms),
            (Kind::Instant, 0, 0)
        );
        assert_eq!(q[1].promql, "a{x=~\"1|2\"} or b");
        assert_eq!((q[1].range_ms, q[1].step_ms), (43_200_000, 90_000));
        assert!(parse_queries("a | range | x | 1m | up").is_err());
        assert!(parse_queries("a | both | - | - | up").is_err());
        assert!(parse_queries("a | instant | - | - | up\na | instant | - | - | up").is_err());
    }
}
