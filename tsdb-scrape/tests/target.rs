//! Target population against Prometheus's own cases: every case of `TestPopulateLabels`
//! (scrape/manager_test.go of 2.42), `TestTargetURL`, `TestTargetLabels` and
//! `TestTargetsFromGroup` (scrape/target_test.go), plus the steps they leave out
//! (`__param_*`, `__meta_*` removal, dropped targets, label-name checks, Go's
//! `SplitHostPort`, URL escaping).

use std::collections::BTreeMap;
use std::time::Duration;

use tsdb_index::Labels;
use tsdb_scrape::target::split_host_port;
use tsdb_scrape::{
    populate_labels, targets_from_group, PopulateOptions, Populated, ScrapeConfig, Target,
    TargetError, TargetGroup,
};

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::build_unchecked(pairs.iter().copied()).unwrap_or_else(Labels::empty)
}

fn cfg(yaml: &str) -> ScrapeConfig {
    match serde_saphyr::from_str::<ScrapeConfig>(yaml) {
        Ok(c) => c,
        Err(e) => panic!("{e}\n{yaml}"),
    }
}

/// The config of every `TestPopulateLabels` case: scheme https, /metrics, job "job",
/// 1s interval and timeout, plus `extra` (YAML keys).
fn test_cfg(scheme: &str, extra: &str) -> ScrapeConfig {
    cfg(&format!(
        "job_name: job\nscheme: {scheme}\nmetrics_path: /metrics\nscrape_interval: 1s\nscrape_timeout: 1s\n{extra}"
    ))
}

type Pairs = &'static [(&'static str, &'static str)];

struct Case {
    name: &'static str,
    input: Pairs,
    cfg: ScrapeConfig,
    no_default_port: bool,
    /// `Ok(Some((labels, discovered)))`: active; `Ok(None)`: dropped (the discovered labels
    /// are the input and the config's); `Err`: the message.
    want: Result<Option<(Pairs, Pairs)>, &'static str>,
}

fn check(c: Case) {
    let input = labels(c.input);
    let got = populate_labels(
        &input,
        &c.cfg,
        PopulateOptions {
            no_default_port: c.no_default_port,
        },
    );
    match (got, c.want) {
        (Ok(Populated::Active(t)), Ok(Some((res, orig)))) => {
            assert_eq!(t.all_labels(), &labels(res), "{}: labels", c.name);
            assert_eq!(
                t.discovered_labels(),
                &labels(orig),
                "{}: discovered",
                c.name
            );
        }
        (Ok(Populated::Dropped(d)), Ok(None)) => {
            // Prometheus returns the labels before relabeling: the input and the
            // config's labels.
            let mut want: Vec<(&str, &str)> = vec![
                ("job", "job"),
                ("__scheme__", c.cfg.scheme.as_str()),
                ("__metrics_path__", "/metrics"),
                ("__scrape_interval__", "1s"),
                ("__scrape_timeout__", "1s"),
            ];
            want.extend(c.input.iter().copied());
            assert_eq!(d.discovered_labels, labels(&want), "{}", c.name)
        }
        (Err(e), Err(msg)) => assert_eq!(e.to_string(), msg, "{}", c.name),
        (got, want) => panic!("{}: got {got:?}, want {want:?}", c.name),
    }
}

#[test]
fn prometheus_populate_labels_cases() {
    let https = || test_cfg("https", "");
    let relabel_custom_to_address = || {
        test_cfg(
            "https",
            "relabel_configs:\n  - action: replace\n    regex: (.*)\n    source_labels: [custom]\n    replacement: ${1}\n    target_label: __address__\n",
        )
    };
    let cases = vec![
        Case {
            name: "regular population of scrape config options",
            input: &[("__address__", "1.2.3.4:1000"), ("custom", "value")],
            cfg: https(),
            no_default_port: false,
            want: Ok(Some((
                &[
                    ("__address__", "1.2.3.4:1000"),
                    ("instance", "1.2.3.4:1000"),
                    ("__scheme__", "https"),
                    ("__metrics_path__", "/metrics"),
                    ("job", "job"),
                    ("__scrape_interval__", "1s"),
                    ("__scrape_timeout__", "1s"),
                    ("custom", "value"),
                ],
                &[
                    ("__address__", "1.2.3.4:1000"),
                    ("__scheme__", "https"),
                    ("__metrics_path__", "/metrics"),
                    ("job", "job"),
                    ("custom", "value"),
                    ("__scrape_interval__", "1s"),
                    ("__scrape_timeout__", "1s"),
                ],
            ))),
        },
        Case {
            name: "pre-defined scrape config labels; port defaulted from the scheme",
            input: &[
                ("__address__", "1.2.3.4"),
                ("__scheme__", "http"),
                ("__metrics_path__", "/custom"),
                ("job", "custom-job"),
                ("__scrape_interval__", "2s"),
                ("__scrape_timeout__", "2s"),
            ],
            cfg: https(),
            no_default_port: false,
            want: Ok(Some((
                &[
                    ("__address__", "1.2.3.4:80"),
                    ("instance", "1.2.3.4:80"),
                    ("__scheme__", "http"),
                    ("__metrics_path__", "/custom"),
                    ("job", "custom-job"),
                    ("__scrape_interval__", "2s"),
                    ("__scrape_timeout__", "2s"),
                ],
                &[
                    ("__address__", "1.2.3.4"),
                    ("__scheme__", "http"),
                    ("__metrics_path__", "/custom"),
                    ("job", "custom-job"),
                    ("__scrape_interval__", "2s"),
                    ("__scrape_timeout__", "2s"),
                ],
            ))),
        },
        Case {
            name: "instance label given; https port default for IPv6",
            input: &[("__address__", "[::1]"), ("instance", "custom-instance")],
            cfg: https(),
            no_default_port: false,
            want: Ok(Some((
                &[
                    ("__address__", "[::1]:443"),
                    ("instance", "custom-instance"),
                    ("__scheme__", "https"),
                    ("__metrics_path__", "/metrics"),
                    ("job", "job"),
                    ("__scrape_interval__", "1s"),
                    ("__scrape_timeout__", "1s"),
                ],
                &[
                    ("__address__", "[::1]"),
                    ("instance", "custom-instance"),
                    ("__scheme__", "https"),
                    ("__metrics_path__", "/metrics"),
                    ("job", "job"),
                    ("__scrape_interval__", "1s"),
                    ("__scrape_timeout__", "1s"),
                ],
            ))),
        },
        Case {
            name: "address label missing",
            input: &[("custom", "value")],
            cfg: https(),
            no_default_port: false,
            want: Err("no address"),
        },
        Case {
            name: "address label missing, but added in relabelling",
            input: &[("custom", "host:1234")],
            cfg: relabel_custom_to_address(),
            no_default_port: false,
            want: Ok(Some((
                &[
                    ("__address__", "host:1234"),
                    ("instance", "host:1234"),
                    ("__scheme__", "https"),
                    ("__metrics_path__", "/metrics"),
                    ("job", "job"),
                    ("__scrape_interval__", "1s"),
                    ("__scrape_timeout__", "1s"),
                    ("custom", "host:1234"),
                ],
                &[
                    ("__scheme__", "https"),
                    ("__metrics_path__", "/metrics"),
                    ("job", "job"),
                    ("__scrape_interval__", "1s"),
                    ("__scrape_timeout__", "1s"),
                    ("custom", "host:1234"),
                ],
            ))),
        },
        // Prometheus's "Invalid UTF-8 in label" case cannot be built: a Rust string is
        // always UTF-8 (a scraped or discovered value is checked where it is decoded).
        Case {
            name: "invalid duration in interval label",
            input: &[
                ("__address__", "1.2.3.4:1000"),
                ("__scrape_interval__", "2notseconds"),
            ],
            cfg: https(),
            no_default_port: false,
            want: Err(r#"error parsing scrape interval: not a valid duration string: "2notseconds""#),
        },
        Case {
            name: "invalid duration in timeout label",
            input: &[
                ("__address__", "1.2.3.4:1000"),
                ("__scrape_timeout__", "2notseconds"),
            ],
            cfg: https(),
            no_default_port: false,
            want: Err(r#"error parsing scrape timeout: not a valid duration string: "2notseconds""#),
        },
        Case {
            name: "0 interval in interval label",
            input: &[("__address__", "1.2.3.4:1000"), ("__scrape_interval__", "0s")],
            cfg: https(),
            no_default_port: false,
            want: Err("scrape interval cannot be 0"),
        },
        Case {
            name: "0 duration in timeout label",
            input: &[("__address__", "1.2.3.4:1000"), ("__scrape_timeout__", "0s")],
            cfg: https(),
            no_default_port: false,
            want: Err("scrape timeout cannot be 0"),
        },
        Case {
            name: "timeout greater than interval",
            input: &[
                ("__address__", "1.2.3.4:1000"),
                ("__scrape_interval__", "1s"),
                ("__scrape_timeout__", "2s"),
            ],
            cfg: https(),
            no_default_port: false,
            want: Err(r#"scrape timeout cannot be greater than scrape interval ("2s" > "1s")"#),
        },
        Case {
            name: "no default port attached",
            input: &[("__address__", "1.2.3.4")],
            cfg: https(),
            no_default_port: true,
            want: Ok(Some((
                &[
                    ("__address__", "1.2.3.4"),
                    ("instance", "1.2.3.4"),
                    ("__scheme__", "https"),
                    ("__metrics_path__", "/metrics"),
                    ("job", "job"),
                    ("__scrape_interval__", "1s"),
                    ("__scrape_timeout__", "1s"),
                ],
                &[
                    ("__address__", "1.2.3.4"),
                    ("__scheme__", "https"),
                    ("__metrics_path__", "/metrics"),
                    ("job", "job"),
                    ("__scrape_interval__", "1s"),
                    ("__scrape_timeout__", "1s"),
                ],
            ))),
        },
        Case {
            name: "default port removed (http)",
            input: &[("__address__", "1.2.3.4:80")],
            cfg: test_cfg("http", ""),
            no_default_port: true,
            want: Ok(Some((
                &[
                    ("__address__", "1.2.3.4"),
                    ("instance", "1.2.3.4:80"),
                    ("__scheme__", "http"),
                    ("__metrics_path__", "/metrics"),
                    ("job", "job"),
                    ("__scrape_interval__", "1s"),
                    ("__scrape_timeout__", "1s"),
                ],
                &[
                    ("__address__", "1.2.3.4:80"),
                    ("__scheme__", "http"),
                    ("__metrics_path__", "/metrics"),
                    ("job", "job"),
                    ("__scrape_interval__", "1s"),
                    ("__scrape_timeout__", "1s"),
                ],
            ))),
        },
        Case {
            name: "default port removed (https)",
            input: &[("__address__", "1.2.3.4:443")],
            cfg: https(),
            no_default_port: true,
            want: Ok(Some((
                &[
                    ("__address__", "1.2.3.4"),
                    ("instance", "1.2.3.4:443"),
                    ("__scheme__", "https"),
                    ("__metrics_path__", "/metrics"),
                    ("job", "job"),
                    ("__scrape_interval__", "1s"),
                    ("__scrape_timeout__", "1s"),
                ],
                &[
                    ("__address__", "1.2.3.4:443"),
                    ("__scheme__", "https"),
                    ("__metrics_path__", "/metrics"),
                    ("job", "job"),
                    ("__scrape_interval__", "1s"),
                    ("__scrape_timeout__", "1s"),
                ],
            ))),
        },
        // Beyond Prometheus's table.
        Case {
            name: "dropped by relabeling: the discovered labels are kept",
            input: &[("__address__", "a:1"), ("__meta_env", "dev")],
            cfg: test_cfg(
                "http",
                "relabel_configs:\n  - source_labels: [__meta_env]\n    regex: dev\n    action: drop\n",
            ),
            no_default_port: false,
            want: Ok(None),
        },
        Case {
            name: "meta labels removed, other internal labels kept, params as labels",
            input: &[
                ("__address__", "a:1"),
                ("__meta_env", "prod"),
                ("__tmp_x", "y"),
                ("__param_module", "from-discovery"),
            ],
            cfg: test_cfg(
                "http",
                "params:\n  module: [icmp, other]\n  empty: []\nrelabel_configs:\n  - source_labels: [__meta_env]\n    target_label: env\n",
            ),
            no_default_port: false,
            want: Ok(Some((
                &[
                    ("__address__", "a:1"),
                    ("instance", "a:1"),
                    ("__scheme__", "http"),
                    ("__metrics_path__", "/metrics"),
                    ("job", "job"),
                    ("__scrape_interval__", "1s"),
                    ("__scrape_timeout__", "1s"),
                    ("__tmp_x", "y"),
                    ("__param_module", "icmp"),
                    ("env", "prod"),
                ],
                &[
                    ("__address__", "a:1"),
                    ("__meta_env", "prod"),
                    ("__tmp_x", "y"),
                    ("__param_module", "icmp"),
                    ("__scheme__", "http"),
                    ("__metrics_path__", "/metrics"),
                    ("job", "job"),
                    ("__scrape_interval__", "1s"),
                    ("__scrape_timeout__", "1s"),
                ],
            ))),
        },
        Case {
            name: "a URL as address",
            input: &[("__address__", "http://a:9100/metrics")],
            cfg: https(),
            no_default_port: false,
            want: Err(r#""http://a:9100/metrics" is not a valid hostname"#),
        },
        Case {
            name: "a port is added only where it makes a valid address",
            input: &[("__address__", "::1")],
            cfg: https(),
            no_default_port: false,
            want: Ok(Some((
                &[
                    ("__address__", "::1"),
                    ("instance", "::1"),
                    ("__scheme__", "https"),
                    ("__metrics_path__", "/metrics"),
                    ("job", "job"),
                    ("__scrape_interval__", "1s"),
                    ("__scrape_timeout__", "1s"),
                ],
                &[
                    ("__address__", "::1"),
                    ("__scheme__", "https"),
                    ("__metrics_path__", "/metrics"),
                    ("job", "job"),
                    ("__scrape_interval__", "1s"),
                    ("__scrape_timeout__", "1s"),
                ],
            ))),
        },
        Case {
            name: "a scheme relabeled to something else cannot get a default port",
            input: &[("__address__", "a"), ("__scheme__", "ftp")],
            cfg: https(),
            no_default_port: false,
            want: Err(r#"invalid scheme: "https""#),
        },
        Case {
            name: "labelmap producing an invalid name fails the target",
            input: &[("__address__", "a:1"), ("__meta_1x", "v")],
            cfg: test_cfg(
                "http",
                "relabel_configs:\n  - action: labelmap\n    regex: __meta_(.*)\n",
            ),
            no_default_port: false,
            want: Err(r#"invalid label name "1x""#),
        },
    ];
    for c in cases {
        check(c);
    }
}

/// `TestTargetURL`: the config's params, the first value of each overridden by its
/// `__param_*` label, new ones added, keys sorted.
#[test]
fn prometheus_target_url() {
    let params = BTreeMap::from([
        (
            "abc".to_string(),
            vec!["foo".into(), "bar".into(), "baz".into()],
        ),
        ("xyz".to_string(), vec!["hoo".into()]),
    ]);
    let l = labels(&[
        ("__address__", "example.com:1234"),
        ("__scheme__", "https"),
        ("__metrics_path__", "/metricz"),
        ("__param_abc", "overwrite"),
        ("__param_cde", "huu"),
    ]);
    let t = Target::new(l.clone(), l, params);
    assert_eq!(
        t.url(),
        "https://example.com:1234/metricz?abc=overwrite&abc=bar&abc=baz&cde=huu&xyz=hoo"
    );
    assert_eq!(t.url_params()["abc"], ["overwrite", "bar", "baz"]);
    assert_eq!((t.address(), t.scheme()), ("example.com:1234", "https"));
}

/// Go's escaping in the URL: the query with `QueryEscape`, the path with `PathEscape`
/// rules.
#[test]
fn url_escaping_as_go() {
    let l = labels(&[
        ("__address__", "h:1"),
        ("__scheme__", "http"),
        ("__metrics_path__", "/a b/c;d=e?f~"),
        ("__param_match[]", "{job=\"x y\"}"),
        ("__param_t", "a+b&c/d~e*"),
    ]);
    let t = Target::new(l.clone(), l, BTreeMap::new());
    assert_eq!(
        t.url(),
        "http://h:1/a%20b/c;d=e%3Ff~?match%5B%5D=%7Bjob%3D%22x+y%22%7D&t=a%2Bb%26c%2Fd~e%2A"
    );
    // A path without a leading slash gets one after a host.
    let l = labels(&[
        ("__address__", "h:1"),
        ("__scheme__", "http"),
        ("__metrics_path__", "m"),
    ]);
    assert_eq!(
        Target::new(l.clone(), l, BTreeMap::new()).url(),
        "http://h:1/m"
    );
}

/// `TestTargetLabels`: `Labels()` leaves out every `__` label.
#[test]
fn prometheus_target_labels() {
    let l = labels(&[
        ("job", "some_job"),
        ("foo", "bar"),
        ("__scheme__", "http"),
        ("__address__", "example.com:80"),
        ("__metrics_path__", "/metrics"),
    ]);
    let t = Target::new(l.clone(), l, BTreeMap::new());
    assert_eq!(t.labels(), labels(&[("job", "some_job"), ("foo", "bar")]));
}

/// `TestTargetsFromGroup`, and a group's labels, dropped targets and the timing labels.
#[test]
fn prometheus_targets_from_group() {
    let c = cfg("job_name: j\nscrape_interval: 1m\nscrape_timeout: 10s\n");
    let group = TargetGroup {
        targets: vec![String::new(), "localhost:9090".into()],
        labels: BTreeMap::new(),
    };
    let got = targets_from_group(&group, &c, PopulateOptions::default());
    assert_eq!(got.active.len(), 1);
    assert_eq!(got.errors, [(0, TargetError::NoAddress)]);
    assert!(got.dropped.is_empty());

    let c = cfg(r#"
job_name: node
scrape_interval: 30s
scrape_timeout: 5s
relabel_configs:
  - source_labels: [__meta_filepath]
    regex: '.*/(.*)\.json'
    target_label: source
  - source_labels: [__address__]
    regex: 'skip:.*'
    action: drop
  - source_labels: [__address__]
    regex: 'slow:.*'
    target_label: __scrape_interval__
    replacement: 2m
"#);
    let group = TargetGroup {
        targets: vec![
            "a:9100".into(),
            "skip:1".into(),
            "slow:2".into(),
            "b".into(),
        ],
        labels: BTreeMap::from([
            ("__meta_filepath".to_string(), "/sd/nodes.json".to_string()),
            ("dc".to_string(), "eu".to_string()),
            // A group label never replaces the target's own address.
            ("__address__".to_string(), "group:1".to_string()),
        ]),
    };
    let got = targets_from_group(&group, &c, PopulateOptions::default());
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    assert_eq!(got.dropped.len(), 1);
    assert_eq!(
        got.dropped[0].discovered_labels.get("__address__"),
        Some("skip:1")
    );
    assert_eq!(
        got.dropped[0].discovered_labels.get("__meta_filepath"),
        Some("/sd/nodes.json")
    );
    let addrs: Vec<_> = got.active.iter().map(|t| t.address()).collect();
    assert_eq!(addrs, ["a:9100", "slow:2", "b:80"]);
    let a = &got.active[0];
    assert_eq!(
        a.labels(),
        labels(&[
            ("job", "node"),
            ("instance", "a:9100"),
            ("dc", "eu"),
            ("source", "nodes")
        ])
    );
    assert_eq!(a.url(), "http://a:9100/metrics");
    assert_eq!(
        (a.scrape_interval(), a.scrape_timeout()),
        (Duration::from_secs(30), Duration::from_secs(5))
    );
    assert_eq!(
        a.discovered_labels().get("__meta_filepath"),
        Some("/sd/nodes.json")
    );
    assert_eq!(a.all_labels().get("__meta_filepath"), None);
    assert_eq!(got.active[1].scrape_interval(), Duration::from_secs(120));
    assert_eq!(got.active[2].labels().get("instance"), Some("b:80"));
}

/// Go's `net.SplitHostPort`, which decides whether a port is added.
#[test]
fn split_host_port_as_go() {
    for (s, want) in [
        ("a:1", Some(("a", "1"))),
        ("a:", Some(("a", ""))),
        ("[::1]:80", Some(("::1", "80"))),
        ("[::1]", None),
        ("::1", None),
        ("a", None),
        ("a:1:2", None),
        ("[a]b:1", None),
        ("[a:1", None),
        ("a]:1", None),
        ("[a]:1]", None),
        ("", None),
    ] {
        assert_eq!(split_host_port(s), want, "{s:?}");
    }
}
