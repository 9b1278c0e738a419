//! Reading one input file a block at a time through the `tsdb-text` parsers, so memory
//! is a block and a line, not the file; and telling the file's format from the command
//! line or its extension, and noticing content that contradicts it.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use tsdb_text::{influx, prometheus, ErrorKind, LineError, Sample};

use super::{Format, ImportError};

/// What reading a file produced, handed out one at a time.
pub enum Item {
    /// A parsed sample.
    Sample(Sample),
    /// A line (or an Influx field) the parser refused.
    Line(LineError),
    /// A line longer than the limit, skipped unread: its number.
    TooLong(usize),
}

/// How the content of a file contradicts its format: the whole file is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contradiction {
    /// The line that gives it away (1-based).
    pub line: usize,
    /// What is wrong, in words.
    pub message: String,
}

/// What a whole file told once it was read.
#[derive(Debug, Default)]
pub struct FileEnd {
    /// Set when the content contradicts the format (reading stopped there).
    pub contradiction: Option<Contradiction>,
    /// Influx string fields skipped (they have no number to store).
    pub string_fields_skipped: u64,
    /// Bytes read.
    pub bytes: u64,
}

/// The parser for one format; both kinds continue from piece to piece.
enum TextParser<'a> {
    Prometheus(prometheus::Parser<'a>),
    Influx(influx::Parser<'a>),
}

impl<'a> TextParser<'a> {
    fn new(format: Format, precision: influx::Precision) -> TextParser<'static> {
        let options = |dialect| prometheus::Options::new(dialect);
        match format {
            Format::Prometheus => TextParser::Prometheus(prometheus::Parser::new(
                &[],
                options(prometheus::Dialect::Prometheus),
            )),
            Format::OpenMetrics => TextParser::Prometheus(prometheus::Parser::new(
                &[],
                options(prometheus::Dialect::OpenMetrics),
            )),
            Format::Influx => TextParser::Influx(influx::Parser::new(
                &[],
                influx::Options {
                    precision,
                    ..influx::Options::default()
                },
            )),
        }
    }

    fn resume<'b>(self, next: &'b [u8], more: bool) -> TextParser<'b> {
        match self {
            TextParser::Prometheus(p) => {
                let mut p = p.resume(next);
                p.set_more_input(more);
                TextParser::Prometheus(p)
            }
            TextParser::Influx(p) => {
                let mut p = p.resume(next);
                p.set_more_input(more);
                TextParser::Influx(p)
            }
        }
    }

    fn next(&mut self) -> Option<Result<Sample, LineError>> {
        match self {
            TextParser::Prometheus(p) => p.next(),
            TextParser::Influx(p) => p.next(),
        }
    }

    /// Bytes of the current piece left for the next one.
    fn unparsed(&self, piece: usize) -> usize {
        match self {
            TextParser::Prometheus(_) => piece,
            TextParser::Influx(p) => p.unparsed(),
        }
    }
}

/// Sizes that bound reading.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Bytes read at a time.
    pub block: usize,
    /// The longest line (for Influx, the longest logical line: a quoted string may
    /// span physical lines) that is parsed; longer ones are refused.
    pub max_line: usize,
}

/// Reads `path` in `format`, handing every sample and refused line to `out`; stops early
/// (with a [`Contradiction`]) when the content contradicts the format:
/// - Prometheus text with a `# EOF` line: that is OpenMetrics, whose timestamps are
///   seconds; read as milliseconds they would land in January 1970;
/// - OpenMetrics without a final `# EOF`: the file was cut short (a truncated
///   download), and its last line may be cut too.
pub fn read_file(
    path: &Path,
    format: Format,
    precision: influx::Precision,
    limits: Limits,
    out: &mut dyn FnMut(Item, u64) -> Result<(), ImportError>,
) -> Result<FileEnd, ImportError> {
    let read_err = |source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(read_err)?;
    let block = limits.block.max(1);
    let mut end = FileEnd::default();
    let mut buf: Vec<u8> = Vec::with_capacity(block);
    let mut parser = TextParser::new(format, precision);
    let mut eof = false;
    // inside a line longer than the limit: bytes are dropped up to its end
    let mut skipping = false;
    // lines consumed so far (for the numbers of lines the parser never sees)
    let mut lines = 0usize;
    loop {
        if !eof {
            let n = fill(&mut file, &mut buf, block).map_err(read_err)?;
            end.bytes += n as u64;
            eof = n == 0;
        }
        if skipping {
            match memchr(b'\n', &buf) {
                Some(i) => {
                    buf.drain(..=i);
                    skipping = false;
                    lines += 1;
                    // keep the parser's line numbers in step: one blank line
                    parser = parser.resume(b"\n", true);
                    while parser.next().is_some() {}
                    parser = parser.resume(&[], true);
                }
                None => {
                    buf.clear();
                    if eof {
                        break;
                    }
                    continue;
                }
            }
        }
        let cut = if eof {
            buf.len()
        } else {
            buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
        };
        // at the end of the file the last piece is parsed even when empty: the parser
        // must see the end (OpenMetrics' missing `# EOF`)
        if cut == 0 && !eof {
            if buf.len() > limits.max_line {
                out(Item::TooLong(lines + 1), end.bytes)?;
                buf.clear();
                skipping = true;
            }
            continue;
        }
        let (used, contradiction) = parse_piece(&mut parser, &buf, cut, !eof, end.bytes, out)?;
        // an Influx string still open after more than a line's worth: refuse it now (as
        // the whole file would at its end) and go on with the lines after it
        let (used, contradiction) =
            if contradiction.is_none() && used < cut && cut - used > limits.max_line {
                let (more, c) =
                    parse_piece(&mut parser, &buf[used..], cut - used, false, end.bytes, out)?;
                (used + more, c)
            } else {
                (used, contradiction)
            };
        lines += count_newlines(buf.get(..used).unwrap_or_default());
        buf.drain(..used);
        if let Some(c) = contradiction {
            end.contradiction = Some(c);
            break;
        }
        if eof && buf.is_empty() {
            break;
        }
    }
    if let TextParser::Influx(p) = &parser {
        end.string_fields_skipped = p.string_fields_skipped();
    }
    Ok(end)
}

/// Parses `buf[..cut]` (`more`: input follows), handing items to `out`; returns the bytes
/// used and a contradiction if one showed. Leaves `parser` holding no borrow.
fn parse_piece(
    parser: &mut TextParser<'static>,
    buf: &[u8],
    cut: usize,
    more: bool,
    bytes: u64,
    out: &mut dyn FnMut(Item, u64) -> Result<(), ImportError>,
) -> Result<(usize, Option<Contradiction>), ImportError> {
    let piece = buf.get(..cut).unwrap_or_default();
    let taken = std::mem::replace(
        parser,
        TextParser::new(Format::Prometheus, influx::Precision::Nanoseconds),
    );
    let mut p = taken.resume(piece, more);
    let mut contradiction = None;
    while let Some(item) = p.next() {
        match item {
            Ok(s) => out(Item::Sample(s), bytes)?,
            Err(e) if matches!(e.kind, ErrorKind::MissingEof) => {
                contradiction = Some(Contradiction {
                    line: e.line,
                    message: "OpenMetrics text must end with a \"# EOF\" line: the file was cut short (a truncated download?)".into(),
                });
            }
            Err(e) => out(Item::Line(e), bytes)?,
        }
    }
    if let TextParser::Prometheus(pp) = &p {
        if let (Some(line), prometheus::Dialect::Prometheus) = (pp.eof_line(), pp.dialect()) {
            contradiction = Some(Contradiction {
                line,
                message: "\"# EOF\" in Prometheus text: this is OpenMetrics, whose timestamps are seconds, not milliseconds".into(),
            });
        }
    }
    let used = p.unparsed(cut);
    *parser = p.resume(&[], more);
    Ok((used, contradiction))
}

/// Appends up to `block` bytes from `r` to `buf` (fewer only at the end); returns how many.
fn fill(r: &mut impl Read, buf: &mut Vec<u8>, block: usize) -> std::io::Result<usize> {
    let start = buf.len();
    buf.resize(start + block, 0);
    let mut got = 0;
    while got < block {
        let Some(dst) = buf.get_mut(start + got..) else {
            break;
        };
        match r.read(dst) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                buf.truncate(start);
                return Err(e);
            }
        }
    }
    buf.truncate(start + got);
    Ok(got)
}

fn memchr(b: u8, s: &[u8]) -> Option<usize> {
    s.iter().position(|&x| x == b)
}

fn count_newlines(s: &[u8]) -> usize {
    s.iter().filter(|&&b| b == b'\n').count()
}
