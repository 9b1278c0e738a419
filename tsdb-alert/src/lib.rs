//! An embeddable alert manager for the tsdb engine: alerts in (from `tsdb-rules` or any
//! sender of Alertmanager's v2 API), notifications out, at least once.
//!
//! Being built (issue 15). Module map: [`model`] (the alert, its fingerprint, the
//! notification every notifier renders); Alertmanager's configuration, the route tree,
//! aggregation groups, inhibition and silences; the durable outbox (redb) and its delivery
//! workers; the webhook, PagerDuty, email and phone notifiers.

pub mod api;
pub mod config;
pub mod dispatch;
pub mod inhibit;
pub mod manager;
pub mod matcher;
pub mod model;
pub mod nflog;
pub mod receiver;
pub mod route;
pub mod silence;
mod store;
pub mod timeinterval;

pub use model::{fingerprint, Alert, Fingerprint, LabelSet, Notification};
pub use receiver::{Global, Receiver};
pub use store::StoreError;
