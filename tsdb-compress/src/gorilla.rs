//! The Gorilla codec as published (Pelkonen et al., VLDB 2015, section 4.1), the
//! baseline our chunk format is measured against. Not used by the engine.
//!
//! Timestamps: the stream opens with the first timestamp in 64 bits; every later sample
//! stores its delta-of-delta as `0`, `10`+7 bits, `110`+9 bits, `1110`+12 bits, or
//! `1111`+32 bits, with the paper's ranges (`[-63, 64]`, `[-255, 256]`,
//! `[-2047, 2048]`). Two deviations keep it lossless for millisecond timestamps: the
//! first delta is coded as a delta-of-delta against zero rather than in 14 bits, and a
//! delta-of-delta that does not fit 32 bits takes `1111` + 64 bits (never seen for
//! intervals under 24 days). Values: [`crate::xor`], exactly as in the paper. The sample
//! count is kept outside the stream; [`GorillaEncoder::encoded_len`] charges 2 bytes for
//! it, as Prometheus's chunk header does.

use crate::bits::{BitReader, BitWriter};
use crate::error::{Error, Result};
use crate::xor::{XorDecoder, XorEncoder};
use crate::Sample;

const BUCKETS: [(u32, u64, u32); 3] = [(7, 0b10, 2), (9, 0b110, 3), (12, 0b1110, 4)];

/// Encodes samples in the paper's format.
#[derive(Clone, Debug, Default)]
pub struct GorillaEncoder {
    bits: BitWriter,
    values: XorEncoder,
    prev_t: i64,
    prev_delta: i64,
    count: usize,
}

fn fits(dod: i64, nbits: u32) -> bool {
    -((1i64 << (nbits - 1)) - 1) <= dod && dod <= 1i64 << (nbits - 1)
}

impl GorillaEncoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a sample.
    pub fn push(&mut self, t: i64, v: f64) {
        if self.count == 0 {
            self.bits.write_bits(t.cast_unsigned(), 64);
        } else {
            let delta = t.wrapping_sub(self.prev_t);
            let dod = delta.wrapping_sub(self.prev_delta);
            self.prev_delta = delta;
            if dod == 0 {
                self.bits.write_bit(false);
            } else if let Some(&(n, prefix, plen)) = BUCKETS.iter().find(|b| fits(dod, b.0)) {
                self.bits.write_bits(prefix, plen);
                self.bits
                    .write_bits(dod.cast_unsigned() & ((1 << n) - 1), n);
            } else if fits(dod, 32) {
                self.bits.write_bits(0b1111, 4);
                self.bits.write_bits(dod.cast_unsigned() & 0xffff_ffff, 32);
            } else {
                self.bits.write_bits(0b1111, 4);
                self.bits.write_bits(0xffff_ffff, 32);
                self.bits.write_bits(dod.cast_unsigned(), 64);
            }
        }
        self.prev_t = t;
        self.values.push(&mut self.bits, v);
        self.count += 1;
    }

    /// Samples pushed.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Bytes of the padded stream plus a 2-byte sample count.
    pub fn encoded_len(&self) -> usize {
        self.bits.byte_len() + 2
    }

    /// The padded stream (without the count).
    pub fn finish(&self) -> Vec<u8> {
        self.bits.to_bytes()
    }
}

/// Decodes `count` samples of a [`GorillaEncoder`] stream.
pub fn decode(stream: &[u8], count: usize) -> Result<Vec<Sample>> {
    let mut r = BitReader::new(stream, 0);
    let mut values = XorDecoder::default();
    let mut out = Vec::with_capacity(count.min(stream.len() * 8));
    let (mut prev_t, mut prev_delta) = (0i64, 0i64);
    for i in 0..count {
        let t = if i == 0 {
            r.read_bits(64)?.cast_signed()
        } else {
            let ones = r.read_unary(4)?;
            let dod = match ones {
                0 => 0,
                1..=3 => {
                    let n = BUCKETS.get(ones as usize - 1).map_or(7, |b| b.0);
                    let raw = r.read_bits(n)?.cast_signed();
                    if raw > 1 << (n - 1) {
                        raw - (1 << n)
                    } else {
                        raw
                    }
                }
                _ => {
                    let raw = r.read_bits(32)?;
                    if raw == 0xffff_ffff {
                        r.read_bits(64)?.cast_signed()
                    } else if raw > 1 << 31 {
                        raw.cast_signed() - (1 << 32)
                    } else {
                        raw.cast_signed()
                    }
                }
            };
            prev_delta = prev_delta.wrapping_add(dod);
            prev_t.wrapping_add(prev_delta)
        };
        prev_t = t;
        let v = values.next_value(&mut r)?;
        out.push(Sample { t, v });
    }
    if r.remaining() >= 8 {
        return Err(Error::corrupt(
            stream.len(),
            "bytes left after the last sample",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(ts in proptest::collection::vec(any::<i64>(), 1..100), vals in proptest::collection::vec(any::<u64>(), 100)) {
            let mut enc = GorillaEncoder::new();
            for (t, v) in ts.iter().zip(&vals) { enc.push(*t, f64::from_bits(*v)); }
            let got = decode(&enc.finish(), ts.len()).unwrap();
            for ((s, t), v) in got.iter().zip(&ts).zip(&vals) {
                prop_assert_eq!(s.t, *t);
                prop_assert_eq!(s.v.to_bits(), *v);
            }
        }
    }

    #[test]
    fn regular_constant_series_costs_two_bits_per_sample() {
        let mut enc = GorillaEncoder::new();
        for i in 0..1001 {
            enc.push(10_000 * i, 1.0);
        }
        // 128-bit first sample, 36 + 1 bits for the second, then '0' + '0' per sample
        assert_eq!(enc.finish().len(), (128 + 37 + 999 * 2usize).div_ceil(8));
    }
}
