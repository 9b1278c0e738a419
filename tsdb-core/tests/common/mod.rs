//! Helpers shared by the integration tests (each test file compiles this module on its
//! own, so not every file uses every helper).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

/// A start time for test data: 2023-11-14, a whole second.
pub const T0: i64 = 1_700_000_000_000;
