//! LEB128 varints and a bounds-checked cursor, copied in small from tsdb-compress so this
//! crate stays a leaf.

use crate::error::{Error, Result};

/// Appends `v` as an unsigned LEB128 varint.
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A cursor over a byte slice that reads fields with bounds checks. `base` is the slice's
/// offset in the whole index, so errors report file offsets.
#[derive(Clone, Debug)]
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `data`, which starts at byte `base` of the index.
    pub(crate) fn new(data: &'a [u8], base: usize) -> Self {
        Self { data, pos: 0, base }
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// File offset of the next byte.
    pub(crate) fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    fn err(&self, at: usize, reason: String) -> Error {
        Error::corrupt(self.base.saturating_add(at), reason)
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes.
    pub(crate) fn uvarint(&mut self, what: &'static str) -> Result<u64> {
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.data.get(self.pos) else {
                return Err(self.err(start, format!("truncated varint ({what})")));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(self.err(start, format!("varint overflows u64 ({what})")));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err(start, format!("varint too long ({what})")))
    }

    /// Reads a varint that must fit in a `u32`.
    pub(crate) fn uvarint32(&mut self, what: &'static str) -> Result<u32> {
        let start = self.pos;
        let v = self.uvarint(what)?;
        u32::try_from(v).map_err(|_| self.err(start, format!("{what} {v} exceeds u32")))
    }

    /// Reads a little-endian u32.
    pub(crate) fn u32_le(&mut self, what: &'static str) -> Result<u32> {
        let b = self.bytes(4, what)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_le_bytes(a))
    }

    /// Takes the next `n` bytes; `n` is checked against what remains before anything is
    /// sliced, so a length read off disk can never index out of bounds.
    pub(crate) fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.err(
                self.pos,
                format!("{what}: needs {n} bytes, {} remain", self.remaining()),
            ));
        }
        let s = self.data.get(self.pos..self.pos + n).unwrap_or_default();
        self.pos += n;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn uvarints_round_trip(vals in proptest::collection::vec(any::<u64>(), 0..50)) {
            let mut out = Vec::new();
            for &v in &vals { put_uvarint(&mut out, v); }
            let mut c = Cursor::new(&out, 0);
            for &v in &vals {
                prop_assert_eq!(c.uvarint("u").unwrap(), v);
            }
            prop_assert_eq!(c.remaining(), 0);
        }
    }

    #[test]
    fn malformed_input_is_an_error_with_file_offset() {
        assert!(Cursor::new(&[0x80], 0).uvarint("x").is_err());
        assert!(Cursor::new(&[0xff; 11], 0).uvarint("x").is_err());
        let mut c = Cursor::new(&[0xff, 0xff, 0xff, 0xff, 0x7f], 0);
        assert!(c.uvarint32("x").is_err());
        match Cursor::new(&[1, 2], 100).bytes(3, "x") {
            Err(Error::Corrupt { offset, .. }) => assert_eq!(offset, 100),
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert_eq!(Cursor::new(&[1, 0, 0, 0], 0).u32_le("x").unwrap(), 1);
    }
}
