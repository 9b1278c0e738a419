#!/usr/bin/env python3
"""Issue 12's goals, read from one or more peers `summary.json` files (same-run figures).

    python3 benches/tools/peers-goals.py RESULTS_DIR/summary.json [MORE/summary.json ...]

For each run, against VictoriaMetrics (and Prometheus for reference): ingest samples/s per
protocol, server CPU seconds per million samples, peak RSS during ingest, bytes/sample
after flush, each query's median latency ratio, and whether the saved answers agree with
Prometheus (the harness's compare.py). Prints Markdown.
"""
import json
import math
import sys


def mib(n):
    return f"{n / 2**20:.1f}"


def run(path, ours="ours", peer="victoriametrics", ref="prometheus"):
    S = json.load(open(path))
    print(f"### {S['run_id']}\n")
    ing = {(r["target"], r["protocol"]): r for r in S.get("ingest", []) if "error" not in r}
    print("| target | protocol | samples/s | server CPU s per M samples | peak RSS MiB | errors |")
    print("|---|---|---:|---:|---:|---:|")
    for (t, p), r in sorted(ing.items()):
        cpu = r.get("server_cpu_s") or 0
        per_m = cpu / (r["samples_ok"] / 1e6) if r.get("samples_ok") else float("nan")
        print(f"| {t} | {p} | {r['samples_per_s']:,} | {per_m:.2f} | {mib(r['peak_rss'])} | {r['errors']} |")
    print()
    st = S.get("storage", {})
    print("| target | bytes/sample | data | index | load samples/s | VmHWM load+queries MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for t, e in st.items():
        if "size" not in e:
            continue
        z, n = e["size"], e["samples"]
        data = z.get("chunks", z.get("data", z["total"]))
        print(f"| {t} | {z['total'] / n:.3f} | {data / n:.3f} | {z.get('index', 0) / n:.3f} | "
              f"{e['load'].get('samples_per_s', 0):,} | {mib(e.get('proc', {}).get('VmHWM', 0))} |")
    print()
    goals = []
    for p in ("influx", "rw"):
        a, b = ing.get((ours, p)), ing.get((peer, p))
        if a and b:
            ca = a["server_cpu_s"] / a["samples_ok"]
            cb = b["server_cpu_s"] / b["samples_ok"]
            goals.append(f"ingest {p}: {a['samples_per_s'] / b['samples_per_s']:.2f}x {peer}'s samples/s "
                         f"(goal > 1); CPU per sample {ca / cb:.2f}x (goal < 1); "
                         f"peak RSS {a['peak_rss'] / b['peak_rss']:.2f}x (goal < 1)")
    if ours in st and peer in st and "size" in st[ours] and "size" in st[peer]:
        ra = st[ours]["size"]["total"] / st[ours]["samples"]
        rb = st[peer]["size"]["total"] / st[peer]["samples"]
        goals.append(f"bytes/sample: {ra / rb:.2f}x {peer}'s (goal < 1)")
    qs = S.get("queries", {})
    if ours in qs and peer in qs:
        rows, ratios = [], []
        for q in S["query_names"]:
            n = q["name"]
            a, b = qs[ours].get(n, {}), qs[peer].get(n, {})
            c = qs.get(ref, {}).get(n, {})
            if a.get("median_ms") and b.get("median_ms"):
                r = a["median_ms"] / b["median_ms"]
                ratios.append(r)
                rows.append((n, a["median_ms"], b["median_ms"], c.get("median_ms"), r))
        print(f"| query | ours ms | {peer} ms | {ref} ms | ours / {peer} |")
        print("|---|---:|---:|---:|---:|")
        for n, a, b, c, r in rows:
            mark = "" if r < 1 else " **slower**"
            print(f"| {n} | {a} | {b} | {c} | {r:.2f}{mark} |")
        print()
        slower = [n for n, *_rest, r in rows if r >= 1]
        gm = math.exp(sum(map(math.log, ratios)) / len(ratios))
        goals.append(f"queries: geo-mean {gm:.2f}x {peer}'s; {len(rows) - len(slower)}/{len(rows)} faster "
                     f"(goal: all); not faster: {', '.join(slower) or 'none'}")
    for k, v in S.get("compare", {}).items():
        if k.endswith(f"vs {ours}") and k.startswith(ref):
            same = [n for n, d in v.items() if isinstance(d, dict) and d.get("ok")]
            goals.append(f"compare.py {k}: {len(same)}/{len(v)} identical")
    for g in goals:
        print(f"- {g}")
    print()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for p in sys.argv[1:]:
        run(p)
