//! `amtool` 0.25 against our v2 API: alerts listed, silences added, queried and expired,
//! config and cluster shown. The API functions are served by a minimal HTTP/1.1 server on
//! 127.0.0.1 in this test (the real server is `tsdb-server`'s), one request per connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use parking_lot::Mutex;
use tsdb_alert::api;
use tsdb_alert::config::Config;
use tsdb_alert::manager::{system_now_ms, Manager, ManagerOptions};

fn amtool_path() -> PathBuf {
    for p in ["/usr/bin/amtool", "/usr/local/bin/amtool"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "amtool (Alertmanager 0.25) is missing: install it with \
         `apt-get install prometheus-alertmanager`"
    );
}

const CFG: &str = "
route:
  receiver: team
  group_by: [alertname]
receivers:
- name: team
";

fn handle(stream: TcpStream, m: &Mutex<Manager>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let now = system_now_ms();
    let reply = {
        let mut m = m.lock();
        match (method.as_str(), path) {
            ("GET", "/api/v2/status") => api::get_status(&m, now),
            ("GET", "/api/v2/receivers") => api::get_receivers(&m),
            ("GET", "/api/v2/alerts") => api::get_alerts(&m, &query, now),
            ("POST", "/api/v2/alerts") => api::post_alerts(&mut m, &body, now),
            ("GET", "/api/v2/alerts/groups") => api::get_alert_groups(&m, &query, now),
            ("GET", "/api/v2/silences") => api::get_silences(&m, &query, now),
            ("POST", "/api/v2/silences") => api::post_silences(&mut m, &body, now),
            ("GET", p) if p.starts_with("/api/v2/silence/") => {
                api::get_silence(&m, &p["/api/v2/silence/".len()..], now)
            }
            ("DELETE", p) if p.starts_with("/api/v2/silence/") => {
                api::delete_silence(&mut m, &p["/api/v2/silence/".len()..], now)
            }
            _ => api::Reply {
                status: 404,
                body: String::new(),
            },
        }
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        reply.status,
        reply.body.len(),
        reply.body
    )?;
    out.flush()
}

fn serve(m: Arc<Mutex<Manager>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = handle(stream, &m);
        }
    });
    format!("http://{addr}/")
}

fn amtool(url: &str, args: &[&str]) -> String {
    let out = Command::new(amtool_path())
        .arg(format!("--alertmanager.url={url}"))
        .arg("--no-version-check")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running amtool: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "amtool {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn amtool_lists_silences_and_expires() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = Arc::new(
        redb::Database::create(dir.path().join("am.redb")).unwrap_or_else(|e| panic!("{e}")),
    );
    let cfg = Config::parse(CFG).unwrap_or_else(|e| panic!("{e}"));
    let m = Manager::open(cfg, db, ManagerOptions::default(), system_now_ms())
        .unwrap_or_else(|e| panic!("{e}"));
    let url = serve(Arc::new(Mutex::new(m)));

    // amtool posts alerts too (`amtool alert add`).
    amtool(
        &url,
        &[
            "alert",
            "add",
            "alertname=DiskFull",
            "instance=db1",
            "--annotation=summary=disk",
        ],
    );
    amtool(
        &url,
        &["alert", "add", "alertname=HighLoad", "instance=web1"],
    );
    let listed = amtool(&url, &["alert", "query"]);
    assert!(
        listed.contains("DiskFull") && listed.contains("HighLoad"),
        "{listed}"
    );
    let json = amtool(
        &url,
        &["-o", "json", "alert", "query", "alertname=DiskFull"],
    );
    assert!(
        json.contains("\"instance\":\"db1\"") && !json.contains("HighLoad"),
        "{json}"
    );

    // Silence one: it leaves the default (active) listing, shows with -s.
    let id = amtool(
        &url,
        &[
            "silence",
            "add",
            "alertname=DiskFull",
            "--comment=maintenance",
            "--duration=1h",
            "--author=ops",
        ],
    );
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 36, "{id}");
    let active = amtool(&url, &["alert", "query"]);
    assert!(
        !active.contains("DiskFull") && active.contains("HighLoad"),
        "{active}"
    );
    let silenced = amtool(&url, &["alert", "query", "-s"]);
    assert!(silenced.contains("DiskFull"), "{silenced}");
    let ids = amtool(&url, &["silence", "query", "-q"]);
    assert_eq!(ids.trim(), id);
    let extended = amtool(&url, &["silence", "query", "alertname=DiskFull"]);
    assert!(
        extended.contains("maintenance") && extended.contains("ops"),
        "{extended}"
    );

    // Expire it: gone from the active silences, the alert active again.
    amtool(&url, &["silence", "expire", &id]);
    assert_eq!(amtool(&url, &["silence", "query", "-q"]).trim(), "");
    let expired = amtool(&url, &["silence", "query", "--expired", "-q"]);
    assert_eq!(expired.trim(), id);
    assert!(amtool(&url, &["alert", "query"]).contains("DiskFull"));

    // Status readers.
    let config = amtool(&url, &["config", "show"]);
    assert!(config.contains("receiver: team"), "{config}");
    let cluster = amtool(&url, &["cluster", "show"]);
    assert!(cluster.contains("disabled"), "{cluster}");
}
