//! A fleet of synthetic exporters in one process, for the scrape throughput bench
//! (`benches/tools/scrape-bench.sh`): `--targets` listeners on consecutive ports of
//! `--host`, each serving its own `/metrics` page of `--series` series (a node
//! exporter's shape, values moving between scrapes; see `tsdb_benches::exposition`).
//!
//! Each port is a distinct `host:port` target, so a scraper sees `--targets` targets.
//! Pages are served uncompressed (no gzip even when asked for): compressing would cost
//! the fleet more CPU than the scrapers it is there to measure, and both scrapers get the
//! same bytes. `GET /fleet-stats` on any port answers the fleet's totals so far
//! (`requests`, `bytes`), which the driver reads to check the scrape rate.
//!
//! `cargo run --release -p tsdb-benches --bin scrape-fleet -- --targets 1000 --series 1000`
//!
//! Prints `ready <targets> <first port>` on stdout once every port listens.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use clap::Parser;
use parking_lot::Mutex;
use tsdb_benches::exposition::{Schema, TargetState};

/// The flags of `scrape-fleet`.
#[derive(Parser, Debug)]
#[command(about = "Synthetic /metrics exporters on consecutive ports, for scrape benchmarks")]
struct Flags {
    /// Number of targets (listening ports), at least 1.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..))]
    targets: u16,
    /// Series on each target's page.
    #[arg(long, default_value_t = 1000)]
    series: usize,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The first port; targets use `port .. port + targets`.
    #[arg(long, default_value_t = 20000)]
    port: u16,
    /// Runtime worker threads serving the pages.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// One target: the shared page layout and this target's values.
struct Target {
    schema: Arc<Schema>,
    state: Mutex<TargetState>,
    /// The size of the last page, as the next one's capacity.
    last_len: AtomicU64,
    stats: Arc<Stats>,
}

/// The fleet's totals, shared by every target.
#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    bytes: AtomicU64,
}

/// `GET /metrics`: the target's next page (its values advanced by one scrape).
async fn metrics(State(t): State<Arc<Target>>) -> impl IntoResponse {
    let cap = t.last_len.load(Ordering::Relaxed) as usize + 1024;
    let mut page = String::with_capacity(cap);
    t.schema.render(&mut t.state.lock(), &mut page);
    t.last_len.store(page.len() as u64, Ordering::Relaxed);
    t.stats.requests.fetch_add(1, Ordering::Relaxed);
    t.stats
        .bytes
        .fetch_add(page.len() as u64, Ordering::Relaxed);
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        page,
    )
}

/// `GET /fleet-stats`: pages and bytes served by the whole fleet so far.
async fn fleet_stats(State(t): State<Arc<Target>>) -> String {
    format!(
        "requests {}\nbytes {}\n",
        t.stats.requests.load(Ordering::Relaxed),
        t.stats.bytes.load(Ordering::Relaxed)
    )
}

async fn serve(flags: Flags) -> Result<(), String> {
    let schema = Arc::new(Schema::new(flags.series));
    let stats = Arc::new(Stats::default());
    let mut servers = tokio::task::JoinSet::new();
    for i in 0..flags.targets {
        let port = flags
            .port
            .checked_add(i)
            .ok_or_else(|| format!("port {} + {i} is beyond 65535", flags.port))?;
        let addr = format!("{}:{port}", flags.host);
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|e| format!("listen on {addr}: {e}"))?;
        let target = Arc::new(Target {
            schema: Arc::clone(&schema),
            state: Mutex::new(schema.target_state(u64::from(i))),
            last_len: AtomicU64::new(0),
            stats: Arc::clone(&stats),
        });
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/fleet-stats", get(fleet_stats))
            .with_state(target);
        servers.spawn(async move {
            axum::serve(listener, app)
                .await
                .map_err(|e| format!("serve {addr}: {e}"))
        });
    }
    println!("ready {} {}", flags.targets, flags.port);
    eprintln!(
        "scrape-fleet: {} targets on {}:{}..{}, {} series each",
        flags.targets,
        flags.host,
        flags.port,
        u32::from(flags.port) + u32::from(flags.targets) - 1,
        schema.series()
    );
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        // An accept loop only ends on an error.
        Some(r) = servers.join_next() => {
            return r.map_err(|e| format!("server task: {e}")).and_then(|r| r);
        }
    }
    eprintln!(
        "scrape-fleet: served {} requests, {} bytes",
        stats.requests.load(Ordering::Relaxed),
        stats.bytes.load(Ordering::Relaxed)
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let flags = Flags::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(flags.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("scrape-fleet: runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(flags)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scrape-fleet: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
