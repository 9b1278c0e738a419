//! The scrape loop end to end: a small HTTP server inside the test (127.0.0.1, one per
//! target, written by hand so that stopping it closes every connection at once), scraped
//! by a `ScrapeManager` into a real `Db` in a temporary directory. Intervals of 100-200 ms;
//! every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tsdb_core::{Db, Options};
use tsdb_index::{Labels, Matcher};
use tsdb_scrape::manager::first_scrape_delay;
use tsdb_scrape::{
    targets_from_group, Health, PopulateOptions, Ring, ScrapeConfig, ScrapeManager, Shard, Target,
    TargetGroup, TargetStatus, ACCEPT_HEADER, STALE_NAN_BITS,
};

/// What a test server answers.
#[derive(Clone)]
struct Served {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    gzip: bool,
    delay: Duration,
}

impl Served {
    fn text(body: &str) -> Served {
        Served {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: body.as_bytes().to_vec(),
            gzip: false,
            delay: Duration::ZERO,
        }
    }
}

struct Server {
    addr: SocketAddr,
    served: Arc<Mutex<Served>>,
    /// Request heads received, in order.
    requests: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(served: Served) -> Server {
        Server::start_with(served, None).await
    }

    /// Serves https with `acceptor` when given.
    async fn start_with(served: Served, acceptor: Option<TlsAcceptor>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(Mutex::new(served));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (served.clone(), requests.clone());
        // Connections live in a JoinSet owned by the accept task: aborting the task
        // closes the listener and every connection.
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((sock, _)) = listener.accept().await {
                let (s, r) = (s.clone(), r.clone());
                match acceptor.clone() {
                    None => conns.spawn(handle(sock, s, r)),
                    Some(a) => conns.spawn(async move {
                        if let Ok(tls) = a.accept(sock).await {
                            handle(tls, s, r).await;
                        }
                    }),
                };
            }
        });
        Server {
            addr,
            served,
            requests,
            task,
        }
    }

    fn address(&self) -> String {
        self.addr.to_string()
    }

    fn set(&self, f: impl FnOnce(&mut Served)) {
        f(&mut self.served.lock().unwrap());
    }

    fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    fn stop(&self) {
        self.task.abort();
    }
}

async fn handle<S: AsyncRead + AsyncWrite + Unpin>(
    mut sock: S,
    served: Arc<Mutex<Served>>,
    requests: Arc<Mutex<Vec<String>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    requests
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&buf).into_owned());
    let s = served.lock().unwrap().clone();
    tokio::time::sleep(s.delay).await;
    let body = if s.gzip {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&s.body).unwrap();
        e.finish().unwrap()
    } else {
        s.body.clone()
    };
    let reason = match s.status {
        200 => "OK",
        500 => "Internal Server Error",
        _ => "Other",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        s.status,
        s.content_type,
        body.len()
    );
    if s.gzip {
        head.push_str("Content-Encoding: gzip\r\n");
    }
    head.push_str("\r\n");
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(&body).await;
    let _ = sock.shutdown().await;
}

fn config(yaml_extra: &str) -> ScrapeConfig {
    let yaml =
        format!("job_name: node\nscrape_interval: 100ms\nscrape_timeout: 80ms\n{yaml_extra}");
    serde_saphyr::from_str::<ScrapeConfig>(&yaml).unwrap()
}

fn targets(cfg: &ScrapeConfig, addresses: &[String]) -> Vec<Target> {
    let group = TargetGroup {
        targets: addresses.to_vec(),
        labels: BTreeMap::new(),
    };
    let t = targets_from_group(&group, cfg, PopulateOptions::default());
    assert!(t.errors.is_empty(), "{:?}", t.errors);
    assert_eq!(t.active.len(), addresses.len());
    t.active
}

struct Fixture {
    _dir: tempfile::TempDir,
    db: Arc<Db>,
    manager: ScrapeManager,
}

async fn fixture(cfg: &ScrapeConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
    let mut manager = ScrapeManager::new(Arc::new(db.clone()));
    manager.apply_config(vec![cfg.clone()]).await.unwrap();
    Fixture {
        _dir: dir,
        db,
        manager,
    }
}

impl Fixture {
    fn status(&self, address: &str) -> Option<TargetStatus> {
        self.manager
            .targets()
            .get("node")?
            .iter()
            .find(|s| s.target.address() == address)
            .cloned()
    }

    /// Waits (at most 3 s) until the target's health satisfies `f`.
    async fn wait(
        &self,
        address: &str,
        what: &str,
        f: impl Fn(&TargetStatus) -> bool,
    ) -> TargetStatus {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            if let Some(s) = self.status(address) {
                if f(&s) {
                    return s;
                }
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:?}",
                self.status(address)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every series named `name` of `address`: labels and (t, value bits).
    fn read(&self, name: &str, address: &str) -> Vec<(Labels, Vec<(i64, u64)>)> {
        let q = self.db.querier(i64::MIN, i64::MAX).unwrap();
        q.select(&[
            Matcher::equal("__name__", name),
            Matcher::equal("instance", address),
        ])
        .unwrap()
        .iter()
        .map(|s| {
            let samples = s
                .iter()
                .map(|r| r.map(|x| (x.t, x.v.to_bits())).unwrap())
                .collect();
            (s.labels().clone(), samples)
        })
        .collect()
    }

    /// The values of the one series `name` of `address`.
    fn values(&self, name: &str, address: &str) -> Vec<u64> {
        let found = self.read(name, address);
        assert_eq!(found.len(), 1, "{name} of {address}: {found:?}");
        found[0].1.iter().map(|x| x.1).collect()
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::build_unchecked(pairs.iter().copied()).unwrap()
}

const BODY: &str = "# TYPE a gauge\na{x=\"1\"} 1.5\nb_total 42\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_labels_up_and_request_headers() {
    let server = Server::start(Served::text(BODY)).await;
    let cfg = config("");
    let mut f = fixture(&cfg).await;
    let addr = server.address();
    f.manager
        .sync("node", targets(&cfg, std::slice::from_ref(&addr)))
        .await
        .unwrap();
    let st = f
        .wait(&addr, "two scrapes", |s| s.health.scrapes >= 2)
        .await;
    assert_eq!(st.health.health, Health::Up);
    assert_eq!(st.health.last_error, None);
    assert!(st
        .health
        .last_scrape
        .is_some_and(|t| t <= SystemTime::now()));

    let a = f.read("a", &addr);
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0].0,
        labels(&[
            ("__name__", "a"),
            ("instance", &addr),
            ("job", "node"),
            ("x", "1")
        ])
    );
    assert!(a[0].1.len() >= 2);
    assert!(a[0].1.iter().all(|x| x.1 == 1.5f64.to_bits()));
    assert!(f
        .values("b_total", &addr)
        .iter()
        .all(|v| *v == 42f64.to_bits()));
    assert!(f.values("up", &addr).iter().all(|v| *v == 1f64.to_bits()));
    assert!(f
        .values("scrape_samples_scraped", &addr)
        .iter()
        .all(|v| *v == 2f64.to_bits()));
    // Scrapes are an interval apart (100 ms, give or take the scheduler; a tick missed
    // under load is skipped, never doubled).
    let ts: Vec<i64> = a[0].1.iter().map(|x| x.0).collect();
    assert!(ts.windows(2).all(|w| w[1] - w[0] >= 50), "{ts:?}");

    let req = server.requests.lock().unwrap()[0].to_ascii_lowercase();
    assert!(req.starts_with("get /metrics http/1.1\r\n"), "{req}");
    assert!(
        req.contains(&format!(
            "accept: {}\r\n",
            ACCEPT_HEADER.to_ascii_lowercase()
        )),
        "{req}"
    );
    assert!(req.contains("accept-encoding: gzip\r\n"), "{req}");
    assert!(
        req.contains("x-prometheus-scrape-timeout-seconds: 0.08\r\n"),
        "{req}"
    );
    assert!(req.contains("user-agent: tsdb-scrape/"), "{req}");
    f.manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_and_openmetrics_and_auth() {
    let mut served = Served::text("# TYPE c counter\nc_total 7 \n# EOF\n");
    served.content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    served.gzip = true;
    let server = Server::start(served).await;
    let cfg = config("authorization:\n  credentials: s3cret\n");
    let mut f = fixture(&cfg).await;
    let addr = server.address();
    f.manager
        .sync("node", targets(&cfg, std::slice::from_ref(&addr)))
        .await
        .unwrap();
    let st = f.wait(&addr, "a scrape", |s| s.health.scrapes >= 1).await;
    assert_eq!(st.health.last_error, None);
    assert_eq!(st.health.health, Health::Up);
    assert_eq!(f.values("c_total", &addr)[0], 7f64.to_bits());
    let req = server.requests.lock().unwrap()[0].to_ascii_lowercase();
    assert!(req.contains("authorization: bearer s3cret\r\n"), "{req}");
    f.manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_whose_server_stops_goes_down_and_its_series_stale() {
    let server = Server::start(Served::text(BODY)).await;
    let cfg = config("");
    let mut f = fixture(&cfg).await;
    let addr = server.address();
    f.manager
        .sync("node", targets(&cfg, std::slice::from_ref(&addr)))
        .await
        .unwrap();
    f.wait(&addr, "a scrape", |s| s.health.health == Health::Up)
        .await;
    server.stop();
    let st = f
        .wait(&addr, "down", |s| s.health.health == Health::Down)
        .await;
    let err = st.health.last_error.unwrap();
    assert!(
        err.starts_with(&format!("Get \"http://{addr}/metrics\": ")),
        "{err}"
    );
    assert!(
        err.to_ascii_lowercase().contains("connection refused"),
        "{err}"
    );
    // Wait for the failed scrape's samples (appended just before health is updated).
    let up = f.values("up", &addr);
    assert_eq!(*up.last().unwrap(), 0f64.to_bits());
    assert_eq!(up[0], 1f64.to_bits());
    let a = f.values("a", &addr);
    assert_eq!(*a.last().unwrap(), STALE_NAN_BITS, "{a:?}");
    // One stale marker, then nothing more while the target stays down.
    f.wait(&addr, "another failed scrape", |s| {
        s.health.scrapes > st.health.scrapes
    })
    .await;
    let a2 = f.values("a", &addr);
    assert_eq!(
        a2.iter().filter(|v| **v == STALE_NAN_BITS).count(),
        1,
        "{a2:?}"
    );
    f.manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_target_times_out() {
    let mut served = Served::text(BODY);
    served.delay = Duration::from_millis(500);
    let server = Server::start(served).await;
    let cfg = config("");
    let mut f = fixture(&cfg).await;
    let addr = server.address();
    f.manager
        .sync("node", targets(&cfg, std::slice::from_ref(&addr)))
        .await
        .unwrap();
    let st = f
        .wait(&addr, "a failed scrape", |s| s.health.scrapes >= 1)
        .await;
    assert_eq!(st.health.health, Health::Down);
    assert_eq!(
        st.health.last_error.as_deref(),
        Some(format!("Get \"http://{addr}/metrics\": context deadline exceeded").as_str())
    );
    assert!(st.health.last_scrape_duration >= Duration::from_millis(70));
    assert!(st.health.last_scrape_duration < Duration::from_millis(400));
    assert!(f.values("up", &addr).iter().all(|v| *v == 0f64.to_bits()));
    assert!(f.read("a", &addr).is_empty());
    f.manager.stop().await;
}

/// Over `sample_limit`, a garbage body, a 500 and a body over `body_size_limit`: each
/// fails the scrape whole, `up` 0, `lastError` as Prometheus words it, no sample of the
/// body ingested.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_scrapes_ingest_nothing_and_say_why() {
    let cases: [(&str, Served, &str); 4] = [
        (
            "sample_limit: 1\n",
            Served::text(BODY),
            "sample limit exceeded",
        ),
        ("", Served::text("a 1\nthis is { not metrics\n"), "line 2"),
        (
            "",
            Served {
                status: 500,
                ..Served::text(BODY)
            },
            "server returned HTTP status 500 Internal Server Error",
        ),
        (
            "body_size_limit: 20B\n",
            Served::text(BODY),
            "body size limit exceeded",
        ),
    ];
    for (extra, served, want) in cases {
        let server = Server::start(served).await;
        let cfg = config(extra);
        let mut f = fixture(&cfg).await;
        let addr = server.address();
        f.manager
            .sync("node", targets(&cfg, std::slice::from_ref(&addr)))
            .await
            .unwrap();
        let st = f.wait(&addr, want, |s| s.health.scrapes >= 1).await;
        assert_eq!(st.health.health, Health::Down, "{want}");
        let err = st.health.last_error.unwrap();
        assert!(err.contains(want), "{err} should contain {want}");
        assert_eq!(f.values("up", &addr)[0], 0f64.to_bits(), "{want}");
        assert!(f.read("a", &addr).is_empty(), "{want}");
        f.manager.stop().await;
        server.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_keeps_kept_targets_and_stales_removed_ones() {
    let s1 = Server::start(Served::text(BODY)).await;
    let s2 = Server::start(Served::text(BODY)).await;
    let cfg = config("");
    let mut f = fixture(&cfg).await;
    let (a1, a2) = (s1.address(), s2.address());
    f.manager
        .sync("node", targets(&cfg, &[a1.clone(), a2.clone()]))
        .await
        .unwrap();
    f.wait(&a1, "scrapes", |s| s.health.scrapes >= 2).await;
    f.wait(&a2, "scrapes", |s| s.health.scrapes >= 2).await;

    let before = f.status(&a1).unwrap().health.scrapes;
    // The update drops a2 and keeps a1; sync returns once a2's loop has stopped.
    f.manager
        .sync("node", targets(&cfg, std::slice::from_ref(&a1)))
        .await
        .unwrap();
    assert!(f.status(&a2).is_none());
    assert_eq!(f.manager.targets()["node"].len(), 1);
    for name in ["a", "b_total", "up", "scrape_duration_seconds"] {
        let v = f.values(name, &a2);
        assert_eq!(*v.last().unwrap(), STALE_NAN_BITS, "{name}: {v:?}");
    }
    let s2_requests = s2.request_count();

    // a1's loop went on: its count continues (a new loop would start again at 0), no
    // stale marker was written for it, and it was not scraped twice per interval.
    let r0 = s1.request_count();
    let window = Instant::now();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let scraped = s1.request_count() - r0;
    let elapsed = window.elapsed().as_millis() as usize;
    assert!(
        scraped <= elapsed / 100 + 1,
        "{scraped} scrapes in {elapsed} ms"
    );
    assert!(scraped >= 3, "{scraped} scrapes in {elapsed} ms");
    let st = f.status(&a1).unwrap();
    assert!(
        st.health.scrapes >= before + 3,
        "{before} -> {}",
        st.health.scrapes
    );
    assert!(!f.values("a", &a1).contains(&STALE_NAN_BITS));
    assert_eq!(
        s2.request_count(),
        s2_requests,
        "a removed target is not scraped"
    );
    f.manager.stop().await;
}

/// A reload that changes the job restarts its loops with the new settings, keeping the
/// state: no stale markers, the scrape count goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_config_restarts_the_job_and_keeps_state() {
    let server = Server::start(Served::text(BODY)).await;
    let cfg = config("");
    let mut f = fixture(&cfg).await;
    let addr = server.address();
    f.manager
        .sync("node", targets(&cfg, std::slice::from_ref(&addr)))
        .await
        .unwrap();
    let st = f.wait(&addr, "scrapes", |s| s.health.scrapes >= 2).await;
    let changed = config("sample_limit: 1\n");
    f.manager.apply_config(vec![changed]).await.unwrap();
    // The new limit applies to the same target, whose count goes on.
    let down = f
        .wait(&addr, "the new limit", |s| s.health.health == Health::Down)
        .await;
    assert!(down.health.scrapes > st.health.scrapes);
    assert_eq!(
        down.health.last_error.as_deref(),
        Some("sample limit exceeded")
    );
    // The failed scrape itself marks `a` stale (a failure does); a restart alone does
    // not, so exactly one marker.
    let a = f.values("a", &addr);
    assert_eq!(
        a.iter().filter(|v| **v == STALE_NAN_BITS).count(),
        1,
        "{a:?}"
    );

    // An unchanged reload keeps the loop running undisturbed.
    let same = config("sample_limit: 1\n");
    let n = f.status(&addr).unwrap().health.scrapes;
    f.manager.apply_config(vec![same]).await.unwrap();
    f.wait(&addr, "more scrapes", |s| s.health.scrapes >= n + 2)
        .await;

    // Removing the job stops it with stale markers for its report series.
    f.manager.apply_config(vec![]).await.unwrap();
    assert!(f.manager.targets().is_empty());
    assert_eq!(*f.values("up", &addr).last().unwrap(), STALE_NAN_BITS);
    assert!(f.manager.sync("node", Vec::new()).await.is_err());
}

/// A reload changing the interval gives the job's targets a new identity (their
/// `__scrape_interval__` label); their series are the same, so the loops hand their state
/// over: no stale marker, the count goes on, the new interval applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_interval_hands_state_over_without_stale_markers() {
    let server = Server::start(Served::text(BODY)).await;
    let cfg = config("");
    let mut f = fixture(&cfg).await;
    let addr = server.address();
    f.manager
        .sync("node", targets(&cfg, std::slice::from_ref(&addr)))
        .await
        .unwrap();
    let st = f.wait(&addr, "scrapes", |s| s.health.scrapes >= 2).await;
    let slower = serde_saphyr::from_str::<ScrapeConfig>(
        "job_name: node\nscrape_interval: 150ms\nscrape_timeout: 80ms\n",
    )
    .unwrap();
    f.manager.apply_config(vec![slower.clone()]).await.unwrap();
    f.manager
        .sync("node", targets(&slower, std::slice::from_ref(&addr)))
        .await
        .unwrap();
    let after = f
        .wait(&addr, "scrapes at the new interval", |s| {
            s.health.scrapes >= st.health.scrapes + 3
                && s.target.scrape_interval() == Duration::from_millis(150)
        })
        .await;
    assert_eq!(f.manager.targets()["node"].len(), 1);
    assert!(after.health.scrapes > st.health.scrapes);
    for name in ["a", "up"] {
        let v = f.values(name, &addr);
        assert!(!v.contains(&STALE_NAN_BITS), "{name}: {v:?}");
    }
    f.manager.stop().await;
}

/// With a shard, only the targets this collector owns get a loop; two collectors of a
/// ring split the targets between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_scrapes_only_its_own_targets() {
    let server = Server::start(Served::text(BODY)).await;
    let cfg = config("");
    let addresses: Vec<String> = (0..20).map(|i| format!("127.0.0.1:{}", 1 + i)).collect();
    let mut owned = 0;
    for me in ["c0", "c1"] {
        let shard = Shard::new(Ring::new(["c0", "c1"]).unwrap(), me).unwrap();
        let expected: Vec<&String> = addresses.iter().filter(|a| shard.owns("node", a)).collect();
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
        let mut m = ScrapeManager::new(Arc::new(db)).with_shard(shard);
        // A long interval: the loops exist but these unreachable targets are not the point.
        let mut slow = cfg.clone();
        slow.scrape_interval = Duration::from_secs(60);
        m.apply_config(vec![slow.clone()]).await.unwrap();
        m.sync("node", targets(&slow, &addresses)).await.unwrap();
        let mut got: Vec<String> = m.targets()["node"]
            .iter()
            .map(|s| s.target.address().to_string())
            .collect();
        got.sort();
        let mut want: Vec<String> = expected.into_iter().cloned().collect();
        want.sort();
        assert_eq!(got, want);
        owned += got.len();
        m.stop().await;
    }
    assert_eq!(owned, addresses.len());
    server.stop();
}

/// A new member list divides the last discovered targets again at once: with a member
/// added, this collector keeps a subset of what it had (targets move only to the new
/// member); the list survives a job's restart; no shard at all scrapes everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_member_list_divides_the_targets_again() {
    let mut cfg = config("");
    // unreachable targets and a long interval: the loops exist, no scrape is the point
    cfg.scrape_interval = Duration::from_secs(60);
    let addresses: Vec<String> = (0..60).map(|i| format!("127.0.0.1:{}", 1 + i)).collect();
    let owned = |m: &ScrapeManager| -> Vec<String> {
        let mut v: Vec<String> = m.targets()["node"]
            .iter()
            .map(|s| s.target.address().to_string())
            .collect();
        v.sort();
        v
    };
    let expect = |shard: &Shard| -> Vec<String> {
        let mut v: Vec<String> = addresses
            .iter()
            .filter(|a| shard.owns("node", a))
            .cloned()
            .collect();
        v.sort();
        v
    };
    let two = Shard::new(Ring::new(["c0", "c1"]).unwrap(), "c0").unwrap();
    let three = Shard::new(Ring::new(["c0", "c1", "c2"]).unwrap(), "c0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
    let mut m = ScrapeManager::new(Arc::new(db)).with_shard(two.clone());
    m.apply_config(vec![cfg.clone()]).await.unwrap();
    m.sync("node", targets(&cfg, &addresses)).await.unwrap();
    let before = owned(&m);
    assert_eq!(before, expect(&two));

    m.set_shard(Some(three.clone())).await;
    let after = owned(&m);
    assert_eq!(after, expect(&three));
    assert!(
        after.len() < before.len(),
        "{} of {}",
        after.len(),
        before.len()
    );
    assert!(
        after.iter().all(|a| before.contains(a)),
        "targets move only to the new member"
    );
    assert_eq!(m.shard().map(|s| s.ring().members().len()), Some(3));

    // a changed job restarts with the discovered list kept
    let mut changed = cfg.clone();
    changed.scrape_timeout = Duration::from_secs(5);
    m.apply_config(vec![changed]).await.unwrap();
    assert_eq!(owned(&m), expect(&three));
    m.set_shard(None).await;
    assert_eq!(owned(&m).len(), addresses.len());
    m.stop().await;
}

/// The first scrape's offset is stable for a target and within the interval, and
/// different targets get different offsets.
#[test]
fn offsets_are_stable_and_spread() {
    let cfg = config("");
    let addresses: Vec<String> = (0..50).map(|i| format!("h{i}:9100")).collect();
    let ts = targets(&cfg, &addresses);
    let iv = Duration::from_secs(10);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut phases = std::collections::HashSet::new();
    for t in &ts {
        let d = first_scrape_delay(t, 0, iv, now);
        assert!(d <= iv);
        assert_eq!(d, first_scrape_delay(t, 0, iv, now));
        // One second later, the same phase in the interval.
        let later = first_scrape_delay(t, 0, iv, now + Duration::from_secs(1));
        let (d, later, iv) = (d.as_nanos(), later.as_nanos(), iv.as_nanos());
        assert_eq!((d + iv - later) % iv, Duration::from_secs(1).as_nanos());
        phases.insert(d / 500_000_000);
    }
    assert!(
        phases.len() >= 12,
        "{} of 20 half-second slots used",
        phases.len()
    );
}

/// A target that starts serving garbage goes down with the parser's reason and its series
/// stale, loses nothing already stored, and comes back up when the body is good again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_then_recovery() {
    let server = Server::start(Served::text(BODY)).await;
    let cfg = config("");
    let mut f = fixture(&cfg).await;
    let addr = server.address();
    f.manager
        .sync("node", targets(&cfg, std::slice::from_ref(&addr)))
        .await
        .unwrap();
    f.wait(&addr, "up", |s| s.health.health == Health::Up).await;
    server.set(|s| s.body = b"a{x=\"1\"} 1.5\nb_total 4 2 2 2\n".to_vec());
    let down = f
        .wait(&addr, "down", |s| s.health.health == Health::Down)
        .await;
    assert!(down.health.last_error.unwrap().contains("line 2"));
    let a = f.values("a", &addr);
    assert_eq!(a[0], 1.5f64.to_bits());
    assert_eq!(*a.last().unwrap(), STALE_NAN_BITS);
    server.set(|s| s.body = BODY.as_bytes().to_vec());
    f.wait(&addr, "up again", |s| s.health.health == Health::Up)
        .await;
    assert_eq!(*f.values("a", &addr).last().unwrap(), 1.5f64.to_bits());
    assert_eq!(*f.values("up", &addr).last().unwrap(), 1f64.to_bits());
    f.manager.stop().await;
}

/// The examples' test certificates: `ca.pem` signed `server1.pem` for 127.0.0.1 and
/// localhost (see examples/tests/data/tls/README.md).
fn tls_data(name: &str) -> String {
    format!(
        "{}/../examples/tests/data/tls/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn acceptor() -> TlsAcceptor {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(tls_data("server1.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(tls_data("server1.key")).unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// https targets: trusted through `ca_file`, refused without it (the system's roots do
/// not know the test CA), accepted with `insecure_skip_verify`; `server_name` verifies
/// the certificate against another name than the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_targets_and_tls_config() {
    let server = Server::start_with(Served::text(BODY), Some(acceptor())).await;
    let addr = server.address();
    let ca = tls_data("ca.pem");
    let cases = [
        (format!("tls_config:\n  ca_file: {ca}\n"), None),
        (
            String::new(),
            Some("invalid peer certificate: UnknownIssuer"),
        ),
        (
            "tls_config:\n  insecure_skip_verify: true\n".to_string(),
            None,
        ),
        (
            format!("tls_config:\n  ca_file: {ca}\n  server_name: localhost\n"),
            None,
        ),
        (
            format!("tls_config:\n  ca_file: {ca}\n  server_name: other.example\n"),
            Some("certificate not valid for name \"other.example\""),
        ),
    ];
    for (tls, want_error) in cases {
        let cfg = config(&format!("scheme: https\n{tls}"));
        let mut f = fixture(&cfg).await;
        f.manager
            .sync("node", targets(&cfg, std::slice::from_ref(&addr)))
            .await
            .unwrap();
        let st = f.wait(&addr, "a scrape", |s| s.health.scrapes >= 1).await;
        match want_error {
            None => {
                assert_eq!(st.health.last_error, None, "{tls}");
                assert_eq!(f.values("a", &addr)[0], 1.5f64.to_bits(), "{tls}");
            }
            Some(want) => {
                let err = st.health.last_error.unwrap_or_default();
                let prefix = format!("Get \"https://{addr}/metrics\": ");
                assert!(err.starts_with(&prefix), "{tls}: {err}");
                assert!(err.contains(want), "{tls}: {err}");
                assert!(f.read("a", &addr).is_empty(), "{tls}");
            }
        }
        f.manager.stop().await;
    }
}

/// Over `target_limit`, every target of the job fails without a request; back under it
/// (a discovery update or a reload raising the limit), they are scraped again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_limit_fails_every_target_of_the_job() {
    let s1 = Server::start(Served::text(BODY)).await;
    let s2 = Server::start(Served::text(BODY)).await;
    let cfg = config("target_limit: 1\n");
    let mut f = fixture(&cfg).await;
    let (a1, a2) = (s1.address(), s2.address());
    f.manager
        .sync("node", targets(&cfg, &[a1.clone(), a2.clone()]))
        .await
        .unwrap();
    let want = "target_limit exceeded (number of targets: 2, limit: 1)";
    for a in [&a1, &a2] {
        let st = f
            .wait(a, "a failed scrape", |s| s.health.scrapes >= 1)
            .await;
        assert_eq!(st.health.last_error.as_deref(), Some(want));
        assert_eq!(f.values("up", a)[0], 0f64.to_bits());
    }
    assert_eq!(s1.request_count() + s2.request_count(), 0);
    // Back under the limit.
    f.manager
        .sync("node", targets(&cfg, std::slice::from_ref(&a1)))
        .await
        .unwrap();
    f.wait(&a1, "up", |s| s.health.health == Health::Up).await;
    assert!(s1.request_count() >= 1);
    // A reload raising the limit is the other way back.
    let two = config("target_limit: 2\n");
    f.manager.apply_config(vec![two.clone()]).await.unwrap();
    f.manager
        .sync("node", targets(&two, &[a1.clone(), a2.clone()]))
        .await
        .unwrap();
    f.wait(&a2, "up", |s| s.health.health == Health::Up).await;
    f.manager.stop().await;
}

/// The offset seed is stable for a host and its external labels, and differs between
/// hosts and between label sets, so replicas scrape at different moments.
#[test]
fn offset_seeds_depend_on_host_and_external_labels() {
    use tsdb_scrape::offset_seed;
    let a = offset_seed("host-a", [("replica", "1")]);
    assert_eq!(a, offset_seed("host-a", [("replica", "1")]));
    assert_ne!(a, offset_seed("host-b", [("replica", "1")]));
    assert_ne!(a, offset_seed("host-a", [("replica", "2")]));
    assert_ne!(a, offset_seed("host-a", []));
    // a name/value boundary is part of the hash
    assert_ne!(
        offset_seed("h", [("ab", "c")]),
        offset_seed("h", [("a", "bc")])
    );
    // and different seeds move a target's first scrape
    let cfg = config("");
    let t = &targets(&cfg, &["h:9100".to_string()])[0];
    let iv = Duration::from_secs(10);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let d1 = tsdb_scrape::manager::first_scrape_delay(t, a, iv, now);
    let d2 = tsdb_scrape::manager::first_scrape_delay(
        t,
        offset_seed("host-b", [("replica", "1")]),
        iv,
        now,
    );
    assert_ne!(d1, d2);
}
