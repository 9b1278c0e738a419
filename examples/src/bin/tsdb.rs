//! `tsdb`: load, dump, inspect, query and mend a data directory, like `promtool tsdb`.
//!
//! ```sh
//! tsdb import  --data DIR FILE...         # .prom/.txt, .om, .lp, or --format
//! tsdb export  --data DIR [--match SELECTOR] [--start T] [--end T] > out.om
//! tsdb inspect --data DIR
//! tsdb query   --data DIR [--time T] EXPR  # prints /api/v1/query's JSON
//! tsdb query-range --data DIR --start T --end T --step S EXPR   # /api/v1/query_range's
//! tsdb delete  --data DIR --match SELECTOR [--start T] [--end T]
//! tsdb compact --data DIR [--now T] [--config FILE]  # merge, roll up, apply retention
//! tsdb repair  --data DIR                  # drop a damaged tail of the write-ahead log
//! tsdb check rules FILE...                # promtool check rules: same report, same exits
//! tsdb test rules FILE...                 # promtool test rules: rule unit tests
//! ```
//!
//! Every command documents its exit status in its `--help`; the codes mean the same
//! thing in every command (see [`Exit`]).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tsdb_core::wal::RecoveryMode;
use tsdb_core::{Db, Options};
use tsdb_examples::api;
use tsdb_examples::import::{
    self, show_time, tool_options, Format, ImportError, ImportOptions, Note, Parsed, Phase, Reason,
    TimeCheck, MIN_MEMORY_LIMIT,
};
use tsdb_examples::server::config::Config;
use tsdb_examples::timearg::parse_time;
use tsdb_index::{Matcher, METRIC_NAME};
use tsdb_query::Engine;
use tsdb_text::{influx, openmetrics};

#[derive(Parser)]
#[command(
    name = "tsdb",
    about = "Load, dump, inspect, query and mend a tsdb data directory"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Exit statuses, the same in every command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exit {
    /// 0: done.
    Ok = 0,
    /// 1: the command failed (an I/O or database error; a query error, whose JSON is on
    /// standard output).
    Failed = 1,
    /// 2: bad command line (clap's own status for usage errors).
    Usage = 2,
    /// 3: the data directory is missing or cannot be opened.
    NoData = 3,
    /// 4: the data directory is damaged so that it cannot be opened.
    Damaged = 4,
    /// 5: import: some input was refused; the rest is loaded.
    Refused = 5,
    /// 6: export: unreadable chunks were skipped; the rest is exported.
    Partial = 6,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// A command's failure: the status and the message for standard error.
struct Fail {
    exit: Exit,
    message: String,
}

impl Fail {
    fn usage(message: impl Into<String>) -> Fail {
        Fail {
            exit: Exit::Usage,
            message: message.into(),
        }
    }

    fn failed(message: impl std::fmt::Display) -> Fail {
        Fail {
            exit: Exit::Failed,
            message: message.to_string(),
        }
    }
}

// The lines of the exit status tables in `--help` (literals, for `concat!`).
macro_rules! exit_ok {
    () => {
        "  0  success\n"
    };
}
macro_rules! exit_failed {
    () => {
        "  1  the command failed: an I/O or database error (message on standard error)\n"
    };
}
macro_rules! exit_usage {
    () => {
        "  2  bad command line: an unknown option, a bad value (a selector, a time, a size)\n"
    };
}
macro_rules! exit_no_data {
    () => {
        "  3  the data directory is missing or cannot be opened (not a directory, locked by \
         another process, no permission)\n"
    };
}
macro_rules! exit_no_data_read {
    () => {
        "  3  the data directory is missing or cannot be read (not a directory, no \
         permission); it is opened read-only, so a process writing to it is no obstacle\n"
    };
}
macro_rules! exit_damaged {
    () => {
        "  4  the data directory is damaged and was not opened; for a damaged write-ahead \
         log the message names `tsdb repair`\n"
    };
}

const IMPORT_EXIT: &str = concat!(
    "Input formats: --format, or the file name: .prom/.txt Prometheus text (timestamps in \
     milliseconds), .om OpenMetrics (seconds; must end with \"# EOF\"), .lp Influx line \
     protocol (--precision). A file whose content contradicts its format (\"# EOF\" in \
     Prometheus text, OpenMetrics without \"# EOF\") is refused whole.\n\n\
     Timestamps: samples more than 1 hour ahead of the clock, more than 30 years behind \
     it, or more than 366 days from the median time of their file are refused unless \
     --allow-any-time.\n\n\
     Memory: the importer's own memory (read buffers, sorting, the label-set dictionary) \
     stays within --memory-limit; samples beyond it are sorted in runs spilled to \
     --spill-dir. The database's head (about 2 KiB per series until persisted) is not \
     included.\n\n\
     Exit status:\n",
    exit_ok!(),
    exit_failed!(),
    "  2  bad command line, including an input file whose format is neither given nor \
     known from its name\n",
    "  3  the data directory cannot be opened (locked by another process, no permission)\n",
    exit_damaged!(),
    "  5  some input was refused (lines, samples or whole files; the first of each reason \
     and a table of counts are on standard error); everything else is loaded\n",
);

const EXPORT_EXIT: &str = concat!(
    "Exit status:\n",
    exit_ok!(),
    exit_failed!(),
    exit_usage!(),
    exit_no_data_read!(),
    exit_damaged!(),
    "  6  some chunks could not be read: each is reported on standard error (segment, \
     series, time range) and skipped; everything readable is exported and the output \
     ends with \"# EOF\"\n",
);

const INSPECT_EXIT: &str = concat!(
    "Exit status:\n",
    exit_ok!(),
    exit_failed!(),
    exit_usage!(),
    exit_no_data_read!(),
    exit_damaged!(),
);

const PLAIN_EXIT: &str = concat!(
    "Exit status:\n",
    exit_ok!(),
    exit_failed!(),
    exit_usage!(),
    exit_no_data!(),
    exit_damaged!(),
);

const QUERY_EXIT: &str = concat!(
    "Exit status:\n",
    exit_ok!(),
    "  1  the query failed: the Prometheus error JSON \
     ({\"status\":\"error\",\"errorType\":...,\"error\":...}) is on standard output, \
     errorType bad_data for a syntax error or a bad --time/--start/--end/--step, \
     execution, timeout or internal otherwise\n",
    exit_usage!(),
    exit_no_data_read!(),
    exit_damaged!(),
);

const REPAIR_EXIT: &str = concat!(
    "Opens the directory with --wal-recovery truncate: the write-ahead log is cut at its \
     first damaged record, later log files are removed, and what was dropped is printed. \
     Everything before the damage and every segment are kept; damaged segments are left \
     on disk and listed.\n\n\
     Exit status:\n",
    "  0  the log is intact, or was repaired (what was dropped is on standard output)\n",
    exit_failed!(),
    exit_usage!(),
    exit_no_data!(),
    "  4  the directory is damaged in a way repair does not mend (a tombstones file, an \
     unsupported format version)\n",
);

/// What opening does with a damaged write-ahead log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum WalRecovery {
    /// Refuse to open (exit 4) and name `tsdb repair`.
    Strict,
    /// Cut the log at the first damaged record, report what was dropped, and go on.
    Truncate,
}

/// The data directory and how to open it.
#[derive(Args)]
struct Data {
    /// The data directory (import creates it if missing; other commands need it).
    #[arg(long)]
    data: PathBuf,
    /// What to do when the write-ahead log is damaged: `strict` refuses to open (run
    /// `tsdb repair`); `truncate` drops the log from the damage on and reports it.
    #[arg(long, value_enum, default_value = "strict")]
    wal_recovery: WalRecovery,
}

#[derive(Subcommand)]
enum Command {
    /// Loads text files with timestamps into the data directory: bad lines and samples
    /// are counted, the first of each reason described, and the rest loaded.
    #[command(after_help = IMPORT_EXIT)]
    Import {
        #[command(flatten)]
        data: Data,
        /// Input format of every file (default: from each file's extension).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Unit of Influx timestamps: ns, us, ms or s.
        #[arg(long, default_value = "ns")]
        precision: String,
        /// Load samples whatever their time (no plausibility check, no clock-skew limit).
        #[arg(long)]
        allow_any_time: bool,
        /// Memory for the importer's own buffers: bytes, or with a unit (512MiB, 2GiB,
        /// 64M). At least 4MiB.
        #[arg(long, default_value = "256MiB")]
        memory_limit: String,
        /// Where sorted runs are spilled when the input does not fit the memory limit
        /// (about 24 bytes per sample). Default: the system's temporary directory.
        #[arg(long)]
        spill_dir: Option<PathBuf>,
        /// Refusals described per reason; the rest are counted in the summary.
        #[arg(long, default_value_t = 10)]
        show_refused: u64,
        /// Seconds between progress lines (files read, samples, series so far).
        #[arg(long, default_value_t = 10.0)]
        progress_interval: f64,
        /// Files to load.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Writes samples as OpenMetrics text to standard output, everything readable even
    /// when some chunks are damaged.
    #[command(after_help = EXPORT_EXIT)]
    Export {
        #[command(flatten)]
        data: Data,
        /// Series selector, e.g. `cpu{host=~"a.*"}`. Default: every series.
        #[arg(long = "match")]
        selector: Option<String>,
        /// Start time (RFC 3339 or Unix seconds). Default: the beginning.
        #[arg(long, allow_hyphen_values = true)]
        start: Option<String>,
        /// End time (RFC 3339 or Unix seconds). Default: the end.
        #[arg(long, allow_hyphen_values = true)]
        end: Option<String>,
    },
    /// Prints segments, time ranges, series and sample counts, bytes per sample and the
    /// metrics with the most series.
    #[command(after_help = INSPECT_EXIT)]
    Inspect {
        #[command(flatten)]
        data: Data,
        /// How many top metrics to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// Evaluates a PromQL expression at one time and prints exactly the JSON that
    /// Prometheus' `/api/v1/query` returns, followed by a newline.
    #[command(after_help = QUERY_EXIT)]
    Query {
        #[command(flatten)]
        data: Data,
        /// Evaluation time: RFC 3339 or Unix seconds with a fraction. Default: now.
        #[arg(long, allow_hyphen_values = true)]
        time: Option<String>,
        /// The PromQL expression (one argument: quote it).
        #[arg(allow_hyphen_values = true)]
        expr: String,
    },
    /// Evaluates a PromQL expression at every step of a time range and prints exactly the
    /// JSON that Prometheus' `/api/v1/query_range` returns, followed by a newline.
    #[command(after_help = QUERY_EXIT)]
    QueryRange {
        #[command(flatten)]
        data: Data,
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
    /// Deletes the samples of the series matching a selector in a time range: they
    /// disappear from every read at once, durably.
    #[command(after_help = PLAIN_EXIT)]
    Delete {
        #[command(flatten)]
        data: Data,
        /// Series selector, e.g. `cpu{host="a"}`; at least one matcher must not match the
        /// empty string.
        #[arg(long = "match")]
        selector: String,
        /// Start time (RFC 3339 or Unix seconds). Default: the beginning of time.
        #[arg(long, allow_hyphen_values = true)]
        start: Option<String>,
        /// End time (RFC 3339 or Unix seconds). Default: the end of time.
        #[arg(long, allow_hyphen_values = true)]
        end: Option<String>,
    },
    /// Runs every maintenance step that is due to completion, as the server does:
    /// persists the head as far as due, merges raw segments into 6 h and 24 h segments
    /// (compaction), writes the rollups the downsampling rules call for, deletes what the
    /// rules, --retention or --retention-size no longer keep, and prints what each step
    /// did. The rules are those of --config's `storage.downsampling`, by default the
    /// server's standard ones: raw data kept 7 days, 1-minute rollups 30 days, 1-hour
    /// rollups 365 days, so everything older than 365 days before --now is deleted (give
    /// a --config with `downsampling: []` to only merge).
    #[command(after_help = PLAIN_EXIT)]
    Compact {
        #[command(flatten)]
        data: Data,
        /// The time to act as if it were (RFC 3339 or Unix seconds), for replaying a
        /// data directory with a fixed clock. Default: now.
        #[arg(long, allow_hyphen_values = true)]
        now: Option<String>,
        /// Deletes segments wholly older than this before --now (e.g. `30d`), whatever
        /// the downsampling rules keep. Default: only the rules delete for age.
        #[arg(long)]
        retention: Option<String>,
        /// Deletes the oldest segments while all of them take more bytes than this.
        /// Default: no budget.
        #[arg(long)]
        retention_size: Option<u64>,
        /// The server's configuration file, for its `storage.downsampling` rules
        /// (the rest of the file is checked and not used). Default: the standard rules.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Checks files as `promtool check` does (same report, same exit status).
    #[command(subcommand)]
    Check(CheckCommand),
    /// Runs unit tests as `promtool test` does.
    #[command(subcommand)]
    Test(TestCommand),
    /// Makes a directory with a damaged write-ahead log usable again: drops the log from
    /// its first damaged record on and says what was dropped.
    #[command(after_help = REPAIR_EXIT)]
    Repair {
        /// The data directory.
        #[arg(long)]
        data: PathBuf,
    },
}

/// `tsdb check …`.
#[derive(Subcommand)]
enum CheckCommand {
    /// Checks Prometheus rule files: syntax, PromQL, templates, and rulefmt's checks,
    /// each error with its file, line, group and rule, as `promtool check rules` prints
    /// them.
    #[command(
        after_help = "Exit status (promtool's): 0 every file is valid, 1 some file \
        has errors, 3 lint findings with --lint-fatal."
    )]
    Rules {
        /// `duplicate-rules` (the default) reports rules with the same name and labels;
        /// `none` turns linting off.
        #[arg(long, value_name = "LINT", default_value = "duplicate-rules")]
        lint: String,
        /// Lint findings make the exit status 3.
        #[arg(long)]
        lint_fatal: bool,
        /// The rule files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// `tsdb test …`.
#[derive(Subcommand)]
enum TestCommand {
    /// Runs rule unit-test files in `promtool test rules`' format (`rule_files`,
    /// `evaluation_interval`, `tests` with `input_series`, `alert_rule_test`,
    /// `promql_expr_test`) against this engine.
    #[command(
        after_help = "Exit status (promtool's): 0 every test passed, 1 a test failed \
        or a file could not be read."
    )]
    Rules {
        /// The unit-test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// `tsdb check rules`.
fn check_rules(lint: &str, lint_fatal: bool, files: &[PathBuf]) -> ExitCode {
    let lint_duplicate_rules = match lint {
        "duplicate-rules" | "all" => true,
        "none" => false,
        other => {
            eprintln!("tsdb: --lint {other:?}: use duplicate-rules, all or none");
            return Exit::Usage.into();
        }
    };
    let report = tsdb_rules::check_rules_files(
        files,
        &tsdb_rules::CheckOptions {
            lint_duplicate_rules,
            lint_fatal,
            program: "tsdb".to_owned(),
        },
    );
    print!("{}", report.stdout);
    eprint!("{}", report.stderr);
    ExitCode::from(u8::try_from(report.exit_code).unwrap_or(1))
}

/// `tsdb test rules`.
fn test_rules(files: &[PathBuf]) -> ExitCode {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    if tsdb_rules::unittest::run_test_files(files, &mut out, &mut err) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(CheckCommand::Rules {
            lint,
            lint_fatal,
            files,
        }) => return check_rules(&lint, lint_fatal, &files),
        Command::Test(TestCommand::Rules { files }) => return test_rules(&files),
        Command::Import {
            data,
            format,
            precision,
            allow_any_time,
            memory_limit,
            spill_dir,
            show_refused,
            progress_interval,
            files,
        } => import_options(
            format,
            &precision,
            allow_any_time,
            &memory_limit,
            spill_dir,
            show_refused,
            progress_interval,
        )
        .and_then(|options| import(&data, &options, &files)),
        Command::Export {
            data,
            selector,
            start,
            end,
        } => export(&data, selector.as_deref(), start.as_deref(), end.as_deref()),
        Command::Inspect { data, top } => inspect(&data, top),
        Command::Query { data, time, expr } => query(&data, |engine, db| {
            api::query(engine, db, &expr, time.as_deref(), import::now_ms())
        }),
        Command::QueryRange {
            data,
            start,
            end,
            step,
            expr,
        } => query(&data, |engine, db| {
            api::query_range(engine, db, &expr, &start, &end, &step)
        }),
        Command::Delete {
            data,
            selector,
            start,
            end,
        } => delete(&data, &selector, start.as_deref(), end.as_deref()),
        Command::Repair { data } => repair(&data),
        Command::Compact {
            data,
            now,
            retention,
            retention_size,
            config,
        } => compact(
            &data,
            now.as_deref(),
            retention.as_deref(),
            retention_size,
            config.as_deref(),
        ),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(f) => {
            eprintln!("tsdb: {}", f.message);
            f.exit.into()
        }
    }
}

/// Checks that the directory exists (commands other than import must not create one).
fn existing(data: &Data) -> Result<(), Fail> {
    if data.data.is_dir() {
        Ok(())
    } else {
        Err(Fail {
            exit: Exit::NoData,
            message: format!("{}: no such data directory", data.data.display()),
        })
    }
}

/// Opens the directory with `options` and the chosen WAL recovery; a failure is sorted
/// into "cannot be opened" (3), "damaged" (4, naming `tsdb repair` for the log) or other
/// (1). A log cut by `--wal-recovery truncate` is reported on standard error.
fn open(data: &Data, options: Options) -> Result<Db, Fail> {
    open_as(data, options, false)
}

/// [`open`] for the commands that only read (`query`, `query-range`, `export`,
/// `inspect`): no lock, nothing written, so they run beside a server or an import that
/// has the directory open, and a mistyped path is an error, not a new database.
fn open_read_only(data: &Data, options: Options) -> Result<Db, Fail> {
    open_as(data, options, true)
}

fn open_as(data: &Data, mut options: Options, read_only: bool) -> Result<Db, Fail> {
    options.wal_recovery = match data.wal_recovery {
        WalRecovery::Strict => RecoveryMode::Strict,
        WalRecovery::Truncate => RecoveryMode::TruncateCorrupt,
    };
    let dir = &data.data;
    let db = if read_only {
        Db::open_read_only(dir, options)
    } else {
        Db::open(dir, options)
    }
    .map_err(|e| open_failure(dir, &e))?;
    if let Some(d) = &db.recovery_report().dropped {
        if read_only {
            eprintln!(
                "tsdb: {}: the write-ahead log is damaged; read up to the damage, changed \
                 nothing (`tsdb repair` cuts it): {}",
                dir.display(),
                describe_dropped(d)
            );
        } else {
            eprintln!(
                "tsdb: {}: the write-ahead log was damaged and cut: {}",
                dir.display(),
                describe_dropped(d)
            );
        }
    }
    Ok(db)
}

fn open_failure(dir: &Path, e: &tsdb_core::Error) -> Fail {
    use tsdb_core::Error as E;
    let wal = dir.join("wal");
    match e {
        E::Corruption { path, .. } | E::UnsupportedFormat { path, .. }
            if path.starts_with(&wal) =>
        {
            Fail {
                exit: Exit::Damaged,
                message: format!(
                    "{}: the write-ahead log is damaged: {e}\n\
                 tsdb: run `tsdb repair --data {}` to drop the log from the damage on \
                 (it reports what it drops, and keeps everything before the damage and \
                 every segment), or pass --wal-recovery truncate",
                    dir.display(),
                    dir.display()
                ),
            }
        }
        E::Corruption { .. } | E::UnsupportedFormat { .. } => Fail {
            exit: Exit::Damaged,
            message: format!("{}: the data directory is damaged: {e}", dir.display()),
        },
        E::Locked { .. } | E::Io { .. } => Fail {
            exit: Exit::NoData,
            message: format!("{}: {e}", dir.display()),
        },
        _ => Fail::failed(format!("{}: {e}", dir.display())),
    }
}

fn describe_dropped(d: &tsdb_core::wal::DroppedData) -> String {
    format!(
        "dropped from {} byte {} on ({}): {} bytes, at least {} records, {} later files removed",
        d.path.display(),
        d.offset,
        d.reason,
        d.bytes,
        d.records,
        d.files_removed
    )
}

/// Runs a database operation whose errors are failures (1).
fn db_step<T>(r: Result<T, tsdb_core::Error>) -> Result<T, Fail> {
    r.map_err(Fail::failed)
}

fn import_options(
    format: Option<Format>,
    precision: &str,
    allow_any_time: bool,
    memory_limit: &str,
    spill_dir: Option<PathBuf>,
    show_refused: u64,
    progress_interval: f64,
) -> Result<ImportOptions, Fail> {
    let precision = influx::Precision::parse(precision).ok_or_else(|| {
        Fail::usage(format!(
            "--precision: unknown precision {precision:?}: use ns, us, ms or s"
        ))
    })?;
    let memory_limit =
        parse_size(memory_limit).map_err(|e| Fail::usage(format!("--memory-limit: {e}")))?;
    if memory_limit < MIN_MEMORY_LIMIT {
        return Err(Fail::usage(format!(
            "--memory-limit: at least {} MiB",
            MIN_MEMORY_LIMIT >> 20
        )));
    }
    let progress_interval = Duration::try_from_secs_f64(progress_interval)
        .map_err(|e| Fail::usage(format!("--progress-interval: {e}")))?;
    Ok(ImportOptions {
        format,
        precision,
        memory_limit,
        spill_dir,
        time_check: if allow_any_time {
            TimeCheck::Any
        } else {
            TimeCheck::Plausible {
                now_ms: import::now_ms(),
            }
        },
        show_per_reason: show_refused,
        progress_interval,
    })
}

/// Reads `512`, `64k`, `64K`, `64KiB`, `256M`, `256MB`, `256MiB`, `2G`, `2GiB` (all
/// binary: `k` is 1024).
fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let n: usize = number
        .parse()
        .map_err(|_| format!("cannot read {s:?} as a size (e.g. 512MiB)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "unknown unit in {s:?}: use k, M, G or T (KiB, MiB, ...)"
            ))
        }
    };
    n.checked_mul(1usize << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
}

fn import(data: &Data, options: &ImportOptions, files: &[PathBuf]) -> Result<Exit, Fail> {
    let mut notes = |note: Note<'_>| match note {
        Note::Refused { message, .. } => eprintln!("{message}"),
        Note::MoreRefused { reason } => {
            eprintln!("tsdb import: more of these are only counted: {reason}")
        }
        Note::Progress(p) => match p.phase {
            Phase::Reading => eprintln!(
                "tsdb import: reading {}: {:.1} MiB, {} samples of {} series so far{}",
                p.file.map(|f| f.display().to_string()).unwrap_or_default(),
                p.bytes as f64 / 1048576.0,
                p.samples,
                p.series,
                spilled(p.spilled)
            ),
            Phase::Appending => eprintln!(
                "tsdb import: appending: {} of {} samples of {} series",
                p.appended, p.samples, p.series
            ),
        },
        Note::SeriesOverLimit { series, bytes } => eprintln!(
            "tsdb import: {series} series: their label sets alone take {:.1} MiB, more than \
             --memory-limit leaves for them; memory now grows with every new series",
            bytes as f64 / 1048576.0
        ),
    };
    let import_failure = |e: ImportError| match e {
        ImportError::UnknownFormat { .. } => Fail::usage(e.to_string()),
        ImportError::Db(e) => Fail::failed(e),
        e => Fail::failed(e),
    };
    // The files are read before the directory is opened (and perhaps created).
    let parsed = Parsed::read(files, options, &mut notes).map_err(import_failure)?;
    let db = open(data, options.db_options())?;
    let summary = parsed.append_to(&db, &mut notes).map_err(import_failure)?;
    db_step(db.persist_all())?;
    db_step(db.close())?;
    let refused = summary.refused_total();
    let mut line = format!(
        "tsdb import: {} of {} samples read loaded ({} series)",
        summary.loaded, summary.samples, summary.series
    );
    if summary.string_fields_skipped > 0 {
        line.push_str(&format!(
            ", {} Influx string fields skipped (strings cannot be stored)",
            summary.string_fields_skipped
        ));
    }
    if summary.spilled_runs > 0 {
        line.push_str(&format!(
            "; sorted in {} runs spilled to disk",
            summary.spilled_runs
        ));
    }
    if refused > 0 {
        line.push_str(&format!("; {refused} refusals:"));
    }
    eprintln!("{line}");
    if refused > 0 {
        eprintln!("{:>12}  reason", "count");
        for (reason, n) in &summary.refused {
            eprintln!("{n:>12}  {reason}");
        }
        if summary.refused.keys().any(|r| r.is_implausible_time()) {
            eprintln!("tsdb import: pass --allow-any-time to load samples refused for their time");
        }
        if summary.refused.contains_key(&Reason::FileFormat) {
            eprintln!(
                "tsdb import: a refused file may be loaded with the right --format (or a \
                 complete copy of it)"
            );
        }
    }
    Ok(if refused == 0 {
        Exit::Ok
    } else {
        Exit::Refused
    })
}

fn spilled((runs, bytes): (usize, u64)) -> String {
    if runs == 0 {
        String::new()
    } else {
        format!(
            ", {runs} sorted runs spilled ({:.1} MiB)",
            bytes as f64 / 1048576.0
        )
    }
}

/// A selector and a time range from the command line (usage errors on bad values).
fn selection(
    selector: Option<&str>,
    start: Option<&str>,
    end: Option<&str>,
) -> Result<(Vec<Matcher>, i64, i64), Fail> {
    let matchers = match selector {
        Some(s) => api::series_selector(s).map_err(|e| Fail::usage(format!("--match: {e}")))?,
        None => vec![Matcher::regex(METRIC_NAME, ".+").map_err(Fail::failed)?],
    };
    let time = |name: &str, t: Option<&str>, default: i64| match t {
        Some(t) => parse_time(t).map_err(|e| Fail::usage(format!("--{name}: {e}"))),
        None => Ok(default),
    };
    let mint = time("start", start, i64::MIN)?;
    let maxt = time("end", end, i64::MAX)?;
    if maxt < mint {
        return Err(Fail::usage("--end is before --start"));
    }
    Ok((matchers, mint, maxt))
}

fn export(
    data: &Data,
    selector: Option<&str>,
    start: Option<&str>,
    end: Option<&str>,
) -> Result<Exit, Fail> {
    let (matchers, mint, maxt) = selection(selector, start, end)?;
    existing(data)?;
    let db = open_read_only(data, tool_options())?;
    let q = db_step(db.querier(mint, maxt))?;
    let mut found = db_step(q.select(&matchers))?;
    found.sort_by(|a, b| openmetrics::family_order(a.labels(), b.labels()));
    let stdout = std::io::stdout();
    let mut w = openmetrics::Writer::new(BufWriter::new(stdout.lock()));
    let write_failed = |e: tsdb_text::WriteError| Fail::failed(format!("writing the export: {e}"));
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    let mut damaged = 0u64;
    for s in &found {
        ts.clear();
        vs.clear();
        let mut it = s.iter();
        // everything readable: a damaged chunk is reported and skipped
        while let Err(e) = it.read_into(&mut ts, &mut vs) {
            damaged += 1;
            let (from, to) = it.damaged_range().unwrap_or((i64::MIN, i64::MAX));
            eprintln!(
                "tsdb export: unreadable chunk skipped: {}, series {}, {} .. {}: {e}",
                chunk_source(&e),
                s.labels(),
                show_time(from),
                show_time(to)
            );
            if it.damaged_range().is_none() {
                break;
            }
            it.skip_damaged();
        }
        if !ts.is_empty() {
            w.write_series(s.labels(), ts.iter().copied().zip(vs.iter().copied()))
                .map_err(write_failed)?;
        }
    }
    let mut out = w.finish().map_err(write_failed)?;
    out.flush()
        .map_err(|e| Fail::failed(format!("writing the export: {e}")))?;
    if damaged > 0 {
        eprintln!("tsdb export: {damaged} unreadable chunks skipped; everything else is exported");
        return Ok(Exit::Partial);
    }
    Ok(Exit::Ok)
}

/// The segment a chunk error came from (`segment 00000003`), or where else.
fn chunk_source(e: &tsdb_core::Error) -> String {
    match e {
        tsdb_core::Error::Corruption { path, .. } => {
            match path
                .parent()
                .and_then(Path::file_name)
                .and_then(|n| n.to_str())
            {
                Some(seg)
                    if path
                        .parent()
                        .and_then(Path::parent)
                        .and_then(Path::file_name)
                        == Some(std::ffi::OsStr::new("segments")) =>
                {
                    format!("segment {seg}")
                }
                _ => path.display().to_string(),
            }
        }
        _ => "unknown source".into(),
    }
}

fn inspect(data: &Data, top: usize) -> Result<Exit, Fail> {
    existing(data)?;
    let db = open_read_only(data, tool_options())?;
    let stats = db_step(db.stats())?;
    let cardinality = db_step(db.cardinality(usize::MAX))?;
    print_inspect(&data.data, &stats, cardinality, top)
        .map_err(|e| Fail::failed(format!("writing the report: {e}")))?;
    Ok(Exit::Ok)
}

fn print_inspect(
    dir: &Path,
    stats: &tsdb_core::DbStats,
    cardinality: Vec<tsdb_index::CardinalityStats>,
    top: usize,
) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "data directory {}", dir.display())?;
    writeln!(
        out,
        "{:<12} {:>5} {:>6} {:>24} {:>24} {:>9} {:>12} {:>12} {:>12}",
        "segment",
        "level",
        "res",
        "min time",
        "max time",
        "series",
        "samples",
        "bytes",
        "bytes/sample"
    )?;
    let (mut samples, mut bytes) = (0u64, 0u64);
    let mut by_resolution: std::collections::BTreeMap<u64, (usize, u64, u64)> =
        std::collections::BTreeMap::new();
    for (dir, meta, size) in &stats.segments {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let per = *size as f64 / meta.samples.max(1) as f64;
        writeln!(
            out,
            "{name:<12} {:>5} {:>6} {:>24} {:>24} {:>9} {:>12} {:>12} {:>12.3}",
            meta.level,
            resolution_name(meta.resolution_ms),
            show_time(meta.min_t),
            show_time(meta.max_t - 1),
            meta.series,
            meta.samples,
            size,
            per
        )?;
        let e = by_resolution.entry(meta.resolution_ms).or_default();
        e.0 += 1;
        e.1 += meta.samples;
        e.2 += size;
        if meta.resolution_ms == 0 {
            samples += meta.samples;
            bytes += size;
        }
    }
    writeln!(
        out,
        "segments: {}; raw: {} holding {samples} samples in {bytes} bytes ({:.3} \
         bytes/sample)",
        stats.segments.len(),
        by_resolution.get(&0).map_or(0, |e| e.0),
        bytes as f64 / samples.max(1) as f64
    )?;
    // rollup segments: their `samples` column counts buckets
    for (&res, &(n, buckets, size)) in by_resolution.range(1..) {
        writeln!(
            out,
            "rollups {}: {n} segments holding {buckets} buckets in {size} bytes",
            resolution_name(res)
        )?;
    }
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
        stats.wal_bytes, stats.wal_files, stats.deletions
    )?;
    // series per metric, summed over the head and segments (a series in several segments
    // counts once per segment: an upper bound)
    let mut per_metric: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for c in cardinality {
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
    Ok(())
}

/// Runs one of the query endpoints on the data directory and prints its JSON body.
fn query(data: &Data, run: impl FnOnce(&Engine, &Db) -> api::Body) -> Result<Exit, Fail> {
    existing(data)?;
    let db = open_read_only(data, tool_options())?;
    let (body, exit) = match run(&api::engine(), &db) {
        Ok(body) => (body, Exit::Ok),
        Err(body) => (body, Exit::Failed),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{body}")
        .and_then(|()| out.flush())
        .map_err(|e| Fail::failed(format!("writing the result: {e}")))?;
    Ok(exit)
}

fn delete(
    data: &Data,
    selector: &str,
    start: Option<&str>,
    end: Option<&str>,
) -> Result<Exit, Fail> {
    let (matchers, mint, maxt) = selection(Some(selector), start, end)?;
    if matchers.iter().all(Matcher::matches_empty) {
        return Err(Fail::usage(
            "--match: at least one matcher must not match the empty string",
        ));
    }
    existing(data)?;
    let db = open(data, tool_options())?;
    let series = db_step(db_step(db.querier(mint, maxt))?.select(&matchers))?.len();
    db_step(db.delete(&matchers, mint, maxt))?;
    db_step(db.close())?;
    let bound = |t: i64, open: &str| {
        if t == i64::MIN || t == i64::MAX {
            open.to_owned()
        } else {
            show_time(t)
        }
    };
    println!(
        "deleted the samples of {series} series matching {selector} from {} to {}",
        bound(mint, "the beginning"),
        bound(maxt, "the end")
    );
    Ok(Exit::Ok)
}

fn compact(
    data: &Data,
    now: Option<&str>,
    retention: Option<&str>,
    retention_size: Option<u64>,
    config: Option<&Path>,
) -> Result<Exit, Fail> {
    let mut options = tool_options();
    if let Some(text) = now {
        let t = parse_time(text).map_err(|e| Fail::usage(format!("--now: {e}")))?;
        options.clock = std::sync::Arc::new(tsdb_core::ManualClock::new(t));
    }
    if let Some(text) = retention {
        let ns = tsdb_examples::timearg::parse_duration_ns(text)
            .map_err(|e| Fail::usage(format!("--retention: {e}")))?;
        if ns <= 0 {
            return Err(Fail::usage("--retention must be positive"));
        }
        options.retention_ms = Some(ns / 1_000_000);
    }
    options.retention_bytes = retention_size;
    options.downsampling = match config {
        Some(path) => Config::load(path)
            .map_err(|e| Fail::usage(format!("--config: {e}")))?
            .downsampling
            .to_downsampling(),
        None => tsdb_core::Downsampling::standard(),
    };
    existing(data)?;
    let db = open(data, options)?;
    // A spinner on stderr with the step in progress (indicatif draws nothing when stderr
    // is not a terminal); the per-step summary lines go to stdout as before.
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    let step = |line: String| {
        spinner.suspend(|| {
            println!("{line}");
            let _ = std::io::stdout().flush();
        });
    };
    let mut show = |s: &tsdb_core::RewriteStep| {
        let range = |t: i64| {
            chrono::DateTime::from_timestamp_millis(t)
                .map_or_else(|| t.to_string(), |d| d.format("%Y-%m-%d %H:%M").to_string())
        };
        let res = u64::try_from(s.resolution_ms).unwrap_or(0);
        spinner.set_message(format!(
            "{} #{}: {} segments, {} to {}{}",
            s.what,
            s.number,
            s.inputs,
            range(s.min_t),
            range(s.max_t),
            if res == 0 {
                String::new()
            } else {
                format!(" at {}", resolution_name(res))
            }
        ));
    };
    spinner.set_message("persisting the head");
    let persisted = db_step(db.persist_if_due())?;
    step(format!("persist: {persisted} segments from the head"));
    let stats = db_step(db.compact_with_progress(&mut show))?;
    step(format!(
        "compact: compacted {} segments ({} bytes) into {} ({} bytes, {} samples) in {:.2?}",
        stats.segments_replaced,
        stats.bytes_before,
        stats.segments_written,
        stats.bytes_after,
        stats.samples,
        stats.duration,
    ));
    let rolled = db_step(db.downsample_with_progress(&mut show))?;
    step(format!(
        "downsample: wrote {} rollup segments ({} buckets from {} samples, {} bytes), \
         replacing {} older ones, in {:.2?}",
        rolled.segments_written,
        rolled.buckets,
        rolled.samples_read,
        rolled.bytes,
        rolled.segments_replaced,
        rolled.duration,
    ));
    spinner.set_message("retention");
    let before = db_step(db.stats())?;
    let retained = db_step(db.apply_retention())?;
    let after = db_step(db.stats())?;
    db_step(db.close())?;
    spinner.finish_and_clear();
    // what retention deleted, per resolution: the segments listed before and not after
    let mut gone: std::collections::BTreeMap<u64, usize> = std::collections::BTreeMap::new();
    for (dir, meta, _) in &before.segments {
        if !after.segments.iter().any(|(d, _, _)| d == dir) {
            *gone.entry(meta.resolution_ms).or_default() += 1;
        }
    }
    let per_resolution: Vec<String> = gone
        .iter()
        .map(|(&res, n)| format!("{n} {}", resolution_name(res)))
        .collect();
    step(format!(
        "retention: deleted {} segments past retention and {} over the size budget ({} \
         bytes){}",
        retained.expired,
        retained.over_budget,
        retained.bytes,
        if per_resolution.is_empty() {
            String::new()
        } else {
            format!(": {}", per_resolution.join(", "))
        },
    ));
    step(format!("{} segments now", after.segments.len()));
    Ok(Exit::Ok)
}

/// `raw` or a rollup's bucket width (`1m`, `1h`).
fn resolution_name(resolution_ms: u64) -> String {
    if resolution_ms == 0 {
        "raw".to_owned()
    } else {
        tsdb_scrape::config::format_duration(Duration::from_millis(resolution_ms))
    }
}

fn repair(dir: &Path) -> Result<Exit, Fail> {
    let data = Data {
        data: dir.to_path_buf(),
        wal_recovery: WalRecovery::Truncate,
    };
    existing(&data)?;
    let db = Db::open(
        dir,
        Options {
            wal_recovery: RecoveryMode::TruncateCorrupt,
            ..tool_options()
        },
    )
    .map_err(|e| open_failure(dir, &e))?;
    let report = db.recovery_report().clone();
    let stats = db_step(db.stats())?;
    db_step(db.close())?;
    let mut out = std::io::stdout().lock();
    let mut print = || -> std::io::Result<()> {
        match &report.dropped {
            Some(d) => writeln!(out, "write-ahead log repaired: {}", describe_dropped(d))?,
            None => writeln!(out, "write-ahead log intact: nothing dropped")?,
        }
        if let Some(t) = &report.torn_tail {
            writeln!(
                out,
                "torn tail cut (an interrupted write): {} at byte {}, {} bytes ({})",
                t.path.display(),
                t.offset,
                t.bytes,
                t.reason
            )?;
        }
        writeln!(
            out,
            "replayed {} records from {} log files{}",
            report.records,
            report.files,
            report
                .checkpoint
                .map(|c| format!(" after checkpoint {c}"))
                .unwrap_or_default()
        )?;
        writeln!(
            out,
            "segments kept: {}; head: {} series, {} samples",
            stats.segments.len(),
            stats.head_series,
            stats.head_samples
        )?;
        for (dir, why) in &stats.set_aside {
            writeln!(
                out,
                "segment set aside (left on disk, not read): {}: {why}",
                dir.display()
            )?;
        }
        out.flush()
    };
    print().map_err(|e| Fail::failed(format!("writing the report: {e}")))?;
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::parse_size;
    use tsdb_examples::import::DEFAULT_MEMORY_LIMIT;

    #[test]
    fn sizes() {
        // the default of --memory-limit is the library's
        assert_eq!(parse_size("256MiB"), Ok(DEFAULT_MEMORY_LIMIT));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size(" 4 mb "), Ok(4 << 20));
        assert!(parse_size("").is_err());
        assert!(parse_size("1.5G").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
