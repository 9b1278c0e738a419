//! A deterministic TSBS-like fleet for the tsdb-index benches: 10 cpu metrics per host,
//! hosts labelled with hostname, region, datacenter, rack, os, arch, team and service as
//! in TSBS's `cpu-only` use case. No `rand`: a splitmix64 of the host number picks every
//! attribute, so host `i` has the same labels in every run and in every program.

use tsdb_index::{IndexWriter, Labels, Matcher, RoaringBitmap};

/// The ten TSBS cpu fields, as Prometheus-style metric names.
pub const METRICS: [&str; 10] = [
    "cpu_usage_user",
    "cpu_usage_system",
    "cpu_usage_idle",
    "cpu_usage_nice",
    "cpu_usage_iowait",
    "cpu_usage_irq",
    "cpu_usage_softirq",
    "cpu_usage_steal",
    "cpu_usage_guest",
    "cpu_usage_guest_nice",
];

/// TSBS regions with their datacenters.
const REGIONS: [(&str, &[&str]); 9] = [
    (
        "us-east-1",
        &["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1e"],
    ),
    ("us-west-1", &["us-west-1a", "us-west-1b"]),
    ("us-west-2", &["us-west-2a", "us-west-2b", "us-west-2c"]),
    ("eu-west-1", &["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
    ("eu-central-1", &["eu-central-1a", "eu-central-1b"]),
    ("ap-southeast-1", &["ap-southeast-1a", "ap-southeast-1b"]),
    ("ap-southeast-2", &["ap-southeast-2a", "ap-southeast-2b"]),
    ("ap-northeast-1", &["ap-northeast-1a", "ap-northeast-1c"]),
    ("sa-east-1", &["sa-east-1a", "sa-east-1b", "sa-east-1c"]),
];
const OS: [&str; 3] = ["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"];
const ARCH: [&str; 2] = ["x64", "x86"];
const TEAM: [&str; 4] = ["SF", "NYC", "LON", "CHI"];

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A small xorshift stream seeded per host.
struct Rng(u64);

impl Rng {
    fn pick(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The host labels of host `i` (without `__name__`), as owned pairs.
pub fn host_labels(i: u32) -> [(&'static str, String); 8] {
    let mut r = Rng(splitmix64(u64::from(i)) | 1);
    let (region, dcs) = REGIONS[r.pick(REGIONS.len())];
    let dc = dcs[r.pick(dcs.len())];
    [
        ("hostname", format!("host_{i}")),
        ("region", region.to_owned()),
        ("datacenter", dc.to_owned()),
        ("rack", r.pick(100).to_string()),
        ("os", OS[r.pick(OS.len())].to_owned()),
        ("arch", ARCH[r.pick(ARCH.len())].to_owned()),
        ("team", TEAM[r.pick(TEAM.len())].to_owned()),
        ("service", r.pick(20).to_string()),
    ]
}

/// All series of a fleet of `hosts` hosts, host by host (the order a scraper sees them):
/// series id `host * 10 + metric`.
pub fn fleet(hosts: u32) -> Vec<Labels> {
    let mut out = Vec::with_capacity(hosts as usize * METRICS.len());
    for h in 0..hosts {
        let host = host_labels(h);
        for m in METRICS {
            let pairs =
                std::iter::once(("__name__", m)).chain(host.iter().map(|(n, v)| (*n, v.as_str())));
            // The generator only produces valid labels.
            if let Ok(l) = Labels::new(pairs) {
                out.push(l);
            }
        }
    }
    out
}

/// `{__name__="cpu_usage_user", hostname="host_4242"}`
pub fn query_host() -> Vec<Matcher> {
    vec![
        Matcher::equal("__name__", "cpu_usage_user"),
        Matcher::equal("hostname", "host_4242"),
    ]
}

/// `{__name__="cpu_usage_user", region="us-west-1", service=~"1|2|3"}`
pub fn query_region_services() -> Vec<Matcher> {
    let mut q = vec![
        Matcher::equal("__name__", "cpu_usage_user"),
        Matcher::equal("region", "us-west-1"),
    ];
    // A literal alternation always compiles.
    if let Ok(m) = Matcher::regex("service", "1|2|3") {
        q.push(m);
    }
    q
}

/// `{__name__="cpu_usage_user", rack="42"}`: `rack` has 100 values, more than a metric
/// scope keeps, so this one is answered from the global postings.
pub fn query_rack() -> Vec<Matcher> {
    vec![
        Matcher::equal("__name__", "cpu_usage_user"),
        Matcher::equal("rack", "42"),
    ]
}

/// `{region="us-west-1", service=~"1|2|3"}`: no metric name, so no scope either.
pub fn query_region_services_any_metric() -> Vec<Matcher> {
    let mut q = query_region_services();
    q.remove(0);
    q
}

/// The fleet's ids in label order: `order[disk id]` is the position in `series` of the
/// series the on-disk index numbers `disk id`. The head hands a segment's series to the
/// segment writer sorted like this.
pub fn label_order(series: &[Labels]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..series.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| series[a as usize].cmp(&series[b as usize]));
    order
}

/// Writes the on-disk index as the segment writer does (`tsdb-core/src/segment/write.rs`):
/// one `IndexWriter::add` per series in label order, then `finish_to_vec`.
pub fn write_index(series: &[Labels], order: &[u32]) -> Result<Vec<u8>, tsdb_index::Error> {
    let mut w = IndexWriter::new();
    for &i in order {
        w.add(&series[i as usize])?;
    }
    w.finish_to_vec()
}

/// The ids of the label-ordered on-disk index mapped back to fleet ids, sorted.
pub fn fleet_ids(hits: &RoaringBitmap, order: &[u32]) -> Vec<u32> {
    let mut ids: Vec<u32> = hits
        .iter()
        .filter_map(|id| order.get(id as usize).copied())
        .collect();
    ids.sort_unstable();
    ids
}

/// The baseline without an index: test every series against every matcher.
pub fn linear_scan(series: &[Labels], matchers: &[Matcher]) -> Vec<u32> {
    series
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            matchers
                .iter()
                .all(|m| m.matches(l.get(m.name()).unwrap_or("")))
        })
        .map(|(i, _)| i as u32)
        .collect()
}

/// Builds an in-memory index of `series` in one batch (ids = positions, as the fleet has
/// no duplicates). Returns how many inserts failed, which is 0 below 2^32 series.
pub fn build_mem(series: &[Labels]) -> (tsdb_index::MemIndex, usize) {
    let idx = tsdb_index::MemIndex::new();
    let failed = idx
        .get_or_insert_batch(series)
        .iter()
        .filter(|r| r.is_err())
        .count();
    (idx, failed)
}
