//! Putting an import's samples in time order within a memory budget: an external merge
//! sort.
//!
//! Files group samples by series, and the head accepts a series' samples only while they
//! are within half a block range of the newest sample of any series, so the samples of
//! all files are appended in time order. They are gathered into a buffer of [`Rec`]s; when
//! the buffer reaches its budget it is sorted by time and written to a temporary file (a
//! *run*); at the end the runs and the last buffer are merged with a heap. More runs than
//! the merge fan-in are first merged in groups into longer runs. Sorting is stable and the
//! merge breaks ties by run order, so samples with equal timestamps keep their input order
//! exactly as one in-memory sort would (the first of two different values at one time
//! wins).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::ImportError;

/// One sample on its way to the database: 24 bytes in memory and in a run file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rec {
    /// Milliseconds since the epoch.
    pub t: i64,
    /// The value.
    pub v: f64,
    /// Index into the import's series dictionary.
    pub series: u32,
    /// Index of the input file.
    pub file: u32,
}

/// Bytes of one record in a run file.
const REC_BYTES: usize = 24;

/// Bytes of memory a buffered record costs: itself plus the scratch a stable sort
/// allocates (half the records).
pub const REC_COST: usize = REC_BYTES + REC_BYTES / 2;

impl Rec {
    fn encode(&self) -> [u8; REC_BYTES] {
        let mut b = [0u8; REC_BYTES];
        b[..8].copy_from_slice(&self.t.to_le_bytes());
        b[8..16].copy_from_slice(&self.v.to_bits().to_le_bytes());
        b[16..20].copy_from_slice(&self.series.to_le_bytes());
        b[20..].copy_from_slice(&self.file.to_le_bytes());
        b
    }

    fn decode(b: &[u8; REC_BYTES]) -> Rec {
        let [t0, t1, t2, t3, t4, t5, t6, t7, v0, v1, v2, v3, v4, v5, v6, v7, s0, s1, s2, s3, f0, f1, f2, f3] =
            *b;
        Rec {
            t: i64::from_le_bytes([t0, t1, t2, t3, t4, t5, t6, t7]),
            v: f64::from_bits(u64::from_le_bytes([v0, v1, v2, v3, v4, v5, v6, v7])),
            series: u32::from_le_bytes([s0, s1, s2, s3]),
            file: u32::from_le_bytes([f0, f1, f2, f3]),
        }
    }
}

/// A sorted run written to a temporary file.
#[derive(Debug)]
struct RunFile {
    path: PathBuf,
    records: u64,
}

/// Where runs are spilled: a temporary directory, created on the first spill and removed
/// (with its files) when dropped.
#[derive(Debug)]
struct SpillDir {
    parent: PathBuf,
    dir: Option<tempfile::TempDir>,
    next: u64,
}

impl SpillDir {
    fn new_file(&mut self) -> Result<(PathBuf, File), ImportError> {
        let dir = match &mut self.dir {
            Some(d) => d,
            slot => slot.insert(
                tempfile::Builder::new()
                    .prefix("tsdb-import-")
                    .tempdir_in(&self.parent)
                    .map_err(|source| ImportError::Spill {
                        path: self.parent.clone(),
                        source,
                    })?,
            ),
        };
        self.next += 1;
        let path = dir.path().join(format!("run-{:06}", self.next));
        let file = File::create(&path).map_err(|source| ImportError::Spill {
            path: path.clone(),
            source,
        })?;
        Ok((path, file))
    }
}

/// Gathers records, spilling sorted runs to disk when the buffer outgrows its budget.
#[derive(Debug)]
pub struct Sorter {
    buf: Vec<Rec>,
    runs: Vec<RunFile>,
    spill: SpillDir,
    spilled_bytes: u64,
    /// Buffers of at least this many records are spilled rather than grown past the
    /// budget (so a run is never tiny, even when other memory ate the budget).
    min_run: usize,
}

impl Sorter {
    /// A sorter spilling into a temporary directory under `spill_parent`.
    pub fn new(spill_parent: PathBuf, min_run: usize) -> Sorter {
        Sorter {
            buf: Vec::new(),
            runs: Vec::new(),
            spill: SpillDir {
                parent: spill_parent,
                dir: None,
                next: 0,
            },
            spilled_bytes: 0,
            min_run: min_run.max(1),
        }
    }

    /// Adds a record. When the buffer would grow past `budget` bytes (at [`REC_COST`]
    /// each), it is sorted and spilled first; returns true when that happened.
    pub fn push(&mut self, rec: Rec, budget: usize) -> Result<bool, ImportError> {
        let over = (self.buf.len() + 1).saturating_mul(REC_COST) > budget;
        let spilled = over && self.buf.len() >= self.min_run;
        if spilled {
            self.spill_buffer()?;
        }
        self.buf.push(rec);
        Ok(spilled)
    }

    /// Records gathered so far.
    pub fn records(&self) -> u64 {
        self.runs.iter().map(|r| r.records).sum::<u64>() + self.buf.len() as u64
    }

    /// Runs spilled so far and their bytes.
    pub fn spilled(&self) -> (usize, u64) {
        (self.runs.len(), self.spilled_bytes)
    }

    fn spill_buffer(&mut self) -> Result<(), ImportError> {
        self.buf.sort_by_key(|r| r.t);
        let run = write_run(&mut self.spill, self.buf.iter().copied())?;
        self.spilled_bytes += run.records * REC_BYTES as u64;
        self.runs.push(run);
        self.buf.clear();
        Ok(())
    }

    /// Sorts the last buffer; the result merges it with the spilled runs.
    pub fn finish(mut self) -> Sorted {
        self.buf.sort_by_key(|r| r.t);
        Sorted {
            memory: self.buf,
            runs: self.runs,
            spill: self.spill,
        }
    }
}

fn spill_err(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Spill {
        path: path.to_path_buf(),
        source,
    }
}

fn write_run(
    spill: &mut SpillDir,
    recs: impl Iterator<Item = Rec>,
) -> Result<RunFile, ImportError> {
    let (path, file) = spill.new_file()?;
    let mut w = BufWriter::with_capacity(1 << 16, file);
    let mut records = 0u64;
    for r in recs {
        w.write_all(&r.encode()).map_err(spill_err(&path))?;
        records += 1;
    }
    w.flush().map_err(spill_err(&path))?;
    Ok(RunFile { path, records })
}

/// All records, sorted within each run: the spilled runs in order, then the last buffer.
#[derive(Debug)]
pub struct Sorted {
    memory: Vec<Rec>,
    runs: Vec<RunFile>,
    spill: SpillDir,
}

/// Reads one run file a buffer at a time.
struct RunReader {
    path: PathBuf,
    r: BufReader<File>,
    left: u64,
}

impl RunReader {
    fn open(run: &RunFile, buffer: usize) -> Result<RunReader, ImportError> {
        let file = File::open(&run.path).map_err(spill_err(&run.path))?;
        Ok(RunReader {
            path: run.path.clone(),
            r: BufReader::with_capacity(buffer, file),
            left: run.records,
        })
    }

    fn next(&mut self) -> Result<Option<Rec>, ImportError> {
        if self.left == 0 {
            return Ok(None);
        }
        let mut b = [0u8; REC_BYTES];
        self.r.read_exact(&mut b).map_err(spill_err(&self.path))?;
        self.left -= 1;
        Ok(Some(Rec::decode(&b)))
    }
}

/// The sources of one merge: run files, then perhaps the in-memory buffer.
struct Sources<'a> {
    files: Vec<RunReader>,
    memory: std::slice::Iter<'a, Rec>,
}

impl Sources<'_> {
    fn next(&mut self, i: usize) -> Result<Option<Rec>, ImportError> {
        match self.files.get_mut(i) {
            Some(r) => r.next(),
            None => Ok(self.memory.next().copied()),
        }
    }
}

/// Merges sources in time order, ties going to the earlier source.
fn merge_sources(
    sources: &mut Sources<'_>,
    out: &mut dyn FnMut(Rec) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    let n = sources.files.len() + 1;
    let mut heads: Vec<Option<Rec>> = Vec::with_capacity(n);
    let mut heap = BinaryHeap::with_capacity(n);
    for i in 0..n {
        let r = sources.next(i)?;
        if let Some(r) = r {
            heap.push(Reverse((r.t, i)));
        }
        heads.push(r);
    }
    while let Some(Reverse((_, i))) = heap.pop() {
        let Some(rec) = heads.get_mut(i).and_then(Option::take) else {
            continue;
        };
        out(rec)?;
        let next = sources.next(i)?;
        if let Some(r) = next {
            heap.push(Reverse((r.t, i)));
        }
        if let Some(slot) = heads.get_mut(i) {
            *slot = next;
        }
    }
    Ok(())
}

impl Sorted {
    /// Total records.
    pub fn records(&self) -> u64 {
        self.runs.iter().map(|r| r.records).sum::<u64>() + self.memory.len() as u64
    }

    /// Hands every record to `out` in time order (ties in input order). At most `fan_in`
    /// runs are read at once, each through a buffer of `read_buffer` bytes; more runs are
    /// first merged in consecutive groups into longer ones. The run files are removed
    /// as they are used up.
    pub fn merge(
        mut self,
        fan_in: usize,
        read_buffer: usize,
        out: &mut dyn FnMut(Rec) -> Result<(), ImportError>,
    ) -> Result<(), ImportError> {
        let fan_in = fan_in.max(2);
        // the buffer is a source too
        while self.runs.len() + 1 > fan_in {
            let mut merged = Vec::with_capacity(self.runs.len() / fan_in + 1);
            let mut rest = std::mem::take(&mut self.runs).into_iter().peekable();
            while rest.peek().is_some() {
                let group: Vec<RunFile> = rest.by_ref().take(fan_in).collect();
                if group.len() == 1 {
                    merged.extend(group);
                    continue;
                }
                let mut sources = Sources {
                    files: group
                        .iter()
                        .map(|r| RunReader::open(r, read_buffer))
                        .collect::<Result<_, _>>()?,
                    memory: [].iter(),
                };
                let (path, file) = self.spill.new_file()?;
                let mut w = BufWriter::with_capacity(1 << 16, file);
                let mut records = 0u64;
                merge_sources(&mut sources, &mut |r| {
                    records += 1;
                    w.write_all(&r.encode()).map_err(spill_err(&path))
                })?;
                w.flush().map_err(spill_err(&path))?;
                drop(sources);
                for r in &group {
                    remove_run(r);
                }
                merged.push(RunFile { path, records });
            }
            self.runs = merged;
        }
        let mut sources = Sources {
            files: self
                .runs
                .iter()
                .map(|r| RunReader::open(r, read_buffer))
                .collect::<Result<_, _>>()?,
            memory: self.memory.iter(),
        };
        merge_sources(&mut sources, out)?;
        drop(sources);
        for r in &self.runs {
            remove_run(r);
        }
        Ok(())
    }
}

/// Removes a used-up run file at once (its directory goes when the import ends). A file
/// that cannot be removed only costs disk space until then.
fn remove_run(run: &RunFile) {
    let _ = std::fs::remove_file(&run.path);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: i64, n: u32) -> Rec {
        Rec {
            t,
            v: f64::from(n),
            series: n,
            file: n % 3,
        }
    }

    /// Records in a scrambled time order with many equal timestamps.
    fn input(n: u32) -> Vec<Rec> {
        (0..n)
            .map(|i| rec(i64::from((i * 7919) % 101) - 50, i))
            .collect()
    }

    fn sorted_in_memory(recs: &[Rec]) -> Vec<Rec> {
        let mut v = recs.to_vec();
        v.sort_by_key(|r| r.t);
        v
    }

    #[test]
    fn spilled_runs_merge_to_the_stable_in_memory_order() -> Result<(), ImportError> {
        let tmp = tempfile::tempdir().map_err(|source| ImportError::Spill {
            path: PathBuf::new(),
            source,
        })?;
        let recs = input(5_000);
        let want = sorted_in_memory(&recs);
        // budgets from "everything in memory" to runs of 100 records; fan-ins that force
        // one, two or more merge passes
        for (budget, fan_in) in [
            (usize::MAX, 8),
            (100 * REC_COST, 64),
            (100 * REC_COST, 2),
            (333 * REC_COST, 3),
        ] {
            let mut s = Sorter::new(tmp.path().to_path_buf(), 1);
            let mut spills = 0;
            for r in &recs {
                spills += usize::from(s.push(*r, budget)?);
            }
            assert_eq!(s.records(), 5_000);
            assert_eq!(s.spilled().0, spills);
            if budget == usize::MAX {
                assert_eq!(spills, 0);
            } else {
                assert!(spills >= 14, "{spills}");
            }
            let sorted = s.finish();
            assert_eq!(sorted.records(), 5_000);
            let mut got = Vec::new();
            sorted.merge(fan_in, 4096, &mut |r| {
                got.push(r);
                Ok(())
            })?;
            assert_eq!(got, want, "budget {budget}, fan-in {fan_in}");
        }
        // every run file and spill directory is gone
        assert_eq!(
            std::fs::read_dir(tmp.path()).map(Iterator::count).ok(),
            Some(0)
        );
        Ok(())
    }

    #[test]
    fn records_round_trip_bit_for_bit() {
        for r in [
            Rec {
                t: i64::MIN,
                v: f64::from_bits(0x7ff0_0000_0000_0002),
                series: u32::MAX,
                file: 0,
            },
            Rec {
                t: i64::MAX,
                v: -0.0,
                series: 0,
                file: u32::MAX,
            },
        ] {
            let back = Rec::decode(&r.encode());
            assert_eq!(
                (back.t, back.v.to_bits(), back.series, back.file),
                (r.t, r.v.to_bits(), r.series, r.file)
            );
        }
    }

    #[test]
    fn a_small_run_minimum_is_kept_even_when_the_budget_is_gone() -> Result<(), ImportError> {
        let tmp = tempfile::tempdir().map_err(|source| ImportError::Spill {
            path: PathBuf::new(),
            source,
        })?;
        let mut s = Sorter::new(tmp.path().to_path_buf(), 1000);
        for r in input(2_500) {
            s.push(r, 0)?;
        }
        assert_eq!(
            s.spilled().0,
            2,
            "a run every 1000 records, not every record"
        );
        Ok(())
    }
}
