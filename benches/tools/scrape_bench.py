#!/usr/bin/env python3
"""Scrape throughput of tsdb-server against Prometheus, on one synthetic exporter fleet.

    scrape_bench.py --fleet BIN --ours BIN --prometheus BIN --work DIR
                    [--targets 1000] [--series 1000] [--interval 10] [--warmup 30]
                    [--window 180] [--runs 1] [--servers ours,prometheus]

Run by benches/tools/scrape-bench.sh (which builds the binaries and maps its environment
variables onto these flags). Starts the fleet (`scrape-fleet`: --targets ports from
--fleet-port, --series series each), writes one Prometheus scrape config listing every
target, and then, one server at a time against the same running fleet, for each run:

1. starts the server on a fresh data directory with that config,
2. waits --warmup seconds (the first scrapes create every series),
3. measures over --window seconds: the server's CPU time (utime + stime of
   /proc/PID/stat), its RSS once a minute, the samples it appended (its own counter:
   `tsdb_samples_appended_total` for ours, `prometheus_tsdb_head_samples_appended_total`
   for Prometheus), the fleet's CPU time and the pages it served,
4. reads its peak RSS (VmHWM) and, through /api/v1/query, how many targets are up, the
   samples scraped in the window (`sum(sum_over_time(scrape_samples_scraped[W]))`, a
   check on the counter that does not depend on either server's internals) and the
   longest scrape of the window (`max(max_over_time(scrape_duration_seconds[W]))`),
5. stops it (SIGTERM) and removes its data directory.

Prints a Markdown table per run and ratios ours / Prometheus, and the raw figures as
JSON lines (to --json if given).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def http_get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def counter_sum(text, name):
    """Sum of every sample of `name` (any labels) in an exposition page."""
    total, seen = 0.0, False
    for line in text.splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
            total += float(line.rsplit(" ", 1)[1] if "}" not in line
                           else line.rsplit("}", 1)[1].split()[0])
            seen = True
    if not seen:
        raise RuntimeError(f"no {name} in /metrics")
    return total


def query(port, q):
    body = http_get(f"http://127.0.0.1:{port}/api/v1/query?"
                    + urllib.parse.urlencode({"query": q}))
    res = json.loads(body)["data"]["result"]
    return float(res[0]["value"][1]) if res else float("nan")


def fleet_stats(port):
    out = {}
    for line in http_get(f"http://127.0.0.1:{port}/fleet-stats").splitlines():
        k, v = line.split()
        out[k] = int(v)
    return out


def wait_ready(url, proc, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} was ready")
        try:
            http_get(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def write_config(path, targets, first_port, interval):
    lines = [
        "# Written by benches/tools/scrape_bench.py; read unchanged by both servers.",
        "global:",
        f"  scrape_interval: {interval}s",
        f"  scrape_timeout: {interval}s",
        "scrape_configs:",
        "  - job_name: fleet",
        "    static_configs:",
        "      - targets:",
    ]
    lines += [f"          - 127.0.0.1:{first_port + i}" for i in range(targets)]
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


SERVERS = {
    # name: (counter of appended samples, readiness path)
    "ours": ("tsdb_samples_appended_total", "/-/ready"),
    "prometheus": ("prometheus_tsdb_head_samples_appended_total", "/-/ready"),
}


def start_server(name, a, config, data, port, log):
    if name == "ours":
        cmd = [a.ours, "--listen", f"127.0.0.1:{port}", "--data", data, "--config", config,
               "--self-scrape-interval", "0", "--log-level", "warn"]
    else:
        cmd = [a.prometheus, f"--config.file={config}", f"--storage.tsdb.path={data}",
               f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    return subprocess.Popen(cmd, stdout=log, stderr=log)


def measure(name, a, config, run):
    port = a.ours_port if name == "ours" else a.prometheus_port
    data = os.path.join(a.work, f"data-{name}-{run}")
    shutil.rmtree(data, ignore_errors=True)
    log_path = os.path.join(a.work, f"{name}-{run}.log")
    counter, ready = SERVERS[name]
    with open(log_path, "w") as log:
        proc = start_server(name, a, config, data, port, log)
        try:
            wait_ready(f"http://127.0.0.1:{port}{ready}", proc)
            time.sleep(a.warmup)
            load0 = os.getloadavg()
            c0, f0 = cpu_s(proc.pid), cpu_s(a.fleet_pid)
            s0 = counter_sum(http_get(f"http://127.0.0.1:{port}/metrics"), counter)
            p0, t0 = fleet_stats(a.fleet_port), time.time()
            # RSS once a minute through the window, to show the head's growth.
            rss_trace = []
            while time.time() - t0 < a.window:
                time.sleep(min(60, a.window - (time.time() - t0)))
                rss_trace.append(round(status_kb(proc.pid, "VmRSS") / 1024))
            c1, f1 = cpu_s(proc.pid), cpu_s(a.fleet_pid)
            s1 = counter_sum(http_get(f"http://127.0.0.1:{port}/metrics"), counter)
            p1, t1 = fleet_stats(a.fleet_port), time.time()
            load1 = os.getloadavg()
            w = f"{int(a.window)}s"
            r = {
                "server": name,
                "run": run,
                "targets": a.targets,
                "series": a.series,
                "interval_s": a.interval,
                "window_s": round(t1 - t0, 2),
                "cpu_s": round(c1 - c0, 2),
                "samples": s1 - s0,
                "samples_query": query(port, f"sum(sum_over_time(scrape_samples_scraped[{w}]))"),
                "up": query(port, "count(up == 1)"),
                "targets_seen": query(port, "count(up)"),
                "max_scrape_s": query(port, f"max(max_over_time(scrape_duration_seconds[{w}]))"),
                "avg_scrape_s": query(port, f"avg(avg_over_time(scrape_duration_seconds[{w}]))"),
                "peak_rss_mib": round(status_kb(proc.pid, "VmHWM") / 1024, 1),
                "rss_mib": round(status_kb(proc.pid, "VmRSS") / 1024, 1),
                "rss_trace_mib": rss_trace,
                "fleet_cpu_s": round(f1 - f0, 2),
                "fleet_pages": p1["requests"] - p0["requests"],
                "fleet_mb": round((p1["bytes"] - p0["bytes"]) / 1e6, 1),
                "load_start": [round(x, 2) for x in load0],
                "load_end": [round(x, 2) for x in load1],
            }
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    r["data_mib"] = round(sum(os.path.getsize(os.path.join(d, f))
                              for d, _, fs in os.walk(data) for f in fs) / 2**20, 1)
    if not a.keep:
        shutil.rmtree(data, ignore_errors=True)
    r["samples_per_s"] = round(r["samples"] / r["window_s"])
    r["cpu_s_per_m_samples"] = round(r["cpu_s"] / (r["samples"] / 1e6), 3) if r["samples"] else None
    r["fleet_cpu_s_per_m_samples"] = (round(r["fleet_cpu_s"] / (r["samples"] / 1e6), 3)
                                      if r["samples"] else None)
    # Pages the fleet should have served in the window if every target was scraped once
    # per interval.
    r["scrapes_expected"] = round(a.targets * r["window_s"] / a.interval)
    return r


def table(rows):
    cols = [
        ("server", "server"), ("run", "run"),
        ("up", "targets up"), ("samples_per_s", "samples/s"),
        ("samples", "samples (counter)"), ("samples_query", "samples (query)"),
        ("fleet_pages", "pages served"), ("scrapes_expected", "pages expected"),
        ("cpu_s", "CPU s"), ("cpu_s_per_m_samples", "CPU s / M samples"),
        ("peak_rss_mib", "peak RSS MiB"), ("rss_mib", "RSS at end MiB"),
        ("avg_scrape_s", "avg scrape s"), ("max_scrape_s", "max scrape s"),
        ("fleet_cpu_s", "fleet CPU s"), ("data_mib", "data dir MiB"),
    ]
    out = ["| " + " | ".join(h for _, h in cols) + " |",
           "|" + "|".join("---" if i < 2 else "---:" for i in range(len(cols))) + "|"]
    for r in rows:
        cells = []
        for k, _ in cols:
            v = r.get(k)
            if isinstance(v, float):
                v = f"{v:,.0f}" if abs(v) >= 1000 else (f"{v:.4f}" if k.endswith("scrape_s") else f"{v:g}")
            elif isinstance(v, int) and k not in ("run",):
                v = f"{v:,}"
            cells.append(str(v))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def ratios(rows):
    out = []
    runs = sorted({r["run"] for r in rows})
    for run in runs:
        o = next((r for r in rows if r["run"] == run and r["server"] == "ours"), None)
        p = next((r for r in rows if r["run"] == run and r["server"] == "prometheus"), None)
        if not (o and p):
            continue
        def q(k):
            return f"{o[k] / p[k]:.2f}" if o.get(k) and p.get(k) else "n/a"
        out.append(f"run {run}: ours / Prometheus: CPU per sample {q('cpu_s_per_m_samples')}, "
                   f"peak RSS {q('peak_rss_mib')}, RSS at end {q('rss_mib')}, "
                   f"samples/s {q('samples_per_s')}, max scrape {q('max_scrape_s')}, "
                   f"data dir {q('data_mib')}")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fleet", required=True)
    ap.add_argument("--ours", required=True)
    ap.add_argument("--prometheus", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--warmup", type=float, default=30)
    ap.add_argument("--window", type=float, default=180)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--servers", default="ours,prometheus")
    ap.add_argument("--fleet-port", type=int, default=20000)
    ap.add_argument("--fleet-threads", type=int, default=1)
    ap.add_argument("--ours-port", type=int, default=19090)
    ap.add_argument("--prometheus-port", type=int, default=19091)
    ap.add_argument("--json", help="append the raw figures as JSON lines to this file")
    ap.add_argument("--keep", action="store_true", help="keep the data directories")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    config = os.path.join(a.work, "scrape.yml")
    write_config(config, a.targets, a.fleet_port, a.interval)

    fleet_log = open(os.path.join(a.work, "fleet.log"), "w")
    fleet = subprocess.Popen(
        [a.fleet, "--targets", str(a.targets), "--series", str(a.series),
         "--port", str(a.fleet_port), "--threads", str(a.fleet_threads)],
        stdout=subprocess.PIPE, stderr=fleet_log, text=True)
    a.fleet_pid = fleet.pid
    rows = []
    try:
        line = fleet.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"fleet did not start (see {a.work}/fleet.log)")
        print(f"# {a.targets} targets x {a.series} series every {a.interval}s, warm-up "
              f"{a.warmup:g}s, window {a.window:g}s; {os.cpu_count()} CPUs; load "
              f"{os.getloadavg()}", flush=True)
        for run in range(1, a.runs + 1):
            for name in a.servers.split(","):
                r = measure(name, a, config, run)
                rows.append(r)
                print(json.dumps(r), flush=True)
                if a.json:
                    with open(a.json, "a") as fh:
                        fh.write(json.dumps(r) + "\n")
    finally:
        fleet.send_signal(signal.SIGINT)
        try:
            fleet.wait(timeout=10)
        except subprocess.TimeoutExpired:
            fleet.kill()
    print()
    print(table(rows))
    print()
    print(ratios(rows))
    bad = [r for r in rows if r["up"] != a.targets or not r["max_scrape_s"] < a.interval]
    for r in bad:
        print(f"WARNING: {r['server']} run {r['run']}: {r['up']:g} of {a.targets} targets up, "
              f"max scrape {r['max_scrape_s']:.3f}s (interval {a.interval}s): "
              "not sustained", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
