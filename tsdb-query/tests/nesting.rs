//! Deeply nested queries: on a 2 MiB thread stack, what a server
//! worker has, the deepest query the engine accepts parses and evaluates, one level more
//! is refused with a typed `bad_data` error, and 10,000 nested parentheses or a
//! 10,000-term `1+1+…+1` are refused, not a stack overflow (which aborts the process).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tsdb_core::{Db, Options};
use tsdb_index::Labels;
use tsdb_query::builder::metric;
use tsdb_query::{json, Engine, Error, Value, MAX_DEPTH};

const STACK: usize = 2 << 20;
const T: i64 = 10_000_000;

/// Runs `f` on a thread with a 2 MiB stack.
fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn db(dir: &std::path::Path) -> Db {
    let db = Db::open(dir, Options::default()).unwrap();
    let series: Vec<Labels> = ["a", "b"]
        .iter()
        .map(|host| Labels::new([("__name__", "x"), ("host", host)]).unwrap())
        .collect();
    for i in 0..=(T / 15_000) {
        for l in &series {
            db.append(l, i * 15_000, (i % 10) as f64).unwrap();
        }
    }
    db
}

/// A query of each shape with exactly `depth` levels.
fn shapes(depth: usize) -> Vec<(&'static str, String)> {
    let n = depth - 1; // levels around the leaf
    let wrap = |open: &str, close: &str, leaf: &str, k: usize| {
        format!("{}{leaf}{}", open.repeat(k), close.repeat(k))
    };
    let mut subqueries = String::from("x");
    for _ in 0..n / 3 {
        // function, subquery and parentheses: three levels
        subqueries = format!("max_over_time(({subqueries})[1m:30s])");
    }
    let subquery_depth = 1 + 3 * (n / 3);
    // top up with parentheses to the exact depth
    let subqueries = wrap("(", ")", &subqueries, depth - subquery_depth);
    vec![
        ("parentheses", wrap("(", ")", "x", n)),
        ("sum of terms", vec!["1"; depth].join("+")),
        ("vector arithmetic", vec!["x"; depth].join(" * ")),
        ("or chain", vec!["x"; depth].join(" or ")),
        ("power chain", vec!["1"; depth].join("^")),
        ("unary minus", format!("{}x", "-".repeat(n))),
        ("function calls", wrap("abs(", ")", "x", n)),
        ("aggregations", wrap("sum(", ")", "x", n)),
        ("grouped aggregations", wrap("max by (host) (", ")", "x", n)),
        ("subqueries", subqueries),
    ]
}

#[test]
fn the_deepest_accepted_query_of_every_shape_evaluates_on_a_2_mib_stack() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(dir.path());
    let answered = on_small_stack(move || {
        let engine = Engine::default();
        let mut answered = 0;
        for (shape, q) in shapes(MAX_DEPTH) {
            match engine.instant_query(&db, &q, T) {
                Ok(Value::Vector(v)) => {
                    assert!(!v.is_empty(), "{shape}: empty");
                    answered += 1;
                }
                Ok(Value::Scalar { v, .. }) => {
                    assert!(v.is_finite(), "{shape}: {v}");
                    answered += 1;
                }
                other => panic!("{shape}: {other:?}"),
            }
            // and as a range query
            engine.range_query(&db, &q, T - 600_000, T, 60_000).unwrap();
        }
        answered
    });
    assert_eq!(answered, shapes(MAX_DEPTH).len());
}

#[test]
fn one_level_more_is_a_typed_bad_data_error() {
    on_small_stack(|| {
        for (shape, q) in shapes(MAX_DEPTH + 1) {
            let err = tsdb_query::parse(&q).unwrap_err();
            assert!(
                matches!(err, Error::TooDeep { limit: MAX_DEPTH }),
                "{shape}: {err}"
            );
            assert_eq!(json::error_type(&err), "bad_data", "{shape}");
        }
    });
}

#[test]
fn ten_thousand_levels_are_refused_without_overflowing() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(dir.path());
    on_small_stack(move || {
        let engine = Engine::default();
        for n in [10_000, 1_000_000] {
            let parens = format!("{}1{}", "(".repeat(n), ")".repeat(n));
            let terms = vec!["1"; n].join("+");
            let calls = format!("{}x{}", "sum(".repeat(n), ")".repeat(n));
            let unclosed = "(".repeat(n);
            for q in [parens, terms, calls, unclosed] {
                let started = std::time::Instant::now();
                let err = engine.instant_query(&db, &q, T).unwrap_err();
                assert!(matches!(err, Error::TooDeep { .. }), "{err}");
                // refused by a linear scan, long before the parser's quadratic time
                assert!(started.elapsed() < Duration::from_secs(5));
            }
        }
    });
}

#[test]
fn trees_built_in_code_are_measured_too() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(dir.path());
    on_small_stack(move || {
        let engine = Engine::default();
        let mut deepest = metric("x");
        for _ in 1..MAX_DEPTH {
            deepest = deepest.sum();
        }
        assert!(engine.instant(&db, &deepest, T).is_ok());
        let too_deep = deepest.sum();
        let err = engine.instant(&db, &too_deep, T).unwrap_err();
        assert!(matches!(err, Error::TooDeep { .. }), "{err}");
        let err = engine.range(&db, &too_deep, 0, T, 60_000).unwrap_err();
        assert!(matches!(err, Error::TooDeep { .. }), "{err}");
    });
}
