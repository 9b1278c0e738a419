//! `tsdb`: load, dump and inspect a data directory, like `promtool tsdb`.
//!
//! ```sh
//! tsdb import  --data DIR FILE...         # OpenMetrics/Prometheus text or Influx line protocol
//! tsdb export  --data DIR [--match SELECTOR] [--start T] [--end T] > out.om
//! tsdb inspect --data DIR
//! ```

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tsdb_core::{Batch, Db, Options};
use tsdb_examples::selector::parse_selector;
use tsdb_examples::timearg::parse_time;
use tsdb_index::{Labels, Matcher, METRIC_NAME};
use tsdb_text::{influx, openmetrics, prometheus};

/// Samples per appended batch.
const BATCH: usize = 10_000;

#[derive(Parser)]
#[command(name = "tsdb", about = "Load, dump and inspect a tsdb data directory")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    /// Decide per file: `.lp`/`.influx`/`.line` are Influx line protocol; anything else is
    /// Prometheus text or OpenMetrics (OpenMetrics when it has `# EOF`).
    Auto,
    /// OpenMetrics text (timestamps in seconds).
    Openmetrics,
    /// Prometheus text exposition format (timestamps in milliseconds).
    Prometheus,
    /// Influx line protocol.
    Influx,
}

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

/// An offline tool loads history: no clock skew limit, persisted as it goes.
fn tool_options() -> Options {
    Options {
        max_future_ms: i64::MAX / 4,
        sync: tsdb_core::wal::SyncMode::Never,
        ..Options::default()
    }
}

/// One parsed sample with the line it came from.
struct Loaded {
    t: i64,
    series: u32,
    v: f64,
    file: u32,
    /// Position among the file's samples, for messages.
    ordinal: u32,
}

fn import(data: &Path, format: Format, precision: &str, files: &[PathBuf]) -> AnyResult<ExitCode> {
    let precision = influx::Precision::parse(precision)
        .ok_or_else(|| format!("unknown precision {precision:?}: use ns, us, ms or s"))?;
    let mut bad_lines = 0u64;
    // All files are read first and their samples sorted by time: files group samples by
    // series, and the head wants them roughly in time order (series interned, 32 bytes
    // a sample in memory).
    let mut series: Vec<Labels> = Vec::new();
    let mut ids: std::collections::HashMap<Labels, u32> = std::collections::HashMap::new();
    let mut samples: Vec<Loaded> = Vec::new();
    for (file_no, file) in files.iter().enumerate() {
        let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let is_influx = match format {
            Format::Influx => true,
            Format::Auto => matches!(
                file.extension().and_then(|e| e.to_str()),
                Some("lp" | "influx" | "line")
            ),
            _ => false,
        };
        let parsed: Box<dyn Iterator<Item = Result<tsdb_text::Sample, tsdb_text::LineError>>> =
            if is_influx {
                Box::new(influx::Parser::new(
                    &bytes,
                    influx::Options {
                        precision,
                        ..influx::Options::default()
                    },
                ))
            } else {
                let dialect = match format {
                    Format::Openmetrics => Some(prometheus::Dialect::OpenMetrics),
                    Format::Prometheus => Some(prometheus::Dialect::Prometheus),
                    _ => None,
                };
                Box::new(prometheus::Parser::new(
                    &bytes,
                    prometheus::Options {
                        dialect,
                        ..prometheus::Options::default()
                    },
                ))
            };
        let mut ordinal = 0u32;
        for item in parsed {
            match item {
                Ok(s) => {
                    ordinal = ordinal.saturating_add(1);
                    let Some(t) = s.timestamp else {
                        eprintln!(
                            "{}: sample #{ordinal} ({}) has no timestamp; skipped",
                            file.display(),
                            s.labels
                        );
                        bad_lines += 1;
                        continue;
                    };
                    let id = *ids.entry(s.labels.clone()).or_insert_with(|| {
                        series.push(s.labels.clone());
                        (series.len() - 1) as u32
                    });
                    samples.push(Loaded {
                        t,
                        series: id,
                        v: s.value,
                        file: file_no as u32,
                        ordinal,
                    });
                }
                Err(e) => {
                    eprintln!("{}:{e}", file.display());
                    bad_lines += 1;
                }
            }
        }
    }
    samples.sort_by_key(|s| s.t);

    let db = Db::open(data, tool_options())?;
    let mut batch = Batch::new();
    let mut refs: Vec<Option<tsdb_core::BatchSeries>> = vec![None; series.len()];
    let mut loaded = 0u64;
    for chunk in samples.chunks(BATCH) {
        batch.clear();
        refs.iter_mut().for_each(|r| *r = None);
        for s in chunk {
            let (Some(labels), Some(slot)) = (
                series.get(s.series as usize),
                refs.get_mut(s.series as usize),
            ) else {
                continue;
            };
            let id = *slot.get_or_insert_with(|| batch.series(labels.clone()));
            batch.sample(id, s.t, s.v);
        }
        let outcome = db.append_batch(&batch)?;
        loaded += outcome.accepted as u64;
        for r in &outcome.rejected {
            if let Some(s) = chunk.get(r.index) {
                let name = files.get(s.file as usize).map(|f| f.display().to_string());
                eprintln!(
                    "{}: sample #{} (in file order): {}",
                    name.unwrap_or_default(),
                    s.ordinal,
                    r.error
                );
            }
            bad_lines += 1;
        }
    }
    db.persist_all()?;
    db.close()?;
    eprintln!(
        "{loaded} samples of {} series loaded, {bad_lines} refused",
        series.len()
    );
    Ok(if bad_lines == 0 {
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
        Some(s) => parse_selector(s)?,
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

fn show_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}
