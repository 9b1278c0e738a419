#!/usr/bin/env python3
"""Deterministic generator of the golden-test dataset (data.om, OpenMetrics text).

    python3 gen_data.py [--out data.om]

Python 3.11 standard library only; the output is byte-identical on every run.

Time base: BASE = 1704063600 = 2023-12-31T23:00:00Z (a multiple of 3600). The data covers
2 hours, so it crosses midnight, a month boundary and a year boundary (useful for the
date functions). Every sample timestamp is BASE + 15*k + 7 (k = 0..479), i.e. ≡ 7 (mod 15),
while every query time / range / offset / step in queries.txt is a multiple of 15 s. So no
range-selector window edge and no lookback edge ever lands exactly on a sample, and the
results are the same for Prometheus 2.x (closed windows [t-r, t]) and 3.x ((t-r, t]).
Series with a longer interval (30 s, 60 s, 120 s) use a subset of the same grid.

Metric families (see README.md for what each one is meant to exercise):
  temp_celsius{instance,job="node",env,zone}     gauge, 15 s, 2 decimals, negatives
  temp_limit{instance,job="node"}                gauge, 60 s, one value is 0 (division by 0)
  gap_gauge{instance,job="node"}                 gauge, 15 s, gaps > 5 min, ends early, starts late
  mixed_values{case}                             gauge, 30 s, zero/±x.5/big/small/negative
  special_values{case}                           gauge, 60 s, NaN / +Inf / -Inf
  requests_total{instance,job="api",code}        counter, 15 s, integer increments, resets
  cpu_seconds_total{instance,job="node",mode}    counter, 30 s, fractional increments, reset
  node_info{instance,job="node",version,os}      info-like gauge (value 1), 60 s
  request_duration_seconds{instance,job}         classic histogram, 60 s, 3 label sets
  odd_duration_seconds{case}                     histogram, 240 s: non-monotonic buckets,
                                                 no +Inf bucket, all-zero buckets
"""
import argparse
import math
import os
import random

BASE = 1704063600          # 2023-12-31T23:00:00Z
STEP = 15                  # grid step (s)
OFFSET = 7                 # sample timestamps are BASE + STEP*k + OFFSET
N = 480                    # 2 hours of 15 s steps


def ts(k):
    return BASE + STEP * k + OFFSET


def fmt(v):
    """Number -> OpenMetrics text (exact, deterministic)."""
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def milli(m):
    """Integer thousandths -> exact decimal text (counters kept as integers: no FP drift)."""
    sign = "-" if m < 0 else ""
    m = abs(m)
    s = f"{m // 1000}.{m % 1000:03d}".rstrip("0").rstrip(".")
    return sign + s


def labels(d):
    return "{" + ",".join(f'{k}="{v}"' for k, v in d.items()) + "}"


class Out:
    def __init__(self):
        self.lines = []
        self.series = 0
        self.samples = 0

    def family(self, name, typ, help_):
        self.lines.append(f"# TYPE {name} {typ}")
        self.lines.append(f"# HELP {name} {help_}")

    def series_points(self, name, lbl, points):
        """points: iterable of (k, value)."""
        self.series += 1
        pre = name + labels(lbl) + " "
        for k, v in points:
            self.lines.append(f"{pre}{fmt(v)} {ts(k)}")
            self.samples += 1


def gen():
    rng = random.Random(20240101)
    o = Out()
    hosts = [f"host-{i}:9100" for i in range(1, 5)]

    # ---------------------------------------------------------------- temp_celsius
    o.family("temp_celsius", "gauge", "Temperature, 2 decimals, some negative.")
    meta = [("prod", "eu-1", 5.0, 40), ("prod", "eu-2", -3.0, 55),
            ("staging", "eu-1", 12.5, 70), ("dev", "us-1", 0.0, 90)]
    for h, (env, zone, base, period) in zip(hosts, meta):
        pts = []
        for k in range(N):
            v = base + 8 * math.sin(2 * math.pi * k / period) + rng.uniform(-0.5, 0.5)
            pts.append((k, round(v, 2) + 0.0))
        o.series_points("temp_celsius", {"instance": h, "job": "node", "env": env, "zone": zone}, pts)

    # ---------------------------------------------------------------- temp_limit
    o.family("temp_limit", "gauge", "Per-instance limit; host-2 is 0 (division by zero).")
    for h, f in zip(hosts[:3], [lambda k: 10, lambda k: 0, lambda k: 15 if k < 240 else 20]):
        o.series_points("temp_limit", {"instance": h, "job": "node"},
                        [(k, f(k)) for k in range(0, N, 4)])

    # ---------------------------------------------------------------- gap_gauge
    o.family("gap_gauge", "gauge", "Gauges with gaps longer than the 5m lookback.")
    # host-1: present k<120, gap (615 s between samples), 160<=k<300, gap (345 s),
    #         322<=k<340, short gap (255 s, bridged by lookback), k>=356
    keep1 = lambda k: k < 120 or 160 <= k < 300 or 322 <= k < 340 or k >= 356
    o.series_points("gap_gauge", {"instance": hosts[0], "job": "node"},
                    [(k, k * 0.5) for k in range(N) if keep1(k)])
    # host-2: ends early (last sample k=239, BASE+3592)
    o.series_points("gap_gauge", {"instance": hosts[1], "job": "node"},
                    [(k, 100 - k * 0.25) for k in range(240)])
    # host-3: starts late (first sample k=200, BASE+3007)
    o.series_points("gap_gauge", {"instance": hosts[2], "job": "node"},
                    [(k, (k % 10) * 1.5) for k in range(200, N)])

    # ---------------------------------------------------------------- mixed_values
    o.family("mixed_values", "gauge", "Values for the math functions.")
    cases = {
        "zero": lambda j: 0,
        "half": lambda j: (j % 6) - 2.5,                     # -2.5 .. 2.5 (x.5 rounding)
        "wave": lambda j: round(3.7 * math.sin(j / 20), 3) + 0.0,
        "big": lambda j: 123456789.125 + 1000 * j,
        "small": lambda j: round(0.000123 * (j + 1), 9),
        "neg_int": lambda j: -(j % 7) - 1,
        "frac": lambda j: round((j % 13) / 4 - 1.2, 2),      # -1.2 .. 1.8
    }
    for c, f in cases.items():
        o.series_points("mixed_values", {"case": c}, [(k, f(k // 2)) for k in range(0, N, 2)])

    # ---------------------------------------------------------------- special_values
    o.family("special_values", "gauge", "NaN and infinities.")
    cyc = [1, "NaN", "+Inf", "-Inf", 0, -1, 2.5]
    sp = {"nan": lambda j: "NaN", "inf": lambda j: "+Inf", "neginf": lambda j: "-Inf",
          "mixed": lambda j: cyc[j % len(cyc)]}
    for c, f in sp.items():
        o.series_points("special_values", {"case": c}, [(k, f(k // 4)) for k in range(0, N, 4)])

    # ---------------------------------------------------------------- requests_total
    o.family("requests", "counter", "Integer counter with resets.")
    for h in hosts[:3]:
        for code in ("200", "500"):
            v = {"host-1:9100": 1000, "host-2:9100": 3, "host-3:9100": 40}[h] if code == "200" else 0
            pts = []
            for k in range(N):
                if k > 0:
                    if code == "200":
                        inc = rng.randint(5, 20)
                    else:
                        inc = rng.choice([0, 0, 0, 1, 1, 2])
                    if h == hosts[0] and code == "500" and 150 <= k < 230:
                        inc = 0                               # flat for 20 minutes
                    v += inc
                    if (h, code) == (hosts[1], "200") and k == 200:
                        v = inc                               # reset
                    if (h, code) == (hosts[2], "500") and k in (100, 330):
                        v = inc                               # two resets
                pts.append((k, v))
            o.series_points("requests_total", {"instance": h, "job": "api", "code": code}, pts)

    # ---------------------------------------------------------------- cpu_seconds_total
    o.family("cpu_seconds", "counter", "Fractional counter (3 decimals), one reset.")
    for h in hosts[:2]:
        for mode, lo, hi in (("user", 5000, 15000), ("system", 1000, 4000), ("idle", 10000, 25000)):
            m = rng.randint(0, 10**6)
            pts = []
            for k in range(0, N, 2):
                if k > 0:
                    m += rng.randint(lo, hi)
                    if h == hosts[1] and mode == "idle" and k == 300:
                        m = rng.randint(lo, hi)
                pts.append((k, milli(m)))
            o.series_points("cpu_seconds_total", {"instance": h, "job": "node", "mode": mode}, pts)

    # ---------------------------------------------------------------- node_info
    o.family("node_info", "gauge", "Info-like metric, always 1.")
    for h, ver, os_ in zip(hosts, ["1.2.3", "1.2.3", "1.3.0", "2.0.0-rc.1"],
                           ["linux", "linux", "linux", "freebsd"]):
        o.series_points("node_info", {"instance": h, "job": "node", "version": ver, "os": os_},
                        [(k, 1) for k in range(0, N, 4)])

    # ---------------------------------------------------------------- histogram
    o.family("request_duration_seconds", "histogram", "Classic histogram.")
    les = [0.1, 0.25, 0.5, 1, 2.5]
    lestr = ["0.1", "0.25", "0.5", "1.0", "2.5", "+Inf"]
    for h, job, scale, rate_ in ((hosts[0], "api", 0.3, 30), (hosts[1], "api", 0.8, 20),
                                 (hosts[2], "batch", 2.0, 0)):
        counts = [0] * (len(les) + 1)
        total_us = 0
        lbl = {"instance": h, "job": job}
        pre = "request_duration_seconds"
        for k in range(0, N, 4):
            if k > 0:
                if h == hosts[1] and k == 300:                  # reset of the whole histogram
                    counts = [0] * (len(les) + 1)
                    total_us = 0
                n = rng.randint(rate_ // 2, rate_) if rate_ else (1 if k % 80 == 0 else 0)
                for _ in range(n):
                    x = round(rng.expovariate(1 / scale), 6)
                    total_us += round(x * 1e6)
                    for i, le in enumerate(les):
                        if x <= le:
                            counts[i] += 1
                    counts[-1] += 1
            for le, c in zip(lestr, counts):
                o.lines.append(f"{pre}_bucket{labels({**lbl, 'le': le})} {c} {ts(k)}")
            o.lines.append(f"{pre}_count{labels(lbl)} {counts[-1]} {ts(k)}")
            o.lines.append(f"{pre}_sum{labels(lbl)} {milli(total_us // 1000)} {ts(k)}")
            o.samples += len(lestr) + 2
        o.series += len(lestr) + 2

    # ---------------------------------------------------------------- odd histogram
    o.family("odd_duration_seconds", "histogram", "Broken histograms.")
    pre = "odd_duration_seconds"
    for case in ("nonmono", "noinf", "zero"):
        lbl = {"case": case}
        bucket_les = ["0.1", "0.5", "1.0"] + ([] if case == "noinf" else ["+Inf"])
        for k in range(0, N, 16):
            j = k // 16
            if case == "nonmono":
                vals = [2 * j + 5, 2 * j, 3 * j, 4 * j + 1]          # dip at le=0.5
            elif case == "noinf":
                vals = [j, 2 * j, 3 * j]
            else:
                vals = [0, 0, 0, 0]
            for le, c in zip(bucket_les, vals):
                o.lines.append(f"{pre}_bucket{labels({**lbl, 'le': le})} {c} {ts(k)}")
            o.lines.append(f"{pre}_count{labels(lbl)} {vals[-1]} {ts(k)}")
            o.lines.append(f"{pre}_sum{labels(lbl)} {j} {ts(k)}")
            o.samples += len(bucket_les) + 2
        o.series += len(bucket_les) + 2

    o.lines.append("# EOF")
    return o


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data.om"))
    a = ap.parse_args()
    o = gen()
    with open(a.out, "w", newline="\n") as fh:
        fh.write("\n".join(o.lines) + "\n")
    print(f"gen_data.py: wrote {a.out}: series={o.series} samples={o.samples} "
          f"bytes={os.path.getsize(a.out)}")


if __name__ == "__main__":
    main()
