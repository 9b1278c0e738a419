//! Opens arbitrary bytes as an on-disk index and, if that succeeds, runs every read path.
//! Nothing may panic; every failure must be a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_index::{DiskIndex, Matcher};

fn queries() -> Vec<Vec<Matcher>> {
    let mut q = vec![
        vec![Matcher::equal("__name__", "up")],
        vec![Matcher::equal("a", "x"), Matcher::not_equal("b", "")],
        vec![Matcher::not_equal("a", "x"), Matcher::equal("c", "")],
    ];
    for (name, pattern) in [("a", "x|y|z"), ("b", "fo.*"), ("c", ".+"), ("a", "x.*y")] {
        if let Ok(m) = Matcher::regex(name, pattern) {
            q.push(vec![m.clone()]);
            // Naming the metric sends the selector to its scope, if the file has one.
            q.push(vec![Matcher::equal("__name__", "up"), m]);
        }
    }
    q.push(vec![
        Matcher::equal("__name__", "up"),
        Matcher::not_equal("a", "x"),
        Matcher::equal("d", ""),
    ]);
    q
}

fuzz_target!(|data: &[u8]| {
    let Ok(idx) = DiskIndex::open(data) else {
        return;
    };
    for q in queries() {
        let _ = idx.select(&q);
        let _ = idx.label_names(&q);
        let _ = idx.label_values("a", &q);
    }
    let _ = idx.label_names(&[]);
    let _ = idx.label_values("b", &[]);
    let _ = idx.stats(5);
    for id in 0..idx.num_series().min(256) {
        let _ = idx.labels(id);
    }
});
