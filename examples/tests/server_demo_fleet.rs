//! `--demo-fleet`: the server writes a synthetic fleet's history before it reports
//! ready, answers fleet queries at once, and a restart fills only the steps it missed
//! (no duplicates, nothing refused, no hole).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use server_common::{enc, Server};

const STEP_MS: i64 = 15_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn query(s: &Server, q: &str) -> serde_json::Value {
    let r = s.get(&format!("/api/v1/query?query={}", enc(q)));
    assert_eq!(r.status, 200, "{q}: {}", r.body);
    let v = r.json();
    assert_eq!(v["status"], "success", "{q}: {v}");
    v["data"]["result"].clone()
}

/// The raw timestamps (ms) of one host's `up` over the last 2 hours.
fn up_times(s: &Server) -> Vec<i64> {
    let result = query(s, r#"up{job="node",instance="pool-01-host-01:9100"}[2h]"#);
    let values = result[0]["values"].as_array().unwrap();
    values
        .iter()
        .map(|p| (p[0].as_f64().unwrap() * 1000.0).round() as i64)
        .collect()
}

fn assert_contiguous(times: &[i64]) {
    for w in times.windows(2) {
        assert_eq!(
            w[1] - w[0],
            STEP_MS,
            "a hole or a duplicate between {} and {}",
            w[0],
            w[1]
        );
    }
}

#[test]
fn demo_fleet_backfills_answers_and_fills_the_gap_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let args = [
        "--demo-fleet",
        "5",
        "--demo-fleet-history",
        "1h",
        "--self-scrape-interval",
        "0",
    ];
    let mut s = Server::start(&data, &args);
    s.wait_ready();
    let started = now_ms();

    // ready means the history is there
    let count = query(&s, r#"count(up{job="node"})"#);
    assert_eq!(count[0]["value"][1], "5", "{count}");
    let rate = query(&s, "rate(node_cpu_seconds_total[5m])");
    assert_eq!(rate.as_array().unwrap().len(), 5 * 4, "{rate}");
    for r in rate.as_array().unwrap() {
        let v: f64 = r["value"][1].as_str().unwrap().parse().unwrap();
        assert!((0.0..=1.0).contains(&v), "{r}");
    }
    let pools = query(&s, r#"count by (region) (up{job="node"})"#);
    assert_eq!(pools.as_array().unwrap().len(), 3, "{pools}");
    let times = up_times(&s);
    // an hour of 15 s steps, up to the last step before ready (and perhaps a live one)
    assert!((240..=242).contains(&times.len()), "{times:?}");
    assert_contiguous(&times);
    assert!(started - times.last().unwrap() <= STEP_MS + 5_000);
    let meta = s
        .get("/api/v1/metadata?metric=node_cpu_seconds_total")
        .json();
    assert_eq!(
        meta["data"]["node_cpu_seconds_total"][0]["type"], "counter",
        "{meta}"
    );
    let log = s.log_text();
    assert!(log.contains("demo fleet backfilled"), "{log}");
    assert!(log.contains("series=85"), "{log}");

    // down across at least one step boundary
    s.terminate();
    let last = *times.last().unwrap();
    let resume_after = (now_ms() / STEP_MS + 1) * STEP_MS + 500;
    let wait = resume_after - now_ms();
    if wait > 0 {
        std::thread::sleep(Duration::from_millis(wait as u64));
    }
    let s = Server::start(&data, &args);
    s.wait_ready();
    let times = up_times(&s);
    assert_contiguous(&times);
    let newest = *times.last().unwrap();
    assert!(
        newest >= resume_after - 500 && newest > last,
        "the gap up to {resume_after} is filled: newest {newest}, before the restart {last}"
    );
    let log = s.log_text();
    assert!(!log.contains("refused"), "{log}");
    assert!(log.contains("demo fleet backfilled"), "{log}");
    let count = query(&s, r#"count(up{job="node"})"#);
    assert_eq!(count[0]["value"][1], "5", "{count}");

    // live samples keep coming (one more step)
    let target = (now_ms() / STEP_MS + 1) * STEP_MS + 1_000;
    std::thread::sleep(Duration::from_millis((target - now_ms()).max(0) as u64));
    let live = up_times(&s);
    assert_contiguous(&live);
    assert!(*live.last().unwrap() > newest, "{live:?}");
}
