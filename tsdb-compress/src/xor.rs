//! Gorilla XOR value codec, exactly as in the paper (section 4.1.2).
//!
//! The first value is stored verbatim in 64 bits. Each later value is XORed with its
//! predecessor: `0` for an XOR of zero; `10` + the meaningful bits when they fit the
//! previous window of leading and trailing zeros; `11` + 5 bits of leading-zero count
//! (capped at 31) + 6 bits of meaningful length (64 stored as 0) + the meaningful bits
//! otherwise. Bit patterns, NaN payloads included, round-trip exactly.
//!
//! It is the fallback for chunks whose values are not short decimals, and the value half
//! of the `gorilla` baseline.

use crate::bits::{BitReader, BitWriter};
use crate::error::{Error, Result};

/// Streams `f64` bit patterns.
#[derive(Clone, Debug)]
pub struct XorEncoder {
    prev: u64,
    /// Current window; `leading == 64` means no window yet.
    leading: u32,
    trailing: u32,
    first: bool,
}

impl Default for XorEncoder {
    fn default() -> Self {
        Self {
            prev: 0,
            leading: 64,
            trailing: 0,
            first: true,
        }
    }
}

impl XorEncoder {
    /// Appends `value` to `w`.
    #[inline]
    pub fn push(&mut self, w: &mut BitWriter, value: f64) {
        let bits = value.to_bits();
        if self.first {
            self.first = false;
            self.prev = bits;
            w.write_bits(bits, 64);
            return;
        }
        let xor = bits ^ self.prev;
        self.prev = bits;
        if xor == 0 {
            w.write_bit(false);
            return;
        }
        let leading = xor.leading_zeros().min(31);
        let trailing = xor.trailing_zeros();
        if self.leading != 64 && leading >= self.leading && trailing >= self.trailing {
            let meaningful = 64 - self.leading - self.trailing;
            w.write_bits(0b10, 2);
            w.write_bits(xor >> self.trailing, meaningful);
        } else {
            let meaningful = 64 - leading - trailing;
            w.write_bits(0b11, 2);
            w.write_bits(u64::from(leading), 5);
            w.write_bits(u64::from(meaningful & 63), 6);
            w.write_bits(xor >> trailing, meaningful);
            self.leading = leading;
            self.trailing = trailing;
        }
    }
}

/// Decodes what an [`XorEncoder`] wrote.
#[derive(Clone, Debug)]
pub struct XorDecoder {
    prev: u64,
    leading: u32,
    trailing: u32,
    first: bool,
}

impl Default for XorDecoder {
    fn default() -> Self {
        Self {
            prev: 0,
            leading: 64,
            trailing: 0,
            first: true,
        }
    }
}

impl XorDecoder {
    /// Fills `out` with the next `out.len()` values: [`XorDecoder::next_value`] in a loop
    /// that reads the control bits and the window from one refilled accumulator.
    pub fn decode_batch(&mut self, r: &mut BitReader<'_>, out: &mut [f64]) -> Result<()> {
        let mut out = out;
        if self.first {
            let Some((first, rest)) = out.split_first_mut() else {
                return Ok(());
            };
            *first = self.next_value(r)?;
            out = rest;
        }
        let mut prev = self.prev;
        let mut result = Ok(());
        for slot in out.iter_mut() {
            let w = r.peek();
            if w >> 63 == 0 {
                r.consume(1);
                *slot = f64::from_bits(prev);
                continue;
            }
            let (head, meaningful) = if w >> 62 & 1 == 0 {
                if self.leading == 64 {
                    result = Err(Error::corrupt(0, "XOR window reused before one was set"));
                    break;
                }
                (2, 64 - self.leading - self.trailing)
            } else {
                let leading = (w >> 57 & 31) as u32;
                let meaningful = match (w >> 51 & 63) as u32 {
                    0 => 64,
                    m => m,
                };
                if leading + meaningful > 64 {
                    result = Err(Error::corrupt(0, "XOR window wider than 64 bits"));
                    break;
                }
                self.leading = leading;
                self.trailing = 64 - leading - meaningful;
                (13, meaningful)
            };
            // meaningful >= 1, so the shifts stay below 64
            let bits = if head + meaningful <= 56 {
                let bits = (w << head) >> (64 - meaningful);
                r.consume(head + meaningful);
                bits
            } else {
                r.consume(head);
                match r.read_bits(meaningful) {
                    Ok(bits) => bits,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            };
            prev ^= bits << self.trailing;
            *slot = f64::from_bits(prev);
        }
        self.prev = prev;
        result?;
        r.check()
    }

    /// Reads the next value from `r`.
    #[inline]
    pub fn next_value(&mut self, r: &mut BitReader<'_>) -> Result<f64> {
        if self.first {
            self.first = false;
            self.prev = r.read_bits(64)?;
            return Ok(f64::from_bits(self.prev));
        }
        if !r.read_bit()? {
            return Ok(f64::from_bits(self.prev));
        }
        if r.read_bit()? {
            #[expect(clippy::cast_possible_truncation, reason = "fields of 5 and 6 bits")]
            let (leading, mut meaningful) = (r.read_bits(5)? as u32, r.read_bits(6)? as u32);
            if meaningful == 0 {
                meaningful = 64;
            }
            if leading + meaningful > 64 {
                return Err(Error::corrupt(0, "XOR window wider than 64 bits"));
            }
            self.leading = leading;
            self.trailing = 64 - leading - meaningful;
        } else if self.leading == 64 {
            return Err(Error::corrupt(0, "XOR window reused before one was set"));
        }
        let meaningful = 64 - self.leading - self.trailing;
        let xor = r.read_bits(meaningful)? << self.trailing;
        self.prev ^= xor;
        Ok(f64::from_bits(self.prev))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(values: &[f64]) {
        let mut w = BitWriter::new();
        let mut enc = XorEncoder::default();
        for &v in values {
            enc.push(&mut w, v);
        }
        let bytes = w.to_bytes();
        let mut r = BitReader::new(&bytes, 0);
        let mut dec = XorDecoder::default();
        for &v in values {
            assert_eq!(dec.next_value(&mut r).unwrap().to_bits(), v.to_bits());
        }
        let mut r = BitReader::new(&bytes, 0);
        let mut dec = XorDecoder::default();
        let mut out = vec![0.0; values.len()];
        for batch in out.chunks_mut(7) {
            dec.decode_batch(&mut r, batch).unwrap();
        }
        for (got, want) in out.iter().zip(values) {
            assert_eq!(got.to_bits(), want.to_bits());
        }
    }

    proptest! {
        #[test]
        fn any_bit_patterns_round_trip(bits in proptest::collection::vec(any::<u64>(), 0..200)) {
            let values: Vec<f64> = bits.into_iter().map(f64::from_bits).collect();
            round_trip(&values);
        }
    }

    #[test]
    fn special_values_round_trip() {
        round_trip(&[
            f64::from_bits(0x7ff0_0000_0000_0002),
            f64::NAN,
            -0.0,
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE / 2.0,
            1.0,
            1.0,
            f64::MAX,
        ]);
    }
}
