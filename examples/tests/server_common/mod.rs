//! Starting `tsdb-server` as a child process on 127.0.0.1 with an ephemeral port, and a
//! small HTTP client, for the end-to-end tests. Every wait is bounded.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running server.
pub struct Server {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The data directory.
    pub data: PathBuf,
    /// The thread copying stderr into `log`; joined once the process is gone so that
    /// its last lines are in `log`.
    log_reader: Option<std::thread::JoinHandle<()>>,
    /// Everything it logged so far.
    pub log: Arc<Mutex<Vec<String>>>,
    agent: ureq::Agent,
}

/// A response: status and body.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: String,
    pub content_type: String,
}

/// A response with its body as bytes and its headers.
#[derive(Debug)]
pub struct RawResp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

impl Server {
    /// Starts the server on `data` with `args` (plus `--listen 127.0.0.1:0` unless
    /// given) and waits until it logs its address.
    pub fn start(data: &Path, args: &[&str]) -> Server {
        Server::start_with_agent(data, args, agent())
    }

    pub fn start_with_agent(data: &Path, args: &[&str], agent: ureq::Agent) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tsdb-server"));
        cmd.arg("--data").arg(data);
        if !args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log_reader = {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        let _ = tx.send(rest.trim().to_owned());
                    }
                    log.lock().unwrap().push(line);
                }
            })
        };
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start: {:?}", log.lock().unwrap());
            }
        };
        let (scheme, addr) = url.split_once("://").unwrap();
        Server {
            child,
            addr: addr.to_owned(),
            scheme: if scheme == "https" { "https" } else { "http" },
            data: data.to_owned(),
            log_reader: Some(log_reader),
            log,
            agent,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most 60 s) for `/-/ready`.
    pub fn wait_ready(&self) {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(60) {
            if self.get("/-/ready").status == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("not ready after 60 s: {:?}", self.log.lock().unwrap());
    }

    pub fn get(&self, path: &str) -> Resp {
        self.get_with(path, &[])
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.agent.get(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(req.call().unwrap())
    }

    /// POSTs a form body (already encoded).
    pub fn post_form(&self, path: &str, form: &str) -> Resp {
        self.post_form_with(path, form, &[])
    }

    pub fn post_form_with(&self, path: &str, form: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = self
            .agent
            .post(self.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(req.send(form).unwrap())
    }

    /// POSTs raw bytes with `headers`; the answer's body as bytes, with its headers.
    pub fn post_bytes(&self, path: &str, body: &[u8], headers: &[(&str, &str)]) -> RawResp {
        let mut req = self.agent.post(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut r = req.send(body).unwrap();
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let body = r
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .unwrap_or_default();
        RawResp {
            status,
            headers,
            body,
        }
    }

    pub fn request(&self, method: &str, path: &str) -> Resp {
        self.request_with(method, path, &[])
    }

    /// A body-less request with `headers`.
    pub fn request_with(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(self.agent.run(req.body(()).unwrap()).unwrap())
    }

    /// Sends SIGTERM and waits (at most 60 s) for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        signal(self.child.id(), "TERM");
        self.wait_exit(Duration::from_secs(60))
    }

    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                // stderr is at its end now: the reader ends after the last line
                if let Some(reader) = self.log_reader.take() {
                    let _ = reader.join();
                }
                return s;
            }
            if t0.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "did not exit within {limit:?}: {:?}",
                    self.log.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.log_reader.take() {
            let _ = reader.join();
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid} failed");
}

fn read(mut r: ureq::http::Response<ureq::Body>) -> Resp {
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = r.body_mut().read_to_string().unwrap_or_default();
    Resp {
        status,
        body,
        content_type,
    }
}

/// `application/x-www-form-urlencoded` of the pairs.
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The golden suite's directory (tsdb-query's recorded Prometheus 2.42 answers).
pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tsdb-query/tests/golden")
}

/// Loads the golden suite's data into a fresh database at `dir` and closes it.
pub fn load_golden(dir: &Path) {
    use tsdb_text::prometheus::{Dialect, Options, Parser};
    let text = std::fs::read(golden_dir().join("data.om")).unwrap();
    let mut samples: Vec<_> = Parser::new(&text, Options::new(Dialect::OpenMetrics))
        .map(|s| s.unwrap())
        .collect();
    samples.sort_by_key(|s| s.timestamp);
    let db = tsdb_core::Db::open(dir, tsdb_core::Options::default()).unwrap();
    for chunk in samples.chunks(10_000) {
        let mut batch = tsdb_core::Batch::new();
        for s in chunk {
            let series = batch.series(s.labels.clone());
            batch.sample(series, s.timestamp.unwrap(), s.value);
        }
        let outcome = db.append_batch(&batch).unwrap();
        assert!(outcome.rejected.is_empty());
    }
    db.close().unwrap();
}

/// How to get Prometheus 2.42 and promtool, for the failure message of a test that needs
/// them (a missing tool fails the test, it never passes silently).
pub const PROMETHEUS_INSTALL: &str = "install Prometheus 2.42 and promtool with \
    `bash ../shared/peers/install-peers.sh` (as root; Debian's `prometheus` package), as \
    .ci/run does";

/// How to get the node exporter, likewise.
pub const NODE_EXPORTER_INSTALL: &str = "install it with `apt-get install -y \
    --no-install-recommends prometheus-node-exporter` (as root; Debian's package), as .ci/run \
    does";

/// The path of the program `name`; fails the test with `install` when it is missing.
pub fn require_tool(name: &str, install: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    let path = String::from_utf8_lossy(&found.stdout).trim().to_owned();
    assert!(
        found.status.success() && !path.is_empty(),
        "`{name}` is missing: {install}"
    );
    path
}

/// The path of `prometheus`, checked to be 2.42 (the version the golden suite recorded).
pub fn require_prometheus_242() -> String {
    let prometheus = require_tool("prometheus", PROMETHEUS_INSTALL);
    let version = Command::new(&prometheus).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout).to_string()
        + &String::from_utf8_lossy(&version.stderr);
    assert!(
        version.contains("version 2.42"),
        "need Prometheus 2.42, found {version}: {PROMETHEUS_INSTALL}"
    );
    prometheus
}

/// A free TCP port on 127.0.0.1, for programs that must be told their port (Prometheus
/// and the node exporter log the address they were given, not the one they got).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The node exporter on a free 127.0.0.1 port with a few cheap collectors: gauges (load,
/// memory, time), counters (cpu, vmstat), an info metric (uname); the slow or
/// machine-dependent ones (filesystem, hwmon, …) off. Returns it and its `host:port`.
pub fn start_node_exporter(dir: &Path) -> (External, String) {
    let node_exporter = require_tool("prometheus-node-exporter", NODE_EXPORTER_INSTALL);
    let address = format!("127.0.0.1:{}", free_port());
    let mut args = vec![
        format!("--web.listen-address={address}"),
        "--collector.disable-defaults".to_owned(),
    ];
    for c in [
        "cpu", "meminfo", "loadavg", "stat", "time", "uname", "vmstat",
    ] {
        args.push(format!("--collector.{c}"));
    }
    let ne = External::start(
        &node_exporter,
        &args,
        dir,
        "node-exporter.log",
        format!("http://{address}"),
        "/metrics",
    );
    (ne, address)
}

/// A program started by a test (Prometheus, the node exporter): killed by its PID on
/// drop. Its stdout and stderr go to `log`, quoted when it fails to start.
pub struct External {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    log: PathBuf,
}

impl External {
    /// Starts `program` with `args` in `dir` (its output into `dir/<log_name>`) and waits
    /// at most 60 s until `GET url + ready_path` answers 200.
    pub fn start(
        program: &str,
        args: &[String],
        dir: &Path,
        log_name: &str,
        url: String,
        ready_path: &str,
    ) -> External {
        let log = dir.join(log_name);
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(program)
            .current_dir(dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let mut p = External { child, url, log };
        let a = agent();
        let t0 = Instant::now();
        loop {
            if let Ok(r) = a.get(format!("{}{ready_path}", p.url)).call() {
                if r.status() == 200 {
                    return p;
                }
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("{program} exited with {status}: {}", p.log_text());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "{program} not ready in 60 s: {}",
                p.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What it printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET url + path`: status and body.
    pub fn get(&self, path: &str) -> Resp {
        let mut r = agent().get(format!("{}{path}", self.url)).call().unwrap();
        Resp {
            status: r.status().as_u16(),
            content_type: String::new(),
            body: r.body_mut().read_to_string().unwrap_or_default(),
        }
    }
}

impl Drop for External {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Prometheus 2.42 in `dir` with `config` (written to `dir/prometheus.yml`), its
/// TSDB in `dir/data`, on a free port; fails the test when it is missing or another
/// version.
pub fn start_prometheus(dir: &Path, config: &str, port: u16) -> External {
    let prometheus = require_prometheus_242();
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let args = [
        "--config.file=prometheus.yml".to_owned(),
        "--storage.tsdb.path=data".to_owned(),
        "--storage.tsdb.retention.time=100y".to_owned(),
        "--log.level=warn".to_owned(),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ];
    External::start(
        &prometheus,
        &args,
        dir,
        "prometheus.log",
        format!("http://127.0.0.1:{port}"),
        "/-/ready",
    )
}

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST`, `GET`…
    pub method: String,
    /// The path with its query string.
    pub path: String,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Received {
    /// The first header of this (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A scripted answer: status, extra headers, body.
type Scripted = (u16, Vec<(String, String)>, String);

/// An HTTP receiver on 127.0.0.1 standing in for a webhook, PagerDuty or Twilio endpoint:
/// it records every request and answers each with the next scripted response (status,
/// extra headers, body), then 200 once the script is used up.
pub struct Receiver {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<std::collections::VecDeque<Scripted>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// Starts listening on a free port.
    pub fn start() -> Receiver {
        Self::start_on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    /// Starts answering on `listener` (a port chosen before the receiver may answer).
    pub fn start_on(listener: TcpListener) -> Receiver {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(std::collections::VecDeque::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let (received, script, stop) = (received.clone(), script.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok((mut conn, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    conn.set_nonblocking(false).unwrap();
                    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut data = Vec::new();
                    let mut buf = [0u8; 8192];
                    let head_end = loop {
                        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                            break Some(i);
                        }
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => break None,
                            Ok(n) => data.extend_from_slice(&buf[..n]),
                        }
                    };
                    let Some(head_end) = head_end else { continue };
                    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
                    let mut lines = head.split("\r\n");
                    let first: Vec<&str> = lines.next().unwrap_or("").split(' ').collect();
                    let headers: Vec<(String, String)> = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .collect();
                    let len: usize = headers
                        .iter()
                        .find(|(n, _)| n == "content-length")
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = data[head_end + 4..].to_vec();
                    while body.len() < len {
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => body.extend_from_slice(&buf[..n]),
                        }
                    }
                    received.lock().unwrap().push(Received {
                        method: first.first().unwrap_or(&"").to_string(),
                        path: first.get(1).unwrap_or(&"").to_string(),
                        headers,
                        body,
                    });
                    let (status, extra, answer) = script.lock().unwrap().pop_front().unwrap_or((
                        200,
                        Vec::new(),
                        String::new(),
                    ));
                    let mut response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                        answer.len()
                    );
                    for (n, v) in extra {
                        response.push_str(&format!("{n}: {v}\r\n"));
                    }
                    response.push_str("\r\n");
                    response.push_str(&answer);
                    let _ = conn.write_all(response.as_bytes());
                }
            })
        };
        Receiver {
            url,
            received,
            script,
            stop,
            thread: Some(thread),
        }
    }

    /// Answers the next request not yet answered with `status`, `headers` and `body`.
    pub fn then(&self, status: u16, headers: &[(&str, &str)], body: &str) {
        self.script.lock().unwrap().push_back((
            status,
            headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body.to_owned(),
        ));
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits up to `limit` until at least `n` requests arrived; returns them all.
    pub fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
