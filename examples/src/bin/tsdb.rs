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
//! thing in every command (see [`Exit`]). The commands a script would parse take
//! `--output json` (one object on stdout, its fields in `--help`); the long-running ones
//! draw progress on stderr when it is a terminal, and nothing when it is not.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;
use tsdb_core::wal::RecoveryMode;
use tsdb_core::{Db, Options};
use tsdb_examples::api;
use tsdb_examples::import::{
    self, show_time, tool_options, Format, ImportError, ImportOptions, Note, Parsed, Phase, Reason,
    TimeCheck, MIN_MEMORY_LIMIT,
};
use tsdb_examples::progress::{self, ImportBars};
use tsdb_examples::server::config::Config;
use tsdb_examples::timearg::parse_time;
use tsdb_examples::{human, import::Summary};
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
     Progress: on a terminal, a bar on standard error over the input bytes (samples, \
     samples per second, series, time left; a second bar for the current file when there \
     are several), then one over the samples appended. When standard error is not a \
     terminal, a plain line every --progress-interval instead.\n\n\
     --output json: instead of the summary on standard error, one JSON object on standard \
     output: files, bytes_read, series, samples_read, samples_loaded, refused_total, \
     refused (a list of {reason, kind, unit, count, description}: reason is parse, \
     line_too_long, no_timestamp, file_format, ahead_of_clock, behind_clock, \
     far_from_median or db; kind is the parser's or the database's error for parse and \
     db, else null; unit is lines, files or samples), string_fields_skipped, \
     spilled_runs, seconds, exit_code. The first refusals of each reason are still \
     described on standard error.\n\n\
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
    "Progress: when standard error is a terminal and standard output is not (the export \
     goes to a file or a pipe), a bar over the series with the samples written so far.\n\n\
     Exit status:\n",
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
    "Sizes are in binary units (KiB, MiB, GiB) in the text report.\n\n\
     --output json: one JSON object: data_dir, segments (a list of {name, level, \
     resolution (raw, 1m, 1h), resolution_ms, min_time_ms, max_time_ms (both inclusive), \
     series, samples (buckets for a rollup), bytes}), raw {segments, samples, bytes, \
     bytes_per_sample}, rollups (a list of {resolution, resolution_ms, segments, buckets, \
     bytes}), set_aside (a list of {path, reason}), head {series, samples, min_time_ms, \
     max_time_ms (null when empty)}, wal {bytes, files}, deletions, top_metrics (a list of \
     {name, series}, at most --top).\n\n\
     Exit status:\n",
    exit_ok!(),
    exit_failed!(),
    exit_usage!(),
    exit_no_data_read!(),
    exit_damaged!(),
);

const DELETE_EXIT: &str = concat!(
    "--output json: one JSON object: selector, series (the series matching it), start_ms \
     and end_ms (null for an open end), start and end (RFC 3339, or null).\n\n\
     Exit status:\n",
    exit_ok!(),
    exit_failed!(),
    exit_usage!(),
    exit_no_data!(),
    exit_damaged!(),
);

const COMPACT_EXIT: &str = concat!(
    "Progress: on a terminal, a spinner on standard error naming the step in progress and \
     counting the steps done; the line per step goes to standard output as always.\n\n\
     --output json: instead of the lines, one JSON object: persisted_segments, compact \
     {segments_replaced, bytes_before, segments_written, bytes_after, samples, seconds}, \
     downsample {segments_written, buckets, samples_read, bytes, segments_replaced, \
     seconds}, retention {expired, over_budget, bytes, deleted_by_resolution (an object: \
     resolution name, e.g. raw or 1m, to segments deleted)}, steps (rewrites done), \
     segments_after.\n\n\
     Exit status:\n",
    exit_ok!(),
    exit_failed!(),
    exit_usage!(),
    exit_no_data!(),
    exit_damaged!(),
);

const QUERY_EXIT: &str = concat!(
    "The output is always JSON, exactly the Prometheus HTTP API's (no --output needed).\n\n\
     Exit status:\n",
    exit_ok!(),
    "  1  the query failed: the Prometheus error JSON \
     ({\"status\":\"error\",\"errorType\":...,\"error\":...}) is on standard output, \
     errorType bad_data for a syntax error or a bad --time/--start/--end/--step, \
     execution, timeout or internal otherwise; standard error has the same in a line, \
     with the accepted forms for a bad time or step\n",
    exit_usage!(),
    exit_no_data_read!(),
    exit_damaged!(),
);

const REPAIR_EXIT: &str = concat!(
    "Opens the directory with --wal-recovery truncate: the write-ahead log is cut at its \
     first damaged record, later log files are removed, and what was dropped is printed. \
     Everything before the damage and every segment are kept; damaged segments are left \
     on disk and listed.\n\n\
     --output json: one JSON object: repaired (true when something was dropped), dropped \
     (null, or {path, offset, reason, bytes, records, files_removed}), torn_tail (null, or \
     {path, offset, bytes, reason}: an interrupted last write, cut in any mode), \
     replayed_records, log_files, checkpoint (null or its number), segments_kept, head \
     {series, samples}, set_aside (a list of {path, reason}).\n\n\
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

/// The form of a command's report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    /// For people: lines of text, sizes and durations in human units.
    Text,
    /// For scripts: one JSON object on standard output (its fields are listed in the
    /// command's `--help`), plain numbers (bytes, milliseconds, seconds).
    Json,
}

/// `--output`, for the commands a script would parse.
#[derive(Args)]
struct OutputArg {
    /// The report's form: `text` for people, `json` for scripts (one object on standard
    /// output; the fields are listed below).
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
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
        /// Seconds between progress lines (files read, samples, series so far) when
        /// standard error is not a terminal; a terminal gets a progress bar instead.
        #[arg(long, default_value_t = 10.0)]
        progress_interval: f64,
        #[command(flatten)]
        output: OutputArg,
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
        #[command(flatten)]
        output: OutputArg,
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
    #[command(after_help = DELETE_EXIT)]
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
        #[command(flatten)]
        output: OutputArg,
    },
    /// Runs every maintenance step that is due to completion, as the server does:
    /// persists the head as far as due, merges raw segments into 6 h and 24 h segments
    /// (compaction), writes the rollups the downsampling rules call for, deletes what the
    /// rules, --retention or --retention-size no longer keep, and prints what each step
    /// did. The rules are those of --config's `storage.downsampling`, by default the
    /// server's standard ones: raw data kept 7 days, 1-minute rollups 30 days, 1-hour
    /// rollups 365 days, so everything older than 365 days before --now is deleted (give
    /// a --config with `downsampling: []` to only merge).
    #[command(after_help = COMPACT_EXIT)]
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
        /// Deletes the oldest segments while all of them take more than this: bytes, or
        /// with a binary unit (500MiB, 20GiB, 1T). Default: no budget.
        #[arg(long, value_name = "SIZE")]
        retention_size: Option<String>,
        /// The server's configuration file, for its `storage.downsampling` rules
        /// (the rest of the file is checked and not used). Default: the standard rules.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        output: OutputArg,
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
        #[command(flatten)]
        output: OutputArg,
    },
}

/// `tsdb check …`.
#[derive(Subcommand)]
enum CheckCommand {
    /// Checks Prometheus rule files: syntax, PromQL, templates, and rulefmt's checks,
    /// each error with its file, line, group and rule, as `promtool check rules` prints
    /// them.
    #[command(
        after_help = "The report is promtool's, text only: promtool has no JSON output for \
        `check rules`.\n\n\
        Exit status (promtool's codes):\n  \
        0  every file is valid (lint findings are reported and do not count)\n  \
        1  some file has errors, or cannot be read (each error on standard error with its \
        file and line)\n  \
        2  bad command line (an unknown --lint value)\n  \
        3  lint findings with --lint-fatal\n"
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
    #[command(after_help = "Exit status (promtool's codes):\n  \
        0  every test passed\n  \
        1  a test failed, or a file could not be read or parsed (the failures are on \
        standard error)\n  \
        2  bad command line\n")]
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
            output,
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
        .and_then(|options| import(&data, &options, &files, output.output)),
        Command::Export {
            data,
            selector,
            start,
            end,
        } => export(&data, selector.as_deref(), start.as_deref(), end.as_deref()),
        Command::Inspect { data, top, output } => inspect(&data, top, output.output),
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
            output,
        } => delete(
            &data,
            &selector,
            start.as_deref(),
            end.as_deref(),
            output.output,
        ),
        Command::Repair { data, output } => repair(&data, output.output),
        Command::Compact {
            data,
            now,
            retention,
            retention_size,
            config,
            output,
        } => compact(
            &data,
            now.as_deref(),
            retention.as_deref(),
            retention_size.as_deref(),
            config.as_deref(),
            output.output,
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

/// The forms a time argument takes, for the messages about a bad one.
const TIME_FORMS: &str = "use RFC 3339 (2024-01-14T00:00:00Z, 2024-01-14T01:00:00.5+01:00) \
                          or Unix seconds with an optional fraction (1705190400, 1705190400.5)";

/// A time argument, or a usage error naming the option and the accepted forms.
fn time_arg(option: &str, text: &str) -> Result<i64, Fail> {
    parse_time(text).map_err(|e| Fail::usage(format!("--{option}: {e}: {TIME_FORMS}")))
}

/// Checks that the directory exists (commands other than import must not create one).
fn existing(data: &Data) -> Result<(), Fail> {
    let dir = data.data.display();
    let no_data = |message: String| Fail {
        exit: Exit::NoData,
        message,
    };
    match std::fs::metadata(&data.data) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(no_data(format!(
            "{dir}: not a directory: --data names the data directory (the one `tsdb \
             import` or tsdb-server writes), not a file in it"
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(no_data(format!(
            "{dir}: no such data directory: check the --data path (only `tsdb import` \
             creates a new one)"
        ))),
        Err(e) => Err(no_data(format!(
            "{dir}: cannot read the data directory: {e}: check its permissions"
        ))),
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
    // replaying a long write-ahead log can take a while: a spinner says what is going on
    let spinner = progress::spinner(format!(
        "opening {} (replaying the write-ahead log)",
        dir.display()
    ));
    let opened = if read_only {
        Db::open_read_only(dir, options)
    } else {
        Db::open(dir, options)
    };
    spinner.finish_and_clear();
    let db = opened.map_err(|e| open_failure(dir, &e))?;
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
        E::Locked { .. } => Fail {
            exit: Exit::NoData,
            message: format!(
                "{}: {e}\n\
                 tsdb: a tsdb-server or another tsdb command (import, delete, compact, \
                 repair) has it open for writing: stop it, or wait for it to end, and run \
                 this again; `tsdb query`, `query-range`, `export` and `inspect` read a \
                 directory that is in use",
                dir.display()
            ),
        },
        E::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => Fail {
            exit: Exit::NoData,
            message: format!(
                "{}: {e}\n\
                 tsdb: run as a user who may read and write the data directory and its \
                 files (the one tsdb-server runs as), or fix their permissions",
                dir.display()
            ),
        },
        E::Io { .. } => Fail {
            exit: Exit::NoData,
            message: format!("{}: {e}", dir.display()),
        },
        _ => Fail::failed(format!("{}: {e}", dir.display())),
    }
}

fn describe_dropped(d: &tsdb_core::wal::DroppedData) -> String {
    format!(
        "dropped from {} byte {} on ({}): {}, at least {} records, {} later files removed",
        d.path.display(),
        d.offset,
        d.reason,
        human::bytes(d.bytes),
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

/// How often the importer reports to a progress bar (the plain lines keep
/// `--progress-interval`).
const BAR_INTERVAL: Duration = Duration::from_millis(100);

fn import(
    data: &Data,
    options: &ImportOptions,
    files: &[PathBuf],
    output: Output,
) -> Result<Exit, Fail> {
    let started = Instant::now();
    let terminal = progress::on_terminal();
    let mut options = options.clone();
    if terminal {
        options.progress_interval = options.progress_interval.min(BAR_INTERVAL);
    }
    // every input is checked before any is read (a typo in the last of ten files should
    // not cost the reading of nine), and sized for the bar
    let mut sizes = Vec::with_capacity(files.len());
    for f in files {
        // a file of unknown format is a usage error (2), whether or not it exists
        Format::for_file(f, options.format).map_err(|e| Fail::usage(e.to_string()))?;
    }
    for f in files {
        match std::fs::metadata(f) {
            Ok(m) if m.is_dir() => {
                return Err(Fail::failed(format!(
                    "{}: is a directory: give the text files to import; nothing was imported",
                    f.display()
                )))
            }
            Ok(m) => sizes.push(m.len()),
            Err(e) => {
                return Err(Fail::failed(format!(
                    "{}: cannot read the input file: {e}: check its path and permissions; \
                     nothing was imported",
                    f.display()
                )))
            }
        }
    }
    let mut bars = ImportBars::new(files, &sizes);
    let mut bytes_read = 0u64;
    let mut notes = |note: Note<'_>| match note {
        Note::Refused { message, .. } => bars.println(message),
        Note::MoreRefused { reason } => bars.println(&format!(
            "tsdb import: more of these are only counted: {reason}"
        )),
        Note::FileRead {
            index,
            bytes,
            samples,
            series,
            ..
        } => {
            bytes_read += bytes;
            bars.reading(index, bytes, samples, series);
        }
        // reading only: appending reports to the second closure below
        Note::Progress(p) if terminal => bars.reading(p.file_index, p.bytes, p.samples, p.series),
        Note::Progress(p) => match p.phase {
            Phase::Reading => eprintln!(
                "tsdb import: reading {}: {}, {} samples of {} series so far{}",
                p.file.map(|f| f.display().to_string()).unwrap_or_default(),
                human::bytes(p.bytes),
                p.samples,
                p.series,
                spilled(p.spilled)
            ),
            Phase::Appending => eprintln!(
                "tsdb import: appending: {} of {} samples of {} series",
                p.appended, p.samples, p.series
            ),
        },
        Note::SeriesOverLimit { series, bytes } => bars.println(&format!(
            "tsdb import: {series} series: their label sets alone take {}, more than \
             --memory-limit leaves for them; memory now grows with every new series",
            human::bytes(bytes as u64)
        )),
    };
    let import_failure = |e: ImportError| match e {
        ImportError::UnknownFormat { .. } => Fail::usage(e.to_string()),
        ImportError::Read { .. } => {
            Fail::failed(format!("reading an input file: {e}; nothing was imported"))
        }
        ImportError::Spill { .. } => Fail::failed(format!(
            "{e}\ntsdb: the input did not fit --memory-limit and sorted runs could not be \
             spilled: give a writable --spill-dir with room (about 24 bytes per sample) or \
             a larger --memory-limit; nothing was imported"
        )),
        ImportError::Db(e) => Fail::failed(e),
        e => Fail::failed(e),
    };
    // The files are read before the directory is opened (and perhaps created).
    let parsed = Parsed::read(files, &options, &mut notes);
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => {
            bars.clear();
            return Err(import_failure(e));
        }
    };
    let series = parsed.series();
    let samples = parsed.samples();
    bars.read();
    let db = match open(data, options.db_options()) {
        Ok(db) => db,
        Err(f) => {
            bars.clear();
            return Err(f);
        }
    };
    let appending = bars.appending(samples);
    let mut notes = |note: Note<'_>| match note {
        Note::Refused { message, .. } => bars.println(message),
        Note::MoreRefused { reason } => bars.println(&format!(
            "tsdb import: more of these are only counted: {reason}"
        )),
        Note::Progress(p) if terminal => appending.set_position(p.appended),
        Note::Progress(p) => eprintln!(
            "tsdb import: appending: {} of {} samples of {} series",
            p.appended, p.samples, p.series
        ),
        Note::FileRead { .. } | Note::SeriesOverLimit { .. } => {}
    };
    let summary = match parsed.append_to(&db, &mut notes) {
        Ok(summary) => summary,
        Err(e) => {
            bars.clear();
            return Err(import_failure(e));
        }
    };
    appending.finish_and_clear();
    let persisting = bars.persisting(series);
    let persisted = db_step(db.persist_all()).and_then(|_| db_step(db.close()));
    persisting.finish_and_clear();
    bars.clear();
    persisted?;
    let elapsed = started.elapsed();
    let refused = summary.refused_total();
    let exit = if refused == 0 {
        Exit::Ok
    } else {
        Exit::Refused
    };
    match output {
        Output::Json => print_json(&import_json(
            files.len(),
            bytes_read,
            &summary,
            elapsed,
            exit,
        ))?,
        Output::Text => print_import_summary(files.len(), bytes_read, &summary, elapsed),
    }
    Ok(exit)
}

/// `tsdb import --output json`'s object.
fn import_json(
    files: usize,
    bytes_read: u64,
    summary: &Summary,
    elapsed: Duration,
    exit: Exit,
) -> serde_json::Value {
    let refused: Vec<serde_json::Value> = summary
        .refused
        .iter()
        .map(|(reason, n)| {
            let (key, kind) = reason.key();
            json!({
                "reason": key,
                "kind": kind,
                "unit": reason.unit(),
                "count": n,
                "description": reason.to_string(),
            })
        })
        .collect();
    json!({
        "files": files,
        "bytes_read": bytes_read,
        "series": summary.series,
        "samples_read": summary.samples,
        "samples_loaded": summary.loaded,
        "refused_total": summary.refused_total(),
        "refused": refused,
        "string_fields_skipped": summary.string_fields_skipped,
        "spilled_runs": summary.spilled_runs,
        "seconds": elapsed.as_secs_f64(),
        "exit_code": exit as u8,
    })
}

/// The summary on standard error: a line, then the table of refusals and hints.
fn print_import_summary(files: usize, bytes_read: u64, summary: &Summary, elapsed: Duration) {
    let refused = summary.refused_total();
    let mut line = format!(
        "tsdb import: {} of {} samples read loaded ({} series) from {} in {} files, in {} \
         ({})",
        summary.loaded,
        summary.samples,
        summary.series,
        human::bytes(bytes_read),
        files,
        human::duration(elapsed),
        human::rate(summary.samples, elapsed, "samples"),
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
}

/// Prints one JSON object and a newline on standard output.
fn print_json(value: &serde_json::Value) -> Result<(), Fail> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out))
        .and_then(|()| out.flush())
        .map_err(|e| Fail::failed(format!("writing the report: {e}")))
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
        Some(t) => time_arg(name, t),
        None => Ok(default),
    };
    let mint = time("start", start, i64::MIN)?;
    let maxt = time("end", end, i64::MAX)?;
    if maxt < mint {
        return Err(Fail::usage(format!(
            "--end {} is before --start {}: swap them",
            show_time(maxt),
            show_time(mint)
        )));
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
    // a bar on a terminal, unless the export itself is drawn on that terminal
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        indicatif::ProgressBar::hidden()
    } else {
        progress::bar(found.len() as u64, progress::COUNT)
    };
    bar.set_prefix("exporting ");
    bar.set_message("series");
    let mut samples = 0u64;
    for s in &found {
        bar.inc(1);
        ts.clear();
        vs.clear();
        let mut it = s.iter();
        // everything readable: a damaged chunk is reported and skipped
        while let Err(e) = it.read_into(&mut ts, &mut vs) {
            damaged += 1;
            let (from, to) = it.damaged_range().unwrap_or((i64::MIN, i64::MAX));
            bar.suspend(|| {
                eprintln!(
                    "tsdb export: unreadable chunk skipped: {}, series {}, {} .. {}: {e}",
                    chunk_source(&e),
                    s.labels(),
                    show_time(from),
                    show_time(to)
                )
            });
            if it.damaged_range().is_none() {
                break;
            }
            it.skip_damaged();
        }
        if !ts.is_empty() {
            samples += ts.len() as u64;
            bar.set_message(format!("series, {} samples", human::count(samples)));
            w.write_series(s.labels(), ts.iter().copied().zip(vs.iter().copied()))
                .map_err(write_failed)?;
        }
    }
    bar.finish_and_clear();
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

fn inspect(data: &Data, top: usize, output: Output) -> Result<Exit, Fail> {
    existing(data)?;
    let db = open_read_only(data, tool_options())?;
    let stats = db_step(db.stats())?;
    let cardinality = db_step(db.cardinality(usize::MAX))?;
    let report = Inspection::new(&data.data, &stats, cardinality, top);
    match output {
        Output::Json => print_json(&report.json(&data.data, &stats))?,
        Output::Text => print_inspect(&data.data, &stats, &report)
            .map_err(|e| Fail::failed(format!("writing the report: {e}")))?,
    }
    Ok(Exit::Ok)
}

/// What `inspect` sums up beyond the database's own statistics.
struct Inspection {
    /// Raw segments: count, samples, bytes.
    raw: (usize, u64, u64),
    /// Rollup segments per resolution: count, buckets, bytes.
    rollups: std::collections::BTreeMap<u64, (usize, u64, u64)>,
    /// The write-ahead log on disk: bytes, files.
    wal: (u64, usize),
    /// The metrics with the most series, most first.
    top: Vec<(String, u64)>,
}

impl Inspection {
    fn new(
        dir: &Path,
        stats: &tsdb_core::DbStats,
        cardinality: Vec<tsdb_index::CardinalityStats>,
        top: usize,
    ) -> Inspection {
        let mut raw = (0, 0, 0);
        let mut rollups: std::collections::BTreeMap<u64, (usize, u64, u64)> =
            std::collections::BTreeMap::new();
        for (_, meta, size) in &stats.segments {
            let e = if meta.resolution_ms == 0 {
                &mut raw
            } else {
                rollups.entry(meta.resolution_ms).or_default()
            };
            e.0 += 1;
            e.1 += meta.samples;
            e.2 += size;
        }
        // series per metric, summed over the head and segments (a series in several
        // segments counts once per segment: an upper bound)
        let mut per_metric: std::collections::BTreeMap<String, u64> =
            std::collections::BTreeMap::new();
        for c in cardinality {
            for (name, n) in c.series_count_by_metric_name {
                let e = per_metric.entry(name).or_default();
                *e = (*e).max(n);
            }
        }
        let mut ranked: Vec<(String, u64)> = per_metric.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(top);
        // opened read-only, the database does not look at its log: measure it here
        let wal = if stats.wal_files > 0 {
            (stats.wal_bytes, stats.wal_files)
        } else {
            wal_on_disk(&dir.join("wal"))
        };
        Inspection {
            raw,
            rollups,
            wal,
            top: ranked,
        }
    }

    fn json(&self, dir: &Path, stats: &tsdb_core::DbStats) -> serde_json::Value {
        let segments: Vec<serde_json::Value> = stats
            .segments
            .iter()
            .map(|(path, meta, size)| {
                json!({
                    "name": path.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
                    "level": meta.level,
                    "resolution": resolution_name(meta.resolution_ms),
                    "resolution_ms": meta.resolution_ms,
                    "min_time_ms": meta.min_t,
                    "max_time_ms": meta.max_t - 1,
                    "series": meta.series,
                    "samples": meta.samples,
                    "bytes": size,
                })
            })
            .collect();
        let rollups: Vec<serde_json::Value> = self
            .rollups
            .iter()
            .map(|(&res, &(n, buckets, bytes))| {
                json!({
                    "resolution": resolution_name(res),
                    "resolution_ms": res,
                    "segments": n,
                    "buckets": buckets,
                    "bytes": bytes,
                })
            })
            .collect();
        let set_aside: Vec<serde_json::Value> = stats
            .set_aside
            .iter()
            .map(|(path, why)| json!({"path": path.display().to_string(), "reason": why}))
            .collect();
        let (raw_n, raw_samples, raw_bytes) = self.raw;
        json!({
            "data_dir": dir.display().to_string(),
            "segments": segments,
            "raw": {
                "segments": raw_n,
                "samples": raw_samples,
                "bytes": raw_bytes,
                "bytes_per_sample": raw_bytes as f64 / raw_samples.max(1) as f64,
            },
            "rollups": rollups,
            "set_aside": set_aside,
            "head": {
                "series": stats.head_series,
                "samples": stats.head_samples,
                "min_time_ms": stats.head_range.map(|r| r.0),
                "max_time_ms": stats.head_range.map(|r| r.1),
            },
            "wal": {"bytes": self.wal.0, "files": self.wal.1},
            "deletions": stats.deletions,
            "top_metrics": self
                .top
                .iter()
                .map(|(name, n)| json!({"name": name, "series": n}))
                .collect::<Vec<_>>(),
        })
    }
}

/// Bytes and files of a write-ahead log directory (its checkpoint subdirectories
/// included); nothing when it is missing or unreadable.
fn wal_on_disk(dir: &Path) -> (u64, usize) {
    let mut total = (0u64, 0usize);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return total;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            let (b, n) = wal_on_disk(&entry.path());
            total.0 += b;
            total.1 += n;
        } else {
            total.0 += meta.len();
            total.1 += 1;
        }
    }
    total
}

fn print_inspect(
    dir: &Path,
    stats: &tsdb_core::DbStats,
    report: &Inspection,
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
        "size",
        "bytes/sample"
    )?;
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
            human::bytes(*size),
            per
        )?;
    }
    let (raw_n, samples, bytes) = report.raw;
    writeln!(
        out,
        "segments: {}; raw: {raw_n} holding {samples} samples in {} ({:.3} bytes/sample)",
        stats.segments.len(),
        human::bytes(bytes),
        bytes as f64 / samples.max(1) as f64
    )?;
    // rollup segments: their `samples` column counts buckets
    for (&res, &(n, buckets, size)) in &report.rollups {
        writeln!(
            out,
            "rollups {}: {n} segments holding {buckets} buckets in {}",
            resolution_name(res),
            human::bytes(size)
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
        "wal: {} in {} files; deletions in force: {}",
        human::bytes(report.wal.0),
        report.wal.1,
        stats.deletions
    )?;
    writeln!(out, "top metrics by series:")?;
    for (name, n) in &report.top {
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
        Err(body) => {
            // standard output keeps exactly Prometheus' error JSON; people get a line
            // on standard error, with the accepted forms for a bad argument
            eprintln!("tsdb: the query failed: {}", query_failure(&body));
            (body, Exit::Failed)
        }
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{body}")
        .and_then(|()| out.flush())
        .map_err(|e| Fail::failed(format!("writing the result: {e}")))?;
    Ok(exit)
}

/// What a query error body says, with what to do for a bad time or step.
fn query_failure(body: &str) -> String {
    let parsed: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let kind = parsed["errorType"].as_str().unwrap_or("error");
    let error = parsed["error"].as_str().unwrap_or(body);
    let hint = if error.contains("to a valid timestamp") {
        format!(": {TIME_FORMS}")
    } else if error.contains("to a valid duration") {
        ": use a Prometheus duration (15s, 1m30s, 1h) or seconds (15, 0.5)".to_owned()
    } else {
        String::new()
    };
    format!("{kind}: {error}{hint}")
}

fn delete(
    data: &Data,
    selector: &str,
    start: Option<&str>,
    end: Option<&str>,
    output: Output,
) -> Result<Exit, Fail> {
    let (matchers, mint, maxt) = selection(Some(selector), start, end)?;
    if matchers.iter().all(Matcher::matches_empty) {
        return Err(Fail::usage(
            "--match: at least one matcher must not match the empty string",
        ));
    }
    existing(data)?;
    let db = open(data, tool_options())?;
    // a deletion is a request written durably, not a rewrite: quick, no bar
    let series = db_step(db_step(db.querier(mint, maxt))?.select(&matchers))?.len();
    db_step(db.delete(&matchers, mint, maxt))?;
    db_step(db.close())?;
    let open_end = |t: i64| t == i64::MIN || t == i64::MAX;
    match output {
        Output::Json => {
            let ms = |t: i64| (!open_end(t)).then_some(t);
            print_json(&json!({
                "selector": selector,
                "series": series,
                "start_ms": ms(mint),
                "end_ms": ms(maxt),
                "start": ms(mint).map(show_time),
                "end": ms(maxt).map(show_time),
            }))?;
        }
        Output::Text => {
            let bound = |t: i64, open: &str| {
                if open_end(t) {
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
        }
    }
    Ok(Exit::Ok)
}

fn compact(
    data: &Data,
    now: Option<&str>,
    retention: Option<&str>,
    retention_size: Option<&str>,
    config: Option<&Path>,
    output: Output,
) -> Result<Exit, Fail> {
    let mut options = tool_options();
    if let Some(text) = now {
        let t = time_arg("now", text)?;
        options.clock = std::sync::Arc::new(tsdb_core::ManualClock::new(t));
    }
    if let Some(text) = retention {
        let ns = tsdb_examples::timearg::parse_duration_ns(text).map_err(|e| {
            Fail::usage(format!(
                "--retention: {e}: use a Prometheus duration (30d, 12h, 1w, 1y30d) or seconds"
            ))
        })?;
        if ns <= 0 {
            return Err(Fail::usage(format!(
                "--retention {text:?} must be positive (e.g. 30d)"
            )));
        }
        options.retention_ms = Some(ns / 1_000_000);
    }
    options.retention_bytes = match retention_size {
        Some(text) => Some(
            parse_size(text)
                .map(|n| n as u64)
                .map_err(|e| Fail::usage(format!("--retention-size: {e}")))?,
        ),
        None => None,
    };
    options.downsampling = match config {
        Some(path) => Config::load(path)
            .map_err(|e| Fail::usage(format!("--config: {e}")))?
            .downsampling
            .to_downsampling(),
        None => tsdb_core::Downsampling::standard(),
    };
    existing(data)?;
    let db = open(data, options)?;
    // A spinner on stderr with the step in progress and the steps done (nothing when
    // stderr is not a terminal); the per-step summary lines go to stdout.
    let spinner = progress::spinner("persisting the head");
    let text = output == Output::Text;
    let step = |line: String| {
        if text {
            spinner.suspend(|| {
                println!("{line}");
                let _ = std::io::stdout().flush();
            });
        }
    };
    let mut steps = 0usize;
    let mut show = |s: &tsdb_core::RewriteStep| {
        steps += 1;
        let range = |t: i64| {
            chrono::DateTime::from_timestamp_millis(t)
                .map_or_else(|| t.to_string(), |d| d.format("%Y-%m-%d %H:%M").to_string())
        };
        let res = u64::try_from(s.resolution_ms).unwrap_or(0);
        spinner.set_message(format!(
            "step {steps}: {} #{}: {} segments, {} to {}{}",
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
    let persisted = db_step(db.persist_if_due())?;
    step(format!("persist: {persisted} segments from the head"));
    let stats = db_step(db.compact_with_progress(&mut show))?;
    step(format!(
        "compact: compacted {} segments ({}) into {} ({}, {} samples) in {}",
        stats.segments_replaced,
        human::bytes(stats.bytes_before),
        stats.segments_written,
        human::bytes(stats.bytes_after),
        stats.samples,
        human::duration(stats.duration),
    ));
    let rolled = db_step(db.downsample_with_progress(&mut show))?;
    step(format!(
        "downsample: wrote {} rollup segments ({} buckets from {} samples, {}), \
         replacing {} older ones, in {}",
        rolled.segments_written,
        rolled.buckets,
        rolled.samples_read,
        human::bytes(rolled.bytes),
        rolled.segments_replaced,
        human::duration(rolled.duration),
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
    if output == Output::Json {
        let by_resolution: serde_json::Map<String, serde_json::Value> = gone
            .iter()
            .map(|(&res, &n)| (resolution_name(res), json!(n)))
            .collect();
        print_json(&json!({
            "persisted_segments": persisted,
            "compact": {
                "segments_replaced": stats.segments_replaced,
                "bytes_before": stats.bytes_before,
                "segments_written": stats.segments_written,
                "bytes_after": stats.bytes_after,
                "samples": stats.samples,
                "seconds": stats.duration.as_secs_f64(),
            },
            "downsample": {
                "segments_written": rolled.segments_written,
                "buckets": rolled.buckets,
                "samples_read": rolled.samples_read,
                "bytes": rolled.bytes,
                "segments_replaced": rolled.segments_replaced,
                "seconds": rolled.duration.as_secs_f64(),
            },
            "retention": {
                "expired": retained.expired,
                "over_budget": retained.over_budget,
                "bytes": retained.bytes,
                "deleted_by_resolution": by_resolution,
            },
            "steps": steps,
            "segments_after": after.segments.len(),
        }))?;
        return Ok(Exit::Ok);
    }
    let per_resolution: Vec<String> = gone
        .iter()
        .map(|(&res, n)| format!("{n} {}", resolution_name(res)))
        .collect();
    step(format!(
        "retention: deleted {} segments past retention and {} over the size budget ({}){}",
        retained.expired,
        retained.over_budget,
        human::bytes(retained.bytes),
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

fn repair(dir: &Path, output: Output) -> Result<Exit, Fail> {
    let data = Data {
        data: dir.to_path_buf(),
        wal_recovery: WalRecovery::Truncate,
    };
    existing(&data)?;
    let spinner = progress::spinner(format!(
        "replaying the write-ahead log of {} up to its first damaged record",
        dir.display()
    ));
    let opened = Db::open(
        dir,
        Options {
            wal_recovery: RecoveryMode::TruncateCorrupt,
            ..tool_options()
        },
    );
    spinner.finish_and_clear();
    let db = opened.map_err(|e| open_failure(dir, &e))?;
    let report = db.recovery_report().clone();
    let stats = db_step(db.stats())?;
    db_step(db.close())?;
    if output == Output::Json {
        print_json(&json!({
            "repaired": report.dropped.is_some(),
            "dropped": report.dropped.as_ref().map(|d| json!({
                "path": d.path.display().to_string(),
                "offset": d.offset,
                "reason": d.reason,
                "bytes": d.bytes,
                "records": d.records,
                "files_removed": d.files_removed,
            })),
            "torn_tail": report.torn_tail.as_ref().map(|t| json!({
                "path": t.path.display().to_string(),
                "offset": t.offset,
                "bytes": t.bytes,
                "reason": t.reason,
            })),
            "replayed_records": report.records,
            "log_files": report.files,
            "checkpoint": report.checkpoint,
            "segments_kept": stats.segments.len(),
            "head": {"series": stats.head_series, "samples": stats.head_samples},
            "set_aside": stats
                .set_aside
                .iter()
                .map(|(path, why)| json!({"path": path.display().to_string(), "reason": why}))
                .collect::<Vec<_>>(),
        }))?;
        return Ok(Exit::Ok);
    }
    let mut out = std::io::stdout().lock();
    let mut print = || -> std::io::Result<()> {
        match &report.dropped {
            Some(d) => writeln!(out, "write-ahead log repaired: {}", describe_dropped(d))?,
            None => writeln!(out, "write-ahead log intact: nothing dropped")?,
        }
        if let Some(t) = &report.torn_tail {
            writeln!(
                out,
                "torn tail cut (an interrupted write): {} at byte {}, {} ({})",
                t.path.display(),
                t.offset,
                human::bytes(t.bytes),
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
