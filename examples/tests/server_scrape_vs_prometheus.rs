//! Against the real thing: a real node exporter (Debian's `prometheus-node-exporter`, a few
//! cheap collectors) on 127.0.0.1 is scraped every second by our `tsdb-server` and by a
//! real Prometheus 2.42 with the same `scrape_configs` (job `node`, one static target).
//! Once both have scraped a few times, their latest scrapes (an instant `{job="node"}`
//! at one time, which takes each series' latest sample) hold the same series, names and
//! labels, both have `up` 1, values that do not move between two scrapes (total memory,
//! the `uname` and build info, the boot time) are equal, the exporter's clock
//! (`node_time_seconds`) agrees within the drift between two scrapes, and
//! `scrape_samples_scraped` agrees within a few samples. A missing program fails the test naming its install command; every wait
//! is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;
use server_common::{enc, free_port, start_node_exporter, start_prometheus, Server};

type LabelMap = BTreeMap<String, String>;

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

/// An instant query at `t_ms` as series → value (the value as the API's string).
fn instant(base: &str, q: &str, t_ms: i64) -> BTreeMap<LabelMap, String> {
    let d = data(
        base,
        &format!("/api/v1/query?query={}&time={}", enc(q), secs(t_ms)),
    );
    d["result"]
        .as_array()
        .unwrap_or_else(|| panic!("no result: {d}"))
        .iter()
        .map(|s| {
            let labels = s["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            (labels, s["value"][1].as_str().unwrap().to_owned())
        })
        .collect()
}

/// The one value of `q` at `t_ms`, if it has exactly one result.
fn single(base: &str, q: &str, t_ms: i64) -> Option<f64> {
    let r = instant(base, q, t_ms);
    (r.len() == 1).then(|| r.values().next().unwrap().parse().unwrap())
}

/// The series one side has and the other lacks, for a failure message.
fn set_diff(theirs: &BTreeMap<LabelMap, String>, ours: &BTreeMap<LabelMap, String>) -> String {
    let mut out = Vec::new();
    for k in theirs.keys().filter(|k| !ours.contains_key(*k)) {
        out.push(format!("only Prometheus: {k:?}"));
    }
    for k in ours.keys().filter(|k| !theirs.contains_key(*k)) {
        out.push(format!("only ours: {k:?}"));
    }
    let n = out.len();
    out.truncate(20);
    format!("{n} differences, the first: {}", out.join("\n"))
}

#[test]
fn node_exporter_scraped_alike_by_us_and_prometheus() {
    let t_begin = Instant::now();
    let tmp = tempfile::tempdir().unwrap();

    let (_ne, ne_address) = start_node_exporter(tmp.path());

    // the same configuration for both
    let config = format!(
        "global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1m
scrape_configs:
  - job_name: node
    static_configs: [{{targets: ['{ne_address}']}}]
"
    );
    let cfg_path = tmp.path().join("ours.yml");
    std::fs::write(&cfg_path, &config).unwrap();
    let cfg_arg = cfg_path.display().to_string();
    let ours = Server::start(
        &tmp.path().join("ours"),
        &["--config", &cfg_arg, "--self-scrape-interval", "0"],
    );
    ours.wait_ready();
    let ou = format!("http://{}", ours.addr);

    let prom_dir = tmp.path().join("prometheus");
    std::fs::create_dir(&prom_dir).unwrap();
    let prom = start_prometheus(&prom_dir, &config, free_port());
    let pu = prom.url.clone();
    let t_started = t_begin.elapsed();

    // both have scraped at least 3 times (Prometheus applies its targets within 5 s)
    let scrapes =
        |base: &str| single(base, "count_over_time(up{job=\"node\"}[1m])", now_ms()).unwrap_or(0.0);
    let t0 = Instant::now();
    while scrapes(&pu) < 3.0 || scrapes(&ou) < 3.0 {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "not 3 scrapes each in 15 s: Prometheus {}, ours {}\nours: {}\nPrometheus: {}",
            scrapes(&pu),
            scrapes(&ou),
            ours.log_text(),
            prom.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let t_scraped = t0.elapsed();

    // one time both cover: each series' latest sample (the last scrape of each side)
    let t = now_ms();
    let theirs = instant(&pu, "{job=\"node\"}", t);
    let ours_v = instant(&ou, "{job=\"node\"}", t);
    assert!(theirs.len() > 100, "Prometheus has {} series", theirs.len());
    assert!(
        theirs.keys().eq(ours_v.keys()),
        "series at {t}: {}",
        set_diff(&theirs, &ours_v)
    );

    // the same series set in /api/v1/series over the last 2 s (both scraped in it)
    let series = |base: &str| -> Vec<LabelMap> {
        let d = data(
            base,
            &format!(
                "/api/v1/series?match[]={}&start={}&end={}",
                enc("{job=\"node\"}"),
                secs(t - 2000),
                secs(t)
            ),
        );
        let mut v: Vec<LabelMap> = d
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                s.as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect()
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(series(&pu), series(&ou), "/api/v1/series");

    // up 1 on both
    for (who, base) in [("Prometheus", &pu), ("ours", &ou)] {
        assert_eq!(single(base, "up{job=\"node\"}", t), Some(1.0), "{who}: up");
    }
    // values that do not move between two scrapes: exactly equal
    for q in [
        "node_memory_MemTotal_bytes",
        "node_memory_SwapTotal_bytes",
        "node_uname_info",
        "node_exporter_build_info",
        "node_boot_time_seconds",
    ] {
        let a = instant(&pu, q, t);
        let b = instant(&ou, q, t);
        assert!(!a.is_empty(), "{q}: no result from Prometheus");
        assert_eq!(a, b, "{q}");
    }
    // a value that moves: the exporter's clock, read at each side's latest scrape, within
    // the natural drift between two scrapes (one interval, plus slack for a slow machine)
    let a = single(&pu, "node_time_seconds", t).unwrap();
    let b = single(&ou, "node_time_seconds", t).unwrap();
    assert!(
        (a - b).abs() <= 3.0,
        "node_time_seconds: Prometheus {a}, ours {b}"
    );
    // the number of samples per scrape: within a few (the exporter's own series, such as
    // its Go runtime's, may come and go between two scrapes)
    let a = single(&pu, "scrape_samples_scraped{job=\"node\"}", t).unwrap();
    let b = single(&ou, "scrape_samples_scraped{job=\"node\"}", t).unwrap();
    assert!(
        a > 100.0 && (a - b).abs() <= 5.0,
        "scrape_samples_scraped: Prometheus {a}, ours {b}"
    );
    eprintln!("scrape_samples_scraped: Prometheus {a}, ours {b}");
    let a = single(
        &pu,
        "scrape_samples_post_metric_relabeling{job=\"node\"}",
        t,
    );
    let b = single(
        &ou,
        "scrape_samples_post_metric_relabeling{job=\"node\"}",
        t,
    );
    assert_eq!(
        a.is_some(),
        b.is_some(),
        "scrape_samples_post_metric_relabeling"
    );

    eprintln!(
        "series compared: {}; started in {t_started:?}, 3 scrapes each after {t_scraped:?}, all in {:?}",
        theirs.len(),
        t_begin.elapsed()
    );
}
