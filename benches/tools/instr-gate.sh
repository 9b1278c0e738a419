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
# The instr-compare that `cargo test --workspace` (.ci/run's test step) built for its own
# tests: nothing to build after that step. `cargo run -p tsdb-benches` would resolve
# features differently and recompile about 30 crates (a minute on 2 cores).
cargo test -q --workspace --no-run
"$target/debug/instr-compare" \
    --baseline benches/baselines/instructions.json \
    --current "$target/instr/counts.json"
