//! Rule evaluation cost: 1,000 recording and alerting rules (10 groups of 100, generated
//! by `tsdb_benches::rules_fleet`) over the fleet data of `../shared/peers/gen.py`, for
//! our engine (`tsdb_rules::RuleManager` over a `tsdb_core::Db`) and for a real
//! Prometheus 2.42 evaluating the same rule files over the same data in the same run.
//!
//! ```sh
//! cargo run --release -p tsdb-benches --bin rules-report -- [--intervals 12] [--warmup 2]
//!     [--interval 10] [--hosts 100] [--hours 2] [--tmp DIR] [--keep]
//!     [--prometheus prometheus] [--promtool promtool]
//!     [--chunk-max-samples N]   # our Db's samples per chunk (default the engine's 1024)
//! cargo run --release -p tsdb-benches --bin rules-report -- --write-rules DIR [--rules-interval 1m]
//! ```
//!
//! How the two sides get the same work:
//! - Data: gen.py writes `hours` of history plus a *lead* of a few minutes in the future,
//!   as OpenMetrics (imported into our Db's head, as `tsdb import` reads it) and as
//!   remote-write bodies (sent to Prometheus's receiver, so the data sits in its head).
//!   A query at time t reads no sample after t, so every evaluation during the run sees
//!   full windows of "live" data: nothing ages out while the run lasts. (Blocks from
//!   `promtool tsdb create-blocks-from` cannot hold data past now: the head refuses rule
//!   results older than the newest block.) Rule windows read the head in both engines,
//!   as they do in a running server.
//! - Rules: Prometheus starts without rules, takes the data, then loads the rule files by
//!   `POST /-/reload`; its groups then evaluate on their own timer at their hashed slots,
//!   every `--interval` seconds. The command polls `/api/v1/rules` every 2 s and keeps,
//!   per group and per rule, Prometheus's own `evaluationTime` of each evaluation (the
//!   figure behind `prometheus_rule_group_last_duration_seconds`). Once every group has
//!   `warmup + intervals` evaluations, Prometheus is stopped and our `RuleManager`
//!   (loaded the same way: an empty load, then the files, so neither restores `for`
//!   state) evaluates every group at every one of Prometheus's evaluation times, in time
//!   order, timing each group evaluation.
//! - Check: at the last measured evaluation, every recording rule's output is read back
//!   from both (Prometheus's query API, our engine) and compared series by series, and
//!   every alerting rule's active alert count is compared.
//!
//! The first `--warmup` evaluations of each group are left out (cold caches, and
//! Prometheus's first evaluation after a reload). The figure per interval is the sum of
//! the 10 groups' evaluation times of that interval; median and p90 over `--intervals`.
//! Our evaluation runs on one thread, group after group; Prometheus runs each group in
//! its own goroutine, but the slots spread the groups over the interval, so they rarely
//! overlap.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use tsdb_benches::query_fleet::loadavg;
use tsdb_benches::rules_fleet::{generate, GenFile};
use tsdb_core::Db;
use tsdb_examples::import::{Format, ImportOptions, Note, Parsed, TimeCheck};
use tsdb_query::{Engine, Value};
use tsdb_rules::group::Rule;
use tsdb_rules::{RuleManager, RuleOptions};

const GROUPS: usize = 10;
const PER_GROUP: usize = 100;

struct Args {
    intervals: usize,
    warmup: usize,
    interval_s: i64,
    hosts: u32,
    hours: f64,
    tmp: PathBuf,
    keep: bool,
    prometheus: String,
    promtool: String,
    write_rules: Option<PathBuf>,
    rules_interval: String,
    chunk_max_samples: Option<usize>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        intervals: 12,
        warmup: 2,
        interval_s: 10,
        hosts: 100,
        hours: 2.0,
        tmp: PathBuf::from("/tmp"),
        keep: false,
        prometheus: "prometheus".into(),
        promtool: "promtool".into(),
        write_rules: None,
        rules_interval: "1m".into(),
        chunk_max_samples: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |s: String| s.parse::<f64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--intervals" => a.intervals = num(value()?)?.max(1.0) as usize,
            "--warmup" => a.warmup = num(value()?)? as usize,
            "--interval" => a.interval_s = num(value()?)?.max(1.0) as i64,
            "--hosts" => a.hosts = num(value()?)?.max(1.0) as u32,
            "--hours" => a.hours = num(value()?)?.max(0.5),
            "--tmp" => a.tmp = value()?.into(),
            "--keep" => a.keep = true,
            "--prometheus" => a.prometheus = value()?,
            "--promtool" => a.promtool = value()?,
            "--write-rules" => a.write_rules = Some(value()?.into()),
            "--rules-interval" => a.rules_interval = value()?,
            "--chunk-max-samples" => {
                a.chunk_max_samples = Some(num(value()?)?.clamp(1.0, 1024.0) as usize);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    match args().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rules-report: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A child process killed when dropped (error paths included).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.0 exchange on a new connection (so the answer is never chunked and ends
/// at EOF). Returns the status and the body.
fn http(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, Vec<u8>), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let mut req = format!("{method} {target} HTTP/1.0\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes())
        .and_then(|()| s.write_all(body))
        .map_err(|e| format!("{method} {target}: {e}"))?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)
        .map_err(|e| format!("{method} {target}: {e}"))?;
    let head_end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{method} {target}: no HTTP header end"))?;
    let status_line = String::from_utf8_lossy(&resp[..head_end]);
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {target}: bad status line"))?;
    Ok((status, resp[head_end + 4..].to_vec()))
}

fn get_json(addr: &str, target: &str) -> Result<serde_json::Value, String> {
    let (status, body) = http(addr, "GET", target, &[], b"")?;
    if status != 200 {
        return Err(format!(
            "GET {target}: {status} {}",
            String::from_utf8_lossy(&body)
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("GET {target}: {e}"))
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn vm_hwm_kb(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User plus system CPU seconds of `pid` so far (`/proc/PID/stat`, 100 ticks a second).
fn cpu_s(pid: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // after the command: state is field 3, utime 14, stime 15 (1-based over the line)
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Resets the peak RSS (`VmHWM`) of `pid` (Linux's `clear_refs` value 5).
fn reset_hwm(pid: &str) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn percentile(xs: &[f64], p: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    if p == 50.0 && v.len().is_multiple_of(2) {
        return (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn rfc3339_ms(s: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    let ms = t.timestamp_millis();
    (ms > 946_684_800_000).then_some(ms) // Go's zero time before the first evaluation
}

/// What one side measured: per group, evaluation slot → seconds; per group and rule,
/// slot → (seconds, active alerts).
#[derive(Default)]
struct Side {
    groups: Vec<BTreeMap<i64, f64>>,
    rules: Vec<Vec<BTreeMap<i64, (f64, usize)>>>,
}

impl Side {
    fn new() -> Side {
        Side {
            groups: vec![BTreeMap::new(); GROUPS],
            rules: vec![vec![BTreeMap::new(); PER_GROUP]; GROUPS],
        }
    }
}

/// A recording rule's output: labels (without `__name__`'s order mattering) → value.
type Output = BTreeMap<Vec<(String, String)>, f64>;

fn run(a: Args) -> Result<(), String> {
    if let Some(dir) = &a.write_rules {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for f in generate(GROUPS, PER_GROUP, &a.rules_interval)? {
            let p = dir.join(&f.file_name);
            std::fs::write(&p, &f.text).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        println!("wrote {GROUPS} rule files to {}", dir.display());
        return Ok(());
    }
    std::fs::create_dir_all(&a.tmp).map_err(|e| format!("{}: {e}", a.tmp.display()))?;
    let tmp = a
        .tmp
        .canonicalize()
        .map_err(|e| format!("{}: {e}", a.tmp.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("rules-report")
        .tempdir_in(&tmp)
        .map_err(|e| format!("temporary directory in {}: {e}", tmp.display()))?;
    let work = dir.path().to_path_buf();
    let result = measure(&a, &work);
    if a.keep {
        let kept = dir.keep();
        eprintln!("kept {}", kept.display());
    }
    result
}

fn measure(a: &Args, work: &Path) -> Result<(), String> {
    let interval_ms = a.interval_s * 1000;
    // Rule files.
    let files = generate(GROUPS, PER_GROUP, &format!("{}s", a.interval_s))?;
    let rules_dir = work.join("rules");
    std::fs::create_dir_all(&rules_dir).map_err(|e| e.to_string())?;
    let mut paths = Vec::new();
    for f in &files {
        let p = rules_dir.join(&f.file_name);
        std::fs::write(&p, &f.text).map_err(|e| format!("{}: {e}", p.display()))?;
        paths.push(p);
    }
    let out = Command::new(&a.promtool)
        .arg("check")
        .arg("rules")
        .args(&paths)
        .output()
        .map_err(|e| format!("{}: {e}", a.promtool))?;
    if !out.status.success() {
        return Err(format!(
            "promtool check rules failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let checked = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("SUCCESS"))
        .count();
    eprintln!("promtool check rules: {checked} files SUCCESS");

    // Data: history plus a lead covering setup and the whole run.
    let lead_s = 150 + (a.warmup + a.intervals + 4) as i64 * a.interval_s;
    let now_s = chrono::Utc::now().timestamp();
    let end_s = now_s + lead_s;
    let hours = a.hours + lead_s as f64 / 3600.0;
    let data = work.join("data");
    let t0 = Instant::now();
    let gen = tsdb_benches::data::peers_dir().join("gen.py");
    let status = Command::new("python3")
        .arg(&gen)
        .args(["--hosts", &a.hosts.to_string()])
        .args(["--hours", &format!("{hours:.6}")])
        .args(["--end", &end_s.to_string()])
        .args(["--formats", "om,rw"])
        .args(["--points-per-request", "30", "--hosts-per-request", "10"])
        .arg("--quiet")
        .arg("--out")
        .arg(&data)
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("{}: {e}", gen.display()))?;
    if !status.success() {
        return Err(format!("{} failed: {status}", gen.display()));
    }
    let gen_s = t0.elapsed().as_secs_f64();
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(data.join("meta.json")).map_err(|e| format!("meta.json: {e}"))?,
    )
    .map_err(|e| format!("meta.json: {e}"))?;
    let samples = meta["samples"].as_u64().unwrap_or(0);
    let series = meta["series"].as_u64().unwrap_or(0);
    let data_end_ms = meta["end_s"].as_i64().unwrap_or(end_s) * 1000;

    // Ours: the OpenMetrics file into a Db's head (as `tsdb import` reads it), no fsync
    // per append and no background persist during the run (Prometheus's WAL does not
    // fsync per commit, and its head holds these two hours without compacting).
    let t0 = Instant::now();
    let mut note = |n: Note<'_>| {
        if let Note::Refused { message, .. } = n {
            eprintln!("import: {message}");
        }
    };
    let options = ImportOptions {
        format: Some(Format::OpenMetrics),
        time_check: TimeCheck::Any,
        show_per_reason: 5,
        ..ImportOptions::default()
    };
    let parsed =
        Parsed::read(&[data.join("data.om")], &options, &mut note).map_err(|e| e.to_string())?;
    let mut db_options = tsdb_core::Options {
        background_maintenance: false,
        ..options.db_options()
    };
    if let Some(n) = a.chunk_max_samples {
        db_options.chunk_max_samples = n;
    }
    let db = Db::open(work.join("ours"), db_options).map_err(|e| e.to_string())?;
    let summary = parsed
        .append_to(&db, &mut note)
        .map_err(|e| e.to_string())?;
    if summary.loaded != samples {
        return Err(format!(
            "ours: {} samples loaded, gen.py wrote {samples}",
            summary.loaded
        ));
    }
    let import_s = t0.elapsed().as_secs_f64();
    std::fs::remove_file(data.join("data.om")).map_err(|e| e.to_string())?;

    // Prometheus: no rules yet; the data by remote write; then the rules by reload.
    let prom_dir = work.join("prometheus");
    std::fs::create_dir_all(&prom_dir).map_err(|e| e.to_string())?;
    let config = |rules: &[PathBuf]| {
        let mut c = format!(
            "global:\n  evaluation_interval: {}s\n  scrape_interval: 1m\nscrape_configs: []\n",
            a.interval_s
        );
        if !rules.is_empty() {
            c.push_str("rule_files:\n");
            for p in rules {
                c.push_str(&format!("  - {}\n", p.display()));
            }
        }
        c
    };
    let cfg = prom_dir.join("prometheus.yml");
    std::fs::write(&cfg, config(&[])).map_err(|e| e.to_string())?;
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let log = std::fs::File::create(prom_dir.join("prometheus.log")).map_err(|e| e.to_string())?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(&a.prometheus)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            prom_dir.join("data").display()
        ))
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address={addr}"))
        .arg("--web.enable-remote-write-receiver")
        .arg("--web.enable-lifecycle")
        .arg("--log.level=warn")
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("{}: {e}", a.prometheus))?;
    let prom = Proc(child);
    let pid = prom.0.id().to_string();
    let ready_by = Instant::now() + Duration::from_secs(60);
    loop {
        if matches!(http(&addr, "GET", "/-/ready", &[], b""), Ok((200, _))) {
            break;
        }
        if Instant::now() > ready_by {
            return Err(format!("Prometheus not ready on {addr} after 60 s"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let version = Command::new(&a.prometheus)
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    let t0 = Instant::now();
    let shards = meta["requests"]["rw"]
        .as_array()
        .ok_or("meta.json: no requests.rw")?;
    let windows = shards
        .iter()
        .map(|s| s.as_array().map_or(0, Vec::len))
        .max()
        .unwrap_or(0);
    let mut sent = 0u64;
    for w in 0..windows {
        for s in shards {
            let Some(req) = s.get(w) else { continue };
            let file = req[0].as_str().ok_or("meta.json: bad rw entry")?;
            sent += req[1].as_u64().unwrap_or(0);
            let body = std::fs::read(data.join(file)).map_err(|e| format!("{file}: {e}"))?;
            let (status, resp) = http(
                &addr,
                "POST",
                "/api/v1/write",
                &[
                    ("Content-Type", "application/x-protobuf"),
                    ("Content-Encoding", "snappy"),
                    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
                ],
                &body,
            )?;
            if !(200..300).contains(&status) {
                return Err(format!(
                    "remote write {file}: {status} {}",
                    String::from_utf8_lossy(&resp)
                ));
            }
        }
    }
    if sent != samples {
        return Err(format!(
            "sent {sent} samples by remote write, expected {samples}"
        ));
    }
    let rw_s = t0.elapsed().as_secs_f64();

    std::fs::write(&cfg, config(&paths)).map_err(|e| e.to_string())?;
    let (status, body) = http(&addr, "POST", "/-/reload", &[], b"")?;
    if status != 200 {
        return Err(format!(
            "reload: {status} {}",
            String::from_utf8_lossy(&body)
        ));
    }
    let reload_ms = chrono::Utc::now().timestamp_millis();
    reset_hwm(&pid);
    let prom_cpu0 = cpu_s(&pid).unwrap_or(f64::NAN);

    // Ours loads the same files the same way (an empty load first: no `for` restore).
    let mut mgr = RuleManager::new(
        RuleOptions {
            evaluation_interval_ms: interval_ms,
            ..RuleOptions::default()
        },
        Engine::default(),
    );
    mgr.update(&[], reload_ms)
        .map_err(|e| format!("rules: {e:?}"))?;
    mgr.update(&paths, reload_ms)
        .map_err(|e| format!("rules: {e:?}"))?;
    let index: HashMap<(String, String), usize> = mgr
        .groups()
        .iter()
        .enumerate()
        .map(|(i, g)| ((g.file().to_string(), g.name().to_string()), i))
        .collect();
    // Our group order is by file then name, as generated: group i is files[i].
    for (i, g) in mgr.groups().iter().enumerate() {
        if g.name() != files[i].group || g.rules().len() != PER_GROUP {
            return Err(format!(
                "group {i} is {} with {} rules",
                g.name(),
                g.rules().len()
            ));
        }
    }

    // Poll Prometheus's own timings: per group and rule, the wall-clock start of its last
    // evaluation (what the API shows) and how long it took.
    let need = a.warmup + a.intervals;
    let mut group_obs: Vec<BTreeMap<i64, f64>> = vec![BTreeMap::new(); GROUPS];
    let mut rule_obs: Vec<Vec<BTreeMap<i64, (f64, usize)>>> =
        vec![vec![BTreeMap::new(); PER_GROUP]; GROUPS];
    let deadline =
        Instant::now() + Duration::from_secs((need as u64 + 3) * a.interval_s as u64 + 60);
    let (mut polls, mut poll_s) = (0usize, 0.0f64);
    loop {
        let t0 = Instant::now();
        let j = get_json(&addr, "/api/v1/rules")?;
        polls += 1;
        poll_s += t0.elapsed().as_secs_f64();
        let groups = j["data"]["groups"]
            .as_array()
            .ok_or("/api/v1/rules: no groups")?;
        for g in groups {
            let key = (
                g["file"].as_str().unwrap_or("").to_string(),
                g["name"].as_str().unwrap_or("").to_string(),
            );
            let Some(&gi) = index.get(&key) else {
                return Err(format!("Prometheus has a group {key:?} we do not"));
            };
            if let Some(wall) = g["lastEvaluation"].as_str().and_then(rfc3339_ms) {
                let secs = g["evaluationTime"].as_f64().unwrap_or(f64::NAN);
                group_obs[gi].insert(wall, secs);
            }
            for (ri, r) in g["rules"].as_array().into_iter().flatten().enumerate() {
                let Some(wall) = r["lastEvaluation"].as_str().and_then(rfc3339_ms) else {
                    continue;
                };
                if ri >= PER_GROUP {
                    break;
                }
                let secs = r["evaluationTime"].as_f64().unwrap_or(f64::NAN);
                let alerts = r["alerts"].as_array().map_or(0, Vec::len);
                rule_obs[gi][ri].insert(wall, (secs, alerts));
            }
        }
        if group_obs.iter().all(|g| g.len() > need) {
            break;
        }
        if Instant::now() > deadline {
            let seen: Vec<usize> = group_obs.iter().map(BTreeMap::len).collect();
            return Err(format!(
                "Prometheus evaluations seen per group: {seen:?}, need {need}"
            ));
        }
        // Every 4 s: each evaluation's figures stay on the API for a whole interval, and
        // rendering 1,000 rules costs Prometheus CPU that its figures should not carry.
        std::thread::sleep(Duration::from_secs(4));
    }
    let prom_cpu = cpu_s(&pid).map(|c| c - prom_cpu0);
    let prom_cpu_intervals =
        (chrono::Utc::now().timestamp_millis() - reload_ms) as f64 / interval_ms as f64;
    // The exact evaluation times: the timestamps of the samples the group's recording
    // rules wrote (Prometheus stamps them with the evaluation time). Every evaluation,
    // including any the polls did not see, and none Prometheus skipped.
    let now_ms = chrono::Utc::now().timestamp_millis();
    let range_s = (now_ms - reload_ms) / 1000 + 2 * a.interval_s;
    let mut slots: Vec<Vec<i64>> = Vec::with_capacity(GROUPS);
    let mut hash_mismatch = 0;
    for (gi, f) in files.iter().enumerate() {
        let mut ts = std::collections::BTreeSet::new();
        for r in f.rules.iter().filter(|r| r.recording).take(5) {
            let target = format!(
                "/api/v1/query?query={}%5B{range_s}s%5D&time={}.{:03}",
                r.name,
                now_ms / 1000,
                now_ms % 1000
            );
            let j = get_json(&addr, &target)?;
            for s in j["data"]["result"].as_array().into_iter().flatten() {
                for v in s["values"].as_array().into_iter().flatten() {
                    if let Some(t) = v[0].as_f64() {
                        ts.insert((t * 1000.0).round() as i64);
                    }
                }
            }
        }
        let g = &mgr.groups()[gi];
        // Prometheus's slot in nanoseconds, truncated to the sample's milliseconds: the
        // latest slot at or before t + 1 ms is that slot again.
        hash_mismatch += ts
            .iter()
            .filter(|&&t| g.eval_timestamp_ms(t + 1) != t)
            .count();
        slots.push(ts.into_iter().collect());
    }
    let skipped: usize = slots
        .iter()
        .map(|s| s.windows(2).filter(|w| w[1] - w[0] != interval_ms).count())
        .sum();
    let mut prom_side = Side::new();
    for gi in 0..GROUPS {
        let at = |wall: i64| slots[gi].iter().rev().find(|&&s| s <= wall).copied();
        for (&wall, &secs) in &group_obs[gi] {
            if let Some(slot) = at(wall) {
                prom_side.groups[gi].insert(slot, secs);
            }
        }
        for (ri, obs) in rule_obs[gi].iter().enumerate() {
            for (&wall, &x) in obs {
                if let Some(slot) = at(wall) {
                    prom_side.rules[gi][ri].insert(slot, x);
                }
            }
        }
        if slots[gi].len() < need {
            return Err(format!(
                "group {gi}: {} evaluation times found, need {need}",
                slots[gi].len()
            ));
        }
    }
    let last_slot = slots
        .iter()
        .filter_map(|g| g.last().copied())
        .max()
        .unwrap_or(0);
    if last_slot >= data_end_ms {
        return Err("the run outlasted the data's lead; raise the lead".into());
    }
    // Recording outputs at each group's last measured evaluation.
    let check_slot: Vec<i64> = slots.iter().map(|g| g[need - 1]).collect();
    let mut prom_out: Vec<Vec<Output>> = Vec::new();
    for (gi, f) in files.iter().enumerate() {
        let mut outs = Vec::new();
        for r in f.rules.iter().filter(|r| r.recording) {
            let target = format!(
                "/api/v1/query?query={}&time={}.{:03}",
                r.name,
                check_slot[gi] / 1000,
                check_slot[gi] % 1000
            );
            let j = get_json(&addr, &target)?;
            let mut out = Output::new();
            for s in j["data"]["result"].as_array().into_iter().flatten() {
                let labels = s["metric"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                let v = s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(f64::NAN);
                let mut labels = labels;
                labels.sort();
                out.insert(labels, v);
            }
            outs.push(out);
        }
        prom_out.push(outs);
    }
    let metrics = http(&addr, "GET", "/metrics", &[], b"")
        .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let quantile = |q: &str| -> f64 {
        let prefix = format!("prometheus_rule_evaluation_duration_seconds{{quantile=\"{q}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(f64::NAN)
    };
    let prom_q = [quantile("0.5"), quantile("0.9"), quantile("0.99")];
    let prom_failures: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("prometheus_rule_evaluation_failures_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let prom_hwm = vm_hwm_kb(&pid);
    drop(prom);

    // Ours, at the same evaluation times, in time order.
    let mut plan: Vec<(i64, usize)> = slots
        .iter()
        .enumerate()
        .flat_map(|(gi, g)| g.iter().map(move |&s| (s, gi)))
        .collect();
    plan.sort_unstable();
    reset_hwm("self");
    let ours_cpu0 = cpu_s("self").unwrap_or(f64::NAN);
    let mut ours_side = Side::new();
    let mut ours_out: Vec<Vec<Output>> = vec![Vec::new(); GROUPS];
    let mut ours_failures = 0usize;
    let check_engine = Engine::default();
    let mut query_only = vec![vec![0.0f64; PER_GROUP]; GROUPS];
    for &(slot, gi) in &plan {
        let outcome = mgr
            .evaluate_group(gi, slot, &db, &db)
            .ok_or("no such group")?;
        ours_failures += outcome.failed_rules;
        let g = &mgr.groups()[gi];
        ours_side.groups[gi].insert(slot, g.evaluation_time().as_secs_f64());
        for (ri, r) in g.rules().iter().enumerate() {
            let alerts = match r {
                Rule::Alerting(ar) => ar.active_alerts().count(),
                Rule::Recording(_) => 0,
            };
            ours_side.rules[gi][ri]
                .insert(slot, (r.status().evaluation_duration.as_secs_f64(), alerts));
        }
        if slot == check_slot[gi] {
            // The PromQL part alone: each rule's expression again, at the same time.
            let exprs: Vec<String> = mgr.groups()[gi]
                .rules()
                .iter()
                .map(|r| r.query().to_string())
                .collect();
            for (ri, e) in exprs.iter().enumerate() {
                let t0 = Instant::now();
                let _ = check_engine.instant_query(&db, e, slot);
                query_only[gi][ri] = t0.elapsed().as_secs_f64();
            }
            for r in files[gi].rules.iter().filter(|r| r.recording) {
                let v = check_engine
                    .instant_query(&db, &r.name, slot)
                    .map_err(|e| format!("{}: {e}", r.name))?;
                let mut out = Output::new();
                if let Value::Vector(samples) = v {
                    for s in samples {
                        let mut labels: Vec<(String, String)> = s
                            .labels
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect();
                        labels.sort();
                        out.insert(labels, s.v);
                    }
                }
                ours_out[gi].push(out);
            }
        }
    }
    let ours_hwm = vm_hwm_kb("self");
    let ours_cpu = cpu_s("self").map(|c| (c - ours_cpu0) / (plan.len() as f64 / GROUPS as f64));

    report(ReportIn {
        a,
        files: &files,
        prom: &prom_side,
        ours: &ours_side,
        prom_out: &prom_out,
        ours_out: &ours_out,
        check_slot: &check_slot,
        slots: &slots,
        skipped,
        hash_mismatch,
        version: &version,
        series,
        samples,
        setup: (gen_s, import_s, rw_s),
        rss: (prom_hwm, ours_hwm),
        prom_q,
        query_only: &query_only,
        polls: (polls, poll_s),
        cpu: (prom_cpu.map(|c| c / prom_cpu_intervals), ours_cpu),
        failures: (prom_failures, ours_failures),
    });
    Ok(())
}

struct ReportIn<'a> {
    a: &'a Args,
    files: &'a [GenFile],
    prom: &'a Side,
    ours: &'a Side,
    prom_out: &'a [Vec<Output>],
    ours_out: &'a [Vec<Output>],
    check_slot: &'a [i64],
    slots: &'a [Vec<i64>],
    skipped: usize,
    hash_mismatch: usize,
    version: &'a str,
    series: u64,
    samples: u64,
    setup: (f64, f64, f64),
    rss: (Option<u64>, Option<u64>),
    prom_q: [f64; 3],
    query_only: &'a [Vec<f64>],
    polls: (usize, f64),
    cpu: (Option<f64>, Option<f64>),
    failures: (f64, usize),
}

/// Per measured interval k (every group's k-th evaluation), the sum over groups of
/// `pick(group, slot)`; an interval where any group's figure was not observed is left out.
fn per_interval(
    slots: &[Vec<i64>],
    a: &Args,
    pick: &dyn Fn(usize, i64) -> Option<f64>,
) -> Vec<f64> {
    (a.warmup..a.warmup + a.intervals)
        .filter_map(|k| {
            slots
                .iter()
                .enumerate()
                .map(|(gi, g)| g.get(k).and_then(|&slot| pick(gi, slot)))
                .sum::<Option<f64>>()
        })
        .collect()
}

fn ms(x: f64) -> String {
    format!("{:.1}", x * 1000.0)
}

fn report(r: ReportIn<'_>) {
    let a = r.a;
    let prom_tot = per_interval(r.slots, a, &|gi, s| r.prom.groups[gi].get(&s).copied());
    // Ours over the same intervals as Prometheus's observed ones.
    let ours_tot = per_interval(r.slots, a, &|gi, s| {
        r.prom.groups[gi].get(&s)?;
        r.ours.groups[gi].get(&s).copied()
    });
    let (pm, p9) = (percentile(&prom_tot, 50.0), percentile(&prom_tot, 90.0));
    let (om, o9) = (percentile(&ours_tot, 50.0), percentile(&ours_tot, 90.0));
    let per_ratio: Vec<f64> = ours_tot.iter().zip(&prom_tot).map(|(o, p)| o / p).collect();
    let interval = a.interval_s as f64;
    println!(
        "## Rule evaluation: {} rules over {} hosts ({} series, {} samples), {}\n",
        GROUPS * PER_GROUP,
        a.hosts,
        r.series,
        r.samples,
        r.version
    );
    println!(
        "{GROUPS} groups × {PER_GROUP} rules (half recording), group interval {}s; {} measured intervals after {} warm-up; load {}\n",
        a.interval_s,
        a.intervals,
        a.warmup,
        loadavg()
    );
    println!("| all rules, one interval | Prometheus | ours | ours/Prometheus |");
    println!("|---|---:|---:|---:|");
    println!(
        "| median ms | {} | {} | **{:.2}** |",
        ms(pm),
        ms(om),
        om / pm
    );
    println!("| p90 ms | {} | {} | {:.2} |", ms(p9), ms(o9), o9 / p9);
    println!(
        "| median of per-interval ratios | | | {:.2} |",
        percentile(&per_ratio, 50.0)
    );
    println!(
        "| share of the {}s interval (median) | {:.2} % | {:.2} % | |",
        a.interval_s,
        100.0 * pm / interval,
        100.0 * om / interval
    );
    println!(
        "| share of a 1m interval (median) | {:.3} % | {:.3} % | |",
        100.0 * pm / 60.0,
        100.0 * om / 60.0
    );
    let kb = |x: Option<u64>| x.map_or("?".into(), |k| format!("{:.0}", k as f64 / 1024.0));
    println!(
        "| peak RSS during evaluation, MiB | {} | {} | |",
        kb(r.rss.0),
        kb(r.rss.1)
    );
    let cpu = |x: Option<f64>| x.map_or("?".into(), |c| format!("{:.0}", c * 1000.0));
    println!(
        "| process CPU ms per interval (all evaluations; Prometheus's includes serving the polls) | {} | {} | {} |",
        cpu(r.cpu.0),
        cpu(r.cpu.1),
        match r.cpu {
            (Some(p), Some(o)) => format!("{:.2}", o / p),
            _ => "?".into(),
        }
    );
    println!(
        "| failed rule evaluations | {} | {} | |",
        r.failures.0, r.failures.1
    );
    println!(
        "\n{} of {} measured intervals with every group's Prometheus time observed; {} evaluations Prometheus skipped; {} of its evaluation times off our computed slots.",
        prom_tot.len(),
        a.intervals,
        r.skipped,
        r.hash_mismatch
    );
    println!(
        "{} polls of /api/v1/rules, {:.1} ms each on average (client side: what serving them costs Prometheus at most){}.",
        r.polls.0,
        r.polls.1 * 1000.0 / r.polls.0.max(1) as f64,
        a.chunk_max_samples
            .map(|n| format!("; our Db with chunk_max_samples = {n}"))
            .unwrap_or_default()
    );
    println!(
        "Per interval, ms (Prometheus / ours): {}",
        prom_tot
            .iter()
            .zip(&ours_tot)
            .map(|(p, o)| format!("{}/{}", ms(*p), ms(*o)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "Prometheus's own rule summary (prometheus_rule_evaluation_duration_seconds, all rules): p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms",
        r.prom_q[0] * 1e3,
        r.prom_q[1] * 1e3,
        r.prom_q[2] * 1e3
    );

    // Per kind: median over intervals of the kind's summed rule times.
    // "PromQL only": each rule's expression evaluated once more at the group's last
    // measured evaluation time, without the rule around it (appends, alert state,
    // templates): one interval's worth, a single sample per rule.
    let mut kinds: BTreeMap<&str, Vec<(usize, usize)>> = BTreeMap::new();
    for (gi, f) in r.files.iter().enumerate() {
        for (ri, rule) in f.rules.iter().enumerate() {
            kinds.entry(rule.kind).or_default().push((gi, ri));
        }
    }
    println!("\n| rule kind | rules | Prometheus ms/interval | ours ms/interval | ours/Prometheus | ours µs/rule | ours PromQL only, ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (kind, members) in &kinds {
        let sum = |side: &Side| {
            let v = per_interval(r.slots, a, &|gi, slot| {
                members
                    .iter()
                    .filter(|(g, _)| *g == gi)
                    .map(|&(g, ri)| {
                        r.prom.rules[g][ri].get(&slot)?;
                        side.rules[g][ri].get(&slot).map(|x| x.0)
                    })
                    .sum::<Option<f64>>()
            });
            percentile(&v, 50.0)
        };
        let (p, o) = (sum(r.prom), sum(r.ours));
        let q: f64 = members.iter().map(|&(g, ri)| r.query_only[g][ri]).sum();
        println!(
            "| {kind} | {} | {} | {} | {:.2} | {:.0} | {} |",
            members.len(),
            ms(p),
            ms(o),
            o / p,
            o * 1e6 / members.len() as f64,
            ms(q)
        );
    }

    // Equal work.
    let (mut same_rules, mut rec_rules, mut series, mut max_rel) = (0, 0, 0usize, 0.0f64);
    let mut diffs = Vec::new();
    for gi in 0..GROUPS {
        let recs = r.files[gi].rules.iter().filter(|x| x.recording);
        for (i, rule) in recs.enumerate() {
            rec_rules += 1;
            let (Some(p), Some(o)) = (r.prom_out[gi].get(i), r.ours_out[gi].get(i)) else {
                continue;
            };
            let mut same = p.len() == o.len();
            for (labels, pv) in p {
                match o.get(labels) {
                    Some(ov) => {
                        let rel = if pv == ov || (pv.is_nan() && ov.is_nan()) {
                            0.0
                        } else {
                            (pv - ov).abs() / pv.abs().max(ov.abs()).max(1e-300)
                        };
                        max_rel = max_rel.max(rel);
                        if rel > 1e-9 {
                            same = false;
                        }
                    }
                    None => same = false,
                }
            }
            series += p.len();
            if same {
                same_rules += 1;
            } else if diffs.len() < 5 {
                diffs.push(format!("{} ({} vs {} series)", rule.name, p.len(), o.len()));
            }
        }
    }
    let (mut alert_same, mut alert_rules, mut prom_alerts, mut ours_alerts) = (0, 0, 0, 0);
    for gi in 0..GROUPS {
        for (ri, rule) in r.files[gi].rules.iter().enumerate() {
            if rule.recording {
                continue;
            }
            alert_rules += 1;
            let p = r.prom.rules[gi][ri].get(&r.check_slot[gi]).map(|x| x.1);
            let o = r.ours.rules[gi][ri].get(&r.check_slot[gi]).map(|x| x.1);
            prom_alerts += p.unwrap_or(0);
            ours_alerts += o.unwrap_or(0);
            if p.is_some() && p == o {
                alert_same += 1;
            }
        }
    }
    println!(
        "\nSame work, at each group's last measured evaluation: {same_rules}/{rec_rules} recording rules give the same series and values ({series} series, max relative difference {max_rel:.1e}){}; {alert_same}/{alert_rules} alerting rules have the same number of active alerts ({prom_alerts} in Prometheus, {ours_alerts} ours).",
        if diffs.is_empty() {
            String::new()
        } else {
            format!("; differing: {}", diffs.join(", "))
        }
    );
    println!(
        "Setup: gen.py {:.1} s; our import {:.1} s; Prometheus remote-write load {:.1} s.",
        r.setup.0, r.setup.1, r.setup.2
    );
}
