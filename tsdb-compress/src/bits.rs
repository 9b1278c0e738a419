//! MSB-first bit streams.
//!
//! The writer packs bits into a 64-bit accumulator and spills whole words; the reader
//! peeks at the next 64 bits with one unaligned big-endian load and a shift. Reading past the end of the stream is an error, never a panic, and the reader
//! never looks at bytes outside the slice it was given.

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
///
/// [`BitReader::peek`] is one unaligned big-endian load and a shift (at least 57 valid
/// bits), so a decoding loop reads each code straight from one word and then
/// [`BitReader::consume`]s it: the only state is the bit position. Bits past the end of
/// the data read as zero. The reading methods (`read_bits` and friends) report reading
/// past the end at once; the batch decoders consume without looking and check once per
/// batch with [`BitReader::check`].
#[derive(Clone, Debug)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`; past the end once overread.
    pos: usize,
    /// Where the stream ends, in bits from the start of `data`.
    end: usize,
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
            end: data.len() * 8,
            base_offset,
        }
    }

    /// A reader over bytes `start..end` of `data` (clamped to it), which may read
    /// (without consuming) the bytes after `end`: two streams back to back share one
    /// slice, so their readers keep one pointer and length between them.
    pub fn window(data: &'a [u8], start: usize, end: usize, base_offset: usize) -> Self {
        let end = end.min(data.len());
        Self {
            data,
            pos: start.min(end) * 8,
            end: end * 8,
            base_offset,
        }
    }

    /// Bits not yet read (zero once the stream has been overread).
    #[cfg(any(test, feature = "gorilla"))]
    pub fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    /// The next 64 bits, left-aligned; bits past the end of the data read as zero. At
    /// least the top 57 are the stream's next bits.
    #[inline(always)]
    pub(crate) fn peek(&self) -> u64 {
        let byte = self.pos >> 3;
        // `byte + 8` cannot overflow, so this is one comparison with the length
        let word = match self
            .data
            .get(byte..byte + 8)
            .and_then(|s| s.first_chunk::<8>())
        {
            Some(bytes) => u64::from_be_bytes(*bytes),
            None => Self::load_tail(self.data, byte),
        };
        word << (self.pos & 7)
    }

    /// Takes no `&self`, so that a reader copied into a decoding loop's locals can stay
    /// in registers.
    #[cold]
    #[inline(never)]
    fn load_tail(data: &[u8], byte: usize) -> u64 {
        let mut bytes = [0u8; 8];
        if let Some(tail) = data.get(byte..) {
            for (dst, src) in bytes.iter_mut().zip(tail) {
                *dst = *src;
            }
        }
        u64::from_be_bytes(bytes)
    }

    /// Moves past `n <= 57` bits. Overreading is only found by a later
    /// [`BitReader::check`].
    #[inline(always)]
    pub(crate) fn consume(&mut self, n: u32) {
        self.pos += n as usize;
    }

    /// An error if more bits were consumed than the data holds.
    #[inline(always)]
    pub(crate) fn check(&self) -> Result<()> {
        if self.pos > self.end {
            return Err(self.truncated());
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn truncated(&self) -> Error {
        Error::corrupt(
            self.base_offset + self.end / 8,
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
        if n > 56 {
            let hi = self.read_bits(32)?;
            let lo = self.read_bits(n - 32)?;
            return Ok((hi << (n - 32)) | lo);
        }
        let v = self.peek() >> (64 - n);
        self.consume(n);
        self.check()?;
        Ok(v)
    }

    /// Reads one bit.
    #[inline]
    pub fn read_bit(&mut self) -> Result<bool> {
        Ok(self.read_bits(1)? == 1)
    }

    /// Counts one-bits up to `max` (`max <= 56`). Consumes the terminating zero bit when
    /// fewer than `max` ones are found; consumes exactly `max` bits otherwise.
    #[inline]
    pub fn read_unary(&mut self, max: u32) -> Result<u32> {
        debug_assert!(max <= 56);
        let ones = (!self.peek()).leading_zeros();
        let ones = if ones < max {
            self.consume(ones + 1);
            ones
        } else {
            self.consume(max);
            max
        };
        self.check()?;
        Ok(ones)
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
        let mut r = BitReader::new(&[0xa5; 20], 0);
        r.consume(56);
        r.consume(56);
        assert_eq!(r.peek(), 0xa5a5_a5a5_a5a5_0000);
        r.consume(48);
        assert!(r.check().is_ok());
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.peek(), 0);
        r.consume(1);
        assert!(r.check().is_err());
        assert!(BitReader::new(&[], 0).read_bits(64).is_err());
        // a unary run that never terminates inside the data is an error too
        assert!(BitReader::new(&[0xff], 0).read_unary(20).is_err());
    }
}
