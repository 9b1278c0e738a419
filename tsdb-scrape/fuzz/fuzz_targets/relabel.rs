//! Arbitrary relabel rules (YAML or JSON) applied to arbitrary labels: loading must refuse
//! bad rules with an error, never a panic, and `process` must never panic on rules that
//! loaded (they are validated while loading, as Prometheus validates them).
//!
//! Input layout: the first byte picks the format (even: YAML, odd: JSON); the rest is
//! split at the first NUL into the rules text and the labels, one `name=value` per line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_index::Labels;
use tsdb_scrape::{process, RelabelConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (rules, labels) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(rules) = std::str::from_utf8(rules) else {
        return;
    };
    let loaded: Option<Vec<RelabelConfig>> = if mode % 2 == 0 {
        serde_saphyr::from_str(rules).ok()
    } else {
        serde_json::from_str(rules).ok()
    };
    let Some(configs) = loaded else {
        return;
    };
    for c in &configs {
        assert!(
            c.validate().is_ok(),
            "a loaded rule fails validation: {c:?}"
        );
    }
    let labels = String::from_utf8_lossy(labels);
    let pairs = labels
        .lines()
        .map(|l| l.split_once('=').unwrap_or((l, "x")));
    let Some(input) = Labels::build_unchecked(pairs) else {
        return;
    };
    if let Some(out) = process(&input, &configs) {
        assert!(
            out.iter().all(|(_, v)| !v.is_empty()),
            "an empty value survived"
        );
    }
});
