#!/usr/bin/env bash
# Runs the instruction-count suite (benches/benches/instructions.rs) under Valgrind and
# writes every benchmark's instruction count to $CARGO_TARGET_DIR/instr/counts.json
# (target/instr/counts.json by default); prints that path last.
#
#   benches/tools/instr-bench.sh [extra gungraun arguments, e.g. a benchmark filter]
#
# Needs valgrind (Debian: `apt-get install -y valgrind`) and gungraun-runner at the
# version of the gungraun dev-dependency in benches/Cargo.toml; installs the runner when
# it is missing or another version.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v valgrind >/dev/null 2>&1; then
    echo "instr-bench: valgrind is not installed; install it with:" >&2
    echo "    apt-get install -y valgrind" >&2
    exit 1
fi

# The runner and the library must be the same version, or gungraun refuses to run.
version="$(sed -n 's/^gungraun = "=\{0,1\}\([0-9][0-9.]*\)".*/\1/p' benches/Cargo.toml)"
if [ -z "$version" ]; then
    echo "instr-bench: no gungraun version in benches/Cargo.toml" >&2
    exit 1
fi
# A debug build: 50-70 s on 2 cores against 6-18 min for the release build, and the
# runner's own speed does not matter (Valgrind's is what the suite waits for; the counts
# are of the benchmark binary, not of the runner).
if [ "$(gungraun-runner --version 2>/dev/null)" != "gungraun-runner $version" ]; then
    echo "instr-bench: installing gungraun-runner $version (cargo install --locked --debug)"
    cargo install --locked --debug gungraun-runner --version "$version"
fi

target="${CARGO_TARGET_DIR:-target}"
# Fixed hash map seeds in the benchmark processes (see fixed-getrandom.c): without them
# counts that go through a HashMap move by up to 2 % between runs.
mkdir -p "$target/instr"
cc -shared -fPIC -O2 -o "$target/instr/fixed-getrandom.so" benches/tools/fixed-getrandom.c
TSDB_INSTR_PRELOAD="$(cd "$target/instr" && pwd)/fixed-getrandom.so"
export TSDB_INSTR_PRELOAD
summaries="$target/gungraun/tsdb-benches/instructions"
out="$target/instr/counts.json"
# Summaries of an earlier run (or of a benchmark since removed) must not be collected.
rm -rf "$summaries"
start=$(date +%s)
# `--workspace`, not `-p tsdb-benches`: features resolve as in `cargo bench --workspace
# --no-run` (.ci/run's step before), so that build is reused instead of recompiling
# about 30 crates with another feature set.
cargo bench --workspace --bench instructions -- --save-summary=json "$@"
echo "instr-bench: suite ran in $(( $(date +%s) - start )) s"
python3 benches/tools/instr-counts.py "$summaries" "$out"
echo "$out"
