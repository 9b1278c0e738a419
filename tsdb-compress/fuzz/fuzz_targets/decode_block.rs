//! Arbitrary bytes through the zstd block decoder and every chunk it yields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_compress::Block;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = Block::decode(data) {
        for chunk in block.chunks().flatten() {
            for s in chunk.iter() {
                if s.is_err() {
                    break;
                }
            }
        }
    }
});
