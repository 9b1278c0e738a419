//! The tsdb-core memory, restart and persist figures, as a Markdown table:
//!
//! - memory per active series, labels included: RSS growth over 1,000,000 series of the
//!   TSBS-like fleet with a few samples each, and over 100,000 series holding 2 hours of
//!   10-second data (720 samples each);
//! - restart: close, then reopen in a fresh process and time the WAL replay of the
//!   100,000 x 720 head (kept entirely in the log: `background_maintenance: false`, 7-day block
//!   range).
//!
//! Each measurement runs in its own child process (this binary again, `phase ...`), so
//! that every RSS baseline is a fresh process and not memory a previous phase freed. The
//! phases can be run alone (for perf or callgrind); they print `#R key=value` lines:
//! `phase series DIR N K`, `phase hours DIR N K` (N series, K samples each), and
//! `phase replay DIR K` (reopen a `hours` directory), and `phase persist DIR K` (reopen a
//! `hours` directory and time `persist_all` of its whole head; the directory is changed).
//!
//! ```sh
//! cargo run --release -p tsdb-benches --bin core-report
//! cargo run --release -p tsdb-benches --bin core-report -- --series 1000000 --samples 3 \
//!     --hours-series 100000 --hours-samples 720 --dir /tmp
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use tsdb_benches::core_load::{loadavg, rss_bytes, sched_times, Writer, STEP_MS, T0};
use tsdb_core::{Db, Options};
use tsdb_index::Matcher;

/// Bytes per series the harness itself holds while measuring: its `SeriesRef` (4 B) and
/// the value generator's state (8 B), both touched, so resident. Subtracted.
const HARNESS_BYTES_PER_SERIES: u64 = 12;

fn replay_options() -> Options {
    Options {
        background_maintenance: false,
        block_range_ms: 7 * 86_400_000,
        ..Options::default()
    }
}

fn out(key: &str, value: impl std::fmt::Display) {
    println!("#R {key}={value}");
}

fn open(dir: &Path, options: Options) -> Db {
    match Db::open(dir, options) {
        Ok(db) => db,
        Err(e) => panic!("Db::open {}: {e}", dir.display()),
    }
}

/// `phase series DIR N K`: N series with K samples each under default options.
fn phase_series(dir: &Path, n: usize, k: u32) {
    out("load_start", loadavg());
    let rss0 = rss_bytes();
    let db = open(dir, Options::default());
    let start = Instant::now();
    let mut w = Writer::create(&db, 0, n);
    out("create_s", start.elapsed().as_secs_f64());
    while w.round < k {
        w.append_next(&db);
    }
    let rss1 = rss_bytes();
    report_stats(&db);
    out("rss_growth", rss1.saturating_sub(rss0));
    out("load_end", loadavg());
    if let Err(e) = db.close() {
        panic!("close: {e}");
    }
}

/// `phase hours DIR N K`: N series with K samples each, all kept in the head and the WAL.
fn phase_hours(dir: &Path, n: usize, k: u32) {
    out("load_start", loadavg());
    let rss0 = rss_bytes();
    let db = open(dir, replay_options());
    let mut w = Writer::create(&db, 0, n);
    // rounds 1.. by ref: the append figure (round 0 created the series)
    let (cpu0, wait0) = sched_times();
    let start = Instant::now();
    let mut appended = 0usize;
    while w.round < k {
        appended += w.append_next(&db);
    }
    out("append_s", start.elapsed().as_secs_f64());
    out("append_samples", appended);
    let (cpu1, wait1) = sched_times();
    out("append_cpu_s", cpu1 - cpu0);
    out("append_runq_s", wait1 - wait0);
    let rss1 = rss_bytes();
    report_stats(&db);
    out("rss_growth", rss1.saturating_sub(rss0));
    let start = Instant::now();
    if let Err(e) = db.close() {
        panic!("close: {e}");
    }
    drop(db);
    out("close_s", start.elapsed().as_secs_f64());
    out("load_end", loadavg());
}

/// `phase replay DIR K`: reopen, time the replay, check one series has its K samples.
fn phase_replay(dir: &Path, k: u32) {
    out("load_start", loadavg());
    let rss0 = rss_bytes();
    let (cpu0, wait0) = sched_times();
    let start = Instant::now();
    let db = open(dir, replay_options());
    out("open_s", start.elapsed().as_secs_f64());
    let (cpu1, wait1) = sched_times();
    out("open_cpu_s", cpu1 - cpu0);
    out("open_runq_s", wait1 - wait0);
    let rss1 = rss_bytes();
    out("rss_growth", rss1.saturating_sub(rss0));
    out("replay_records", db.recovery_report().records);
    report_stats(&db);
    let maxt = T0 + i64::from(k) * STEP_MS;
    let m = [
        Matcher::equal("__name__", "cpu_usage_user"),
        Matcher::equal("hostname", "host_42"),
    ];
    let got = db
        .querier(T0, maxt)
        .and_then(|q| q.select(&m))
        .map(|s| s.iter().map(|e| e.iter().count()).sum::<usize>());
    match got {
        Ok(n) if n == k as usize => {}
        other => panic!("after replay host_42 has {other:?} samples, want {k}"),
    }
    out("load_end", loadavg());
}

/// `phase persist DIR K`: reopen a `hours` directory (replay untimed), then time
/// `persist_all` writing its whole head to a segment, and check one series.
fn phase_persist(dir: &Path, k: u32) {
    out("load_start", loadavg());
    let db = open(dir, replay_options());
    let (cpu0, wait0) = sched_times();
    let start = Instant::now();
    let written = match db.persist_all() {
        Ok(n) => n,
        Err(e) => panic!("persist_all: {e}"),
    };
    out("persist_s", start.elapsed().as_secs_f64());
    let (cpu1, wait1) = sched_times();
    out("persist_cpu_s", cpu1 - cpu0);
    out("persist_runq_s", wait1 - wait0);
    out("persist_segments", written);
    let m = [
        Matcher::equal("__name__", "cpu_usage_user"),
        Matcher::equal("hostname", "host_42"),
    ];
    let got = db
        .querier(T0, T0 + i64::from(k) * STEP_MS)
        .and_then(|q| q.select(&m))
        .map(|s| s.iter().map(|e| e.iter().count()).sum::<usize>());
    match got {
        Ok(n) if n == k as usize => {}
        other => panic!("after persist host_42 has {other:?} samples, want {k}"),
    }
    out("load_end", loadavg());
}

fn report_stats(db: &Db) {
    match db.stats() {
        Ok(s) => {
            out("head_series", s.head_series);
            out("head_samples", s.head_samples);
            out("wal_bytes", s.wal_bytes);
            out("segments", s.segments.len());
        }
        Err(e) => panic!("stats: {e}"),
    }
}

/// Runs one phase in a child process and returns its `#R key=value` lines.
fn child(args: &[String]) -> HashMap<String, String> {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => panic!("current_exe: {e}"),
    };
    let started = Instant::now();
    let o = match Command::new(exe).arg("phase").args(args).output() {
        Ok(o) => o,
        Err(e) => panic!("running phase {args:?}: {e}"),
    };
    if !o.status.success() {
        panic!(
            "phase {args:?} failed ({}):\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let text = String::from_utf8_lossy(&o.stdout);
    let mut m: HashMap<String, String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#R "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    m.insert(
        "wall_s".into(),
        format!("{:.1}", started.elapsed().as_secs_f64()),
    );
    eprintln!("phase {args:?}: {m:?}");
    m
}

fn num(m: &HashMap<String, String>, key: &str) -> f64 {
    m.get(key).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

fn load(m: &HashMap<String, String>) -> String {
    format!(
        "{} → {}",
        m.get("load_start").map_or("?", String::as_str),
        m.get("load_end").map_or("?", String::as_str)
    )
}

fn arg_value(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("phase") {
        let p = |i: usize| args.get(i).cloned().unwrap_or_default();
        let dir = PathBuf::from(p(2));
        let k: u32 = p(4).parse().unwrap_or(0);
        match p(1).as_str() {
            "series" => phase_series(&dir, p(3).parse().unwrap_or(0), k),
            "hours" => phase_hours(&dir, p(3).parse().unwrap_or(0), k),
            "replay" => phase_replay(&dir, p(3).parse().unwrap_or(0)),
            "persist" => phase_persist(&dir, p(3).parse().unwrap_or(0)),
            other => panic!("unknown phase {other}"),
        }
        return;
    }
    let get = |name: &str, default: u64| {
        arg_value(&args, name)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(default)
    };
    let n1 = get("--series", 1_000_000);
    let k1 = get("--samples", 3);
    let n2 = get("--hours-series", 100_000);
    let k2 = get("--hours-samples", 720);
    let base = arg_value(&args, "--dir").unwrap_or_else(|| "/tmp".into());
    let tmp = |name: &str| match tempfile::Builder::new()
        .prefix(&format!("tsdb-core-report-{name}"))
        .tempdir_in(&base)
    {
        Ok(d) => d,
        Err(e) => panic!("temporary directory in {base}: {e}"),
    };

    let d1 = tmp("series");
    let s = child(&[
        "series".into(),
        d1.path().display().to_string(),
        n1.to_string(),
        k1.to_string(),
    ]);
    drop(d1);
    let d2 = tmp("hours");
    let dir2 = d2.path().display().to_string();
    let h = child(&["hours".into(), dir2.clone(), n2.to_string(), k2.to_string()]);
    let r = child(&["replay".into(), dir2, k2.to_string()]);
    drop(d2);

    let harness = HARNESS_BYTES_PER_SERIES as f64;
    let per_series =
        |m: &HashMap<String, String>, n: u64| num(m, "rss_growth") / n as f64 - harness;
    let samples2 = num(&h, "head_samples");
    let ps1 = per_series(&s, n1);
    let ps2 = per_series(&h, n2);
    let ps_r = per_series(&r, n2) + harness; // the replay process holds no harness state

    println!("data directories under {base}; RSS from /proc/self/statm in a fresh process per phase; harness {HARNESS_BYTES_PER_SERIES} B/series subtracted");
    println!();
    println!("| figure | value | goal / peers | load average (start → end) |");
    println!("|---|---:|---|---|");
    println!(
        "| {n1} series × {k1} samples: RSS growth per series | **{ps1:.0} B** | < 1 KB (Prometheus ~3 KB, VictoriaMetrics ~1.5 KB) | {} |",
        load(&s)
    );
    println!(
        "| … creating them (round 0, by labels, sync per batch) | {:.0} series/s | | |",
        n1 as f64 / num(&s, "create_s")
    );
    println!(
        "| {n2} series × {k2} samples ({:.1} h of 10 s data): RSS growth per series | **{ps2:.0} B** | | {} |",
        k2 as f64 * STEP_MS as f64 / 3.6e6,
        load(&h)
    );
    println!(
        "| … of which per sample beyond the {n1}-series overhead | {:.2} B | | |",
        (ps2 - ps1) / k2 as f64
    );
    let append_s = num(&h, "append_s");
    println!(
        "| … appending rounds 1.. (1 thread, 10,000-sample batches by ref, sync per batch) | {:.2} M samples/s (wall {append_s:.1} s: on CPU {:.1} s, waiting for a CPU {:.1} s, blocked {:.1} s) | ≥ 2 M/s per core | |",
        num(&h, "append_samples") / append_s / 1e6,
        num(&h, "append_cpu_s"),
        num(&h, "append_runq_s"),
        append_s - num(&h, "append_cpu_s") - num(&h, "append_runq_s")
    );
    println!(
        "| … WAL on disk | {:.0} MB = {:.2} B/sample | | |",
        num(&h, "wal_bytes") / 1e6,
        num(&h, "wal_bytes") / samples2
    );
    println!(
        "| close (flush + fsync) | {:.3} s | | |",
        num(&h, "close_s")
    );
    println!(
        "| reopen: WAL replay of {:.0} samples ({:.0} records) | **{:.2} s = {:.2} M samples/s** (on CPU {:.1} s, waiting for a CPU {:.1} s) | | {} |",
        num(&r, "head_samples"),
        num(&r, "replay_records"),
        num(&r, "open_s"),
        num(&r, "head_samples") / num(&r, "open_s") / 1e6,
        num(&r, "open_cpu_s"),
        num(&r, "open_runq_s"),
        load(&r)
    );
    println!("| … RSS growth per series after replay | {ps_r:.0} B | | |");
    println!();
    println!(
        "in-memory sizes: ChunkAppender {} B (one per head series, inline), Labels {} B + its buffer",
        std::mem::size_of::<tsdb_compress::ChunkAppender>(),
        std::mem::size_of::<tsdb_index::Labels>()
    );
    println!(
        "phase wall times: series {} s, hours {} s, replay {} s",
        s.get("wall_s").map_or("?", String::as_str),
        h.get("wall_s").map_or("?", String::as_str),
        r.get("wall_s").map_or("?", String::as_str)
    );
}
