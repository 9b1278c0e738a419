//! `scrape_configs` entries from YAML: Prometheus 2.42's defaults, validation messages,
//! durations and sizes, keys refused by name, and a real-world configuration.

use std::time::Duration;

use serde::Deserialize;
use tsdb_scrape::config::{format_duration, parse_base2_bytes, parse_duration};
use tsdb_scrape::{
    resolve_scrape_configs, Action, GlobalScrapeConfig, ScrapeConfig, ScrapeConfigError,
};

fn load(yaml: &str) -> Vec<ScrapeConfig> {
    match serde_saphyr::from_str::<Vec<ScrapeConfig>>(yaml) {
        Ok(c) => c,
        Err(e) => panic!("does not load: {e}\n{yaml}"),
    }
}

fn one(yaml: &str) -> ScrapeConfig {
    let mut v = load(yaml);
    assert_eq!(v.len(), 1);
    v.remove(0)
}

fn error(yaml: &str) -> String {
    match serde_saphyr::from_str::<Vec<ScrapeConfig>>(yaml) {
        Ok(c) => panic!("expected an error, loaded {c:?}"),
        Err(e) => e.to_string(),
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn defaults_are_prometheus_defaults() {
    let c = one("- job_name: node\n");
    assert_eq!(c.job_name, "node");
    assert_eq!(c.metrics_path, "/metrics");
    assert_eq!(c.scheme, "http");
    assert!(!c.honor_labels);
    assert!(c.honor_timestamps);
    assert!(c.params.is_empty());
    assert_eq!(c.basic_auth, None);
    assert_eq!(c.authorization, None);
    assert_eq!(c.tls_config, Default::default());
    assert_eq!(
        (
            c.sample_limit,
            c.label_limit,
            c.label_name_length_limit,
            c.label_value_length_limit,
            c.target_limit,
            c.body_size_limit
        ),
        (0, 0, 0, 0, 0, 0)
    );
    assert!(c.relabel_configs.is_empty() && c.metric_relabel_configs.is_empty());
    assert!(c.static_configs.is_empty() && c.file_sd_configs.is_empty());
    // Not resolved yet: the intervals come from `global`.
    assert_eq!(c.scrape_interval, Duration::ZERO);
    let mut v = vec![c];
    resolve_scrape_configs(&mut v, &GlobalScrapeConfig::default()).unwrap();
    assert_eq!(v[0].scrape_interval, secs(60));
    assert_eq!(v[0].scrape_timeout, secs(10));
}

#[test]
fn every_supported_key() {
    let c = one(r#"
- job_name: blackbox
  scrape_interval: 1m30s
  scrape_timeout: 15s
  metrics_path: /probe
  scheme: https
  params:
    module: [http_2xx, second]
    target: ["example.com"]
  honor_labels: true
  honor_timestamps: false
  basic_auth:
    username: prom
    password_file: /etc/secret
  tls_config:
    ca_file: /etc/ca.pem
    cert_file: /etc/c.pem
    key_file: /etc/k.pem
    server_name: node.internal
    insecure_skip_verify: true
  sample_limit: 1000
  label_limit: 30
  label_name_length_limit: 200
  label_value_length_limit: 2048
  target_limit: 50
  body_size_limit: 10MB
  relabel_configs:
    - source_labels: [__address__]
      target_label: __param_target
    - action: labeldrop
      regex: tmp_.*
  metric_relabel_configs:
    - source_labels: [__name__]
      regex: go_.*
      action: drop
  static_configs:
    - targets: ["a:9100", "b:9100"]
      labels:
        env: prod
    - targets: ["c:9100"]
  file_sd_configs:
    - files: [/etc/prom/targets/*.json, nodes.yml]
    - files: [more.yaml]
      refresh_interval: 30s
  http_sd_configs:
    - url: http://sd.internal:8080/targets
    - url: https://sd.internal/x?y=1
      refresh_interval: 2m
"#);
    assert_eq!(c.scrape_interval, secs(90));
    assert_eq!(c.scrape_timeout, secs(15));
    assert_eq!(c.metrics_path, "/probe");
    assert_eq!(c.scheme, "https");
    assert_eq!(c.params["module"], ["http_2xx", "second"]);
    assert_eq!(c.params["target"], ["example.com"]);
    assert!(c.honor_labels && !c.honor_timestamps);
    let b = c.basic_auth.unwrap();
    assert_eq!(
        (
            b.username.as_str(),
            b.password.as_str(),
            b.password_file.as_str()
        ),
        ("prom", "", "/etc/secret")
    );
    assert_eq!(c.tls_config.server_name, "node.internal");
    assert_eq!(c.tls_config.ca_file, "/etc/ca.pem");
    assert_eq!(c.tls_config.cert_file, "/etc/c.pem");
    assert_eq!(c.tls_config.key_file, "/etc/k.pem");
    assert!(c.tls_config.insecure_skip_verify);
    assert_eq!(c.sample_limit, 1000);
    assert_eq!(c.label_limit, 30);
    assert_eq!(c.label_name_length_limit, 200);
    assert_eq!(c.label_value_length_limit, 2048);
    assert_eq!(c.target_limit, 50);
    assert_eq!(c.body_size_limit, 10 << 20);
    assert_eq!(c.relabel_configs.len(), 2);
    assert_eq!(c.relabel_configs[1].action, Action::LabelDrop);
    assert_eq!(c.metric_relabel_configs[0].action, Action::Drop);
    assert_eq!(c.static_configs.len(), 2);
    assert_eq!(c.static_configs[0].targets, ["a:9100", "b:9100"]);
    assert_eq!(c.static_configs[0].labels["env"], "prod");
    assert!(c.static_configs[1].labels.is_empty());
    assert_eq!(c.file_sd_configs[0].files.len(), 2);
    assert_eq!(c.file_sd_configs[0].refresh_interval, secs(300));
    assert_eq!(c.file_sd_configs[1].refresh_interval, secs(30));
    assert_eq!(c.http_sd_configs[0].url, "http://sd.internal:8080/targets");
    assert_eq!(c.http_sd_configs[0].refresh_interval, secs(60));
    assert_eq!(c.http_sd_configs[1].refresh_interval, secs(120));
}

#[test]
fn authorization_and_bearer_tokens() {
    let c = one("- job_name: a\n  authorization:\n    credentials: s3cr3t\n");
    let a = c.authorization.unwrap();
    assert_eq!(
        (a.kind.as_str(), a.credentials.as_str()),
        ("Bearer", "s3cr3t")
    );
    let c = one("- job_name: a\n  authorization:\n    type: ' Token '\n    credentials_file: /f\n");
    let a = c.authorization.unwrap();
    assert_eq!(
        (a.kind.as_str(), a.credentials_file.as_str()),
        ("Token", "/f")
    );
    // The deprecated keys become `authorization`, as in Prometheus.
    let a = one("- job_name: a\n  bearer_token: tok\n")
        .authorization
        .unwrap();
    assert_eq!((a.kind.as_str(), a.credentials.as_str()), ("Bearer", "tok"));
    let a = one("- job_name: a\n  bearer_token_file: /t\n")
        .authorization
        .unwrap();
    assert_eq!(a.credentials_file, "/t");

    for (yaml, msg) in [
        (
            "- job_name: a\n  bearer_token: x\n  bearer_token_file: y\n",
            "at most one of bearer_token & bearer_token_file must be configured",
        ),
        (
            "- job_name: a\n  bearer_token: x\n  basic_auth: {username: u}\n",
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        ),
        (
            "- job_name: a\n  basic_auth: {username: u, password: p, password_file: f}\n",
            "at most one of basic_auth password & password_file must be configured",
        ),
        (
            "- job_name: a\n  bearer_token: x\n  authorization: {credentials: c}\n",
            "authorization is not compatible with bearer_token & bearer_token_file",
        ),
        (
            "- job_name: a\n  authorization: {credentials: c, credentials_file: f}\n",
            "at most one of authorization credentials & credentials_file must be configured",
        ),
        (
            "- job_name: a\n  authorization: {type: BASIC, credentials: c}\n",
            r#"authorization type cannot be set to "basic", use "basic_auth" instead"#,
        ),
        (
            "- job_name: a\n  authorization: {credentials: c}\n  basic_auth: {username: u}\n",
            "at most one of basic_auth, oauth2 & authorization must be configured",
        ),
        (
            "- job_name: a\n  tls_config: {cert_file: c}\n",
            "exactly one of key or key_file must be configured when a client certificate is configured",
        ),
        (
            "- job_name: a\n  tls_config: {key_file: k}\n",
            "exactly one of cert or cert_file must be configured when a client key is configured",
        ),
    ] {
        let e = error(yaml);
        assert!(e.contains(msg), "{yaml}: {e}");
    }
}

#[test]
fn validation_messages_are_prometheus_messages() {
    for (yaml, msg) in [
        ("- scrape_interval: 10s\n", "job_name is empty"),
        ("- job_name: ''\n", "job_name is empty"),
        ("- job_name: a\n  scheme: ftp\n", "invalid scheme \"ftp\""),
        (
            "- job_name: a\n  scrape_interval: 10 s\n",
            "not a valid duration string: \"10 s\"",
        ),
        (
            "- job_name: a\n  static_configs:\n    - targets: ['http://a:9100/metrics']\n",
            "\"http://a:9100/metrics\" is not a valid hostname",
        ),
        (
            "- job_name: a\n  static_configs:\n    - targets: [a]\n      labels: {0bad: x}\n",
            "\"0bad\" is not a valid label name",
        ),
        (
            "- job_name: a\n  relabel_configs:\n    -\n",
            "empty or null target relabeling rule in scrape config",
        ),
        (
            "- job_name: a\n  metric_relabel_configs:\n    - null\n",
            "empty or null metric relabeling rule in scrape config",
        ),
        (
            "- job_name: a\n  relabel_configs:\n    - action: hashmod\n      target_label: x\n",
            "relabel configuration for hashmod requires non-zero modulus",
        ),
        (
            "- job_name: a\n  file_sd_configs:\n    - refresh_interval: 1m\n",
            "file service discovery config must contain at least one path name",
        ),
        (
            "- job_name: a\n  file_sd_configs:\n    - files: [targets.txt]\n",
            "path name \"targets.txt\" is not valid for file discovery",
        ),
        (
            "- job_name: a\n  file_sd_configs:\n    - files: ['/etc/*/x.json']\n",
            "path name \"/etc/*/x.json\" is not valid for file discovery",
        ),
        (
            "- job_name: a\n  http_sd_configs:\n    - {}\n",
            "URL is missing",
        ),
        (
            "- job_name: a\n  http_sd_configs:\n    - url: ftp://x/y\n",
            "URL scheme must be 'http' or 'https'",
        ),
        (
            "- job_name: a\n  http_sd_configs:\n    - url: http:///y\n",
            "host is missing in URL",
        ),
        (
            "- job_name: a\n  body_size_limit: 10 MB\n",
            "units: unknown unit  MB in 10 MB",
        ),
        (
            "- job_name: a\n  body_size_limit: 10kB\n",
            "units: unknown unit kB in 10kB",
        ),
    ] {
        let e = error(yaml);
        assert!(e.contains(msg), "{yaml}: {e}");
    }
    // A static target with a path is allowed when relabeling may rewrite it.
    one("- job_name: a\n  relabel_configs: [{target_label: __address__, replacement: 'x:1'}]\n  static_configs:\n    - targets: ['http://a/b']\n");
}

#[test]
fn unsupported_keys_are_refused_by_name_with_the_line() {
    for key in [
        "kubernetes_sd_configs",
        "consul_sd_configs",
        "dns_sd_configs",
        "ec2_sd_configs",
        "oauth2",
        "proxy_url",
        "follow_redirects",
        "enable_http2",
        "native_histogram_bucket_limit",
        "scrape_classic_histograms",
        "scrape_protocols",
        "keep_dropped_targets",
    ] {
        let yaml = format!("- job_name: a\n  scrape_interval: 15s\n  {key}: [1]\n");
        let e = error(&yaml);
        assert!(
            e.contains(&format!("`{key}` is not supported")) && e.contains("line 3"),
            "{key}: {e}"
        );
        assert!(!e.contains("unknown field"), "{key}: {e}");
    }
    for (yaml, key) in [
        (
            "- job_name: a\n  tls_config:\n    min_version: TLS13\n",
            "tls_config.min_version",
        ),
        (
            "- job_name: a\n  basic_auth:\n    username_file: /u\n",
            "basic_auth.username_file",
        ),
        (
            "- job_name: a\n  http_sd_configs:\n    - url: http://a/\n      tls_config: {}\n",
            "http_sd_configs.tls_config",
        ),
    ] {
        let e = error(yaml);
        assert!(e.contains(&format!("`{key}` is not supported")), "{e}");
    }
}

#[test]
fn unknown_keys_are_refused_as_unknown_with_the_line() {
    let e = error("- job_name: a\n  scrape_intreval: 15s\n");
    assert!(
        e.contains("unknown field") && e.contains("scrape_intreval") && e.contains("line 2"),
        "{e}"
    );
    let e = error("- job_name: a\n  static_configs:\n    - targets: [a]\n      label: {}\n");
    assert!(e.contains("unknown field") && e.contains("label"), "{e}");
    let e = error("- job_name: a\n  tls_config:\n    cafile: y\n");
    assert!(e.contains("unknown field") && e.contains("line 3"), "{e}");
}

#[test]
fn global_defaults_and_timeouts() {
    let g = GlobalScrapeConfig::new(Some(secs(15)), None).unwrap();
    assert_eq!((g.scrape_interval, g.scrape_timeout), (secs(15), secs(10)));
    let g = GlobalScrapeConfig::new(Some(secs(5)), None).unwrap();
    assert_eq!(g.scrape_timeout, secs(5), "capped at the interval");
    let g = GlobalScrapeConfig::new(None, Some(secs(30))).unwrap();
    assert_eq!((g.scrape_interval, g.scrape_timeout), (secs(60), secs(30)));
    assert_eq!(
        GlobalScrapeConfig::new(Some(secs(5)), Some(secs(6))),
        Err(ScrapeConfigError::GlobalTimeoutTooLong)
    );

    let global = GlobalScrapeConfig::new(Some(secs(30)), Some(secs(20))).unwrap();
    let mut v = load(
        "- job_name: a\n- job_name: b\n  scrape_interval: 5s\n- job_name: c\n  scrape_timeout: 25s\n- job_name: d\n  scrape_interval: 0s\n",
    );
    resolve_scrape_configs(&mut v, &global).unwrap();
    let got: Vec<_> = v
        .iter()
        .map(|c| (c.scrape_interval, c.scrape_timeout))
        .collect();
    assert_eq!(
        got,
        [
            (secs(30), secs(20)),
            (secs(5), secs(5)),
            (secs(30), secs(25)),
            (secs(30), secs(20)),
        ]
    );

    let mut v = load("- job_name: slow\n  scrape_interval: 10s\n  scrape_timeout: 11s\n");
    let e = resolve_scrape_configs(&mut v, &global).unwrap_err();
    assert_eq!(
        e.to_string(),
        "scrape timeout greater than scrape interval for scrape config with job name \"slow\""
    );
    // The timeout is checked against the inherited interval too.
    let mut v = load("- job_name: t\n  scrape_timeout: 45s\n");
    assert_eq!(
        resolve_scrape_configs(&mut v, &global),
        Err(ScrapeConfigError::TimeoutTooLong("t".into()))
    );
    let mut v = load("- job_name: a\n- job_name: a\n");
    assert_eq!(
        resolve_scrape_configs(&mut v, &global)
            .unwrap_err()
            .to_string(),
        "found multiple scrape configs with job name \"a\""
    );
}

#[test]
fn durations_in_prometheus_syntax() {
    for (s, ms) in [
        ("0", 0),
        ("0s", 0),
        ("15s", 15_000),
        ("1m30s", 90_000),
        ("1d", 86_400_000),
        (
            "1y2w3d4h5m6s7ms",
            31_536_000_000 + 1_209_600_000 + 259_200_000 + 14_706_007,
        ),
        ("100ms", 100),
    ] {
        assert_eq!(parse_duration(s), Ok(Duration::from_millis(ms)), "{s}");
    }
    for bad in ["", "1s1m", "1m1m", "1.5m", "m", "5x", "1h ", "-1m", "15"] {
        assert_eq!(
            parse_duration(bad),
            Err(format!("not a valid duration string: {bad:?}")),
            "{bad:?}"
        );
    }
    assert!(parse_duration("99999999999999999999y").is_err());
    for (ms, s) in [
        (0, "0s"),
        (1_000, "1s"),
        (90_000, "1m30s"),
        (7 * 86_400_000, "1w"),
        (90 * 86_400_000, "90d"),
        (365 * 86_400_000, "1y"),
        (14 * 86_400_000 + 1, "14d1ms"),
        (3_600_000 + 500, "1h500ms"),
    ] {
        assert_eq!(format_duration(Duration::from_millis(ms)), s);
        assert_eq!(parse_duration(s), Ok(Duration::from_millis(ms)));
    }
}

#[test]
fn sizes_in_prometheus_units() {
    for (s, n) in [
        ("0", 0),
        ("1B", 1),
        ("10MB", 10 << 20),
        ("10MiB", 10 << 20),
        ("1KB", 1024),
        ("1.5KiB", 1536),
        ("1GB512MB", (1 << 30) + (512 << 20)),
        (".5KB", 512),
        ("-1MB", 0),
        ("1EB", 1 << 60),
    ] {
        assert_eq!(parse_base2_bytes(s), Ok(n), "{s}");
    }
    for bad in ["", "10", "1kB", "MB", ".MB", "1MiB1MB", "10 MB"] {
        assert!(parse_base2_bytes(bad).is_err(), "{bad}");
    }
    assert_eq!(
        parse_base2_bytes("16EB"),
        Err("units: overflow parsing unit".into())
    );
    // A plain integer in YAML is bytes.
    assert_eq!(
        one("- job_name: a\n  body_size_limit: 4096\n").body_size_limit,
        4096
    );
}

/// A configuration as operators write it (the Prometheus documentation's and a typical
/// node-exporter fleet's), read with the global section applied.
#[test]
fn a_real_world_prometheus_config() {
    #[derive(Deserialize)]
    struct Global {
        scrape_interval: Option<String>,
        scrape_timeout: Option<String>,
        #[serde(default)]
        #[allow(dead_code)]
        evaluation_interval: Option<String>,
    }
    #[derive(Deserialize)]
    struct File {
        global: Global,
        scrape_configs: Vec<ScrapeConfig>,
    }
    let text = r#"
# my global config
global:
  scrape_interval: 15s # Set the scrape interval to every 15 seconds. Default is every 1 minute.
  evaluation_interval: 15s # Evaluate rules every 15 seconds. The default is every 1 minute.
  # scrape_timeout is set to the global default (10s).

scrape_configs:
  # The job name is added as a label `job=<job_name>` to any timeseries scraped from this config.
  - job_name: "prometheus"
    # metrics_path defaults to '/metrics'
    # scheme defaults to 'http'.
    static_configs:
      - targets: ["localhost:9090"]

  - job_name: node
    scrape_interval: 30s
    file_sd_configs:
      - files:
          - /etc/prometheus/file_sd/node-*.json
          - /etc/prometheus/file_sd/node.yml
        refresh_interval: 1m
    relabel_configs:
      - source_labels: [__meta_filepath]
        regex: '.*/node-(.*)\.json'
        target_label: dc
      - source_labels: [__address__]
        regex: '([^:]+):\d+'
        target_label: instance
        replacement: '${1}'
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'node_(scrape_collector|textfile)_.*'
        action: drop

  - job_name: 'blackbox'
    metrics_path: /probe
    params:
      module: [http_2xx]  # Look for a HTTP 200 response.
    static_configs:
      - targets:
        - http://prometheus.io    # Target to probe with http.
        - https://prometheus.io   # Target to probe with https.
        - http://example.com:8080 # Target to probe with http on port 8080.
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:9115  # The blackbox exporter's real hostname:port.

  - job_name: 'federate'
    scrape_interval: 15s
    honor_labels: true
    metrics_path: '/federate'
    params:
      'match[]':
        - '{job="prometheus"}'
        - '{__name__=~"job:.*"}'
    static_configs:
      - targets:
        - 'source-prometheus-1:9090'
        - 'source-prometheus-2:9090'
"#;
    let file: File = match serde_saphyr::from_str(text) {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    };
    let parse = |s: Option<String>| s.map(|s| parse_duration(&s).unwrap());
    let global = GlobalScrapeConfig::new(
        parse(file.global.scrape_interval),
        parse(file.global.scrape_timeout),
    )
    .unwrap();
    let mut jobs = file.scrape_configs;
    resolve_scrape_configs(&mut jobs, &global).unwrap();
    let names: Vec<_> = jobs.iter().map(|j| j.job_name.as_str()).collect();
    assert_eq!(names, ["prometheus", "node", "blackbox", "federate"]);
    assert_eq!(jobs[0].scrape_interval, secs(15));
    assert_eq!(jobs[0].scrape_timeout, secs(10));
    assert_eq!(jobs[0].static_configs[0].targets, ["localhost:9090"]);
    assert_eq!(jobs[1].scrape_interval, secs(30));
    assert_eq!(jobs[1].file_sd_configs[0].files.len(), 2);
    assert_eq!(jobs[1].file_sd_configs[0].refresh_interval, secs(60));
    assert_eq!(jobs[1].relabel_configs.len(), 2);
    assert_eq!(jobs[1].metric_relabel_configs.len(), 1);
    assert_eq!(jobs[2].params["module"], ["http_2xx"]);
    assert_eq!(jobs[2].static_configs[0].targets.len(), 3);
    assert_eq!(jobs[3].params["match[]"].len(), 2);
    assert!(jobs[3].honor_labels);
}

#[test]
fn relative_paths_are_relative_to_the_config_directory() {
    let mut c = one("- job_name: files
  scheme: https
  basic_auth: {username: u, password_file: secrets/pw}
  tls_config: {ca_file: ca.pem, cert_file: /abs/cert.pem, key_file: tls/key.pem}
  file_sd_configs:
    - files: [targets/*.json, /etc/sd/a.yml]
");
    c.set_directory(std::path::Path::new("/etc/tsdb"));
    assert_eq!(
        c.file_sd_configs[0].files,
        ["/etc/tsdb/targets/*.json", "/etc/sd/a.yml"]
    );
    assert_eq!(c.basic_auth.unwrap().password_file, "/etc/tsdb/secrets/pw");
    assert_eq!(c.tls_config.ca_file, "/etc/tsdb/ca.pem");
    assert_eq!(c.tls_config.cert_file, "/abs/cert.pem");
    assert_eq!(c.tls_config.key_file, "/etc/tsdb/tls/key.pem");
    let mut b = one("- job_name: b\n  authorization: {credentials_file: token}\n");
    b.set_directory(std::path::Path::new("conf"));
    assert_eq!(b.authorization.unwrap().credentials_file, "conf/token");
}
