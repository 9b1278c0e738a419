//! Builds the 1,000,000-series TSBS-like fleet index once and prints the index figures
//! as Markdown: insert rate, memory per series (RSS growth and the index's own heap
//! accounting), on-disk bytes per series, write and open time, and the median latency of
//! the two issue selectors (plus two that no metric scope answers) on the in-memory and
//! on-disk index against a linear scan in the same run.
//!
//! The on-disk index is written as a segment's is: the series in label order through
//! `IndexWriter` (the sort is timed apart: the head does it before the segment writer
//! runs); its answers are mapped back to fleet ids before they are compared with the
//! scan.
//!
//! `cargo run --release -p tsdb-benches --bin index-report [-- HOSTS]` (default 100000)

use std::hint::black_box;
use std::time::{Duration, Instant};

use tsdb_benches::index_fleet::{
    fleet, fleet_ids, label_order, linear_scan, query_host, query_rack, query_region_services,
    query_region_services_any_metric, write_index,
};
use tsdb_index::{DiskIndex, Matcher, MemIndex};

/// Resident set size in bytes: second field of /proc/self/statm (pages; 4 KiB on the
/// x86_64 Linux this runs on).
fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Median wall time of `runs` calls of `f`, after `runs / 10 + 1` warm-up calls.
fn time_median<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    for _ in 0..runs / 10 + 1 {
        black_box(f());
    }
    let mut t = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        black_box(f());
        t.push(start.elapsed());
    }
    median(t)
}

fn fmt_dur(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

fn main() {
    let hosts: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let t = Instant::now();
    let series = fleet(hosts);
    let n = series.len();
    println!(
        "fleet: {hosts} hosts x 10 metrics = {n} series, generated in {:.2} s; \
         average `Labels` buffer {:.0} bytes",
        t.elapsed().as_secs_f64(),
        series.iter().map(|l| l.encoded_len()).sum::<usize>() as f64 / n as f64
    );

    let rss_before = rss_bytes().unwrap_or(0);
    let idx = MemIndex::new();
    let t = Instant::now();
    let mut failed = 0usize;
    for l in &series {
        failed += usize::from(idx.get_or_insert(l).is_err());
    }
    let insert = t.elapsed();
    let rss_after = rss_bytes().unwrap_or(0);
    assert_eq!(failed, 0, "inserts failed");
    let heap = idx.heap_bytes();

    let t = Instant::now();
    let order = label_order(&series);
    let sort = t.elapsed();
    let t = Instant::now();
    let bytes = match write_index(&series, &order) {
        Ok(b) => b,
        Err(e) => panic!("write: {e}"),
    };
    let write = t.elapsed();
    let open = time_median(51, || DiskIndex::open(&bytes).map(|d| d.len()).ok());
    let disk = match DiskIndex::open(&bytes) {
        Ok(d) => d,
        Err(e) => panic!("open: {e}"),
    };

    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| insert, one `get_or_insert` per series | {:.0} series/s ({:.2} s for {n}) |",
        n as f64 / insert.as_secs_f64(),
        insert.as_secs_f64()
    );
    println!(
        "| index memory per series, RSS growth (/proc/self/statm) | {:.0} bytes |",
        rss_after.saturating_sub(rss_before) as f64 / n as f64
    );
    println!(
        "| index memory per series, own heap accounting (`MemIndex::heap_bytes`) | {:.0} bytes |",
        heap as f64 / n as f64
    );
    println!(
        "| on-disk size | {} bytes = {:.1} bytes/series |",
        bytes.len(),
        bytes.len() as f64 / n as f64
    );
    println!(
        "| sort the series into label order (the head's part of a segment write) | {} |",
        fmt_dur(sort)
    );
    println!(
        "| write (`IndexWriter` over all series in label order) | {} |",
        fmt_dur(write)
    );
    println!(
        "| open (`DiskIndex::open`, checks every CRC), median of 51 | {} |",
        fmt_dur(open)
    );

    let queries: [(&str, Vec<Matcher>); 4] = [
        (
            r#"{__name__="cpu_usage_user", hostname="host_4242"}"#,
            query_host(),
        ),
        (
            r#"{__name__="cpu_usage_user", region="us-west-1", service=~"1|2|3"}"#,
            query_region_services(),
        ),
        (r#"{__name__="cpu_usage_user", rack="42"}"#, query_rack()),
        (
            r#"{region="us-west-1", service=~"1|2|3"}"#,
            query_region_services_any_metric(),
        ),
    ];
    println!();
    println!("| selector | series | mem median | disk median | linear scan median | scan / mem | scan / disk |");
    println!("|---|---|---|---|---|---|---|");
    for (name, q) in &queries {
        let want = linear_scan(&series, q);
        let mem_hits: Vec<u32> = idx
            .select(q)
            .map(|b| b.iter().collect())
            .unwrap_or_default();
        let disk_hits: Vec<u32> = disk
            .select(q)
            .map(|b| fleet_ids(&b, &order))
            .unwrap_or_default();
        assert_eq!(mem_hits, want, "{name}: mem");
        assert_eq!(disk_hits, want, "{name}: disk");
        let runs = if want.len() > 100_000 { 201 } else { 2001 };
        let mem = time_median(runs, || idx.select(q).map(|r| r.len()).ok());
        let dsk = time_median(runs, || disk.select(q).map(|r| r.len()).ok());
        let scan = time_median(5, || linear_scan(&series, q).len());
        println!(
            "| `{name}` | {} | {} | {} | {} | {:.0}x | {:.0}x |",
            want.len(),
            fmt_dur(mem),
            fmt_dur(dsk),
            fmt_dur(scan),
            scan.as_secs_f64() / mem.as_secs_f64(),
            scan.as_secs_f64() / dsk.as_secs_f64()
        );
    }

    let stats = idx.stats(3);
    println!();
    println!(
        "stats: {} series, {} label names, {} label pairs; top names by values: {:?}",
        stats.num_series,
        stats.num_label_names,
        stats.num_label_pairs,
        stats.label_value_count_by_label_name
    );
}
