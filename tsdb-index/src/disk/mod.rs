//! The immutable on-disk index of a segment. The byte layout is specified in
//! `tsdb-index/FORMAT.md`; the constants below are the ones that document names.

pub(crate) mod read;
pub(crate) mod write;

/// First four bytes of every index file.
pub(crate) const MAGIC: [u8; 4] = *b"TSIX";
/// The format version this build writes and reads.
pub(crate) const VERSION: u8 = 1;
/// Magic, version, three reserved zero bytes.
pub(crate) const HEADER_LEN: usize = 8;
/// Section names in table-of-contents order, used in checksum errors.
pub(crate) const SECTIONS: [&str; 5] = [
    "symbols",
    "series",
    "label names",
    "label values",
    "postings",
];
/// One table-of-contents entry: offset u64, length u64, crc32 u32.
pub(crate) const TOC_ENTRY_LEN: usize = 20;
/// The table of contents at the end of the file, with its own crc32.
pub(crate) const TOC_LEN: usize = SECTIONS.len() * TOC_ENTRY_LEN + 4;
/// A label-name record: name ref, first value, value count, series count, postings
/// length (u32 each), postings offset (u64).
pub(crate) const NAME_RECORD_LEN: usize = 28;
/// A label-value record: value ref, series count, postings length (u32 each), postings
/// offset (u64).
pub(crate) const VALUE_RECORD_LEN: usize = 20;
