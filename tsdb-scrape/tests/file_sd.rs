//! `file_sd` files read as Prometheus reads them: JSON and YAML lists of target groups,
//! `__meta_filepath`, strict keys, checked label names, `null` groups refused.

use std::collections::BTreeMap;

use tsdb_scrape::{parse_file_sd, FileSdError, TargetGroup};

fn group(targets: &[&str], labels: &[(&str, &str)]) -> TargetGroup {
    TargetGroup {
        targets: targets.iter().map(|t| t.to_string()).collect(),
        labels: labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// Prometheus's own test fixture (discovery/file/fixtures/valid.json and valid.yml).
#[test]
fn prometheus_fixtures() {
    let json = br#"[
    {
        "targets": ["localhost:9090", "example.org:443"],
        "labels": {
            "foo": "bar"
        }
    },
    {
        "targets": ["my.domain"]
    }
]
"#;
    let yaml = b"- targets: ['localhost:9090', 'example.org:443']\n  labels:\n    foo: bar\n\n- targets: ['my.domain']\n";
    for (path, content) in [
        ("/sd/valid.json", &json[..]),
        ("/sd/valid.yml", &yaml[..]),
        ("/sd/VALID.YAML", &yaml[..]),
    ] {
        let got = parse_file_sd(path, content).unwrap();
        assert_eq!(
            got,
            [
                group(
                    &["localhost:9090", "example.org:443"],
                    &[("foo", "bar"), ("__meta_filepath", path)]
                ),
                group(&["my.domain"], &[("__meta_filepath", path)]),
            ],
            "{path}"
        );
    }
}

#[test]
fn empty_files() {
    assert_eq!(parse_file_sd("a.json", b"[]"), Ok(vec![]));
    assert_eq!(parse_file_sd("a.json", b"null"), Ok(vec![]));
    assert_eq!(parse_file_sd("a.yml", b""), Ok(vec![]));
    assert_eq!(parse_file_sd("a.yml", b"# nothing yet\n\n"), Ok(vec![]));
    assert_eq!(parse_file_sd("a.yml", b"[]\n"), Ok(vec![]));
    // Go's JSON decoder refuses an empty document.
    assert!(matches!(
        parse_file_sd("a.json", b""),
        Err(FileSdError::Json { .. })
    ));
}

#[test]
fn the_file_path_label_wins() {
    let got = parse_file_sd(
        "/x/a.json",
        br#"[{"targets": ["a:1"], "labels": {"__meta_filepath": "forged"}}]"#,
    )
    .unwrap();
    assert_eq!(got[0].labels["__meta_filepath"], "/x/a.json");
}

#[test]
fn bad_files_are_refused_with_the_place() {
    let e = parse_file_sd("a.json", br#"[{"targets": ["a:1"], "label": {}}]"#).unwrap_err();
    assert!(e.to_string().contains("unknown field `label`"), "{e}");
    let e = parse_file_sd("a.yml", b"- targets: [a]\n  lables: {}\n").unwrap_err();
    assert!(
        e.to_string().contains("lables") && e.to_string().contains("line 2"),
        "{e}"
    );
    let e = parse_file_sd(
        "a.json",
        br#"[{"targets": ["a:1"], "labels": {"a-b": "x"}}]"#,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains(r#""a-b" is not a valid label name"#),
        "{e}"
    );
    let e = parse_file_sd("a.yml", b"- targets: [a]\n  labels: {0x: y}\n").unwrap_err();
    assert!(e.to_string().contains("not a valid label name"), "{e}");
    assert_eq!(
        parse_file_sd("a.json", br#"[{"targets": ["a:1"]}, null]"#),
        Err(FileSdError::NullGroup)
    );
    assert_eq!(
        parse_file_sd("a.yml", b"- targets: [a]\n- null\n"),
        Err(FileSdError::NullGroup)
    );
    // A label value must be a string in JSON.
    assert!(parse_file_sd("a.json", br#"[{"targets": ["a:1"], "labels": {"a": 1}}]"#).is_err());
    let e = parse_file_sd("a.yml", b"- targets: [a]\n  labels: {a: x, a: y}\n").unwrap_err();
    assert!(e.to_string().contains("duplicate"), "{e}");
    assert!(matches!(
        parse_file_sd("targets.txt", b"[]"),
        Err(FileSdError::UnknownExtension(_))
    ));
    assert!(matches!(
        parse_file_sd("dir.json/targets", b"[]"),
        Err(FileSdError::UnknownExtension(_))
    ));
    for garbage in [&b"{"[..], b"\xff\xfe", b"[[[[", b"- targets: [a\n"] {
        assert!(parse_file_sd("g.json", garbage).is_err());
        assert!(parse_file_sd("g.yml", garbage).is_err());
    }
}

/// YAML scalars that are not strings are read as their text, as Go's YAML decoder does
/// for a string field (`port: 9100`).
#[test]
fn yaml_scalars_as_label_values() {
    let got = parse_file_sd(
        "a.yml",
        b"- targets: [a:1]\n  labels: {port: 9100, flag: true}\n",
    );
    match got {
        Ok(g) => {
            assert_eq!(g[0].labels["port"], "9100");
            assert_eq!(g[0].labels["flag"], "true");
        }
        Err(e) => panic!("{e}"),
    }
}
