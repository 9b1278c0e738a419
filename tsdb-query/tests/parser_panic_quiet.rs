//! A panic inside the PromQL parser (`foo[1e30]` overflows a duration) is caught and
//! becomes a parse error without reaching the panic hook, so nothing is printed to stderr;
//! panics anywhere else, on this thread or another, still reach the hook that was there
//! before. One test in its own binary: the panic hook is global to the process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tsdb_query::{parse, Error};

#[test]
fn parser_panics_are_caught_quietly_and_other_panics_still_reported() {
    let reported = Arc::new(AtomicUsize::new(0));
    let counter = reported.clone();
    // The embedder's hook, installed before the first query.
    std::panic::set_hook(Box::new(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    for q in [
        "foo[1e30]",
        "foo offset 1e30",
        "1[2222222222222222222222222222222222]",
    ] {
        assert!(matches!(parse(q), Err(Error::Parse { .. })), "{q}");
    }
    assert_eq!(
        reported.load(Ordering::SeqCst),
        0,
        "a parser panic was reported"
    );
    // Concurrent parses on other threads, and panics elsewhere meanwhile: each of the
    // other panics is reported exactly once, none of the parser's.
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                for _ in 0..50 {
                    assert!(parse("foo[1e30]").is_err());
                }
                if i % 2 == 0 {
                    let caught = std::panic::catch_unwind(|| panic!("not the parser"));
                    assert!(caught.is_err());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(reported.load(Ordering::SeqCst), 2);
    // On this thread too, after quiet parses.
    assert!(std::panic::catch_unwind(|| panic!("after")).is_err());
    assert_eq!(reported.load(Ordering::SeqCst), 3);
}
