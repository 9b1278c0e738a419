//! Disk cost of the downsampling tiers: `SERIES` series of fleet-like data (CPU-like
//! gauges as random walks, request counters with resets, memory-like gauges) at 10 s for
//! `DAYS` days under the standard rules (raw 7 d, 1 m to 30 d, 1 h to 365 d) with a
//! manual clock, maintained hour by hour; prints bytes per raw sample, per 1 m and per
//! 1 h bucket (all eleven aggregates of one series-bucket, index included), the time the
//! rollups took, and the disk a year of 10 million series would take.
//!
//! `cargo run --release -p tsdb-benches --bin rollup-report -- [SERIES] [DAYS]`
//! (defaults 200 and 40).

use std::sync::Arc;
use std::time::Instant;

use tsdb_core::wal::SyncMode;
use tsdb_core::{Batch, Db, Downsampling, ManualClock, Options};
use tsdb_index::Labels;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let series: usize = args.get(1).map_or(Ok(200), |a| a.parse())?;
    let days: i64 = args.get(2).map_or(Ok(40), |a| a.parse())?;
    let start = 1_700_000_000_000 / DAY * DAY;
    let clock = Arc::new(ManualClock::new(start));
    let dir = tempfile::tempdir()?;
    let db = Db::open(
        dir.path(),
        Options {
            clock: clock.clone(),
            background_maintenance: false,
            sync: SyncMode::Never,
            downsampling: Downsampling::standard(),
            ..Options::default()
        },
    )?;
    let labels: Vec<Labels> = (0..series)
        .map(|i| {
            let name = ["cpu_usage", "http_requests_total", "mem_used_bytes"][i % 3];
            Labels::new([
                ("__name__", name),
                ("host", &format!("host-{:04}", i / 3)),
                ("pool", &format!("pool-{:02}", i / 300)),
            ])
        })
        .collect::<Result<_, _>>()?;
    // deterministic xorshift
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut state: Vec<f64> = (0..series).map(|i| (i % 50) as f64).collect();
    let started = Instant::now();
    let mut maint = std::time::Duration::ZERO;
    for hour in 0..days * 24 {
        let mut b = Batch::new();
        for k in 0..360 {
            let t = start + hour * HOUR + k * 10_000;
            for (i, l) in labels.iter().enumerate() {
                let r = next();
                let v = match i % 3 {
                    0 => {
                        state[i] =
                            (state[i] + ((r % 200) as f64 - 100.0) / 100.0).clamp(0.0, 100.0);
                        (state[i] * 100.0).round() / 100.0
                    }
                    1 => {
                        if r % 50_000 == 0 {
                            state[i] = 0.0;
                        }
                        state[i] += (r % 20) as f64;
                        state[i]
                    }
                    _ => {
                        state[i] += ((r % 3) as f64 - 1.0) * 4096.0;
                        state[i] = state[i].max(0.0);
                        2e9 + state[i]
                    }
                };
                let s = b.series(l.clone());
                b.sample(s, t, v);
            }
        }
        clock.set(start + (hour + 1) * HOUR);
        db.append_batch(&b)?;
        let m = Instant::now();
        db.maintain()?;
        maint += m.elapsed();
    }
    let total = started.elapsed();
    let stats = db.stats()?;
    // by resolution and level (level 1 of a rollup: merged 42-day spans)
    let mut by_res: std::collections::BTreeMap<(u64, u32), (u64, u64, usize)> = Default::default();
    for (_, meta, bytes) in &stats.segments {
        let level = if meta.resolution_ms == 0 {
            0
        } else {
            meta.level
        };
        let e = by_res.entry((meta.resolution_ms, level)).or_default();
        e.0 += meta.samples;
        e.1 += bytes;
        e.2 += 1;
    }
    println!(
        "{series} series, {days} days at 10 s: {:.1?} (maintenance {:.1?})",
        total, maint
    );
    for ((res, level), (samples, bytes, segs)) in &by_res {
        let what = match res {
            0 => "raw sample".to_string(),
            r => format!("{} bucket", if *r >= HOUR as u64 { "1h" } else { "1m" }),
        };
        let how = match (res, level) {
            (0, _) => "",
            (_, 0) => " (day windows)",
            _ => " (merged spans)",
        };
        println!(
            "resolution {res:>8} ms{how}: {segs:>3} segments, {samples:>11} {what}s, {bytes:>11} bytes, \
             {:.3} bytes per {what}",
            *bytes as f64 / (*samples).max(1) as f64
        );
    }
    // a year per series: raw 7 d, 1 m buckets for 30 d, 1 h buckets for 365 d (in merged
    // spans when there are any: all but the last 30 to 72 days of a year are)
    let per = |res: u64, level: u32| {
        by_res
            .get(&(res, level))
            .map(|e| e.1 as f64 / e.0.max(1) as f64)
    };
    let h = per(3_600_000, 1).or(per(3_600_000, 0)).unwrap_or(0.0);
    let (raw_b, m_b) = (per(0, 0).unwrap_or(0.0), per(60_000, 0).unwrap_or(0.0));
    let year_per_series = 7.0 * 8640.0 * raw_b + 30.0 * 1440.0 * m_b + 365.0 * 24.0 * h;
    println!(
        "a year per series: {:.0} bytes; 10 million series: {:.2} TB (raw 7 d {:.0}%, 1 m 30 d {:.0}%, 1 h 365 d {:.0}%)",
        year_per_series,
        year_per_series * 1e7 / 1e12,
        7.0 * 8640.0 * raw_b / year_per_series * 100.0,
        30.0 * 1440.0 * m_b / year_per_series * 100.0,
        365.0 * 24.0 * h / year_per_series * 100.0,
    );
    db.close()?;
    column_costs();
    Ok(())
}

/// Bytes per bucket of each column, for one day of each kind of series at 10 s rolled up
/// at 1 m: where a rollup's bytes go (a day is 1440 buckets, about one chunk per column,
/// so a column equal to its reference column all day is left out as the segment would).
fn column_costs() {
    use tsdb_compress::{Chunk, ChunkOptions, Sample};
    use tsdb_core::rollup::{columns_of, rollup, Bucket, COLUMNS};
    let names = [
        "count",
        "sum",
        "min",
        "max",
        "first",
        "last",
        "first_off",
        "last_off",
        "reset_corr",
        "resets",
        "changes",
    ];
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for kind in ["cpu gauge", "counter", "memory gauge"] {
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        let mut v: f64 = 50.0;
        for k in 0..8640i64 {
            let r = next();
            v = match kind {
                "cpu gauge" => {
                    ((v + ((r % 200) as f64 - 100.0) / 100.0).clamp(0.0, 100.0) * 100.0).round()
                        / 100.0
                }
                "counter" => v + (r % 20) as f64,
                _ => 2e9 + ((r % 3) as f64 - 1.0) * 4096.0 * (k % 7) as f64,
            };
            ts.push(k * 10_000);
            vs.push(v);
        }
        let raw: Vec<Sample> = ts.iter().zip(&vs).map(|(&t, &v)| Sample { t, v }).collect();
        let raw_bytes: usize = Chunk::encode_series(&raw, ChunkOptions::default())
            .map(|c| c.iter().map(|c| c.as_bytes().len()).sum())
            .unwrap_or(0);
        let buckets: Vec<Bucket> = rollup(&ts, &vs, 60_000)
            .into_iter()
            .map(|(end, agg)| Bucket {
                end,
                resolution_ms: 60_000,
                agg,
            })
            .collect();
        let cols: Vec<[f64; COLUMNS]> = buckets.iter().map(columns_of).collect();
        let mut line = format!(
            "{kind:>13}: raw {:.2} B/sample; per 1m bucket:",
            raw_bytes as f64 / raw.len() as f64
        );
        let mut total = 0usize;
        for (c, name) in names.iter().enumerate() {
            let samples: Vec<Sample> = buckets
                .iter()
                .zip(&cols)
                .map(|(b, col)| Sample {
                    t: b.end,
                    v: col[c],
                })
                .collect();
            // a column equal to its reference is left out (`rollup::REFERENCE`)
            let reference = [None, Some(4), Some(4), Some(5), None, Some(4)];
            let same = reference
                .get(c)
                .copied()
                .flatten()
                .is_some_and(|r| cols.iter().all(|col| col[c].to_bits() == col[r].to_bits()));
            let bytes: usize = if same {
                0
            } else {
                Chunk::encode_series(&samples, ChunkOptions::default())
                    .map(|c| c.iter().map(|c| c.as_bytes().len()).sum())
                    .unwrap_or(0)
            };
            total += bytes;
            line.push_str(&format!(
                " {name} {:.2}",
                bytes as f64 / buckets.len() as f64
            ));
        }
        println!("{line}; total {:.2}", total as f64 / buckets.len() as f64);
    }
}
