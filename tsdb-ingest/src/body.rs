//! Request bodies: the size limit and the snappy block format, read so that no length
//! off the wire is trusted before it is checked.

use crate::limits::IngestLimits;
use crate::outcome::RequestError;

/// Refuses a body over [`IngestLimits::max_body_bytes`].
pub(crate) fn check_size(body: &[u8], limits: &IngestLimits) -> Result<(), RequestError> {
    if body.len() > limits.max_body_bytes {
        return Err(RequestError::BodyTooLarge {
            size: body.len(),
            limit: limits.max_body_bytes,
            decompressed: false,
        });
    }
    Ok(())
}

/// Decompresses a snappy block (the format remote write uses; never the framed
/// format). The decompressed length in the block's header is checked against
/// [`IngestLimits::max_decompressed_bytes`] before anything is allocated, and `snap`
/// checks the block against that length while decompressing.
pub(crate) fn snappy(body: &[u8], limits: &IngestLimits) -> Result<Vec<u8>, RequestError> {
    check_size(body, limits)?;
    let len = snap::raw::decompress_len(body)
        .map_err(|e| RequestError::Malformed(format!("cannot decode snappy block: {e}")))?;
    if len > limits.max_decompressed_bytes {
        return Err(RequestError::BodyTooLarge {
            size: len,
            limit: limits.max_decompressed_bytes,
            decompressed: true,
        });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| RequestError::Malformed(format!("cannot decode snappy block: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snappy_bomb_refused_from_its_header() {
        let limits = IngestLimits {
            max_decompressed_bytes: 1000,
            ..IngestLimits::default()
        };
        let big = snap::raw::Encoder::new()
            .compress_vec(&[0u8; 5000])
            .unwrap();
        assert!(big.len() < 1000, "compresses well: {}", big.len());
        assert!(matches!(
            snappy(&big, &limits),
            Err(RequestError::BodyTooLarge {
                size: 5000,
                decompressed: true,
                ..
            })
        ));
        // a header announcing 2^31 bytes with nothing behind it: refused, not allocated
        let lying = [0x80, 0x80, 0x80, 0x80, 0x08];
        assert!(matches!(
            snappy(&lying, &limits),
            Err(RequestError::BodyTooLarge { .. })
        ));
        let small = snap::raw::Encoder::new().compress_vec(b"hello").unwrap();
        assert_eq!(snappy(&small, &limits).unwrap(), b"hello");
        assert!(matches!(
            snappy(b"\xff\xff", &limits),
            Err(RequestError::Malformed(_))
        ));
    }
}
