//! Opening a data directory: the lock, the manifest (trusted; rebuilt from the directory
//! listing only when it is missing or damaged, with a report), the live segments
//! (leftovers of interrupted steps removed, damaged ones set aside), WAL replay into the
//! head, and the maintenance owner. Read-only opens do the same reading and no writing.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tsdb_compress::ChunkOptions;

use super::persist::segment_name;
use super::{cold, Db, Inner, PersistState, State, LOCK_FILE, SEGMENTS_DIR, WAL_DIR};
use crate::deletes;
use crate::error::{io_err, Error, IoOp, Result};
use crate::fs::{create_dir_all_durable, Fs, FsLock};
use crate::head::Head;
use crate::maintenance::Maintenance;
use crate::manifest::{Manifest, SegmentEntry};
use crate::options::Options;
use crate::segment::write::TMP_SUFFIX;
use crate::segment::Segment;
use crate::wal::{self, Lsn, Record, RecoveryReport, Wal, WalOptions};

/// How the manifest was found when the database was opened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManifestStatus {
    /// Read and trusted.
    Loaded {
        /// Its commit counter.
        generation: u64,
    },
    /// A new, empty data directory: a manifest was written.
    Created,
    /// Missing or damaged, and rebuilt from the segment directories found (a directory
    /// written before manifests existed, or a damaged disk). Every segment directory
    /// that opened was taken as live, so segments a crashed compaction left behind
    /// could be counted twice (reads deduplicate equal timestamps).
    Rebuilt {
        /// Why it was rebuilt.
        reason: String,
        /// Segments found.
        segments: usize,
    },
}

/// What opening found and did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OpenReport {
    /// The WAL replay.
    pub wal: RecoveryReport,
    /// The manifest.
    pub manifest: ManifestStatus,
    /// Segment directories removed because the manifest does not list them (leftovers of
    /// a persist or compaction that crashed before its commit; their data is elsewhere).
    pub removed_leftovers: Vec<PathBuf>,
    /// Segments left out because they failed their checks or are missing, with why;
    /// left on disk for an operator.
    pub set_aside: Vec<(PathBuf, String)>,
}

/// WAL series ref -> head id while replaying. Refs come from a counter, so they are
/// dense: a vector serves them (a hash map per sample cost about 30 % of replay); a
/// stray huge ref falls back to the map.
#[derive(Default)]
struct RefMap {
    dense: Vec<u32>,
    sparse: HashMap<u64, tsdb_index::SeriesId>,
}

impl RefMap {
    /// Largest ref kept in the vector (64 MiB of it at most).
    const DENSE_LIMIT: u64 = 1 << 24;
    const NONE: u32 = u32::MAX;

    fn insert(&mut self, r: u64, id: tsdb_index::SeriesId) {
        match usize::try_from(r) {
            Ok(i) if r < Self::DENSE_LIMIT => {
                if self.dense.len() <= i {
                    self.dense.resize(i + 1, Self::NONE);
                }
                if let Some(slot) = self.dense.get_mut(i) {
                    *slot = id;
                }
            }
            _ => {
                self.sparse.insert(r, id);
            }
        }
    }

    fn get(&self, r: u64) -> Option<tsdb_index::SeriesId> {
        match usize::try_from(r) {
            Ok(i) if r < Self::DENSE_LIMIT => {
                self.dense.get(i).copied().filter(|&id| id != Self::NONE)
            }
            _ => self.sparse.get(&r).copied(),
        }
    }
}

fn lock_dir(fs: &dyn Fs, dir: &Path) -> Result<FsLock> {
    let path = dir.join(LOCK_FILE);
    fs.lock(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => Error::Locked { path: path.clone() },
        _ => Error::io(IoOp::Open, &path, e),
    })
}

fn validate(options: &Options) -> Result<ChunkOptions> {
    if options.block_range_ms <= 0 {
        return Err(Error::invalid_argument("block_range_ms must be positive"));
    }
    if options.out_of_order_window_ms < 0 || options.max_future_ms < 0 {
        return Err(Error::invalid_argument(
            "out_of_order_window_ms and max_future_ms must not be negative",
        ));
    }
    let chunk_options = ChunkOptions {
        max_samples: options.chunk_max_samples,
    };
    tsdb_compress::ChunkAppender::new(chunk_options)
        .map_err(|e| Error::invalid_argument(format!("chunk_max_samples: {e}")))?;
    Ok(chunk_options)
}

/// The segments a data directory holds, as the manifest says (or as rebuilt).
struct Segments {
    manifest: Manifest,
    status: ManifestStatus,
    open: Vec<Arc<Segment>>,
    set_aside: Vec<(PathBuf, String)>,
    removed: Vec<PathBuf>,
}

impl Segments {
    fn replay_rule(&self) -> ReplayRule {
        ReplayRule {
            persisted_until: self.manifest.persisted_until,
            persisted_lsn: self.manifest.persisted_lsn,
            legacy: matches!(self.status, ManifestStatus::Rebuilt { .. }),
        }
    }
}

/// Loads the manifest and opens its segments, each from its tier (`cold`: the cold
/// directory, if configured). `write`: remove leftovers and commit a rebuilt, new or
/// repaired manifest; otherwise change nothing.
fn load_segments(fs: &dyn Fs, dir: &Path, cold: Option<&Path>, write: bool) -> Result<Segments> {
    let seg_dir = dir.join(SEGMENTS_DIR);
    if write {
        create_dir_all_durable(fs, &seg_dir).map_err(io_err(IoOp::CreateDir, &seg_dir))?;
    }
    let mut entries = match fs.list_dir(&seg_dir) {
        Ok(entries) => entries,
        Err(e) if !write && e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(IoOp::ListDir, &seg_dir, e)),
    };
    entries.retain(|e| e.is_dir);
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    // the cold directory must be there (an unmounted disk is an error, not an empty
    // tier); its `segments/` may be missing only while nothing is listed in it
    let cold_seg_dir = cold.map(cold::cold_segments_dir);
    let mut cold_found = Vec::new();
    let mut cold_missing = None;
    if let (Some(c), Some(cs)) = (cold, &cold_seg_dir) {
        cold::check_exists(fs, c)?;
        match fs.list_dir(cs) {
            Ok(mut v) => {
                v.retain(|e| e.is_dir);
                v.sort_by(|a, b| a.name.cmp(&b.name));
                cold_found = v;
            }
            Err(e) => cold_missing = Some(e),
        }
    }
    let cold_found = cold_found.as_slice();
    let cold_found_in = cold_seg_dir.as_deref().map(|d| (d, cold_found));

    let (mut manifest, status) = match Manifest::load(fs, dir) {
        Ok(Some(m)) => {
            let generation = m.generation;
            (m, ManifestStatus::Loaded { generation })
        }
        Ok(None)
            if !entries
                .iter()
                .chain(cold_found)
                .any(|e| e.name.parse::<u32>().is_ok()) =>
        {
            (Manifest::empty(), ManifestStatus::Created)
        }
        Ok(None) => rebuild(
            fs,
            &seg_dir,
            &entries,
            cold_found_in,
            "no MANIFEST file".into(),
        ),
        Err(e @ (Error::Corruption { .. } | Error::UnsupportedFormat { .. })) => rebuild(
            fs,
            &seg_dir,
            &entries,
            cold_found_in,
            format!("MANIFEST unreadable: {e}"),
        ),
        Err(e) => return Err(e),
    };
    let cold_listed = manifest
        .segments
        .iter()
        .filter(|s| manifest.is_cold(s.seq))
        .count();
    // a new cold tier (no `segments/` in it yet, nothing listed there)
    let cold_new = cold_listed == 0
        && cold_missing
            .as_ref()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound);
    match (&cold_seg_dir, cold_missing) {
        (None, _) if cold_listed > 0 => {
            return Err(Error::ColdTierNotConfigured {
                manifest: dir.join(crate::manifest::MANIFEST_FILE),
                segments: cold_listed,
            })
        }
        (Some(cs), Some(source)) if !cold_new => {
            return Err(Error::ColdDirUnavailable {
                path: cs.clone(),
                source,
            })
        }
        (Some(cs), Some(_)) if write => {
            create_dir_all_durable(fs, cs).map_err(io_err(IoOp::CreateDir, cs))?;
        }
        _ => {}
    }

    let mut open = Vec::new();
    let mut set_aside = Vec::new();
    let mut kept = HashSet::new();
    let mut back_to_hot = Vec::new();
    for entry in &manifest.segments {
        let name = segment_name(entry.seq);
        let hot_path = seg_dir.join(&name);
        let path = match &cold_seg_dir {
            Some(cs) if manifest.is_cold(entry.seq) => cs.join(&name),
            _ => hot_path.clone(),
        };
        match open_listed(fs, &path, entry) {
            Ok(seg) => open.push(seg),
            // a cold copy gone while the hot copy it was made from is whole: read that
            // one and list it hot again (see `cold.rs`)
            Err(reason) if path != hot_path => match open_listed(fs, &hot_path, entry) {
                Ok(seg) => {
                    open.push(seg);
                    back_to_hot.push(entry.seq);
                }
                Err(_) => {
                    kept.insert(name);
                    set_aside.push((path, reason));
                }
            },
            Err(reason) => {
                kept.insert(name);
                set_aside.push((path, reason));
            }
        }
    }
    for seq in &back_to_hot {
        manifest.cold.remove(seq);
    }
    if write && (!matches!(status, ManifestStatus::Loaded { .. }) || !back_to_hot.is_empty()) {
        manifest.commit(fs, dir)?;
    }

    let mut removed = Vec::new();
    if write {
        let listed_in = |cold_tier: bool| -> HashSet<String> {
            manifest
                .segments
                .iter()
                .filter(|s| manifest.is_cold(s.seq) == cold_tier)
                .map(|s| segment_name(s.seq))
                .collect()
        };
        let tiers = [(seg_dir.as_path(), entries.as_slice(), listed_in(false))];
        let cold_tier = cold_seg_dir
            .as_deref()
            .map(|cs| (cs, cold_found, listed_in(true)));
        for (tier_dir, found, listed) in tiers.into_iter().chain(cold_tier) {
            let mut any = false;
            for e in found {
                // a set-aside segment keeps both copies, for an operator
                if listed.contains(&e.name) || kept.contains(&e.name) {
                    continue;
                }
                // a persist, compaction or move that crashed before its commit (or a
                // `.tmp` directory it was writing), or the copy a move's commit replaced:
                // its data is in the WAL or in listed segments
                let path = tier_dir.join(&e.name);
                fs.remove_dir_all(&path)
                    .map_err(io_err(IoOp::Remove, &path))?;
                any = true;
                if !e.name.ends_with(TMP_SUFFIX) {
                    removed.push(path);
                }
            }
            if any {
                fs.sync_dir(tier_dir)
                    .map_err(io_err(IoOp::SyncDir, tier_dir))?;
            }
        }
    }
    Ok(Segments {
        manifest,
        status,
        open,
        set_aside,
        removed,
    })
}

/// Opens listed segment `path` and checks its `meta` against its manifest entry; the
/// reason it cannot be read otherwise.
fn open_listed(
    fs: &dyn Fs,
    path: &Path,
    entry: &SegmentEntry,
) -> std::result::Result<Arc<Segment>, String> {
    let seg = Segment::open(fs, path).map_err(|e| e.to_string())?;
    let m = seg.meta();
    if (m.min_t, m.max_t, m.resolution_ms, m.level)
        == (entry.min_t, entry.max_t, entry.resolution_ms, entry.level)
    {
        Ok(Arc::new(seg))
    } else {
        Err("meta disagrees with the MANIFEST".to_string())
    }
}

/// A manifest from the segment directories found: every one that opens is taken as live
/// (a number found in both tiers: the hot copy, the cold one is then a leftover).
/// The head was persisted up to the end of the newest raw level-0 segment (the rule
/// before manifests existed).
fn rebuild(
    fs: &dyn Fs,
    seg_dir: &Path,
    entries: &[crate::fs::DirEntry],
    cold: Option<(&Path, &[crate::fs::DirEntry])>,
    reason: String,
) -> (Manifest, ManifestStatus) {
    let mut manifest = Manifest::empty();
    let hot = entries.iter().map(|e| (seg_dir, e, false));
    let cold = cold
        .into_iter()
        .flat_map(|(d, found)| found.iter().map(move |e| (d, e, true)));
    for (tier_dir, e, is_cold) in hot.chain(cold) {
        let Ok(seq) = e.name.parse::<u32>() else {
            continue;
        };
        manifest.next_seq = manifest.next_seq.max(seq.saturating_add(1));
        if manifest.segments.iter().any(|s| s.seq == seq) {
            continue;
        }
        let Ok(seg) = Segment::open(fs, &tier_dir.join(&e.name)) else {
            continue; // opened again below and set aside there, with the reason
        };
        let m = seg.meta();
        if m.level == 0 && m.resolution_ms == 0 {
            manifest.persisted_until = manifest.persisted_until.max(m.max_t);
        }
        manifest.segments.push(SegmentEntry {
            seq,
            min_t: m.min_t,
            max_t: m.max_t,
            resolution_ms: m.resolution_ms,
            level: m.level,
            sources: Vec::new(),
            parents: Vec::new(),
        });
        if is_cold {
            manifest.cold.insert(seq);
        }
    }
    let segments = manifest.segments.len();
    (manifest, ManifestStatus::Rebuilt { reason, segments })
}

/// Which logged samples replay skips: those older than `persisted_until` logged before
/// `persisted_lsn` are in segments. `legacy`: a manifest rebuilt without a position, so
/// every sample older than `persisted_until` is taken as persisted (the rule before late
/// samples existed).
#[derive(Clone, Copy)]
struct ReplayRule {
    persisted_until: i64,
    persisted_lsn: Lsn,
    legacy: bool,
}

/// Replays the WAL's records into `head`: samples at or after `persisted_until` into
/// the head as they came, older ones logged after the last persist began into the late
/// store, older ones logged before it (in segments) skipped.
fn replay_into(head: &Head, rule: ReplayRule) -> impl FnMut(Record, Lsn) -> Result<()> + '_ {
    let mut refs = RefMap::default();
    // Samples whose series record comes later in the log (two writers raced).
    let mut pending: HashMap<u64, Vec<(i64, f64, Lsn)>> = HashMap::new();
    let apply = move |id, t: i64, v, at: Lsn| {
        if t >= rule.persisted_until {
            head.replay_sample(id, t, v);
        } else if !rule.legacy && at >= rule.persisted_lsn {
            head.replay_late(id, t, v);
        }
    };
    move |rec, at| {
        match rec {
            Record::Series { series_ref, labels } => {
                if let Some(id) = head.replay_series(series_ref, &labels)? {
                    refs.insert(series_ref, id);
                    for (t, v, at) in pending.remove(&series_ref).unwrap_or_default() {
                        apply(id, t, v, at);
                    }
                }
            }
            Record::Samples(samples) => {
                for s in samples {
                    match refs.get(s.series_ref) {
                        Some(id) => apply(id, s.t, s.v, at),
                        None => pending
                            .entry(s.series_ref)
                            .or_default()
                            .push((s.t, s.v, at)),
                    }
                }
            }
        }
        Ok(())
    }
}

impl Db {
    /// Opens (creating if needed) the database in `dir`: takes the directory lock, reads
    /// the manifest and opens its segments (damaged ones are set aside and reported,
    /// leftovers of interrupted steps removed), replays the write-ahead log into the head,
    /// and starts the maintenance owner (unless [`Options::background_maintenance`] is
    /// off). What it found is in [`Db::open_report`].
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Db> {
        let dir = dir.as_ref().to_path_buf();
        let chunk_options = validate(&options)?;
        cold::validate(&options, &dir)?;
        let fs = options.fs.clone();
        create_dir_all_durable(&*fs, &dir).map_err(io_err(IoOp::CreateDir, &dir))?;
        let mut locks = vec![lock_dir(&*fs, &dir)?];
        if let Some(c) = &options.cold_dir {
            locks.push(cold::lock(&*fs, c)?);
        }
        let segments = load_segments(&*fs, &dir, options.cold_dir.as_deref(), true)?;
        let head = Arc::new(Head::new(chunk_options, segments.manifest.persisted_until));
        let wal_options = WalOptions {
            file_size: options.wal_file_size,
            sync: options.sync,
            recovery: options.wal_recovery,
        };
        let rule = segments.replay_rule();
        let (wal, replay) = Wal::open_with_positions(
            fs.clone(),
            dir.join(WAL_DIR),
            wal_options,
            replay_into(&head, rule),
        )?;
        wal.set_observer(options.observer.clone());
        let mut segments = segments;
        if rule.legacy {
            // From now on positions count: everything replayed was logged before this.
            segments.manifest.persisted_lsn = wal.last_lsn()?;
            segments.manifest.commit(&*fs, &dir)?;
        }
        let deletions = deletes::load(&*fs, &dir)?;
        Db::assemble(
            dir,
            options,
            head,
            Some(wal),
            segments,
            replay,
            deletions,
            locks,
        )
    }

    /// Opens the database in `dir` for reading only: no lock is taken, nothing is written
    /// (no log file, no repair, no manifest), and a missing directory is an error. It
    /// can read a directory another process has open for writing; it sees that
    /// process's state as of the open (the manifest, then the WAL; retried if the writer
    /// committed in between). Appends and deletions fail with [`Error::ReadOnly`].
    pub fn open_read_only(dir: impl AsRef<Path>, options: Options) -> Result<Db> {
        let dir = dir.as_ref().to_path_buf();
        let chunk_options = validate(&options)?;
        cold::validate(&options, &dir)?;
        let fs = options.fs.clone();
        fs.list_dir(&dir).map_err(io_err(IoOp::ListDir, &dir))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Db::try_open_read_only(&dir, &options, chunk_options) {
                Ok(Some(db)) => return Ok(db),
                // the writer changed the manifest while the WAL was read, or removed a
                // file mid-read: read again
                Ok(None) | Err(Error::Io { .. }) if attempt < 5 => continue,
                Ok(None) => {
                    return Err(Error::corruption(
                        &dir.join(crate::manifest::MANIFEST_FILE),
                        0,
                        "the manifest kept changing while the database was read",
                    ))
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn try_open_read_only(
        dir: &Path,
        options: &Options,
        chunk_options: ChunkOptions,
    ) -> Result<Option<Db>> {
        let fs = options.fs.clone();
        let segments = load_segments(&*fs, dir, options.cold_dir.as_deref(), false)?;
        let head = Arc::new(Head::new(chunk_options, segments.manifest.persisted_until));
        let wal_dir = dir.join(WAL_DIR);
        let replay = match fs.list_dir(&wal_dir) {
            Ok(_) => wal::replay_read_only(
                fs.clone(),
                &wal_dir,
                options.wal_recovery,
                replay_into(&head, segments.replay_rule()),
            )?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => RecoveryReport::default(),
            Err(e) => return Err(Error::io(IoOp::ListDir, &wal_dir, e)),
        };
        let now = Manifest::load(&*fs, dir).ok().flatten();
        if now.is_some_and(|m| m.generation != segments.manifest.generation) {
            return Ok(None);
        }
        let deletions = deletes::load(&*fs, dir)?;
        Ok(Some(Db::assemble(
            dir.to_path_buf(),
            options.clone(),
            head,
            None,
            segments,
            replay,
            deletions,
            Vec::new(),
        )?))
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        dir: PathBuf,
        options: Options,
        head: Arc<Head>,
        wal: Option<Wal>,
        segments: Segments,
        replay: RecoveryReport,
        deletions: Vec<deletes::Deletion>,
        locks: Vec<FsLock>,
    ) -> Result<Db> {
        let observer = options.observer.clone();
        for (path, reason) in &segments.set_aside {
            observer.segment_set_aside(path, reason);
        }
        if let Some(torn) = &replay.torn_tail {
            observer.wal_torn_tail(&torn.path, torn.bytes);
        }
        let background = options.background_maintenance && wal.is_some();
        let report = OpenReport {
            wal: replay,
            manifest: segments.status,
            removed_leftovers: segments.removed,
            set_aside: segments.set_aside,
        };
        let mut spawn_error = None;
        let inner = Arc::new_cyclic(|weak| {
            let maintenance = if background {
                match Maintenance::start(weak.clone()) {
                    Ok(m) => m,
                    Err(e) => {
                        spawn_error = Some(Error::io(IoOp::SpawnThread, &dir, e));
                        Maintenance::manual()
                    }
                }
            } else {
                Maintenance::manual()
            };
            let uniform_resolutions = options.downsampling.uniform_resolutions().into();
            Inner {
                options,
                head,
                wal,
                state: RwLock::new(State {
                    segments: Arc::new(segments.open),
                    persisted_until: segments.manifest.persisted_until,
                    manifest_generation: segments.manifest.generation,
                    generation: 0,
                    deletions: Arc::new(deletions),
                }),
                readers: Arc::default(),
                persist: Mutex::new(PersistState {
                    manifest: segments.manifest,
                    next_lsn: None,
                    pending_late: Vec::new(),
                    last_late_persist_ms: i64::MIN,
                    pending_removals: Vec::new(),
                    empty_rollups: Vec::new(),
                }),
                rewrite: Mutex::new(()),
                uniform_resolutions,
                report,
                maintenance,
                _locks: locks,
                dir: dir.clone(),
            }
        });
        if let Some(e) = spawn_error {
            return Err(e);
        }
        let db = Db { inner };
        // a head replayed past the threshold is persisted at once, not at the next append
        if db.persist_due() {
            db.inner.maintenance.signal();
        }
        Ok(db)
    }
}
