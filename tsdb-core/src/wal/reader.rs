//! Reading log files record by record, and telling a torn tail (the crash case) from
//! corruption (everything else). The rules are written out in `FORMAT-wal.md`,
//! "Recovery".

use std::borrow::Cow;
use std::io;

use super::file::{Source, Window};
use super::framing::{
    check_header, is_known_type, FrameHeader, HeaderCheck, FILE_HEADER_LEN, FRAME_HEADER_LEN,
};
use super::record::Record;

/// Upper bound on the payload bytes checksummed while looking for a valid record after a
/// record that runs past the end of the last log file (see [`Scanner::valid_frame_after`]).
const RESYNC_BUDGET: u64 = 64 << 20;

/// One step of a scan.
#[derive(Debug)]
pub(crate) enum Step {
    /// A whole, valid record that starts at `offset`.
    Record { offset: u64, record: Record },
    /// Clean end of the file.
    End,
    /// A torn tail: everything from `offset` to the end of the file is the remains of an
    /// interrupted write and may be cut off.
    Torn { offset: u64, reason: String },
    /// Damage that is not a torn tail. `record_offset` is where the damaged record starts
    /// (where a truncation would cut); `offset` is the byte where it was noticed.
    Corrupt {
        record_offset: u64,
        offset: u64,
        reason: Cow<'static, str>,
    },
}

/// Why a record could not be read, before deciding whether it is a tear.
enum Failure {
    /// The record (or its header) extends past the end of the file.
    Partial,
    /// The CRC does not match; the record would end at `end`.
    BadCrc { end: u64 },
}

/// Walks the records of one log file.
pub(crate) struct Scanner<'a> {
    win: Window<'a>,
    pos: u64,
    /// True for the last file of the log, the only place a torn tail can be.
    tail: bool,
    done: bool,
}

impl<'a> Scanner<'a> {
    /// A scanner over a file of `len` bytes; `tail` says whether it is the last log file.
    pub(crate) fn new(src: Source<'a>, len: u64, tail: bool) -> Scanner<'a> {
        Scanner {
            win: Window::new(src, len),
            pos: 0,
            tail,
            done: false,
        }
    }

    /// Checks the log file header and positions the scanner after it. A torn header is
    /// reported only for the last log file (and only if nothing but zeros follows it);
    /// anywhere else it is `Invalid`.
    pub(crate) fn header(&mut self) -> io::Result<HeaderCheck> {
        let len = self.win.len();
        let n = len.min(FILE_HEADER_LEN);
        let check = match self.win.get(0, n)? {
            Some(b) => check_header(b),
            None => HeaderCheck::Invalid("unreadable header"),
        };
        Ok(match check {
            HeaderCheck::Valid => {
                self.pos = FILE_HEADER_LEN;
                HeaderCheck::Valid
            }
            HeaderCheck::Torn if self.tail && (n < FILE_HEADER_LEN || self.zero_from(0)?) => {
                self.done = true;
                HeaderCheck::Torn
            }
            HeaderCheck::Torn => HeaderCheck::Invalid("log file header is zero or truncated"),
            other => {
                self.done = true;
                other
            }
        })
    }

    /// The next step. After anything but `Record` the scan is over.
    pub(crate) fn next_step(&mut self) -> io::Result<Step> {
        if self.done {
            return Ok(Step::End);
        }
        let pos = self.pos;
        let len = self.win.len();
        if pos >= len {
            self.done = true;
            return Ok(Step::End);
        }
        let remaining = len - pos;
        let header = self
            .win
            .get(pos, FRAME_HEADER_LEN)?
            .and_then(FrameHeader::parse);
        let Some(h) = header else {
            return self.failure(
                pos,
                Failure::Partial,
                format!("partial record header: {remaining} bytes before the end of the file"),
            );
        };
        let end = match pos.checked_add(h.frame_len()) {
            Some(e) if e <= len => e,
            _ => {
                return self.failure(
                    pos,
                    Failure::Partial,
                    format!(
                    "record of {} bytes runs past the end of the file ({remaining} bytes remain)",
                    h.frame_len()
                ),
                )
            }
        };
        let Some(payload) = self.win.get(pos + FRAME_HEADER_LEN, u64::from(h.len))? else {
            return self.failure(
                pos,
                Failure::Partial,
                "record runs past the end of the file".into(),
            );
        };
        let computed = h.computed_crc(payload);
        if computed != h.crc {
            return self.failure(
                pos,
                Failure::BadCrc { end },
                format!(
                    "record checksum mismatch: stored {:#010x}, computed {computed:#010x}",
                    h.crc
                ),
            );
        }
        if !is_known_type(h.typ) {
            self.done = true;
            return Ok(Step::Corrupt {
                record_offset: pos,
                offset: pos,
                reason: format!(
                    "unknown record type {} with a valid checksum (written by a newer version?)",
                    h.typ
                )
                .into(),
            });
        }
        match Record::decode(h.typ, payload) {
            Ok(record) => {
                self.pos = end;
                Ok(Step::Record {
                    offset: pos,
                    record,
                })
            }
            Err(e) => {
                self.done = true;
                Ok(Step::Corrupt {
                    record_offset: pos,
                    offset: pos + FRAME_HEADER_LEN + e.offset as u64,
                    reason: format!("undecodable record with a valid checksum: {}", e.reason)
                        .into(),
                })
            }
        }
    }

    /// Classifies a record that could not be read at `pos`.
    fn failure(&mut self, pos: u64, kind: Failure, reason: String) -> io::Result<Step> {
        self.done = true;
        let len = self.win.len();
        let corrupt = |reason: String| Step::Corrupt {
            record_offset: pos,
            offset: pos,
            reason: reason.into(),
        };
        if !self.tail {
            return Ok(corrupt(reason));
        }
        let torn = match kind {
            Failure::Partial => {
                if self.valid_frame_after(pos)? {
                    return Ok(corrupt(format!(
                        "{reason}, but a valid record follows it, so it is not a torn write"
                    )));
                }
                true
            }
            Failure::BadCrc { end } => end == len || self.zero_from(pos)?,
        };
        Ok(if torn {
            Step::Torn {
                offset: pos,
                reason,
            }
        } else {
            corrupt(reason)
        })
    }

    /// True if every byte from `from` to the end of the file is zero: space a crash left
    /// allocated but unwritten (some file systems show it after a power loss).
    fn zero_from(&mut self, from: u64) -> io::Result<bool> {
        let len = self.win.len();
        let mut p = from;
        while p < len {
            let n = (len - p).min(1 << 20);
            match self.win.get(p, n)? {
                Some(b) if b.iter().all(|&x| x == 0) => p += n,
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    /// True if a complete record with a known type and a valid CRC starts anywhere after
    /// `pos`. A real torn write leaves nothing valid behind the tear; a length field
    /// damaged on disk does (the records that follow). Payload bytes checksummed are
    /// bounded by [`RESYNC_BUDGET`] so a hostile file cannot make recovery quadratic;
    /// once spent, the record is taken as torn (the documented rule).
    fn valid_frame_after(&mut self, pos: u64) -> io::Result<bool> {
        let len = self.win.len();
        let mut budget = RESYNC_BUDGET;
        let mut p = pos + 1;
        while p + FRAME_HEADER_LEN <= len {
            let h = self
                .win
                .get(p, FRAME_HEADER_LEN)?
                .and_then(FrameHeader::parse);
            if let Some(h) = h {
                let fits = p.checked_add(h.frame_len()).is_some_and(|end| end <= len);
                if is_known_type(h.typ) && fits && u64::from(h.len) <= budget {
                    budget -= u64::from(h.len);
                    if let Some(payload) = self.win.get(p + FRAME_HEADER_LEN, u64::from(h.len))? {
                        if h.computed_crc(payload) == h.crc {
                            return Ok(true);
                        }
                    }
                    if budget == 0 {
                        break;
                    }
                }
            }
            p += 1;
        }
        Ok(false)
    }
}

/// How a log file scanned by [`inspect_file`] ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileEnd {
    /// Every byte belongs to a valid record.
    Clean,
    /// A torn tail starts at `offset` (only for a last log file); recovery would cut the
    /// file there.
    Torn {
        /// Where the torn record starts.
        offset: u64,
        /// What was wrong with it.
        reason: String,
    },
    /// Damage that is not a torn tail.
    Corrupt {
        /// Where the damage was noticed.
        offset: u64,
        /// Where the damaged record starts.
        record_offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// The header names a format version this build does not know.
    UnsupportedVersion(u8),
}

/// The records of one log file held in memory and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileScan {
    /// `(offset, record)` for every valid record before the end or the damage.
    pub records: Vec<(u64, Record)>,
    /// How the scan ended.
    pub end: FileEnd,
}

/// Reads the bytes of one log file with exactly the rules recovery applies: for
/// tools (`tsdb inspect`) and the fuzz target. `last_file` allows a torn tail.
pub fn inspect_file(bytes: &[u8], last_file: bool) -> FileScan {
    let mut sc = Scanner::new(Source::Bytes(bytes), bytes.len() as u64, last_file);
    let mut records = Vec::new();
    // Reading from memory cannot fail with an I/O error; map one to corruption anyway.
    let io_corrupt = |e: io::Error| FileEnd::Corrupt {
        offset: 0,
        record_offset: 0,
        reason: e.to_string(),
    };
    let end = match sc.header() {
        Err(e) => io_corrupt(e),
        Ok(HeaderCheck::Valid) => loop {
            match sc.next_step() {
                Err(e) => break io_corrupt(e),
                Ok(Step::Record { offset, record, .. }) => records.push((offset, record)),
                Ok(Step::End) => break FileEnd::Clean,
                Ok(Step::Torn { offset, reason }) => break FileEnd::Torn { offset, reason },
                Ok(Step::Corrupt {
                    record_offset,
                    offset,
                    reason,
                }) => {
                    break FileEnd::Corrupt {
                        offset,
                        record_offset,
                        reason: reason.into_owned(),
                    }
                }
            }
        },
        Ok(HeaderCheck::Torn) => FileEnd::Torn {
            offset: 0,
            reason: "torn log file header".into(),
        },
        Ok(HeaderCheck::UnsupportedVersion(v)) => FileEnd::UnsupportedVersion(v),
        Ok(HeaderCheck::Invalid(r)) => FileEnd::Corrupt {
            offset: 0,
            record_offset: 0,
            reason: r.into(),
        },
    };
    FileScan { records, end }
}

/// Counts the records with a valid CRC from `from` on, skipping the (damaged) record at
/// `from` itself if its length fits: how many records a truncation at `from` drops, as a
/// lower bound (records behind a second damaged one cannot be framed).
pub(crate) fn count_frames(src: Source<'_>, len: u64, from: u64) -> io::Result<u64> {
    let mut win = Window::new(src, len);
    let mut p = from;
    let mut n = 0;
    let mut first = true;
    while let Some(h) = win.get(p, FRAME_HEADER_LEN)?.and_then(FrameHeader::parse) {
        let Some(end) = p.checked_add(h.frame_len()).filter(|&e| e <= len) else {
            break;
        };
        let ok = match win.get(p + FRAME_HEADER_LEN, u64::from(h.len))? {
            Some(payload) => h.computed_crc(payload) == h.crc && is_known_type(h.typ),
            None => false,
        };
        if ok {
            n += 1;
        } else if !first {
            break;
        }
        first = false;
        p = end;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::framing::file_header;
    use crate::wal::record::RefSample;

    fn log_file(records: &[Record]) -> (Vec<u8>, Vec<u64>) {
        let mut b = file_header().to_vec();
        let mut starts = Vec::new();
        for r in records {
            starts.push(b.len() as u64);
            r.encode_frame(&mut b).unwrap();
        }
        (b, starts)
    }

    fn samples(n: u64) -> Vec<Record> {
        (0..n)
            .map(|i| {
                Record::Samples(vec![RefSample {
                    series_ref: i,
                    t: i as i64 * 1000,
                    v: i as f64,
                }])
            })
            .collect()
    }

    #[test]
    fn clean_file() {
        let recs = samples(5);
        let (b, starts) = log_file(&recs);
        let s = inspect_file(&b, true);
        assert_eq!(s.end, FileEnd::Clean);
        let got: Vec<_> = s.records.iter().map(|(o, r)| (*o, r.clone())).collect();
        let want: Vec<_> = starts.into_iter().zip(recs).collect();
        assert_eq!(got, want);
        assert_eq!(inspect_file(&file_header(), false).end, FileEnd::Clean);
    }

    #[test]
    fn torn_tail_at_every_cut() {
        let recs = samples(3);
        let (b, starts) = log_file(&recs);
        let last = starts[2];
        for cut in last + 1..b.len() as u64 {
            let s = inspect_file(&b[..cut as usize], true);
            assert_eq!(s.records.len(), 2, "cut at {cut}");
            assert!(
                matches!(s.end, FileEnd::Torn { offset, .. } if offset == last),
                "cut at {cut}: {:?}",
                s.end
            );
            // Not the last file: the same bytes are corruption.
            let s = inspect_file(&b[..cut as usize], false);
            assert!(
                matches!(s.end, FileEnd::Corrupt { record_offset, .. } if record_offset == last)
            );
        }
    }

    #[test]
    fn crc_failure_at_eof_is_torn_but_in_the_middle_is_corrupt() {
        let recs = samples(3);
        let (mut b, starts) = log_file(&recs);
        let n = b.len();
        b[n - 1] ^= 0xff;
        assert!(
            matches!(inspect_file(&b, true).end, FileEnd::Torn { offset, .. } if offset == starts[2])
        );
        b[n - 1] ^= 0xff;
        let mid = starts[1] as usize + 12;
        b[mid] ^= 0x01;
        let s = inspect_file(&b, true);
        assert_eq!(s.records.len(), 1);
        assert!(
            matches!(s.end, FileEnd::Corrupt { record_offset, .. } if record_offset == starts[1])
        );
    }

    #[test]
    fn zero_tail_is_torn() {
        let (mut b, _) = log_file(&samples(2));
        let end = b.len() as u64;
        b.extend_from_slice(&[0; 100]);
        let s = inspect_file(&b, true);
        assert_eq!(s.records.len(), 2);
        assert!(matches!(s.end, FileEnd::Torn { offset, .. } if offset == end));
        // Zeros then something else: corruption.
        b.push(1);
        assert!(matches!(
            inspect_file(&b, true).end,
            FileEnd::Corrupt { .. }
        ));
    }

    #[test]
    fn damaged_length_with_records_behind_it_is_corruption() {
        let (mut b, starts) = log_file(&samples(4));
        // Make the second record claim to be far longer than the file.
        let at = starts[1] as usize + 4;
        b[at] = 0x7f;
        let s = inspect_file(&b, true);
        assert_eq!(s.records.len(), 1);
        match s.end {
            FileEnd::Corrupt {
                record_offset,
                reason,
                ..
            } => {
                assert_eq!(record_offset, starts[1]);
                assert!(reason.contains("valid record follows"), "{reason}");
            }
            other => panic!("expected corruption, got {other:?}"),
        }
    }

    #[test]
    fn headers() {
        assert!(matches!(
            inspect_file(b"TSW", true).end,
            FileEnd::Torn { .. }
        ));
        assert!(matches!(
            inspect_file(b"TSW", false).end,
            FileEnd::Corrupt { .. }
        ));
        assert!(matches!(
            inspect_file(&[0; 30], true).end,
            FileEnd::Torn { .. }
        ));
        assert_eq!(
            inspect_file(b"TSWL\x09\0\0\0", true).end,
            FileEnd::UnsupportedVersion(9)
        );
        assert!(matches!(
            inspect_file(b"NOPE\x01\0\0\0", true).end,
            FileEnd::Corrupt { .. }
        ));
    }

    #[test]
    fn counting_dropped_frames() {
        let (mut b, starts) = log_file(&samples(4));
        let len = b.len() as u64;
        assert_eq!(count_frames(Source::Bytes(&b), len, starts[1]).unwrap(), 3);
        b[starts[1] as usize + 10] ^= 1;
        assert_eq!(count_frames(Source::Bytes(&b), len, starts[1]).unwrap(), 2);
    }
}
