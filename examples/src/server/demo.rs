//! The demo fleet (`--demo-fleet <HOSTS>`): synthetic node-exporter-like metrics for a
//! fleet of machines in pools and regions, written into the server's own database so a
//! newcomer (and the browser and Grafana tests) can explore fleet data without setting
//! anything up.
//!
//! Every value is a pure function of (host, series, 15 s step): the same flags give the
//! same data on every machine, and a restart can fill exactly the steps it missed.
//! Counters are closed-form integrals of a rate with a daily cycle (each region peaks at
//! its own hour of the day), plus a per-step jitter smaller than the smallest increment,
//! so they only go up; gauges follow the same cycle with bounded noise. The noise is a
//! hash of (host, series, step) (splitmix64), not a random generator, because a
//! generator cannot be read at an arbitrary step without replaying it from the start.
//!
//! At start, before the server reports ready, [`backfill`] writes from
//! `max(now - history, the host's newest demo sample + 15 s)` to now, time-ordered in
//! batches through [`Db::append_batch`] (the path pushes and scrapes take), so the
//! engine sees in-order data as from a live fleet; doing it before self-monitoring,
//! scraping and rules write their first samples at "now" keeps the old steps in order
//! rather than out of order. Then [`run`] appends each new step as the clock reaches it
//! until shutdown.

use std::f64::consts::TAU;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tsdb_core::observe::refusal_reason;
use tsdb_core::{Batch, BatchSeries, Db, SampleError, SeriesRef};
use tsdb_index::{Labels, Matcher};
use tsdb_ingest::{MetricMetadata, MetricType};

use super::query_api::now_ms;
use super::state::AppState;

/// The demo fleet's sample interval, as a node exporter scraped every 15 s.
pub const STEP_MS: i64 = 15_000;

/// The `job` label of every demo series.
pub const JOB: &str = "node";

/// Regions and the UTC hour at which each one's daily load peaks.
pub const REGIONS: [(&str, f64); 3] = [("eu-west", 14.0), ("us-east", 19.0), ("ap-south", 8.0)];

/// The origin of the counters (2020-01-01T00:00:00Z, a midnight, so the day's phase is
/// the UTC hour): as if every host booted then.
const EPOCH_MS: i64 = 1_577_836_800_000;

const DAY_S: f64 = 86_400.0;
const GIB: f64 = 1_073_741_824.0;

/// Samples per append: large enough that the write-ahead log's fsync is amortised, small
/// enough to bound memory (about 2 MB per batch).
const BATCH_SAMPLES: usize = 100_000;

/// The series every host has, in the order [`Fleet::values`] fills them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Series {
    /// `node_cpu_seconds_total{cpu="0",mode="user"}`.
    CpuUser,
    /// `mode="system"`.
    CpuSystem,
    /// `mode="iowait"`.
    CpuIowait,
    /// `mode="idle"`.
    CpuIdle,
    /// `node_load1`.
    Load1,
    /// `node_memory_MemTotal_bytes`.
    MemTotal,
    /// `node_memory_MemAvailable_bytes`.
    MemAvailable,
    /// `node_filesystem_size_bytes{mountpoint="/"}`.
    FsSize,
    /// `node_filesystem_avail_bytes{mountpoint="/"}`.
    FsAvail,
    /// `node_disk_read_bytes_total{device="sda"}`.
    DiskRead,
    /// `node_disk_written_bytes_total{device="sda"}`.
    DiskWritten,
    /// `node_network_receive_bytes_total{device="eth0"}`.
    NetReceive,
    /// `node_network_transmit_bytes_total{device="eth0"}`.
    NetTransmit,
    /// `http_requests_total{code="200"}`.
    Http200,
    /// `http_requests_total{code="500"}`.
    Http500,
    /// `app_queue_depth`.
    QueueDepth,
    /// `up`.
    Up,
}

/// Every series of a host, in order.
pub const SERIES: [Series; 17] = [
    Series::CpuUser,
    Series::CpuSystem,
    Series::CpuIowait,
    Series::CpuIdle,
    Series::Load1,
    Series::MemTotal,
    Series::MemAvailable,
    Series::FsSize,
    Series::FsAvail,
    Series::DiskRead,
    Series::DiskWritten,
    Series::NetReceive,
    Series::NetTransmit,
    Series::Http200,
    Series::Http500,
    Series::QueueDepth,
    Series::Up,
];

/// Series per host.
pub const PER_HOST: usize = SERIES.len();

impl Series {
    /// Metric name and the labels beyond the host's.
    pub fn name_and_labels(self) -> (&'static str, &'static [(&'static str, &'static str)]) {
        const CPU: &str = "node_cpu_seconds_total";
        match self {
            Series::CpuUser => (CPU, &[("cpu", "0"), ("mode", "user")]),
            Series::CpuSystem => (CPU, &[("cpu", "0"), ("mode", "system")]),
            Series::CpuIowait => (CPU, &[("cpu", "0"), ("mode", "iowait")]),
            Series::CpuIdle => (CPU, &[("cpu", "0"), ("mode", "idle")]),
            Series::Load1 => ("node_load1", &[]),
            Series::MemTotal => ("node_memory_MemTotal_bytes", &[]),
            Series::MemAvailable => ("node_memory_MemAvailable_bytes", &[]),
            Series::FsSize => (
                "node_filesystem_size_bytes",
                &[
                    ("device", "/dev/sda1"),
                    ("fstype", "ext4"),
                    ("mountpoint", "/"),
                ],
            ),
            Series::FsAvail => (
                "node_filesystem_avail_bytes",
                &[
                    ("device", "/dev/sda1"),
                    ("fstype", "ext4"),
                    ("mountpoint", "/"),
                ],
            ),
            Series::DiskRead => ("node_disk_read_bytes_total", &[("device", "sda")]),
            Series::DiskWritten => ("node_disk_written_bytes_total", &[("device", "sda")]),
            Series::NetReceive => ("node_network_receive_bytes_total", &[("device", "eth0")]),
            Series::NetTransmit => ("node_network_transmit_bytes_total", &[("device", "eth0")]),
            Series::Http200 => ("http_requests_total", &[("code", "200")]),
            Series::Http500 => ("http_requests_total", &[("code", "500")]),
            Series::QueueDepth => ("app_queue_depth", &[]),
            Series::Up => ("up", &[]),
        }
    }

    /// Whether the series is a counter (only goes up).
    pub fn is_counter(self) -> bool {
        matches!(
            self,
            Series::CpuUser
                | Series::CpuSystem
                | Series::CpuIowait
                | Series::CpuIdle
                | Series::DiskRead
                | Series::DiskWritten
                | Series::NetReceive
                | Series::NetTransmit
                | Series::Http200
                | Series::Http500
        )
    }
}

/// `# TYPE`, `# HELP` and unit of the demo families, for `/api/v1/metadata` (node
/// exporter's own help texts where it has the metric).
pub fn metadata() -> Vec<MetricMetadata> {
    let m = |metric: &str, metric_type, help: &str, unit: &str| MetricMetadata {
        metric: metric.to_owned(),
        metric_type,
        help: help.to_owned(),
        unit: unit.to_owned(),
    };
    use MetricType::{Counter, Gauge};
    vec![
        m(
            "node_cpu_seconds_total",
            Counter,
            "Seconds the CPUs spent in each mode.",
            "seconds",
        ),
        m("node_load1", Gauge, "1m load average.", ""),
        m(
            "node_memory_MemTotal_bytes",
            Gauge,
            "Memory information field MemTotal_bytes.",
            "bytes",
        ),
        m(
            "node_memory_MemAvailable_bytes",
            Gauge,
            "Memory information field MemAvailable_bytes.",
            "bytes",
        ),
        m(
            "node_filesystem_size_bytes",
            Gauge,
            "Filesystem size in bytes.",
            "bytes",
        ),
        m(
            "node_filesystem_avail_bytes",
            Gauge,
            "Filesystem space available to non-root users in bytes.",
            "bytes",
        ),
        m(
            "node_disk_read_bytes_total",
            Counter,
            "The total number of bytes read successfully.",
            "bytes",
        ),
        m(
            "node_disk_written_bytes_total",
            Counter,
            "The total number of bytes written successfully.",
            "bytes",
        ),
        m(
            "node_network_receive_bytes_total",
            Counter,
            "Network device statistic receive_bytes.",
            "bytes",
        ),
        m(
            "node_network_transmit_bytes_total",
            Counter,
            "Network device statistic transmit_bytes.",
            "bytes",
        ),
        m(
            "http_requests_total",
            Counter,
            "HTTP requests served by the host's application, by status code (demo fleet).",
            "",
        ),
        m(
            "app_queue_depth",
            Gauge,
            "Jobs waiting in the host's work queue (demo fleet).",
            "",
        ),
        m(
            "up",
            Gauge,
            "1 if the target was scraped successfully (demo fleet: always 1).",
            "",
        ),
    ]
}

/// A counter's rate per second: `a + b * cycle`, `cycle` in [0, 1] peaking at the
/// region's hour. `a > 0` and `a + b > 0`, so the rate is positive.
#[derive(Clone, Copy, Debug)]
struct Rate {
    a: f64,
    b: f64,
}

impl Rate {
    /// A rate between `lo` (at the daily trough) and `hi` (at the peak).
    fn between(lo: f64, hi: f64) -> Rate {
        Rate { a: lo, b: hi - lo }
    }

    fn min(self) -> f64 {
        self.a.min(self.a + self.b)
    }

    /// The integral of the rate from the epoch: `tau` seconds since it, `phase` the
    /// day's angle at `tau` and `phase0` at the epoch.
    fn integral(self, tau: f64, sin_phase: f64, sin_phase0: f64) -> f64 {
        // ∫ a + b (1 + cos φ(t)) / 2 dt, with φ(t) = 2π t / day - peak
        (self.a + self.b / 2.0) * tau + self.b / 2.0 * DAY_S / TAU * (sin_phase - sin_phase0)
    }
}

/// One machine of the fleet and the parameters its series are drawn with.
#[derive(Clone, Debug)]
pub struct Host {
    /// `pool-03-host-07:9100`.
    pub instance: String,
    /// `pool-03`.
    pub pool: String,
    /// One of [`REGIONS`].
    pub region: &'static str,
    index: u64,
    peak_hour: f64,
    busy_lo: f64,
    busy_hi: f64,
    mem_total: f64,
    mem_lo: f64,
    mem_amp: f64,
    fs_size: f64,
    fs_period_s: f64,
    fs_offset_s: f64,
    disk_read: Rate,
    disk_written: Rate,
    net_receive: Rate,
    net_transmit: Rate,
    requests: Rate,
    error_ratio: f64,
    queue_scale: f64,
}

/// The fleet: `hosts` machines over `ceil(sqrt(hosts))` pools, pools over the regions.
#[derive(Clone, Debug)]
pub struct Fleet {
    hosts: Vec<Host>,
}

/// splitmix64's finaliser: a well-mixed 64-bit hash of `x`.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A uniform number in [0, 1) drawn from the hash of the three keys.
fn unit(a: u64, b: u64, c: u64) -> f64 {
    let h = mix(mix(mix(a) ^ b) ^ c);
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A host parameter: uniform in [lo, hi), fixed per host and purpose.
fn param(host: u64, purpose: u64, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * unit(0xF1EE7, host, purpose)
}

impl Fleet {
    /// The fleet of `hosts` machines (the same every time).
    pub fn new(hosts: usize) -> Fleet {
        let pools = (hosts as f64).sqrt().ceil().max(1.0) as usize;
        let hosts = (0..hosts)
            .map(|h| {
                let pool = h % pools;
                let (region, peak_hour) = REGIONS[pool % REGIONS.len()];
                let i = h as u64;
                let p = |purpose, lo, hi| param(i, purpose, lo, hi);
                let pick = |purpose, choices: &[f64]| {
                    let n = choices.len();
                    choices[((unit(0xC401CE, i, purpose) * n as f64) as usize).min(n - 1)]
                };
                let busy_lo = p(1, 0.03, 0.15);
                let busy_hi = p(2, 0.35, 0.9);
                let rx_lo = p(10, 2e5, 2e6);
                let rx_hi = rx_lo * p(11, 3.0, 20.0);
                let tx_ratio = p(12, 0.3, 1.6);
                let rps_lo = p(13, 2.0, 20.0);
                let rps_hi = rps_lo * p(14, 4.0, 12.0);
                Host {
                    instance: format!("pool-{:02}-host-{:02}:9100", pool + 1, h / pools + 1),
                    pool: format!("pool-{:02}", pool + 1),
                    region,
                    index: i,
                    peak_hour: peak_hour + p(3, -1.5, 1.5),
                    busy_lo,
                    busy_hi,
                    mem_total: pick(4, &[8.0, 16.0, 32.0, 64.0]) * GIB,
                    mem_lo: p(5, 0.2, 0.45),
                    mem_amp: p(6, 0.1, 0.35),
                    fs_size: pick(7, &[50.0, 100.0, 200.0, 500.0]) * GIB,
                    fs_period_s: p(8, 5.0, 40.0) * DAY_S,
                    fs_offset_s: p(9, 0.0, 40.0) * DAY_S,
                    disk_read: Rate::between(p(15, 1e4, 2e5), p(16, 1e6, 2e7)),
                    disk_written: Rate::between(p(17, 5e4, 5e5), p(18, 5e5, 1e7)),
                    net_receive: Rate::between(rx_lo, rx_hi),
                    net_transmit: Rate::between(rx_lo * tx_ratio, rx_hi * tx_ratio),
                    requests: Rate::between(rps_lo, rps_hi),
                    // one host in seven serves noticeably more errors, for the dashboards'
                    // error-ratio panels to have something to show
                    error_ratio: if h % 7 == 2 {
                        p(19, 0.05, 0.10)
                    } else {
                        p(19, 0.0005, 0.005)
                    },
                    queue_scale: p(20, 2.0, 40.0),
                }
            })
            .collect();
        Fleet { hosts }
    }

    /// The machines.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The labels of every series of host `h`, in [`SERIES`] order.
    pub fn labels(&self, h: usize) -> Result<Vec<Labels>, tsdb_index::Error> {
        let Some(host) = self.hosts.get(h) else {
            return Ok(Vec::new());
        };
        SERIES
            .iter()
            .map(|s| {
                let (name, extra) = s.name_and_labels();
                Labels::new(
                    [
                        ("__name__", name),
                        ("job", JOB),
                        ("instance", host.instance.as_str()),
                        ("pool", host.pool.as_str()),
                        ("region", host.region),
                    ]
                    .into_iter()
                    .chain(extra.iter().copied()),
                )
            })
            .collect()
    }

    /// The values of host `h`'s series at step `k` (time `k * STEP_MS`), in [`SERIES`]
    /// order. A host index out of range gives zeros.
    pub fn values(&self, h: usize, k: i64, out: &mut [f64; PER_HOST]) {
        let Some(host) = self.hosts.get(h) else {
            *out = [0.0; PER_HOST];
            return;
        };
        let tau = (k * STEP_MS - EPOCH_MS) as f64 / 1000.0;
        let peak = TAU * host.peak_hour / 24.0;
        let phase = TAU * tau / DAY_S - peak;
        let (sin_phase, cos_phase) = phase.sin_cos();
        let sin_phase0 = (-peak).sin();
        let cycle = 0.5 + 0.5 * cos_phase;
        // per series and step: u in [0, 1), n in [-0.5, 0.5)
        let u = |s: Series| unit(host.index, s as u64, k as u64);
        let n = |s: Series| u(s) - 0.5;
        // a counter: the rate's integral plus a jitter below half the smallest step, so
        // consecutive values never decrease
        let step_s = STEP_MS as f64 / 1000.0;
        let counter = |s: Series, r: Rate| {
            r.integral(tau, sin_phase, sin_phase0) + u(s) * 0.5 * r.min() * step_s
        };

        let busy = Rate::between(host.busy_lo, host.busy_hi);
        let share = |f: f64| Rate {
            a: busy.a * f,
            b: busy.b * f,
        };
        let idle = Rate {
            a: 1.0 - busy.a,
            b: -busy.b,
        };
        let mem_used =
            (host.mem_lo + host.mem_amp * cycle + 0.04 * n(Series::MemAvailable)).clamp(0.05, 0.97);
        // the root filesystem fills slowly and is cleaned up once a period
        let fs_used = 0.12 + 0.83 * ((tau + host.fs_offset_s) / host.fs_period_s).fract();
        let page = |bytes: f64| (bytes / 4096.0).floor() * 4096.0;
        let errors = Rate {
            a: host.requests.a * host.error_ratio,
            b: host.requests.b * host.error_ratio,
        };
        let busy_now = busy.a + busy.b * cycle;

        for (slot, s) in out.iter_mut().zip(SERIES) {
            *slot = match s {
                Series::CpuUser => counter(s, share(0.62)),
                Series::CpuSystem => counter(s, share(0.28)),
                Series::CpuIowait => counter(s, share(0.10)),
                Series::CpuIdle => counter(s, idle),
                Series::Load1 => (busy_now * 1.6 + 0.3 * n(s)).max(0.0),
                Series::MemTotal => host.mem_total,
                Series::MemAvailable => page(host.mem_total * (1.0 - mem_used)),
                Series::FsSize => host.fs_size,
                Series::FsAvail => page(host.fs_size * (1.0 - fs_used)),
                Series::DiskRead => counter(s, host.disk_read).floor(),
                Series::DiskWritten => counter(s, host.disk_written).floor(),
                Series::NetReceive => counter(s, host.net_receive).floor(),
                Series::NetTransmit => counter(s, host.net_transmit).floor(),
                Series::Http200 => counter(s, host.requests).floor(),
                Series::Http500 => counter(s, errors).floor(),
                Series::QueueDepth => (host.queue_scale * cycle * cycle + 4.0 * n(s))
                    .max(0.0)
                    .round(),
                Series::Up => 1.0,
            };
        }
    }
}

/// What one [`Filler::fill`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FillReport {
    /// Series that got samples.
    pub series: usize,
    /// Samples accepted.
    pub samples: usize,
    /// Samples refused, by reason (`too_old`, …), as the engine's metric names them.
    pub refused: Vec<(&'static str, usize)>,
    /// First and last step written (milliseconds), when anything was.
    pub range: Option<(i64, i64)>,
}

/// Appends the fleet's steps into a database, each host from where it stopped.
#[derive(Debug)]
pub struct Filler {
    fleet: Fleet,
    labels: Vec<Labels>,
    /// Per series (host-major), the ref of its last append.
    refs: Vec<Option<SeriesRef>>,
    /// Per host, the next step to write.
    next: Vec<i64>,
}

/// The first step at or after `t` (milliseconds).
fn step_at_or_after(t: i64) -> i64 {
    t.div_euclid(STEP_MS) + i64::from(t.rem_euclid(STEP_MS) != 0)
}

impl Filler {
    /// Picks up where `db` stops: each host from the step after its newest `up` sample,
    /// and not before `now_ms - history`.
    pub fn resume(
        db: &Db,
        fleet: Fleet,
        history: Duration,
        now_ms: i64,
    ) -> Result<Filler, DemoError> {
        let history_ms = i64::try_from(history.as_millis()).unwrap_or(i64::MAX);
        let first = step_at_or_after(now_ms.saturating_sub(history_ms));
        let mut next = vec![first; fleet.hosts.len()];
        let querier = db.querier(first.saturating_mul(STEP_MS), i64::MAX - 1)?;
        let entries =
            querier.select(&[Matcher::equal("__name__", "up"), Matcher::equal("job", JOB)])?;
        for entry in entries {
            let Some(instance) = entry.labels().get("instance") else {
                continue;
            };
            let Some(h) = fleet.hosts.iter().position(|h| h.instance == instance) else {
                continue;
            };
            let mut newest = None;
            for sample in entry.iter() {
                newest = Some(sample?.t);
            }
            if let (Some(t), Some(n)) = (newest, next.get_mut(h)) {
                *n = (*n).max(t.div_euclid(STEP_MS) + 1);
            }
        }
        let mut labels = Vec::with_capacity(fleet.hosts.len() * PER_HOST);
        for h in 0..fleet.hosts.len() {
            labels.extend(fleet.labels(h)?);
        }
        Ok(Filler {
            refs: vec![None; labels.len()],
            labels,
            fleet,
            next,
        })
    }

    /// The time (milliseconds) of the earliest step still to write.
    pub fn next_due_ms(&self) -> i64 {
        self.next
            .iter()
            .copied()
            .min()
            .unwrap_or(i64::MAX / STEP_MS)
            * STEP_MS
    }

    /// Writes every step up to `now_ms`, in time order, in batches. A refused sample is
    /// counted, not retried.
    pub fn fill(&mut self, db: &Db, now_ms: i64) -> Result<FillReport, DemoError> {
        let mut report = FillReport::default();
        let last = now_ms.div_euclid(STEP_MS);
        let Some(first) = self.next.iter().copied().min() else {
            return Ok(report);
        };
        if first > last {
            return Ok(report);
        }
        let hosts = self.fleet.hosts.len();
        let mut batch = Batch::new();
        // per series: its handle in the batch being built; and the batch's series order
        let mut slot: Vec<Option<BatchSeries>> = vec![None; self.labels.len()];
        let mut order: Vec<usize> = Vec::new();
        let mut written = vec![false; self.labels.len()];
        let mut values = [0.0; PER_HOST];
        for k in first..=last {
            for h in 0..hosts {
                if self.next.get(h).is_none_or(|&n| n > k) {
                    continue;
                }
                self.fleet.values(h, k, &mut values);
                for (i, v) in values.iter().enumerate() {
                    let idx = h * PER_HOST + i;
                    let series = match slot[idx] {
                        Some(s) => s,
                        None => {
                            let s = match self.refs[idx] {
                                Some(r) => batch.series_ref(r),
                                None => batch.series(self.labels[idx].clone()),
                            };
                            slot[idx] = Some(s);
                            order.push(idx);
                            s
                        }
                    };
                    batch.sample(series, k * STEP_MS, *v);
                    written[idx] = true;
                }
            }
            if batch.len() >= BATCH_SAMPLES || k == last {
                self.flush(db, &mut batch, &mut order, &mut slot, &mut report)?;
            }
        }
        for n in &mut self.next {
            *n = (*n).max(last + 1);
        }
        report.series = written.iter().filter(|w| **w).count();
        report.range = Some((first * STEP_MS, last * STEP_MS));
        Ok(report)
    }

    fn flush(
        &mut self,
        db: &Db,
        batch: &mut Batch,
        order: &mut Vec<usize>,
        slot: &mut [Option<BatchSeries>],
        report: &mut FillReport,
    ) -> Result<(), DemoError> {
        if batch.is_empty() {
            return Ok(());
        }
        let outcome = db.append_batch(batch)?;
        report.samples += outcome.accepted;
        for (&idx, r) in order.iter().zip(&outcome.refs) {
            // None (series refused, or its ref gone from the head): by labels next time
            self.refs[idx] = *r;
            slot[idx] = None;
        }
        for r in &outcome.rejected {
            let reason = refusal_reason(&r.error);
            if let SampleError::UnknownSeriesRef(_) = r.error {
                // the head dropped the series: forget every ref, re-add by labels
                self.refs.iter_mut().for_each(|r| *r = None);
            }
            match report.refused.iter_mut().find(|(n, _)| *n == reason) {
                Some((_, c)) => *c += 1,
                None => report.refused.push((reason, 1)),
            }
        }
        batch.clear();
        order.clear();
        Ok(())
    }
}

/// Why the demo fleet could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The database failed (reading where to resume, or appending).
    #[error("{0}")]
    Db(#[from] tsdb_core::Error),
    /// A series' labels were refused (cannot happen with the fleet's fixed names).
    #[error("{0}")]
    Labels(#[from] tsdb_index::Error),
}

/// Writes the history the database is missing, logging what was written. Runs on the
/// thread that opened the database, before the server reports ready.
pub fn backfill(db: &Db, hosts: usize, history: Duration) {
    let started = Instant::now();
    tracing::info!(
        hosts,
        history = %super::flags::format_duration(history),
        "demo fleet: writing synthetic node metrics (--demo-fleet) into the data directory"
    );
    let now = now_ms();
    let result = Filler::resume(db, Fleet::new(hosts), history, now)
        .and_then(|mut filler| filler.fill(db, now));
    match result {
        Ok(report) => {
            log_refused(&report);
            tracing::info!(
                hosts,
                series = report.series,
                samples = report.samples,
                from = %report.range.map_or(String::new(), |r| rfc3339(r.0)),
                to = %report.range.map_or(String::new(), |r| rfc3339(r.1)),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "demo fleet backfilled"
            );
        }
        Err(e) => tracing::error!(error = %e, "demo fleet: backfill failed"),
    }
}

/// A time for the log.
fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
}

fn log_refused(report: &FillReport) {
    if !report.refused.is_empty() {
        tracing::warn!(
            refused = ?report.refused,
            "demo fleet: samples refused by the database"
        );
    }
}

/// Appends each new step as the clock reaches it, until `stop` turns true. Waits for the
/// database (whose opening thread recorded the fleet's metadata), then resumes from its
/// newest samples.
pub async fn run(
    state: AppState,
    hosts: usize,
    history: Duration,
    mut stop: watch::Receiver<bool>,
) {
    if !state.wait_ready(&mut stop).await {
        return;
    }
    let Ok(db) = state.db() else {
        return;
    };
    let resumed = {
        let db = db.clone();
        tokio::task::spawn_blocking(move || {
            Filler::resume(&db, Fleet::new(hosts), history, now_ms())
        })
        .await
    };
    let mut filler = match resumed {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "demo fleet: cannot resume, live samples stop");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "demo fleet: cannot resume, live samples stop");
            return;
        }
    };
    loop {
        let wait = u64::try_from(filler.next_due_ms().saturating_sub(now_ms())).unwrap_or(0);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        let db = db.clone();
        let done = tokio::task::spawn_blocking(move || {
            let r = filler.fill(&db, now_ms());
            (filler, r)
        })
        .await;
        match done {
            Ok((f, Ok(report))) => {
                log_refused(&report);
                filler = f;
            }
            Ok((f, Err(e))) => {
                tracing::warn!(error = %e, "demo fleet: appending failed");
                filler = f;
            }
            Err(e) => {
                tracing::error!(error = %e, "demo fleet: live samples stop");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_values(fleet: &Fleet, h: usize, k: i64) -> [f64; PER_HOST] {
        let mut v = [0.0; PER_HOST];
        fleet.values(h, k, &mut v);
        v
    }

    #[test]
    fn the_fleet_is_deterministic() {
        let a = Fleet::new(20);
        let b = Fleet::new(20);
        let k = 1_800_000_000_000 / STEP_MS;
        for h in 0..20 {
            assert_eq!(a.hosts()[h].instance, b.hosts()[h].instance);
            assert_eq!(all_values(&a, h, k), all_values(&b, h, k));
        }
        // hosts differ from each other
        assert_ne!(all_values(&a, 0, k), all_values(&a, 1, k));
    }

    #[test]
    fn hosts_spread_over_pools_and_regions() {
        let fleet = Fleet::new(5);
        let names: Vec<&str> = fleet.hosts().iter().map(|h| h.instance.as_str()).collect();
        assert_eq!(
            names,
            [
                "pool-01-host-01:9100",
                "pool-02-host-01:9100",
                "pool-03-host-01:9100",
                "pool-01-host-02:9100",
                "pool-02-host-02:9100"
            ]
        );
        let regions: std::collections::BTreeSet<&str> =
            fleet.hosts().iter().map(|h| h.region).collect();
        assert_eq!(regions.len(), 3);
        let big = Fleet::new(100);
        let pools: std::collections::BTreeSet<&str> =
            big.hosts().iter().map(|h| h.pool.as_str()).collect();
        assert_eq!(pools.len(), 10);
        let instances: std::collections::BTreeSet<&str> =
            big.hosts().iter().map(|h| h.instance.as_str()).collect();
        assert_eq!(instances.len(), 100, "instances are unique");
        let labels = big.labels(42).unwrap();
        assert_eq!(labels.len(), PER_HOST);
        let distinct: std::collections::BTreeSet<String> =
            labels.iter().map(|l| format!("{l:?}")).collect();
        assert_eq!(distinct.len(), PER_HOST, "a host's series are distinct");
        assert_eq!(labels[0].get("job"), Some("node"));
        assert_eq!(labels[0].get("mode"), Some("user"));
    }

    #[test]
    fn counters_never_decrease_and_values_stay_in_range() {
        let fleet = Fleet::new(12);
        let start = 1_790_000_000_000 / STEP_MS;
        // two days of steps, every host
        for h in 0..12 {
            let mut prev = all_values(&fleet, h, start);
            for k in start + 1..start + 2 * 5760 {
                let v = all_values(&fleet, h, k);
                for (i, s) in SERIES.iter().enumerate() {
                    assert!(v[i].is_finite() && v[i] >= 0.0, "{s:?} = {}", v[i]);
                    if s.is_counter() {
                        assert!(v[i] >= prev[i], "{s:?} of host {h} went down at step {k}");
                    }
                }
                let total = v[5];
                assert!(
                    v[6] > 0.0 && v[6] < total,
                    "MemAvailable {} of {total}",
                    v[6]
                );
                assert!(v[8] > 0.0 && v[8] < v[7], "fs avail {} of {}", v[8], v[7]);
                assert!(v[4] < 3.0, "load1 {}", v[4]);
                assert_eq!(v[16], 1.0);
                prev = v;
            }
        }
    }

    #[test]
    fn cpu_modes_add_up_to_one_second_per_second_and_follow_the_day() {
        let fleet = Fleet::new(3);
        let day_steps = 86_400_000 / STEP_MS;
        let k0 = 1_790_000_000_000 / STEP_MS;
        let a = all_values(&fleet, 0, k0);
        let b = all_values(&fleet, 0, k0 + day_steps);
        let cpu: f64 = (0..4).map(|i| b[i] - a[i]).sum();
        assert!((cpu - 86_400.0).abs() < 10.0, "{cpu}");
        // busy share at the peak hour is well above that at the trough
        let host = &fleet.hosts()[0];
        let peak_k = (EPOCH_MS / STEP_MS)
            + 400 * day_steps
            + (host.peak_hour * 3_600_000.0 / STEP_MS as f64) as i64;
        let busy = |k: i64| {
            let x = all_values(&fleet, 0, k);
            let y = all_values(&fleet, 0, k + 20);
            1.0 - (y[3] - x[3]) / 300.0
        };
        let trough_k = peak_k + day_steps / 2;
        assert!(
            busy(peak_k) > busy(trough_k) + 0.2,
            "{} vs {}",
            busy(peak_k),
            busy(trough_k)
        );
        // requests: errors are a small share of successes
        let req = b[13] - a[13];
        let err = b[14] - a[14];
        assert!(
            req > 10_000.0 && err > 0.0 && err < req * 0.1,
            "{req} {err}"
        );
    }

    #[test]
    fn steps_round_up() {
        assert_eq!(step_at_or_after(0), 0);
        assert_eq!(step_at_or_after(1), 1);
        assert_eq!(step_at_or_after(15_000), 1);
        assert_eq!(step_at_or_after(15_001), 2);
        assert_eq!(step_at_or_after(-1), 0);
    }

    #[test]
    fn a_filler_writes_the_history_then_only_the_gap() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), tsdb_core::Options::default()).unwrap();
        let base = 1_790_000_000_000 / STEP_MS * STEP_MS;
        let now = base + 7_000;
        let mut f = Filler::resume(&db, Fleet::new(4), Duration::from_secs(3600), now).unwrap();
        let r = f.fill(&db, now).unwrap();
        assert!(r.refused.is_empty(), "{:?}", r.refused);
        assert_eq!(r.series, 4 * PER_HOST);
        assert_eq!(r.samples, 4 * PER_HOST * 240);
        assert_eq!(r.range, Some((base - 3_585_000, base)));
        // nothing new until the next step
        assert_eq!(f.fill(&db, now + 1_000).unwrap().samples, 0);
        assert_eq!(f.next_due_ms(), base + STEP_MS);
        // a restart a minute later resumes after the newest sample
        let later = now + 60_000;
        let mut g = Filler::resume(&db, Fleet::new(4), Duration::from_secs(3600), later).unwrap();
        let r = g.fill(&db, later).unwrap();
        assert!(r.refused.is_empty(), "{:?}", r.refused);
        assert_eq!(r.samples, 4 * PER_HOST * 4);
        // a bigger fleet: the new hosts get the whole history, the old ones nothing
        let mut h = Filler::resume(&db, Fleet::new(5), Duration::from_secs(3600), later).unwrap();
        let r = h.fill(&db, later).unwrap();
        assert!(r.refused.is_empty(), "{:?}", r.refused);
        assert_eq!(r.samples, PER_HOST * 240);
        assert_eq!(r.series, PER_HOST);
        db.close().unwrap();
    }
}
