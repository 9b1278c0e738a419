//! An embeddable alert manager for the tsdb engine: alerts in (from `tsdb-rules` or any
//! sender of Alertmanager's v2 API), notifications out, at least once.
//!
//! Module map: [`model`] (the alert, its fingerprint, the notification every notifier
//! renders); [`config`] (Alertmanager's configuration file), [`matcher`], [`timeinterval`],
//! [`route`], [`dispatch`], [`inhibit`], [`silence`], [`nflog`]; [`manager`] puts them
//! together on a caller-given clock ([`manager::Manager`]) and [`api`] answers
//! Alertmanager's v2 API over it. The delivery side: [`receiver`] (the notifiers'
//! settings), [`outbox`] (the durable outbox and its delivery workers), [`notify`] (the
//! webhook, PagerDuty, email and phone notifiers), [`sender`] (to external Alertmanagers).
//!
//! The server's use: `Config::parse` the file, `Manager::open(config, db, options, now)`
//! on a shared `redb::Database`, spawn [`manager::run`] with a
//! [`manager::NotificationSink`] that enqueues into the outbox on the same database
//! (`Outbox::enqueue_in`), and route the v2 API to the [`api`] functions (holding the
//! manager's lock); `Manager::reload` on SIGHUP.

pub mod api;
pub mod config;
pub mod dispatch;
pub mod inhibit;
pub mod manager;
pub mod matcher;
pub mod model;
pub mod nflog;
pub mod notify;
pub mod outbox;
pub mod receiver;
pub mod route;
pub mod sender;
pub mod silence;
mod store;
pub mod timeinterval;

pub use model::{fingerprint, Alert, Fingerprint, LabelSet, Notification};
pub use notify::Notifiers;
pub use outbox::{Outbox, OutboxOptions, OutboxStats};
pub use receiver::{Global, Receiver};
/// The embedded store the manager and the outbox keep their state in (the caller opens the
/// database and shares it), re-exported so that embedders use the same version.
pub use redb;
pub use store::StoreError;
