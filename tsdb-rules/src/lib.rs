//! Prometheus rule files for the tsdb engine, as a synchronous library: an embedder drives
//! evaluation with its own clock and storage, so the same code runs in the server, in
//! `tsdb test rules` and under a test's fake clock.
//!
//! Module map: [`rulefile`] reads and checks rule files (rulefmt), [`check`] prints
//! `promtool check rules`'s report; [`template`] is Prometheus's template language for
//! annotations and labels; [`recording`] and [`alerting`] evaluate one rule, [`group`]
//! evaluates a group in order (stale markers, `ALERTS`/`ALERTS_FOR_STATE`, `for` state
//! restored after a restart), [`sink`] is where results are written, [`manager`] holds the
//! loaded groups and reloads them keeping state, [`api`] answers `/api/v1/rules` and
//! `/api/v1/alerts`, [`unittest`] runs `promtool test rules` files.
//!
//! Stable API: [`RuleManager`], [`RuleGroup`], [`RuleOptions`], [`EvalOutcome`],
//! [`NotifierAlert`], [`SampleSink`], [`check_rules_files`], [`rulefile`], [`api`].
#![forbid(unsafe_code)]

pub mod alerting;
pub mod api;
pub mod check;
pub mod duration;
pub mod group;
pub mod manager;
pub mod recording;
pub mod rule;
pub mod rulefile;
pub mod sink;
pub mod template;
pub mod unittest;
mod util;

pub use alerting::{Alert, AlertState, AlertingRule, NotifierAlert};
pub use check::{check_rules_files, CheckOptions, CheckReport};
pub use group::{
    eval_timestamp_ms, group_key, EvalOutcome, GroupStats, Rule, RuleGroup, RuleOptions,
};
pub use manager::RuleManager;
pub use rule::{EvalError, Health, RuleStatus};
pub use rulefile::{load_rule_file, parse_rule_file, RuleFile, RuleFileError};
pub use sink::{Sample, SampleSink};
pub use util::LabelMap;
