//! Arbitrary bytes through the OTLP decoder and translator: protobuf
//! `ExportMetricsServiceRequest`, metric and label naming, attribute values as strings
//! and JSON (nested arrays and maps), histograms, summaries, `target_info` steps over
//! arbitrary time spans, the outcome's response. Must never panic, and the samples it
//! produces stay bounded by the input (no length off the wire is trusted).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_ingest::{fuzzing::fuzz_decode, Protocol, TARGET_INFO_MAX_SAMPLES};

fuzz_target!(|data: &[u8]| {
    let (_, samples) = fuzz_decode(Protocol::Otlp, data);
    // every sample comes from a data point (at least a few bytes each, histogram buckets
    // from bytes of their own) or from a resource's bounded target_info
    let bound = data.len().saturating_mul(8) + (TARGET_INFO_MAX_SAMPLES as usize) * (data.len() / 2 + 1);
    assert!(samples <= bound, "{samples} samples from {} bytes", data.len());
});
