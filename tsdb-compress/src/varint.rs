//! LEB128 varints and zigzag mapping, used for chunk and block headers.

use crate::error::{Error, Result};

/// Maps signed to unsigned so that small magnitudes become small numbers.
#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
pub fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Appends `v` as an unsigned LEB128 varint.
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` zigzag-mapped as an unsigned varint.
pub fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v));
}

/// Splits off the trailing little-endian CRC32 of a checksummed record.
pub fn split_crc(bytes: &[u8]) -> Option<(&[u8], u32)> {
    bytes
        .split_last_chunk::<4>()
        .map(|(body, crc)| (body, u32::from_le_bytes(*crc)))
}

/// A cursor over a byte slice that reads header fields with bounds checks.
/// Offsets in its errors are relative to the start of the slice.
#[derive(Clone, Debug)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Current byte offset.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes.
    pub fn uvarint(&mut self, what: &'static str) -> Result<u64> {
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.data.get(self.pos) else {
                return Err(Error::corrupt(start, format!("truncated varint ({what})")));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(Error::corrupt(
                    start,
                    format!("varint overflows u64 ({what})"),
                ));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::corrupt(start, format!("varint too long ({what})")))
    }

    /// Reads a zigzag varint.
    pub fn varint(&mut self, what: &'static str) -> Result<i64> {
        self.uvarint(what).map(unzigzag)
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        let b = self
            .data
            .get(self.pos)
            .copied()
            .ok_or_else(|| Error::corrupt(self.pos, format!("truncated ({what})")))?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads a little-endian u32.
    pub fn u32_le(&mut self, what: &'static str) -> Result<u32> {
        let b = self.bytes(4, what)?;
        b.first_chunk::<4>()
            .map(|a| u32::from_le_bytes(*a))
            .ok_or_else(|| Error::corrupt(self.pos, format!("truncated ({what})")))
    }

    /// Reads a little-endian u64.
    pub fn u64_le(&mut self, what: &'static str) -> Result<u64> {
        let b = self.bytes(8, what)?;
        b.first_chunk::<8>()
            .map(|a| u64::from_le_bytes(*a))
            .ok_or_else(|| Error::corrupt(self.pos, format!("truncated ({what})")))
    }

    /// Takes the next `n` bytes; `n` is checked against what remains before anything is
    /// sliced, so a length read off disk can never index out of bounds.
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let s = self
            .pos
            .checked_add(n)
            .and_then(|end| self.data.get(self.pos..end))
            .ok_or_else(|| {
                Error::corrupt(
                    self.pos,
                    format!("{what}: needs {n} bytes, {} remain", self.remaining()),
                )
            })?;
        self.pos += n;
        Ok(s)
    }

    /// The rest of the data.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = self.data.get(self.pos..).unwrap_or_default();
        self.pos = self.data.len();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(vals in proptest::collection::vec(any::<i64>(), 0..50)) {
            let mut out = Vec::new();
            for &v in &vals { put_varint(&mut out, v); put_uvarint(&mut out, v as u64); }
            let mut c = Cursor::new(&out);
            for &v in &vals {
                prop_assert_eq!(c.varint("v").unwrap(), v);
                prop_assert_eq!(c.uvarint("u").unwrap(), v as u64);
            }
            prop_assert_eq!(c.remaining(), 0);
        }

        #[test]
        fn zigzag_is_a_bijection(v in any::<i64>()) {
            prop_assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn malformed_varints_are_errors() {
        assert!(Cursor::new(&[0x80]).uvarint("x").is_err());
        assert!(Cursor::new(&[0xff; 11]).uvarint("x").is_err());
        assert!(
            Cursor::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .uvarint("x")
                .is_err()
        );
        assert_eq!(
            Cursor::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
                .uvarint("x")
                .unwrap(),
            u64::MAX
        );
        assert!(Cursor::new(&[1, 2]).bytes(3, "x").is_err());
    }
}
