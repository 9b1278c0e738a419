#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Input read in pieces (`set_more_input`, `resume`, Influx's `unparsed`) parses exactly
//! as the whole input does, wherever the pieces are cut at line ends: same samples, same
//! errors at the same lines and columns. This is how `tsdb import` streams files.

use proptest::prelude::*;
use tsdb_text::{influx, prometheus, LineError, Sample};

/// Comparable form of one parser item.
#[derive(Debug, PartialEq)]
enum Item {
    Sample(Sample),
    Error(usize, Option<usize>, String),
}

fn item(r: Result<Sample, LineError>) -> Item {
    match r {
        Ok(s) => Item::Sample(s),
        Err(e) => Item::Error(e.line, e.column, e.kind.to_string()),
    }
}

/// Line-end offsets (just past each `\n`) chosen by `picks` as piece boundaries.
fn cuts(input: &[u8], picks: &[bool]) -> Vec<usize> {
    input
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'\n')
        .map(|(i, _)| i + 1)
        .zip(picks.iter().cycle())
        .filter(|&(_, &p)| p)
        .map(|(i, _)| i)
        .collect()
}

fn prometheus_pieces(
    input: &[u8],
    opts: prometheus::Options,
    cuts: &[usize],
) -> (Vec<Item>, Option<usize>) {
    let mut bounds = cuts.to_vec();
    bounds.push(input.len());
    let mut items = Vec::new();
    let mut start = 0;
    let mut p = prometheus::Parser::new(&input[..0], opts);
    for (i, &end) in bounds.iter().enumerate() {
        p = p.resume(&input[start..end]);
        p.set_more_input(i + 1 < bounds.len());
        items.extend(p.by_ref().map(item));
        start = end;
    }
    (items, p.eof_line())
}

fn influx_pieces(input: &[u8], opts: influx::Options, cuts: &[usize]) -> (Vec<Item>, u64) {
    let mut bounds = cuts.to_vec();
    bounds.push(input.len());
    let mut items = Vec::new();
    let mut start = 0;
    let mut p = influx::Parser::new(&input[..0], opts);
    for (i, &end) in bounds.iter().enumerate() {
        p = p.resume(&input[start..end]);
        p.set_more_input(i + 1 < bounds.len());
        items.extend(p.by_ref().map(item));
        // what the piece left unparsed starts the next one
        start += p.unparsed();
    }
    assert_eq!(start, input.len(), "everything parsed in the end");
    (items, p.string_fields_skipped())
}

const PROMETHEUS: &str = "# TYPE req counter\n\
    req_total{code=\"200\"} 10 1700000000\n\
    req_created{code=\"200\"} 1690000000 1700000000\n\
    broken{ 1\n\
    \n\
    # HELP cpu the cpu\n\
    cpu{host=\"a\"} 1.5 1700000001\n\
    cpu{host=\"a\"} 2.5 1700000002\n\
    # EOF\n\
    late 1 1700000003\n";

const INFLUX: &str = "cpu,host=a usage=1,note=\"multi\n\
    line\n\
    string\" 1700000000000000000\n\
    cpu,host=a usage=2 1700000001000000000\n\
    bad line\n\
    mem,host=a used=3i,msg=\"x\" 1700000002000000000\n\
    cpu,host=a usage= 1700000003000000000\n";

#[test]
fn every_cut_of_prometheus_and_openmetrics_text_parses_as_the_whole() {
    for dialect in [
        prometheus::Dialect::Prometheus,
        prometheus::Dialect::OpenMetrics,
    ] {
        let opts = prometheus::Options::new(dialect);
        let input = PROMETHEUS.as_bytes();
        let mut whole_parser = prometheus::Parser::new(input, opts.clone());
        let whole: Vec<Item> = whole_parser.by_ref().map(item).collect();
        assert_eq!(whole_parser.eof_line(), Some(9));
        let n = input.iter().filter(|&&b| b == b'\n').count();
        for mask in 0u32..(1 << n) {
            let picks: Vec<bool> = (0..n).map(|i| mask & (1 << i) != 0).collect();
            let (items, eof_line) = prometheus_pieces(input, opts.clone(), &cuts(input, &picks));
            assert_eq!(items, whole, "{dialect:?}, cuts {mask:b}");
            assert_eq!(eof_line, Some(9));
        }
    }
    // the _created sample is recognised by the TYPE line of an earlier piece, data after
    // # EOF in a later piece is refused, and the missing # EOF is reported only at the end
    let (items, _) = prometheus_pieces(
        PROMETHEUS.as_bytes(),
        prometheus::Options::new(prometheus::Dialect::OpenMetrics),
        &cuts(PROMETHEUS.as_bytes(), &[true]),
    );
    let errors: Vec<_> = items
        .iter()
        .filter_map(|i| match i {
            Item::Error(line, _, kind) => Some((*line, kind.as_str())),
            Item::Sample(_) => None,
        })
        .collect();
    assert_eq!(errors.len(), 2, "{items:?}");
    assert_eq!(errors[1], (10, "data after # EOF"));
    let samples = items.len() - errors.len();
    assert_eq!(samples, 3, "req_total and two cpu samples, not req_created");

    let cut_short = "a 1 1\nb 2 2\n";
    let (items, eof) = prometheus_pieces(
        cut_short.as_bytes(),
        prometheus::Options::new(prometheus::Dialect::OpenMetrics),
        &[6],
    );
    assert_eq!(eof, None);
    assert_eq!(
        items.last(),
        Some(&Item::Error(
            3,
            None,
            "OpenMetrics input does not end with # EOF".into()
        ))
    );
    assert_eq!(items.len(), 3);
}

#[test]
fn every_cut_of_influx_lines_parses_as_the_whole_even_inside_strings() {
    let input = INFLUX.as_bytes();
    let opts = influx::Options::default();
    let mut whole_parser = influx::Parser::new(input, opts.clone());
    let whole: Vec<Item> = whole_parser.by_ref().map(item).collect();
    let skipped = whole_parser.string_fields_skipped();
    assert_eq!(skipped, 2);
    assert!(whole.iter().any(|i| matches!(i, Item::Error(5, ..))));
    let n = input.iter().filter(|&&b| b == b'\n').count();
    for mask in 0u32..(1 << n) {
        let picks: Vec<bool> = (0..n).map(|i| mask & (1 << i) != 0).collect();
        let (items, pieces_skipped) = influx_pieces(input, opts.clone(), &cuts(input, &picks));
        assert_eq!(items, whole, "cuts {mask:b}");
        assert_eq!(pieces_skipped, skipped);
    }
}

#[test]
fn an_influx_string_left_open_is_refused_in_the_last_piece() {
    let input = b"a x=1 1\nb s=\"open\nc y=2 2\n";
    let opts = influx::Options::default();
    let whole: Vec<Item> = influx::Parser::new(input, opts.clone()).map(item).collect();
    let (items, _) = influx_pieces(input, opts, &[8, 17]);
    assert_eq!(items, whole);
    assert!(matches!(&items[1], Item::Error(2, Some(5), k) if k == "unterminated quoted string"));
    assert_eq!(
        items.len(),
        3,
        "the line after the open string is read again: {items:?}"
    );
}

proptest! {
    #[test]
    fn random_cuts_of_random_lines(
        lines in prop::collection::vec(
            prop::sample::select(vec![
                "cpu{host=\"a\"} 1 1700000000",
                "cpu {host=\"b\"} 2 1700000001",
                "cpu 3 1700000002",
                "# TYPE x counter",
                "x_created 1 1",
                "x_total 2 1700000000",
                "m,t=v f=1,s=\"a",
                "b\" 1700000000000000000",
                "m f=2i",
                "not valid {",
                "",
                "# EOF",
            ]),
            0..24,
        ),
        picks in prop::collection::vec(any::<bool>(), 1..24),
    ) {
        let text = lines.join("\n") + "\n";
        let input = text.as_bytes();
        let c = cuts(input, &picks);
        for dialect in [prometheus::Dialect::Prometheus, prometheus::Dialect::OpenMetrics] {
            let opts = prometheus::Options::new(dialect);
            let whole: Vec<Item> = prometheus::Parser::new(input, opts.clone()).map(item).collect();
            prop_assert_eq!(prometheus_pieces(input, opts, &c).0, whole);
        }
        let opts = influx::Options::default();
        let whole: Vec<Item> = influx::Parser::new(input, opts.clone()).map(item).collect();
        prop_assert_eq!(influx_pieces(input, opts, &c).0, whole);
    }
}
