//! Label-set validation: every rule gives its own typed error, and one bad series in a
//! batch does not affect the others.

use tsdb_index::{Error, LabelLimits, Labels, MemIndex};

fn err(pairs: &[(&str, &str)]) -> Error {
    match Labels::new(pairs.iter().copied()) {
        Err(e) => e,
        Ok(l) => panic!("{l} was accepted"),
    }
}

#[test]
fn label_name_syntax() {
    for bad in ["", "1abc", "a-b", "a.b", "é", "a b", "a:b"] {
        match err(&[("__name__", "m"), (bad, "v")]) {
            Error::InvalidLabelName { name } => assert_eq!(name, bad),
            e => panic!("{bad:?}: {e}"),
        }
    }
    for good in ["a", "_", "A_1", "_x9"] {
        assert!(
            Labels::new([("__name__", "m"), (good, "v")]).is_ok(),
            "{good}"
        );
    }
}

#[test]
fn metric_names_may_contain_colons() {
    let l = Labels::new([("__name__", "job:http_requests:rate5m")]).unwrap();
    assert_eq!(l.metric_name(), Some("job:http_requests:rate5m"));
    assert!(Labels::new([("__name__", ":x")]).is_ok());
    for bad in ["1m", "a-b", "a b", "ü"] {
        match err(&[("__name__", bad)]) {
            Error::InvalidMetricName { name } => assert_eq!(name, bad),
            e => panic!("{bad:?}: {e}"),
        }
    }
}

#[test]
fn reserved_names() {
    match err(&[("__name__", "m"), ("__meta_x", "v")]) {
        Error::ReservedLabelName { name } => assert_eq!(name, "__meta_x"),
        e => panic!("{e}"),
    }
    // A single leading underscore is fine.
    assert!(Labels::new([("__name__", "m"), ("_x", "v")]).is_ok());
}

#[test]
fn duplicates_are_refused_even_with_an_empty_value() {
    match err(&[("__name__", "m"), ("a", "1"), ("a", "2")]) {
        Error::DuplicateLabelName { name } => assert_eq!(name, "a"),
        e => panic!("{e}"),
    }
    assert!(matches!(
        err(&[("__name__", "m"), ("a", ""), ("a", "2")]),
        Error::DuplicateLabelName { .. }
    ));
}

#[test]
fn utf8_is_checked_for_byte_input() {
    let limits = LabelLimits::default();
    let bad: &[u8] = &[b'o', 0xff];
    match Labels::from_bytes([(&b"__name__"[..], &b"m"[..]), (&b"a"[..], bad)], &limits) {
        Err(Error::InvalidUtf8 { what, valid_up_to }) => {
            assert_eq!((what, valid_up_to), ("value", 1));
        }
        other => panic!("{other:?}"),
    }
    let ok = Labels::from_bytes(
        [(&b"__name__"[..], &b"m"[..]), (&b"a"[..], "ü".as_bytes())],
        &limits,
    )
    .unwrap();
    assert_eq!(ok.get("a"), Some("ü"));
}

#[test]
fn limits() {
    let limits = LabelLimits {
        max_labels: 3,
        max_name_len: 4,
        max_value_len: 5,
        require_metric_name: true,
    };
    let mk = |p: &[(&str, &str)]| Labels::with_limits(p.iter().copied(), &limits);
    assert!(mk(&[("__name__", "m"), ("a", "1"), ("b", "2")]).is_ok());
    match mk(&[("__name__", "m"), ("a", "1"), ("b", "2"), ("c", "3")]) {
        Err(Error::TooManyLabels { count: 4, max: 3 }) => {}
        other => panic!("{other:?}"),
    }
    // Empty values do not count: they are dropped.
    assert_eq!(
        mk(&[("__name__", "m"), ("a", "1"), ("b", "2"), ("c", "")])
            .unwrap()
            .len(),
        3
    );
    match mk(&[("__name__", "m"), ("abcde", "1")]) {
        Err(Error::LabelNameTooLong { len: 5, max: 4, .. }) => {}
        other => panic!("{other:?}"),
    }
    match mk(&[("__name__", "m"), ("a", "123456")]) {
        Err(Error::LabelValueTooLong {
            name,
            len: 6,
            max: 5,
        }) => assert_eq!(name, "a"),
        other => panic!("{other:?}"),
    }
    match mk(&[("a", "1")]) {
        Err(Error::MissingMetricName) => {}
        other => panic!("{other:?}"),
    }
    let relaxed = LabelLimits {
        require_metric_name: false,
        ..limits
    };
    assert!(Labels::with_limits([("a", "1")], &relaxed).is_ok());
}

#[test]
fn a_hostile_label_count_is_refused_without_sorting_it_all() {
    let many: Vec<(String, String)> = (0..1_000_000)
        .map(|i| (format!("l{i}"), "v".into()))
        .collect();
    match Labels::new(many) {
        Err(Error::TooManyLabels { max: 30, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn long_names_are_cut_in_errors() {
    let name = format!("a{}", "-".repeat(1_000));
    let e = err(&[("__name__", "m"), (&name, "v")]);
    let msg = e.to_string();
    assert!(msg.len() < 200, "{msg}");
    assert!(msg.starts_with("invalid label name"), "{msg}");
}

#[test]
fn a_bad_series_does_not_poison_its_batch() {
    let raw: Vec<Vec<(&str, &str)>> = vec![
        vec![("__name__", "up"), ("job", "a")],
        vec![("__name__", "up"), ("job", "b"), ("job", "c")],
        vec![("__name__", "up"), ("__bad", "x")],
        vec![("__name__", "up"), ("job", "d")],
    ];
    let parsed: Vec<Result<Labels, Error>> = raw.into_iter().map(Labels::new).collect();
    assert!(parsed[1].is_err() && parsed[2].is_err());
    let good: Vec<&Labels> = parsed.iter().filter_map(|r| r.as_ref().ok()).collect();
    let idx = MemIndex::new();
    let ids: Vec<u32> = idx
        .get_or_insert_batch(good.iter().copied())
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ids, vec![0, 1]);
    assert_eq!(
        idx.label_values("job", &[]).unwrap(),
        vec!["a".to_owned(), "d".to_owned()]
    );
}
