//! Prometheus rule files for the tsdb engine, as a synchronous library: an embedder drives
//! evaluation with its own clock and storage, so the same code runs in the server, in
//! `tsdb test rules` and under a test's fake clock.
//!
//! Being built (issue 15). Module map: `template` (Prometheus's template language for
//! annotations and labels), rule files and their checks, group evaluation (recording and
//! alerting rules, `for`/`keep_firing_for`, `ALERTS`/`ALERTS_FOR_STATE` and the state
//! restored from them) and the rule unit tests of `promtool test rules`.
#![forbid(unsafe_code)]
pub mod template;
