//! Arbitrary bytes through the OTLP/JSON decoder and the shared translator: must never
//! panic (serde_json bounds nesting; every field of the wrong type is an error).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_ingest::{fuzzing::fuzz_decode, Protocol, TARGET_INFO_MAX_SAMPLES};

fuzz_target!(|data: &[u8]| {
    let (_, samples) = fuzz_decode(Protocol::OtlpJson, data);
    // a JSON data point takes at least `{}` plus a comma: 3 bytes, at most a few samples
    // each; target_info adds a bounded number per resource
    let bound = data.len().saturating_mul(8)
        + (TARGET_INFO_MAX_SAMPLES as usize) * (data.len() / 2 + 1);
    assert!(samples <= bound, "{samples} samples from {} bytes", data.len());
});
