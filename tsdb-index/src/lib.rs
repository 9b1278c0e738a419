//! Label model, matchers and the inverted series index of the tsdb engine.
//!
//! This crate will hold (see `../shared/DESIGN.md` and issue 3): validated, compactly
//! stored label sets; the four Prometheus matcher kinds with anchored regexes; a mutable
//! in-memory index for the head and an immutable on-disk index for segments, both mapping
//! label pairs to roaring bitmaps of dense `u32` series ids. It knows nothing about samples.
#![forbid(unsafe_code)]
