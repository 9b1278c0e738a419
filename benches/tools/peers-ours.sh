#!/usr/bin/env bash
# Runs the shared side-by-side harness (../shared/peers, read-only: never edited from
# here) with our `tsdb-server` as the target "ours", beside Prometheus and
# VictoriaMetrics, in the same run on the same data.
#
#   benches/tools/peers-ours.sh                  # small profile, all three targets
#   PROFILE=big benches/tools/peers-ours.sh      # big profile (about 15 min, ~12 GB temp disk)
#   PROFILE=tiny benches/tools/peers-ours.sh     # smoke test
#   benches/tools/peers-ours.sh CMD ARGS...      # run CMD with the same environment instead
#                                                # of run.sh (e.g. peers-profile.py)
#
# Any of run.sh's variables (PROFILE, TARGETS, REPS, PHASES, CONCURRENCY, KEEP, PEERS_WORK,
# ...) pass through. The report and raw results go to RESULTS (default
# $CARGO_TARGET_DIR/peers/<UTC time>-<profile>), since the shared directory is read-only.
#
# What "ours" is given, and why (benches/RESULTS.md, "tsdb-server against the peers"):
# * --self-scrape-interval 0: no samples of our own beside the benchmark's (the series
#   and sample counts are verified exactly).
# * --out-of-order-window 1d (the default, spelled out): the harness keeps every shard
#   within 15 min of data time of the slowest one; our limits measure a sample's age from
#   the head's newest sample (not from the clock), so the 2024-dated storage data is
#   accepted, and 1 h of lag would already do. The ingest data ends 2 min before now,
#   well inside the 1 h --max-future bound.
# * --query-max-samples 200000000: the same sample budget the harness gives Prometheus.
# * --log-level warn, as the harness runs Prometheus.
# * The default limits hold: the big profile has 10,000 series (--max-series 2,000,000,
#   --max-series-per-metric 200,000) and 1,000 samples per request
#   (--max-samples-per-write 2,000,000; bodies of about 60-100 KB, limit 32 MiB).
# * --config with `storage: downsampling: []`: everything kept raw, as the peers keep it
#   (the data is dated 2024; the standard rules would roll it up and delete it).
# * OURS_FLUSH: POST /api/v1/admin/tsdb/flush persists the whole head into segments and
#   checkpoints the write-ahead log, as VictoriaMetrics' force_flush + force_merge and
#   promtool's finished blocks do for the peers.
# * OURS_INDEX_GLOB: a segment's `index` (labels, postings) and `series` (each series'
#   chunk list) count as index, as Prometheus' block `index` holds both; `chunks`, `meta`,
#   `MANIFEST` and what is left in `wal/` (the checkpointed series records) count as data.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
peers="${PEERS_DIR:-$repo/../shared/peers}"
[[ -x "$peers/run.sh" ]] || { echo "peers-ours.sh: no harness at $peers (set PEERS_DIR)" >&2; exit 2; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

(cd "$repo" && cargo build --release -p tsdb-examples --bin tsdb-server)
server="$CARGO_TARGET_DIR/release/tsdb-server"

# run.sh installs cramjam (snappy for remote-write bodies) into its own directory, which
# is read-only here: install it beside our build instead and put it on PYTHONPATH.
pydeps="$CARGO_TARGET_DIR/peers-pydeps"
if ! PYTHONPATH="$pydeps" python3 -c 'import cramjam' 2>/dev/null; then
  python3 -m pip install --quiet --target "$pydeps" cramjam >&2 \
    || echo "peers-ours.sh: cramjam install failed; remote-write bodies will be uncompressed snappy" >&2
fi
export PYTHONPATH="$pydeps${PYTHONPATH:+:$PYTHONPATH}"

profile="${PROFILE:-small}"
export PROFILE="$profile"
export TARGETS="${TARGETS:-prometheus,victoriametrics,ours}"
export RESULTS="${RESULTS:-$CARGO_TARGET_DIR/peers/$(date -u +%Y%m%dT%H%M%SZ)-$profile}"
# The harness's data is dated 2024: under the server's standard downsampling rules (raw
# 7 d, 1 m to 30 d, 1 h to 365 d) the flush would roll it up and delete it. The peers keep
# everything raw, so ours does too (OURS_DOWNSAMPLING=standard measures the rules instead).
ours_config="$CARGO_TARGET_DIR/peers-ours.yml"
if [[ "${OURS_DOWNSAMPLING:-none}" == none ]]; then
  printf 'storage:\n  downsampling: []\n' >"$ours_config"
else
  printf '{}\n' >"$ours_config"
fi
export OURS_CMD="$server --listen {addr} --data {datadir} --self-scrape-interval 0 \
--out-of-order-window 1d --query-max-samples 200000000 --log-level warn --config $ours_config"
export OURS_READY=/-/ready
export OURS_PROTOCOLS=influx,rw
export OURS_FLUSH='POST /api/v1/admin/tsdb/flush'
export OURS_INDEX_GLOB='segments/*/index;segments/*/series'
export OURS_VERSION="$server --version"

if (($#)); then
  exec "$@"
fi
echo "peers-ours.sh: load before: $(uptime)" >&2
"$peers/run.sh"
echo "peers-ours.sh: load after: $(uptime)" >&2
echo "peers-ours.sh: results in $RESULTS" >&2
