//! Damaged bytes give typed errors or correct samples; never a panic, never garbage
//! accepted silently when the CRC is intact.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use tsdb_compress::{Block, BlockEncoder, Chunk, ChunkOptions, ChunkRef, Error, Sample};

fn sample_chunks() -> Vec<Chunk> {
    let series: Vec<Vec<Sample>> = vec![
        // decimal gauge with jittered timestamps
        (0..300)
            .map(|i| Sample {
                t: 1_700_000_000_000 + i * 15_000 + (i * 7 % 5),
                v: 40.0 + (i % 9) as f64 * 0.25,
            })
            .collect(),
        // floats that need XOR
        (0..300)
            .map(|i| Sample {
                t: 1_700_000_000_000 + i * 10_000,
                v: (i as f64).sin(),
            })
            .collect(),
        // constant, regular
        (0..300)
            .map(|i| Sample {
                t: i * 1000,
                v: 1.0,
            })
            .collect(),
        // counter with a stale marker
        (0..300)
            .map(|i| Sample {
                t: i * 1000,
                v: if i == 150 {
                    f64::from_bits(0x7ff0_0000_0000_0002)
                } else {
                    (i * i) as f64
                },
            })
            .collect(),
    ];
    series
        .iter()
        .flat_map(|s| Chunk::encode_series(s, ChunkOptions::default()).unwrap())
        .collect()
}

/// Decodes as far as possible; must not panic.
fn decode(bytes: &[u8]) -> Result<Vec<Sample>, Error> {
    ChunkRef::new(bytes)?.iter().collect()
}

#[test]
fn every_flipped_bit_in_a_chunk_is_caught() {
    for chunk in sample_chunks() {
        let bytes = chunk.as_bytes();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut bad = bytes.to_vec();
                bad[i] ^= 1 << bit;
                // CRC32 detects every single-bit error
                assert!(
                    decode(&bad).is_err(),
                    "flip of bit {bit} in byte {i} accepted"
                );
            }
        }
    }
}

#[test]
fn truncations_and_extensions_are_errors() {
    for chunk in sample_chunks() {
        let bytes = chunk.as_bytes();
        for len in 0..bytes.len() {
            assert!(
                decode(&bytes[..len]).is_err(),
                "truncation to {len} accepted"
            );
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(decode(&longer).is_err());
    }
}

/// With the CRC recomputed, damage reaches the stream decoders themselves: they must
/// return errors or samples, never panic or loop.
#[test]
fn damaged_streams_behind_a_valid_crc_never_panic() {
    for chunk in sample_chunks() {
        let body_len = chunk.as_bytes().len() - 4;
        for i in 0..body_len {
            for pattern in [0x01u8, 0x80, 0xff] {
                let mut bad = chunk.as_bytes()[..body_len].to_vec();
                bad[i] ^= pattern;
                let crc = crc32fast::hash(&bad);
                bad.extend_from_slice(&crc.to_le_bytes());
                if let Ok(samples) = decode(&bad) {
                    // whatever decodes obeys the chunk's invariants
                    assert!(samples.windows(2).all(|w| w[0].t < w[1].t));
                    let view = ChunkRef::new(&bad).unwrap();
                    assert_eq!(samples.len(), view.len());
                    assert_eq!(samples.last().unwrap().t, view.max_time());
                }
            }
        }
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in 0..2000usize {
        let bytes: Vec<u8> = (0..len % 97)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let _ = decode(&bytes);
        let _ = Block::decode(&bytes);
    }
}

#[test]
fn blocks_round_trip_and_reject_damage() {
    let chunks = sample_chunks();
    for level in [-5, 1, 3, 19] {
        let block = BlockEncoder::new(level).unwrap().encode(&chunks).unwrap();
        let decoded = Block::decode(&block).unwrap();
        assert_eq!(decoded.len(), chunks.len());
        for (got, want) in decoded.chunks().zip(&chunks) {
            let got: Vec<Sample> = got.unwrap().iter().map(|s| s.unwrap()).collect();
            let want: Vec<Sample> = want.iter().unwrap().map(|s| s.unwrap()).collect();
            assert_eq!(got.len(), want.len());
            assert!(got
                .iter()
                .zip(&want)
                .all(|(a, b)| a.t == b.t && a.v.to_bits() == b.v.to_bits()));
        }
        for i in 0..block.len() {
            let mut bad = block.clone();
            bad[i] ^= 0x10;
            assert!(Block::decode(&bad).is_err(), "damage at {i} accepted");
        }
        assert!(Block::decode(&block[..block.len() - 1]).is_err());
    }
    assert!(BlockEncoder::new(1000).is_err());
    let empty = BlockEncoder::default().encode(&[]).unwrap();
    assert!(Block::decode(&empty).unwrap().is_empty());
}

#[test]
fn a_block_declaring_a_huge_payload_is_refused_before_allocating() {
    let mut block = BlockEncoder::default().encode(&sample_chunks()).unwrap();
    // payload length field at bytes 10..14
    block[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
    let body = block.len() - 4;
    let crc = crc32fast::hash(&block[..body]);
    block[body..].copy_from_slice(&crc.to_le_bytes());
    assert!(matches!(Block::decode(&block), Err(Error::Corrupt { .. })));
}
