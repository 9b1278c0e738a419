//! Loading text files with timestamps into a [`Db`]: what `tsdb import` does, shared with
//! the benches so that they measure data loaded exactly as the tool loads it.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use tsdb_core::{Batch, BatchSeries, Db, Options};
use tsdb_index::Labels;
use tsdb_text::{influx, prometheus};

/// Samples per appended batch.
const BATCH: usize = 10_000;

/// The options of an offline tool loading or reading history: no clock skew limit, no
/// fsync per batch (the caller persists or closes at the end).
pub fn tool_options() -> Options {
    Options {
        max_future_ms: i64::MAX / 4,
        sync: tsdb_core::wal::SyncMode::Never,
        ..Options::default()
    }
}

/// The text format of an input file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
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

/// What an import loaded and refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Distinct series read from the files.
    pub series: usize,
    /// Samples the database accepted.
    pub loaded: u64,
    /// Lines that did not parse, samples without a timestamp and samples the database
    /// refused (each also reported through the `refused` callback).
    pub refused: u64,
}

/// Why an import stopped.
#[derive(Debug)]
pub enum ImportError {
    /// A file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// The database failed (not a refused sample: those are counted, not errors).
    Db(tsdb_core::Error),
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Read { path, source } => write!(f, "{}: {source}", path.display()),
            ImportError::Db(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ImportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ImportError::Read { source, .. } => Some(source),
            ImportError::Db(e) => Some(e),
        }
    }
}

impl From<tsdb_core::Error> for ImportError {
    fn from(e: tsdb_core::Error) -> Self {
        ImportError::Db(e)
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

/// Files read and parsed, their samples sorted by time, ready to be appended: the two
/// halves of [`import_files`], for callers that time them apart or open the database only
/// once the input has been read.
pub struct Parsed {
    files: Vec<PathBuf>,
    series: Vec<Labels>,
    samples: Vec<Loaded>,
    refused: u64,
}

impl Parsed {
    /// Reads and parses `files`. Bad lines and samples without a timestamp are described
    /// one by one to `refused` (`file:line N, ...`, `file: sample #N ...`) and skipped.
    ///
    /// All files are read first and their samples sorted by time: files group samples by
    /// series, and the head wants them roughly in time order. Memory is one file's bytes at
    /// a time plus 32 bytes a sample and the distinct label sets.
    pub fn read(
        files: &[PathBuf],
        format: Format,
        precision: influx::Precision,
        refused: &mut dyn FnMut(String),
    ) -> Result<Parsed, ImportError> {
        let mut out = Parsed {
            files: files.to_vec(),
            series: Vec::new(),
            samples: Vec::new(),
            refused: 0,
        };
        let mut ids: HashMap<Labels, u32> = HashMap::new();
        for (file_no, file) in files.iter().enumerate() {
            let bytes = std::fs::read(file).map_err(|source| ImportError::Read {
                path: file.clone(),
                source,
            })?;
            let mut ordinal = 0u32;
            for item in parser(&bytes, file, format, precision) {
                match item {
                    Ok(s) => {
                        ordinal = ordinal.saturating_add(1);
                        let Some(t) = s.timestamp else {
                            refused(format!(
                                "{}: sample #{ordinal} ({}) has no timestamp; skipped",
                                file.display(),
                                s.labels
                            ));
                            out.refused += 1;
                            continue;
                        };
                        let series = &mut out.series;
                        let id = *ids.entry(s.labels.clone()).or_insert_with(|| {
                            series.push(s.labels.clone());
                            (series.len() - 1) as u32
                        });
                        out.samples.push(Loaded {
                            t,
                            series: id,
                            v: s.value,
                            file: file_no as u32,
                            ordinal,
                        });
                    }
                    Err(e) => {
                        refused(format!("{}:{e}", file.display()));
                        out.refused += 1;
                    }
                }
            }
        }
        out.samples.sort_by_key(|s| s.t);
        Ok(out)
    }

    /// Distinct series read.
    pub fn series(&self) -> usize {
        self.series.len()
    }

    /// Samples read (with a timestamp).
    pub fn samples(&self) -> usize {
        self.samples.len()
    }

    /// Appends the samples to `db` in time order, in batches of 10,000. Samples the
    /// database refuses are described to `refused` and counted. Nothing is persisted or
    /// flushed here: the caller decides ([`Db::persist_all`], [`Db::close`]).
    pub fn append_to(
        &self,
        db: &Db,
        refused: &mut dyn FnMut(String),
    ) -> Result<Summary, ImportError> {
        let mut summary = Summary {
            series: self.series.len(),
            loaded: 0,
            refused: self.refused,
        };
        let mut batch = Batch::new();
        let mut refs: Vec<Option<BatchSeries>> = vec![None; self.series.len()];
        for chunk in self.samples.chunks(BATCH) {
            batch.clear();
            refs.iter_mut().for_each(|r| *r = None);
            for s in chunk {
                let (Some(labels), Some(slot)) = (
                    self.series.get(s.series as usize),
                    refs.get_mut(s.series as usize),
                ) else {
                    continue;
                };
                let id = *slot.get_or_insert_with(|| batch.series(labels.clone()));
                batch.sample(id, s.t, s.v);
            }
            let outcome = db.append_batch(&batch)?;
            summary.loaded += outcome.accepted as u64;
            for r in &outcome.rejected {
                if let Some(s) = chunk.get(r.index) {
                    let name = self.files.get(s.file as usize);
                    refused(format!(
                        "{}: sample #{} (in file order): {}",
                        name.map(|f| f.display().to_string()).unwrap_or_default(),
                        s.ordinal,
                        r.error
                    ));
                }
                summary.refused += 1;
            }
        }
        Ok(summary)
    }
}

/// [`Parsed::read`] then [`Parsed::append_to`]: reads `files` and appends their samples to
/// `db` in time order. Every refused line or sample is described to `refused` and skipped.
/// Nothing is persisted or flushed here.
pub fn import_files(
    db: &Db,
    files: &[PathBuf],
    format: Format,
    precision: influx::Precision,
    mut refused: impl FnMut(String),
) -> Result<Summary, ImportError> {
    Parsed::read(files, format, precision, &mut refused)?.append_to(db, &mut refused)
}

type SampleResult = Result<tsdb_text::Sample, tsdb_text::LineError>;

fn parser<'a>(
    bytes: &'a [u8],
    file: &Path,
    format: Format,
    precision: influx::Precision,
) -> Box<dyn Iterator<Item = SampleResult> + 'a> {
    let is_influx = match format {
        Format::Influx => true,
        Format::Auto => matches!(
            file.extension().and_then(|e| e.to_str()),
            Some("lp" | "influx" | "line")
        ),
        _ => false,
    };
    if is_influx {
        return Box::new(influx::Parser::new(
            bytes,
            influx::Options {
                precision,
                ..influx::Options::default()
            },
        ));
    }
    let dialect = match format {
        Format::Openmetrics => Some(prometheus::Dialect::OpenMetrics),
        Format::Prometheus => Some(prometheus::Dialect::Prometheus),
        _ => None,
    };
    Box::new(prometheus::Parser::new(
        bytes,
        prometheus::Options {
            dialect,
            ..prometheus::Options::default()
        },
    ))
}
