//! `Parser::next_known` against `Parser::next` as the oracle: for any body (valid and
//! broken lines mixed), read twice with a cache of series texts kept across both reads
//! (a scrape cache over two scrapes), every item is the one `next` gives: the same
//! errors at the same lines, the same skipped lines, and for known series texts the
//! labels remembered from when they were new.

use std::collections::HashMap;

use proptest::prelude::*;
use tsdb_index::Labels;
use tsdb_text::prometheus::{Dialect, Options, Parser, SampleRef};

/// One line from fragments that hit every branch: names with and without `_created`,
/// whitespace before `{`, label sets valid and broken (quotes, escapes, braces inside
/// values, reserved names, quoted metric names), values and timestamps good and bad,
/// exemplars, metadata lines.
fn line() -> impl Strategy<Value = String> {
    let name = prop::sample::select(vec!["m", "m_total", "m_created", "x_created", "", "9bad"]);
    let ws = prop::sample::select(vec!["", " ", "\t "]);
    let labels = prop::sample::select(vec![
        "",
        "{}",
        "{a=\"1\"}",
        "{a=\"1\",}",
        "{b=\"x\\\"}\",a=\"2\"}",
        "{a=\"}\"}",
        "{a=\"1\"",
        "{__bad=\"1\"}",
        "{\"m\",a=\"3\"}",
        "{a=\"\\q\"}",
        "{a=1}",
    ]);
    let value = prop::sample::select(vec![" 1", " NaN", " -2.5e3", " x", "", " +Inf"]);
    let ts = prop::sample::select(vec!["", " 1000", " abc", " 1000 2"]);
    let exemplar = prop::sample::select(vec!["", " # {t=\"1\"} 1"]);
    let meta = prop::sample::select(vec![
        "# TYPE m counter",
        "# TYPE x counter",
        "# HELP m some help",
        "# a comment",
        "",
    ]);
    prop_oneof![
        4 => (name, ws, labels, value, ts, exemplar)
            .prop_map(|(n, w, l, v, t, e)| format!("{n}{w}{l}{v}{t}{e}")),
        1 => meta.prop_map(str::to_owned),
    ]
}

/// What an item says, comparable across the two ways of reading.
#[derive(Debug, PartialEq)]
enum Got {
    Sample(Labels, Option<i64>, u64),
    Error(String),
}

fn read_plain(body: &[u8], opts: &Options) -> Vec<Got> {
    Parser::new(body, opts.clone())
        .map(|r| match r {
            Ok(s) => Got::Sample(s.labels, s.timestamp, s.value.to_bits()),
            Err(e) => Got::Error(e.to_string()),
        })
        .collect()
}

fn read_known(body: &[u8], opts: &Options, cache: &mut HashMap<Vec<u8>, Labels>) -> Vec<Got> {
    let mut p = Parser::new(body, opts.clone());
    let mut out = Vec::new();
    while let Some(r) = p.next_known(|series| cache.contains_key(series)) {
        out.push(match r {
            Ok(SampleRef::New { series, sample }) => {
                cache.insert(series.to_vec(), sample.labels.clone());
                Got::Sample(sample.labels, sample.timestamp, sample.value.to_bits())
            }
            Ok(SampleRef::Known {
                series,
                value,
                timestamp,
            }) => match cache.get(series) {
                Some(l) => Got::Sample(l.clone(), timestamp, value.to_bits()),
                None => Got::Error("known series not in the cache".into()),
            },
            Err(e) => Got::Error(e.to_string()),
        });
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn next_known_reads_as_next(
        lines in prop::collection::vec(line(), 0..24),
        om in any::<bool>(),
        default_ts in prop::option::of(0i64..10_000),
    ) {
        let body = lines.join("\n");
        let mut opts = Options::new(if om { Dialect::OpenMetrics } else { Dialect::Prometheus });
        opts.default_timestamp = default_ts;
        let want = read_plain(body.as_bytes(), &opts);
        let mut cache = HashMap::new();
        for round in 0..2 {
            let got = read_known(body.as_bytes(), &opts, &mut cache);
            prop_assert_eq!(&got, &want, "round {}\n{}", round, body);
        }
    }
}

#[test]
fn known_series_skip_the_label_parse() {
    let body =
        b"# TYPE m counter\nm_total{a=\"1\"} 1\nm_total{a=\"1\"} 2 5\nm_created{a=\"1\"} 3\n";
    let mut cache: HashMap<Vec<u8>, Labels> = HashMap::new();
    let mut kinds = Vec::new();
    let mut p = Parser::new(body, Options::new(Dialect::Prometheus));
    while let Some(r) = p.next_known(|s| cache.contains_key(s)) {
        match r.unwrap() {
            SampleRef::New { series, sample } => {
                assert_eq!(series, b"m_total{a=\"1\"}");
                cache.insert(series.to_vec(), sample.labels);
                kinds.push("new");
            }
            SampleRef::Known {
                series,
                value,
                timestamp,
            } => {
                assert_eq!(series, b"m_total{a=\"1\"}");
                assert_eq!((value, timestamp), (2.0, Some(5)));
                kinds.push("known");
            }
        }
    }
    // the _created line of a counter family is skipped either way
    assert_eq!(kinds, ["new", "known"]);
}
