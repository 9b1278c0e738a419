//! The storage engine of the tsdb time-series database.
//!
//! This crate will hold (see `../shared/DESIGN.md` and issue 4): the `Db` handle that
//! applications embed, the write-ahead log, the in-memory head, immutable memory-mapped
//! segments, and later the compactor, downsampling and retention. It builds on
//! `tsdb-compress` for chunk encoding and `tsdb-index` for series lookup.
