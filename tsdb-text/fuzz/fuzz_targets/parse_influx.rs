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
    let mut p = Parser::new(input, opts);
    let items: Vec<_> = p.by_ref().collect();
    assert!(p.next().is_none(), "the iterator is fused");
    common::check(input, items, &limits);
});
