//! Arbitrary bytes through the remote write 1.0 decoder: snappy block, protobuf,
//! label validation, the outcome's response. Must never panic nor
//! allocate from an unchecked length. The first byte picks the path: even, the rest is
//! taken as the protobuf message and snappy-compressed here first (so the decoder sees
//! valid blocks of arbitrary messages); odd, the rest is fed as the raw body (so the
//! snappy decoder sees arbitrary blocks).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_ingest::{fuzzing::fuzz_decode, Protocol};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let body = if mode & 1 == 0 {
        match snap::raw::Encoder::new().compress_vec(rest) {
            Ok(b) => b,
            Err(_) => return,
        }
    } else {
        rest.to_vec()
    };
    let (series, samples) = fuzz_decode(Protocol::RemoteWriteV1, &body);
    // a series without samples is never kept, so there are never more series than samples
    assert!(series <= samples, "{series} series for {samples} samples");
});
