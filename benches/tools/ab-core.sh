#!/usr/bin/env bash
# Same-run A/B of two core-report builds: append (phase hours), WAL replay (phase replay)
# and persist (phase persist) on the same data, the two binaries alternated round by round
# so that machine drift hits both alike. Prints one line per round and binary.
#
#   benches/tools/ab-core.sh OLD_CORE_REPORT NEW_CORE_REPORT [ROUNDS] [SERIES] [SAMPLES]
set -euo pipefail
old=$1 new=$2 rounds=${3:-3} series=${4:-100000} samples=${5:-60}
work=$(mktemp -d /tmp/ab-core.XXXXXX)
trap 'rm -rf "$work"' EXIT
val() { grep -o "#R $1=[^ ]*" | head -1 | cut -d= -f2; }
printf '%-5s %-4s %12s %10s %12s %10s\n' round bin append_M/s replay_s replay_M/s persist_s
for r in $(seq 1 "$rounds"); do
  for which in old new; do
    bin=${!which}
    dir=$work/$which-$r
    h=$("$bin" phase hours "$dir" "$series" "$samples")
    rp=$("$bin" phase replay "$dir" "$samples")
    p=$("$bin" phase persist "$dir" "$samples")
    a_s=$(echo "$h" | val append_s); a_n=$(echo "$h" | val append_samples)
    o_s=$(echo "$rp" | val open_s); o_n=$(echo "$rp" | val head_samples)
    p_s=$(echo "$p" | val persist_s)
    awk -v r="$r" -v w="$which" -v as="$a_s" -v an="$a_n" -v os="$o_s" -v on="$o_n" -v ps="$p_s" \
      'BEGIN { printf "%-5s %-4s %12.2f %10.2f %12.2f %10.2f\n", r, w, an/as/1e6, os, on/os/1e6, ps }'
    rm -rf "$dir"
  done
done
