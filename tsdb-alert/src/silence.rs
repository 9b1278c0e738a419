//! Silences (Alertmanager's `silence` package): matchers muting alerts between a start
//! and an end, created, updated and expired as Alertmanager 0.25 does, kept in redb.
//!
//! Update semantics (`Set`): a silence may be changed in place only if its matchers are
//! unchanged and, when active, its start is unchanged and its new end not in the past
//! (when pending, its new start not in the past); otherwise the old silence is expired
//! (unless already expired) and a new one with a new id is created. Expiring an active
//! silence ends it now; a pending one starts and ends now. Expired silences are kept for
//! the retention (Alertmanager's `--data.retention`, 120h) after their end, then dropped.

use std::collections::BTreeMap;
use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};

use crate::matcher::{MatchOp, Matcher};
use crate::model::LabelSet;
use crate::store::{StoreError, SILENCES};

/// One matcher of a silence, in the API's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceMatcher {
    /// Label name.
    pub name: String,
    /// Value or regex.
    pub value: String,
    /// `=~`/`!~` rather than `=`/`!=`.
    #[serde(rename = "isRegex")]
    pub is_regex: bool,
    /// `=`/`=~` rather than `!=`/`!~` (true when absent, as in Alertmanager).
    #[serde(rename = "isEqual", default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl SilenceMatcher {
    /// The matcher's operator.
    pub fn op(&self) -> MatchOp {
        MatchOp::from_flags(self.is_regex, self.is_equal)
    }
}

/// A silence. Times are Unix ms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// A random (v4) UUID; empty in a create request.
    pub id: String,
    /// All must match for an alert to be silenced.
    pub matchers: Vec<SilenceMatcher>,
    /// Start.
    pub starts_at_ms: i64,
    /// End.
    pub ends_at_ms: i64,
    /// Last change.
    pub updated_at_ms: i64,
    /// Author.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

/// Where a silence is in its life at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SilenceState {
    /// Mutes matching alerts.
    Active,
    /// Starts later.
    Pending,
    /// Ended.
    Expired,
}

impl SilenceState {
    /// The API's word.
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Active => "active",
            SilenceState::Pending => "pending",
            SilenceState::Expired => "expired",
        }
    }
}

impl Silence {
    /// Alertmanager's `getState`: pending before the start, expired after the end.
    pub fn state(&self, now_ms: i64) -> SilenceState {
        if now_ms < self.starts_at_ms {
            SilenceState::Pending
        } else if now_ms > self.ends_at_ms {
            SilenceState::Expired
        } else {
            SilenceState::Active
        }
    }
}

/// Why a silence operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    /// No silence has the id (Alertmanager's `ErrNotFound`).
    #[error("silence not found")]
    NotFound,
    /// The silence is invalid (Alertmanager's message, prefixed `silence invalid: `).
    #[error("silence invalid: {0}")]
    Invalid(String),
    /// The store failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Alertmanager's default `--data.retention`: how long expired silences and log entries
/// are kept.
pub const DEFAULT_RETENTION_MS: i64 = 120 * 3_600_000;

/// The silences, in memory with their compiled matchers, and in redb.
pub struct Silences {
    db: Arc<redb::Database>,
    by_id: BTreeMap<String, (Silence, Vec<Matcher>)>,
    retention_ms: i64,
}

impl std::fmt::Debug for Silences {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Silences")
            .field("count", &self.by_id.len())
            .finish()
    }
}

fn compile(s: &Silence) -> Result<Vec<Matcher>, String> {
    s.matchers
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if !crate::matcher::is_valid_label_name(&m.name) {
                return Err(format!(
                    "invalid label matcher {i}: invalid label name {:?}",
                    m.name
                ));
            }
            Matcher::new(m.op(), &m.name, &m.value).map_err(|e| {
                format!(
                    "invalid label matcher {i}: invalid regular expression {:?}: {e}",
                    m.value
                )
            })
        })
        .collect()
}

/// Alertmanager's `validateSilence`, returning the compiled matchers.
fn validate(s: &Silence) -> Result<Vec<Matcher>, String> {
    if s.id.is_empty() {
        return Err("ID missing".into());
    }
    if s.matchers.is_empty() {
        return Err("at least one matcher required".into());
    }
    let compiled = compile(s)?;
    if compiled
        .iter()
        .all(|m| matches!(m.op, MatchOp::Equal | MatchOp::Regex) && m.matches_value(""))
    {
        return Err("at least one matcher must not match the empty string".into());
    }
    if s.ends_at_ms < s.starts_at_ms {
        return Err("end time must not be before start time".into());
    }
    Ok(compiled)
}

impl Silences {
    /// Loads the silences kept in `db` (creating the table if needed).
    pub fn open(db: Arc<redb::Database>, retention_ms: i64) -> Result<Silences, StoreError> {
        crate::store::ensure_tables(&db)?;
        let mut by_id = BTreeMap::new();
        {
            let txn = db.begin_read()?;
            let table = txn.open_table(SILENCES)?;
            for row in table.iter()? {
                let (_, v) = row?;
                let s: Silence = serde_json::from_slice(v.value())?;
                // Valid when stored; refused loudly rather than dropped if it no longer
                // compiles (a different regex engine).
                let m = compile(&s).map_err(|e| StoreError(format!("silence {}: {e}", s.id)))?;
                by_id.insert(s.id.clone(), (s, m));
            }
        }
        Ok(Silences {
            db,
            by_id,
            retention_ms,
        })
    }

    fn persist(&mut self, s: Silence, matchers: Vec<Matcher>) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(&s)?;
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(SILENCES)?;
            table.insert(s.id.as_str(), bytes.as_slice())?;
        }
        txn.commit()?;
        self.by_id.insert(s.id.clone(), (s, matchers));
        Ok(())
    }

    /// Stores `s` after validation, `updated_at` set to now.
    fn set_silence(&mut self, mut s: Silence, now_ms: i64) -> Result<(), SilenceError> {
        s.updated_at_ms = now_ms;
        let matchers = validate(&s).map_err(SilenceError::Invalid)?;
        self.persist(s, matchers)?;
        Ok(())
    }

    /// Alertmanager's `Set`: creates (empty id) or updates a silence, returning its id (a
    /// new one when the update had to expire the old silence).
    pub fn set(&mut self, mut s: Silence, now_ms: i64) -> Result<String, SilenceError> {
        if !s.id.is_empty() {
            let Some((prev, _)) = self.by_id.get(&s.id) else {
                return Err(SilenceError::NotFound);
            };
            let prev = prev.clone();
            if can_update(&prev, &s, now_ms) {
                let id = s.id.clone();
                self.set_silence(s, now_ms)?;
                return Ok(id);
            }
            // Validate the replacement before expiring what it replaces.
            let mut probe = s.clone();
            probe.id = "probe".into();
            validate(&probe).map_err(SilenceError::Invalid)?;
            if prev.state(now_ms) != SilenceState::Expired {
                self.expire(&prev.id, now_ms)?;
            }
        }
        s.id = uuid::Uuid::new_v4().to_string();
        if s.starts_at_ms < now_ms {
            s.starts_at_ms = now_ms;
        }
        let id = s.id.clone();
        self.set_silence(s, now_ms)?;
        Ok(id)
    }

    /// Alertmanager's `Expire`: an active silence ends now, a pending one starts and ends
    /// now, an expired one is left alone.
    pub fn expire(&mut self, id: &str, now_ms: i64) -> Result<(), SilenceError> {
        let Some((s, _)) = self.by_id.get(id) else {
            return Err(SilenceError::NotFound);
        };
        let mut s = s.clone();
        match s.state(now_ms) {
            SilenceState::Expired => return Ok(()),
            SilenceState::Active => s.ends_at_ms = now_ms,
            SilenceState::Pending => {
                s.starts_at_ms = now_ms;
                s.ends_at_ms = now_ms;
            }
        }
        self.set_silence(s, now_ms)
    }

    /// The silence with this id.
    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.by_id.get(id).map(|(s, _)| s)
    }

    /// Every silence, in id order.
    pub fn all(&self) -> impl Iterator<Item = &Silence> {
        self.by_id.values().map(|(s, _)| s)
    }

    /// Ids of the active silences muting `labels` at `now_ms`, sorted.
    pub fn mutes(&self, labels: &LabelSet, now_ms: i64) -> Vec<String> {
        self.by_id
            .values()
            .filter(|(s, m)| {
                s.state(now_ms) == SilenceState::Active && crate::matcher::matches_all(m, labels)
            })
            .map(|(s, _)| s.id.clone())
            .collect()
    }

    /// Drops silences whose end is at least the retention ago; returns how many.
    pub fn gc(&mut self, now_ms: i64) -> Result<usize, StoreError> {
        let dead: Vec<String> = self
            .by_id
            .values()
            .filter(|(s, _)| s.ends_at_ms.saturating_add(self.retention_ms) <= now_ms)
            .map(|(s, _)| s.id.clone())
            .collect();
        if dead.is_empty() {
            return Ok(0);
        }
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(SILENCES)?;
            for id in &dead {
                table.remove(id.as_str())?;
            }
        }
        txn.commit()?;
        for id in &dead {
            self.by_id.remove(id);
        }
        Ok(dead.len())
    }

    /// How many silences the store holds (for tests and metrics).
    pub fn stored_count(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(SILENCES)?.len()?)
    }
}

/// Alertmanager's `canUpdate`.
fn can_update(a: &Silence, b: &Silence, now_ms: i64) -> bool {
    if a.matchers != b.matchers {
        return false;
    }
    match a.state(now_ms) {
        SilenceState::Active => {
            // Compared in whole seconds, as Alertmanager does.
            a.starts_at_ms.div_euclid(1000) == b.starts_at_ms.div_euclid(1000)
                && b.ends_at_ms >= now_ms
        }
        SilenceState::Pending => b.starts_at_ms >= now_ms,
        SilenceState::Expired => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Arc<redb::Database>) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let db =
            redb::Database::create(dir.path().join("am.redb")).unwrap_or_else(|e| panic!("{e}"));
        (dir, Arc::new(db))
    }

    fn silence(matchers: &[(&str, &str)], start: i64, end: i64) -> Silence {
        Silence {
            id: String::new(),
            matchers: matchers
                .iter()
                .map(|(n, v)| SilenceMatcher {
                    name: n.to_string(),
                    value: v.to_string(),
                    is_regex: false,
                    is_equal: true,
                })
                .collect(),
            starts_at_ms: start,
            ends_at_ms: end,
            updated_at_ms: 0,
            created_by: "me".into(),
            comment: "c".into(),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn lifecycle_and_muting() {
        let (_dir, db) = db();
        let mut s = Silences::open(db, DEFAULT_RETENTION_MS).unwrap_or_else(|e| panic!("{e}"));
        let id = s
            .set(silence(&[("job", "a")], 1_000, 5_000), 2_000)
            .unwrap_or_default();
        assert_eq!(id.len(), 36);
        let sil = s.get(&id).cloned().unwrap_or_else(|| panic!("missing"));
        // A start in the past is moved to now.
        assert_eq!(sil.starts_at_ms, 2_000);
        assert_eq!(sil.state(3_000), SilenceState::Active);
        assert_eq!(s.mutes(&labels(&[("job", "a")]), 3_000), vec![id.clone()]);
        assert!(s.mutes(&labels(&[("job", "b")]), 3_000).is_empty());
        assert!(s.mutes(&labels(&[("job", "a")]), 5_001).is_empty());
        assert_eq!(sil.state(5_001), SilenceState::Expired);
        s.expire(&id, 3_000).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.mutes(&labels(&[("job", "a")]), 3_001).is_empty());
        assert_eq!(s.get(&id).map(|s| s.ends_at_ms), Some(3_000));
        assert_eq!(s.expire("nope", 3_000), Err(SilenceError::NotFound));
    }

    #[test]
    fn update_semantics() {
        let (_dir, db) = db();
        let mut s = Silences::open(db, DEFAULT_RETENTION_MS).unwrap_or_else(|e| panic!("{e}"));
        let id = s
            .set(silence(&[("job", "a")], 1_000, 10_000), 1_000)
            .unwrap_or_default();
        // Same matchers and start, a later end: updated in place.
        let mut upd = s.get(&id).cloned().unwrap_or_else(|| panic!("missing"));
        upd.ends_at_ms = 20_000;
        upd.comment = "longer".into();
        assert_eq!(s.set(upd, 2_000).as_deref(), Ok(id.as_str()));
        assert_eq!(s.get(&id).map(|s| s.ends_at_ms), Some(20_000));
        // Changed matchers of an active silence: the old one expires, a new one is made.
        let mut changed = s.get(&id).cloned().unwrap_or_else(|| panic!("missing"));
        changed.matchers = silence(&[("job", "b")], 0, 0).matchers;
        let new_id = s.set(changed, 3_000).unwrap_or_default();
        assert_ne!(new_id, id);
        assert_eq!(
            s.get(&id).map(|s| s.state(3_001)),
            Some(SilenceState::Expired)
        );
        assert_eq!(
            s.get(&new_id).map(|s| s.state(3_001)),
            Some(SilenceState::Active)
        );
        // A pending silence is updated in place while its start stays in the future.
        let pid = s
            .set(silence(&[("x", "y")], 50_000, 60_000), 3_000)
            .unwrap_or_default();
        let mut p = s.get(&pid).cloned().unwrap_or_else(|| panic!("missing"));
        p.starts_at_ms = 40_000;
        assert_eq!(s.set(p, 4_000).as_deref(), Ok(pid.as_str()));
        // Expiring a pending silence starts and ends it now.
        s.expire(&pid, 5_000).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.get(&pid).map(|s| (s.starts_at_ms, s.ends_at_ms)),
            Some((5_000, 5_000))
        );
        // Unknown ids are not created.
        let mut unknown = silence(&[("a", "b")], 0, 9_000);
        unknown.id = "0000".into();
        assert_eq!(s.set(unknown, 5_000), Err(SilenceError::NotFound));
    }

    #[test]
    fn validation_is_alertmanagers() {
        let (_dir, db) = db();
        let mut s = Silences::open(db, DEFAULT_RETENTION_MS).unwrap_or_else(|e| panic!("{e}"));
        let err =
            |r: Result<String, SilenceError>| r.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            err(s.set(silence(&[], 0, 10), 0)),
            "silence invalid: at least one matcher required"
        );
        assert_eq!(
            err(s.set(silence(&[("a", "")], 0, 10), 0)),
            "silence invalid: at least one matcher must not match the empty string"
        );
        assert!(err(s.set(silence(&[("a-b", "x")], 0, 10), 0)).contains("invalid label name"));
        let mut re = silence(&[("a", "(")], 0, 10);
        re.matchers[0].is_regex = true;
        assert!(err(s.set(re, 0)).contains("invalid regular expression"));
    }

    #[test]
    fn survive_reopen_and_gc() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("am.redb");
        let id;
        {
            let db = Arc::new(redb::Database::create(&path).unwrap_or_else(|e| panic!("{e}")));
            let mut s = Silences::open(db, 1_000).unwrap_or_else(|e| panic!("{e}"));
            id = s
                .set(silence(&[("job", "a")], 0, 5_000), 0)
                .unwrap_or_default();
        }
        let db = Arc::new(redb::Database::create(&path).unwrap_or_else(|e| panic!("{e}")));
        let mut s = Silences::open(db, 1_000).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.get(&id).map(|s| s.ends_at_ms), Some(5_000));
        assert_eq!(s.gc(5_999), Ok(0));
        assert_eq!(s.gc(6_000), Ok(1));
        assert_eq!(s.stored_count(), Ok(0));
        assert!(s.get(&id).is_none());
    }
}
