//! Notification latency of `tsdb-server`'s alerting (issue 15, "Measured"): from the push
//! of a sample that makes an alerting rule true, and from the rule evaluation that fired
//! it, to the webhook request's arrival; through the built-in alert manager (and its
//! durable outbox), and through a real Alertmanager 0.25 fed by the same server
//! (`alerting.alertmanagers`) as the peer for the manager's part.
//!
//! ```sh
//! cargo build --release -p tsdb-examples --bin tsdb-server
//! cargo run --release -p tsdb-benches --bin notify-latency-report -- --runs 3
//! ```
//!
//! Each run starts a fresh server (release build, found beside this binary unless
//! `--server` says where) on a temporary data directory, with one rule group (`interval:
//! 1s`, one alert `for: 0s` on `notify_probe_value > 0`) and a built-in manager routing
//! every alert to its own group (`group_by: ['...']`, `group_wait` from `--group-wait`,
//! 0s by default) and to a webhook served by this process on 127.0.0.1. Then, `--firings`
//! times: a random pause of up to one rule interval (so pushes fall at every phase of the
//! evaluation schedule), a push over Influx `/write` of `notify_probe{id="k"} 1`
//! timestamped now, and a wait for the webhook carrying the alert `id="k"`. The alert's
//! `startsAt` in the payload is the evaluation's timestamp, which splits the latency into
//! the rule interval's wait (push → evaluation) and the path after it. The server's
//! `/api/v1/notifications` splits that path again: the manager's flush time
//! (`flushed_at_ms`), the outbox row's creation, the first delivery attempt's start; the
//! webhook's arrival is this process's clock (same machine, same clock).
//!
//! Every process started here is killed when the run ends, on error, on panic and on
//! Ctrl-C; every wait is bounded.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use clap::Parser;
use serde_json::Value;

/// The flags of `notify-latency-report`.
#[derive(Parser, Debug)]
#[command(
    about = "Notification latency: rule firing to webhook arrival, built-in manager \
                   and a real Alertmanager 0.25"
)]
struct Flags {
    /// Firings per run (distinct alerts, one after another).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    firings: u32,
    /// Runs, each on a fresh server and data directory.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// `group_wait` of the route, in both managers (Alertmanager's duration syntax).
    #[arg(long, default_value = "0s")]
    group_wait: String,
    /// The release `tsdb-server` binary. Default: `tsdb-server` beside this binary
    /// (`cargo build --release -p tsdb-examples --bin tsdb-server` puts it there).
    #[arg(long)]
    server: Option<PathBuf>,
    /// The Alertmanager binary of the peer path.
    #[arg(long, default_value = "/usr/bin/prometheus-alertmanager")]
    alertmanager: PathBuf,
    /// Measure the built-in manager only (no Alertmanager started).
    #[arg(long)]
    no_peer: bool,
    /// Where the runs' temporary directories go (the server's data, the built-in
    /// manager's redb file). A tmpfs such as /dev/shm takes the fsyncs out of the path.
    #[arg(long)]
    tmp_dir: Option<PathBuf>,
    /// Write every firing's times (Unix ms) to this CSV file.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Seed of the pauses between firings.
    #[arg(long, default_value_t = 15)]
    seed: u64,
}

/// The rule group's evaluation interval.
const RULE_INTERVAL_MS: u64 = 1_000;
/// How long to wait for one firing's webhook, beyond `group_wait`.
const FIRING_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a process may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

fn main() {
    let flags = Flags::parse();
    match run_all(&flags) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("notify-latency-report: {e}");
            std::process::exit(1);
        }
    }
}

/// Now, Unix milliseconds with the microseconds as the fraction.
fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

// ---------------------------------------------------------------------------------------
// Child processes: killed on drop (end of run, error, panic) and on Ctrl-C.

/// Pids of the children alive now, for the Ctrl-C handler.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// A child process killed (SIGKILL) and reaped when dropped.
struct Proc {
    child: Child,
    name: &'static str,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Result<Proc, String> {
        let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting {name} ({:?}): {e}", cmd.get_program()))?;
        if let Ok(mut c) = CHILDREN.lock() {
            c.push(child.id());
        }
        Ok(Proc { child, name, log })
    }

    /// The last lines of its output, for error messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Waits until `GET url` answers 200, the process still running.
    fn wait_ready(&mut self, url: &str) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.name,
                    self.log_tail()
                ));
            }
            if http_agent()
                .get(url)
                .call()
                .is_ok_and(|r| r.status() == 200)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} not ready after {READY_TIMEOUT:?}:\n{}",
                    self.name,
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let id = self.child.id();
        if let Ok(mut c) = CHILDREN.lock() {
            c.retain(|p| *p != id);
        }
    }
}

/// Kills the children still alive (by pid) and exits: the Ctrl-C path, where no drop
/// runs.
fn kill_children_and_exit() -> ! {
    let pids: Vec<u32> = CHILDREN.lock().map(|c| c.clone()).unwrap_or_default();
    for pid in pids {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    std::process::exit(130);
}

/// A port free on 127.0.0.1 now (bound, then released for the child to take).
fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("bind: {e}"))
}

fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into()
}

// ---------------------------------------------------------------------------------------
// The webhook receiver: every request's path, arrival time and body, in arrival order.

/// One webhook request as received.
struct Hook {
    path: String,
    arrival_ms: f64,
    body: Value,
}

async fn receive(State(tx): State<mpsc::Sender<Hook>>, uri: Uri, body: Bytes) -> StatusCode {
    let arrival_ms = now_ms();
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = tx.send(Hook {
        path: uri.path().to_owned(),
        arrival_ms,
        body,
    });
    StatusCode::OK
}

/// Receives webhooks on a runtime of its own (one worker thread), so that the measuring
/// thread's blocking waits do not delay an arrival's timestamp.
struct Receiver {
    port: u16,
    rx: mpsc::Receiver<Hook>,
    /// Requests received but not yet matched to a firing.
    backlog: Vec<Hook>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    fn start() -> Result<Receiver, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let (tx, rx) = mpsc::channel();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .map_err(|e| format!("webhook receiver: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("webhook receiver: {e}"))?
            .port();
        let app = axum::Router::new().fallback(receive).with_state(tx);
        runtime.spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("webhook receiver stopped: {e}");
            }
        });
        runtime.spawn(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                kill_children_and_exit();
            }
        });
        Ok(Receiver {
            port,
            rx,
            backlog: Vec::new(),
            _runtime: runtime,
        })
    }

    /// The first request to `path` carrying the alert `id="id"`, waiting until `deadline`.
    fn wait(&mut self, path: &str, id: &str, deadline: Instant) -> Option<Hook> {
        let matches = |h: &Hook| h.path == path && alert_with_id(&h.body, id).is_some();
        if let Some(i) = self.backlog.iter().position(matches) {
            return Some(self.backlog.swap_remove(i));
        }
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let h = self.rx.recv_timeout(left).ok()?;
            if matches(&h) {
                return Some(h);
            }
            self.backlog.push(h);
        }
    }
}

/// The alert of a webhook payload whose `id` label is `id`.
fn alert_with_id<'a>(payload: &'a Value, id: &str) -> Option<&'a Value> {
    payload["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["id"].as_str() == Some(id))
}

/// An RFC 3339 time as Unix ms.
fn rfc3339_ms(v: &Value) -> Option<f64> {
    let t = chrono::DateTime::parse_from_rfc3339(v.as_str()?).ok()?;
    Some(t.timestamp_millis() as f64)
}

// ---------------------------------------------------------------------------------------
// One run.

/// One firing's times (Unix ms; `None` where that path was not measured or missed).
#[derive(Debug, Default, Clone)]
struct Firing {
    id: String,
    push: f64,
    push_ack: f64,
    /// `startsAt`: the evaluation that fired it.
    eval: f64,
    /// That evaluation's duration (the group's `evaluationTime`), when `/api/v1/rules`
    /// still showed it as the last one right after the webhook came.
    eval_duration: Option<f64>,
    /// The built-in manager: flush, outbox row, first attempt's start, arrival.
    flushed: Option<f64>,
    enqueued: Option<f64>,
    attempt: Option<f64>,
    builtin: Option<f64>,
    /// Alertmanager 0.25's webhook arrival.
    peer: Option<f64>,
}

fn write_configs(
    dir: &Path,
    hook_port: u16,
    am_port: Option<u16>,
    group_wait: &str,
) -> Result<(), String> {
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    write(
        "rules.yml",
        "groups:\n  - name: notify\n    interval: 1s\n    rules:\n      - alert: NotifyProbe\n        \
         expr: notify_probe_value > 0\n        for: 0s\n        labels:\n          severity: page\n"
            .to_owned(),
    )?;
    let am = |path: &str| {
        format!(
            "route:\n  receiver: hook\n  group_by: ['...']\n  group_wait: {group_wait}\n  \
             group_interval: 5m\n  repeat_interval: 4h\nreceivers:\n  - name: hook\n    \
             webhook_configs:\n      - url: http://127.0.0.1:{hook_port}{path}\n        \
             send_resolved: false\n"
        )
    };
    write("builtin-am.yml", am("/builtin"))?;
    write("peer-am.yml", am("/peer"))?;
    let alerting = match am_port {
        Some(p) => format!(
            "alerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{p}']}}]\n"
        ),
        None => String::new(),
    };
    write(
        "tsdb.yml",
        format!(
            "rule_files: [rules.yml]\n{alerting}alertmanager:\n  config_file: builtin-am.yml\n"
        ),
    )
}

/// A group_wait as milliseconds (`0s`, `500ms`, `2s`, `1m`), for the firing timeout.
fn group_wait_ms(s: &str) -> Result<u64, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| s.split_at(i));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("--group-wait {s:?}: a whole number and a unit, e.g. 0s"))?;
    let scale = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        _ => return Err(format!("--group-wait {s:?}: unit ms, s or m")),
    };
    Ok(n.saturating_mul(scale))
}

fn run_once(
    flags: &Flags,
    server_bin: &Path,
    run: u32,
    rng: &mut fastrand::Rng,
) -> Result<Vec<Firing>, String> {
    let tmp = match &flags.tmp_dir {
        Some(d) => tempfile::Builder::new()
            .prefix("notify-latency-")
            .tempdir_in(d),
        None => tempfile::Builder::new().prefix("notify-latency-").tempdir(),
    }
    .map_err(|e| format!("temporary directory: {e}"))?;
    let dir = tmp.path();
    let mut receiver = Receiver::start()?;
    let group_wait = group_wait_ms(&flags.group_wait)?;

    let mut peer = None;
    let am_port = if flags.no_peer {
        None
    } else {
        Some(free_port()?)
    };
    write_configs(dir, receiver.port, am_port, &flags.group_wait)?;
    if let Some(port) = am_port {
        let mut p = Proc::spawn(
            "alertmanager",
            Command::new(&flags.alertmanager)
                .current_dir(dir)
                .arg("--config.file=peer-am.yml")
                .arg("--storage.path=am-data")
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address=")
                .arg("--log.level=warn"),
            dir.join("alertmanager.log"),
        )?;
        p.wait_ready(&format!("http://127.0.0.1:{port}/-/ready"))?;
        peer = Some(p);
    }
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Proc::spawn(
        "tsdb-server",
        Command::new(server_bin)
            .current_dir(dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data")
            .arg(dir.join("data"))
            .arg("--config")
            .arg(dir.join("tsdb.yml"))
            .args(["--log-level", "warn"]),
        dir.join("server.log"),
    )?;
    server.wait_ready(&format!("{base}/-/ready"))?;

    let agent = http_agent();
    let mut firings = Vec::new();
    for k in 0..flags.firings {
        let pause = rng.u64(0..RULE_INTERVAL_MS);
        std::thread::sleep(Duration::from_millis(pause));
        let id = format!("r{run}f{k}");
        let push = now_ms();
        let line = format!("notify_probe,id={id} value=1 {}\n", push as i64);
        let r = agent
            .post(&format!("{base}/write?precision=ms"))
            .send(line.as_bytes())
            .map_err(|e| format!("push: {e}"))?;
        let push_ack = now_ms();
        if r.status() != 204 {
            return Err(format!("push answered {}", r.status()));
        }
        let deadline = Instant::now() + FIRING_TIMEOUT + Duration::from_millis(group_wait);
        let hook = receiver.wait("/builtin", &id, deadline).ok_or_else(|| {
            format!(
                "firing {id}: no webhook from the built-in manager within {:?}:\n{}",
                FIRING_TIMEOUT,
                server.log_tail()
            )
        })?;
        let eval = alert_with_id(&hook.body, &id)
            .and_then(|a| rfc3339_ms(&a["startsAt"]))
            .ok_or_else(|| format!("firing {id}: no startsAt in {}", hook.body))?;
        let eval_duration = last_evaluation(&agent, &base, eval);
        let peer_arrival = match &peer {
            Some(p) => Some(
                receiver
                    .wait("/peer", &id, deadline)
                    .ok_or_else(|| {
                        format!(
                            "firing {id}: no webhook from Alertmanager within {:?}:\n{}",
                            FIRING_TIMEOUT,
                            p.log_tail()
                        )
                    })?
                    .arrival_ms,
            ),
            None => None,
        };
        firings.push(Firing {
            id,
            push,
            push_ack,
            eval,
            eval_duration,
            builtin: Some(hook.arrival_ms),
            peer: peer_arrival,
            ..Firing::default()
        });
    }
    add_outbox_times(&agent, &base, &mut firings)?;
    drop(server);
    drop(peer);
    Ok(firings)
}

/// The rule group's last evaluation time (ms) from `/api/v1/rules`, if that evaluation
/// is the one at `eval` (Unix ms).
fn last_evaluation(agent: &ureq::Agent, base: &str, eval: f64) -> Option<f64> {
    let body = agent
        .get(&format!("{base}/api/v1/rules"))
        .call()
        .ok()?
        .body_mut()
        .read_to_string()
        .ok()?;
    let v: Value = serde_json::from_str(&body).ok()?;
    let group = &v["data"]["groups"][0];
    let last = rfc3339_ms(&group["lastEvaluation"])?;
    // the group's duration, in seconds
    ((last - eval).abs() < 0.5).then(|| group["evaluationTime"].as_f64().map(|s| s * 1000.0))?
}

/// Fills in the built-in manager's flush, enqueue and first-attempt times from
/// `/api/v1/notifications`.
fn add_outbox_times(agent: &ureq::Agent, base: &str, firings: &mut [Firing]) -> Result<(), String> {
    let url = format!(
        "{base}/api/v1/notifications?limit={}",
        firings.len() * 2 + 10
    );
    let body = agent
        .get(&url)
        .call()
        .map_err(|e| format!("{url}: {e}"))?
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("{url}: {e}"))?;
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{url}: {e}"))?;
    let deliveries = v["data"].as_array().cloned().unwrap_or_default();
    let f64_of = |v: &Value| v.as_f64();
    for f in firings.iter_mut() {
        let Some(d) = deliveries.iter().find(|d| {
            d["notification"]["alerts"]
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a["labels"]["id"].as_str() == Some(&f.id)))
        }) else {
            continue;
        };
        f.flushed = f64_of(&d["notification"]["flushed_at_ms"]);
        f.enqueued = f64_of(&d["created_ms"]);
        f.attempt = f64_of(&d["attempts"][0]["at_ms"]);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Figures.

/// Median, p90 and max (nearest rank) of `v`, ms.
fn stats(mut v: Vec<f64>) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[i]
    };
    Some((rank(0.5), rank(0.9), v[v.len() - 1]))
}

/// The table rows: name and the per-firing values.
fn rows(firings: &[Firing]) -> Vec<(&'static str, Vec<f64>)> {
    let both = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| b - a);
    let col = |f: &dyn Fn(&Firing) -> Option<f64>| firings.iter().filter_map(f).collect::<Vec<_>>();
    vec![
        (
            "push -> webhook, built-in manager",
            col(&|f| f.builtin.map(|b| b - f.push)),
        ),
        (
            "eval -> webhook, built-in manager",
            col(&|f| f.builtin.map(|b| b - f.eval)),
        ),
        (
            "  push -> eval (rule interval wait)",
            col(&|f| Some(f.eval - f.push)),
        ),
        (
            "    of which push -> ack (WAL fsync)",
            col(&|f| Some(f.push_ack - f.push)),
        ),
        (
            "  eval -> manager flush",
            col(&|f| f.flushed.map(|x| x - f.eval)),
        ),
        ("    rule group evaluationTime", col(&|f| f.eval_duration)),
        (
            "    evaluated -> manager flush",
            col(&|f| f.flushed.zip(f.eval_duration).map(|(x, d)| x - f.eval - d)),
        ),
        (
            "  flush -> outbox row",
            col(&|f| both(f.flushed, f.enqueued)),
        ),
        (
            "  outbox row -> 1st attempt",
            col(&|f| both(f.enqueued, f.attempt)),
        ),
        (
            "  1st attempt -> arrival",
            col(&|f| both(f.attempt, f.builtin)),
        ),
        (
            "push -> webhook, Alertmanager 0.25",
            col(&|f| f.peer.map(|b| b - f.push)),
        ),
        (
            "eval -> webhook, Alertmanager 0.25",
            col(&|f| f.peer.map(|b| b - f.eval)),
        ),
    ]
}

fn print_table(firings: &[Firing]) {
    println!("{:<40} {:>9} {:>9} {:>9}", "ms", "median", "p90", "max");
    for (name, v) in rows(firings) {
        if let Some((m, p90, max)) = stats(v) {
            println!("{name:<40} {m:>9.1} {p90:>9.1} {max:>9.1}");
        }
    }
}

fn write_csv(path: &Path, all: &[(u32, Vec<Firing>)]) -> Result<(), String> {
    let mut out = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
    let mut text = String::from(
        "run,id,push,push_ack,eval,eval_duration,flushed,enqueued,attempt,builtin,peer\n",
    );
    for (run, firings) in all {
        for f in firings {
            text.push_str(&format!(
                "{run},{},{:.3},{:.3},{:.3},{},{},{},{},{},{}\n",
                f.id,
                f.push,
                f.push_ack,
                f.eval,
                opt(f.eval_duration),
                opt(f.flushed),
                opt(f.enqueued),
                opt(f.attempt),
                opt(f.builtin),
                opt(f.peer)
            ));
        }
    }
    out.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn run_all(flags: &Flags) -> Result<(), String> {
    let server_bin = match &flags.server {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(|e| format!("locating this binary: {e}"))?
            .with_file_name("tsdb-server"),
    };
    if !server_bin.is_file() {
        return Err(format!(
            "no tsdb-server at {}: build it with `cargo build --release -p tsdb-examples \
             --bin tsdb-server` (same CARGO_TARGET_DIR) or pass --server",
            server_bin.display()
        ));
    }
    if !flags.no_peer && !flags.alertmanager.is_file() {
        return Err(format!(
            "no Alertmanager at {} (apt-get install prometheus-alertmanager, or --no-peer)",
            flags.alertmanager.display()
        ));
    }
    println!(
        "notify-latency-report: {} firing(s) x {} run(s), rule interval {RULE_INTERVAL_MS} ms, \
         for: 0s, group_wait {}, server {}, peer {}",
        flags.firings,
        flags.runs,
        flags.group_wait,
        server_bin.display(),
        if flags.no_peer {
            "none".to_owned()
        } else {
            flags.alertmanager.display().to_string()
        }
    );
    let mut rng = fastrand::Rng::with_seed(flags.seed);
    let mut all = Vec::new();
    for run in 1..=flags.runs {
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let firings = run_once(flags, &server_bin, run, &mut rng)?;
        println!(
            "\nrun {run}: {} firings (load average before: {})",
            firings.len(),
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
        print_table(&firings);
        all.push((run, firings));
    }
    if all.len() > 1 {
        println!("\nspread of the per-run medians (min .. max), ms");
        let per_run: Vec<Vec<(&'static str, Vec<f64>)>> =
            all.iter().map(|(_, f)| rows(f)).collect();
        for (i, (name, _)) in per_run[0].iter().enumerate() {
            let medians: Vec<f64> = per_run
                .iter()
                .filter_map(|r| stats(r[i].1.clone()).map(|s| s.0))
                .collect();
            if medians.is_empty() {
                continue;
            }
            let lo = medians.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = medians.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            println!("{name:<40} {lo:>9.1} .. {hi:.1}");
        }
        let pooled: Vec<Firing> = all.iter().flat_map(|(_, f)| f.iter().cloned()).collect();
        println!("\nall runs pooled ({} firings)", pooled.len());
        print_table(&pooled);
    }
    if let Some(path) = &flags.csv {
        write_csv(path, &all)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_are_nearest_rank_median_p90_and_max() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(stats(v), Some((5.0, 9.0, 10.0)));
        assert_eq!(stats(vec![7.0]), Some((7.0, 7.0, 7.0)));
        assert_eq!(stats(Vec::new()), None);
    }

    #[test]
    fn group_wait_takes_alertmanager_units_and_refuses_others() {
        assert_eq!(group_wait_ms("0s"), Ok(0));
        assert_eq!(group_wait_ms("500ms"), Ok(500));
        assert_eq!(group_wait_ms("2m"), Ok(120_000));
        assert!(group_wait_ms("5x").is_err());
        assert!(group_wait_ms("s").is_err());
    }

    #[test]
    fn the_alert_is_found_by_its_id_label_and_its_start_read() {
        let payload = serde_json::json!({"alerts": [
            {"labels": {"id": "r1f0"}, "startsAt": "2026-12-06T02:44:17.123Z"},
            {"labels": {"id": "r1f1"}, "startsAt": "2026-12-06T02:44:18Z"},
        ]});
        let a = alert_with_id(&payload, "r1f1");
        assert_eq!(
            a.and_then(|a| rfc3339_ms(&a["startsAt"])),
            Some(1_796_525_058_000.0)
        );
        assert!(alert_with_id(&payload, "r1f2").is_none());
    }
}
