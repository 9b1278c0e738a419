//! The real OpenTelemetry Python SDK (`opentelemetry-sdk` with
//! `opentelemetry-exporter-otlp-proto-http`) exports metrics over OTLP/HTTP to a tiny
//! HTTP listener in this test that hands each request to `Ingester::otlp`; then the
//! series are read back from the database.
//!
//! The Python packages are installed into a virtual environment under the target
//! directory on first run (`python3 -m venv` + `pip install`, from PyPI); if that is not
//! possible the test fails naming the step. It never passes without running the SDK.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{fixture, metric};
use tsdb_ingest::{IngestLimits, Ingester};

const PACKAGES: [&str; 2] = [
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-http",
];

/// The venv's python, with the SDK importable: installed if missing.
fn python_with_sdk() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("otlp-python-venv");
    let python = venv.join("bin/python");
    let check = || {
        python.exists()
            && Command::new(&python)
                .args(["-c", "import opentelemetry.sdk.metrics, opentelemetry.exporter.otlp.proto.http.metric_exporter"])
                .status()
                .is_ok_and(|s| s.success())
    };
    if check() {
        return python;
    }
    let run = |cmd: &mut Command, step: &str| {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("{step}: cannot run {cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{step} failed ({cmd:?}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "creating the Python venv for the OTLP SDK test (python3 -m venv)",
    );
    run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(PACKAGES),
        "installing the OpenTelemetry Python SDK from PyPI (pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http)",
    );
    assert!(
        check(),
        "the OpenTelemetry SDK is installed but does not import"
    );
    python
}

/// Serves HTTP/1.1 on `listener`: every POST to `/v1/metrics` goes to the ingester;
/// records the status codes answered.
fn serve(listener: TcpListener, ingester: Ingester, statuses: Arc<Mutex<Vec<u16>>>) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (ingester, statuses) = (ingester.clone(), statuses.clone());
            std::thread::spawn(move || {
                let _ = connection(stream, &ingester, &statuses);
            });
        }
    });
}

fn connection(
    stream: TcpStream,
    ingester: &Ingester,
    statuses: &Mutex<Vec<u16>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let (mut length, mut content_type, mut close) = (0usize, None, false);
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    "content-type" => content_type = Some(v.trim().to_owned()),
                    "connection" => close = v.trim().eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; length.min(64 << 20)];
        reader.read_exact(&mut body)?;
        let response = if request_line.starts_with("POST /v1/metrics ") {
            ingester.otlp(&body, content_type.as_deref()).response()
        } else {
            tsdb_ingest::Response {
                status: 404,
                content_type: None,
                headers: Vec::new(),
                body: Vec::new(),
            }
        };
        if let Ok(mut s) = statuses.lock() {
            s.push(response.status);
        }
        let mut head = format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
            response.status,
            response.body.len()
        );
        if let Some(ct) = response.content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        head.push_str("\r\n");
        writer.write_all(head.as_bytes())?;
        writer.write_all(&response.body)?;
        writer.flush()?;
        if close {
            return Ok(());
        }
    }
}

const SCRIPT: &str = r#"
import sys
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Observation

exporter = OTLPMetricExporter(endpoint=sys.argv[1], timeout=10)
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
resource = Resource.create({
    "service.name": "checkout",
    "service.namespace": "shop",
    "service.instance.id": "i-1",
    "deployment.environment": "test",
})
provider = MeterProvider(resource=resource, metric_readers=[reader])
meter = provider.get_meter("tsdb-ingest-test", "1.0")

orders = meter.create_counter("orders", unit="{order}", description="Orders placed.")
orders.add(2, {"payment.method": "card"})
orders.add(3, {"payment.method": "card"})
queue = meter.create_up_down_counter("queue.size")
queue.add(5)
queue.add(-2)
latency = meter.create_histogram("request.duration", unit="s", description="Latency.")
for v in (0.2, 0.7, 3.0):
    latency.record(v, {"route": "/pay"})
meter.create_observable_gauge("temperature", callbacks=[lambda options: [Observation(21.5)]], unit="Cel")

ok = provider.force_flush(timeout_millis=20_000)
provider.shutdown()
print("flushed" if ok else "flush failed")
sys.exit(0 if ok else 1)
"#;

#[test]
fn python_sdk_exports_are_translated_as_prometheus_does() {
    let python = python_with_sdk();
    let f = fixture(IngestLimits::default());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let statuses = Arc::new(Mutex::new(Vec::new()));
    serve(listener, f.ingester.clone(), statuses.clone());

    let out = Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(format!("http://127.0.0.1:{port}/v1/metrics"))
        .env_remove("OTEL_EXPORTER_OTLP_COMPRESSION")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the SDK's export failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = statuses.lock().unwrap().clone();
    assert!(
        !seen.is_empty() && seen.iter().all(|&s| s == 200),
        "statuses answered: {seen:?}"
    );

    let ident = r#"instance="i-1", job="shop/checkout""#;
    let orders = metric(&f.db, "orders_total");
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(
        orders[0].0,
        format!(r#"orders_total{{{ident}, payment_method="card"}}"#)
    );
    assert_eq!(orders[0].1.last().unwrap().1, 5.0);
    assert_eq!(
        metric(&f.db, "queue_size")[0].1.last().unwrap().1,
        3.0,
        "up-down counter: a gauge"
    );
    let count = metric(&f.db, "request_duration_seconds_count");
    assert_eq!(
        count[0].0,
        format!(r#"request_duration_seconds_count{{{ident}, route="/pay"}}"#)
    );
    assert_eq!(count[0].1.last().unwrap().1, 3.0);
    assert_eq!(
        metric(&f.db, "request_duration_seconds_sum")[0]
            .1
            .last()
            .unwrap()
            .1,
        3.9
    );
    let buckets = metric(&f.db, "request_duration_seconds_bucket");
    let le = |b: &str| {
        buckets
            .iter()
            .find(|(l, _)| l.contains(&format!("le=\"{b}\"")))
            .map(|(_, s)| s.last().unwrap().1)
    };
    // the SDK's default boundaries: 0, 5, 10, 25, 50, 75, 100, 250, ...
    assert_eq!(
        (le("0"), le("5"), le("+Inf")),
        (Some(0.0), Some(3.0), Some(3.0))
    );
    assert_eq!(
        metric(&f.db, "temperature_celsius")[0].1.last().unwrap().1,
        21.5
    );
    let info = metric(&f.db, "target_info");
    assert_eq!(info.len(), 1);
    assert!(
        info[0].0.contains(r#"deployment_environment="test""#),
        "{}",
        info[0].0
    );
    assert!(
        info[0].0.contains(r#"telemetry_sdk_language="python""#),
        "{}",
        info[0].0
    );
    let md = f.ingester.metadata().query(Some("orders_total"), 0, 0);
    assert_eq!(md[0].1[0].help, "Orders placed.");
}
