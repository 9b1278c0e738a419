//! Pull ingestion end to end: the server scrapes `/metrics` servers run by the test
//! (127.0.0.1, 200 ms intervals) through `static_configs` and `file_sd_configs`; values,
//! labels and `up` are read back through `/api/v1/query`; `/api/v1/targets` shows active
//! and dropped targets in Prometheus's shape; a `file_sd` file changed while running adds
//! a target; a reload changing the interval keeps scraping; a target that stops goes `up`
//! 0 and its series go stale at once; `/api/v1/targets/metadata` and `/api/v1/metadata`
//! show what targets declared. Targets that are slow, over `sample_limit` or serving
//! garbage fail alone, with Prometheus's `lastError`. Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use server_common::{enc, Server};

/// A `/metrics` server: answers every request with the current body, until stopped
/// (then its port refuses connections).
struct Exporter {
    addr: String,
    body: Arc<Mutex<String>>,
    /// Milliseconds to wait before answering.
    delay_ms: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Exporter {
    fn start(body: &str) -> Exporter {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let body = Arc::new(Mutex::new(body.to_owned()));
        let stop = Arc::new(AtomicBool::new(false));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let thread = {
            let body = body.clone();
            let stop = stop.clone();
            let delay_ms = delay_ms.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((mut conn, _)) => {
                            conn.set_nonblocking(false).unwrap();
                            conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                            let mut req = Vec::new();
                            let mut buf = [0u8; 1024];
                            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                                match conn.read(&mut buf) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => req.extend_from_slice(&buf[..n]),
                                }
                            }
                            std::thread::sleep(Duration::from_millis(
                                delay_ms.load(Ordering::SeqCst),
                            ));
                            let b = body.lock().unwrap().clone();
                            let _ = write!(
                                conn,
                                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                                b.len()
                            );
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Exporter {
            addr,
            body,
            delay_ms,
            stop,
            thread: Some(thread),
        }
    }

    fn set(&self, body: &str) {
        *self.body.lock().unwrap() = body.to_owned();
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop();
    }
}

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

/// An instant query's result as (labels, value) pairs.
fn query(s: &Server, q: &str) -> Vec<(serde_json::Value, String)> {
    let r = s.get(&format!("/api/v1/query?query={}", enc(q)));
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    j["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["metric"].clone(),
                e["value"][1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The value of a query with one result, if it has exactly one.
fn single(s: &Server, q: &str) -> Option<String> {
    let r = query(s, q);
    (r.len() == 1).then(|| r[0].1.clone())
}

fn config(interval: &str, static_addr: &str, sd_file: &str) -> String {
    format!(
        r#"global:
  scrape_interval: {interval}
scrape_configs:
  - job_name: static
    static_configs:
      - targets: ["{static_addr}", "127.0.0.1:9"]
        labels:
          team: a
    relabel_configs:
      - source_labels: [__address__]
        regex: "127\\.0\\.0\\.1:9"
        action: drop
  - job_name: files
    file_sd_configs:
      - files: ["{sd_file}"]
        refresh_interval: 1s
"#
    )
}

fn sd_json(addrs: &[&str]) -> String {
    let list: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        r#"[{{"targets":[{}],"labels":{{"env":"test"}}}}]"#,
        list.join(",")
    )
}

#[test]
fn static_and_file_sd_targets_reload_and_staleness() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Exporter::start(
        "# HELP test_metric A test.\n# TYPE test_metric gauge\ntest_metric{k=\"a\"} 42\n",
    );
    let b = Exporter::start("test_metric{k=\"b\"} 7\n");
    let c = Exporter::start("test_metric{k=\"c\"} 9.5\n");
    let sd = dir.path().join("targets.json");
    std::fs::write(&sd, sd_json(&[&b.addr])).unwrap();
    let cfg_path = dir.path().join("config.yml");
    let sd_str = sd.display().to_string();
    std::fs::write(&cfg_path, config("200ms", &a.addr, &sd_str)).unwrap();
    let data = dir.path().join("data");
    let cfg_arg = cfg_path.display().to_string();
    let s = Server::start(
        &data,
        &["--config", &cfg_arg, "--self-scrape-interval", "0"],
    );
    s.wait_ready();
    let limit = Duration::from_secs(20);

    // values and labels read back exactly, from both kinds of discovery
    assert!(
        eventually(limit, || query(&s, "test_metric").len() == 2),
        "{:?}\n{}",
        query(&s, "test_metric"),
        s.log_text()
    );
    let got = query(&s, "test_metric{k=\"a\"}");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, "42");
    assert_eq!(got[0].0["job"], "static");
    assert_eq!(got[0].0["instance"], a.addr.as_str());
    assert_eq!(got[0].0["team"], "a");
    let got = query(&s, "test_metric{k=\"b\"}");
    assert_eq!(got[0].1, "7");
    assert_eq!(got[0].0["job"], "files");
    assert_eq!(got[0].0["env"], "test");
    assert_eq!(single(&s, "up{job=\"static\"}").as_deref(), Some("1"));
    assert_eq!(single(&s, "up{job=\"files\"}").as_deref(), Some("1"));
    assert!(single(&s, "scrape_samples_scraped{job=\"static\"}").is_some());

    // /api/v1/targets: two active (up), one dropped by the relabel rule
    let t = s.get("/api/v1/targets").json();
    assert_eq!(t["status"], "success");
    let active = t["data"]["activeTargets"].as_array().unwrap();
    assert_eq!(active.len(), 2, "{t}");
    let st = active.iter().find(|x| x["scrapePool"] == "static").unwrap();
    assert_eq!(st["health"], "up", "{st}");
    assert_eq!(st["scrapeUrl"], format!("http://{}/metrics", a.addr));
    assert_eq!(st["globalUrl"], format!("http://{}/metrics", a.addr));
    assert_eq!(st["lastError"], "");
    assert_eq!(st["scrapeInterval"], "200ms");
    assert_eq!(st["scrapeTimeout"], "200ms");
    assert_eq!(st["labels"]["instance"], a.addr.as_str());
    assert_eq!(st["labels"]["team"], "a");
    assert_eq!(st["discoveredLabels"]["__address__"], a.addr.as_str());
    assert!(st["lastScrape"].as_str().unwrap().starts_with("20"), "{st}");
    assert!(st["lastScrapeDuration"].as_f64().unwrap() > 0.0, "{st}");
    let dropped = t["data"]["droppedTargets"].as_array().unwrap();
    assert_eq!(dropped.len(), 1, "{t}");
    assert_eq!(dropped[0]["discoveredLabels"]["__address__"], "127.0.0.1:9");
    assert_eq!(dropped[0]["discoveredLabels"]["job"], "static");
    // the filters
    let t = s.get("/api/v1/targets?state=dropped").json();
    assert_eq!(t["data"]["activeTargets"].as_array().unwrap().len(), 0);
    assert_eq!(t["data"]["droppedTargets"].as_array().unwrap().len(), 1);
    let t = s
        .get("/api/v1/targets?state=active&scrapePool=files")
        .json();
    let active = t["data"]["activeTargets"].as_array().unwrap();
    assert_eq!(active.len(), 1, "{t}");
    assert_eq!(active[0]["scrapePool"], "files");
    assert_eq!(t["data"]["droppedTargets"].as_array().unwrap().len(), 0);

    // metadata: what the static target declared, in Prometheus's shapes
    let m = s.get("/api/v1/targets/metadata").json();
    assert_eq!(m["status"], "success", "{m}");
    let list = m["data"].as_array().unwrap();
    assert_eq!(list.len(), 1, "only `a` declares metadata: {m}");
    assert_eq!(list[0]["target"]["job"], "static");
    assert_eq!(list[0]["target"]["instance"], a.addr.as_str());
    assert_eq!(list[0]["metric"], "test_metric");
    assert_eq!(list[0]["type"], "gauge");
    assert_eq!(list[0]["help"], "A test.");
    assert_eq!(list[0]["unit"], "");
    let m = s
        .get(&format!(
            "/api/v1/targets/metadata?metric=test_metric&match_target={}",
            enc("{job=\"static\"}")
        ))
        .json();
    let list = m["data"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{m}");
    assert!(
        list[0].get("metric").is_none(),
        "no metric key when asked for one: {m}"
    );
    let m = s
        .get(&format!(
            "/api/v1/targets/metadata?match_target={}",
            enc("{job=\"files\"}")
        ))
        .json();
    assert_eq!(m["data"].as_array().unwrap().len(), 0, "{m}");
    let r = s.get("/api/v1/targets/metadata?match_target=%7Bjob%3D");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["errorType"], "bad_data");
    assert!(r.body.contains("match_target"), "{}", r.body);
    let m = s.get("/api/v1/metadata?metric=test_metric").json();
    assert_eq!(
        m["data"]["test_metric"],
        serde_json::json!([{"type": "gauge", "help": "A test.", "unit": ""}]),
        "{m}"
    );

    // the file_sd file changes: the new target is scraped without a restart
    std::fs::write(&sd, sd_json(&[&b.addr, &c.addr])).unwrap();
    assert!(
        eventually(limit, || single(&s, "test_metric{k=\"c\"}").as_deref()
            == Some("9.5")),
        "{:?}",
        query(&s, "test_metric")
    );

    // a reload changing the interval keeps scraping (a new value is seen)
    std::fs::write(&cfg_path, config("300ms", &a.addr, &sd_str)).unwrap();
    let r = s.post_form("/-/reload", "");
    assert_eq!(r.status, 200, "{}", r.body);
    a.set("test_metric{k=\"a\"} 43\n");
    assert!(
        eventually(limit, || single(&s, "test_metric{k=\"a\"}").as_deref()
            == Some("43")),
        "{:?}",
        query(&s, "test_metric")
    );
    assert!(eventually(limit, || {
        let t = s.get("/api/v1/targets?scrapePool=static").json();
        t["data"]["activeTargets"][0]["scrapeInterval"] == "300ms"
    }));
    // an invalid reload is refused and scraping goes on
    std::fs::write(
        &cfg_path,
        "scrape_configs:\n  - job_name: x\n    bogus: 1\n",
    )
    .unwrap();
    let r = s.post_form("/-/reload", "");
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body.contains("bogus"), "{}", r.body);
    a.set("test_metric{k=\"a\"} 44\n");
    assert!(eventually(limit, || single(&s, "test_metric{k=\"a\"}")
        .as_deref()
        == Some("44")));

    // the target stops: up 0 and its series stale at once (not after 5 minutes)
    a.stop();
    assert!(
        eventually(limit, || single(&s, "up{job=\"static\"}").as_deref()
            == Some("0")),
        "{:?}",
        query(&s, "up")
    );
    assert!(
        eventually(limit, || query(&s, "test_metric{k=\"a\"}").is_empty()),
        "{:?}",
        query(&s, "test_metric")
    );
    let t = s.get("/api/v1/targets?scrapePool=static").json();
    let st = &t["data"]["activeTargets"][0];
    assert_eq!(st["health"], "down", "{st}");
    assert_ne!(st["lastError"], "", "{st}");
    // the other jobs are unaffected
    assert_eq!(single(&s, "test_metric{k=\"b\"}").as_deref(), Some("7"));
}

#[test]
fn two_shards_split_the_targets_without_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let exporters: Vec<Exporter> = (0..8)
        .map(|i| Exporter::start(&format!("shard_metric {i}\n")))
        .collect();
    let list: Vec<String> = exporters
        .iter()
        .map(|e| format!("\"{}\"", e.addr))
        .collect();
    let cfg = format!(
        "global:\n  scrape_interval: 200ms\nscrape_configs:\n  - job_name: fleet\n    static_configs:\n      - targets: [{}]\n",
        list.join(",")
    );
    let cfg_path = dir.path().join("config.yml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let cfg_arg = cfg_path.display().to_string();
    let servers: Vec<Server> = (0..2)
        .map(|i| {
            let data = dir.path().join(format!("data{i}"));
            let index = i.to_string();
            let s = Server::start(
                &data,
                &[
                    "--config",
                    &cfg_arg,
                    "--self-scrape-interval",
                    "0",
                    "--shard-index",
                    &index,
                    "--shard-count",
                    "2",
                ],
            );
            s.wait_ready();
            s
        })
        .collect();
    let limit = Duration::from_secs(20);
    // every target scraped by exactly one of the two
    assert!(
        eventually(limit, || {
            servers
                .iter()
                .map(|s| query(s, "up{job=\"fleet\"}").len())
                .sum::<usize>()
                == exporters.len()
        }),
        "{:?} {:?}",
        query(&servers[0], "up"),
        query(&servers[1], "up")
    );
    let mut instances: Vec<String> = servers
        .iter()
        .flat_map(|s| query(s, "shard_metric"))
        .map(|(m, _)| m["instance"].as_str().unwrap().to_owned())
        .collect();
    instances.sort();
    let mut want: Vec<String> = exporters.iter().map(|e| e.addr.clone()).collect();
    want.sort();
    assert_eq!(instances, want);
    for s in &servers {
        let t = s.get("/api/v1/targets").json();
        let n = t["data"]["activeTargets"].as_array().unwrap().len();
        assert_eq!(n, query(s, "up{job=\"fleet\"}").len(), "{t}");
    }
    let flags = servers[1].get("/api/v1/status/flags").json();
    assert_eq!(flags["data"]["shard-index"], "1");
    assert_eq!(flags["data"]["shard-count"], "2");
}

#[test]
fn slow_limited_and_garbage_targets_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let slow = Exporter::start("slow_metric 1\n");
    slow.delay_ms.store(2_000, Ordering::SeqCst);
    let limited =
        Exporter::start("lim_metric{i=\"1\"} 1\nlim_metric{i=\"2\"} 2\nlim_metric{i=\"3\"} 3\n");
    let garbage = Exporter::start("ok_before 1\nthis is { not metrics\n");
    let good = Exporter::start("good_metric 5\n");
    let job = |name: &str, addr: &str, extra: &str| {
        format!("  - job_name: {name}\n    static_configs:\n      - targets: [\"{addr}\"]\n{extra}")
    };
    let cfg = format!(
        "global:\n  scrape_interval: 500ms\n  scrape_timeout: 300ms\nscrape_configs:\n{}{}{}{}",
        job("slow", &slow.addr, ""),
        job("limited", &limited.addr, "    sample_limit: 2\n"),
        job("garbage", &garbage.addr, ""),
        job("good", &good.addr, ""),
    );
    let cfg_path = dir.path().join("config.yml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let cfg_arg = cfg_path.display().to_string();
    let s = Server::start(
        &dir.path().join("data"),
        &["--config", &cfg_arg, "--self-scrape-interval", "0"],
    );
    s.wait_ready();
    let limit = Duration::from_secs(20);
    let error_of = |job: &str| -> Option<String> {
        let t = s.get(&format!("/api/v1/targets?scrapePool={job}")).json();
        let st = &t["data"]["activeTargets"][0];
        (st["health"] == "down").then(|| st["lastError"].as_str().unwrap_or("").to_owned())
    };
    assert!(
        eventually(limit, || ["slow", "limited", "garbage"]
            .iter()
            .all(|j| error_of(j).is_some())),
        "{}",
        s.get("/api/v1/targets").body
    );
    let slow_error = error_of("slow").unwrap();
    assert_eq!(
        slow_error,
        format!(
            "Get \"http://{}/metrics\": context deadline exceeded",
            slow.addr
        )
    );
    assert_eq!(error_of("limited").unwrap(), "sample limit exceeded");
    let garbage_error = error_of("garbage").unwrap();
    assert!(garbage_error.contains("line 2"), "{garbage_error}");
    for job in ["slow", "limited", "garbage"] {
        assert_eq!(
            single(&s, &format!("up{{job=\"{job}\"}}")).as_deref(),
            Some("0"),
            "{job}"
        );
    }
    // a failed scrape is not half-ingested: neither the samples under the limit nor
    // the line before the garbage
    assert!(
        query(&s, "lim_metric").is_empty(),
        "{:?}",
        query(&s, "lim_metric")
    );
    assert!(
        query(&s, "ok_before").is_empty(),
        "{:?}",
        query(&s, "ok_before")
    );
    // the counts Prometheus reports for the failed attempts
    assert_eq!(
        single(&s, "scrape_samples_scraped{job=\"limited\"}").as_deref(),
        Some("3")
    );
    assert_eq!(
        single(&s, "scrape_samples_scraped{job=\"slow\"}").as_deref(),
        Some("0")
    );
    let slow_duration: f64 = single(&s, "scrape_duration_seconds{job=\"slow\"}")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (0.25..1.5).contains(&slow_duration),
        "the timeout bounds the attempt: {slow_duration}"
    );
    // nothing else lost
    assert!(eventually(limit, || single(&s, "good_metric").as_deref() == Some("5")));
    assert_eq!(single(&s, "up{job=\"good\"}").as_deref(), Some("1"));
}

/// The addresses a server's `/api/v1/targets` lists as active for `job`, sorted.
fn active_addresses(s: &Server, job: &str) -> Vec<String> {
    let t = s.get(&format!("/api/v1/targets?scrapePool={job}")).json();
    let mut v: Vec<String> = t["data"]["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["labels"]["instance"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

/// A metric's value on a server's own `/metrics`.
fn own_metric(s: &Server, name: &str) -> Option<f64> {
    let body = s.get("/metrics").body;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Three collectors share one file_sd list through a member file: every target is
/// scraped by exactly the member the ring names; a target added to the file goes to one
/// member; a member removed from the file has its targets taken over by the others,
/// moving nothing else; a list that is not valid is refused and the one in force stays.
/// The file_sd path is relative to the configuration file.
#[test]
fn three_collectors_share_one_file_sd_list_through_a_member_file() {
    let dir = tempfile::tempdir().unwrap();
    let exporters: Vec<Exporter> = (0..13)
        .map(|i| Exporter::start(&format!("fleet_metric {i}\n")))
        .collect();
    let addrs: Vec<&str> = exporters.iter().map(|e| e.addr.as_str()).collect();
    let sd = dir.path().join("fleet.json");
    std::fs::write(&sd, sd_json(&addrs[..12])).unwrap();
    let members = dir.path().join("members.txt");
    std::fs::write(&members, "# the collectors\nc0\nc1\nc2\n").unwrap();
    // a path relative to the configuration file, as Prometheus reads it
    let cfg = "global:
  scrape_interval: 200ms
scrape_configs:
  - job_name: fleet
    file_sd_configs:
      - files: [fleet.json]
        refresh_interval: 200ms
";
    let cfg_path = dir.path().join("config.yml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let cfg_arg = cfg_path.display().to_string();
    let members_arg = members.display().to_string();
    let servers: Vec<Server> = (0..3)
        .map(|i| {
            let name = format!("c{i}");
            let s = Server::start(
                &dir.path().join(format!("data{i}")),
                &[
                    "--config",
                    &cfg_arg,
                    "--self-scrape-interval",
                    "0",
                    "--shard-members",
                    &members_arg,
                    "--shard-name",
                    &name,
                    "--shard-members-refresh",
                    "200ms",
                ],
            );
            s.wait_ready();
            s
        })
        .collect();
    let limit = Duration::from_secs(20);
    // what the ring says, computed here with the library every collector uses
    let expected = |names: &[&str], targets: &[&str]| -> Vec<Vec<String>> {
        let ring = tsdb_scrape::Ring::new(names.iter().copied()).unwrap();
        let mut per: Vec<Vec<String>> = vec![Vec::new(); 3];
        for t in targets {
            let owner = ring.owner("fleet", t);
            let i: usize = owner[1..].parse().unwrap();
            per[i].push((*t).to_owned());
        }
        for v in &mut per {
            v.sort();
        }
        per
    };
    let actual = || -> Vec<Vec<String>> {
        servers
            .iter()
            .map(|s| active_addresses(s, "fleet"))
            .collect()
    };
    let want = expected(&["c0", "c1", "c2"], &addrs[..12]);
    assert!(
        want.iter().all(|v| !v.is_empty()),
        "each of three members owns some of 12 targets: {want:?}"
    );
    assert!(
        eventually(limit, || actual() == want),
        "{:?} != {want:?}",
        actual()
    );
    // and the samples are where the ring says: each target scraped once in all
    let mut scraped: Vec<String> = servers
        .iter()
        .flat_map(|s| {
            assert!(eventually(limit, || query(s, "fleet_metric").len()
                == active_addresses(s, "fleet").len()));
            query(s, "fleet_metric")
        })
        .map(|(m, _)| m["instance"].as_str().unwrap().to_owned())
        .collect();
    scraped.sort();
    let mut all: Vec<String> = addrs[..12].iter().map(|a| (*a).to_owned()).collect();
    all.sort();
    assert_eq!(scraped, all);
    for s in &servers {
        assert_eq!(own_metric(s, "tsdb_shard_members"), Some(3.0));
    }

    // a 13th target in the file goes to exactly the member the ring names
    std::fs::write(&sd, sd_json(&addrs)).unwrap();
    let want13 = expected(&["c0", "c1", "c2"], &addrs);
    assert!(
        eventually(limit, || actual() == want13),
        "{:?} != {want13:?}",
        actual()
    );

    // c2 leaves: c0 and c1 take its targets and keep their own; c2 is not in the new
    // list, refuses it and keeps scraping its share (an overlap until it is stopped,
    // never a gap)
    std::fs::write(&members, "c0\nc1\n").unwrap();
    let want2 = expected(&["c0", "c1"], &addrs);
    assert!(
        eventually(limit, || {
            let a = actual();
            a[0] == want2[0] && a[1] == want2[1]
        }),
        "{:?} != {want2:?}",
        actual()
    );
    for i in 0..2 {
        assert!(
            want13[i].iter().all(|t| want2[i].contains(t)),
            "a member's own targets stay with it"
        );
        assert!(eventually(limit, || own_metric(
            &servers[i],
            "tsdb_shard_members"
        ) == Some(2.0)));
    }
    assert!(eventually(limit, || own_metric(
        &servers[2],
        "tsdb_shard_members_refused_total"
    )
    .is_some_and(|n| n >= 1.0)));
    assert_eq!(actual()[2], want13[2]);
    assert!(
        eventually(limit, || servers[2].log_text().contains("not a member")),
        "{}",
        servers[2].log_text()
    );

    // a list with a name twice is refused by everyone; the list in force stays
    std::fs::write(&members, "c0\nc1\nc0\n").unwrap();
    assert!(eventually(limit, || own_metric(
        &servers[0],
        "tsdb_shard_members_refused_total"
    )
    .is_some_and(|n| n >= 1.0)));
    assert_eq!(actual()[0], want2[0]);
    assert_eq!(own_metric(&servers[0], "tsdb_shard_members"), Some(2.0));
    // and a reload with it is refused, naming the file
    let r = servers[0].post_form("/-/reload", "");
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(
        r.body.contains("members.txt") && r.body.contains("twice"),
        "{}",
        r.body
    );
}
