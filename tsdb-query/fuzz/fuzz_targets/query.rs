//! Query text, parsed and (when it parses) evaluated as an instant and a range query over
//! a small database, on a thread with a 2 MiB stack (what a server worker has): every
//! outcome must be an answer or a typed error, never a panic or a stack overflow.
//!
//! Two kinds of input, by the first byte:
//! - `0xFF`: a nesting program. The bytes that follow come in pairs (shape, count): each
//!   wraps the expression built so far `count` times in one of the shapes below, so a
//!   few dozen bytes build expressions thousands of levels deep, mixing parentheses,
//!   calls, aggregations, subqueries, unary signs and both kinds of operator chains.
//!   Random text almost never nests deeply; this finds the limits' edges.
//! - anything else: UTF-8 text of up to 512 bytes, as written.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tsdb_core::{Db, Options};
use tsdb_index::Labels;
use tsdb_query::{Engine, EngineOptions, Error, MAX_DEPTH};

struct Fixture {
    _dir: tempfile::TempDir,
    db: Db,
    engine: Engine,
}

// No panic hook of ours: libfuzzer-sys' aborts on every panic that reaches it, caught or
// not. The one known panic inside promql-parser 0.11 (`foo[1e30]`) is caught by
// `tsdb_query::parse` under a hook that keeps it from reaching the previous hook, so it
// does not count; any other panic is a finding.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
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
                    let v = if i % 50 == 49 {
                        f64::from_bits(tsdb_query::STALE_NAN_BITS)
                    } else {
                        (i * 3 % 17) as f64
                    };
                    db.append(&labels, i * 15_000, v).expect("append");
                }
            }
        }
        let engine = Engine::new(EngineOptions {
            max_samples: 200_000,
            timeout: std::time::Duration::from_secs(2),
            ..EngineOptions::default()
        });
        Fixture {
            _dir: dir,
            db,
            engine,
        }
    })
}

/// Builds the expression of a nesting program, and the depth its shapes add up to. Each
/// shape is a prefix and a suffix around what is inside, so the text is assembled once
/// at the end (wrapping a string again and again would copy it each time).
fn nesting_program(bytes: &[u8]) -> (String, usize) {
    let (mut prefixes, mut suffixes) = (Vec::new(), Vec::new());
    let mut depth = 1usize;
    'program: for pair in bytes.chunks_exact(2) {
        let (shape, count) = (pair[0] % 12, usize::from(pair[1]) * 16);
        for _ in 0..count {
            let (prefix, suffix, levels) = match shape {
                0 => ("(", ")", 1),
                1 => ("abs(", ")", 1),
                2 => ("sum by (job) (", ")", 1),
                3 => ("-", "", 1),
                4 => ("", " + 1", 1),
                5 => ("1 - ", "", 1),
                6 => ("", " or a", 1),
                7 => ("2 ^ ", "", 1),
                8 => ("max_over_time((", ")[1m:30s])", 3),
                9 => ("topk(1, ", ")", 1),
                10 => ("", " > bool 0", 1),
                _ => ("label_replace(", ", \"z\", \"$1\", \"job\", \"(.*)\")", 1),
            };
            prefixes.push(prefix);
            suffixes.push(suffix);
            depth += levels;
            // far beyond the limit is as good as further
            if depth > 40 * MAX_DEPTH {
                break 'program;
            }
        }
    }
    let mut text: String = prefixes.iter().rev().copied().collect();
    text.push('a');
    text.extend(suffixes);
    (text, depth)
}

fuzz_target!(|data: &[u8]| {
    let (text, depth) = match data.split_first() {
        Some((0xFF, program)) => {
            let (text, depth) = nesting_program(program);
            (text, Some(depth))
        }
        _ => match std::str::from_utf8(data) {
            Ok(text) if text.len() <= 512 => (text.to_owned(), None),
            _ => return,
        },
    };
    let fx = fixture();
    // A 2 MiB stack: an overflow aborts the process, which libFuzzer reports.
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn_scoped(scope, || {
                let instant = fx.engine.instant_query(&fx.db, &text, 1_500_000);
                let range = fx.engine.range_query(&fx.db, &text, 0, 3_000_000, 60_000);
                if let Some(depth) = depth {
                    // Every program is valid PromQL: too deep, or answered (or refused
                    // for its size or time, never for its syntax).
                    for r in [&instant, &range] {
                        match r {
                            Err(Error::TooDeep { .. }) => assert!(depth > MAX_DEPTH, "depth {depth} refused"),
                            Err(Error::Parse { message, .. }) => {
                                panic!("depth {depth}: a nesting program did not parse: {message}")
                            }
                            _ => assert!(depth <= MAX_DEPTH, "depth {depth} accepted"),
                        }
                    }
                }
            })
            .expect("spawn the query thread")
            .join()
            .expect("the query thread panicked");
    });
});
