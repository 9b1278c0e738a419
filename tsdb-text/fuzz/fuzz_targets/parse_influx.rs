//! Arbitrary bytes through the Influx line protocol parser: it must yield samples or
//! typed line errors, never panic; whatever it yields must survive the OpenMetrics
//! writer and parser unchanged. The first byte picks the options.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_text::influx::{Options, Parser, Precision};

mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let limits = common::limits(mode >> 4);
    let opts = Options {
        precision: match mode & 3 {
            0 => Precision::Nanoseconds,
            1 => Precision::Microseconds,
            2 => Precision::Milliseconds,
            _ => Precision::Seconds,
        },
        default_timestamp: (mode & 4 != 0).then_some(1_705_190_400_000),
        limits: limits.clone(),
        skip_string_fields: mode & 8 != 0,
    };
    let mut p = Parser::new(input, opts.clone());
    let items: Vec<_> = p.by_ref().collect();
    assert!(p.next().is_none(), "the iterator is fused");

    // The label cache: the input a second time, after the first (a warm cache), must
    // give the same items. Quotes may pair across the copies, so only without them.
    if !input.contains(&b'"') {
        let mut twice = input.to_vec();
        twice.push(b'\n');
        twice.extend_from_slice(input);
        let shift = input.iter().filter(|&&b| b == b'\n').count() + 1;
        let again: Vec<_> = Parser::new(&twice, opts).collect();
        assert_eq!(again.len(), 2 * items.len());
        for (a, b) in items.iter().zip(&again[items.len()..]) {
            match (a, b) {
                (Ok(a), Ok(b)) => assert_eq!(a, b),
                (Err(a), Err(b)) => {
                    assert_eq!((a.line + shift, a.column), (b.line, b.column));
                    assert_eq!(a.kind.to_string(), b.kind.to_string());
                }
                _ => panic!("{a:?} vs {b:?}"),
            }
        }
    }
    common::check(input, items, &limits);
});
