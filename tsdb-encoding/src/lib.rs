//! Binary encoding primitives shared by the tsdb formats: the chunk and block formats of
//! `tsdb-compress`, the on-disk index of `tsdb-index`, and the WAL, segment and tombstone
//! files of `tsdb-core`. One implementation of each primitive, so that every format reads
//! lengths the same careful way.
//!
//! - [`put_uvarint`], [`put_varint`], [`zigzag`], [`unzigzag`]: LEB128 and zigzag varints.
//! - [`Cursor`]: bounds-checked reads of little-endian integers, varints, lengths and byte
//!   runs over a slice, with errors at file offsets.
//! - [`DecodeError`]: the format-neutral error (offset, [`ErrorKind`], reason) that each
//!   format crate maps into its own error type.
//! - [`check_crc`], [`append_crc`], [`split_crc`]: bodies framed by a trailing CRC32.
//! - [`Header`]: a format's magic, version byte and reserved bytes, and which versions a
//!   reader accepts.
//!
//! The models are Prometheus' `tsdb/encoding` (`Encbuf`/`Decbuf`) and tantivy's `common`
//! crate. This crate depends on no other tsdb crate.
//!
//! # Stable API
//!
//! Everything exported here is used by the format crates and changes only with them. The
//! byte encodings (LEB128, zigzag, IEEE CRC-32 little-endian) are fixed: every tsdb file
//! format is defined in terms of them.
//!
//! ```
//! use tsdb_encoding::{append_crc, check_crc, put_uvarint, put_varint, Cursor};
//!
//! let mut out = Vec::new();
//! put_uvarint(&mut out, 300);
//! put_varint(&mut out, -2);
//! out.extend_from_slice(b"ok");
//! append_crc(&mut out);
//!
//! let body = check_crc(&out, "example")?;
//! let mut c = Cursor::new(body);
//! assert_eq!(c.uvarint("count")?, 300);
//! assert_eq!(c.varint("delta")?, -2);
//! assert_eq!(c.bytes(2, "tag")?, b"ok");
//! assert!(c.bytes(1, "more").is_err()); // nothing is read past the end
//! # Ok::<(), tsdb_encoding::DecodeError>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
#![deny(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

mod crc;
mod cursor;
mod error;
mod header;
mod varint;

pub use crc::{append_crc, check_crc, split_crc, CRC_LEN};
pub use cursor::Cursor;
pub use error::{DecodeError, ErrorKind, Result};
pub use header::Header;
pub use varint::{put_uvarint, put_varint, unzigzag, zigzag, MAX_VARINT_LEN};
