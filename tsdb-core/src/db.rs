//! The [`Db`] handle: opening (lock, segments, log replay), appending, persisting the head
//! to segments, reading, deleting, statistics.
//!
//! Data directory layout:
//!
//! ```text
//! LOCK                 held (flock) while a process has the database open
//! wal/                 write-ahead log segments and checkpoints (FORMAT-wal.md)
//! segments/00000001/   immutable segments: meta, index, series, chunks (FORMAT-segment.md)
//! tombstones           deletion requests honoured at read time
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use tsdb_compress::ChunkOptions;
use tsdb_index::{Labels, Matcher};

use crate::batch::{Batch, BatchOutcome, SampleError, SeriesRef};
use crate::deletes::{self, Deletion};
use crate::error::{io_err, Error, IoOp, Result};
use crate::fs::{create_dir_all_durable, Fs, FsLock};
use crate::head::{AppendLimits, Head};
use crate::options::Options;
use crate::querier::{Querier, Readers, Snapshot};
use crate::segment::write::{write_segment, SegmentInput, TMP_SUFFIX};
use crate::segment::{Segment, SegmentMeta};
use crate::wal::{Record, RecoveryReport, RefSample, Wal, WalOptions};

const LOCK_FILE: &str = "LOCK";
const WAL_DIR: &str = "wal";
const SEGMENTS_DIR: &str = "segments";

/// What readers capture atomically.
#[derive(Debug)]
struct State {
    segments: Arc<Vec<Arc<Segment>>>,
    /// The head is read from here on; earlier data is in segments.
    head_from: i64,
    deletions: Arc<Vec<Deletion>>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    options: Options,
    head: Arc<Head>,
    wal: Wal,
    state: RwLock<State>,
    readers: Arc<Readers>,
    /// One persist (or delete) at a time.
    persist: Mutex<u32>,
    /// Segments that failed to open, with why; left on disk for an operator.
    set_aside: Vec<(PathBuf, String)>,
    replay: RecoveryReport,
    _lock: FsLock,
}

/// An embedded time-series database: a cheap, cloneable, thread-safe handle.
///
/// ```
/// use tsdb_core::{Db, Options};
/// use tsdb_index::{Labels, Matcher};
///
/// # let tmp = tempfile::tempdir()?;
/// let db = Db::open(tmp.path(), Options::default())?;
/// let now = 1_700_000_000_000;
/// # let db = Db::open(tmp.path().join("x"), Options {
/// #     clock: std::sync::Arc::new(tsdb_core::ManualClock::new(now)), ..Options::default() })?;
/// let labels = Labels::new([("__name__", "cpu"), ("host", "a")])?;
/// let r = db.append(&labels, now, 0.5)?;
/// db.append_ref(r, now + 10_000, 0.75)?;
///
/// let q = db.querier(now, now + 60_000)?;
/// let series = q.select(&[Matcher::equal("__name__", "cpu")])?;
/// let values: Vec<f64> = series[0].iter().map(|s| s.map(|s| s.v)).collect::<Result<_, _>>()?;
/// assert_eq!(values, [0.5, 0.75]);
/// db.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Db {
    inner: Arc<Inner>,
}

/// Sizes and counts, for monitoring and the `inspect` tool.
#[derive(Clone, Debug)]
pub struct DbStats {
    /// Series in the head.
    pub head_series: usize,
    /// Samples in the head.
    pub head_samples: usize,
    /// Oldest and newest sample times in the head (`None` while empty).
    pub head_range: Option<(i64, i64)>,
    /// Bytes of the write-ahead log on disk.
    pub wal_bytes: u64,
    /// WAL segment files.
    pub wal_segments: usize,
    /// Open segments, oldest first: directory, meta, bytes on disk.
    pub segments: Vec<(PathBuf, SegmentMeta, u64)>,
    /// Segments left out because they are damaged, with the reason.
    pub set_aside: Vec<(PathBuf, String)>,
    /// Deletion requests in force.
    pub deletions: usize,
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
        if r < Self::DENSE_LIMIT {
            let i = r as usize;
            if self.dense.len() <= i {
                self.dense.resize(i + 1, Self::NONE);
            }
            if let Some(slot) = self.dense.get_mut(i) {
                *slot = id;
            }
        } else {
            self.sparse.insert(r, id);
        }
    }

    fn get(&self, r: u64) -> Option<tsdb_index::SeriesId> {
        if r < Self::DENSE_LIMIT {
            self.dense
                .get(r as usize)
                .copied()
                .filter(|&id| id != Self::NONE)
        } else {
            self.sparse.get(&r).copied()
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

fn segment_name(seq: u32) -> String {
    format!("{seq:08}")
}

fn floor_to(t: i64, range: i64) -> i64 {
    t.div_euclid(range).saturating_mul(range)
}

impl Db {
    /// Opens (creating if needed) the database in `dir`: takes the directory lock, opens
    /// every segment (damaged ones are set aside and reported in [`Db::stats`]), and
    /// replays the write-ahead log into the head.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Db> {
        let dir = dir.as_ref().to_path_buf();
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
            .map_err(|e| Error::invalid_argument(e.to_string()))?;
        let fs = options.fs.clone();
        create_dir_all_durable(&*fs, &dir).map_err(io_err(IoOp::CreateDir, &dir))?;
        let lock = lock_dir(&*fs, &dir)?;

        let seg_dir = dir.join(SEGMENTS_DIR);
        create_dir_all_durable(&*fs, &seg_dir).map_err(io_err(IoOp::CreateDir, &seg_dir))?;
        let mut entries = fs
            .list_dir(&seg_dir)
            .map_err(io_err(IoOp::ListDir, &seg_dir))?;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let mut segments = Vec::new();
        let mut set_aside = Vec::new();
        let mut next_seq = 1u32;
        for e in entries.iter().filter(|e| e.is_dir) {
            let path = seg_dir.join(&e.name);
            if e.name.ends_with(TMP_SUFFIX) {
                // an interrupted persist: the data is still in the WAL
                fs.remove_dir_all(&path)
                    .map_err(io_err(IoOp::Remove, &path))?;
                continue;
            }
            if let Ok(seq) = e.name.parse::<u32>() {
                next_seq = next_seq.max(seq.saturating_add(1));
            }
            match Segment::open(&*fs, &path) {
                Ok(seg) => segments.push(Arc::new(seg)),
                Err(err) => set_aside.push((path, err.to_string())),
            }
        }
        let persisted_until = segments
            .iter()
            .filter(|s| s.meta().level == 0 && s.meta().resolution_ms == 0)
            .map(|s| s.meta().max_t)
            .max()
            .unwrap_or(i64::MIN);

        let head = Arc::new(Head::new(chunk_options, persisted_until));
        let wal_options = WalOptions {
            segment_size: options.wal_segment_size,
            sync: options.sync,
            recovery: options.wal_recovery,
        };
        let mut refs = RefMap::default();
        // Samples whose series record comes later in the log (two writers raced).
        let mut pending: HashMap<u64, Vec<(i64, f64)>> = HashMap::new();
        let (wal, replay) = Wal::open_with_fs(fs.clone(), dir.join(WAL_DIR), wal_options, |rec| {
            match rec {
                Record::Series { series_ref, labels } => {
                    if let Some(id) = head.replay_series(series_ref, &labels)? {
                        refs.insert(series_ref, id);
                        for (t, v) in pending.remove(&series_ref).unwrap_or_default() {
                            head.replay_sample(id, t, v)?;
                        }
                    }
                }
                Record::Samples(samples) => {
                    for s in samples {
                        match refs.get(s.series_ref) {
                            Some(id) => head.replay_sample(id, s.t, s.v)?,
                            None => pending.entry(s.series_ref).or_default().push((s.t, s.v)),
                        }
                    }
                }
                // deletions live in the tombstones file, not in the log
                _ => {}
            }
            Ok(())
        })?;
        let deletions = deletes::load(&*fs, &dir)?;
        Ok(Db {
            inner: Arc::new(Inner {
                dir,
                options,
                head,
                wal,
                state: RwLock::new(State {
                    segments: Arc::new(segments),
                    head_from: persisted_until,
                    deletions: Arc::new(deletions),
                }),
                readers: Arc::default(),
                persist: Mutex::new(next_seq),
                set_aside,
                replay,
                _lock: lock,
            }),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// What the log replay found when the database was opened (torn tail cut, records).
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.replay
    }

    fn limits(&self) -> AppendLimits {
        let o = &self.inner.options;
        AppendLimits {
            max_t: o.clock.now_ms().saturating_add(o.max_future_ms),
            ooo_window: o.out_of_order_window_ms,
            in_order_lag: o.block_range_ms / 2,
        }
    }

    /// Appends a batch. Every refused series or sample gets its own [`SampleError`] in
    /// the outcome; the accepted ones are durable (under [`crate::wal::SyncMode`]) when
    /// this returns `Ok`. An `Err` means the log failed: nothing of the batch is
    /// acknowledged (some of it may be readable until a restart).
    pub fn append_batch(&self, batch: &Batch) -> Result<BatchOutcome> {
        let inner = &self.inner;
        let mut outcome = BatchOutcome::default();
        let mut records: Vec<Record> = Vec::new();
        let mut accepted = Vec::with_capacity(batch.len());
        inner.head.append_batch(
            batch,
            self.limits(),
            &mut |series_ref, labels| {
                records.push(Record::Series {
                    series_ref,
                    labels: labels.clone(),
                });
                Ok(())
            },
            &mut outcome,
            &mut accepted,
        )?;
        if !accepted.is_empty() {
            records.push(Record::Samples(
                accepted
                    .iter()
                    .map(|a| RefSample {
                        series_ref: a.wal_ref,
                        t: a.t,
                        v: a.v,
                    })
                    .collect(),
            ));
        }
        if !records.is_empty() {
            let lsn = inner.wal.append(&records)?;
            inner.wal.commit(lsn)?;
        }
        if inner.options.auto_persist {
            self.persist_if_due()?;
        }
        Ok(outcome)
    }

    /// Appends one sample; a refused sample is [`Error::Sample`].
    pub fn append(&self, labels: &Labels, t: i64, v: f64) -> Result<SeriesRef> {
        let mut batch = Batch::new();
        let s = batch.series(labels.clone());
        batch.sample(s, t, v);
        self.append_one(&batch)
    }

    /// Appends one sample to a series known by its ref.
    pub fn append_ref(&self, r: SeriesRef, t: i64, v: f64) -> Result<SeriesRef> {
        let mut batch = Batch::new();
        let s = batch.series_ref(r);
        batch.sample(s, t, v);
        self.append_one(&batch)
    }

    fn append_one(&self, batch: &Batch) -> Result<SeriesRef> {
        let mut outcome = self.append_batch(batch)?;
        if let Some(r) = outcome.rejected.pop() {
            return Err(Error::Sample(r.error));
        }
        outcome
            .refs
            .first()
            .copied()
            .flatten()
            .ok_or(Error::Sample(SampleError::UnknownSeriesRef(u32::MAX)))
    }

    /// A consistent view over `[mint, maxt]` (inclusive milliseconds).
    pub fn querier(&self, mint: i64, maxt: i64) -> Result<Querier> {
        let state = self
            .inner
            .state
            .read()
            .map_err(|_| Error::Poisoned { what: "db state" })?;
        let snapshot = Snapshot {
            head: self.inner.head.clone(),
            head_from: state.head_from,
            segments: state.segments.clone(),
            deletions: state.deletions.clone(),
        };
        // registered while the state lock is held, so no persist can drop head data
        // this querier may read
        Ok(Querier::new(&self.inner.readers, snapshot, mint, maxt))
    }

    /// Deletes the samples of every series matching `matchers` in `[mint, maxt]`: they
    /// disappear from reads at once and durably (the request is written before this
    /// returns).
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<()> {
        if matchers.is_empty() || matchers.iter().all(Matcher::matches_empty) {
            return Err(Error::invalid_argument(
                "a deletion needs at least one matcher that does not match the empty string",
            ));
        }
        if maxt < mint {
            return Err(Error::invalid_argument(
                "deletion range ends before it starts",
            ));
        }
        let _one = self
            .inner
            .persist
            .lock()
            .map_err(|_| Error::Poisoned { what: "persist" })?;
        let mut list: Vec<Deletion> = self.read_state()?.deletions.as_ref().clone();
        list.push(Deletion {
            matchers: matchers.to_vec(),
            mint,
            maxt,
        });
        deletes::store(&*self.inner.options.fs, &self.inner.dir, &list)?;
        self.inner
            .state
            .write()
            .map_err(|_| Error::Poisoned { what: "db state" })?
            .deletions = Arc::new(list);
        Ok(())
    }

    fn head_from(&self) -> Result<i64> {
        Ok(self.read_state()?.head_from)
    }

    fn read_state(&self) -> Result<std::sync::RwLockReadGuard<'_, State>> {
        self.inner
            .state
            .read()
            .map_err(|_| Error::Poisoned { what: "db state" })
    }

    /// Persists the head's oldest block range when the head spans more than 1.5 block
    /// ranges (Prometheus's rule), repeatedly. Called by appends when
    /// [`Options::auto_persist`] is on.
    pub fn persist_if_due(&self) -> Result<usize> {
        let range = self.inner.options.block_range_ms;
        let mut written = 0;
        loop {
            let head = &self.inner.head;
            let (min, max) = (head.min_t().max(self.head_from()?), head.max_t());
            if min > max || max.saturating_sub(min) <= range / 2 * 3 {
                return Ok(written);
            }
            let start = floor_to(min, range);
            let end = start.saturating_add(range);
            self.persist_range(start, end)?;
            written += 1;
        }
    }

    /// Persists everything in the head, in block-range-aligned segments; afterwards the
    /// database refuses samples older than the newest one persisted. For bulk imports
    /// and tools; a running server relies on [`Db::persist_if_due`].
    pub fn persist_all(&self) -> Result<usize> {
        let range = self.inner.options.block_range_ms;
        let head = &self.inner.head;
        let mut written = 0;
        loop {
            // from the published boundary: a failed persist is retried from where it was
            let (min, max) = (head.min_t().max(self.head_from()?), head.max_t());
            if min > max || head.series_count() == 0 {
                return Ok(written);
            }
            let start = floor_to(min, range);
            let end = start.saturating_add(range).min(max.saturating_add(1));
            self.persist_range(start, end)?;
            written += 1;
            if end > max {
                return Ok(written);
            }
        }
    }

    /// Writes the head's samples in `[start, end)` to a new segment, then forgets them in
    /// the head and the log. Order (each step durable before the next): refuse new
    /// samples before `end`; write the segment (temporary directory, fsync, rename,
    /// directory fsync); publish it to readers; drop the head's copy once no reader needs
    /// it; checkpoint the log.
    fn persist_range(&self, start: i64, end: i64) -> Result<()> {
        let inner = &self.inner;
        let mut seq = inner
            .persist
            .lock()
            .map_err(|_| Error::Poisoned { what: "persist" })?;
        let head = &inner.head;
        head.raise_write_floor(end);
        let chunk_options = ChunkOptions {
            max_samples: tsdb_compress::chunk::DEFAULT_MAX_SAMPLES,
        };
        let series = head.collect_range(start, end, chunk_options)?;
        let mut new_segment = None;
        if !series.is_empty() {
            let dir = inner.dir.join(SEGMENTS_DIR).join(segment_name(*seq));
            let input = SegmentInput {
                min_t: start,
                max_t: end,
                resolution_ms: 0,
                level: 0,
                series,
            };
            write_segment(&*inner.options.fs, &dir, input)?;
            *seq += 1;
            new_segment = Some(Arc::new(Segment::open(&*inner.options.fs, &dir)?));
        }
        {
            let mut state = inner
                .state
                .write()
                .map_err(|_| Error::Poisoned { what: "db state" })?;
            if let Some(seg) = new_segment {
                let mut list = state.segments.as_ref().clone();
                list.push(seg);
                state.segments = Arc::new(list);
            }
            state.head_from = state.head_from.max(end);
        }
        let drop_before = end.min(inner.readers.oldest());
        head.truncate(drop_before, end)?;
        // the log: everything before `end` is in the segment now
        let cut = inner.wal.cut_segment()?;
        let live = head.live_wal_refs()?;
        inner
            .wal
            .checkpoint(cut.saturating_sub(1), |r| live.contains(&r), end)?;
        Ok(())
    }

    /// Makes everything appended so far durable (whatever the sync mode).
    pub fn flush(&self) -> Result<()> {
        self.inner.wal.flush()
    }

    /// Flushes and closes the log. Other clones of this handle fail afterwards.
    pub fn close(&self) -> Result<()> {
        self.inner.wal.close()
    }

    /// Sizes and counts.
    pub fn stats(&self) -> Result<DbStats> {
        let head = &self.inner.head;
        let wal = self.inner.wal.stats()?;
        let state = self.read_state()?;
        let (min, max) = (head.min_t(), head.max_t());
        Ok(DbStats {
            head_series: head.series_count(),
            head_samples: head.sample_count()?,
            head_range: (min <= max).then_some((min, max)),
            wal_bytes: wal.bytes_on_disk,
            wal_segments: wal.segments,
            segments: state
                .segments
                .iter()
                .map(|s| (s.dir().to_path_buf(), s.meta(), s.bytes_on_disk()))
                .collect(),
            set_aside: self.inner.set_aside.clone(),
            deletions: state.deletions.len(),
        })
    }

    /// Series counts per metric name and label pair across the head and segments.
    pub fn cardinality(&self, top_n: usize) -> Result<Vec<tsdb_index::CardinalityStats>> {
        let state = self.read_state()?;
        let mut out = vec![self.inner.head.stats(top_n)];
        for s in state.segments.iter() {
            out.push(s.stats(top_n)?);
        }
        Ok(out)
    }
}
