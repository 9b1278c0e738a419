//! [`Cursor`]: bounds-checked reads of fixed-width integers, varints and byte runs.

use std::borrow::Cow;

use crate::error::{DecodeError, Result};
use crate::varint::{unzigzag, MAX_VARINT_LEN};

/// A reader over a byte slice that checks every read against the bytes that remain.
///
/// Nothing is sliced or allocated on the strength of a length or count read from the
/// data before that length is checked against what remains, so a decoder built on it
/// returns an error, never panics, on arbitrary bytes. `what` names the field in the
/// error. Errors carry offsets in the caller's coordinates: a cursor over a section that
/// starts at byte `base` of a file ([`Cursor::with_base`]) reports file offsets.
///
/// The model is Prometheus' `tsdb/encoding.Decbuf`, with errors returned per read
/// instead of kept in the buffer.
#[derive(Clone, Debug)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
    minimal_varints: bool,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `data`; offsets in errors count from its first byte.
    #[inline]
    pub const fn new(data: &'a [u8]) -> Self {
        Self::with_base(data, 0)
    }

    /// A cursor at the start of `data`, which lies at byte `base` of a larger whole (a
    /// file); offsets in errors and [`Cursor::offset`] count from the start of the whole.
    #[inline]
    pub const fn with_base(data: &'a [u8], base: usize) -> Self {
        Self {
            data,
            pos: 0,
            base,
            minimal_varints: false,
        }
    }

    /// Makes every varint read refuse a redundant trailing zero group (`0x80 0x00` for
    /// 0), so that a decoded value re-encodes to exactly the bytes it came from. For
    /// formats whose readers check that (the write-ahead log); chunk and index readers
    /// accept any varint that fits.
    #[must_use]
    pub const fn require_minimal_varints(mut self) -> Self {
        self.minimal_varints = true;
        self
    }

    /// Bytes read so far: the position relative to the start of the slice.
    #[inline]
    pub const fn position(&self) -> usize {
        self.pos
    }

    /// Offset of the next byte in the caller's coordinates (`base + position`).
    #[inline]
    pub const fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    /// Bytes left to read.
    #[inline]
    pub const fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// True when every byte has been read.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// A [`crate::ErrorKind::Malformed`] error at the current offset.
    #[cold]
    pub fn error(&self, reason: impl Into<Cow<'static, str>>) -> DecodeError {
        DecodeError::malformed(self.offset(), reason)
    }

    /// Fails unless every byte has been read: a decoder that stops early has misread
    /// the layout, or the data was made by something else.
    pub fn expect_end(&self, what: &'static str) -> Result<()> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(self.error(format!("{n} trailing bytes after {what}"))),
        }
    }

    /// Reads one byte.
    #[inline]
    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        let Some(&b) = self.data.get(self.pos) else {
            return Err(self.truncated(1, what));
        };
        self.pos += 1;
        Ok(b)
    }

    /// Reads a little-endian `u16`.
    #[inline]
    pub fn u16_le(&mut self, what: &'static str) -> Result<u16> {
        self.array(what).map(u16::from_le_bytes)
    }

    /// Reads a little-endian `u32`.
    #[inline]
    pub fn u32_le(&mut self, what: &'static str) -> Result<u32> {
        self.array(what).map(u32::from_le_bytes)
    }

    /// Reads a little-endian `u64`.
    #[inline]
    pub fn u64_le(&mut self, what: &'static str) -> Result<u64> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// Reads a little-endian two's-complement `i64`.
    #[inline]
    pub fn i64_le(&mut self, what: &'static str) -> Result<i64> {
        self.array(what).map(i64::from_le_bytes)
    }

    /// Reads the next `N` bytes as an array.
    #[inline]
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let Some(a) = self
            .data
            .get(self.pos..)
            .and_then(|rest| rest.first_chunk::<N>())
        else {
            return Err(self.truncated(N, what));
        };
        self.pos += N;
        Ok(*a)
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes that fits in a `u64`.
    #[inline]
    pub fn uvarint(&mut self, what: &'static str) -> Result<u64> {
        // most header fields and lengths are below 128: one byte, one branch
        if let Some(&b) = self.data.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.uvarint_long(what)
    }

    fn uvarint_long(&mut self, what: &'static str) -> Result<u64> {
        let start = self.offset();
        let mut v: u64 = 0;
        for i in 0..MAX_VARINT_LEN {
            let Some(&b) = self.data.get(self.pos) else {
                return Err(DecodeError::malformed(
                    start,
                    format!("{what}: varint runs past the end of the data"),
                ));
            };
            self.pos += 1;
            // the tenth byte holds bit 63 only
            if i == MAX_VARINT_LEN - 1 && b > 1 {
                break;
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 && self.minimal_varints {
                    return Err(DecodeError::malformed(
                        start,
                        format!("{what}: varint is not minimally encoded"),
                    ));
                }
                return Ok(v);
            }
        }
        Err(DecodeError::malformed(
            start,
            format!("{what}: varint overflows u64"),
        ))
    }

    /// Reads a zigzag-mapped signed varint.
    #[inline]
    pub fn varint(&mut self, what: &'static str) -> Result<i64> {
        self.uvarint(what).map(unzigzag)
    }

    /// Reads a uvarint that must fit in a `u32` (an id or a reference).
    #[inline]
    pub fn uvarint32(&mut self, what: &'static str) -> Result<u32> {
        let start = self.offset();
        let v = self.uvarint(what)?;
        u32::try_from(v)
            .map_err(|_| DecodeError::malformed(start, format!("{what}: {v} exceeds u32")))
    }

    /// Takes the next `n` bytes; `n` is checked against what remains before anything is
    /// sliced, so a length read off disk can never index out of bounds.
    #[inline]
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.truncated(n, what));
        }
        let Some(s) = self.data.get(self.pos..self.pos + n) else {
            return Err(self.truncated(n, what));
        };
        self.pos += n;
        Ok(s)
    }

    /// Reads a uvarint length and takes that many bytes.
    pub fn len_prefixed(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let start = self.offset();
        let len = self.uvarint(what)?;
        match usize::try_from(len) {
            Ok(n) if n <= self.remaining() => self.bytes(n, what),
            _ => Err(DecodeError::malformed(
                start,
                format!(
                    "{what}: length {len} runs past the end ({} bytes remain)",
                    self.remaining()
                ),
            )),
        }
    }

    /// Reads a uvarint element count and checks it against the bytes that remain, each
    /// element taking at least `min_len` bytes (1 if given 0), so that a caller can
    /// allocate for `count` elements without trusting the data.
    pub fn count(&mut self, min_len: usize, what: &'static str) -> Result<usize> {
        let start = self.offset();
        let n = self.uvarint(what)?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.remaining() / min_len.max(1))
            .ok_or_else(|| {
                DecodeError::malformed(
                    start,
                    format!(
                        "{what} count {n} cannot fit in the {} bytes that remain",
                        self.remaining()
                    ),
                )
            })
    }

    /// Takes everything that remains.
    #[inline]
    pub fn rest(&mut self) -> &'a [u8] {
        let s = self.data.get(self.pos..).unwrap_or_default();
        self.pos = self.data.len();
        s
    }

    #[cold]
    fn truncated(&self, n: usize, what: &'static str) -> DecodeError {
        self.error(format!(
            "{what}: needs {n} bytes, {} remain",
            self.remaining()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::varint::{put_uvarint, put_varint};
    use crate::ErrorKind;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Field {
        U8(u8),
        U16(u16),
        U32(u32),
        U64(u64),
        I64(i64),
        Uvarint(u64),
        Varint(i64),
        Bytes(Vec<u8>),
    }

    fn field() -> impl Strategy<Value = Field> {
        prop_oneof![
            any::<u8>().prop_map(Field::U8),
            any::<u16>().prop_map(Field::U16),
            any::<u32>().prop_map(Field::U32),
            any::<u64>().prop_map(Field::U64),
            any::<i64>().prop_map(Field::I64),
            prop_oneof![any::<u64>(), 0u64..300].prop_map(Field::Uvarint),
            prop_oneof![any::<i64>(), -300i64..300].prop_map(Field::Varint),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(Field::Bytes),
        ]
    }

    fn write(fields: &[Field]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in fields {
            match f {
                Field::U8(v) => out.push(*v),
                Field::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
                Field::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
                Field::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
                Field::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
                Field::Uvarint(v) => put_uvarint(&mut out, *v),
                Field::Varint(v) => put_varint(&mut out, *v),
                Field::Bytes(b) => {
                    put_uvarint(&mut out, b.len() as u64);
                    out.extend_from_slice(b);
                }
            }
        }
        out
    }

    /// Reads `f` from `c`, checking it is what was written.
    fn read(c: &mut Cursor<'_>, f: &Field) -> Result<bool> {
        Ok(match f {
            Field::U8(v) => c.u8("u8")? == *v,
            Field::U16(v) => c.u16_le("u16")? == *v,
            Field::U32(v) => c.u32_le("u32")? == *v,
            Field::U64(v) => c.u64_le("u64")? == *v,
            Field::I64(v) => c.i64_le("i64")? == *v,
            Field::Uvarint(v) => c.uvarint("uvarint")? == *v,
            Field::Varint(v) => c.varint("varint")? == *v,
            Field::Bytes(b) => c.len_prefixed("bytes")? == &b[..],
        })
    }

    proptest! {
        #[test]
        fn every_field_round_trips(fields in proptest::collection::vec(field(), 0..40)) {
            let bytes = write(&fields);
            for minimal in [false, true] {
                let mut c = Cursor::new(&bytes);
                if minimal {
                    c = c.require_minimal_varints();
                }
                for f in &fields {
                    prop_assert!(read(&mut c, f).unwrap(), "{:?}", f);
                }
                prop_assert!(c.expect_end("fields").is_ok());
            }
        }

        /// A cut-off encoding is an error at or before the cut, never a panic or a read
        /// past it; the offset is reported in the caller's coordinates.
        #[test]
        fn truncated_input_is_an_error_inside_the_bounds(
            fields in proptest::collection::vec(field(), 1..20),
            cut in any::<prop::sample::Index>(),
            base in 0usize..1_000_000,
        ) {
            let bytes = write(&fields);
            let cut = cut.index(bytes.len());
            let mut c = Cursor::with_base(&bytes[..cut], base);
            let mut failed = None;
            for f in &fields {
                match read(&mut c, f) {
                    Ok(same) => prop_assert!(same),
                    Err(e) => { failed = Some(e); break; }
                }
                prop_assert!(c.position() <= cut);
            }
            let e = failed.expect("a truncated encoding cannot read back whole");
            prop_assert_eq!(e.kind, ErrorKind::Malformed);
            prop_assert!(e.offset >= base && e.offset <= base + cut, "{} not in {}..={}", e.offset, base, base + cut);
        }

        /// Reads on random bytes never panic, never move past the end, and a length is
        /// refused unless that many bytes remain.
        #[test]
        fn arbitrary_bytes_never_read_out_of_bounds(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            ops in proptest::collection::vec(0u8..10, 0..30),
            n in 0usize..100,
        ) {
            let mut c = Cursor::new(&bytes).require_minimal_varints();
            for op in ops {
                let before = c.remaining();
                let ok = match op {
                    0 => c.u8("a").is_ok(),
                    1 => c.u16_le("a").is_ok(),
                    2 => c.u32_le("a").is_ok(),
                    3 => c.u64_le("a").is_ok(),
                    4 => c.uvarint("a").is_ok(),
                    5 => c.varint("a").is_ok(),
                    6 => c.uvarint32("a").is_ok(),
                    7 => c.len_prefixed("a").is_ok(),
                    8 => c.count(3, "a").is_ok_and(|k| k * 3 <= c.remaining()),
                    _ => {
                        let r = c.bytes(n, "a");
                        prop_assert_eq!(r.is_ok(), n <= before);
                        r.is_ok()
                    }
                };
                prop_assert!(c.position() <= bytes.len());
                if !ok {
                    break;
                }
            }
        }
    }

    #[test]
    fn malformed_varints() {
        let kind_and_reason = |b: &[u8], minimal: bool| {
            let mut c = Cursor::with_base(b, 10);
            if minimal {
                c = c.require_minimal_varints();
            }
            c.uvarint("x")
                .map_err(|e| (e.offset, e.reason.into_owned()))
        };
        assert_eq!(
            kind_and_reason(&[0x80], false),
            Err((10, "x: varint runs past the end of the data".into()))
        );
        assert_eq!(
            kind_and_reason(&[0xff; 11], false),
            Err((10, "x: varint overflows u64".into()))
        );
        let mut max = [0xff; 10];
        max[9] = 0x01;
        assert_eq!(kind_and_reason(&max, true), Ok(u64::MAX));
        max[9] = 0x02;
        assert!(kind_and_reason(&max, false).is_err());
        // a redundant zero group: accepted by default, refused in minimal mode
        assert_eq!(kind_and_reason(&[0x81, 0x00], false), Ok(1));
        assert_eq!(
            kind_and_reason(&[0x81, 0x00], true),
            Err((10, "x: varint is not minimally encoded".into()))
        );
        // a single zero byte is the minimal encoding of 0
        assert_eq!(kind_and_reason(&[0x00], true), Ok(0));
    }

    #[test]
    fn lengths_and_counts_are_checked_before_use() {
        let mut out = Vec::new();
        put_uvarint(&mut out, u64::MAX);
        out.extend_from_slice(&[1, 2, 3]);
        let e = Cursor::with_base(&out, 100)
            .len_prefixed("name")
            .unwrap_err();
        assert_eq!(e.offset, 100);
        assert!(e.reason.contains("runs past the end"), "{e}");
        let e = Cursor::new(&out).count(1, "sample").unwrap_err();
        assert!(e.reason.contains("cannot fit"), "{e}");
        // 3 bytes remain after the count: three 1-byte elements fit, two 2-byte ones do not
        let c3 = [3, 0, 0, 0];
        assert_eq!(Cursor::new(&c3).count(1, "x"), Ok(3));
        assert!(Cursor::new(&c3).count(2, "x").is_err());
        let e = Cursor::with_base(&[1, 2], 7).bytes(3, "x").unwrap_err();
        assert_eq!(
            (e.offset, e.reason.as_ref()),
            (7, "x: needs 3 bytes, 2 remain")
        );
        let e = Cursor::new(&[0xff, 0xff, 0xff, 0xff, 0x7f])
            .uvarint32("ref")
            .unwrap_err();
        assert!(e.reason.contains("exceeds u32"), "{e}");
    }

    #[test]
    fn offsets_positions_and_the_end() {
        let data = [1, 0, 2, 0, 0, 0, 9, 9];
        let mut c = Cursor::with_base(&data, 1000);
        assert_eq!(c.u16_le("a"), Ok(1));
        assert_eq!(c.u32_le("b"), Ok(2));
        assert_eq!((c.position(), c.offset(), c.remaining()), (6, 1006, 2));
        let e = c.expect_end("the header").unwrap_err();
        assert_eq!(
            (e.offset, e.reason.as_ref()),
            (1006, "2 trailing bytes after the header")
        );
        assert_eq!(c.rest(), [9, 9]);
        assert!(c.is_empty() && c.expect_end("the header").is_ok());
        assert!(c.u8("c").is_err());
    }
}
