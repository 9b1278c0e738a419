#!/usr/bin/env bash
# The web UI benchmark in one command: our graph page against Prometheus's own UI (Debian's
# `prometheus`), in the same run, the same Chromium, on the same data. Prints a Markdown
# table (benches/RESULTS.md, "Web UI", says what each column means).
#
#   benches/tools/ui-report.sh
#   REPEATS=3 COUNTS=10,100 benches/tools/ui-report.sh     # quicker
#   PROFILE_DIR=/tmp/prof benches/tools/ui-report.sh       # also a V8 CPU profile per UI
#
# Steps: builds the release `tsdb-server` and `tsdb`; writes a deterministic fleet as
# OpenMetrics text (ui/bench/data.mjs: bench_gauge_nN with exactly N series for each N in
# COUNTS, 15 s samples over the 2 h ending at the round hour a day ago); loads it into ours
# with `tsdb import` and into Prometheus with `promtool tsdb create-blocks-from
# openmetrics`; starts both servers on free 127.0.0.1 ports (ours without self-scraping,
# Prometheus with no scrape jobs, so both hold the fleet only); runs ui/bench/report.mjs,
# which first checks that both answer the same series counts and sums; stops both.
#
# Needs: node and `npm ci --prefix ui` (playwright-core), /usr/bin/chromium (or CHROMIUM),
# prometheus and promtool on PATH. The report and raw JSON go to UI_BENCH_OUT (default
# $CARGO_TARGET_DIR/ui-bench/<UTC time>; not OUT_DIR, which cargo itself reads); the
# temporary data (about 150 MB) is removed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
chromium="${CHROMIUM:-/usr/bin/chromium}"

need() { command -v "$1" >/dev/null 2>&1 || { echo "ui-report.sh: $1 is missing: $2" >&2; exit 2; }; }
need node "install Node.js 18 or later (Debian: apt-get install -y nodejs npm)"
need prometheus "install Debian's prometheus (apt-get install -y prometheus)"
need promtool "install Debian's prometheus (apt-get install -y prometheus)"
need curl "install curl"
[[ -x "$chromium" ]] || { echo "ui-report.sh: no Chromium at $chromium: apt-get install -y --no-install-recommends chromium (or set CHROMIUM)" >&2; exit 2; }
[[ -d "$repo/ui/node_modules/playwright-core" ]] || { echo "ui-report.sh: run \`npm ci --prefix ui\` first" >&2; exit 2; }

(cd "$repo" && cargo build --release -p tsdb-examples --bin tsdb-server --bin tsdb)
bin="$CARGO_TARGET_DIR/release"

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out_dir="${UI_BENCH_OUT:-$CARGO_TARGET_DIR/ui-bench/$stamp}"
mkdir -p "$out_dir"
work="$(mktemp -d "${TMPDIR:-/tmp}/ui-bench.XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# the window: 2 h ending at the round hour a day ago (inside both servers' retention and
# the raw tier of our standard downsampling rule, and far from both heads' present)
now="$(date -u +%s)"
end_s=$(( now / 3600 * 3600 - 86400 ))
counts="${COUNTS:-10,100,1000,2000}"

echo "ui-report: data for the 2 h ending $(date -u -d "@$end_s" '+%F %T') UTC" >&2
node "$repo/ui/bench/data.mjs" "$end_s" > "$work/fleet.om"

"$bin/tsdb" import --data "$work/ours" --format openmetrics "$work/fleet.om" > "$work/import.log" 2>&1 \
  || { cat "$work/import.log" >&2; exit 1; }
promtool tsdb create-blocks-from openmetrics "$work/fleet.om" "$work/prom" > "$work/promtool.log" 2>&1 \
  || { cat "$work/promtool.log" >&2; exit 1; }
rm -f "$work/fleet.om"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ours_port="$(free_port)"
prom_port="$(free_port)"

"$bin/tsdb-server" --listen "127.0.0.1:$ours_port" --data "$work/ours" --self-scrape-interval 0 \
  --log-level warn > "$work/ours.log" 2>&1 &
pids+=($!)
printf 'global:\n  scrape_interval: 1h\n' > "$work/prometheus.yml"
prometheus --config.file "$work/prometheus.yml" --storage.tsdb.path "$work/prom" \
  --storage.tsdb.retention.time 3650d --web.listen-address "127.0.0.1:$prom_port" \
  --log.level warn > "$work/prometheus.log" 2>&1 &
pids+=($!)

wait_ready() {
  local url="$1" log="$2"
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "ui-report.sh: $url not ready after 60 s; its log:" >&2
  cat "$log" >&2
  exit 1
}
wait_ready "http://127.0.0.1:$ours_port/-/ready" "$work/ours.log"
wait_ready "http://127.0.0.1:$prom_port/-/ready" "$work/prometheus.log"

prom_version="$(prometheus --version 2>&1 | head -1 | awk '{print $3}')"
(cd "$repo/ui" && OURS_URL="http://127.0.0.1:$ours_port" PROM_URL="http://127.0.0.1:$prom_port" \
  END_S="$end_s" COUNTS="$counts" PROM_VERSION="$prom_version" CHROMIUM="$chromium" \
  OUT="$out_dir/raw.json" node bench/report.mjs) | tee "$out_dir/report.md"
echo "ui-report: report and raw measurements in $out_dir" >&2
