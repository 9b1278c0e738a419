//! The reading threads are one pool per engine, shared by its clones and by concurrent
//! queries: however many queries run at once, no more than `parallelism − 1` reading
//! threads exist, and none before a query needs one. One test in its own binary: it
//! counts the process's threads by name (Linux).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tsdb_core::{Batch, Db, Options};
use tsdb_index::Labels;
use tsdb_query::{Engine, EngineOptions, Value};

/// Threads of this process named by the engine's pool (`tsdb-query-read-N`, which the
/// kernel truncates to 15 bytes).
#[cfg(target_os = "linux")]
fn read_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "tsdb-query-read")
        .count()
}

#[cfg(target_os = "linux")]
#[test]
fn concurrent_queries_share_one_bounded_pool() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    // 300 series, a head chunk each: enough chunks for a selector to be read on 3 threads
    let series: Vec<Labels> = (0..300)
        .map(|i| Labels::new([("__name__", "x"), ("i", &i.to_string())]).unwrap())
        .collect();
    for t in 0..20i64 {
        let mut batch = Batch::new();
        for s in &series {
            let r = batch.series(s.clone());
            batch.sample(r, t * 1_000, t as f64);
        }
        db.append_batch(&batch).unwrap();
    }
    let engine = Engine::new(EngineOptions {
        parallelism: 3,
        ..EngineOptions::default()
    });
    assert_eq!(read_threads(), 0, "no pool before a query needs it");
    let most = std::thread::scope(|scope| {
        let queries: Vec<_> = (0..8)
            .map(|_| {
                let (engine, db) = (engine.clone(), &db);
                scope.spawn(move || {
                    for _ in 0..5 {
                        let v = engine.instant_query(db, "sum(x)", 19_000).unwrap();
                        assert!(matches!(v, Value::Vector(v) if v[0].v == 300.0 * 19.0));
                    }
                })
            })
            .collect();
        // never more than the pool's threads while the queries run
        let mut most = 0;
        while queries.iter().any(|q| !q.is_finished()) {
            most = most.max(read_threads());
            std::thread::yield_now();
        }
        most
    });
    assert!(most <= 2, "{most} reading threads");
    // A thread names itself once it first runs, which a loaded machine may delay.
    let started = std::time::Instant::now();
    while read_threads() < 2 && started.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        read_threads(),
        2,
        "parallelism 3: the caller and two pool threads"
    );
    // An engine reading on its callers' threads only starts none.
    let single = Engine::new(EngineOptions {
        parallelism: 1,
        ..EngineOptions::default()
    });
    single.instant_query(&db, "sum(x)", 19_000).unwrap();
    assert_eq!(read_threads(), 2);
}
