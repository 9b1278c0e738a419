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

    /// The line of a `# EOF` read as Prometheus text, which contradicts the format.
    fn eof_in_prometheus_text(&self) -> Option<usize> {
        match self {
            TextParser::Prometheus(p) if p.dialect() == prometheus::Dialect::Prometheus => {
                p.eof_line()
            }
            _ => None,
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
                    skip_line(&mut parser, &mut lines);
                }
                None => {
                    buf.clear();
                    if !eof {
                        continue;
                    }
                }
            }
        }
        // Only the first line of the buffer can be longer than a block: every later one
        // starts inside the block just read. So checking it alone refuses every line
        // longer than the limit, wherever the blocks fall.
        match memchr(b'\n', &buf) {
            Some(i) if i > limits.max_line => {
                out(Item::TooLong(lines + 1), end.bytes)?;
                buf.drain(..=i);
                skip_line(&mut parser, &mut lines);
                continue;
            }
            None if buf.len() > limits.max_line => {
                out(Item::TooLong(lines + 1), end.bytes)?;
                buf.clear();
                skipping = !eof;
                if !eof {
                    continue;
                }
            }
            _ => {}
        }
        let cut = if eof {
            buf.len()
        } else {
            buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
        };
        // at the end of the file the last piece is parsed even when empty: the parser
        // must see the end (OpenMetrics' missing `# EOF`)
        if cut == 0 && !eof {
            continue;
        }
        let (used, contradiction) = parse_piece(&mut parser, &buf, cut, !eof, end.bytes, out)?;
        // an Influx string still open after more than a line's worth: refuse it now (as
        // the whole file would at its end) and go on with the lines after it
        let (used, contradiction) =
            if contradiction.is_none() && used < cut && cut - used > limits.max_line {
                let rest = buf.get(used..cut).unwrap_or_default();
                let (more, c) = parse_piece(&mut parser, rest, rest.len(), false, end.bytes, out)?;
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
        if p.eof_in_prometheus_text().is_some() {
            break; // the file is refused: nothing after the `# EOF` line matters
        }
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
    if let Some(line) = p.eof_in_prometheus_text() {
        {
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

/// Counts a line that was skipped unread, in `lines` and in the parser (as a blank line,
/// so its line numbers stay in step).
fn skip_line(parser: &mut TextParser<'static>, lines: &mut usize) {
    *lines += 1;
    let taken = std::mem::replace(
        parser,
        TextParser::new(Format::Prometheus, influx::Precision::Nanoseconds),
    );
    let mut p = taken.resume(b"\n", true);
    while p.next().is_some() {}
    *parser = p.resume(&[], true);
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Everything `read_file` hands out, as text, and how the file ended.
    fn read_all(
        text: &[u8],
        ext: &str,
        format: Format,
        limits: Limits,
    ) -> (Vec<String>, Option<Contradiction>, u64) {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else {
            return (Vec::new(), None, 0);
        };
        let path = dir.path().join(format!("in.{ext}"));
        if std::fs::write(&path, text).is_err() {
            return (Vec::new(), None, 0);
        }
        let mut items = Vec::new();
        let end = read_file(
            &path,
            format,
            influx::Precision::Nanoseconds,
            limits,
            &mut |item, _| {
                items.push(match item {
                    Item::Sample(s) => {
                        format!("{} {:?} {:x}", s.labels, s.timestamp, s.value.to_bits())
                    }
                    Item::Line(e) => e.to_string(),
                    Item::TooLong(line) => format!("line {line} too long"),
                });
                Ok(())
            },
        );
        match end {
            Ok(end) => (items, end.contradiction, end.string_fields_skipped),
            Err(e) => (vec![format!("error {e}")], None, 0),
        }
    }

    const WHOLE: Limits = Limits {
        block: 1 << 20,
        max_line: 1 << 20,
    };

    proptest! {
        #[test]
        fn any_block_size_reads_as_the_whole_file(
            lines in prop::collection::vec(
                prop::sample::select(vec![
                    "cpu{host=\"a\"} 1 1700000000",
                "cpu {host=\"b\"} 2 1700000001",
                "cpu 3 1700000002",
                    "# TYPE x counter",
                    "x_created 1 1",
                    "x_total 2 1700000000000",
                    "m,t=v f=1,s=\"a",
                    "b\" 1700000000000000000",
                    "m f=2i,g=\"x\" 17",
                    "not valid {",
                    "",
                    "# EOF",
                    "late 1 2",
                ]),
                0..30,
            ),
            block in 1usize..40,
            format in prop::sample::select(vec![Format::Prometheus, Format::OpenMetrics, Format::Influx]),
            newline_at_end in any::<bool>(),
        ) {
            let mut text = lines.join("\n");
            if newline_at_end {
                text.push('\n');
            }
            let want = read_all(text.as_bytes(), "x", format, WHOLE);
            let got = read_all(text.as_bytes(), "x", format, Limits { block, max_line: 1 << 20 });
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn overlong_lines_are_skipped_and_numbered() {
        let text = format!("a 1 1\n{}\nb 2 2\n{} 3 3", "x".repeat(100), "y".repeat(50));
        for block in [1, 7, 16, 64] {
            let (items, contradiction, _) = read_all(
                text.as_bytes(),
                "prom",
                Format::Prometheus,
                Limits {
                    block,
                    max_line: 32,
                },
            );
            assert_eq!(
                items,
                [
                    "a{} Some(1) 3ff0000000000000",
                    "line 2 too long",
                    "b{} Some(2) 4000000000000000",
                    "line 4 too long",
                ],
                "block {block}"
            );
            assert_eq!(contradiction, None);
        }
    }

    #[test]
    fn an_influx_string_open_past_the_line_limit_is_refused_and_reading_goes_on() {
        // a string opened on line 2 never closes: refused once it is longer than a line
        // may be, then the lines inside it are read as lines, as the whole file would be
        let mut text = String::from("m f=1 1\nm s=\"open\n");
        for i in 0..20 {
            text.push_str(&format!("m f={i} {i}\n"));
        }
        let want = read_all(text.as_bytes(), "lp", Format::Influx, WHOLE);
        let got = read_all(
            text.as_bytes(),
            "lp",
            Format::Influx,
            Limits {
                block: 8,
                max_line: 64,
            },
        );
        assert_eq!(got, want);
        assert!(got
            .0
            .iter()
            .any(|i| i.contains("unterminated quoted string")));
        assert_eq!(got.0.len(), 22, "{:?}", got.0);
    }

    #[test]
    fn contradictions_name_their_line() {
        let (_, c, _) = read_all(b"m 1 1\n# EOF\n", "prom", Format::Prometheus, WHOLE);
        assert_eq!(c.map(|c| c.line), Some(2));
        let (_, c, _) = read_all(b"m 1 1\nm 2 2\n", "om", Format::OpenMetrics, WHOLE);
        assert_eq!(c.map(|c| c.line), Some(3));
        let (_, c, _) = read_all(b"m 1 1\n# EOF\n", "om", Format::OpenMetrics, WHOLE);
        assert_eq!(c, None);
        let (_, c, skipped) = read_all(b"m s=\"x\" 1\n# EOF\n", "lp", Format::Influx, WHOLE);
        assert_eq!((c, skipped), (None, 1));
    }
}
