//! The immutable on-disk index of a segment. The byte layout is specified in
//! `tsdb-index/FORMAT.md`; the constants below are the ones that document names.

pub(crate) mod read;
pub(crate) mod write;

use tsdb_encoding::Header;

/// Magic `TSIX`, the version, three reserved zero bytes. This build writes version 2 and
/// also reads version 1 (no scopes section).
pub(crate) const HEADER: Header = Header {
    magic: *b"TSIX",
    name: "tsdb index",
    version_field: "index format version",
    version: 2,
    oldest_version: 1,
    reserved: 3,
};
/// Offset of the first section.
pub(crate) const HEADER_LEN: usize = HEADER.len();
/// Section names in table-of-contents order, used in checksum errors. Version 1 files
/// have the first five.
pub(crate) const SECTIONS: [&str; 6] = [
    "symbols",
    "series",
    "label names",
    "label values",
    "postings",
    "scopes",
];
/// Number of sections of a version 1 file.
pub(crate) const SECTIONS_V1: usize = 5;
/// One table-of-contents entry: offset u64, length u64, crc32 u32.
pub(crate) const TOC_ENTRY_LEN: usize = 20;
/// The table of contents at the end of the file, with its own crc32, for `sections`
/// sections.
pub(crate) const fn toc_len(sections: usize) -> usize {
    sections * TOC_ENTRY_LEN + 4
}
/// A label-name record: name ref, first value, value count, series count, postings
/// length (u32 each), postings offset (u64).
pub(crate) const NAME_RECORD_LEN: usize = 28;
/// A label-value record: value ref, series count, postings length (u32 each), postings
/// offset (u64).
pub(crate) const VALUE_RECORD_LEN: usize = 20;
/// A scope record: metric ref, first series, series count, first name record, name
/// record count (u32 each).
pub(crate) const SCOPE_RECORD_LEN: usize = 20;
/// A scope name record: name ref, flags, first value record, value record count.
pub(crate) const SCOPE_NAME_RECORD_LEN: usize = 16;
/// A scope value record: value ref (u32), bitset offset (u64).
pub(crate) const SCOPE_VALUE_RECORD_LEN: usize = 12;
