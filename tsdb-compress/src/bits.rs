//! MSB-first bit streams.
//!
//! The writer packs bits into a 64-bit accumulator and spills whole words; the reader
//! loads one unaligned big-endian word per read, so every read is a load, a shift and a
//! bounds check. Reading past the end of the stream is an error, never a panic, and the
//! reader never looks at bytes outside the slice it was given.

use crate::error::{Error, Result};

/// Appends bits, most significant first, to a growable byte buffer.
#[derive(Clone, Debug, Default)]
pub struct BitWriter {
    buf: Vec<u8>,
    /// Pending bits, right-aligned; `pending` of them are valid.
    acc: u64,
    pending: u32,
}

impl BitWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of bits written so far.
    pub fn bit_len(&self) -> usize {
        self.buf.len() * 8 + self.pending as usize
    }

    /// Writes the low `n` bits of `value` (`n <= 64`); higher bits of `value` must be zero.
    #[inline]
    pub fn write_bits(&mut self, value: u64, n: u32) {
        debug_assert!(n <= 64);
        debug_assert!(n == 64 || value >> n == 0, "value wider than {n} bits");
        if n == 0 {
            return;
        }
        let free = 64 - self.pending; // 1..=64
        if n < free {
            self.acc = (self.acc << n) | value;
            self.pending += n;
            return;
        }
        let rest = n - free; // 0..=63
        let high = value >> rest;
        let word = if free == 64 {
            high
        } else {
            (self.acc << free) | high
        };
        self.buf.extend_from_slice(&word.to_be_bytes());
        self.acc = if rest == 0 {
            0
        } else {
            value & (u64::MAX >> (64 - rest))
        };
        self.pending = rest;
    }

    /// Writes one bit.
    #[inline]
    pub fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Writes `count` one-bits (any count).
    #[inline]
    pub fn write_ones(&mut self, mut count: u32) {
        while count >= 64 {
            self.write_bits(u64::MAX, 64);
            count -= 64;
        }
        if count > 0 {
            self.write_bits(u64::MAX >> (64 - count), count);
        }
    }

    /// Appends the stream to `out`, padding the last byte with zero bits.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.buf);
        let tail = self.pending.div_ceil(8) as usize;
        if tail > 0 {
            let aligned = self.acc << (64 - self.pending);
            out.extend(aligned.to_be_bytes().into_iter().take(tail));
        }
    }

    /// Byte length of the stream once padded.
    pub fn byte_len(&self) -> usize {
        self.bit_len().div_ceil(8)
    }

    /// The padded stream as a fresh vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.byte_len());
        self.write_to(&mut out);
        out
    }
}

/// Reads bits, most significant first, from a byte slice.
#[derive(Clone, Debug)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
    /// Length in bits.
    len: usize,
    /// Byte offset of `data` in the enclosing chunk, for error messages.
    base_offset: usize,
}

impl<'a> BitReader<'a> {
    /// A reader over all bits of `data`; `base_offset` is where `data` starts in the
    /// enclosing buffer and only serves error messages.
    pub fn new(data: &'a [u8], base_offset: usize) -> Self {
        Self {
            data,
            pos: 0,
            len: data.len() * 8,
            base_offset,
        }
    }

    /// Bits not yet read.
    pub fn remaining(&self) -> usize {
        self.len - self.pos
    }

    /// The next 64 bits, left-aligned; bits past the end of the data read as zero.
    /// At least 57 of the returned bits are real stream bits when that many remain.
    #[inline(always)]
    pub(crate) fn peek(&self) -> u64 {
        let byte = self.pos >> 3;
        let word = match self.data.get(byte..).and_then(|s| s.first_chunk::<8>()) {
            Some(bytes) => u64::from_be_bytes(*bytes),
            None => self.peek_tail(byte),
        };
        word << (self.pos & 7)
    }

    #[cold]
    fn peek_tail(&self, byte: usize) -> u64 {
        let mut bytes = [0u8; 8];
        if let Some(tail) = self.data.get(byte..) {
            for (dst, src) in bytes.iter_mut().zip(tail) {
                *dst = *src;
            }
        }
        u64::from_be_bytes(bytes)
    }

    #[inline(always)]
    pub(crate) fn advance(&mut self, n: usize) -> Result<()> {
        let next = self.pos + n;
        if next > self.len {
            return Err(self.truncated());
        }
        self.pos = next;
        Ok(())
    }

    #[cold]
    fn truncated(&self) -> Error {
        Error::corrupt(
            self.base_offset + self.pos / 8,
            "bit stream ends before the last sample",
        )
    }

    /// Reads `n <= 64` bits as an unsigned integer.
    #[inline]
    pub fn read_bits(&mut self, n: u32) -> Result<u64> {
        debug_assert!(n <= 64);
        if n == 0 {
            return Ok(0);
        }
        if n <= 56 {
            let v = self.peek() >> (64 - n);
            self.advance(n as usize)?;
            Ok(v)
        } else {
            let hi = self.read_bits(32)?;
            let lo = self.read_bits(n - 32)?;
            Ok((hi << (n - 32)) | lo)
        }
    }

    /// Reads one bit.
    #[inline]
    pub fn read_bit(&mut self) -> Result<bool> {
        let v = self.peek() >> 63;
        self.advance(1)?;
        Ok(v == 1)
    }

    /// Counts one-bits up to `max` (`max <= 56`). Consumes the terminating zero bit when
    /// fewer than `max` ones are found; consumes exactly `max` bits otherwise.
    #[inline]
    pub fn read_unary(&mut self, max: u32) -> Result<u32> {
        debug_assert!(max <= 56);
        let ones = (!self.peek()).leading_zeros();
        if ones < max {
            self.advance(ones as usize + 1)?;
            Ok(ones)
        } else {
            self.advance(max as usize)?;
            Ok(max)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips_arbitrary_widths(fields in proptest::collection::vec((any::<u64>(), 0u32..=64), 0..200)) {
            let mut w = BitWriter::new();
            let fields: Vec<(u64, u32)> = fields
                .into_iter()
                .map(|(v, n)| (if n == 64 { v } else { v & ((1u64 << n) - 1) }, n))
                .collect();
            for &(v, n) in &fields {
                w.write_bits(v, n);
            }
            let total: u32 = fields.iter().map(|&(_, n)| n).sum();
            prop_assert_eq!(w.bit_len(), total as usize);
            let bytes = w.to_bytes();
            prop_assert_eq!(bytes.len(), (total as usize).div_ceil(8));
            let mut r = BitReader::new(&bytes, 0);
            for &(v, n) in &fields {
                prop_assert_eq!(r.read_bits(n).unwrap(), v);
            }
            prop_assert!(r.remaining() < 8);
        }

        #[test]
        fn unary_round_trips(counts in proptest::collection::vec(0u32..40, 0..100)) {
            let mut w = BitWriter::new();
            for &c in &counts {
                w.write_ones(c);
                if c < 32 { w.write_bit(false); }
            }
            let bytes = w.to_bytes();
            let mut r = BitReader::new(&bytes, 0);
            for &c in &counts {
                prop_assert_eq!(r.read_unary(32).unwrap(), c.min(32));
                if c >= 32 {
                    // the remaining ones beyond the cap are still in the stream
                    prop_assert_eq!(r.read_bits(c - 32).unwrap(), (1u64 << (c - 32)) - 1);
                }
            }
        }
    }

    #[test]
    fn reading_past_the_end_is_an_error() {
        let mut r = BitReader::new(&[0xff], 10);
        assert_eq!(r.read_bits(7).unwrap(), 0x7f);
        assert!(r.read_bit().unwrap());
        let err = r.read_bit().unwrap_err();
        assert!(matches!(err, Error::Corrupt { offset: 11, .. }), "{err}");
        assert!(BitReader::new(&[], 0).read_bits(64).is_err());
        // a unary run that never terminates inside the data is an error too
        assert!(BitReader::new(&[0xff], 0).read_unary(20).is_err());
    }
}
