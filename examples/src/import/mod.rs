//! Loading text files with timestamps into a [`Db`]: what `tsdb import` does, shared with
//! the benches so that they measure data loaded exactly as the tool loads it.
//!
//! Two phases, so the database is opened (and perhaps created) only once every file has
//! been read, and each file's timestamps can be judged against the rest of it:
//!
//! 1. [`Parsed::read`] streams each file through its parser a block at a time
//!    (`input.rs`), interns label sets in a dictionary, and gathers the samples in a
//!    time-sorting buffer that spills sorted runs to temporary files when it outgrows
//!    [`ImportOptions::memory_limit`] (`runs.rs`). A file whose content contradicts its
//!    format is refused whole.
//! 2. [`Parsed::append_to`] merges the runs in time order, refuses implausible timestamps
//!    ([`plausible`]), and appends batches to the database.
//!
//! Refusals are counted per [`Reason`]; only the first few of each reason are described
//! (through [`Note::Refused`]), so a file of millions of bad lines writes a bounded amount
//! of text.

mod input;
pub mod plausible;
mod runs;

/// The block reader, for the fuzz target's check that any block size reads a file as a
/// whole read does. Not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    pub use super::input::{read_file, Contradiction, Item, Limits};
}

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indexmap::IndexSet;
use tsdb_core::{Batch, BatchSeries, Db, Options, SampleError};
use tsdb_index::Labels;
use tsdb_text::{influx, ErrorKind};

use input::{Contradiction, Item};
use plausible::{Implausible, TimeSketch};
use runs::{Rec, Sorted, Sorter};

/// Samples per appended batch.
const BATCH: usize = 10_000;

/// The default of [`ImportOptions::memory_limit`]: 256 MiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 256 << 20;

/// The smallest [`ImportOptions::memory_limit`] that makes sense: 4 MiB.
pub const MIN_MEMORY_LIMIT: usize = 4 << 20;

/// Bytes a series costs in the dictionary besides its label bytes: the set's entry and
/// hash slot, the allocation's header, growth slack.
const SERIES_OVERHEAD: usize = 80;

/// Runs are at least this many records, even when the dictionary has eaten the budget.
const MIN_RUN: usize = 1 << 16;

/// Runs read at once by the final merge (more are merged in groups first).
const FAN_IN: usize = 64;

/// The options of an offline tool loading or reading history: no fsync per batch (the
/// caller persists or closes at the end), and the engine's own clock-skew allowance for
/// samples ahead of the clock (one hour): one sample from the far future would raise the
/// write floor past the present and lock every later import out.
pub fn tool_options() -> Options {
    Options {
        sync: tsdb_core::wal::SyncMode::Never,
        ..Options::default()
    }
}

/// The text format of an input file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Prometheus text exposition format 0.0.4: timestamps in milliseconds. Files named
    /// `.prom` or `.txt`.
    #[value(name = "prom", alias = "prometheus")]
    Prometheus,
    /// OpenMetrics 1.0 text: timestamps in seconds, the text ends with `# EOF`. Files
    /// named `.om`.
    #[value(name = "openmetrics", alias = "om")]
    OpenMetrics,
    /// Influx line protocol, timestamps in the given precision. Files named `.lp`,
    /// `.influx` or `.line`.
    #[value(name = "influx", alias = "lp")]
    Influx,
}

impl Format {
    /// The format an extension names without doubt, if any.
    pub fn from_extension(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "prom" | "txt" => Some(Format::Prometheus),
            "om" => Some(Format::OpenMetrics),
            "lp" | "influx" | "line" => Some(Format::Influx),
            _ => None,
        }
    }

    /// The format of `path`: `explicit` if given, else its extension's.
    pub fn for_file(path: &Path, explicit: Option<Format>) -> Result<Format, ImportError> {
        explicit
            .or_else(|| Format::from_extension(path))
            .ok_or_else(|| ImportError::UnknownFormat {
                path: path.to_path_buf(),
            })
    }
}

/// Which timestamps an import accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeCheck {
    /// Refuse implausible timestamps ([`plausible`]), judged against this clock.
    Plausible {
        /// The clock, milliseconds since the epoch.
        now_ms: i64,
    },
    /// Accept any timestamp (the engine's clock-skew limit is lifted too).
    Any,
}

/// How to import.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// The format of every file; `None` (the default): each file's extension decides
    /// ([`Format::from_extension`]), and a file without a known one is an error.
    pub format: Option<Format>,
    /// The unit of Influx timestamps. Default nanoseconds.
    pub precision: influx::Precision,
    /// Bytes the importer's own memory may take: read buffers, the sorting buffer, the
    /// label-set dictionary, merge buffers. Past it, sorted runs go to temporary files.
    /// Not included: the database's head. Default [`DEFAULT_MEMORY_LIMIT`].
    pub memory_limit: usize,
    /// Where runs are spilled (a temporary directory is made inside). Default `None`:
    /// the system's temporary directory (`TMPDIR`).
    pub spill_dir: Option<PathBuf>,
    /// Which timestamps are accepted. Default: plausible ones, by the system clock.
    pub time_check: TimeCheck,
    /// Refusals described per reason; the rest are only counted. Default 10.
    pub show_per_reason: u64,
    /// Time between [`Note::Progress`] notes. Default 10 seconds.
    pub progress_interval: Duration,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            format: None,
            precision: influx::Precision::Nanoseconds,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            spill_dir: None,
            time_check: TimeCheck::Plausible { now_ms: now_ms() },
            show_per_reason: 10,
            progress_interval: Duration::from_secs(10),
        }
    }
}

impl ImportOptions {
    /// The database options for this import: [`tool_options`], and no clock-skew limit
    /// when any time is accepted.
    pub fn db_options(&self) -> Options {
        let mut o = tool_options();
        if self.time_check == TimeCheck::Any {
            o.max_future_ms = i64::MAX;
        }
        o
    }

    /// Bytes read at a time.
    fn block(&self) -> usize {
        (self.memory_limit / 32).clamp(64 << 10, 4 << 20)
    }

    /// The longest line parsed.
    fn max_line(&self) -> usize {
        (self.memory_limit / 8).clamp(64 << 10, 16 << 20)
    }

    /// What reading holds at most: a line and two blocks.
    fn read_bytes(&self) -> usize {
        self.max_line() + 2 * self.block()
    }

    /// The buffer of each run read by the merge.
    fn merge_buffer(&self) -> usize {
        (self.memory_limit / 4 / FAN_IN).clamp(8 << 10, 1 << 20)
    }
}

/// The current time in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Why input was not loaded: the rows of the summary table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// A line (or an Influx field) that does not parse, by the parser's kind of error.
    Parse(&'static str),
    /// A line longer than the limit (skipped unread).
    LineTooLong,
    /// A sample without a timestamp (an import needs one).
    NoTimestamp,
    /// A file whose content contradicts its format, refused whole (counted per file).
    FileFormat,
    /// A sample more than [`plausible::MAX_AHEAD_MS`] ahead of the clock.
    AheadOfClock,
    /// A sample more than [`plausible::MAX_BEHIND_MS`] behind the clock.
    BehindClock,
    /// A sample more than [`plausible::MAX_FROM_MEDIAN_MS`] from its file's median.
    FarFromMedian,
    /// A sample the database refused, by [`SampleError`] kind.
    Db(&'static str),
}

impl fmt::Display for Reason {
    /// The row of the summary table, its unit first.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Parse(kind) => write!(f, "lines not parsed: {kind}"),
            Reason::LineTooLong => f.write_str("lines longer than the limit, skipped"),
            Reason::NoTimestamp => f.write_str("samples without a timestamp"),
            Reason::FileFormat => {
                f.write_str("files refused whole: content contradicts the format")
            }
            Reason::AheadOfClock => f.write_str("samples more than 1 hour ahead of the clock"),
            Reason::BehindClock => f.write_str("samples more than 30 years behind the clock"),
            Reason::FarFromMedian => {
                f.write_str("samples more than 366 days from their file's median time")
            }
            Reason::Db(kind) => write!(f, "samples refused by the database: {kind}"),
        }
    }
}

impl Reason {
    /// A stable name for machines (`tsdb import --output json`): `parse`,
    /// `line_too_long`, `no_timestamp`, `file_format`, `ahead_of_clock`, `behind_clock`,
    /// `far_from_median` or `db`, with the parser's or the database's kind of error for
    /// `parse` and `db` (`syntax error`, `out of order`).
    pub fn key(self) -> (&'static str, Option<&'static str>) {
        match self {
            Reason::Parse(kind) => ("parse", Some(kind)),
            Reason::LineTooLong => ("line_too_long", None),
            Reason::NoTimestamp => ("no_timestamp", None),
            Reason::FileFormat => ("file_format", None),
            Reason::AheadOfClock => ("ahead_of_clock", None),
            Reason::BehindClock => ("behind_clock", None),
            Reason::FarFromMedian => ("far_from_median", None),
            Reason::Db(kind) => ("db", Some(kind)),
        }
    }

    /// What a refusal of this reason counts: `lines`, `files` or `samples`.
    pub fn unit(self) -> &'static str {
        match self {
            Reason::Parse(_) | Reason::LineTooLong => "lines",
            Reason::FileFormat => "files",
            _ => "samples",
        }
    }

    /// True for the reasons [`TimeCheck::Any`] would have let through.
    pub fn is_implausible_time(self) -> bool {
        matches!(
            self,
            Reason::AheadOfClock | Reason::BehindClock | Reason::FarFromMedian
        )
    }

    fn of_line_error(kind: &ErrorKind) -> Reason {
        Reason::Parse(match kind {
            ErrorKind::InvalidUtf8 => "invalid UTF-8",
            ErrorKind::Syntax { .. } => "syntax error",
            ErrorKind::UnterminatedString => "unterminated string",
            ErrorKind::InvalidEscape { .. } => "invalid escape",
            ErrorKind::InvalidValue { .. } | ErrorKind::ValueOutOfRange { .. } => "invalid value",
            ErrorKind::InvalidTimestamp { .. } | ErrorKind::TimestampOutOfRange { .. } => {
                "invalid timestamp"
            }
            ErrorKind::InvalidMetricType { .. } | ErrorKind::UnitNotSuffix { .. } => {
                "invalid metadata"
            }
            ErrorKind::DataAfterEof => "data after # EOF",
            ErrorKind::Labels(_) => "invalid label set",
            ErrorKind::MissingMeasurement
            | ErrorKind::EmptyTag { .. }
            | ErrorKind::MissingFields
            | ErrorKind::EmptyField { .. }
            | ErrorKind::InvalidFieldValue { .. } => "invalid Influx line",
            _ => "other",
        })
    }

    fn of_sample_error(e: &SampleError) -> Reason {
        Reason::Db(match e {
            SampleError::OutOfOrder { .. } => "out of order",
            SampleError::TooOld { .. } => "too old (before what it still accepts)",
            SampleError::TooFarInFuture { .. } => "too far in the future",
            SampleError::DuplicateTimestamp { .. } => "duplicate timestamp, different value",
            SampleError::InvalidLabels(_) => "series refused",
            _ => "other",
        })
    }
}

/// Which phase a [`Progress`] note is from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Reading and sorting the files.
    Reading,
    /// Appending to the database.
    Appending,
}

/// How far an import has come.
#[derive(Clone, Copy, Debug)]
pub struct Progress<'a> {
    /// The phase.
    pub phase: Phase,
    /// The file being read (reading only).
    pub file: Option<&'a Path>,
    /// Its position in the list of files (0 when appending).
    pub file_index: usize,
    /// Bytes read of that file.
    pub bytes: u64,
    /// Samples read so far (all files).
    pub samples: u64,
    /// Distinct series read so far.
    pub series: usize,
    /// Sorted runs spilled to disk so far, and their bytes.
    pub spilled: (usize, u64),
    /// Samples handed to the database so far (appending only).
    pub appended: u64,
}

/// What an import tells while it runs.
#[derive(Debug)]
pub enum Note<'a> {
    /// One of the first [`ImportOptions::show_per_reason`] refusals of a reason.
    Refused {
        /// Why.
        reason: Reason,
        /// What and where (`file:line N, ...` or `file: series at time: ...`).
        message: &'a str,
    },
    /// The first refusal of a reason past the limit: the rest are only counted.
    MoreRefused {
        /// Why.
        reason: Reason,
    },
    /// Progress, every [`ImportOptions::progress_interval`].
    Progress(Progress<'a>),
    /// A file has been read to its end (or to the line that got it refused whole), so a
    /// progress display can count it complete without waiting for the next
    /// [`Note::Progress`].
    FileRead {
        /// The file.
        file: &'a Path,
        /// Its position in the list of files.
        index: usize,
        /// Bytes read of it.
        bytes: u64,
        /// Samples read so far (all files).
        samples: u64,
        /// Distinct series read so far.
        series: usize,
    },
    /// Once: the label-set dictionary alone has outgrown the memory limit; from here on
    /// the importer's memory grows with each new series (sorted runs stay small).
    SeriesOverLimit {
        /// Distinct series so far.
        series: usize,
        /// Estimated bytes of the dictionary.
        bytes: usize,
    },
}

/// What an import loaded and refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Distinct series read from the files.
    pub series: usize,
    /// Samples read from the files (with a timestamp).
    pub samples: u64,
    /// Samples the database accepted.
    pub loaded: u64,
    /// Refusals by reason: lines for parse errors, files for [`Reason::FileFormat`],
    /// samples otherwise.
    pub refused: BTreeMap<Reason, u64>,
    /// Influx string fields skipped: a string has no number to store.
    pub string_fields_skipped: u64,
    /// Sorted runs spilled to temporary files (0 when the input fit the memory limit).
    pub spilled_runs: usize,
}

impl Summary {
    /// Refusals of every reason.
    pub fn refused_total(&self) -> u64 {
        self.refused.values().sum()
    }
}

/// Why an import stopped.
#[derive(Debug)]
pub enum ImportError {
    /// A file's format is neither given nor known from its extension.
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// A file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// A temporary file for sorting could not be written or read.
    Spill {
        /// The file or directory.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// More distinct series or files than an import can number (2^32).
    TooMany {
        /// Series or files.
        what: &'static str,
    },
    /// The database failed (not a refused sample: those are counted, not errors).
    Db(tsdb_core::Error),
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::UnknownFormat { path } => write!(
                f,
                "{}: cannot tell the format from the file name: name it .prom or .txt \
                 (Prometheus text), .om (OpenMetrics) or .lp (Influx line protocol), or \
                 pass --format",
                path.display()
            ),
            ImportError::Read { path, source } => write!(f, "{}: {source}", path.display()),
            ImportError::Spill { path, source } => {
                write!(f, "temporary file {}: {source}", path.display())
            }
            ImportError::TooMany { what } => write!(f, "more than 2^32 {what} in one import"),
            ImportError::Db(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ImportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ImportError::Read { source, .. } | ImportError::Spill { source, .. } => Some(source),
            ImportError::Db(e) => Some(e),
            ImportError::UnknownFormat { .. } | ImportError::TooMany { .. } => None,
        }
    }
}

impl From<tsdb_core::Error> for ImportError {
    fn from(e: tsdb_core::Error) -> Self {
        ImportError::Db(e)
    }
}

/// Counts refusals per reason and describes the first few of each.
#[derive(Debug)]
struct Refusals {
    show: u64,
    counts: BTreeMap<Reason, u64>,
}

impl Refusals {
    fn refuse(
        &mut self,
        reason: Reason,
        message: impl FnOnce() -> String,
        notes: &mut dyn FnMut(Note<'_>),
    ) {
        let n = self.counts.entry(reason).or_default();
        *n += 1;
        if *n <= self.show {
            notes(Note::Refused {
                reason,
                message: &message(),
            });
        } else if *n == self.show + 1 {
            notes(Note::MoreRefused { reason });
        }
    }
}

/// One input file as read.
#[derive(Debug)]
struct FileInfo {
    path: PathBuf,
    median: Option<i64>,
    contradiction: Option<Contradiction>,
}

/// Files read and parsed, their samples sorted by time (in memory or in spilled runs),
/// ready to be appended: the two halves of [`import_files`], for callers that time them
/// apart.
#[derive(Debug)]
pub struct Parsed {
    files: Vec<FileInfo>,
    series: IndexSet<Labels>,
    sorted: Sorted,
    options: ImportOptions,
    refusals: Refusals,
    summary: Summary,
}

impl Parsed {
    /// Reads and parses `files` (every file's format is settled before any is read).
    /// Memory stays within [`ImportOptions::memory_limit`] plus the label-set dictionary
    /// when that outgrows it (see the README's "Limits and guarantees").
    pub fn read(
        files: &[PathBuf],
        options: &ImportOptions,
        notes: &mut dyn FnMut(Note<'_>),
    ) -> Result<Parsed, ImportError> {
        let formats = files
            .iter()
            .map(|f| Format::for_file(f, options.format))
            .collect::<Result<Vec<_>, _>>()?;
        let spill_parent = options.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
        let mut sorter = Sorter::new(spill_parent, MIN_RUN);
        let mut series: IndexSet<Labels> = IndexSet::new();
        let mut series_bytes = 0usize;
        let mut sketch_bytes = 0usize;
        let mut refusals = Refusals {
            show: options.show_per_reason,
            counts: BTreeMap::new(),
        };
        let mut infos = Vec::with_capacity(files.len());
        let mut string_fields_skipped = 0;
        let budget = options.memory_limit.saturating_sub(options.read_bytes());
        let limits = input::Limits {
            block: options.block(),
            max_line: options.max_line(),
        };
        let mut last_progress = Instant::now();
        let mut over_limit = false;
        for (file_no, (path, format)) in files.iter().zip(formats).enumerate() {
            let file_id =
                u32::try_from(file_no).map_err(|_| ImportError::TooMany { what: "files" })?;
            let mut sketch = TimeSketch::default();
            let mut since_check = 0u32;
            let end = input::read_file(
                path,
                format,
                options.precision,
                limits,
                &mut |item, bytes| {
                    match item {
                        Item::Sample(s) => {
                            let Some(t) = s.timestamp else {
                                refusals.refuse(
                                    Reason::NoTimestamp,
                                    || format!("{}: {} has no timestamp", path.display(), s.labels),
                                    notes,
                                );
                                return Ok(());
                            };
                            let (id, new) = series.insert_full(s.labels);
                            if new {
                                series_bytes += SERIES_OVERHEAD
                                    + series.get_index(id).map_or(0, Labels::encoded_len);
                                if series_bytes > budget && !over_limit {
                                    over_limit = true;
                                    notes(Note::SeriesOverLimit {
                                        series: series.len(),
                                        bytes: series_bytes,
                                    });
                                }
                            }
                            let id = u32::try_from(id)
                                .map_err(|_| ImportError::TooMany { what: "series" })?;
                            sketch.add(t);
                            let rec = Rec {
                                t,
                                v: s.value,
                                series: id,
                                file: file_id,
                            };
                            let room = budget
                                .saturating_sub(series_bytes)
                                .saturating_sub(sketch_bytes + sketch.bytes());
                            sorter.push(rec, room)?;
                        }
                        Item::Line(e) => refusals.refuse(
                            Reason::of_line_error(&e.kind),
                            || format!("{}:{e}", path.display()),
                            notes,
                        ),
                        Item::TooLong(line) => refusals.refuse(
                            Reason::LineTooLong,
                            || {
                                format!(
                                    "{}:line {line}: longer than {} bytes; skipped",
                                    path.display(),
                                    limits.max_line
                                )
                            },
                            notes,
                        ),
                    }
                    since_check += 1;
                    if since_check >= 4096 {
                        since_check = 0;
                        if last_progress.elapsed() >= options.progress_interval {
                            last_progress = Instant::now();
                            notes(Note::Progress(Progress {
                                phase: Phase::Reading,
                                file: Some(path),
                                file_index: file_no,
                                bytes,
                                samples: sorter.records(),
                                series: series.len(),
                                spilled: sorter.spilled(),
                                appended: 0,
                            }));
                        }
                    }
                    Ok(())
                },
            )?;
            if let Some(c) = &end.contradiction {
                refusals.refuse(
                    Reason::FileFormat,
                    || {
                        format!(
                            "{}:line {}: {}; the whole file is refused ({format:?} by {}), \
                             nothing of it is loaded",
                            path.display(),
                            c.line,
                            c.message,
                            if options.format.is_some() {
                                "--format"
                            } else {
                                "its extension"
                            }
                        )
                    },
                    notes,
                );
            }
            notes(Note::FileRead {
                file: path,
                index: file_no,
                bytes: end.bytes,
                samples: sorter.records(),
                series: series.len(),
            });
            string_fields_skipped += end.string_fields_skipped;
            sketch_bytes += sketch.bytes();
            infos.push(FileInfo {
                path: path.clone(),
                median: sketch.median(),
                contradiction: end.contradiction,
            });
        }
        let (spilled_runs, _) = sorter.spilled();
        let sorted = sorter.finish();
        let summary = Summary {
            series: series.len(),
            samples: sorted.records(),
            loaded: 0,
            refused: BTreeMap::new(),
            string_fields_skipped,
            spilled_runs,
        };
        Ok(Parsed {
            files: infos,
            series,
            sorted,
            options: options.clone(),
            refusals,
            summary,
        })
    }

    /// Distinct series read.
    pub fn series(&self) -> usize {
        self.series.len()
    }

    /// Samples read (with a timestamp).
    pub fn samples(&self) -> u64 {
        self.summary.samples
    }

    /// Appends the samples to `db` in time order, in batches of 10,000, refusing
    /// implausible timestamps (unless [`TimeCheck::Any`]) and the samples of files
    /// refused for contradicting their format. Samples the database refuses are counted
    /// and the first few of each reason described. Nothing is persisted or flushed here:
    /// the caller decides ([`Db::persist_all`], [`Db::close`]).
    pub fn append_to(
        self,
        db: &Db,
        notes: &mut dyn FnMut(Note<'_>),
    ) -> Result<Summary, ImportError> {
        let Parsed {
            files,
            series,
            sorted,
            options,
            mut refusals,
            mut summary,
        } = self;
        let total = sorted.records();
        let mut appender = Appender {
            db,
            files: &files,
            series: &series,
            batch: Batch::new(),
            pending: Vec::with_capacity(BATCH),
            slots: HashMap::new(),
            loaded: 0,
            handed: 0,
        };
        let mut last_progress = Instant::now();
        let mut since_check = 0u32;
        let spilled = (summary.spilled_runs, 0);
        let time_check = options.time_check;
        sorted.merge(FAN_IN, options.merge_buffer(), &mut |rec| {
            let Some(file) = files.get(rec.file as usize) else {
                return Ok(());
            };
            if file.contradiction.is_some() {
                return Ok(());
            }
            if let TimeCheck::Plausible { now_ms } = time_check {
                if let Some(why) = plausible::check(rec.t, now_ms, file.median) {
                    let (reason, detail) = match why {
                        Implausible::AheadOfClock => (
                            Reason::AheadOfClock,
                            "ahead of the clock by more than 1 hour".to_owned(),
                        ),
                        Implausible::BehindClock => (
                            Reason::BehindClock,
                            "behind the clock by more than 30 years".to_owned(),
                        ),
                        Implausible::FarFromMedian(m) => (
                            Reason::FarFromMedian,
                            format!(
                                "more than 366 days from the file's median time {}",
                                show_time(m)
                            ),
                        ),
                    };
                    refusals.refuse(reason, || appender.describe(&rec, &detail), notes);
                    return Ok(());
                }
            }
            appender.push(rec);
            if appender.pending.len() >= BATCH {
                appender.flush(&mut refusals, notes)?;
            }
            since_check += 1;
            if since_check >= 4096 {
                since_check = 0;
                if last_progress.elapsed() >= options.progress_interval {
                    last_progress = Instant::now();
                    notes(Note::Progress(Progress {
                        phase: Phase::Appending,
                        file: None,
                        file_index: 0,
                        bytes: 0,
                        samples: total,
                        series: series.len(),
                        spilled,
                        appended: appender.handed,
                    }));
                }
            }
            Ok(())
        })?;
        appender.flush(&mut refusals, notes)?;
        summary.loaded = appender.loaded;
        summary.refused = refusals.counts;
        Ok(summary)
    }
}

/// Batches samples for the database and accounts for what it refuses.
struct Appender<'a> {
    db: &'a Db,
    files: &'a [FileInfo],
    series: &'a IndexSet<Labels>,
    batch: Batch,
    /// The records of the batch, in batch order (rejections point into it).
    pending: Vec<Rec>,
    /// Series of the dictionary already in the batch.
    slots: HashMap<u32, BatchSeries>,
    loaded: u64,
    handed: u64,
}

impl Appender<'_> {
    fn push(&mut self, rec: Rec) {
        let Some(labels) = self.series.get_index(rec.series as usize) else {
            return;
        };
        let batch = &mut self.batch;
        let slot = *self
            .slots
            .entry(rec.series)
            .or_insert_with(|| batch.series(labels.clone()));
        self.batch.sample(slot, rec.t, rec.v);
        self.pending.push(rec);
    }

    fn flush(
        &mut self,
        refusals: &mut Refusals,
        notes: &mut dyn FnMut(Note<'_>),
    ) -> Result<(), ImportError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let outcome = self.db.append_batch(&self.batch)?;
        self.loaded += outcome.accepted as u64;
        self.handed += self.pending.len() as u64;
        for r in &outcome.rejected {
            let Some(rec) = self.pending.get(r.index) else {
                continue;
            };
            refusals.refuse(
                Reason::of_sample_error(&r.error),
                || self.describe(rec, &r.error.to_string()),
                notes,
            );
        }
        self.batch.clear();
        self.pending.clear();
        self.slots.clear();
        Ok(())
    }

    /// `file: series at time: detail`.
    fn describe(&self, rec: &Rec, detail: &str) -> String {
        let file = self
            .files
            .get(rec.file as usize)
            .map(|f| f.path.display().to_string())
            .unwrap_or_default();
        let labels = self
            .series
            .get_index(rec.series as usize)
            .map(Labels::to_string)
            .unwrap_or_default();
        format!(
            "{file}: {labels} at {} ({} ms): {detail}",
            show_time(rec.t),
            rec.t
        )
    }
}

/// A time as RFC 3339 with milliseconds, or the number when out of chrono's range.
pub fn show_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// [`Parsed::read`] then [`Parsed::append_to`]. Nothing is persisted or flushed here.
pub fn import_files(
    db: &Db,
    files: &[PathBuf],
    options: &ImportOptions,
    notes: &mut dyn FnMut(Note<'_>),
) -> Result<Summary, ImportError> {
    Parsed::read(files, options, notes)?.append_to(db, notes)
}
