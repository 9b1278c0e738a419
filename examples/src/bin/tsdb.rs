//! `tsdb`: load, dump and inspect a data directory, like `promtool tsdb`.
//!
//! ```sh
//! tsdb import  --data DIR FILE...         # OpenMetrics/Prometheus text or Influx line protocol
//! tsdb export  --data DIR [--match SELECTOR] [--start T] [--end T] > out.om
//! tsdb inspect --data DIR
//! tsdb query   --data DIR [--time T] EXPR  # prints /api/v1/query's JSON
//! tsdb query-range --data DIR --start T --end T --step S EXPR   # /api/v1/query_range's
//! ```

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tsdb_core::Db;
use tsdb_examples::api;
use tsdb_examples::import::{tool_options, Format, Parsed};
use tsdb_examples::timearg::parse_time;
use tsdb_index::{Matcher, METRIC_NAME};
use tsdb_query::Engine;
use tsdb_text::{influx, openmetrics};

#[derive(Parser)]
#[command(
    name = "tsdb",
    about = "Load, dump, inspect and query a tsdb data directory"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Exit codes of `query` and `query-range`, shown in their help.
const QUERY_EXIT_CODES: &str = "Exit status: 0 the query succeeded (the success JSON is on \
    standard output); 1 the query failed: the Prometheus error JSON \
    ({\"status\":\"error\",\"errorType\":...,\"error\":...}) is on standard output, errorType \
    bad_data for a syntax error or a bad --time/--start/--end/--step, execution, timeout or \
    internal otherwise; 2 bad command line; 3 the data directory is missing or cannot be \
    opened (message on standard error).";

/// The query commands' exit status when the data directory cannot be used.
const EXIT_NO_DATA: u8 = 3;

#[derive(Subcommand)]
enum Command {
    /// Loads text files with timestamps into the data directory; bad lines are reported
    /// with their line number and skipped, good ones loaded.
    Import {
        /// The data directory (created if missing).
        #[arg(long)]
        data: PathBuf,
        /// Input format.
        #[arg(long, value_enum, default_value = "auto")]
        format: Format,
        /// Unit of Influx timestamps: ns, us, ms or s.
        #[arg(long, default_value = "ns")]
        precision: String,
        /// Files to load.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Writes samples as OpenMetrics text to standard output.
    Export {
        /// The data directory.
        #[arg(long)]
        data: PathBuf,
        /// Series selector, e.g. `cpu{host=~"a.*"}`. Default: every series.
        #[arg(long = "match")]
        selector: Option<String>,
        /// Start time (RFC 3339 or Unix seconds). Default: the beginning.
        #[arg(long)]
        start: Option<String>,
        /// End time (RFC 3339 or Unix seconds). Default: the end.
        #[arg(long)]
        end: Option<String>,
    },
    /// Prints segments, time ranges, series and sample counts, bytes per sample and the
    /// metrics with the most series.
    Inspect {
        /// The data directory.
        #[arg(long)]
        data: PathBuf,
        /// How many top metrics to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// Evaluates a PromQL expression at one time and prints exactly the JSON that
    /// Prometheus' `/api/v1/query` returns, followed by a newline.
    #[command(after_help = QUERY_EXIT_CODES)]
    Query {
        /// The data directory.
        #[arg(long)]
        data: PathBuf,
        /// Evaluation time: RFC 3339 or Unix seconds with a fraction. Default: now.
        #[arg(long, allow_hyphen_values = true)]
        time: Option<String>,
        /// The PromQL expression (one argument: quote it).
        #[arg(allow_hyphen_values = true)]
        expr: String,
    },
    /// Evaluates a PromQL expression at every step of a time range and prints exactly the
    /// JSON that Prometheus' `/api/v1/query_range` returns, followed by a newline.
    #[command(after_help = QUERY_EXIT_CODES)]
    QueryRange {
        /// The data directory.
        #[arg(long)]
        data: PathBuf,
        /// Start time: RFC 3339 or Unix seconds with a fraction.
        #[arg(long, allow_hyphen_values = true)]
        start: String,
        /// End time: RFC 3339 or Unix seconds with a fraction.
        #[arg(long, allow_hyphen_values = true)]
        end: String,
        /// Resolution: a Prometheus duration (`15s`, `1m30s`) or float seconds.
        #[arg(long, allow_hyphen_values = true)]
        step: String,
        /// The PromQL expression (one argument: quote it).
        #[arg(allow_hyphen_values = true)]
        expr: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Import {
            data,
            format,
            precision,
            files,
        } => import(&data, format, &precision, &files),
        Command::Export {
            data,
            selector,
            start,
            end,
        } => export(&data, selector.as_deref(), start.as_deref(), end.as_deref()),
        Command::Inspect { data, top } => inspect(&data, top),
        Command::Query { data, time, expr } => {
            return query(&data, |engine, db| {
                api::query(engine, db, &expr, time.as_deref(), now_ms())
            })
        }
        Command::QueryRange {
            data,
            start,
            end,
            step,
            expr,
        } => {
            return query(&data, |engine, db| {
                api::query_range(engine, db, &expr, &start, &end, &step)
            })
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tsdb: {e}");
            ExitCode::FAILURE
        }
    }
}

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

fn import(data: &Path, format: Format, precision: &str, files: &[PathBuf]) -> AnyResult<ExitCode> {
    let precision = influx::Precision::parse(precision)
        .ok_or_else(|| format!("unknown precision {precision:?}: use ns, us, ms or s"))?;
    let mut report = |message: String| eprintln!("{message}");
    // The files are read before the directory is opened (and perhaps created).
    let parsed = Parsed::read(files, format, precision, &mut report)?;
    let db = Db::open(data, tool_options())?;
    let summary = parsed.append_to(&db, &mut report)?;
    db.persist_all()?;
    db.close()?;
    eprintln!(
        "{} samples of {} series loaded, {} refused",
        summary.loaded, summary.series, summary.refused
    );
    Ok(if summary.refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn export(
    data: &Path,
    selector: Option<&str>,
    start: Option<&str>,
    end: Option<&str>,
) -> AnyResult<ExitCode> {
    let matchers = match selector {
        Some(s) => api::series_selector(s).map_err(|e| format!("--match: {e}"))?,
        None => vec![Matcher::regex(METRIC_NAME, ".+")?],
    };
    let mint = start.map(parse_time).transpose()?.unwrap_or(i64::MIN);
    let maxt = end.map(parse_time).transpose()?.unwrap_or(i64::MAX);
    let db = Db::open(data, tool_options())?;
    let q = db.querier(mint, maxt)?;
    let mut found = q.select(&matchers)?;
    found.sort_by(|a, b| openmetrics::family_order(a.labels(), b.labels()));
    let stdout = std::io::stdout();
    let mut w = openmetrics::Writer::new(BufWriter::new(stdout.lock()));
    for s in &found {
        let samples: Vec<(i64, f64)> = s
            .iter()
            .map(|r| r.map(|x| (x.t, x.v)))
            .collect::<Result<_, _>>()?;
        w.write_series(s.labels(), samples)?;
    }
    w.finish()?.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn inspect(data: &Path, top: usize) -> AnyResult<ExitCode> {
    let db = Db::open(data, tool_options())?;
    let stats = db.stats()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "data directory {}", data.display())?;
    writeln!(
        out,
        "{:<12} {:>24} {:>24} {:>9} {:>12} {:>12} {:>12}",
        "segment", "min time", "max time", "series", "samples", "bytes", "bytes/sample"
    )?;
    let (mut samples, mut bytes) = (0u64, 0u64);
    for (dir, meta, size) in &stats.segments {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let per = *size as f64 / meta.samples.max(1) as f64;
        writeln!(
            out,
            "{name:<12} {:>24} {:>24} {:>9} {:>12} {:>12} {:>12.3}",
            show_time(meta.min_t),
            show_time(meta.max_t - 1),
            meta.series,
            meta.samples,
            size,
            per
        )?;
        samples += meta.samples;
        bytes += size;
    }
    writeln!(
        out,
        "segments: {} holding {samples} samples in {bytes} bytes ({:.3} bytes/sample)",
        stats.segments.len(),
        bytes as f64 / samples.max(1) as f64
    )?;
    for (dir, why) in &stats.set_aside {
        writeln!(out, "SET ASIDE {}: {why}", dir.display())?;
    }
    match stats.head_range {
        Some((a, b)) => writeln!(
            out,
            "head: {} series, {} samples, {} .. {}",
            stats.head_series,
            stats.head_samples,
            show_time(a),
            show_time(b)
        )?,
        None => writeln!(out, "head: empty")?,
    }
    writeln!(
        out,
        "wal: {} bytes in {} files; deletions in force: {}",
        stats.wal_bytes, stats.wal_segments, stats.deletions
    )?;
    // series per metric, summed over the head and segments (a series in several segments
    // counts once per segment: an upper bound)
    let mut per_metric: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for c in db.cardinality(usize::MAX)? {
        for (name, n) in c.series_count_by_metric_name {
            let e = per_metric.entry(name).or_default();
            *e = (*e).max(n);
        }
    }
    let mut ranked: Vec<(String, u64)> = per_metric.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    writeln!(out, "top metrics by series:")?;
    for (name, n) in ranked.into_iter().take(top) {
        writeln!(out, "  {n:>9}  {name}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs one of the query endpoints on the data directory and prints its JSON body.
fn query(data: &Path, run: impl FnOnce(&Engine, &Db) -> api::Body) -> ExitCode {
    if !data.is_dir() {
        eprintln!("tsdb: {}: no such data directory", data.display());
        return ExitCode::from(EXIT_NO_DATA);
    }
    let db = match Db::open(data, tool_options()) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("tsdb: {}: {e}", data.display());
            return ExitCode::from(EXIT_NO_DATA);
        }
    };
    let (body, code) = match run(&api::engine(), &db) {
        Ok(body) => (body, ExitCode::SUCCESS),
        Err(body) => (body, ExitCode::FAILURE),
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{body}").and_then(|()| out.flush()) {
        eprintln!("tsdb: writing the result: {e}");
        return ExitCode::FAILURE;
    }
    code
}

/// The current time in milliseconds since the epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn show_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}
