//! PromQL for the tsdb time-series engine: parse query text (or build the same trees with
//! typed operators in [`builder`]) and evaluate it over any [`Queryable`] storage, such as
//! a [`tsdb_core::Db`], with Prometheus' semantics, producing the Prometheus HTTP API's
//! result shapes ([`Value`], and [`json`] for the wire format).
//!
//! Layout: `parse` is the only module that sees the `promql-parser` crate; `nesting` bounds
//! how deeply a query may nest before anything recurses over it; `ast` is the tree the
//! evaluator runs; [`storage`] is what the engine reads (`Queryable` → one `Querier` per
//! query → `Series`); `eval/` evaluates a tree over a grid of steps (selectors, functions,
//! aggregations, binary operators, reading on the engine's shared pool); `options` holds
//! the settings both the engine and the evaluator read; `engine` holds the instant and
//! range entry points; `cancel` the token that stops a running query.
//!
//! Stable API: [`Engine`], [`EngineOptions`], [`CancelToken`], the [`storage`] traits,
//! [`parse`], [`ast`], [`builder`], [`json`], [`Value`] and [`Error`].
#![forbid(unsafe_code)]

pub mod ast;
pub mod builder;
mod cancel;
mod engine;
mod error;
mod eval;
pub mod json;
mod nesting;
mod options;
mod parse;
pub mod results_cache;
pub mod storage;
mod value;

pub use cancel::CancelToken;
pub use engine::Engine;
pub use error::{Error, Result};
pub use eval::annotations::Annotations;
pub use eval::{format_float, is_stale_nan, STALE_NAN_BITS};
pub use nesting::MAX_DEPTH;
pub use options::{EngineOptions, DEFAULT_LOOKBACK_DELTA_MS};
pub use parse::{format, parse, prettify};
pub use results_cache::{ResultsCache, ResultsCacheOptions, ResultsCacheStats};
pub use storage::Queryable;
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
