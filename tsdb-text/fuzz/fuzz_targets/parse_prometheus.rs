//! Arbitrary bytes through the Prometheus text / OpenMetrics parser: it must yield
//! samples or typed line errors, never panic; whatever it yields must survive the
//! OpenMetrics writer and parser unchanged; `next_known` with a cache of series texts
//! (kept over two reads) yields the same items. The first byte picks the options.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

use tsdb_text::prometheus::{Dialect, Options, Parser, SampleRef};

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
    let mut p = Parser::new(input, opts.clone());
    let items: Vec<_> = p.by_ref().collect();
    let mut cache = HashMap::new();
    for _ in 0..2 {
        let mut k = Parser::new(input, opts.clone());
        let mut i = 0;
        while let Some(r) = k.next_known(|s| cache.contains_key(s)) {
            let want = items.get(i).expect("next_known yields no more items than next");
            match (r, want) {
                (Ok(SampleRef::New { series, sample }), Ok(w)) => {
                    assert_eq!(&sample, w);
                    cache.insert(series.to_vec(), sample.labels);
                }
                (Ok(SampleRef::Known { series, value, timestamp }), Ok(w)) => {
                    assert_eq!(cache.get(series), Some(&w.labels));
                    assert_eq!((value.to_bits(), timestamp), (w.value.to_bits(), w.timestamp));
                }
                (Err(e), Err(w)) => assert_eq!(e.to_string(), w.to_string()),
                (got, want) => panic!("next_known {got:?} where next gave {want:?}"),
            }
            i += 1;
        }
        assert_eq!(i, items.len());
    }
    assert!(p.next().is_none(), "the iterator is fused");
    for f in p.families() {
        let _ = f.metric_type.to_string();
    }
    common::check(input, items, &limits);
});
