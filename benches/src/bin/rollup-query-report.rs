//! Query latency over long ranges, from rollups against the same data kept raw.
//!
//! Writes `HOSTS` hosts' `cpu` gauge and `requests_total` counter every `INTERVAL`
//! seconds for `DAYS` days into two databases, one under the standard rules (raw 7 d,
//! 1 m rollups to 30 d, 1 h rollups to 365 d), one keeping everything raw, maintained
//! hour by hour with a manual clock. Then runs dashboard-like range queries over the last
//! 30 days and over the whole span on both, alternated, `REPS` times, and prints the
//! median latency of each and the ratio.
//!
//! `cargo run --release -p tsdb-benches --bin rollup-query-report -- [HOSTS] [DAYS] [INTERVAL] [REPS]`
//! (defaults 100, 90, 10, 5).

#![allow(
    clippy::expect_used,
    reason = "a report over its own generated data: a failure is a bug to see at once"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tsdb_core::wal::SyncMode;
use tsdb_core::{Batch, Db, Downsampling, ManualClock, Options};
use tsdb_index::Labels;
use tsdb_query::{parse, Engine, EngineOptions};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const START: i64 = 1_700_000_000_000 / DAY * DAY;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let hosts: usize = args.get(1).map_or(Ok(100), |a| a.parse())?;
    let days: i64 = args.get(2).map_or(Ok(90), |a| a.parse())?;
    let interval_s: i64 = args.get(3).map_or(Ok(10), |a| a.parse())?;
    let reps: usize = args.get(4).map_or(Ok(5), |a| a.parse())?;
    let base = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(START));
    let open = |name: &str, rules: Downsampling| {
        Db::open(
            base.path().join(name),
            Options {
                clock: clock.clone(),
                background_maintenance: false,
                sync: SyncMode::Never,
                downsampling: rules,
                ..Options::default()
            },
        )
    };
    let rolled = open("rolled", Downsampling::standard())?;
    let raw = open("raw", Downsampling::none())?;
    let labels: Vec<(Labels, Labels)> = (0..hosts)
        .map(|h| {
            let host = format!("host-{h:04}");
            (
                Labels::new([("__name__", "cpu"), ("host", &host)]).expect("labels"),
                Labels::new([("__name__", "requests_total"), ("host", &host)]).expect("labels"),
            )
        })
        .collect();
    let per_hour = 3600 / interval_s;
    let t0 = Instant::now();
    for hour in 0..days * 24 {
        let mut b = Batch::new();
        for k in 0..per_hour {
            let i = hour * per_hour + k;
            let t = START + i * interval_s * 1000;
            for (h, (cpu, req)) in labels.iter().enumerate() {
                let x = (i as u64).wrapping_mul(0x9E37_79B9) ^ (h as u64).wrapping_mul(0x85EB_CA6B);
                let s = b.series(cpu.clone());
                b.sample(s, t, (x % 10_000) as f64 / 100.0);
                let s = b.series(req.clone());
                b.sample(s, t, (i * (1 + h as i64 % 7)) as f64);
            }
        }
        clock.set(START + (hour + 1) * HOUR);
        for db in [&rolled, &raw] {
            db.append_batch(&b)?;
            db.maintain()?;
        }
    }
    let bytes = |db: &Db| -> u64 {
        db.stats()
            .map(|s| s.segments.iter().map(|x| x.2).sum())
            .unwrap_or(0)
    };
    println!(
        "{hosts} hosts x 2 series, {days} days at {interval_s} s: written and maintained in {:.1?}; segments: rolled {} bytes, raw {} bytes",
        t0.elapsed(),
        bytes(&rolled),
        bytes(&raw)
    );
    let engine = Engine::new(EngineOptions {
        max_samples: usize::MAX / 2,
        ..EngineOptions::default()
    });
    let end = START + days * DAY;
    let queries = [
        (
            "max_over_time(cpu[1h]) per host, 30 d, step 1h",
            "max_over_time(cpu[1h])",
            30 * DAY,
            HOUR,
        ),
        (
            "avg by () (rate(requests_total[1h])), 30 d, step 1h",
            "avg(rate(requests_total[1h]))",
            30 * DAY,
            HOUR,
        ),
        (
            "max_over_time(cpu[1h]) per host, whole span, step 6h",
            "max_over_time(cpu[1h])",
            days * DAY,
            6 * HOUR,
        ),
        (
            "sum(increase(requests_total[1d])), whole span, step 1d",
            "sum(increase(requests_total[1d]))",
            days * DAY,
            DAY,
        ),
        (
            "cpu per host (Grafana's instant selector), whole span, step 6h",
            "cpu",
            days * DAY,
            6 * HOUR,
        ),
    ];
    for (name, q, span, step) in queries {
        let expr = parse(q)?;
        let start = end - span + step;
        let mut times = [Vec::new(), Vec::new()];
        for _ in 0..reps {
            for (k, db) in [&rolled, &raw].iter().enumerate() {
                let t = Instant::now();
                let v = engine.range(*db, &expr, start, end, step)?;
                times[k].push(t.elapsed());
                std::hint::black_box(v);
            }
        }
        let median = |v: &mut Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        let (a, b) = (median(&mut times[0]), median(&mut times[1]));
        println!(
            "{name}: rollups {:.2?}, raw {:.2?}: {:.2}x",
            a,
            b,
            a.as_secs_f64() / b.as_secs_f64()
        );
    }
    Ok(())
}
