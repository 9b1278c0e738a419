//! The manager's durable state in the caller's redb database: silences, the notification
//! log and the known alerts, each a table named `am_*` (the outbox's tables in the same
//! database are `outbox_*`). Values are JSON (serde), so a stored row stays readable by a
//! person with `redb`'s tools and fields can be added with `#[serde(default)]`.
//!
//! Every change is one redb write transaction, committed (fsync'd) before the caller is
//! answered: a silence acknowledged by the API, or a notification logged as sent, survives
//! a crash.

use redb::TableDefinition;

/// Silences by id.
pub(crate) const SILENCES: TableDefinition<&str, &[u8]> = TableDefinition::new("am_silences");
/// Notification log entries by `group key \u{0} receiver`.
pub(crate) const NFLOG: TableDefinition<&str, &[u8]> = TableDefinition::new("am_nflog");
/// Known alerts by fingerprint.
pub(crate) const ALERTS: TableDefinition<u64, &[u8]> = TableDefinition::new("am_alerts");

/// A failure of the durable store (redb) or of a stored row's decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("alert manager store: {0}")]
pub struct StoreError(pub String);

macro_rules! store_error_from {
    ($($t:ty),*) => {
        $(impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError(e.to_string())
            }
        })*
    };
}
store_error_from!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    serde_json::Error
);

/// Creates the manager's tables if they are missing (a read of a missing table fails).
pub(crate) fn ensure_tables(db: &redb::Database) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        txn.open_table(SILENCES)?;
        txn.open_table(NFLOG)?;
        txn.open_table(ALERTS)?;
    }
    txn.commit()?;
    Ok(())
}
