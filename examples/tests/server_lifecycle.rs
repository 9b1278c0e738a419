//! The server's life end to end: it starts with no arguments at all; it monitors itself
//! (`up` answers right after start, `/metrics` is recorded into the database, metadata is
//! filled); the configuration is reloaded by `/-/reload` and SIGHUP, an invalid one
//! refused with its line while the old one stays; SIGTERM closes the database cleanly
//! and a restart finds every sample; a database that cannot be opened stops the server
//! with an error while `/-/healthy` answered from the start.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use server_common::{enc, Server};

/// Polls `f` every 50 ms for at most `limit`.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn no_arguments_at_all() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tsdb-server"))
        .current_dir(tmp.path())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let done = line.contains("database open, ready") || line.contains("cannot listen");
                log.push(line);
                if done {
                    break;
                }
            }
            Err(_) => {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
            }
        }
    }
    let text = log.join("\n");
    if text.contains("cannot listen on 127.0.0.1:8491") {
        // the default port is taken on this machine: the default was still used
        let _ = child.kill();
        let _ = child.wait();
        return;
    }
    assert!(
        text.contains("listening on http://127.0.0.1:8491"),
        "{text}"
    );
    assert!(text.contains("database open, ready"), "{text}");
    assert!(
        tmp.path().join("data").join("wal").is_dir(),
        "./data is the default"
    );
    server_common::signal(child.id(), "TERM");
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn self_monitoring_reload_and_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("tsdb.yml");
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 1s\n  external_labels:\n    region: eu-1\n",
    )
    .unwrap();
    let mut s = Server::start(&data, &["--config", config.to_str().unwrap()]);
    s.wait_ready();

    // `up` right after start, with the server's labels (1 s from global.scrape_interval)
    let up = format!("/api/v1/query?query={}", enc("up{job=\"tsdb-server\"}"));
    assert!(
        eventually(Duration::from_secs(30), || s
            .get(&up)
            .body
            .contains(r#""value":["#)),
        "{}",
        s.get(&up).body
    );
    let v = s.get(&up).json();
    let sample = &v["data"]["result"][0];
    assert_eq!(sample["metric"]["instance"], s.addr.as_str());
    assert_eq!(sample["value"][1], "1");

    // /metrics: OpenMetrics, with the engine's and the database's figures
    let m = s.get("/metrics");
    assert!(
        m.content_type.starts_with("application/openmetrics-text"),
        "{}",
        m.content_type
    );
    for needle in [
        "tsdb_head_series ",
        "tsdb_head_chunks ",
        "tsdb_samples_appended_total ",
        "tsdb_wal_fsync_duration_seconds_bucket",
        "tsdb_http_request_duration_seconds_count{handler=\"/api/v1/query\"}",
        "process_resident_memory_bytes ",
    ] {
        assert!(m.body.contains(needle), "{needle} missing:\n{}", m.body);
    }
    // ...and recorded into the database: request counts, fsync latency
    let q = format!(
        "/api/v1/query?query={}",
        enc("sum(tsdb_http_requests_total{job=\"tsdb-server\",handler=\"/api/v1/query\"})")
    );
    assert!(eventually(Duration::from_secs(30), || s
        .get(&q)
        .body
        .contains(r#""value":["#)));
    let q = format!(
        "/api/v1/query?query={}",
        enc("tsdb_wal_fsync_duration_seconds_count")
    );
    assert!(eventually(Duration::from_secs(30), || s
        .get(&q)
        .body
        .contains(r#""value":["#)));
    // metadata from the exposition's HELP/TYPE lines
    let md = s.get("/api/v1/metadata?metric=tsdb_head_series").json();
    assert_eq!(md["data"]["tsdb_head_series"][0]["type"], "gauge", "{md}");
    assert_eq!(
        md["data"]["tsdb_head_series"][0]["help"],
        "Series in the head"
    );

    // reload: an invalid configuration is refused, naming the key and line; the old stays
    let yaml = |s: &Server| {
        s.get("/api/v1/status/config").json()["data"]["yaml"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(yaml(&s).contains("region: \"eu-1\""), "{}", yaml(&s));
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 1s\n  evaluation_intervall: 30s\n",
    )
    .unwrap();
    let r = s.post_form("/-/reload", "");
    assert_eq!(r.status, 500);
    assert!(
        r.body.contains("evaluation_intervall") && r.body.contains("line 3"),
        "{}",
        r.body
    );
    assert!(yaml(&s).contains("region: \"eu-1\""));
    assert_eq!(
        s.get("/api/v1/status/runtimeinfo").json()["data"]["reloadConfigSuccess"],
        false
    );
    let m = s.get("/metrics").body;
    assert!(m.contains("tsdb_config_last_reload_successful 0"), "{m}");
    // GET is not a reload
    assert_eq!(s.get("/-/reload").status, 405);
    // SIGHUP reads the fixed file
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 30s\n",
    )
    .unwrap();
    server_common::signal(s.pid(), "HUP");
    assert!(eventually(Duration::from_secs(30), || yaml(&s)
        .contains("evaluation_interval: 30s")));
    assert_eq!(
        s.get("/api/v1/status/runtimeinfo").json()["data"]["reloadConfigSuccess"],
        true
    );
    // the downsampling rules in force (the standard ones: the file has none) are shown;
    // the database took them at open, so a reload that changes them is refused
    let standard =
        "storage:\n  downsampling:\n    - tiers:\n        - {after: 7d, resolution: 1m}\n        \
                    - {after: 30d, resolution: 1h}\n      keep_for: 1y\n";
    assert!(yaml(&s).contains(standard), "{}", yaml(&s));
    let fixed = "global:\n  scrape_interval: 1s\n  evaluation_interval: 30s\n";
    std::fs::write(&config, format!("{fixed}storage:\n  downsampling: []\n")).unwrap();
    let r = s.post_form("/-/reload", "");
    assert_eq!(r.status, 500);
    assert!(
        r.body.contains("storage.downsampling differs") && r.body.contains("restart"),
        "{}",
        r.body
    );
    assert!(yaml(&s).contains(standard), "{}", yaml(&s));
    assert!(s
        .get("/metrics")
        .body
        .contains("tsdb_config_last_reload_successful 0"));
    // the same rules written out are no change
    std::fs::write(&config, format!("{fixed}{standard}")).unwrap();
    assert_eq!(s.post_form("/-/reload", "").status, 200);
    // the evaluation interval is the default subquery step
    let sq = format!(
        "/api/v1/query?query={}&time=1000",
        enc("count_over_time(vector(1)[2m:])")
    );
    assert!(
        s.get(&sq).body.contains(r#""value":[1000,"4"]"#),
        "{}",
        s.get(&sq).body
    );

    // SIGTERM: clean close; a restart finds every self-monitoring sample
    let count = format!(
        "/api/v1/query?query={}",
        enc("count_over_time(up{job=\"tsdb-server\"}[1h])")
    );
    let samples = |s: &Server| -> u64 {
        s.get(&count).json()["data"]["result"][0]["value"][1]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    // at least two scrapes (1 s apart) before the restart: a fast run (release build,
    // an idle machine) gets here within the first second
    assert!(eventually(Duration::from_secs(30), || samples(&s) >= 2));
    let before = samples(&s);
    let status = s.terminate();
    assert!(status.success(), "{status:?}\n{}", s.log_text());
    assert!(s.log_text().contains("database closed"), "{}", s.log_text());
    let s = Server::start(&data, &["--self-scrape-interval", "0"]);
    s.wait_ready();
    let after: u64 = s.get(&count).json()["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(after >= before && before >= 2, "{before} then {after}");
}

/// CPU seconds (user + system) the process has used so far, from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // fields after the command name, which is in parentheses and may hold spaces
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0 // USER_HZ, which Linux fixes at 100 for user space
}

/// An idle server sleeps: once the database is open, the main loop waits on signals
/// only (it once kept polling the open's closed channel and spun a whole core).
#[test]
fn an_idle_server_uses_no_cpu() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(tmp.path(), &["--self-scrape-interval", "0"]);
    s.wait_ready();
    let before = cpu_seconds(s.pid());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_seconds(s.pid()) - before;
    // a spinning loop uses about 2 s here; an idle server next to nothing (the
    // maintenance thread's and the runtime's timers); the bound leaves room for a busy
    // machine's accounting
    assert!(used < 0.5, "an idle server used {used} CPU seconds in 2 s");
}

#[test]
fn a_database_that_cannot_open_stops_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // another process (this test) holds the database
    let held = tsdb_core::Db::open(&data, tsdb_core::Options::default()).unwrap();
    let mut s = Server::start(&data, &[]);
    // healthy answers while the database is not open (the listener comes first); the
    // open fails at once here, so the server may already be gone
    let healthy = server_common::agent().get(s.url("/-/healthy")).call();
    if let Ok(r) = healthy {
        assert_eq!(r.status(), 200);
    }
    let status = s.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "{}", s.log_text());
    assert!(
        s.log_text().contains("cannot open the database"),
        "{}",
        s.log_text()
    );
    held.close().unwrap();
}

#[test]
fn sigterm_lets_a_query_in_flight_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = Server::start(&tmp.path().join("data"), &["--self-scrape-interval", "0"]);
    s.wait_ready();
    // about a second of evaluation in a debug build: six subqueries of 3.6 M steps
    let term = "count_over_time(vector(1)[1h:1ms])";
    let heavy = [term; 6].join(" + ");
    let url = s.url(&format!("/api/v1/query?time=1000000&query={}", enc(&heavy)));
    let query = std::thread::spawn(move || {
        let mut r = server_common::agent().get(&url).call().unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    });
    // SIGTERM while it evaluates
    assert!(
        eventually(Duration::from_secs(30), || s
            .get("/metrics")
            .body
            .contains("tsdb_queries_in_flight 1")),
        "the query never ran"
    );
    server_common::signal(s.pid(), "TERM");
    let (status, body) = query.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""value":[1000000,"21600000"]"#), "{body}");
    let exit = s.wait_exit(Duration::from_secs(60));
    assert!(exit.success(), "{exit:?}");
    assert!(s.log_text().contains("database closed"), "{}", s.log_text());
}

#[test]
fn a_client_that_goes_away_cancels_its_query() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(
        &tmp.path().join("data"),
        &[
            "--self-scrape-interval",
            "0",
            "--query-max-samples",
            "1000000000",
        ],
    );
    s.wait_ready();
    // seconds of evaluation in a debug build: 20 subqueries of 3.6 M steps each; the
    // engine checks its cancel token between them
    let term = "count_over_time(vector(1)[1h:1ms])";
    let heavy = [term; 20].join(" + ");
    let url = s.url(&format!("/api/v1/query?time=1000000&query={}", enc(&heavy)));
    let t0 = Instant::now();
    let impatient: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(300)))
        .build()
        .into();
    assert!(
        impatient.get(&url).call().is_err(),
        "the client was meant to give up"
    );
    // the query stops soon after, long before it could have finished
    let stopped = eventually(Duration::from_secs(60), || {
        s.get("/metrics").body.contains("tsdb_queries_in_flight 0")
    });
    let elapsed = t0.elapsed();
    assert!(stopped, "the query kept running");
    // a complete evaluation, for comparison
    let t1 = Instant::now();
    let done = server_common::agent().get(&url).call().unwrap().status();
    let full = t1.elapsed();
    assert_eq!(done, 200);
    eprintln!("canceled after {elapsed:?}; a full evaluation takes {full:?}");
    assert!(
        elapsed * 2 < full,
        "stopped after {elapsed:?}, a full run takes {full:?}"
    );
}

#[test]
fn request_bodies_are_bounded_and_may_be_gzipped() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(
        &tmp.path().join("data"),
        &[
            "--self-scrape-interval",
            "0",
            "--max-request-body-size",
            "64KiB",
        ],
    );
    s.wait_ready();
    // a gzipped form body is decompressed before it is read
    let form = "query=1%2B1&time=4";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(form.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let mut r = server_common::agent()
        .post(s.url("/api/v1/query"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Content-Encoding", "gzip")
        .send(&gz[..])
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.body_mut().read_to_string().unwrap(),
        r#"{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}"#
    );
    // over the limit: 413, whether it says so up front or only once decompressed
    let big = format!("query=1&pad={}", "x".repeat(100 * 1024));
    let r = s.post_form("/api/v1/query", &big);
    assert_eq!(r.status, 413);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(big.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    assert!(gz.len() < 64 * 1024);
    let r = server_common::agent()
        .post(s.url("/api/v1/query"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Content-Encoding", "gzip")
        .send(&gz[..])
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
}
