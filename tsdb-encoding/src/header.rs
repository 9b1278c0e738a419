//! [`Header`]: the magic bytes, version byte and reserved bytes a file or block starts
//! with, named once per format instead of as offsets and literals at every use.

use crate::cursor::Cursor;
use crate::error::{DecodeError, Result};

/// The header of a format: four magic bytes that name it, a version byte, then
/// `reserved` zero bytes (room for flags a later version may define).
///
/// A reader accepts every version from `oldest_version` to `version` and refuses the
/// rest as [`crate::ErrorKind::Unsupported`], which tells "written by a newer build" apart
/// from damage; it refuses a non-zero reserved byte the same way. Declare one `const` per
/// format beside its layout constants:
///
/// ```
/// use tsdb_encoding::{Cursor, Header};
///
/// const BLOCK: Header = Header {
///     magic: *b"TSZB",
///     name: "chunk block",
///     version_field: "block version",
///     version: 1,
///     oldest_version: 1,
///     reserved: 0,
/// };
/// let mut out = Vec::new();
/// BLOCK.write(&mut out);
/// out.push(7);
/// assert_eq!(out.len(), BLOCK.len() + 1);
/// let mut c = Cursor::new(&out);
/// assert_eq!(BLOCK.read(&mut c)?, 1); // the version found
/// assert_eq!(c.u8("first field")?, 7);
/// # Ok::<(), tsdb_encoding::DecodeError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Four bytes that identify the format.
    pub magic: [u8; 4],
    /// The format's name, for the error on a wrong magic ("not a {name}").
    pub name: &'static str,
    /// The version field's name in [`crate::ErrorKind::Unsupported`] errors.
    pub version_field: &'static str,
    /// The version this build writes, and the newest it reads.
    pub version: u8,
    /// The oldest version this build reads.
    pub oldest_version: u8,
    /// Zero bytes after the version byte.
    pub reserved: usize,
}

impl Header {
    /// Offset of the magic bytes.
    pub const MAGIC_OFFSET: usize = 0;
    /// Offset of the version byte.
    pub const VERSION_OFFSET: usize = 4;

    /// Bytes of the header: the offset of the first field after it.
    #[expect(clippy::len_without_is_empty, reason = "a header is never empty")]
    pub const fn len(&self) -> usize {
        Self::VERSION_OFFSET + 1 + self.reserved
    }

    /// Appends the header with [`Header::version`].
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.magic);
        out.push(self.version);
        out.resize(out.len() + self.reserved, 0);
    }

    /// Reads and checks the header at `c`; returns the version found, which is one this
    /// build reads.
    pub fn read(&self, c: &mut Cursor<'_>) -> Result<u8> {
        let at = c.offset();
        if c.array::<4>("magic")? != self.magic {
            return Err(DecodeError::malformed(
                at,
                format!("bad magic: not a {}", self.name),
            ));
        }
        let at = c.offset();
        let version = c.u8(self.version_field)?;
        if !(self.oldest_version..=self.version).contains(&version) {
            return Err(DecodeError::unsupported(
                at,
                self.version_field,
                u64::from(version),
            ));
        }
        for _ in 0..self.reserved {
            let at = c.offset();
            let b = c.u8("reserved header byte")?;
            if b != 0 {
                return Err(DecodeError::unsupported(at, "header flags", u64::from(b)));
            }
        }
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    const H: Header = Header {
        magic: *b"TEST",
        name: "test file",
        version_field: "test format version",
        version: 3,
        oldest_version: 2,
        reserved: 3,
    };

    fn read(bytes: &[u8]) -> Result<u8> {
        H.read(&mut Cursor::with_base(bytes, 100))
    }

    #[test]
    fn writes_what_it_reads_and_names_its_offsets() {
        let mut out = vec![];
        H.write(&mut out);
        assert_eq!(out, b"TEST\x03\0\0\0");
        assert_eq!(H.len(), out.len());
        assert_eq!(out[Header::VERSION_OFFSET], H.version);
        assert_eq!(read(&out), Ok(3));
        out[Header::VERSION_OFFSET] = 2;
        assert_eq!(read(&out), Ok(2));
    }

    #[test]
    fn refusals() {
        let e = read(b"TESX\x03\0\0\0").unwrap_err();
        assert_eq!((e.offset, e.kind), (100, ErrorKind::Malformed));
        assert_eq!(e.reason, "bad magic: not a test file");
        for v in [1, 4, 255] {
            let e = read(&[b'T', b'E', b'S', b'T', v, 0, 0, 0]).unwrap_err();
            assert_eq!(e.offset, 104);
            assert_eq!(
                e.kind,
                ErrorKind::Unsupported {
                    what: "test format version",
                    found: u64::from(v)
                }
            );
        }
        let e = read(b"TEST\x03\0\x01\0").unwrap_err();
        assert_eq!(e.offset, 106);
        assert!(matches!(
            e.kind,
            ErrorKind::Unsupported {
                what: "header flags",
                found: 1
            }
        ));
        assert_eq!(read(b"TEST\x03\0").unwrap_err().kind, ErrorKind::Malformed);
        assert_eq!(read(b"TE").unwrap_err().kind, ErrorKind::Malformed);
    }
}
