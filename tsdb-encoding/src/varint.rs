//! LEB128 varints and the zigzag mapping: the writers here, the readers on
//! [`crate::Cursor`].
//!
//! An unsigned varint (`uvarint`) stores 7 bits a byte, least significant group first,
//! with the high bit set on every byte but the last: at most 10 bytes for a `u64`. A
//! signed varint (`varint`) is the zigzag mapping of the value written as a uvarint, so
//! that small magnitudes of either sign take one byte. The same encoding as Go's
//! `encoding/binary` `PutUvarint`/`PutVarint` and protobuf's `sint64`.

/// Longest uvarint of a `u64`: 64 bits in 7-bit groups.
pub const MAX_VARINT_LEN: usize = 10;

/// Maps signed to unsigned so that small magnitudes become small numbers:
/// 0, -1, 1, -2, 2 ... become 0, 1, 2, 3, 4 ...
#[inline]
pub const fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)).cast_unsigned()
}

/// Inverse of [`zigzag`].
#[inline]
pub const fn unzigzag(u: u64) -> i64 {
    (u >> 1).cast_signed() ^ (u & 1).cast_signed().wrapping_neg()
}

/// Appends `v` as an unsigned LEB128 varint (1 to [`MAX_VARINT_LEN`] bytes).
#[inline]
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(low_byte(v) | 0x80);
        v >>= 7;
    }
    out.push(low_byte(v));
}

/// Appends `v` zigzag-mapped as an unsigned varint.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v));
}

#[inline]
#[expect(
    clippy::cast_possible_truncation,
    reason = "keeping the low 8 bits is the point: the caller masks or shifts the rest away"
)]
const fn low_byte(v: u64) -> u8 {
    v as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        let enc = |v: u64| {
            let mut out = Vec::new();
            put_uvarint(&mut out, v);
            out
        };
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(127), [0x7f]);
        assert_eq!(enc(128), [0x80, 0x01]);
        assert_eq!(enc(300), [0xac, 0x02]);
        assert_eq!(enc(u64::MAX).len(), MAX_VARINT_LEN);
        assert_eq!(enc(u64::MAX).last(), Some(&0x01));
        assert_eq!(
            [
                zigzag(0),
                zigzag(-1),
                zigzag(1),
                zigzag(-2),
                zigzag(i64::MIN)
            ],
            [0, 1, 2, 3, u64::MAX]
        );
    }

    proptest! {
        #[test]
        fn zigzag_is_a_bijection(v in any::<i64>(), u in any::<u64>()) {
            prop_assert_eq!(unzigzag(zigzag(v)), v);
            prop_assert_eq!(zigzag(unzigzag(u)), u);
        }
    }
}
