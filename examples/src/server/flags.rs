//! The command line of `tsdb-server`. Every flag has a default, so the server starts with
//! no arguments at all: on `127.0.0.1:8491`, with its data in `./data`.
//!
//! The default port, 8491, is outside the range 9100-9999 that Prometheus allocates to
//! exporters, and clashes with none of the servers people run beside a time-series
//! database: Prometheus (9090), Alertmanager (9093), VictoriaMetrics (8428, vmagent 8429,
//! vmauth 8427, cluster 8480-8482, vmalert 8880), InfluxDB (8086), Grafana (3000), Loki
//! (3100), Mimir (9009, 8080), Thanos (10902), OTLP (4317, 4318), or the OpenTelemetry
//! Prometheus exporter (9464).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::timearg::parse_duration_ns;

/// The address the server listens on without `--listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8491";

/// The flags of `tsdb-server`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "tsdb-server",
    version,
    about = "The tsdb time-series database server, speaking Prometheus' HTTP API.",
    long_about = "The tsdb time-series database server, speaking Prometheus' HTTP API.\n\n\
        With no flags it listens on 127.0.0.1:8491, keeps its data in ./data and records its own \
        metrics every 15s, so `curl 'http://127.0.0.1:8491/api/v1/query?query=up'` answers \
        right after start. Point Grafana's Prometheus data source at http://127.0.0.1:8491.\n\n\
        Signals: SIGHUP re-reads the configuration, auth and TLS files (as POST /-/reload \
        does); SIGTERM and SIGINT stop accepting, finish requests in flight within \
        --shutdown-timeout and close the database cleanly.",
    after_help = "Durations are Prometheus durations (15s, 1m30s, 2h, 1d) or float seconds. \
        Sizes are bytes with an optional KiB, MiB or GiB suffix."
)]
pub struct Flags {
    /// Address to listen on for the HTTP API, host:port. Without --auth-file only a
    /// loopback address is allowed, unless --allow-public-without-auth is given.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: String,

    /// Data directory: write-ahead log and segments (created if missing).
    #[arg(long, value_name = "DIR", default_value = "./data")]
    pub data: PathBuf,

    /// Configuration file in Prometheus' YAML shape (the `global` section). Optional: the
    /// defaults need none. Re-read on SIGHUP and POST /-/reload.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Credentials file (YAML) with separate `read`, `write` and `admin` credentials, each
    /// `bearer_tokens: [..]` and/or `basic_auth: {user: password}`; admin may do
    /// everything. Default: no authentication (and a loopback address only).
    #[arg(long, value_name = "FILE")]
    pub auth_file: Option<PathBuf>,

    /// Serve HTTPS with this PEM certificate chain (with --tls-key-file). Re-read on
    /// reload. Default: plain HTTP.
    #[arg(long, value_name = "FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,

    /// The PEM private key of --tls-cert-file.
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,

    /// Allow listening on a non-loopback address without --auth-file: anyone who can
    /// reach the port can then read, write and delete data.
    #[arg(long)]
    pub allow_public_without_auth: bool,

    /// How often the server appends its own /metrics into its database (job="tsdb-server").
    /// 0 turns self-monitoring off. Default: global.scrape_interval of --config, else 15s.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub self_scrape_interval: Option<Duration>,

    /// Samples up to this far behind a series' newest sample are accepted (late data,
    /// senders catching up, backfill) and merged at read time.
    #[arg(long, value_name = "DURATION", default_value = "1d", value_parser = duration)]
    pub out_of_order_window: Duration,

    /// How often the write-ahead log is fsynced. 0 (the default): before every write is
    /// answered, so an acknowledged sample survives a power loss (concurrent writes share
    /// an fsync). A duration (`1s`) fsyncs that often instead, as Prometheus (which never
    /// fsyncs per write) comes close to: less disk and CPU per write, and a power loss
    /// can take up to that much of what was acknowledged.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = duration)]
    pub wal_sync_interval: Duration,

    /// Persisted data older than this is deleted, whole segments at a time (Prometheus's
    /// --storage.tsdb.retention.time), whatever the downsampling rules
    /// (`storage.downsampling` in --config, which delete per resolution and by default
    /// keep data 365 days) would keep. Default 0: only the rules delete.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = duration)]
    pub retention: Duration,

    /// Once persisted data takes more than this, the oldest segments are deleted
    /// (Prometheus's --storage.tsdb.retention.size). Default 0: no budget.
    #[arg(long, value_name = "BYTES", default_value = "0", value_parser = size)]
    pub retention_size: usize,

    /// The cold tier: a second directory (a cheaper disk, an NFS mount) that segments
    /// older than --cold-after move to (copied, fsynced, switched, then deleted here),
    /// still queried. It must exist; a data directory whose segments are there refuses
    /// to open without it. Default: none.
    #[arg(long, value_name = "DIR", requires = "cold_after")]
    pub cold_dir: Option<PathBuf>,

    /// Age (by the clock, of a segment's newest data) from which segments move to
    /// --cold-dir.
    #[arg(long, value_name = "DURATION", value_parser = duration, requires = "cold_dir")]
    pub cold_after: Option<Duration>,

    /// Longest a query may run, waiting for a slot included; a request's smaller
    /// `timeout` parameter wins.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = duration)]
    pub query_timeout: Duration,

    /// Most samples one query may hold in memory.
    #[arg(long, value_name = "N", default_value_t = 50_000_000)]
    pub query_max_samples: usize,

    /// Queries evaluated at once; more wait for a slot (within --query-timeout). Writes
    /// never wait behind queries.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub query_max_concurrency: u32,

    /// Memory for the range query results cache (answers of past time splits, reused by
    /// dashboard refreshes; dropped when a write or deletion lands in them). 0 turns it
    /// off.
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = size)]
    pub query_cache_size: usize,

    /// How far back an instant selector looks for a sample.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration)]
    pub query_lookback_delta: Duration,

    /// Largest request body accepted (after decompression); larger ones get 413.
    #[arg(long, value_name = "SIZE", default_value = "32MiB", value_parser = size)]
    pub max_request_body_size: usize,

    /// Most series in the head; a write creating a new series beyond it has that series
    /// refused (`series_limit`), existing series keep ingesting. About 1 KiB of memory
    /// per series. 0: no limit.
    #[arg(long, value_name = "N", default_value_t = 2_000_000)]
    pub max_series: usize,

    /// Most active series one metric name may have (a cardinality explosion in one
    /// metric cannot starve the others). 0: no limit.
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    pub max_series_per_metric: usize,

    /// Most samples one write request may carry; a larger request is refused whole.
    /// 0: no limit.
    #[arg(long, value_name = "N", default_value_t = 2_000_000)]
    pub max_samples_per_write: usize,

    /// Keep the Influx `db` (v1 `/write`) or `bucket` (v2 `/api/v2/write`) parameter as a
    /// label of this name on every series written (a tag of the same name wins). Without
    /// it the parameter is ignored.
    #[arg(long, value_name = "LABEL")]
    pub influx_db_label: Option<String>,

    /// Longest any request may take before it is answered 408 (queries stop earlier, at
    /// --query-timeout).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration)]
    pub http_timeout: Duration,

    /// On SIGTERM/SIGINT, how long requests in flight may take to finish before their
    /// connections are closed and the database is closed.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    pub shutdown_timeout: Duration,

    /// Log level: error, warn, info, debug or trace (RUST_LOG overrides it).
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub log_level: String,

    /// This collector's index (0-based) among --shard-count collectors sharing one target
    /// list: it scrapes only the targets the consistent-hash ring over job and address
    /// assigns to it. Default: no sharding (every target is scraped).
    #[arg(long, value_name = "N", requires = "shard_count")]
    pub shard_index: Option<usize>,

    /// The number of collectors sharing the targets (with --shard-index).
    #[arg(long, value_name = "M", requires = "shard_index")]
    pub shard_count: Option<usize>,

    /// Instead of --shard-index/--shard-count: a file naming the collectors that share
    /// one target list, one name per line (blank lines and `#` comments skipped), so that
    /// membership can change. Re-read every --shard-members-refresh and on reload; a
    /// changed list divides the targets again at once (adding a member moves only its
    /// share). A list that is not valid (unreadable, empty, a name twice, or without
    /// --shard-name) is refused with an error and the list in force stays.
    #[arg(long, value_name = "FILE", requires = "shard_name",
          conflicts_with_all = ["shard_index", "shard_count"])]
    pub shard_members: Option<PathBuf>,

    /// This collector's name in --shard-members.
    #[arg(long, value_name = "NAME", requires = "shard_members")]
    pub shard_name: Option<String>,

    /// How often --shard-members is re-read.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    pub shard_members_refresh: Duration,

    /// The URL users reach this server at (behind a proxy, its public one): alerts' links
    /// (`generatorURL`), `$externalURL` in rule templates and the built-in alert manager's
    /// messages (Prometheus's --web.external-url). Default: http(s)://<--listen>.
    #[arg(long, value_name = "URL")]
    pub external_url: Option<String>,

    /// Least time between two sends of a firing alert to the alert managers (Prometheus's
    /// --rules.alert.resend-delay).
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = duration)]
    pub rules_resend_delay: Duration,

    /// Longest outage after which a restart still restores alerts' `for` state from
    /// `ALERTS_FOR_STATE` (Prometheus's --rules.alert.for-outage-tolerance).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = duration)]
    pub rules_for_outage_tolerance: Duration,

    /// Least time an alert restored after a restart still waits before firing
    /// (Prometheus's --rules.alert.for-grace-period).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = duration)]
    pub rules_for_grace_period: Duration,

    /// Write a synthetic demo fleet of this many machines into the data directory:
    /// node-exporter-like series (`job="node"`, labels `pool`, `region`, `instance`), the
    /// missing history first (--demo-fleet-history, before the server reports ready),
    /// then a new sample every 15s. For trying the server, its UI and the Grafana
    /// dashboards without a fleet; the samples stay in the data directory like any
    /// other. Default: off.
    #[arg(long, value_name = "HOSTS", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub demo_fleet: Option<u32>,

    /// How much history --demo-fleet writes at start (a restart writes only what is
    /// missing since its newest sample).
    #[arg(long, value_name = "DURATION", default_value = "26h", value_parser = duration)]
    pub demo_fleet_history: Duration,

    /// Alerts queued for the external Alertmanagers (`alerting.alertmanagers`) before the
    /// oldest are dropped (Prometheus's --alertmanager.notification-queue-capacity).
    #[arg(long, value_name = "N", default_value_t = tsdb_alert::sender::DEFAULT_QUEUE_CAPACITY)]
    pub alert_queue_capacity: usize,
}

impl Flags {
    /// Every flag and its value as Prometheus' `/api/v1/status/flags` lists them: the long
    /// name without dashes, the value as text (`""` for an unset optional one).
    pub fn to_map(&self) -> Vec<(&'static str, String)> {
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map_or(String::new(), |p| p.display().to_string())
        };
        let dur = |d: Duration| format_duration(d);
        vec![
            ("listen", self.listen.clone()),
            ("data", self.data.display().to_string()),
            ("config", path(&self.config)),
            ("auth-file", path(&self.auth_file)),
            ("tls-cert-file", path(&self.tls_cert_file)),
            ("tls-key-file", path(&self.tls_key_file)),
            (
                "allow-public-without-auth",
                self.allow_public_without_auth.to_string(),
            ),
            (
                "self-scrape-interval",
                self.self_scrape_interval.map_or(String::new(), dur),
            ),
            ("out-of-order-window", dur(self.out_of_order_window)),
            ("wal-sync-interval", dur(self.wal_sync_interval)),
            ("retention", dur(self.retention)),
            ("retention-size", self.retention_size.to_string()),
            ("cold-dir", path(&self.cold_dir)),
            ("cold-after", self.cold_after.map_or(String::new(), dur)),
            ("query-timeout", dur(self.query_timeout)),
            ("query-max-samples", self.query_max_samples.to_string()),
            (
                "query-max-concurrency",
                self.query_max_concurrency.to_string(),
            ),
            ("query-cache-size", self.query_cache_size.to_string()),
            ("query-lookback-delta", dur(self.query_lookback_delta)),
            (
                "max-request-body-size",
                self.max_request_body_size.to_string(),
            ),
            ("max-series", self.max_series.to_string()),
            (
                "max-series-per-metric",
                self.max_series_per_metric.to_string(),
            ),
            (
                "max-samples-per-write",
                self.max_samples_per_write.to_string(),
            ),
            (
                "influx-db-label",
                self.influx_db_label.clone().unwrap_or_default(),
            ),
            ("http-timeout", dur(self.http_timeout)),
            ("shutdown-timeout", dur(self.shutdown_timeout)),
            ("log-level", self.log_level.clone()),
            (
                "shard-index",
                self.shard_index.map_or(String::new(), |n| n.to_string()),
            ),
            (
                "shard-count",
                self.shard_count.map_or(String::new(), |n| n.to_string()),
            ),
            (
                "shard-members",
                self.shard_members
                    .as_ref()
                    .map_or(String::new(), |p| p.display().to_string()),
            ),
            ("shard-name", self.shard_name.clone().unwrap_or_default()),
            (
                "external-url",
                self.external_url.clone().unwrap_or_default(),
            ),
            ("rules-resend-delay", dur(self.rules_resend_delay)),
            (
                "rules-for-outage-tolerance",
                dur(self.rules_for_outage_tolerance),
            ),
            ("rules-for-grace-period", dur(self.rules_for_grace_period)),
            (
                "alert-queue-capacity",
                self.alert_queue_capacity.to_string(),
            ),
            ("shard-members-refresh", dur(self.shard_members_refresh)),
            (
                "demo-fleet",
                self.demo_fleet.map_or(String::new(), |n| n.to_string()),
            ),
            ("demo-fleet-history", dur(self.demo_fleet_history)),
        ]
    }
}

/// A duration flag: a Prometheus duration (`15s`, `1m30s`, `1d`) or float seconds, not
/// negative.
pub fn duration(s: &str) -> Result<Duration, String> {
    let ns = parse_duration_ns(s)?;
    u64::try_from(ns)
        .map(Duration::from_nanos)
        .map_err(|_| format!("{s:?} is negative"))
}

/// A duration as Prometheus prints one (`model.Duration`): the largest units first, `0s`
/// for zero, milliseconds kept.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("y", 365 * 86_400_000u128),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// A size flag: bytes, with an optional `KiB`, `MiB` or `GiB` (or `KB`, `MB`, `GB`,
/// decimal) suffix.
pub fn size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: usize = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size such as 32MiB"))?;
    let mult: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {s:?} (use KiB, MiB or GiB)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn no_arguments_is_a_complete_configuration() {
        let f = Flags::try_parse_from(["tsdb-server"]).unwrap();
        assert_eq!(f.listen, DEFAULT_LISTEN);
        assert_eq!(f.data, PathBuf::from("./data"));
        assert_eq!(f.out_of_order_window, Duration::from_secs(86_400));
        assert_eq!(f.query_timeout, Duration::from_secs(120));
        assert_eq!(f.max_request_body_size, 32 << 20);
        assert!(f.self_scrape_interval.is_none());
    }

    #[test]
    fn every_flag_has_help_and_a_default_is_shown_where_there_is_one() {
        let cmd = Flags::command();
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            assert!(arg.get_help().is_some(), "--{id} has no help");
        }
        let help = Flags::command().render_long_help().to_string();
        assert!(help.contains("[default: 127.0.0.1:8491]"), "{help}");
        assert!(help.contains("[default: 1d]"), "{help}");
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        assert_eq!(duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(duration("-1").is_err());
        assert!(duration("soon").is_err());
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(size("32MiB"), Ok(32 << 20));
        assert_eq!(size("100"), Ok(100));
        assert_eq!(size("1GB"), Ok(1_000_000_000));
        assert!(size("1PiB").is_err());
        assert!(size("MiB").is_err());
    }

    #[test]
    fn tls_needs_both_files() {
        assert!(Flags::try_parse_from(["tsdb-server", "--tls-cert-file", "c.pem"]).is_err());
        let f = Flags::try_parse_from([
            "tsdb-server",
            "--tls-cert-file",
            "c.pem",
            "--tls-key-file",
            "k.pem",
        ])
        .unwrap();
        assert!(f.tls_key_file.is_some());
    }
}
