//! Arbitrary bytes through the Prometheus text / OpenMetrics parser: it must yield
//! samples or typed line errors, never panic; whatever it yields must survive the
//! OpenMetrics writer and parser unchanged. The first byte picks the options.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_text::prometheus::{Dialect, Options, Parser};

mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let limits = common::limits(mode >> 4);
    let opts = Options {
        dialect: match mode & 3 {
            0 => Some(Dialect::Prometheus),
            1 => Some(Dialect::OpenMetrics),
            _ => None,
        },
        default_timestamp: (mode & 4 != 0).then_some(1_705_190_400_000),
        limits: limits.clone(),
        keep_created: mode & 8 != 0,
    };
    let mut p = Parser::new(input, opts);
    let items: Vec<_> = p.by_ref().collect();
    assert!(p.next().is_none(), "the iterator is fused");
    for f in p.families() {
        let _ = f.metric_type.to_string();
    }
    common::check(input, items, &limits);
});
