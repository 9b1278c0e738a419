//! The scrape step (`ScrapeState::process`) against Prometheus 2.42's `scrapeLoop.append`
//! and `report`: what is appended (values bit for bit, labels), target labels with and
//! without `honor_labels`, metric relabeling, the limits, staleness across scrapes, failed
//! scrapes, content types, and a proptest that no body makes it panic.

use std::time::Duration;

use proptest::prelude::*;
use tsdb_index::Labels;
use tsdb_scrape::scrape::REPORT_SERIES;
use tsdb_scrape::{
    stale_nan, AppendSample, RelabelConfig, ScrapeError, ScrapeOptions, ScrapeOutcome, ScrapeState,
    STALE_NAN_BITS,
};

const T: i64 = 1_700_000_000_000;
const TEXT: Option<&str> = Some("text/plain; version=0.0.4; charset=utf-8");
const OM: Option<&str> = Some("application/openmetrics-text; version=1.0.0; charset=utf-8");
const DUR: Duration = Duration::from_millis(250);

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::build_unchecked(pairs.iter().copied()).unwrap_or_else(Labels::empty)
}

fn target() -> Labels {
    l(&[("job", "node"), ("instance", "h:9100")])
}

fn s(pairs: &[(&str, &str)], t: i64, v: f64) -> AppendSample {
    AppendSample {
        labels: l(pairs),
        t,
        v,
        series_ref: None,
    }
}

fn rules(yaml: &str) -> Vec<RelabelConfig> {
    match serde_saphyr::from_str::<Vec<RelabelConfig>>(yaml) {
        Ok(r) => r,
        Err(e) => panic!("rules do not load: {e}\n{yaml}"),
    }
}

/// The scraped samples and stale markers: everything but the five report series at the end.
fn data(o: &ScrapeOutcome) -> &[AppendSample] {
    let n = o.samples.len();
    assert!(n >= 5, "no report series in {o:?}");
    let (data, report) = o.samples.split_at(n - 5);
    for (r, name) in report.iter().zip(REPORT_SERIES) {
        assert_eq!(r.labels.metric_name(), Some(name));
    }
    data
}

/// The report series as (name, value) pairs, checking their labels and time.
fn report(o: &ScrapeOutcome, t: i64, target: &Labels) -> Vec<(String, f64)> {
    let n = o.samples.len();
    o.samples[n - 5..]
        .iter()
        .map(|r| {
            assert_eq!(r.t, t);
            let name = r.labels.metric_name().unwrap_or_default().to_owned();
            let rest: Vec<(&str, &str)> =
                r.labels.iter().filter(|(n, _)| *n != "__name__").collect();
            let want: Vec<(&str, &str)> = target.iter().collect();
            assert_eq!(rest, want, "labels of {name}");
            (name, r.v)
        })
        .collect()
}

fn assert_samples(got: &[AppendSample], want: &[AppendSample]) {
    assert_eq!(got.len(), want.len(), "got {got:#?}\nwant {want:#?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.labels, w.labels);
        assert_eq!(g.t, w.t, "{}", g.labels);
        assert_eq!(
            g.v.to_bits(),
            w.v.to_bits(),
            "{}: {} vs {}",
            g.labels,
            g.v,
            w.v
        );
    }
}

fn run(
    state: &mut ScrapeState,
    body: &str,
    ct: Option<&str>,
    t: i64,
    opts: &ScrapeOptions,
) -> ScrapeOutcome {
    state.process(body.as_bytes(), ct, t, DUR, &target(), opts)
}

fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// Expected (labels, t, v).
type Want = (Vec<(String, String)>, i64, f64);

#[test]
fn table_of_bodies() {
    let tg: &[(&str, &str)] = &[("instance", "h:9100"), ("job", "node")];
    let with = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        extra
            .iter()
            .chain(tg)
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    };
    struct Case {
        body: &'static str,
        ct: Option<&'static str>,
        want: Vec<Want>,
    }
    let cases = vec![
        Case {
            body: "# HELP m A gauge.\n# TYPE m gauge\nm 1.5\nm_total{a=\"x\"} -0\n",
            ct: TEXT,
            want: vec![
                (with(&[("__name__", "m")]), T, 1.5),
                (with(&[("__name__", "m_total"), ("a", "x")]), T, -0.0),
            ],
        },
        Case {
            body: "a NaN\nb +Inf\nc -Inf\nd 1e308\ne 0.1 1600000000123\n",
            ct: TEXT,
            want: vec![
                (with(&[("__name__", "a")]), T, f64::NAN),
                (with(&[("__name__", "b")]), T, f64::INFINITY),
                (with(&[("__name__", "c")]), T, f64::NEG_INFINITY),
                (with(&[("__name__", "d")]), T, 1e308),
                (with(&[("__name__", "e")]), 1_600_000_000_123, 0.1),
            ],
        },
        Case {
            // OpenMetrics: seconds; `_created` of a counter is not a sample.
            body: "# TYPE c counter\nc_total 3 1600000000.5\nc_created 1600000000\n# EOF\n",
            ct: OM,
            want: vec![(with(&[("__name__", "c_total")]), 1_600_000_000_500, 3.0)],
        },
        Case {
            // An empty exposed value is no label.
            body: "m{a=\"\",b=\"2\"} 7\n",
            ct: None,
            want: vec![(with(&[("__name__", "m"), ("b", "2")]), T, 7.0)],
        },
        Case {
            body: "",
            ct: TEXT,
            want: vec![],
        },
    ];
    for c in cases {
        let mut st = ScrapeState::new();
        let o = run(&mut st, c.body, c.ct, T, &ScrapeOptions::default());
        assert!(o.error.is_none(), "{:?}: {:?}", c.body, o.error);
        let want: Vec<AppendSample> = c
            .want
            .iter()
            .map(|(pairs, t, v)| AppendSample {
                labels: Labels::build_unchecked(
                    pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())),
                )
                .unwrap_or_else(Labels::empty),
                t: *t,
                v: *v,
                series_ref: None,
            })
            .collect();
        assert_samples(data(&o), &want);
        let n = want.len() as f64;
        assert_eq!(
            report(&o, T, &target()),
            vec![
                ("up".to_owned(), 1.0),
                ("scrape_duration_seconds".to_owned(), 0.25),
                ("scrape_samples_scraped".to_owned(), n),
                ("scrape_samples_post_metric_relabeling".to_owned(), n),
                ("scrape_series_added".to_owned(), n),
            ],
            "{:?}",
            c.body
        );
        assert_eq!(o.to_batch().len(), o.samples.len());
    }
}

#[test]
fn honor_labels_false_keeps_exposed_values_as_exported() {
    let mut st = ScrapeState::new();
    let body = "m{job=\"x\",instance=\"i2\",other=\"o\"} 1\n\
                n{job=\"x\",exported_job=\"y\"} 2\n";
    let o = run(&mut st, body, TEXT, T, &ScrapeOptions::default());
    assert!(o.error.is_none());
    assert_samples(
        data(&o),
        &[
            s(
                &[
                    ("__name__", "m"),
                    ("job", "node"),
                    ("instance", "h:9100"),
                    ("exported_job", "x"),
                    ("exported_instance", "i2"),
                    ("other", "o"),
                ],
                T,
                1.0,
            ),
            s(
                &[
                    ("__name__", "n"),
                    ("job", "node"),
                    ("instance", "h:9100"),
                    ("exported_job", "y"),
                    ("exported_exported_job", "x"),
                ],
                T,
                2.0,
            ),
        ],
    );
}

#[test]
fn exported_conflicts_resolve_shortest_name_first() {
    // Target labels `z` and `exported_z`, both exposed too. By name `exported_z` comes
    // first, but Prometheus resolves the shorter `z` first: it takes
    // `exported_exported_z` and `exported_z`'s exposed value gets the next free name.
    let tg = l(&[("z", "T"), ("exported_z", "U")]);
    let mut st = ScrapeState::new();
    let o = st.process(
        b"m{z=\"x\",exported_z=\"y\"} 1\n",
        TEXT,
        T,
        DUR,
        &tg,
        &ScrapeOptions::default(),
    );
    assert_samples(
        data(&o),
        &[s(
            &[
                ("__name__", "m"),
                ("z", "T"),
                ("exported_z", "U"),
                ("exported_exported_z", "x"),
                ("exported_exported_exported_z", "y"),
            ],
            T,
            1.0,
        )],
    );
}

#[test]
fn honor_labels_true_keeps_exposed_values() {
    let mut st = ScrapeState::new();
    let opts = ScrapeOptions {
        honor_labels: true,
        ..ScrapeOptions::default()
    };
    let o = run(&mut st, "m{job=\"x\"} 1\n", TEXT, T, &opts);
    assert_samples(
        data(&o),
        &[s(
            &[("__name__", "m"), ("job", "x"), ("instance", "h:9100")],
            T,
            1.0,
        )],
    );
    // The report series carry the target's labels whatever honor_labels says.
    assert_eq!(report(&o, T, &target())[0], ("up".to_owned(), 1.0));
}

#[test]
fn metric_relabeling_drops_and_renames() {
    let opts = ScrapeOptions {
        metric_relabel_configs: rules(
            "- source_labels: [__name__]\n  regex: go_.*\n  action: drop\n\
             - source_labels: [__name__]\n  regex: old_(.*)\n  target_label: __name__\n  replacement: new_$1\n\
             - regex: instance\n  action: labeldrop\n",
        ),
        ..ScrapeOptions::default()
    };
    let mut st = ScrapeState::new();
    let o = run(
        &mut st,
        "go_goroutines 10\nold_thing{k=\"v\"} 2\nkept 3\ngo_threads 4\n",
        TEXT,
        T,
        &opts,
    );
    assert!(o.error.is_none());
    assert_samples(
        data(&o),
        &[
            s(
                &[("__name__", "new_thing"), ("k", "v"), ("job", "node")],
                T,
                2.0,
            ),
            s(&[("__name__", "kept"), ("job", "node")], T, 3.0),
        ],
    );
    let r = report(&o, T, &target());
    assert_eq!(r[2].1, 4.0, "scraped");
    assert_eq!(r[3].1, 2.0, "post relabeling");
    assert_eq!(r[4].1, 2.0, "series added");
}

#[test]
fn relabeling_into_an_invalid_or_nameless_series_fails_the_scrape() {
    let mut st = ScrapeState::new();
    let nameless = ScrapeOptions {
        metric_relabel_configs: rules("- regex: __name__\n  action: labeldrop\n"),
        ..ScrapeOptions::default()
    };
    let o = run(&mut st, "m 1\n", TEXT, T, &nameless);
    assert_eq!(
        o.error.as_ref().map(|e| e.to_string()).as_deref(),
        Some("missing metric name (__name__ label)")
    );
    let invalid = ScrapeOptions {
        metric_relabel_configs: rules("- target_label: __name__\n  replacement: 1bad\n"),
        ..ScrapeOptions::default()
    };
    let o = run(&mut st, "m 1\n", TEXT, T, &invalid);
    let e = o.error.as_ref().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        e.starts_with("invalid metric name or label names: {__name__=\"1bad\""),
        "{e}"
    );
    assert!(data(&o).is_empty());
}

#[test]
fn sample_limit_fails_the_whole_scrape() {
    let mut st = ScrapeState::new();
    let opts = ScrapeOptions {
        sample_limit: 2,
        ..ScrapeOptions::default()
    };
    // At the limit: fine.
    let o = run(&mut st, "a 1\nb 2\n", TEXT, T, &opts);
    assert!(o.error.is_none());
    assert_eq!(data(&o).len(), 2);
    // Over it: nothing scraped is appended, the previous series go stale, the counts
    // cover the whole body.
    let t2 = T + 15_000;
    let o = run(&mut st, "a 1\nb 2\nc 3\nd 4\n", TEXT, t2, &opts);
    assert!(matches!(o.error, Some(ScrapeError::SampleLimitExceeded)));
    assert_eq!(
        o.error.as_ref().map(ToString::to_string).as_deref(),
        Some("sample limit exceeded")
    );
    let d = data(&o);
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|x| is_stale(x.v) && x.t == t2));
    assert_eq!(
        report(&o, t2, &target())
            .iter()
            .map(|x| x.1)
            .collect::<Vec<_>>(),
        vec![0.0, 0.25, 4.0, 4.0, 0.0]
    );
    // Counted after relabeling: dropping two brings it under the limit.
    let opts = ScrapeOptions {
        sample_limit: 2,
        metric_relabel_configs: rules(
            "- source_labels: [__name__]\n  regex: '[cd]'\n  action: drop\n",
        ),
        ..ScrapeOptions::default()
    };
    let o = run(&mut st, "a 1\nb 2\nc 3\nd 4\n", TEXT, T + 30_000, &opts);
    assert!(o.error.is_none(), "{:?}", o.error);
    assert_eq!(data(&o).len(), 2);
}

#[test]
fn label_limits_fail_the_scrape_with_prometheus_messages() {
    let cases: [(ScrapeOptions, &str, &str); 3] = [
        (
            ScrapeOptions {
                label_limit: 4,
                ..ScrapeOptions::default()
            },
            "ok{a=\"1\"} 1\nm{a=\"1\",b=\"2\"} 1\n",
            "label_limit exceeded (metric: m, number of labels: 5, limit: 4)",
        ),
        (
            ScrapeOptions {
                label_name_length_limit: 8,
                ..ScrapeOptions::default()
            },
            "m{long_name_x=\"1\"} 1\n",
            "label_name_length_limit exceeded (metric: m, label name: long_name_x, length: 11, limit: 8)",
        ),
        (
            ScrapeOptions {
                label_value_length_limit: 6,
                ..ScrapeOptions::default()
            },
            "m{a=\"short\"} 1\n",
            // the target's `instance` value h:9100 is 6 bytes: allowed
            "",
        ),
    ];
    for (opts, body, want) in cases {
        let mut st = ScrapeState::new();
        let o = run(&mut st, body, TEXT, T, &opts);
        match &o.error {
            None => assert_eq!(want, "", "{body}"),
            Some(e) => {
                assert_eq!(e.to_string(), want);
                assert!(data(&o).is_empty());
                assert_eq!(report(&o, T, &target())[0].1, 0.0);
            }
        }
    }
    let opts = ScrapeOptions {
        label_value_length_limit: 5,
        ..ScrapeOptions::default()
    };
    let o = run(&mut ScrapeState::new(), "m 1\n", TEXT, T, &opts);
    assert_eq!(
        o.error.as_ref().map(|e| e.to_string()).as_deref(),
        Some("label_value_length_limit exceeded (metric: m, label name: instance, value: \"h:9100\", length: 6, limit: 5)")
    );
}

#[test]
fn staleness_across_three_scrapes() {
    let opts = ScrapeOptions::default();
    let mut st = ScrapeState::new();
    let (t1, t2, t3) = (T, T + 15_000, T + 30_000);
    let a = [("__name__", "a"), ("job", "node"), ("instance", "h:9100")];
    let b = [("__name__", "b"), ("job", "node"), ("instance", "h:9100")];
    let o = run(&mut st, "a 1\nb 2\n", TEXT, t1, &opts);
    assert_eq!(o.report.series_added, 2);
    assert_eq!(st.tracked_series().len(), 2);
    // b disappears: a stale marker at the scrape time.
    let o = run(&mut st, "a 3\n", TEXT, t2, &opts);
    assert_samples(data(&o), &[s(&a, t2, 3.0), s(&b, t2, stale_nan())]);
    assert_eq!((o.stale_markers, o.report.series_added), (1, 0));
    // b comes back: a new series again, no marker.
    let o = run(&mut st, "a 4\nb 5\n", TEXT, t3, &opts);
    assert_samples(data(&o), &[s(&a, t3, 4.0), s(&b, t3, 5.0)]);
    assert_eq!((o.stale_markers, o.report.series_added), (0, 1));
    // The target goes away: both series and the five report series go stale.
    let t4 = T + 45_000;
    let gone = st.stale_all(t4, &target());
    assert_eq!(gone.len(), 7);
    assert!(gone.iter().all(|x| is_stale(x.v) && x.t == t4));
    assert!(st.tracked_series().is_empty());
}

#[test]
fn series_with_their_own_timestamps_are_not_tracked() {
    let mut st = ScrapeState::new();
    let opts = ScrapeOptions::default();
    run(&mut st, "a 1 1600000000000\nb 2\n", TEXT, T, &opts);
    let o = run(&mut st, "", TEXT, T + 15_000, &opts);
    // only b gets a marker
    assert_eq!(o.stale_markers, 1);
    assert_eq!(data(&o)[0].labels.metric_name(), Some("b"));
    // Without honor_timestamps the written time is ignored and `a` is tracked.
    let opts = ScrapeOptions {
        honor_timestamps: false,
        ..ScrapeOptions::default()
    };
    let mut st = ScrapeState::new();
    let o = run(&mut st, "a 1 1600000000000\n", TEXT, T, &opts);
    assert_eq!(data(&o)[0].t, T);
    assert_eq!(st.tracked_series().len(), 1);
}

#[test]
fn garbage_body_fails_marks_stale_and_appends_nothing_else() {
    let mut st = ScrapeState::new();
    let opts = ScrapeOptions::default();
    run(&mut st, "a 1\nb 2\n", TEXT, T, &opts);
    let t2 = T + 15_000;
    let o = run(&mut st, "a 1\n<html>oops</html>\nb 2\n", TEXT, t2, &opts);
    let e = o
        .error
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(e.starts_with("line 2"), "{e}");
    assert!(matches!(o.error, Some(ScrapeError::Parse(ref le)) if le.line == 2));
    let d = data(&o);
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|x| is_stale(x.v) && x.t == t2));
    let r = report(&o, t2, &target());
    assert_eq!(r[0].1, 0.0);
    assert_eq!(
        r[2].1, 1.0,
        "Prometheus reports what it read before the error"
    );
    // Nothing is tracked after a failure: the next good scrape writes no markers.
    assert!(st.tracked_series().is_empty());
    let o = run(&mut st, "a 1\n", TEXT, t2 + 15_000, &opts);
    assert_eq!(o.stale_markers, 0);
    // `a` was seen by the failed scrape (Prometheus's cache keeps it): not added.
    assert_eq!(o.report.series_added, 0);
}

#[test]
fn fetch_failure() {
    let mut st = ScrapeState::new();
    run(&mut st, "a 1\n", TEXT, T, &ScrapeOptions::default());
    let o = st.fail(
        ScrapeError::Fetch("context deadline exceeded".into()),
        T + 15_000,
        Duration::from_secs(10),
        &target(),
    );
    assert_eq!(
        o.error.as_ref().map(|e| e.to_string()).as_deref(),
        Some("context deadline exceeded")
    );
    assert_eq!(data(&o).len(), 1);
    assert_eq!(
        report(&o, T + 15_000, &target())
            .iter()
            .map(|x| x.1)
            .collect::<Vec<_>>(),
        vec![0.0, 10.0, 0.0, 0.0, 0.0]
    );
}

#[test]
fn content_types_choose_the_dialect() {
    let om = "m 1 1600000000.25\n# EOF\n";
    let o = run(
        &mut ScrapeState::new(),
        om,
        OM,
        T,
        &ScrapeOptions::default(),
    );
    assert_eq!(data(&o)[0].t, 1_600_000_000_250);
    // Served as text (or with no or an unknown type): Prometheus text, where a decimal
    // timestamp is a parse error; the content is never sniffed.
    for ct in [TEXT, None, Some("application/json"), Some(";;garbage")] {
        let o = run(
            &mut ScrapeState::new(),
            om,
            ct,
            T,
            &ScrapeOptions::default(),
        );
        assert!(matches!(o.error, Some(ScrapeError::Parse(_))), "{ct:?}");
    }
    // OpenMetrics needs its `# EOF`.
    let o = run(
        &mut ScrapeState::new(),
        "m 1\n",
        OM,
        T,
        &ScrapeOptions::default(),
    );
    assert!(matches!(o.error, Some(ScrapeError::Parse(_))));
    // Text takes `# EOF` as a comment.
    let o = run(
        &mut ScrapeState::new(),
        "m 1\n# EOF\n",
        TEXT,
        T,
        &ScrapeOptions::default(),
    );
    assert!(o.error.is_none());
}

#[test]
fn duplicate_series_first_sample_wins() {
    let mut st = ScrapeState::new();
    let o = run(
        &mut st,
        "m 1\nm 2\nm{} 3\n",
        TEXT,
        T,
        &ScrapeOptions::default(),
    );
    assert!(o.error.is_none());
    assert_samples(
        data(&o),
        &[s(
            &[("__name__", "m"), ("job", "node"), ("instance", "h:9100")],
            T,
            1.0,
        )],
    );
    assert_eq!(o.duplicates, 2);
    // Prometheus's series cache is keyed by the text as written: `m` and `m{}` are two
    // entries, each counted as added on its first sight
    assert_eq!(
        (
            o.report.samples_scraped,
            o.report.samples_post_metric_relabeling,
            o.report.series_added
        ),
        (3, 3, 2)
    );
}

/// The outcome appended to a real database: values, stale markers (bit for bit) and the
/// report series read back.
#[test]
#[allow(clippy::unwrap_used)]
fn appended_to_a_database() {
    use std::sync::Arc;
    use tsdb_core::{Db, ManualClock, Options};
    use tsdb_index::Matcher;

    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(
        tmp.path(),
        Options {
            clock: Arc::new(ManualClock::new(T)),
            ..Options::default()
        },
    )
    .unwrap();
    let mut st = ScrapeState::new();
    let opts = ScrapeOptions::default();
    for (i, body) in ["a 1\nb 2\n", "a 3\n", "a 4\nb 5\n"].iter().enumerate() {
        let o = run(&mut st, body, TEXT, T + i as i64 * 15_000, &opts);
        let r = db.append_batch(&o.to_batch()).unwrap();
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
        assert_eq!(r.accepted, o.samples.len());
    }
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let read = |name: &str| -> Vec<(i64, u64)> {
        let found = q.select(&[Matcher::equal("__name__", name)]).unwrap();
        assert_eq!(found.len(), 1, "{name}");
        assert_eq!(found[0].labels().get("instance"), Some("h:9100"));
        found[0]
            .iter()
            .map(|r| r.map(|s| (s.t, s.v.to_bits())).unwrap())
            .collect()
    };
    assert_eq!(
        read("b"),
        vec![
            (T, 2f64.to_bits()),
            (T + 15_000, STALE_NAN_BITS),
            (T + 30_000, 5f64.to_bits())
        ]
    );
    assert_eq!(
        read("scrape_series_added")
            .iter()
            .map(|x| f64::from_bits(x.1))
            .collect::<Vec<_>>(),
        vec![2.0, 0.0, 1.0]
    );
    assert_eq!(read("up").len(), 3);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// No body panics; the outcome is consistent whatever the body.
    #[test]
    fn process_never_panics(
        bodies in prop::collection::vec(
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..200),
                "([a-z_]{1,4}(\\{([a-z_]{1,3}=\"[a-z\\\\\"]{0,3}\",?){0,3}\\})? ?(-?[0-9.e]{1,5}|NaN|\\+Inf)( [0-9]{1,14}(\\.[0-9]{1,3})?)?\n|# (TYPE|HELP|EOF) [a-z]{0,3} ?[a-z]{0,8}\n){0,8}"
                    .prop_map(String::into_bytes),
            ],
            1..4,
        ),
        om in any::<bool>(),
        honor in any::<bool>(),
        limit in 0usize..4,
    ) {
        let opts = ScrapeOptions {
            honor_labels: honor,
            sample_limit: limit,
            label_limit: if limit == 3 { 4 } else { 0 },
            ..ScrapeOptions::default()
        };
        let ct = if om { OM } else { TEXT };
        let mut st = ScrapeState::new();
        for (i, body) in bodies.iter().enumerate() {
            let t = T + i as i64 * 15_000;
            let before = st.tracked_series().len();
            let o = st.process(body, ct, t, DUR, &target(), &opts);
            prop_assert_eq!(o.report.up, o.error.is_none());
            prop_assert!(o.samples.len() >= 5);
            prop_assert!(o.report.samples_post_metric_relabeling <= o.report.samples_scraped);
            let stale = o.samples.iter().filter(|x| is_stale(x.v)).count();
            prop_assert_eq!(stale, o.stale_markers);
            if o.error.is_some() {
                prop_assert_eq!(o.stale_markers, before);
                prop_assert_eq!(o.samples.len(), before + 5);
            }
        }
        let n = st.tracked_series().len();
        prop_assert_eq!(st.stale_all(T, &target()).len(), n + 5);
    }
}

#[test]
fn metadata_is_kept_per_family_and_forgotten_ten_scrapes_after_it_disappears() {
    use tsdb_scrape::{FamilyMetadata, MetricType};
    let mut st = ScrapeState::new();
    let opts = ScrapeOptions::default();
    let body = "# HELP a_total Requests.\n# TYPE a_total counter\na_total 1\n\
                # TYPE u untyped\nu 2\n# HELP h only help\nh 3\nb 4\n";
    st.process(body.as_bytes(), TEXT, T, DUR, &target(), &opts);
    let m = st.metadata();
    let want = |t: MetricType, help: &str| FamilyMetadata {
        metric_type: t,
        help: help.to_owned(),
        unit: String::new(),
    };
    assert_eq!(
        m.get("a_total"),
        Some(&want(MetricType::Counter, "Requests."))
    );
    // Prometheus's text parser reports `untyped` as unknown
    assert_eq!(m.get("u"), Some(&want(MetricType::Unknown, "")));
    assert_eq!(m.get("h"), Some(&want(MetricType::Unknown, "only help")));
    assert_eq!(
        m.len(),
        3,
        "a family without metadata lines has none: {m:?}"
    );

    // OpenMetrics units
    let om = "# TYPE a_seconds counter\n# HELP a_seconds Changed.\n# UNIT a_seconds seconds\n\
              a_seconds_total 1\n# EOF\n";
    st.process(om.as_bytes(), OM, T + 1, DUR, &target(), &opts);
    let m = st.metadata();
    assert_eq!(
        m.get("a_seconds"),
        Some(&FamilyMetadata {
            metric_type: MetricType::Counter,
            help: "Changed.".to_owned(),
            unit: "seconds".to_owned(),
        })
    );
    // a_total, u and h were declared one scrape ago: still kept
    assert_eq!(m.len(), 4);

    // Missing from the last 10 scrapes: kept; from 11: gone. `a_seconds` is declared
    // every time.
    for i in 2..=10 {
        st.process(om.as_bytes(), OM, T + i, DUR, &target(), &opts);
        assert!(st.metadata().contains_key("u"), "after {i} scrapes");
    }
    st.process(om.as_bytes(), OM, T + 11, DUR, &target(), &opts);
    let names: Vec<String> = st.metadata().keys().cloned().collect();
    assert_eq!(names, ["a_seconds"]);

    // a failed scrape records what it declared before the failure, forgets nothing
    // and a changed help text replaces the old one
    let bad = "# HELP z Zed.\n# HELP a_seconds Other.\nz 1\nnot a line{\n";
    let o = st.process(bad.as_bytes(), TEXT, T + 12, DUR, &target(), &opts);
    assert!(o.error.is_some());
    assert_eq!(
        st.metadata().get("z").map(|m| m.help.as_str()),
        Some("Zed.")
    );
    let a = st.metadata().get("a_seconds").cloned();
    assert_eq!(
        a.map(|m| (m.help, m.unit)),
        Some(("Other.".into(), "".into()))
    );
}

/// Two exposed series that metric relabeling makes equal: the first sample wins, in the
/// first scrape that sees them and in later ones (the scrape cache remembers both).
#[test]
fn series_made_equal_by_relabeling_are_duplicates() {
    let mut st = ScrapeState::new();
    let opts = ScrapeOptions {
        metric_relabel_configs: rules("- action: labeldrop\n  regex: x\n"),
        ..ScrapeOptions::default()
    };
    let want = [s(
        &[("__name__", "m"), ("job", "node"), ("instance", "h:9100")],
        T,
        1.0,
    )];
    let o = run(&mut st, "m{x=\"a\"} 1\nm{x=\"b\"} 2\n", TEXT, T, &opts);
    assert!(o.error.is_none());
    assert_samples(data(&o), &want);
    assert_eq!(o.duplicates, 1);
    // warm: both exposed series are cached, the collision is still caught
    let o = run(&mut st, "m{x=\"a\"} 1\nm{x=\"b\"} 2\n", TEXT, T + 10, &opts);
    assert_eq!(o.duplicates, 1);
    assert_eq!(data(&o).len(), 1);
    assert_eq!(data(&o)[0].v, 1.0);
    // a series seen first in a later scrape colliding with one written before it
    let o = run(&mut st, "m{x=\"a\"} 5\nm{x=\"c\"} 6\n", TEXT, T + 20, &opts);
    assert_eq!(o.duplicates, 1, "{o:?}");
    assert_eq!(data(&o)[0].v, 5.0);
}

/// One exposed series repeated with its own timestamps: a time already written in this
/// body is a duplicate, a new one is not.
#[test]
fn a_repeated_series_with_timestamps() {
    let mut st = ScrapeState::new();
    let o = run(
        &mut st,
        "m 1 1600000000000\nm 2 1600000001000\nm 3 1600000000000\n",
        TEXT,
        T,
        &ScrapeOptions::default(),
    );
    assert!(o.error.is_none());
    let got: Vec<(i64, f64)> = data(&o).iter().map(|x| (x.t, x.v)).collect();
    assert_eq!(got, [(1_600_000_000_000, 1.0), (1_600_000_001_000, 2.0)]);
    assert_eq!(o.duplicates, 1);
}

/// Options changing between scrapes (a reload with new metric relabeling): the series
/// is relabeled again, and a series the new rules drop gets its stale marker under the
/// labels it was appended with.
#[test]
fn changed_options_relabel_again_and_stale_the_old_labels() {
    let mut st = ScrapeState::new();
    let plain = ScrapeOptions::default();
    let o = run(&mut st, "a 1\nb 2\n", TEXT, T, &plain);
    assert_eq!(data(&o).len(), 2);
    let drop_b = ScrapeOptions {
        metric_relabel_configs: rules(
            "- source_labels: [__name__]\n  regex: b\n  action: drop\n\
             - target_label: env\n  replacement: prod\n",
        ),
        ..ScrapeOptions::default()
    };
    let o = run(&mut st, "a 3\nb 4\n", TEXT, T + 10, &drop_b);
    assert!(o.error.is_none());
    let a_new = s(
        &[
            ("__name__", "a"),
            ("env", "prod"),
            ("job", "node"),
            ("instance", "h:9100"),
        ],
        T + 10,
        3.0,
    );
    let got = data(&o);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_samples(&got[..1], &[a_new]);
    // `a` was appended again (under new labels) so it is not stale; `b` is, under the
    // labels it had
    assert!(is_stale(got[1].v));
    assert_eq!(
        got[1].labels,
        l(&[("__name__", "b"), ("job", "node"), ("instance", "h:9100")])
    );
    assert_eq!(o.stale_markers, 1);
    // and the target labels changing (a relabeled target) relabels too
    let other = l(&[("job", "node"), ("instance", "h:9200")]);
    let o = st.process(b"a 5\n", TEXT, T + 20, DUR, &other, &plain);
    let got: Vec<&AppendSample> = o.samples.iter().filter(|x| !is_stale(x.v)).collect();
    assert_eq!(
        got[0].labels,
        l(&[("__name__", "a"), ("job", "node"), ("instance", "h:9200")])
    );
}

/// With a real database: after the first append the scrape cache learns each series'
/// reference, the next scrape names its series by reference (stale markers too), the
/// values read back as written; a reference the database refuses as unknown sends the
/// series back to its labels.
#[test]
fn series_references_are_learnt_and_used() {
    use tsdb_core::{BatchOutcome, Db, Options, Rejected, SampleError};
    use tsdb_index::Matcher;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        Options {
            clock: std::sync::Arc::new(tsdb_core::ManualClock::new(T + 60_000)),
            ..Options::default()
        },
    )
    .unwrap();
    let mut st = ScrapeState::new();
    let opts = ScrapeOptions::default();
    let o = run(&mut st, "a 1\nb 2\n", TEXT, T, &opts);
    assert!(o.samples.iter().all(|x| x.series_ref.is_none()));
    let out = db.append_batch(&o.to_batch()).unwrap();
    st.learn_refs(&o.samples, &out);
    let o = run(&mut st, "a 3\n", TEXT, T + 10_000, &opts);
    let d = data(&o);
    // `a` by reference, and `b`'s stale marker too
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|x| x.series_ref.is_some()), "{d:?}");
    assert!(is_stale(d[1].v));
    let out = db.append_batch(&o.to_batch()).unwrap();
    assert!(out.rejected.is_empty(), "{out:?}");
    st.learn_refs(&o.samples, &out);
    let q = db.querier(T, T + 10_000).unwrap();
    let got: Vec<(i64, f64)> = q
        .select(&[Matcher::equal("__name__", "a")])
        .unwrap()
        .iter()
        .flat_map(|s| {
            s.iter()
                .map(|r| r.map(|x| (x.t, x.v)).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(got, [(T, 1.0), (T + 10_000, 3.0)]);
    // the database forgot `a`'s reference: the cache goes back to labels for it
    let o = run(&mut st, "a 4\n", TEXT, T + 20_000, &opts);
    let mut refused = BatchOutcome::default();
    refused.rejected.push(Rejected {
        index: 0,
        error: SampleError::UnknownSeriesRef(0),
    });
    st.learn_refs(&o.samples, &refused);
    let o = run(&mut st, "a 5\n", TEXT, T + 30_000, &opts);
    assert!(data(&o)[0].series_ref.is_none());
}
