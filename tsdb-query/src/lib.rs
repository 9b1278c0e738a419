//! PromQL front end and query operators of the tsdb time-series database.
//!
//! This crate will hold (see `../shared/DESIGN.md` and issue 5): parsing with the
//! `promql-parser` crate behind one module, a plan of query operators, and evaluation over
//! a `tsdb-core` querier snapshot with Prometheus semantics.
#![forbid(unsafe_code)]
