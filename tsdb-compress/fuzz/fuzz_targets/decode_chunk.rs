//! Arbitrary bytes through the chunk decoder: it must return errors, never panic. The
//! first input byte chooses whether the CRC is fixed up first, so the fuzzer also reaches
//! the stream decoders behind a valid checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_compress::ChunkRef;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 && bytes.len() >= 4 {
        let body = bytes.len() - 4;
        let crc = crc32(&bytes[..body]);
        bytes[body..].copy_from_slice(&crc.to_le_bytes());
    }
    if let Ok(chunk) = ChunkRef::new(&bytes) {
        let mut prev = None;
        let mut n = 0;
        for s in chunk.iter() {
            let Ok(s) = s else { break };
            if let Some(p) = prev {
                assert!(s.t > p, "decoder yielded non-increasing timestamps");
            }
            prev = Some(s.t);
            n += 1;
        }
        assert!(n <= chunk.len());
        let mut it = chunk.iter();
        let _ = it.seek(chunk.min_time().wrapping_add(i64::from(mode)));
    }
});

/// CRC-32 (IEEE), bitwise, to avoid a dependency just for the fix-up.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
