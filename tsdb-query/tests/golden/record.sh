#!/usr/bin/env bash
# Re-record the PromQL golden suite from a real Prometheus 2.42 (see README.md):
# regenerates data.om, expected.jsonl and VERSION in this directory. Loopback only.
#   ./record.sh [--keep-tmp] [--prometheus BIN] [--promtool BIN]
# Needs prometheus + promtool on PATH: ../../../../shared/peers/install-peers.sh (Debian 2.42).
set -euo pipefail
cd "$(dirname "$0")"
exec python3 ./record.py "$@"
