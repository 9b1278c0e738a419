#!/usr/bin/env bash
# The instruction-count gate `.ci/run` runs: the whole suite under Valgrind, then the
# comparison with the committed baseline. Exits 1 with the comparison's table when a
# benchmark regressed beyond the threshold (3 %) or is missing, 2 when the baseline was
# revised without a reason in benches/baselines/CHANGELOG.md. See benches/RESULTS.md,
# "Instruction counts".
#
#   bash benches/tools/instr-gate.sh
#
# Installs Valgrind (Debian) and gungraun-runner (crates.io, by instr-bench.sh) when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v valgrind >/dev/null 2>&1; then
    echo "instr-gate: installing valgrind (Debian)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends valgrind; then
        apt-get update && apt-get install -y --no-install-recommends valgrind
    fi
fi

target="${CARGO_TARGET_DIR:-target}"
bash benches/tools/instr-bench.sh
# Built by `cargo test` already (the debug profile); the comparison is cheap.
cargo run -q -p tsdb-benches --bin instr-compare -- \
    --baseline benches/baselines/instructions.json \
    --current "$target/instr/counts.json"
