//! Prometheus rule files for the tsdb engine, as a synchronous library: an embedder drives
//! evaluation with its own clock and storage, so the same code runs in the server, in
//! `tsdb test rules` and under a test's fake clock.
//!
//! Module map: [`rulefile`] reads and checks rule files (rulefmt), [`check`] prints
//! `promtool check rules`'s report; `template` is Prometheus's template language for
//! annotations and labels; [`recording`] and [`alerting`] evaluate one rule, [`group`]
//! evaluates a group in order (stale markers, `ALERTS`/`ALERTS_FOR_STATE`, `for` state
//! restored after a restart), [`sink`] is where results are written, [`manager`] holds the
//! loaded groups, reloads them keeping state and answers `/api/v1/rules` and
//! `/api/v1/alerts` ([`api`]).
#![forbid(unsafe_code)]

pub mod duration;
pub mod rulefile;
mod template_shim;
use template_shim as template;
