//! PromQL for the tsdb time-series engine: parse query text (or build the same trees with
//! typed operators in [`builder`]) and evaluate it over a [`tsdb_core::Db`] with
//! Prometheus' semantics, producing the Prometheus HTTP API's result shapes
//! ([`Value`], and [`json`] for the wire format).
//!
//! Layout: `parse` is the only module that sees the `promql-parser` crate; `ast` is the
//! tree the evaluator runs; `eval/` evaluates it over a grid of steps (selectors,
//! functions, aggregations, binary operators); `engine` holds limits and the instant and
//! range entry points.
#![forbid(unsafe_code)]

pub mod ast;
pub mod builder;
mod engine;
mod error;
mod eval;
pub mod json;
mod parse;
mod value;

pub use engine::{Engine, EngineOptions, DEFAULT_LOOKBACK_DELTA_MS};
pub use error::{Error, Result};
pub use eval::{format_float, is_stale_nan, STALE_NAN_BITS};
pub use parse::parse;
pub use value::{InstantSample, Point, Series, Value};

/// The root README's examples, compiled and run as doc tests (here because this crate
/// sits above every other library crate).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// This crate's README example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;
