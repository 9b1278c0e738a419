//! The notification log (Alertmanager's `nflog` and `DedupStage`): per aggregation group
//! and receiver, which alerts were firing and which resolved at the last notification, and
//! when. A flush is notified only when it tells the receiver something new (a firing alert
//! it has not been told about, all alerts resolved, or, for receivers that want resolved
//! notifications, a newly resolved alert), or when `repeat_interval` has passed.
//!
//! Entries live in redb (`am_nflog`) so that a restart does not page again for what was
//! already notified; they are dropped a retention after they were written.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use crate::store::{StoreError, NFLOG};

/// What was last notified for one group and receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Fingerprints firing at that notification.
    pub firing: BTreeSet<u64>,
    /// Fingerprints resolved at that notification.
    pub resolved: BTreeSet<u64>,
    /// When (Unix ms).
    pub timestamp_ms: i64,
    /// When the entry is dropped (Unix ms).
    pub expires_at_ms: i64,
}

/// Alertmanager's `DedupStage.needsUpdate`.
pub fn needs_update(
    entry: Option<&Entry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    repeat_interval_ms: i64,
    send_resolved: bool,
    now_ms: i64,
) -> bool {
    let Some(entry) = entry else {
        // Never notified: only firing alerts are news.
        return !firing.is_empty();
    };
    if !firing.is_subset(&entry.firing) {
        return true;
    }
    if firing.is_empty() {
        // Everything resolved: notify if the receiver was told about firing alerts
        // (irrespective of send_resolved, to clear the log).
        return !entry.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&entry.resolved) {
        return true;
    }
    entry.timestamp_ms < now_ms.saturating_sub(repeat_interval_ms)
}

/// The log's key for a group and receiver.
fn key(group_key: &str, receiver: &str) -> String {
    format!("{group_key}\u{0}{receiver}")
}

/// The notification log, in memory and in redb.
pub struct NotificationLog {
    db: Arc<redb::Database>,
    entries: BTreeMap<String, Entry>,
    retention_ms: i64,
}

impl std::fmt::Debug for NotificationLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationLog")
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl NotificationLog {
    /// Loads the log kept in `db`.
    pub fn open(db: Arc<redb::Database>, retention_ms: i64) -> Result<NotificationLog, StoreError> {
        crate::store::ensure_tables(&db)?;
        let mut entries = BTreeMap::new();
        {
            let txn = db.begin_read()?;
            let table = txn.open_table(NFLOG)?;
            for row in table.iter()? {
                let (k, v) = row?;
                entries.insert(k.value().to_owned(), serde_json::from_slice(v.value())?);
            }
        }
        Ok(NotificationLog {
            db,
            entries,
            retention_ms,
        })
    }

    /// The entry for a group and receiver.
    pub fn get(&self, group_key: &str, receiver: &str) -> Option<&Entry> {
        self.entries.get(&key(group_key, receiver))
    }

    /// Writes entries in the caller's transaction (committed together with what the
    /// caller stores, e.g. the outbox rows of the notifications); apply them to memory with
    /// [`NotificationLog::applied`] once committed.
    pub(crate) fn write(
        &self,
        txn: &redb::WriteTransaction,
        updates: &[(String, String, Entry)],
    ) -> Result<(), StoreError> {
        let mut table = txn.open_table(NFLOG)?;
        for (group_key, receiver, entry) in updates {
            let bytes = serde_json::to_vec(entry)?;
            table.insert(key(group_key, receiver).as_str(), bytes.as_slice())?;
        }
        Ok(())
    }

    /// Records committed entries in memory.
    pub(crate) fn applied(&mut self, updates: Vec<(String, String, Entry)>) {
        for (group_key, receiver, entry) in updates {
            self.entries.insert(key(&group_key, &receiver), entry);
        }
    }

    /// A new entry written now.
    pub fn entry(&self, firing: BTreeSet<u64>, resolved: BTreeSet<u64>, now_ms: i64) -> Entry {
        Entry {
            firing,
            resolved,
            timestamp_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(self.retention_ms),
        }
    }

    /// Drops expired entries; returns how many.
    pub fn gc(&mut self, now_ms: i64) -> Result<usize, StoreError> {
        let dead: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.expires_at_ms <= now_ms)
            .map(|(k, _)| k.clone())
            .collect();
        if dead.is_empty() {
            return Ok(0);
        }
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(NFLOG)?;
            for k in &dead {
                table.remove(k.as_str())?;
            }
        }
        txn.commit()?;
        for k in &dead {
            self.entries.remove(k);
        }
        Ok(dead.len())
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u64]) -> BTreeSet<u64> {
        v.iter().copied().collect()
    }

    fn entry(firing: &[u64], resolved: &[u64], ts: i64) -> Entry {
        Entry {
            firing: set(firing),
            resolved: set(resolved),
            timestamp_ms: ts,
            expires_at_ms: i64::MAX,
        }
    }

    /// Alertmanager's `TestDedupStageNeedsUpdate` cases (notify/notify_test.go).
    #[test]
    fn needs_update_as_alertmanager() {
        let repeat = 10_000;
        let now = 100_000;
        // No entry: only firing alerts.
        assert!(needs_update(
            None,
            &set(&[2, 3, 4]),
            &set(&[]),
            repeat,
            true,
            now
        ));
        assert!(!needs_update(
            None,
            &set(&[]),
            &set(&[2, 3, 4]),
            repeat,
            true,
            now
        ));
        // New firing alert.
        let e = entry(&[1, 2, 3], &[], now - 1);
        assert!(needs_update(
            Some(&e),
            &set(&[2, 3, 4]),
            &set(&[]),
            repeat,
            true,
            now
        ));
        // Unchanged, repeat not passed.
        assert!(!needs_update(
            Some(&e),
            &set(&[1, 2, 3]),
            &set(&[]),
            repeat,
            true,
            now
        ));
        // Repeat passed.
        let old = entry(&[1, 2, 3], &[], now - repeat - 1);
        assert!(needs_update(
            Some(&old),
            &set(&[1, 2, 3]),
            &set(&[]),
            repeat,
            true,
            now
        ));
        // A firing subset with a newly resolved alert: only if send_resolved.
        let e = entry(&[1, 2, 3], &[4], now - 1);
        assert!(needs_update(
            Some(&e),
            &set(&[1, 2]),
            &set(&[3, 4]),
            repeat,
            true,
            now
        ));
        assert!(!needs_update(
            Some(&e),
            &set(&[1, 2]),
            &set(&[3, 4]),
            repeat,
            false,
            now
        ));
        // All resolved: notify if something was firing, whatever send_resolved.
        assert!(needs_update(
            Some(&e),
            &set(&[]),
            &set(&[1, 2, 3, 4]),
            repeat,
            false,
            now
        ));
        let quiet = entry(&[], &[1], now - 1);
        assert!(!needs_update(
            Some(&quiet),
            &set(&[]),
            &set(&[1, 2]),
            repeat,
            true,
            now
        ));
    }
}
