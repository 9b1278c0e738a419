//! Arbitrary query text, parsed and (when it parses) evaluated as an instant and a range
//! query over a small database: every outcome must be an answer or a typed error.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tsdb_core::{Db, Options};
use tsdb_index::Labels;
use tsdb_query::{Engine, EngineOptions};

struct Fixture {
    _dir: tempfile::TempDir,
    db: Db,
}

/// promql-parser panics on a bare number too large for a duration (`foo[1e30]`);
/// `tsdb_query::parse` catches that and returns a parse error. libfuzzer-sys' panic hook
/// aborts on every panic, caught or not, so this hook lets that one known panic unwind to
/// the catch and aborts on any other.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if message.starts_with("cannot convert float seconds to Duration") {
            return;
        }
        default(info);
        std::process::abort();
    }));
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        install_panic_hook();
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(dir.path(), Options::default()).expect("open");
        for (name, le) in [("a", ""), ("b_bucket", "1"), ("b_bucket", "+Inf")] {
            for job in ["x", "y"] {
                let mut pairs = vec![("__name__", name), ("job", job)];
                if !le.is_empty() {
                    pairs.push(("le", le));
                }
                let labels = Labels::new(pairs).expect("labels");
                for i in 0..200i64 {
                    let v = if i % 50 == 49 { f64::from_bits(tsdb_query::STALE_NAN_BITS) } else { (i * 3 % 17) as f64 };
                    db.append(&labels, i * 15_000, v).expect("append");
                }
            }
        }
        Fixture { _dir: dir, db }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() > 512 {
        return;
    }
    let engine = Engine::new(EngineOptions {
        max_samples: 200_000,
        timeout: std::time::Duration::from_secs(2),
        ..EngineOptions::default()
    });
    let db = &fixture().db;
    let _ = engine.instant_query(db, text, 1_500_000);
    let _ = engine.range_query(db, text, 0, 3_000_000, 60_000);
});
