//! The engine's limits, its typed operators and its robustness against hostile queries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use proptest::prelude::*;
use tsdb_core::{Db, Options};
use tsdb_index::{Labels, Matcher};
use tsdb_query::builder::{metric, num, select};
use tsdb_query::{Engine, EngineOptions, Error, Value};

/// 3 services x 2 hosts of a counter and a gauge, one sample every 15 s for an hour.
fn fleet(dir: &std::path::Path) -> Db {
    let db = Db::open(dir, Options::default()).unwrap();
    for service in ["api", "db", "web"] {
        for host in ["h1", "h2"] {
            let counter = Labels::new([
                ("__name__", "requests_total"),
                ("service", service),
                ("host", host),
            ])
            .unwrap();
            let gauge =
                Labels::new([("__name__", "cpu"), ("service", service), ("host", host)]).unwrap();
            for i in 0..240i64 {
                let t = 1_000_000 + i * 15_000;
                db.append(&counter, t, (i * (1 + service.len() as i64)) as f64)
                    .unwrap();
                db.append(&gauge, t, ((i * 7 + host.len() as i64) % 100) as f64)
                    .unwrap();
            }
        }
    }
    db
}

const END: i64 = 1_000_000 + 239 * 15_000;

#[test]
fn too_many_samples_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = fleet(dir.path());
    let engine = Engine::new(EngineOptions {
        max_samples: 100,
        ..EngineOptions::default()
    });
    let err = engine
        .instant_query(&db, "sum(rate(requests_total[1h]))", END)
        .unwrap_err();
    assert!(matches!(err, Error::TooManySamples { limit: 100 }), "{err}");
    // A query within the limit still works on the same engine.
    let ok = engine
        .instant_query(&db, "cpu{service=\"api\", host=\"h1\"}", END)
        .unwrap();
    assert!(matches!(ok, Value::Vector(v) if v.len() == 1));
}

#[test]
fn a_subquery_with_billions_of_steps_is_refused_before_it_allocates() {
    let dir = tempfile::tempdir().unwrap();
    let db = fleet(dir.path());
    let err = Engine::default()
        .instant_query(&db, "max_over_time(cpu[10000d:1ms])", END)
        .unwrap_err();
    assert!(matches!(err, Error::TooManySamples { .. }), "{err}");
}

#[test]
fn timeout_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = fleet(dir.path());
    let engine = Engine::new(EngineOptions {
        timeout: Duration::ZERO,
        ..EngineOptions::default()
    });
    let err = engine
        .range_query(&db, "rate(requests_total[5m])", 1_000_000, END, 15_000)
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { limit_ms: 0, .. }), "{err}");
}

#[test]
fn range_query_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let db = fleet(dir.path());
    let engine = Engine::default();
    let too_many_steps = engine
        .range_query(&db, "cpu", 0, 20_000_000, 1)
        .unwrap_err();
    assert!(
        matches!(too_many_steps, Error::Invalid(ref m) if m.contains("11000")),
        "{too_many_steps}"
    );
    let matrix = engine
        .range_query(&db, "cpu[5m]", 0, 60_000, 15_000)
        .unwrap_err();
    assert!(matches!(matrix, Error::Invalid(_)), "{matrix}");
    let zero_step = engine.range_query(&db, "cpu", 0, 60_000, 0).unwrap_err();
    assert!(matches!(zero_step, Error::Invalid(_)), "{zero_step}");
    let backwards = engine
        .range_query(&db, "cpu", 60_000, 0, 15_000)
        .unwrap_err();
    assert!(matches!(backwards, Error::Invalid(_)), "{backwards}");
}

#[test]
fn typed_operators_evaluate_like_the_same_query_text() {
    let dir = tempfile::tempdir().unwrap();
    let db = fleet(dir.path());
    let engine = Engine::default();
    let five_min = Duration::from_secs(300);
    let built = [
        (
            metric("requests_total")
                .range(five_min)
                .rate()
                .sum_by(["service"]),
            "sum by (service) (rate(requests_total[5m]))",
        ),
        (
            select([
                Matcher::equal("__name__", "cpu"),
                Matcher::regex("service", "api|db").unwrap(),
            ])
            .range(five_min)
            .avg_over_time()
            .gt(num(40.0)),
            r#"avg_over_time(cpu{service=~"api|db"}[5m]) > 40"#,
        ),
        (
            metric("cpu")
                .range(Duration::from_secs(600))
                .ema_over_time(0.3)
                .topk(2.0),
            "topk(2, ema_over_time(cpu[10m], 0.3))",
        ),
        (
            metric("requests_total")
                .range(five_min)
                .increase()
                .sum_by(["host"])
                / metric("cpu").sum_by(["host"]),
            "sum by (host) (increase(requests_total[5m])) / sum by (host) (cpu)",
        ),
        (
            metric("cpu")
                .max_by(["service"])
                .range(Duration::from_secs(900))
                .max_over_time(),
            "max_over_time(max by (service) (cpu)[15m:])",
        ),
    ];
    for (expr, text) in built {
        let from_builder = engine.range(&db, &expr, 1_600_000, END, 60_000).unwrap();
        let from_text = engine
            .range_query(&db, text, 1_600_000, END, 60_000)
            .unwrap();
        assert_eq!(from_builder, from_text, "{text}");
        // The builder's PromQL rendering parses back to the same query.
        let reparsed = engine
            .range_query(&db, &expr.to_string(), 1_600_000, END, 60_000)
            .unwrap();
        assert_eq!(reparsed, from_text, "{expr} vs {text}");
        assert!(
            matches!(&from_text, Value::Matrix(m) if !m.is_empty()),
            "{text} is empty"
        );
    }
}

#[test]
fn bad_queries_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = fleet(dir.path());
    let engine = Engine::default();
    for q in [
        "rate(cpu)",
        "sum(",
        "cpu{",
        "label_replace(cpu, \"1bad\", \"x\", \"service\", \"(.*)\")",
        "ema_over_time(cpu[5m], 1.5)",
        "cpu + on(service) requests_total",
        "{service=~\".*\"}",
        "nosuchfunction(cpu)",
    ] {
        let err = engine.instant_query(&db, q, END).unwrap_err();
        assert!(!err.to_string().is_empty(), "{q}");
    }
}

/// Fragments that build syntactically odd but often valid queries.
fn fragment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "cpu",
        "requests_total",
        "{service=~\"a.*\"}",
        "[5m]",
        "[1ms:1ms]",
        "[30000000d:1m]",
        " offset 1000000000h",
        " offset -1000000000h",
        " @ 9999999999999",
        " @ -9999999999999",
        " @ start()",
        "rate(",
        "sum by (host) (",
        "topk(",
        "-1e308, ",
        "NaN",
        "Inf",
        ")",
        "(",
        " + ",
        " / ",
        " ^ ",
        " and ",
        " or on() ",
        " > bool ",
        " == ",
        "histogram_quantile(",
        "label_join(",
        "\"x\", ",
        "count_values(",
        "quantile(2, ",
        "absent(",
        "scalar(",
        "vector(",
        "time()",
        "1",
        ", ",
        "[0s]",
        "round(",
        "clamp(",
        "predict_linear(",
        "ema_over_time(",
        "0.5",
        "-",
        "group_left(host) ",
        "ignoring(host) ",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// No query text takes the process down: every one is an answer or a typed error.
    #[test]
    fn random_queries_never_panic(parts in prop::collection::vec(fragment(), 1..12)) {
        thread_local! {
            static DB: (tempfile::TempDir, Db) = {
                let dir = tempfile::tempdir().unwrap();
                let db = fleet(dir.path());
                (dir, db)
            };
        }
        let query: String = parts.concat();
        let engine = Engine::new(EngineOptions { max_samples: 1_000_000, ..EngineOptions::default() });
        DB.with(|(_, db)| {
            let _ = engine.instant_query(db, &query, END);
            let _ = engine.range_query(db, &query, END - 600_000, END, 60_000);
        });
    }
}

/// Enough chunks that reads run on several threads (64+ per thread).
fn wide(dir: &std::path::Path) -> Db {
    let db = Db::open(dir, Options::default()).unwrap();
    let mut batch = tsdb_core::Batch::new();
    for host in 0..400 {
        let name = format!("h{host}");
        let labels = Labels::new([
            ("__name__", "load"),
            ("host", name.as_str()),
            ("rack", ["a", "b", "c"][host % 3]),
        ])
        .unwrap();
        let s = batch.series(labels);
        for i in 0..400i64 {
            let v = if i == 50 && host % 7 == 0 {
                f64::from_bits(tsdb_query::STALE_NAN_BITS)
            } else {
                ((i * 13 + host as i64) % 97) as f64
            };
            batch.sample(s, 1_000_000 + i * 15_000, v);
        }
    }
    db.append_batch(&batch).unwrap();
    db
}

#[test]
fn parallel_reads_give_the_same_answers_as_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let db = wide(dir.path());
    let one = Engine::new(EngineOptions {
        parallelism: 1,
        ..EngineOptions::default()
    });
    let four = Engine::new(EngineOptions {
        parallelism: 4,
        ..EngineOptions::default()
    });
    let end = 1_000_000 + 399 * 15_000;
    for q in [
        "load",
        "rate(load[2m])",
        "max_over_time(load[5m]) > 90",
        "sum by (rack) (avg_over_time(load[3m]))",
        "topk(3, load)",
        "timestamp(load)",
    ] {
        let a = one.range_query(&db, q, 1_000_000, end, 30_000).unwrap();
        let b = four.range_query(&db, q, 1_000_000, end, 30_000).unwrap();
        assert_eq!(a, b, "{q}");
        assert!(
            matches!(&a, Value::Matrix(m) if !m.is_empty()),
            "{q} is empty"
        );
    }
    // The sample limit holds across threads too.
    let limited = Engine::new(EngineOptions {
        parallelism: 4,
        max_samples: 5_000,
        ..EngineOptions::default()
    });
    let err = limited
        .instant_query(&db, "count_over_time(load[1h])", end)
        .unwrap_err();
    assert!(
        matches!(err, Error::TooManySamples { limit: 5_000 }),
        "{err}"
    );
}

#[test]
fn extreme_times_are_answers_or_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = fleet(dir.path());
    let engine = Engine::default();
    for q in [
        "rate(cpu[5m] offset -100000d)",
        "cpu @ 0",
        "deriv(cpu[1h] @ 1)",
        "cpu[5m:1m] offset 100000d",
    ] {
        // Any answer or typed error will do here: the point is that none of these
        // panics (an overflow in debug builds) or hangs.
        for t in [i64::MIN, i64::MIN + 1, -1, i64::MAX - 1, i64::MAX] {
            let _ = engine.instant_query(&db, q, t);
        }
        // A range wider than i64 can hold is refused before evaluation, whatever the query.
        let err = engine
            .range_query(&db, q, i64::MIN, i64::MAX, i64::MAX)
            .unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{q}: {err}");
    }
    // `@ 0` pins the selector to a time without data: an empty answer at any time.
    for t in [i64::MIN, 0, i64::MAX] {
        let got = engine.instant_query(&db, "cpu @ 0", t).unwrap();
        assert_eq!(got, Value::Vector(Vec::new()), "at {t}");
    }
    let err = engine
        .range_query(&db, "cpu", i64::MIN, i64::MAX, 1)
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
}

#[test]
fn a_zero_lookback_means_the_default_five_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let db = fleet(dir.path());
    let zero = Engine::new(EngineOptions {
        lookback_delta_ms: 0,
        ..EngineOptions::default()
    });
    let q = "cpu{service=\"api\", host=\"h1\"}";
    // Two minutes after the last sample: inside the default lookback.
    let got = zero.instant_query(&db, q, END + 120_000).unwrap();
    assert_eq!(
        got,
        Engine::default()
            .instant_query(&db, q, END + 120_000)
            .unwrap()
    );
    assert!(matches!(got, Value::Vector(v) if v.len() == 1));
    let _ = zero.instant_query(&db, q, i64::MAX);
}
