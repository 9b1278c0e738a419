//! Report commands and benchmark support for the tsdb engine.
//!
//! Peers are measured in the same run as our code so that ratios, not absolute figures
//! from a noisy shared machine, carry the comparison. Results live in `RESULTS.md`.
#![forbid(unsafe_code)]

pub mod codecs;
pub mod core_load;
pub mod data;
pub mod exposition;
pub mod index_fleet;
pub mod input;
pub mod instr_compare;
pub mod query_fleet;
pub mod rules_fleet;
