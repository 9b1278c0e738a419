#!/usr/bin/env bash
# Scrape throughput of our tsdb-server against a real Prometheus (2.42, Debian's
# /usr/bin/prometheus), one after the other against the same fleet of synthetic exporters
# (`scrape-fleet`, one process), with one scrape config read unchanged by both.
# benches/RESULTS.md, "Scrape throughput against Prometheus 2.42".
#
#   benches/tools/scrape-bench.sh                      # 1,000 x 1,000 series at 10 s, 3 min
#   TARGETS=50 SERIES=100 WINDOW=30 WARMUP=20 benches/tools/scrape-bench.sh   # smoke
#
# Environment (defaults in brackets):
#   TARGETS [1000]   targets (ports from FLEET_PORT [20000] on 127.0.0.1)
#   SERIES [1000]    series per target
#   INTERVAL [10]    scrape_interval (and scrape_timeout), seconds
#   WARMUP [30]      seconds from the server's start to the measured window
#   WINDOW [180]     measured window, seconds
#   RUNS [1]         measured runs (each runs ours, then Prometheus, on fresh data dirs)
#   SERVERS [ours,prometheus]
#   WORK [$CARGO_TARGET_DIR/scrape-bench/<UTC time>]  config, logs, data, results.jsonl
#   PROMETHEUS [/usr/bin/prometheus]
# Needs Prometheus (`apt-get install -y prometheus`); our binaries are built here.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
prometheus="${PROMETHEUS:-/usr/bin/prometheus}"
[[ -x "$prometheus" ]] || {
  echo "scrape-bench.sh: no Prometheus at $prometheus (apt-get install -y prometheus)" >&2
  exit 2
}

(cd "$repo" && cargo build --release -p tsdb-examples --bin tsdb-server \
  && cargo build --release -p tsdb-benches --bin scrape-fleet)

work="${WORK:-$CARGO_TARGET_DIR/scrape-bench/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$work"
echo "scrape-bench.sh: $("$prometheus" --version 2>&1 | head -1)" >&2
echo "scrape-bench.sh: load before: $(uptime)" >&2
status=0
python3 "$here/scrape_bench.py" \
  --fleet "$CARGO_TARGET_DIR/release/scrape-fleet" \
  --ours "$CARGO_TARGET_DIR/release/tsdb-server" \
  --prometheus "$prometheus" \
  --work "$work" \
  --targets "${TARGETS:-1000}" --series "${SERIES:-1000}" --interval "${INTERVAL:-10}" \
  --warmup "${WARMUP:-30}" --window "${WINDOW:-180}" --runs "${RUNS:-1}" \
  --servers "${SERVERS:-ours,prometheus}" --fleet-port "${FLEET_PORT:-20000}" \
  --json "$work/results.jsonl" | tee "$work/report.md" || status=$?
echo "scrape-bench.sh: load after: $(uptime)" >&2
echo "scrape-bench.sh: results in $work" >&2
exit "$status"
