#!/usr/bin/env python3
"""Server CPU time per query of a running peer, beside its wall-clock latency.

    peer_cpu.py --pid PID --port PORT --meta STORE/meta.json [--queries FILE] [--reps 20]

Runs the peers' battery (../shared/peers/queries.txt) against a Prometheus-API server that
is already loaded, at the peers' harness times (T = end - interval/2), one query at a time
on a new connection, like ../shared/peers/bench.py: 1 warm-up, then --reps timed runs.
For each query it prints the median wall time and the server's CPU time (utime + stime
from /proc/PID/stat) per run, so that a server that spreads one query over several cores
shows it: CPU ms / wall ms above 1 means parallel evaluation.

Used for benches/RESULTS.md (tsdb-query), on data directories left by
`KEEP=1 PEERS_WORK=DIR ../shared/peers/run.sh`, each server started by hand on its
directory with the flags of ../shared/peers/targets.py.
"""
import argparse
import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "..", "..", "..", "shared", "peers")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def parse_queries(path):
    out = []
    for line in open(path):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        name, kind, rng, step, q = [p.strip() for p in s.split("|", 4)]
        out.append((name, kind, rng, step, q))
    return out


def dur_s(s):
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return float(s[:-1]) * units[s[-1]] if s[-1] in units else float(s)


def get(port, name, kind, rng, step, q, anchor):
    if kind == "instant":
        path, params = "/api/v1/query", {"query": q, "time": f"{anchor:.3f}"}
    else:
        path, params = "/api/v1/query_range", {
            "query": q, "start": f"{anchor - dur_s(rng):.3f}", "end": f"{anchor:.3f}", "step": step}
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        c.request("GET", path + "?" + urllib.parse.urlencode(params))
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--queries", default=os.path.join(PEERS, "queries.txt"))
    ap.add_argument("--reps", type=int, default=20)
    a = ap.parse_args()
    meta = json.load(open(a.meta))
    anchor = meta["end_s"] - meta["interval_s"] / 2
    print("| query | wall median ms | server CPU ms per run | CPU / wall |")
    print("|---|---:|---:|---:|")
    for name, kind, rng, step, q in parse_queries(a.queries):
        st, _ = get(a.port, name, kind, rng, step, q, anchor)
        if st != 200:
            print(f"{name}: HTTP {st}", file=sys.stderr)
        walls = []
        c0 = cpu_s(a.pid)
        t0 = time.perf_counter()
        for _ in range(a.reps):
            t = time.perf_counter()
            get(a.port, name, kind, rng, step, q, anchor)
            walls.append((time.perf_counter() - t) * 1000)
        total_wall = (time.perf_counter() - t0) * 1000
        cpu_ms = (cpu_s(a.pid) - c0) * 1000 / a.reps
        print(f"| {name} | {statistics.median(walls):.2f} | {cpu_ms:.2f} | "
              f"{cpu_ms * a.reps / total_wall:.2f} |")


if __name__ == "__main__":
    main()
