//! With a real Prometheus 2.42 (Debian's `prometheus`) and a real node exporter (Debian's
//! `prometheus-node-exporter`), both started by the tests on 127.0.0.1 and installed by
//! `.ci/run` when missing (a missing one fails the test, naming the install command):
//!
//! - remote write: a Prometheus scraping itself and the node exporter every second ships
//!   to our `/api/v1/write` with no failed, retried or dropped sample, and at a fixed time
//!   both hold the same series (`/api/v1/series`, `/api/v1/labels`), the same latest
//!   values (`{__name__=~".+"}` instant), the same range answers, the same metadata;
//! - remote read: a Prometheus with no scrape job and `remote_read` pointing at our
//!   `/api/v1/read` answers instant and range queries, with `=`, `!=` and regex matchers,
//!   exactly with the samples we stored;
//! - the golden PromQL suite ingested through remote write (not written straight into the
//!   database) answers every recorded query over HTTP byte for byte as the library does
//!   on the same data loaded directly (which `tsdb-query`'s golden test checks against
//!   Prometheus' recorded answers).
//!
//! Every wait is bounded. Where Prometheus 3 (which the engine follows) computes
//! differently from 2.42, the compared queries avoid the difference: range windows are
//! left-open, `(t - r, t]`, where 2.42's are closed (a sample exactly on the left edge
//! counts for 2.42 alone), and `rate` applies the counter's zero point after the
//! half-interval rule (prometheus/prometheus#13725), which matters in a window holding a
//! counter's first sample. So `rate` and `*_over_time` steps fall between sample times,
//! after every compared counter's first sample.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;
use serde_json::Value as Json;
use server_common::{
    enc, form, free_port, golden_dir, load_golden, start_node_exporter, start_prometheus, Server,
};
use tsdb_ingest::proto::prometheus as pb;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Milliseconds as the API's float seconds.
fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// Calls `f` every 100 ms until it gives `Some`, for at most `limit`.
fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t0.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The sum of every sample of `name` (any labels) in a text exposition, if any.
fn exposition_sum(text: &str, name: &str) -> Option<f64> {
    let mut sum = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        let v: f64 = line.rsplit_once(' ').unwrap().1.parse().unwrap();
        sum = Some(sum.unwrap_or(0.0) + v);
    }
    sum
}

type LabelMap = BTreeMap<String, String>;

fn label_map(v: &Json) -> LabelMap {
    v.as_object()
        .unwrap_or_else(|| panic!("not a label set: {v}"))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

/// `GET base + path`, which must answer 200 with `status: success`: its `data`.
fn data(base: &str, path: &str) -> Json {
    let mut r = server_common::agent()
        .get(format!("{base}{path}"))
        .call()
        .unwrap();
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(status, 200, "{base}{path}: {body}");
    let v: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success", "{base}{path}: {body}");
    v["data"].clone()
}

/// A vector or matrix result as series → value (or values), independent of order.
fn result_map(d: &Json) -> BTreeMap<LabelMap, Json> {
    d["result"]
        .as_array()
        .unwrap_or_else(|| panic!("no result: {d}"))
        .iter()
        .map(|s| {
            let v = s.get("value").or_else(|| s.get("values")).unwrap();
            (label_map(&s["metric"]), v.clone())
        })
        .collect()
}

/// What one side has and the other lacks, for a failure message.
fn diff<K: Ord + std::fmt::Debug, V: PartialEq + std::fmt::Debug>(
    theirs: &BTreeMap<K, V>,
    ours: &BTreeMap<K, V>,
) -> String {
    let mut out = Vec::new();
    for (k, v) in theirs {
        match ours.get(k) {
            None => out.push(format!("only Prometheus: {k:?} {v:?}")),
            Some(w) if w != v => out.push(format!("{k:?}: Prometheus {v:?}, ours {w:?}")),
            _ => {}
        }
    }
    for (k, v) in ours {
        if !theirs.contains_key(k) {
            out.push(format!("only ours: {k:?} {v:?}"));
        }
    }
    let n = out.len();
    out.truncate(10);
    format!("{n} differences, the first: {}", out.join("\n"))
}

/// Reads `path` from Prometheus (`theirs`) and from us until both answer alike (as
/// `view` sees their `data`), every 200 ms for at most 15 s; fails with the differences.
fn agree<K, V>(
    theirs: &str,
    ours: &str,
    path: &str,
    view: impl Fn(&Json) -> BTreeMap<K, V>,
) -> BTreeMap<K, V>
where
    K: Ord + std::fmt::Debug,
    V: PartialEq + std::fmt::Debug,
{
    let t0 = Instant::now();
    loop {
        let (a, b) = (view(&data(theirs, path)), view(&data(ours, path)));
        if a == b {
            return a;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "{path}: {}",
            diff(&a, &b)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn prometheus_remote_write_delivers_every_series_and_sample() {
    let t_begin = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let ours = Server::start(&tmp.path().join("ours"), &["--self-scrape-interval", "0"]);
    ours.wait_ready();
    let ours_url = format!("http://{}", ours.addr);

    let (ne, ne_address) = start_node_exporter(tmp.path());

    let prom_dir = tmp.path().join("prometheus");
    std::fs::create_dir(&prom_dir).unwrap();
    let port = free_port();
    // one shard, so samples are shipped in the order Prometheus appended them
    let config = format!(
        "global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1m
scrape_configs:
  - job_name: prometheus
    static_configs: [{{targets: ['127.0.0.1:{port}']}}]
  - job_name: node
    static_configs: [{{targets: ['{ne_address}']}}]
remote_write:
  - url: {ours_url}/api/v1/write
    queue_config: {{batch_send_deadline: 100ms, min_shards: 1, max_shards: 1, min_backoff: 50ms, max_backoff: 1s}}
    metadata_config: {{send_interval: 1s}}
"
    );
    let prom = start_prometheus(&prom_dir, &config, port);
    let pu = prom.url.clone();

    // Prometheus starts shipping once its WAL watcher has caught up (about 5 s)
    let prom_metric = |name: &str| exposition_sum(&prom.get("/metrics").body, name);
    wait_for(Duration::from_secs(30), "the first samples shipped", || {
        prom_metric("prometheus_remote_storage_samples_total").filter(|n| *n > 0.0)
    });
    // The first scrape of each target, by job (Prometheus applies its targets within 5 s).
    let firsts = wait_for(Duration::from_secs(30), "both targets scraped", || {
        let d = data(&pu, &format!("/api/v1/query?query={}", enc("up[1m]")));
        let firsts: BTreeMap<String, i64> = d["result"]
            .as_array()?
            .iter()
            .map(|s| {
                let t = s["values"][0][0].as_f64().unwrap();
                (
                    s["metric"]["job"].as_str().unwrap().to_owned(),
                    (t * 1000.0).round() as i64,
                )
            })
            .collect();
        (firsts.len() == 2).then_some(firsts)
    });
    let first_scrape = *firsts.values().max().unwrap();
    // A fixed time both must agree on: 8 s after the later first scrape (every compared
    // range starts 3 s after it), every sample at or before it appended (a scrape times
    // out after 1 s) and shipped (one shard sends in append order).
    let t = (first_scrape + 8_000).max(now_ms() - 1_000) / 1000 * 1000;
    wait_for(
        Duration::from_secs(30),
        "samples 2 s newer than T shipped",
        || {
            let sent =
                prom_metric("prometheus_remote_storage_queue_highest_sent_timestamp_seconds")?;
            (sent * 1000.0 >= (t + 2_000) as f64).then_some(())
        },
    );
    let ts = secs(t);

    // The same series (every one Prometheus has at T is queryable from us with the same
    // labels) and the same label names. Each comparison reads both sides again until they
    // agree, for at most 15 s: a scrape appended late on a loaded machine is waited for.
    let all = enc(r#"{__name__=~".+"}"#);
    let series_path = format!("/api/v1/series?match[]={all}&start=0&end={ts}");
    let theirs = agree(&pu, &ours_url, &series_path, |d| {
        d.as_array()
            .unwrap()
            .iter()
            .map(|s| (label_map(s), ()))
            .collect()
    });
    assert!(theirs.len() > 100, "{}", theirs.len());
    for (job, name) in [
        ("prometheus", "up"),
        ("node", "up"),
        ("node", "node_load1"),
        ("node", "node_cpu_seconds_total"),
        ("node", "node_uname_info"),
        ("prometheus", "prometheus_build_info"),
    ] {
        assert!(
            theirs
                .keys()
                .any(|s| s["job"] == job && s["__name__"] == name),
            "Prometheus has no {name} of job {job}"
        );
    }
    let label_names = |d: &Json| -> BTreeMap<String, ()> {
        d.as_array()
            .unwrap()
            .iter()
            .map(|n| (n.as_str().unwrap().to_owned(), ()))
            .collect()
    };
    agree(
        &pu,
        &ours_url,
        &format!("/api/v1/labels?start=0&end={ts}"),
        label_names,
    );

    // every series' latest value at T
    let latest = agree(
        &pu,
        &ours_url,
        &format!("/api/v1/query?query={all}&time={ts}"),
        result_map,
    );
    assert!(latest.len() > 100, "{}", latest.len());

    // Range queries over the seconds before T. The steps of `rate` fall half an interval
    // between the node exporter's scrapes: Prometheus 2.42's windows are closed,
    // `[t - 5s, t]`, ours are Prometheus 3's, `(t - 5s, t]`, and a sample exactly on the
    // left edge would be counted by 2.42 alone.
    let node_phase = secs(firsts["node"] + 5_500);
    let start = secs(first_scrape + 3_000);
    for (q, start) in [
        ("up", &start),
        ("node_load1", &start),
        ("node_memory_MemAvailable_bytes", &start),
        ("node_time_seconds", &start),
        ("scrape_samples_scraped", &start),
        ("rate(node_cpu_seconds_total[5s])", &node_phase),
        ("sum by (job) (up)", &start),
        ("count by (__name__) ({job=\"node\"})", &start),
    ] {
        let path = format!(
            "/api/v1/query_range?query={}&start={start}&end={ts}&step=1",
            enc(q)
        );
        let got = agree(&pu, &ours_url, &path, result_map);
        assert!(!got.is_empty(), "{q}: Prometheus has nothing");
    }

    // metadata, sent every second
    let metadata = agree(&pu, &ours_url, "/api/v1/metadata", |d| {
        d.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    });
    assert!(metadata.contains_key("node_load1"), "{metadata:?}");

    // Every sample shipped was accepted: Prometheus' count of samples sent equals ours of
    // samples accepted while nothing is in flight (between two scrapes).
    let m = wait_for(
        Duration::from_secs(15),
        "the counts of samples to agree",
        || {
            let before = prom_metric("prometheus_remote_storage_samples_total")?;
            let m = ours.get("/metrics").body;
            let accepted = exposition_sum(&m, "tsdb_ingest_samples_accepted_total")?;
            let after = prom_metric("prometheus_remote_storage_samples_total")?;
            (before == accepted && accepted == after).then_some(m)
        },
    );
    let shipped = exposition_sum(&m, "tsdb_ingest_samples_accepted_total").unwrap();
    assert!(shipped > 500.0, "{shipped}");
    for name in [
        "tsdb_ingest_samples_refused_total",
        "tsdb_ingest_requests_failed_total",
    ] {
        assert_eq!(exposition_sum(&m, name).unwrap_or(0.0), 0.0, "{name}");
    }
    let writes = m
        .lines()
        .filter(|l| l.starts_with("tsdb_http_requests_total{handler=\"/api/v1/write\""))
        .collect::<Vec<_>>();
    assert!(
        writes.len() == 1 && writes[0].contains("code=\"204\""),
        "{writes:?}"
    );
    // nothing failed, was retried or dropped
    let text = prom.get("/metrics").body;
    for name in [
        "prometheus_remote_storage_samples_failed_total",
        "prometheus_remote_storage_samples_retried_total",
        "prometheus_remote_storage_samples_dropped_total",
        "prometheus_remote_storage_metadata_failed_total",
        "prometheus_remote_storage_metadata_retried_total",
        "prometheus_remote_storage_exemplars_failed_total",
        "prometheus_remote_storage_histograms_failed_total",
    ] {
        assert_eq!(exposition_sum(&text, name), Some(0.0), "{name}");
    }
    drop((prom, ne));
    eprintln!(
        "{} series, {shipped} samples shipped, {:?}",
        theirs.len(),
        t_begin.elapsed()
    );
}

/// One series of the remote read test: labels and a value per step.
struct Known {
    labels: [(&'static str, &'static str); 3],
    value: fn(i64) -> f64,
}

const STEP_MS: i64 = 15_000;
const POINTS: i64 = 81;

fn known() -> Vec<Known> {
    vec![
        Known {
            labels: [("__name__", "rr_temp"), ("dc", "x"), ("host", "a")],
            value: |i| 10.0 + i as f64 * 0.5,
        },
        Known {
            labels: [("__name__", "rr_temp"), ("dc", "x"), ("host", "b")],
            value: |i| 20.0 - i as f64 * 0.25,
        },
        Known {
            labels: [("__name__", "rr_temp"), ("dc", "y"), ("host", "c")],
            value: |i| (i % 7) as f64 - 3.0,
        },
        Known {
            // a counter with a reset at i = 40
            labels: [
                ("__name__", "rr_requests_total"),
                ("dc", "x"),
                ("host", "a"),
            ],
            value: |i| {
                if i < 40 {
                    i as f64 * 3.0
                } else {
                    (i - 40) as f64 * 2.0
                }
            },
        },
    ]
}

/// The instant vector we stored for `keep` at step `i`, as Prometheus prints it.
fn expected_vector(i: i64, keep: impl Fn(&Known) -> bool) -> BTreeMap<LabelMap, Json> {
    known()
        .iter()
        .filter(|k| keep(k))
        .map(|k| {
            (
                k.labels
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
                Json::String(format!("{}", (k.value)(i))),
            )
        })
        .collect()
}

#[test]
fn prometheus_remote_read_answers_what_we_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = Server::start(&tmp.path().join("ours"), &["--self-scrape-interval", "0"]);
    ours.wait_ready();
    let ours_url = format!("http://{}", ours.addr);
    let end = now_ms() / STEP_MS * STEP_MS - STEP_MS;
    let base = end - (POINTS - 1) * STEP_MS;
    let req = pb::WriteRequest {
        timeseries: known()
            .iter()
            .map(|k| pb::TimeSeries {
                labels: k
                    .labels
                    .iter()
                    .map(|(n, v)| pb::Label {
                        name: (*n).into(),
                        value: (*v).into(),
                    })
                    .collect(),
                samples: (0..POINTS)
                    .map(|i| pb::Sample {
                        value: (k.value)(i),
                        timestamp: base + i * STEP_MS,
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        metadata: vec![],
    };
    let r = ours.post_bytes(
        "/api/v1/write",
        &snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .unwrap(),
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ],
    );
    assert_eq!(r.status, 204, "{}", r.text());

    let config = format!(
        "global:
  scrape_interval: 1m
  evaluation_interval: 1m
scrape_configs: []
remote_read:
  - url: {ours_url}/api/v1/read
    read_recent: true
"
    );
    let prom = start_prometheus(tmp.path(), &config, free_port());
    let pu = prom.url.clone();
    let at = |i: i64| secs(base + i * STEP_MS);
    let instant = |q: &str, i: i64| format!("/api/v1/query?query={}&time={}", enc(q), at(i));
    let range = |q: &str, from: i64, to: i64, step_s: i64| {
        format!(
            "/api/v1/query_range?query={}&start={}&end={}&step={step_s}",
            enc(q),
            at(from),
            at(to)
        )
    };

    // instant, regex and != selectors: what we stored, through Prometheus
    let cases: Vec<(String, BTreeMap<LabelMap, Json>)> = vec![
        (
            instant("rr_temp", 40),
            expected_vector(40, |k| k.labels[0].1 == "rr_temp"),
        ),
        (
            instant(r#"{__name__=~"rr_.+", host=~"a|c"}"#, 57),
            expected_vector(57, |k| k.labels[2].1 != "b"),
        ),
        (
            instant(r#"rr_temp{host!="b"}"#, 80),
            expected_vector(80, |k| k.labels[0].1 == "rr_temp" && k.labels[2].1 != "b"),
        ),
        (
            instant(r#"rr_temp{dc!~"x|z"}"#, 3),
            expected_vector(3, |k| k.labels[1].1 == "y"),
        ),
        (instant(r#"rr_temp{host="zzz"}"#, 3), BTreeMap::new()),
    ];
    for (path, want) in &cases {
        let got: BTreeMap<LabelMap, Json> = result_map(&data(&pu, path))
            .into_iter()
            .map(|(k, v)| (k, v[1].clone()))
            .collect();
        assert!(&got == want, "{path}: {}", diff(want, &got));
    }

    // ranges: every step's value, and the timestamps
    for (q, keep) in [
        (
            r#"rr_temp{dc="x"}"#,
            (|k: &Known| k.labels[0].1 == "rr_temp" && k.labels[1].1 == "x") as fn(&Known) -> bool,
        ),
        (r#"{__name__=~"rr_.*",host!="b"}"#, |k: &Known| {
            k.labels[2].1 != "b"
        }),
    ] {
        let path = range(q, 0, POINTS - 1, 60);
        let got = result_map(&data(&pu, &path));
        let mut want: BTreeMap<LabelMap, Json> = BTreeMap::new();
        for i in (0..POINTS).step_by(4) {
            for (labels, v) in expected_vector(i, keep) {
                // as Prometheus prints a time: float seconds, no fraction when whole
                let ms = base + i * STEP_MS;
                let t: Json = serde_json::from_str(&format!("{}", ms as f64 / 1000.0)).unwrap();
                let points = want.entry(labels).or_insert_with(|| Json::Array(vec![]));
                points
                    .as_array_mut()
                    .unwrap()
                    .push(serde_json::json!([t, v]));
            }
        }
        assert!(got == want, "{q}: {}", diff(&want, &got));
    }

    // Functions over remote-read data: Prometheus and we agree. Evaluated 7 s after
    // sample times: 2.42's range windows are closed (`[t - r, t]`), ours are Prometheus
    // 3's (`(t - r, t]`), which differ when a sample sits exactly on the left edge.
    let between = |q: &str, from: i64, to: i64, step_s: i64| {
        format!(
            "/api/v1/query_range?query={}&start={}&end={}&step={step_s}",
            enc(q),
            secs(base + from * STEP_MS + 7_000),
            secs(base + to * STEP_MS + 7_000)
        )
    };
    for path in [
        between("rate(rr_requests_total[2m])", 10, 79, 30),
        between("increase(rr_requests_total[5m])", 30, 79, 15),
        between("sum by (dc) (rr_temp)", 0, 79, 45),
        between("max_over_time(rr_temp[10m])", 40, 79, 60),
    ] {
        let (a, b) = (
            result_map(&data(&pu, &path)),
            result_map(&data(&ours_url, &path)),
        );
        assert!(!a.is_empty(), "{path}");
        assert!(a == b, "{path}: {}", diff(&a, &b));
    }

    // Prometheus asked us: every remote read answered 200
    let m = ours.get("/metrics").body;
    let reads: Vec<&str> = m
        .lines()
        .filter(|l| l.starts_with("tsdb_http_requests_total{handler=\"/api/v1/read\""))
        .collect();
    assert!(
        reads.len() == 1 && reads[0].contains("code=\"200\""),
        "{reads:?}"
    );
    let n: f64 = reads[0].rsplit_once(' ').unwrap().1.parse().unwrap();
    assert!(n >= 8.0, "{n}");
}

/// The golden data's samples in time order, and its metadata (from `# TYPE`/`# HELP`).
fn golden_samples() -> (Vec<tsdb_text::Sample>, Vec<pb::MetricMetadata>) {
    use tsdb_text::prometheus::{Dialect, Options, Parser};
    let text = std::fs::read(golden_dir().join("data.om")).unwrap();
    let mut samples: Vec<_> = Parser::new(&text, Options::new(Dialect::OpenMetrics))
        .map(|s| s.unwrap())
        .collect();
    samples.sort_by_key(|s| s.timestamp);
    let mut metadata: BTreeMap<String, pb::MetricMetadata> = BTreeMap::new();
    for line in String::from_utf8(text).unwrap().lines() {
        let mut words = line.splitn(4, ' ');
        let (Some("#"), Some(kind), Some(name), Some(rest)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            continue;
        };
        let m = metadata
            .entry(name.to_owned())
            .or_insert_with(|| pb::MetricMetadata {
                metric_family_name: name.to_owned(),
                ..Default::default()
            });
        use pb::metric_metadata::MetricType as T;
        match kind {
            "TYPE" => {
                m.r#type = match rest {
                    "counter" => T::Counter,
                    "gauge" => T::Gauge,
                    "histogram" => T::Histogram,
                    "summary" => T::Summary,
                    _ => T::Unknown,
                } as i32
            }
            "HELP" => m.help = rest.to_owned(),
            _ => {}
        }
    }
    (samples, metadata.into_values().collect())
}

/// A recorded time parameter as a client sends it (a recorded bad one, such as
/// `time=abc`, as it is).
fn time_param(v: &Json) -> String {
    match v {
        Json::Number(n) => n.to_string(),
        Json::String(s) => s.clone(),
        other => panic!("not a time: {other}"),
    }
}

/// The request of one recorded golden case: path and form body.
fn golden_request(c: &Json) -> (&'static str, String) {
    let num = time_param;
    let q = c["query"].as_str().unwrap();
    if c["kind"] == "instant" {
        (
            "/api/v1/query",
            form(&[("query", q), ("time", &num(&c["time"]))]),
        )
    } else {
        (
            "/api/v1/query_range",
            form(&[
                ("query", q),
                ("start", &num(&c["start"])),
                ("end", &num(&c["end"])),
                ("step", &num(&c["step"])),
            ]),
        )
    }
}

#[test]
fn golden_suite_ingested_by_remote_write_answers_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<Json> = std::fs::read_to_string(golden_dir().join("expected.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(cases.len(), 520);

    // The reference: the library's answers on the same data written straight into a
    // database (server_query_api.rs sends them over HTTP the same way, and tsdb-query's
    // golden test checks them against Prometheus' recorded answers).
    let direct_dir = tmp.path().join("direct");
    load_golden(&direct_dir);
    let library: Vec<Result<String, String>> = {
        let db = tsdb_core::Db::open(&direct_dir, tsdb_core::Options::default()).unwrap();
        let engine = tsdb_examples::api::engine();
        let out = cases
            .iter()
            .map(|c| {
                let q = c["query"].as_str().unwrap();
                let num = |k: &str| time_param(&c[k]);
                if c["kind"] == "instant" {
                    tsdb_examples::api::query(&engine, &db, q, Some(&num("time")), 0)
                } else {
                    tsdb_examples::api::query_range(
                        &engine,
                        &db,
                        q,
                        &num("start"),
                        &num("end"),
                        &num("step"),
                    )
                }
            })
            .collect();
        db.close().unwrap();
        out
    };

    // The golden data is from 2024-01-01, two hours of it, older than the default
    // out-of-order window (1 d) before now: a fresh server still takes it in time order
    // with its default flags, as the age limit is relative to the newest sample in the
    // head, not to the clock (only the future limit is).
    let pushed = Server::start(&tmp.path().join("pushed"), &["--self-scrape-interval", "0"]);
    pushed.wait_ready();
    let (samples, metadata) = golden_samples();
    let first = samples[0].timestamp.unwrap();
    assert!(first < now_ms() - 86_400_000, "the data is old: {first}");
    let mut sent = 0;
    for (n, chunk) in samples.chunks(2_000).enumerate() {
        // one TimeSeries per label set, its samples in time order, as a sender batches
        let mut series: Vec<pb::TimeSeries> = Vec::new();
        let mut index: HashMap<&tsdb_index::Labels, usize> = HashMap::new();
        for s in chunk {
            let i = *index.entry(&s.labels).or_insert_with(|| {
                series.push(pb::TimeSeries {
                    labels: s
                        .labels
                        .iter()
                        .map(|(n, v)| pb::Label {
                            name: n.into(),
                            value: v.into(),
                        })
                        .collect(),
                    ..Default::default()
                });
                series.len() - 1
            });
            series[i].samples.push(pb::Sample {
                value: s.value,
                timestamp: s.timestamp.unwrap(),
            });
        }
        let req = pb::WriteRequest {
            timeseries: series,
            metadata: if n == 0 { metadata.clone() } else { vec![] },
        };
        let r = pushed.post_bytes(
            "/api/v1/write",
            &snap::raw::Encoder::new()
                .compress_vec(&req.encode_to_vec())
                .unwrap(),
            &[
                ("Content-Type", "application/x-protobuf"),
                ("Content-Encoding", "snappy"),
                ("X-Prometheus-Remote-Write-Version", "0.1.0"),
            ],
        );
        assert_eq!(r.status, 204, "request {n}: {}", r.text());
        sent += chunk.len();
    }
    assert_eq!(sent, samples.len());
    let m = pushed.get("/metrics").body;
    assert_eq!(
        exposition_sum(&m, "tsdb_ingest_samples_accepted_total"),
        Some(sent as f64),
        "{m}"
    );
    let md = pushed.get("/api/v1/metadata?metric=temp_celsius").json();
    assert_eq!(md["data"]["temp_celsius"][0]["type"], "gauge", "{md}");

    let mut ok = 0;
    for (i, (c, lib)) in cases.iter().zip(&library).enumerate() {
        let (path, body) = golden_request(c);
        let got = if i % 2 == 0 {
            pushed.get(&format!("{path}?{body}"))
        } else {
            pushed.post_form(path, &body)
        };
        let q = c["query"].as_str().unwrap();
        assert_eq!(got.content_type, "application/json", "{q}");
        match lib {
            Ok(b) | Err(b) => assert_eq!(&got.body, b, "query {i}: {q}"),
        }
        // and the status Prometheus 2.42 answered (but for the functions newer than it)
        if !q.contains("mad_over_time") {
            assert_eq!(
                u64::from(got.status),
                c["http_status"].as_u64().unwrap(),
                "query {i}: {q}: {}",
                got.body
            );
        }
        ok += usize::from(got.status == 200);
    }
    assert!(ok > 400, "{ok}");
}
