//! Query latency on the fleet data, as a Markdown table: the peers' PromQL battery
//! (`../shared/peers/queries.txt`) against a fresh database holding `gen.py --hosts 100
//! --hours 24`, imported as `tsdb import` does, persisted to segments and reopened (see
//! `tsdb_benches::query_fleet`). Per query: one warm-up run (its result is the one saved
//! and counted), then `--reps` timed runs, one at a time; the median is from parse to
//! result (`Engine::instant_query`/`range_query`), the JSON column is encoding that result
//! as the API would (`tsdb_query::json`), timed apart.
//!
//! ```sh
//! cargo run --release -p tsdb-benches --bin query-report -- [--reps 20]
//!     [--results-dir DIR]        # one Prometheus-API JSON per query, as the peers' run.sh
//!     [--peers SUMMARY.json]     # the peers' bench.py summary: their medians and ratios
//!     [--queries FILE] [--data GEN_OUT_DIR] [--tmp DIR] [--only NAME,NAME]
//!     [--threads N]              # read threads per selector (default: the engine's)
//! ```
//!
//! `--results-dir` writes `<name>.json` in the layout of the peers' `results/<target>/`, so
//! `../shared/peers/compare.py PEERS_RUN/results/prometheus DIR` checks our answers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tsdb_benches::query_fleet::{counts, loadavg, queries_file, read_queries, Fixture, Kind};
use tsdb_query::{json, Engine, EngineOptions};

struct Args {
    reps: usize,
    results_dir: Option<PathBuf>,
    peers: Option<PathBuf>,
    queries: PathBuf,
    data: Option<PathBuf>,
    tmp: PathBuf,
    only: Option<Vec<String>>,
    threads: Option<usize>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        reps: 20,
        results_dir: None,
        peers: None,
        queries: queries_file(),
        data: None,
        tmp: PathBuf::from("/tmp"),
        only: None,
        threads: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--reps" => {
                a.reps = value()?.parse().map_err(|e| format!("--reps: {e}"))?;
                if a.reps == 0 {
                    return Err("--reps must be at least 1".into());
                }
            }
            "--results-dir" => a.results_dir = Some(value()?.into()),
            "--peers" => a.peers = Some(value()?.into()),
            "--queries" => a.queries = value()?.into(),
            "--data" => a.data = Some(value()?.into()),
            "--tmp" => a.tmp = value()?.into(),
            "--only" => a.only = Some(value()?.split(',').map(str::to_owned).collect()),
            "--threads" => {
                let n: usize = value()?.parse().map_err(|e| format!("--threads: {e}"))?;
                a.threads = Some(n.max(1));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// The peers' per-query medians: target → query → ms.
type PeerMedians = Vec<(String, HashMap<String, f64>)>;

fn read_peers(path: &Path) -> Result<PeerMedians, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let j: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let Some(targets) = j.get("queries").and_then(serde_json::Value::as_object) else {
        return Err(format!("{}: no \"queries\" object", path.display()));
    };
    Ok(targets
        .iter()
        .map(|(target, qs)| {
            let medians = qs
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter_map(|(name, e)| {
                            let ms = e.get("median_ms").and_then(serde_json::Value::as_f64)?;
                            Some((name.clone(), ms))
                        })
                        .collect()
                })
                .unwrap_or_default();
            (target.clone(), medians)
        })
        .collect())
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => xs[n / 2],
        _ => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.3}", a / b)
    } else {
        "n/a".into()
    }
}

fn geomean(xs: &[f64]) -> f64 {
    let ok: Vec<f64> = xs
        .iter()
        .copied()
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    if ok.is_empty() {
        return f64::NAN;
    }
    (ok.iter().map(|x| x.ln()).sum::<f64>() / ok.len() as f64).exp()
}

struct Row {
    name: String,
    kind: Kind,
    median_ms: f64,
    min_ms: f64,
    json_ms: f64,
    series: usize,
    points: usize,
    error: Option<String>,
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("query-report: {e}");
            std::process::exit(2);
        }
    };
    let run = || -> Result<(), String> {
        let mut queries = read_queries(&a.queries)?;
        if let Some(only) = &a.only {
            queries.retain(|q| only.contains(&q.name));
        }
        let peers = a.peers.as_deref().map(read_peers).transpose()?;
        let load_before = loadavg();
        let start = Instant::now();
        let fx = Fixture::load(a.data.as_deref(), &a.tmp)?;
        let l = fx.load;
        eprintln!(
            "fixture: {} series, {} samples from {} (read {:.1} s, append {:.1} s, persist {:.1} s, \
             {} segments, {} head samples after reopen) in {:.1} s",
            l.series,
            l.samples,
            fx.source.display(),
            l.read_s,
            l.append_s,
            l.persist_s,
            l.segments,
            l.head_samples,
            start.elapsed().as_secs_f64()
        );
        if l.samples != fx.meta.samples || l.series as u64 != fx.meta.series {
            return Err(format!(
                "loaded {} series / {} samples, meta.json says {} / {}",
                l.series, l.samples, fx.meta.series, fx.meta.samples
            ));
        }
        if let Some(dir) = &a.results_dir {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let mut options = EngineOptions::default();
        if let Some(n) = a.threads {
            options.parallelism = n;
        }
        println!(
            "engine: up to {} read threads per selector",
            options.parallelism
        );
        let engine = Engine::new(options);
        let anchor = fx.anchor_ms();
        let load_start = loadavg();
        let mut rows = Vec::new();
        for q in &queries {
            let warm = q.run(&engine, &fx.db, anchor);
            let body = match &warm {
                Ok(v) => json::success(v),
                Err(e) => json::error(e),
            };
            if let Some(dir) = &a.results_dir {
                let path = dir.join(format!("{}.json", q.name));
                std::fs::write(&path, &body).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            let (series, points) = warm.as_ref().map(counts).unwrap_or((0, 0));
            let error = warm.as_ref().err().map(ToString::to_string);
            drop(warm);
            let mut times = Vec::with_capacity(a.reps);
            let mut json_times = Vec::with_capacity(a.reps);
            for _ in 0..a.reps {
                let t0 = Instant::now();
                let v = q.run(&engine, &fx.db, anchor);
                times.push(t0.elapsed().as_secs_f64() * 1e3);
                if let Ok(v) = &v {
                    let t1 = Instant::now();
                    std::hint::black_box(json::success(v));
                    json_times.push(t1.elapsed().as_secs_f64() * 1e3);
                }
            }
            let min_ms = times.iter().copied().fold(f64::INFINITY, f64::min);
            rows.push(Row {
                name: q.name.clone(),
                kind: q.kind,
                median_ms: median(&mut times),
                min_ms,
                json_ms: median(&mut json_times),
                series,
                points,
                error,
            });
        }
        let load_end = loadavg();

        println!(
            "data: {} ({} series, {} samples; {} segments, {} head samples after reopen); \
             T = {} ms; {} reps per query after 1 warm-up; load average {load_before} before \
             the import, {load_start} → {load_end} during the queries",
            fx.source.display(),
            l.series,
            l.samples,
            l.segments,
            l.head_samples,
            anchor,
            a.reps
        );
        println!();
        let targets: Vec<&(String, HashMap<String, f64>)> = peers.iter().flatten().collect();
        let mut header =
            String::from("| query | kind | median ms | min ms | + JSON ms | series | points |");
        let mut rule = String::from("|---|---|---:|---:|---:|---:|---:|");
        for (t, _) in &targets {
            header.push_str(&format!(" {t} ms | ours/{t} | ours/({t} − floor) |"));
            rule.push_str("---:|---:|---:|");
        }
        println!("{header}");
        println!("{rule}");
        let floor = |m: &HashMap<String, f64>| m.get("noop-vector1").copied().unwrap_or(f64::NAN);
        let mut ratios: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); targets.len()];
        for r in &rows {
            let mut line = format!(
                "| {} | {} | {:.3} | {:.3} | {:.3} | {} | {} |",
                r.name,
                r.kind.as_str(),
                r.median_ms,
                r.min_ms,
                r.json_ms,
                r.series,
                r.points
            );
            for (i, (_, m)) in targets.iter().enumerate() {
                let theirs = m.get(&r.name).copied().unwrap_or(f64::NAN);
                let net = theirs - floor(m);
                line.push_str(&format!(
                    " {theirs} | {} | {} |",
                    ratio(r.median_ms, theirs),
                    if r.name == "noop-vector1" {
                        "(floor)".into()
                    } else {
                        ratio(r.median_ms, net)
                    }
                ));
                if r.name != "noop-vector1" {
                    if let Some((all, net_all)) = ratios.get_mut(i) {
                        all.push(r.median_ms / theirs);
                        net_all.push(if net > 0.0 {
                            r.median_ms / net
                        } else {
                            f64::NAN
                        });
                    }
                }
            }
            println!("{line}");
        }
        println!();
        for ((t, m), (all, net)) in targets.iter().zip(&ratios) {
            println!(
                "ours/{t}, geometric mean over the queries other than noop-vector1: {:.3} \
                 (their HTTP floor, noop-vector1: {} ms); against {t} minus that floor: {:.3}",
                geomean(all),
                floor(m),
                geomean(net)
            );
        }
        for r in rows.iter().filter(|r| r.error.is_some()) {
            println!("ERROR {}: {}", r.name, r.error.as_deref().unwrap_or(""));
        }
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("query-report: {e}");
        std::process::exit(1);
    }
}
