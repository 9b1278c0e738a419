//! Log files: names, directory listing, the append-only writer handle, and the
//! windowed reader the scanner reads through.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::framing::{file_header, FILE_HEADER_LEN};
use crate::error::{io_err, Error, IoOp, Result};
use crate::fs::{read_exact_at, Fs, FsFile};

/// Prefix of checkpoint directory names.
pub(crate) const CHECKPOINT_PREFIX: &str = "checkpoint.";
/// Suffix of a checkpoint directory still being written.
pub(crate) const TMP_SUFFIX: &str = ".tmp";

/// File name of log file `n`: eight decimal digits, zero-padded (more once `n` needs them).
pub(crate) fn file_name(n: u32) -> String {
    format!("{n:08}")
}

/// Directory name of the checkpoint covering log files up to `n`.
pub(crate) fn checkpoint_name(n: u32) -> String {
    format!("{CHECKPOINT_PREFIX}{n:08}")
}

/// Parses a canonical log file number (`file_name(n) == s`).
pub(crate) fn parse_file_name(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = s.parse().ok()?;
    (file_name(n) == s).then_some(n)
}

/// What a WAL (or checkpoint) directory holds.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Log file numbers, ascending.
    pub files: Vec<u32>,
    /// Complete checkpoints, ascending.
    pub checkpoints: Vec<u32>,
    /// Names of leftover temporary checkpoint directories.
    pub tmp: Vec<String>,
}

/// Lists `dir`. Other files are ignored: they are not part of the log.
pub(crate) fn list(fs: &dyn Fs, dir: &Path) -> Result<Listing> {
    let mut l = Listing::default();
    for e in fs.list_dir(dir).map_err(io_err(IoOp::ListDir, dir))? {
        if let Some(rest) = e.name.strip_prefix(CHECKPOINT_PREFIX) {
            if rest.ends_with(TMP_SUFFIX) {
                l.tmp.push(e.name);
            } else if let Some(n) = parse_file_name(rest) {
                if !e.is_dir {
                    return Err(Error::corruption(
                        &dir.join(&e.name),
                        0,
                        "checkpoint is a file, not a directory",
                    ));
                }
                l.checkpoints.push(n);
            }
        } else if let Some(n) = parse_file_name(&e.name) {
            if e.is_dir {
                return Err(Error::corruption(
                    &dir.join(&e.name),
                    0,
                    "log file is a directory, not a file",
                ));
            }
            l.files.push(n);
        }
    }
    l.files.sort_unstable();
    l.checkpoints.sort_unstable();
    l.tmp.sort_unstable();
    Ok(l)
}

/// Checks that `files` (ascending) has no holes; the error names the first missing one.
pub(crate) fn check_contiguous(dir: &Path, files: &[u32]) -> Result<()> {
    for w in files.windows(2) {
        if let [a, b] = *w {
            if b != a + 1 {
                let missing = a + 1;
                return Err(Error::corruption(
                    &dir.join(file_name(missing)),
                    0,
                    format!(
                        "log file {} is missing between {} and {}",
                        file_name(missing),
                        file_name(a),
                        file_name(b)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// An open log file being appended to.
#[derive(Clone, Debug)]
pub(crate) struct LogFile {
    pub index: u32,
    pub path: PathBuf,
    pub file: Arc<dyn FsFile>,
    /// Bytes written so far (header included).
    pub len: u64,
}

impl LogFile {
    /// Creates log file `index` in `dir` and writes its header (not synced).
    pub(crate) fn create(fs: &dyn Fs, dir: &Path, index: u32) -> Result<LogFile> {
        let path = dir.join(file_name(index));
        let file = fs.create_new(&path).map_err(io_err(IoOp::Create, &path))?;
        file.write_all(&file_header())
            .map_err(io_err(IoOp::Write, &path))?;
        Ok(LogFile {
            index,
            path,
            file,
            len: FILE_HEADER_LEN,
        })
    }

    /// Appends `bytes`; on error the log file may hold any prefix of them.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .map_err(io_err(IoOp::Write, &self.path))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// `fdatasync`.
    pub(crate) fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(io_err(IoOp::Sync, &self.path))
    }
}

/// Where a scanner reads from: an open file, or bytes already in memory (tests, fuzzing).
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    File(&'a dyn FsFile),
    Bytes(&'a [u8]),
}

/// Reads a file through a buffer of at least `WINDOW` bytes, so that scanning small
/// records does not cost a system call each. Every request is checked against the
/// file's length first, so a length field read off disk never sizes an allocation
/// beyond the bytes that exist.
pub(crate) struct Window<'a> {
    src: Source<'a>,
    len: u64,
    buf: Vec<u8>,
    start: u64,
}

/// Minimum read size.
const WINDOW: usize = 1 << 20;

impl<'a> Window<'a> {
    pub(crate) fn new(src: Source<'a>, len: u64) -> Window<'a> {
        Window {
            src,
            len,
            buf: Vec::new(),
            start: 0,
        }
    }

    /// The length of the file (as it was when the window was made).
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// `n` bytes at `off`; `Ok(None)` if they extend past the end of the file.
    pub(crate) fn get(&mut self, off: u64, n: u64) -> std::io::Result<Option<&[u8]>> {
        let Some(end) = off.checked_add(n).filter(|&e| e <= self.len) else {
            return Ok(None);
        };
        match self.src {
            Source::Bytes(b) => Ok(usize::try_from(off)
                .ok()
                .zip(usize::try_from(end).ok())
                .and_then(|(s, e)| b.get(s..e))),
            Source::File(f) => {
                let have_end = self.start + self.buf.len() as u64;
                if off < self.start || end > have_end {
                    // Clamped: `end <= self.len`, the real file length.
                    let want = (end - off).max(WINDOW as u64).min(self.len - off);
                    let want = usize::try_from(want).map_err(std::io::Error::other)?;
                    self.buf.clear();
                    self.buf.resize(want, 0);
                    self.start = off;
                    read_exact_at(f, &mut self.buf, off)?;
                }
                let s = usize::try_from(off - self.start).map_err(std::io::Error::other)?;
                let e = usize::try_from(end - self.start).map_err(std::io::Error::other)?;
                Ok(self.buf.get(s..e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(file_name(1), "00000001");
        assert_eq!(file_name(123_456_789), "123456789");
        assert_eq!(parse_file_name("00000001"), Some(1));
        assert_eq!(parse_file_name("123456789"), Some(123_456_789));
        assert_eq!(parse_file_name("1"), None);
        assert_eq!(parse_file_name("0000001x"), None);
        assert_eq!(parse_file_name(""), None);
        assert_eq!(parse_file_name("99999999999"), None);
        assert_eq!(checkpoint_name(3), "checkpoint.00000003");
    }

    #[test]
    fn contiguity() {
        let d = Path::new("wal");
        assert!(check_contiguous(d, &[]).is_ok());
        assert!(check_contiguous(d, &[4, 5, 6]).is_ok());
        let e = check_contiguous(d, &[4, 5, 7]).unwrap_err();
        assert!(e.to_string().contains("00000006 is missing"), "{e}");
    }

    #[test]
    fn window_over_bytes_and_file() {
        let data: Vec<u8> = (0..=255u8).cycle().take(3 * WINDOW + 17).collect();
        let mut w = Window::new(Source::Bytes(&data), data.len() as u64);
        assert_eq!(w.get(5, 3).unwrap(), Some(&data[5..8]));
        assert_eq!(w.get(data.len() as u64 - 1, 2).unwrap(), None);
        assert_eq!(w.get(u64::MAX, 2).unwrap(), None);

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, &data).unwrap();
        let f = crate::fs::RealFs.open_read(&p).unwrap();
        let mut w = Window::new(Source::File(&*f), data.len() as u64);
        for (off, n) in [
            (0u64, 9u64),
            (WINDOW as u64 - 4, 9),
            (10, 2 * WINDOW as u64),
            (3, 1),
        ] {
            let (s, e) = (off as usize, (off + n) as usize);
            assert_eq!(w.get(off, n).unwrap(), Some(&data[s..e]));
        }
        assert_eq!(w.get(data.len() as u64, 1).unwrap(), None);
        assert_eq!(w.get(data.len() as u64, 0).unwrap(), Some(&[][..]));
    }
}
