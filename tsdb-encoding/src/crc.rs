//! CRC-framed bodies: a body followed by the IEEE CRC-32 (the `crc32fast` crate, as Go's
//! `hash/crc32.ChecksumIEEE`) of every byte before it, little-endian. Files, sections and
//! chunks of every tsdb format end this way.

use crate::error::{DecodeError, Result};

/// Bytes of the trailing CRC32.
pub const CRC_LEN: usize = 4;

/// Splits off the trailing little-endian CRC32 without checking it; `None` when `bytes`
/// is shorter than a CRC. For callers that check the CRC later or not at all (a chunk
/// this process encoded).
#[inline]
pub fn split_crc(bytes: &[u8]) -> Option<(&[u8], u32)> {
    bytes
        .split_last_chunk::<CRC_LEN>()
        .map(|(body, crc)| (body, u32::from_le_bytes(*crc)))
}

/// Splits off the trailing CRC32 and checks it against the body, which it returns. `what`
/// names the framed thing in errors; a mismatch is reported at the CRC's offset.
#[inline]
pub fn check_crc<'a>(bytes: &'a [u8], what: &'static str) -> Result<&'a [u8]> {
    let Some((body, stored)) = split_crc(bytes) else {
        return Err(DecodeError::malformed(
            0,
            format!("{what}: {} bytes is shorter than its CRC", bytes.len()),
        ));
    };
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(DecodeError::checksum_mismatch(
            body.len(),
            what,
            stored,
            computed,
        ));
    }
    Ok(body)
}

/// Appends the CRC32 of everything in `out`, framing it for [`check_crc`].
#[inline]
pub fn append_crc(out: &mut Vec<u8>) {
    let crc = crc32fast::hash(out);
    out.extend_from_slice(&crc.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use proptest::prelude::*;

    #[test]
    fn short_input_is_malformed() {
        assert_eq!(split_crc(&[1, 2, 3]), None);
        let e = check_crc(&[1, 2, 3], "meta").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Malformed);
        assert_eq!(e.reason, "meta: 3 bytes is shorter than its CRC");
        // an empty body has a CRC of its own
        let mut empty = Vec::new();
        append_crc(&mut empty);
        assert_eq!(check_crc(&empty, "x"), Ok(&[][..]));
    }

    proptest! {
        #[test]
        fn framed_bodies_check_and_any_flipped_bit_is_caught(
            body in proptest::collection::vec(any::<u8>(), 0..200),
            flip in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let mut framed = body.clone();
            append_crc(&mut framed);
            prop_assert_eq!(framed.len(), body.len() + CRC_LEN);
            prop_assert_eq!(check_crc(&framed, "body").unwrap(), &body[..]);
            let i = flip.index(framed.len());
            framed[i] ^= 1 << bit;
            let e = check_crc(&framed, "body").unwrap_err();
            let is_mismatch = matches!(e.kind, ErrorKind::ChecksumMismatch { what: "body", .. });
            prop_assert!(is_mismatch, "{:?}", e);
            prop_assert_eq!(e.offset, body.len());
        }
    }
}
