//! The built-in web UI (`ui/`): its unit tests (node's test runner), the embedded build
//! matching its sources, and the pages end to end in a real browser (Debian's Chromium
//! driven by playwright-core, `ui/e2e/run.mjs`) against a server with a demo fleet, a
//! firing alert, a down target and basic auth; and the graph page in Firefox (Debian's
//! firefox-esr driven by puppeteer-core, `ui/e2e/firefox.mjs`).
//!
//! What these need, and how `.ci/run` installs it: Node.js (on the machine), the UI's
//! npm packages (`npm ci --prefix ui`), Chromium and Firefox ESR (`apt-get install
//! chromium firefox-esr`). A missing
//! one fails the test with that step; none passes without running.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use server_common::{free_port, require_tool, Server};

const NODE_INSTALL: &str = "install Node.js 18 or later and npm (Debian: `apt-get install -y \
    nodejs npm`)";
const NPM_CI: &str = "install the UI's npm packages with `npm ci --prefix ui` (as .ci/run does)";
const CHROMIUM_INSTALL: &str = "install Debian's Chromium with `apt-get install -y \
    --no-install-recommends chromium` (as root; .ci/run does)";
const FIREFOX_INSTALL: &str = "install Debian's Firefox ESR with `apt-get install -y \
    --no-install-recommends firefox-esr` (as root; .ci/run does)";

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui")
}

fn require_node_modules(package: &str) {
    let dir = ui_dir().join("node_modules").join(package);
    assert!(dir.is_dir(), "{} is missing: {NPM_CI}", dir.display());
}

fn run_node(args: &[&str], envs: &[(&str, String)]) -> (bool, String) {
    let node = require_tool("node", NODE_INSTALL);
    let out = Command::new(node)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(ui_dir())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The UI's own logic: URL state, step and time calculations, value formatting, the
/// PromQL tokenizer and completion contexts, series alignment and stacking.
#[test]
fn ui_unit_tests_pass() {
    let (ok, out) = run_node(&["--test", "test/"], &[]);
    assert!(ok, "node --test failed:\n{out}");
    let passed = out
        .lines()
        .find_map(|l| l.strip_prefix("# pass "))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    assert!(
        passed >= 20,
        "expected the UI's unit tests to run, got:\n{out}"
    );
}

/// `ui/dist/` (what tsdb-server embeds) is exactly what `npm run build` makes of the
/// sources, so an edited source without a rebuild fails here.
#[test]
fn embedded_ui_is_built_from_its_sources() {
    require_node_modules("esbuild");
    require_node_modules("uplot");
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().display().to_string();
    let (ok, out) = run_node(&["build.mjs", "--outdir", &out_dir], &[]);
    assert!(ok, "the UI build failed:\n{out}");
    for file in ["index.html", "app.js", "app.css"] {
        let built = std::fs::read(tmp.path().join(file)).unwrap();
        let embedded = std::fs::read(ui_dir().join("dist").join(file)).unwrap();
        assert!(
            built == embedded,
            "ui/dist/{file} is not the build of ui/src: run `npm run build --prefix ui` and \
             commit ui/dist"
        );
    }
}

/// Where the browser test saves a screenshot of each page (a CI artifact).
fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("ui-screenshots")
}

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// Hosts of the demo fleet: enough for more than 1,000 series under `{job="node"}`, so
/// the chart's series limit shows.
const HOSTS: u32 = 64;

#[test]
fn the_ui_works_in_a_real_browser() {
    let chromium = require_tool("chromium", CHROMIUM_INSTALL);
    require_node_modules("playwright-core");
    let tmp = tempfile::tempdir().unwrap();
    // a port nobody listens on: its target is down
    let down = free_port();
    std::fs::write(
        tmp.path().join("tsdb.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: gone\n    static_configs: [{{targets: ['127.0.0.1:{down}']}}]\nrule_files: [rules.yml]\nalertmanager:\n  config_file: alertmanager.yml\n"
        ),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("rules.yml"),
        r#"groups:
  - name: fleet
    rules:
      - alert: TargetDown
        expr: up == 0
        labels: {severity: page}
        annotations: {summary: "{{ $labels.instance }} of {{ $labels.job }} is down"}
      - alert: HighLoad
        expr: node_load1 > 1000
      - record: pool:node_load1:avg
        expr: avg by (pool) (node_load1)
"#,
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("alertmanager.yml"),
        format!(
            "route:\n  receiver: hook\n  group_wait: 1h\nreceivers:\n  - name: hook\n    webhook_configs: [{{url: 'http://127.0.0.1:{down}/hook'}}]\n"
        ),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("auth.yml"),
        "read:\n  basic_auth: {viewer: view-pw}\nadmin:\n  basic_auth: {ops: ops-pw}\n",
    )
    .unwrap();
    let config = tmp.path().join("tsdb.yml").display().to_string();
    let auth = tmp.path().join("auth.yml").display().to_string();
    let hosts = HOSTS.to_string();
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            "--config",
            &config,
            "--auth-file",
            &auth,
            "--self-scrape-interval",
            "1s",
            "--demo-fleet",
            &hosts,
            "--demo-fleet-history",
            "2h",
        ],
    );
    let viewer = basic("viewer", "view-pw");
    let headers = [("Authorization", viewer.as_str())];
    // ready once the fleet's history is written; then wait for the alert to fire
    let t0 = Instant::now();
    loop {
        let r = server.get_with("/api/v1/alerts", &headers);
        if r.status == 200 && r.body.contains(r#""state":"firing""#) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "TargetDown did not fire: {} {}",
            r.status,
            r.body
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let shots = screenshot_dir();
    let (ok, out) = run_node(
        &["e2e/run.mjs"],
        &[
            ("TSDB_URL", server.url("")),
            ("TSDB_READ_USER", "viewer".into()),
            ("TSDB_READ_PASS", "view-pw".into()),
            ("TSDB_ADMIN_USER", "ops".into()),
            ("TSDB_ADMIN_PASS", "ops-pw".into()),
            ("TSDB_SCREENSHOTS", shots.display().to_string()),
            ("TSDB_FLEET_HOSTS", hosts.clone()),
            ("CHROMIUM", chromium),
        ],
    );
    println!("{out}");
    assert!(ok, "the browser test failed:\n{out}");
    assert!(out.contains("all browser steps passed"), "{out}");
    for page in [
        "graph",
        "alerts",
        "alerts-silence",
        "rules",
        "targets",
        "tsdb-status",
        "config",
        "flags",
        "status",
    ] {
        let png = shots.join(format!("{page}.png"));
        let bytes = std::fs::read(&png).unwrap_or_default();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 5_000,
            "no screenshot at {}",
            png.display()
        );
    }
}

/// The TSDB status page's segments (`/api/v1/status/storage`, ours): summed by
/// resolution and tier, once the head is persisted.
#[test]
fn tsdb_status_sums_segments_by_resolution() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            "--self-scrape-interval",
            "0",
            "--demo-fleet",
            "2",
            "--demo-fleet-history",
            "3h",
        ],
    );
    server.wait_ready();
    let before = server.get("/api/v1/status/storage").json();
    let storage = &before["data"];
    assert_eq!(storage["segments"], serde_json::json!([]), "{before}");
    assert!(storage["walBytes"].as_u64().unwrap() > 0, "{before}");
    let r = server.post_form("/api/v1/admin/tsdb/flush", "");
    assert_eq!(r.status, 200, "{}", r.body);
    let after = server.get("/api/v1/status/storage").json();
    let segments = after["data"]["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 1, "only raw, hot segments: {after}");
    let raw = &segments[0];
    assert_eq!(raw["resolution"], "raw");
    assert_eq!(raw["tier"], "hot");
    assert!(raw["count"].as_u64().unwrap() >= 1);
    assert!(raw["bytes"].as_u64().unwrap() > 0);
    // every sample the fleet wrote is in a segment now (2 hosts x 17 series, 3 h at 15 s)
    let samples = raw["samples"].as_u64().unwrap();
    assert!(
        (2 * 17 * 720..=2 * 17 * 730).contains(&samples),
        "{samples}"
    );
    assert!(raw["minTime"].as_i64().unwrap() < raw["maxTime"].as_i64().unwrap());
}

/// The second browser engine: the graph page draws, hovers and tabulates in Firefox, and
/// the other pages load without a script error (no auth: puppeteer's Firefox driver
/// cannot answer a basic-auth challenge; Chromium's walk-through covers auth).
#[test]
fn the_graph_page_works_in_firefox() {
    let firefox = require_tool("firefox-esr", FIREFOX_INSTALL);
    require_node_modules("puppeteer-core");
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &["--demo-fleet", "6", "--demo-fleet-history", "1h"],
    );
    server.wait_ready();
    let (ok, out) = run_node(
        &["e2e/firefox.mjs"],
        &[
            ("TSDB_URL", server.url("")),
            ("TSDB_SCREENSHOTS", screenshot_dir().display().to_string()),
            ("TSDB_FLEET_HOSTS", "6".into()),
            ("FIREFOX", firefox),
        ],
    );
    println!("{out}");
    assert!(ok && out.contains("all steps passed"), "Firefox:\n{out}");
}
