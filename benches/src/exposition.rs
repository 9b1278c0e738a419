//! Synthetic `/metrics` pages for the scrape throughput bench (`scrape-fleet`): a node
//! exporter's shape in the Prometheus text format 0.0.4, with values that move between
//! scrapes.
//!
//! Every target of a fleet serves the same [`Schema`] (the scraper adds the `instance`
//! label that tells them apart) with its own [`TargetState`]. The text of everything but
//! the values (`# HELP`, `# TYPE`, the metric name and label set) is rendered once; a
//! request only advances the state and writes the numbers, so the fleet stays cheap
//! beside the scrapers it feeds.
//!
//! Values are kept as scaled integers (`raw / 10^decimals`) and written digit by digit:
//! exactly the shortest decimal a Go exporter would print for them, with no float
//! formatting per sample. Counters grow by a pseudo-random amount per scrape (some not at
//! all, as idle CPUs and disks do), gauges take a bounded random walk, histograms get a
//! few observations spread over their buckets; so the scrapers' compression sees the
//! irregular deltas of real data, not a constant slope.

use std::fmt::Write;

/// How a series' value changes from one scrape to the next.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// A counter: `raw += rand(0..=max_inc)`, zero in about one scrape of four.
    Counter { max_inc: i64 },
    /// A gauge: a random walk of at most `step` per scrape, held inside `lo..=hi`.
    Gauge { lo: i64, hi: i64, step: i64 },
    /// A value that never changes (sizes, boot time).
    Constant,
    /// A histogram's `_bucket` series (cumulative count of observations `<= le`); the
    /// bucket bound in the same scaled units as the family's `_sum`.
    Bucket { le_raw: i64 },
    /// A histogram's `_sum` (the observations' total, scaled).
    HistSum,
    /// A histogram's `_count`; it also draws the new observations of its group.
    HistCount,
}

/// One series: the text before its value (`name{labels} `), how its value moves, and
/// its decimals (the scale of its raw integer).
#[derive(Clone, Debug)]
struct SeriesDef {
    prefix: String,
    kind: Kind,
    decimals: u8,
    initial: i64,
}

/// One metric family: its `# HELP`/`# TYPE` lines and its series, in output order.
#[derive(Clone, Debug)]
struct FamilyDef {
    header: String,
    series: Vec<SeriesDef>,
}

/// The families and series of one target's page; shared by every target of a fleet.
#[derive(Clone, Debug)]
pub struct Schema {
    families: Vec<FamilyDef>,
    series: usize,
}

/// One target's current values and its random stream.
#[derive(Clone, Debug)]
pub struct TargetState {
    raw: Vec<i64>,
    rng: u64,
    scrapes: u64,
}

/// The CPU modes of node exporter's `node_cpu_seconds_total`.
const CPU_MODES: [&str; 8] = [
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];
/// The buckets (in milliseconds) of the request duration histograms.
const BUCKETS_MS: [i64; 10] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];
const HANDLERS: [&str; 6] = [
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/series",
    "/api/v1/labels",
    "/federate",
    "/metrics",
];

/// The pieces a family is made of before it is rendered: one unit is the group of series
/// that belongs together (one CPU's 8 modes, one histogram's buckets, sum and count).
struct Builder {
    name: &'static str,
    help: &'static str,
    typ: &'static str,
    unit_size: usize,
    /// Appends unit `k`'s series to the family.
    unit: fn(k: usize, out: &mut Vec<SeriesDef>),
    series: Vec<SeriesDef>,
}

fn def(prefix: String, kind: Kind, decimals: u8, initial: i64) -> SeriesDef {
    SeriesDef {
        prefix,
        kind,
        decimals,
        initial,
    }
}

fn disk(k: usize) -> String {
    // sda..sdz, then sdaa.. as Linux names them.
    let mut name = String::from("sd");
    let mut n = k;
    let mut letters = Vec::new();
    loop {
        letters.push(b'a' + (n % 26) as u8);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    name.extend(letters.iter().rev().map(|&b| char::from(b)));
    name
}

fn builders() -> Vec<Builder> {
    let b = |name, help, typ, unit_size, unit| Builder {
        name,
        help,
        typ,
        unit_size,
        unit,
        series: Vec::new(),
    };
    vec![
        b(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
            "counter",
            CPU_MODES.len(),
            |k, out| {
                for (i, mode) in CPU_MODES.iter().enumerate() {
                    let max_inc = if *mode == "idle" {
                        1000
                    } else {
                        80 + 10 * i as i64
                    };
                    out.push(def(
                        format!("node_cpu_seconds_total{{cpu=\"{k}\",mode=\"{mode}\"}} "),
                        Kind::Counter { max_inc },
                        2,
                        12_345_678 * (i as i64 + 1) + 97 * k as i64,
                    ));
                }
            },
        ),
        b(
            "node_disk_read_bytes_total",
            "The total number of bytes read successfully.",
            "counter",
            1,
            |k, out| {
                out.push(def(
                    format!("node_disk_read_bytes_total{{device=\"{}\"}} ", disk(k)),
                    Kind::Counter { max_inc: 4_000_000 },
                    0,
                    81_920_000_000 + 4096 * k as i64,
                ));
            },
        ),
        b(
            "node_disk_written_bytes_total",
            "The total number of bytes written successfully.",
            "counter",
            1,
            |k, out| {
                out.push(def(
                    format!("node_disk_written_bytes_total{{device=\"{}\"}} ", disk(k)),
                    Kind::Counter { max_inc: 9_000_000 },
                    0,
                    204_800_000_000 + 8192 * k as i64,
                ));
            },
        ),
        b(
            "node_disk_io_time_seconds_total",
            "Total seconds spent doing I/Os.",
            "counter",
            1,
            |k, out| {
                out.push(def(
                    format!("node_disk_io_time_seconds_total{{device=\"{}\"}} ", disk(k)),
                    Kind::Counter { max_inc: 900 },
                    3,
                    5_512_345 + k as i64,
                ));
            },
        ),
        b(
            "node_network_receive_bytes_total",
            "Network device statistic receive_bytes.",
            "counter",
            1,
            |k, out| {
                out.push(def(
                    format!("node_network_receive_bytes_total{{device=\"eth{k}\"}} "),
                    Kind::Counter { max_inc: 2_500_000 },
                    0,
                    9_876_543_210 + 1000 * k as i64,
                ));
            },
        ),
        b(
            "node_network_transmit_bytes_total",
            "Network device statistic transmit_bytes.",
            "counter",
            1,
            |k, out| {
                out.push(def(
                    format!("node_network_transmit_bytes_total{{device=\"eth{k}\"}} "),
                    Kind::Counter { max_inc: 1_200_000 },
                    0,
                    3_456_789_012 + 1000 * k as i64,
                ));
            },
        ),
        b(
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
            "gauge",
            1,
            |k, out| {
                out.push(def(
                    format!(
                        "node_filesystem_avail_bytes{{device=\"/dev/{}1\",fstype=\"ext4\",mountpoint=\"/mnt/data{k}\"}} ",
                        disk(k)
                    ),
                    Kind::Gauge {
                        lo: 1 << 30,
                        hi: 400 << 30,
                        step: 50 << 20,
                    },
                    0,
                    (100 + k as i64 % 200) << 30,
                ));
            },
        ),
        b(
            "node_filesystem_size_bytes",
            "Filesystem size in bytes.",
            "gauge",
            1,
            |k, out| {
                out.push(def(
                    format!(
                        "node_filesystem_size_bytes{{device=\"/dev/{}1\",fstype=\"ext4\",mountpoint=\"/mnt/data{k}\"}} ",
                        disk(k)
                    ),
                    Kind::Constant,
                    0,
                    500 << 30,
                ));
            },
        ),
        b(
            "http_request_duration_seconds",
            "Latency of the HTTP requests served, by handler.",
            "histogram",
            BUCKETS_MS.len() + 3,
            |k, out| {
                let handler = HANDLERS[k % HANDLERS.len()];
                let code = ["200", "400", "500"][(k / HANDLERS.len()) % 3];
                let shard = k / (HANDLERS.len() * 3);
                let labels = format!("code=\"{code}\",handler=\"{handler}\",shard=\"{shard}\"");
                for le in BUCKETS_MS {
                    let le_text = format!("{}", le as f64 / 1000.0);
                    out.push(def(
                        format!(
                            "http_request_duration_seconds_bucket{{{labels},le=\"{le_text}\"}} "
                        ),
                        Kind::Bucket { le_raw: le },
                        0,
                        0,
                    ));
                }
                out.push(def(
                    format!("http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} "),
                    Kind::Bucket { le_raw: i64::MAX },
                    0,
                    0,
                ));
                out.push(def(
                    format!("http_request_duration_seconds_sum{{{labels}}} "),
                    Kind::HistSum,
                    3,
                    0,
                ));
                out.push(def(
                    format!("http_request_duration_seconds_count{{{labels}}} "),
                    Kind::HistCount,
                    0,
                    0,
                ));
            },
        ),
        b(
            "node_hwmon_temp_celsius",
            "Hardware monitor for temperature (input).",
            "gauge",
            1,
            |k, out| {
                out.push(def(
                    format!(
                        "node_hwmon_temp_celsius{{chip=\"platform_coretemp_{}\",sensor=\"temp{}\"}} ",
                        k / 16,
                        k % 16 + 1
                    ),
                    Kind::Gauge {
                        lo: 250,
                        hi: 950,
                        step: 15,
                    },
                    1,
                    450 + (k as i64 * 7) % 200,
                ));
            },
        ),
    ]
}

/// Label-less gauges every page starts with (as much of node exporter's output is), in
/// `(name, help, decimals, kind, initial)`.
const SINGLES: [(&str, &str, u8, Kind, i64); 5] = [
    (
        "node_boot_time_seconds",
        "Node boot time, in unixtime.",
        0,
        Kind::Constant,
        1_764_000_000,
    ),
    (
        "node_load1",
        "1m load average.",
        2,
        Kind::Gauge {
            lo: 0,
            hi: 1600,
            step: 40,
        },
        120,
    ),
    (
        "node_load5",
        "5m load average.",
        2,
        Kind::Gauge {
            lo: 0,
            hi: 1600,
            step: 15,
        },
        110,
    ),
    (
        "node_memory_MemAvailable_bytes",
        "Memory information field MemAvailable_bytes.",
        0,
        Kind::Gauge {
            lo: 1 << 30,
            hi: 60 << 30,
            step: 64 << 20,
        },
        24 << 30,
    ),
    (
        "node_procs_running",
        "Number of processes in runnable state.",
        0,
        Kind::Gauge {
            lo: 1,
            hi: 64,
            step: 3,
        },
        4,
    ),
];

impl Schema {
    /// A page of exactly `series` series (at least 1). The label-less gauges come first;
    /// then the families take one unit each in turn (a CPU, a disk, a histogram, ...)
    /// while a unit still fits, so every family grows with `series` and the total is
    /// exact (the one-series families fill the last gaps).
    pub fn new(series: usize) -> Schema {
        let series = series.max(1);
        let mut families = Vec::new();
        let mut total = 0;
        for (name, help, decimals, kind, initial) in SINGLES {
            if total == series {
                break;
            }
            families.push(FamilyDef {
                header: format!("# HELP {name} {help}\n# TYPE {name} gauge\n"),
                series: vec![def(format!("{name} "), kind, decimals, initial)],
            });
            total += 1;
        }
        let mut builders = builders();
        let mut k = 0;
        while total < series {
            for b in builders.iter_mut() {
                if total + b.unit_size <= series {
                    (b.unit)(k, &mut b.series);
                    total += b.unit_size;
                }
            }
            k += 1;
        }
        for b in builders {
            if b.series.is_empty() {
                continue;
            }
            families.push(FamilyDef {
                header: format!("# HELP {0} {1}\n# TYPE {0} {2}\n", b.name, b.help, b.typ),
                series: b.series,
            });
        }
        Schema {
            families,
            series: total,
        }
    }

    /// The number of series (samples) on one page.
    pub fn series(&self) -> usize {
        self.series
    }

    /// The state of target number `target`: its initial values, and a random stream of
    /// its own so that targets do not move in lockstep.
    pub fn target_state(&self, target: u64) -> TargetState {
        let raw = self
            .families
            .iter()
            .flat_map(|f| f.series.iter())
            .map(|s| s.initial)
            .collect();
        TargetState {
            raw,
            rng: 0x9E37_79B9_7F4A_7C15 ^ target.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1,
            scrapes: 0,
        }
    }

    /// Advances `state` by one scrape and appends the page to `out`. The first call
    /// renders the initial values as they are.
    pub fn render(&self, state: &mut TargetState, out: &mut String) {
        if state.scrapes > 0 {
            self.advance(state);
        }
        state.scrapes += 1;
        let mut i = 0;
        for f in &self.families {
            out.push_str(&f.header);
            for s in &f.series {
                out.push_str(&s.prefix);
                write_scaled(out, state.raw.get(i).copied().unwrap_or(0), s.decimals);
                out.push('\n');
                i += 1;
            }
        }
    }

    /// One scrape's worth of change. A histogram's observations are drawn at its
    /// `_count` (the last series of its group) and applied to the group's buckets and
    /// `_sum` before it.
    fn advance(&self, state: &mut TargetState) {
        let mut i = 0;
        for f in &self.families {
            for s in &f.series {
                let rng = &mut state.rng;
                match s.kind {
                    Kind::Counter { max_inc } => {
                        let r = next(rng);
                        if r & 3 != 0 {
                            state.raw[i] += (r >> 8) as i64 % (max_inc + 1);
                        }
                    }
                    Kind::Gauge { lo, hi, step } => {
                        let r = next(rng);
                        let d = (r >> 8) as i64 % (2 * step + 1) - step;
                        state.raw[i] = (state.raw[i] + d).clamp(lo, hi);
                    }
                    Kind::Constant | Kind::Bucket { .. } | Kind::HistSum => {}
                    Kind::HistCount => {
                        let n = next(rng) % 12;
                        for _ in 0..n {
                            // Roughly log-uniform latencies from 1 ms to 8 s.
                            let r = next(&mut state.rng);
                            let ms = 1i64 << (r % 13);
                            let ms = ms + (r >> 16) as i64 % ms;
                            observe(state, i, ms);
                        }
                    }
                }
                i += 1;
            }
        }
    }
}

/// Adds one observation of `ms` to the histogram whose `_count` is series `count`: its
/// buckets and `_sum` are the series just before it.
fn observe(state: &mut TargetState, count: usize, ms: i64) {
    let group = BUCKETS_MS.len() + 3;
    let start = count + 1 - group;
    for j in 0..=BUCKETS_MS.len() {
        let le = BUCKETS_MS.get(j).copied().unwrap_or(i64::MAX);
        if ms <= le {
            state.raw[start + j] += 1;
        }
    }
    state.raw[count - 1] += ms; // _sum, in milliseconds = 3 decimals of seconds
    state.raw[count] += 1;
}

/// xorshift64*: a small, fast pseudo-random stream (quality is beside the point here).
fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Appends `raw / 10^decimals` as the shortest decimal (`1234, 2` → `12.34`, `1200, 2`
/// → `12`, `5, 3` → `0.005`).
fn write_scaled(out: &mut String, raw: i64, decimals: u8) {
    if raw < 0 {
        out.push('-');
    }
    let abs = raw.unsigned_abs();
    let scale = 10u64.pow(u32::from(decimals));
    let (int, mut frac) = (abs / scale, abs % scale);
    let _ = write!(out, "{int}");
    if frac != 0 {
        let mut width = usize::from(decimals);
        while frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
        let _ = write!(out, ".{frac:0width$}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tsdb_text::prometheus::{Dialect, MetricType, Options, Parser};

    fn parse(page: &str) -> (HashMap<String, f64>, Vec<(String, MetricType)>) {
        let mut p = Parser::new(page.as_bytes(), Options::new(Dialect::Prometheus));
        let mut values = HashMap::new();
        for s in p.by_ref() {
            let s = s.unwrap_or_else(|e| panic!("bad line {e:?}"));
            assert!(values.insert(s.labels.to_string(), s.value).is_none());
        }
        let families = p
            .families()
            .iter()
            .map(|f| (f.name.to_string(), f.metric_type))
            .collect();
        (values, families)
    }

    #[test]
    fn scaled_values_are_the_shortest_decimal() {
        for (raw, dec, want) in [
            (1234, 2, "12.34"),
            (1200, 2, "12"),
            (1230, 2, "12.3"),
            (5, 3, "0.005"),
            (0, 3, "0"),
            (-15, 1, "-1.5"),
            (81_920_000_000, 0, "81920000000"),
        ] {
            let mut s = String::new();
            write_scaled(&mut s, raw, dec);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn page_has_exactly_the_series_asked_for_and_parses() {
        for n in [1, 5, 6, 13, 100, 1000, 2345] {
            let schema = Schema::new(n);
            assert_eq!(schema.series(), n);
            let mut state = schema.target_state(7);
            let mut page = String::new();
            schema.render(&mut state, &mut page);
            let (values, _) = parse(&page);
            assert_eq!(values.len(), n, "{n} series");
        }
    }

    #[test]
    fn a_thousand_series_page_has_every_family_and_type() {
        let schema = Schema::new(1000);
        let mut page = String::new();
        schema.render(&mut schema.target_state(0), &mut page);
        let (_, families) = parse(&page);
        let types: HashMap<_, _> = families.into_iter().collect();
        assert_eq!(types["node_cpu_seconds_total"], MetricType::Counter);
        assert_eq!(types["node_load1"], MetricType::Gauge);
        assert_eq!(
            types["http_request_duration_seconds"],
            MetricType::Histogram
        );
        assert_eq!(types["node_hwmon_temp_celsius"], MetricType::Gauge);
        assert_eq!(types.len(), SINGLES.len() + builders().len());
    }

    #[test]
    fn counters_grow_gauges_move_and_histograms_stay_cumulative() {
        let schema = Schema::new(1000);
        let mut state = schema.target_state(3);
        let mut pages = Vec::new();
        for _ in 0..5 {
            let mut page = String::new();
            schema.render(&mut state, &mut page);
            pages.push(parse(&page).0);
        }
        let mut changed = 0;
        for w in pages.windows(2) {
            for (k, v0) in &w[0] {
                let v1 = w[1][k];
                if k.contains("_total") || k.contains("_bucket") || k.contains("_count") {
                    assert!(v1 >= *v0, "{k} went down: {v0} -> {v1}");
                }
                if v1 != *v0 {
                    changed += 1;
                }
            }
        }
        // Most series change on most scrapes (sizes and boot time never do).
        assert!(changed > 4 * 1000 / 2, "only {changed} changes");
        let last = &pages[4];
        let mut checked = 0;
        let mut observed = 0.0;
        for (k, count) in last {
            let Some(labels) = k.strip_prefix("http_request_duration_seconds_count") else {
                continue;
            };
            // Labels print sorted: `le` goes between `handler` and `shard`.
            let bucket = |le: &str| {
                let l = labels.replace(", shard=", &format!(", le=\"{le}\", shard="));
                last[&format!("http_request_duration_seconds_bucket{l}")]
            };
            let (b5, b50, inf) = (bucket("0.005"), bucket("0.05"), bucket("+Inf"));
            assert_eq!(inf, *count);
            assert!(b5 <= b50 && b50 <= inf, "{labels}: {b5} {b50} {inf}");
            observed += count;
            checked += 1;
        }
        assert!(observed > 0.0);
        assert!(checked > 5);
        assert!(last.values().any(|v| v.fract() != 0.0));
    }

    #[test]
    fn targets_do_not_move_in_lockstep() {
        let schema = Schema::new(200);
        let (mut a, mut b) = (schema.target_state(1), schema.target_state(2));
        let (mut pa, mut pb) = (String::new(), String::new());
        for _ in 0..2 {
            pa.clear();
            pb.clear();
            schema.render(&mut a, &mut pa);
            schema.render(&mut b, &mut pb);
        }
        assert_ne!(pa, pb);
    }
}
