#!/usr/bin/env python3
"""Record the PromQL golden suite from a real Prometheus (see README.md).

    python3 record.py [--prometheus BIN] [--promtool BIN] [--keep-tmp] [--skip-gen]

1. runs gen_data.py            -> data.om
2. checks queries.txt          (timestamp-alignment rules, see lint())
3. promtool tsdb create-blocks-from openmetrics data.om <tmp>/data
4. starts prometheus on 127.0.0.1:<free port> on those blocks (no scrape targets)
5. runs every query of queries.txt (GET /api/v1/query or /api/v1/query_range)
6. writes expected.jsonl (one line per query, in order) and VERSION
7. stops prometheus (only the PID it started) and deletes the temporary directory

Python 3.11 standard library only. Only loopback HTTP is used.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
QUERIES = os.path.join(HERE, "queries.txt")
DATA = os.path.join(HERE, "data.om")
EXPECTED = os.path.join(HERE, "expected.jsonl")
VERSION = os.path.join(HERE, "VERSION")

HTTP_TIMEOUT = 30          # seconds per query
READY_TIMEOUT = 60         # seconds for /-/ready
PROM_FLAGS = [             # besides config/storage/listen flags; no feature flags are needed
    "--storage.tsdb.retention.time=100y",
    "--query.lookback-delta=5m",
    "--query.timeout=30s",
    "--log.level=warn",
]
CONFIG = """# written by record.py: no scrape targets; evaluation_interval is the default subquery step
global:
  scrape_interval: 1m
  evaluation_interval: 1m
scrape_configs: []
"""

# ------------------------------------------------------------------------ queries.txt

def parse_queries(path):
    """-> list of dicts: kind, time | start,end,step (strings as written), query, line, lint."""
    out = []
    lint = True
    with open(path, encoding="utf-8") as fh:
        for no, raw in enumerate(fh, 1):
            line = raw.rstrip("\n")
            s = line.strip()
            if not s:
                continue
            if s.startswith("#"):
                if s.replace(" ", "") == "#@lintoff":
                    lint = False
                elif s.replace(" ", "") == "#@linton":
                    lint = True
                continue
            kind = s.split("|", 1)[0].strip()
            if kind == "instant":
                _, t, q = s.split("|", 2)
                out.append({"kind": "instant", "time": t.strip(), "query": q.strip(), "line": no, "lint": lint})
            elif kind == "range":
                _, a, b, st, q = s.split("|", 4)
                out.append({"kind": "range", "start": a.strip(), "end": b.strip(), "step": st.strip(),
                            "query": q.strip(), "line": no, "lint": lint})
            else:
                raise SystemExit(f"queries.txt:{no}: unknown kind {kind!r}")
    return out


_UNIT_MS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000, "w": 604800000, "y": 31536000000}
_DUR = r"(?:\d+(?:ms|s|m|h|d|w|y))+"


def dur_ms(d):
    return sum(int(n) * _UNIT_MS[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", d))


def num(s):
    """'1704067200' -> 1704067200 (int), '0.5' -> 0.5, anything else unchanged."""
    try:
        return int(s)
    except ValueError:
        try:
            return float(s)
        except ValueError:
            return s


def lint(q):
    """Timestamp-alignment rules (README.md). Samples are at ≡ 7 (mod 15) s.

    * every range, offset and subquery step is a multiple of 15 s;
    * subquery steps are multiples of 60 s;
    * evaluation times (time / start) and @ timestamps are ≡ 0 (mod 15), or ≡ 5 (mod 15);
      queries that contain a subquery must use ≡ 5 (mod 15), so the outer window
      (t - range, t] never starts on a subquery point (points are multiples of the step);
    * range-query steps are multiples of 15 s.
    Returns a list of problems (empty = fine)."""
    probs = []
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', q["query"])       # drop string literals
    subquery = False
    for inner in re.findall(r"\[([^\]]*)\]", expr):
        m = re.fullmatch(rf"\s*({_DUR})\s*(?::\s*({_DUR})?\s*)?", inner)
        if not m:
            continue
        if dur_ms(m.group(1)) % 15000:
            probs.append(f"range [{inner}] is not a multiple of 15s")
        if ":" in inner:
            subquery = True
            if m.group(2) and dur_ms(m.group(2)) % 60000:
                probs.append(f"subquery step in [{inner}] is not a multiple of 60s")
    for d in re.findall(rf"offset\s+-?\s*({_DUR})", expr):
        if dur_ms(d) % 15000:
            probs.append(f"offset {d} is not a multiple of 15s")
    want = {5} if subquery else {0, 5}
    times = [("@", t) for t in re.findall(r"@\s*(\d+(?:\.\d+)?)", expr)]
    if q["kind"] == "instant":
        times.append(("time", q["time"]))
    else:
        times.append(("start", q["start"]))
        st = num(q["step"])
        if not isinstance(st, (int, float)) or st <= 0 or (st * 1000) % 15000:
            probs.append(f"step {q['step']} is not a positive multiple of 15s")
    for what, t in times:
        v = num(t)
        if not isinstance(v, (int, float)) or (v * 1000) % 15000 // 1000 not in want or (v * 1000) % 1000:
            probs.append(f"{what} {t} is not ≡ {'/'.join(map(str, sorted(want)))} (mod 15)")
    return probs


# ------------------------------------------------------------------------ helpers

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=HTTP_TIMEOUT):
    req = urllib.request.Request(url, method="GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
        return 0, str(e).encode()


def first_line(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    return ((out.stdout + out.stderr).strip().splitlines() or ["unknown"])[0].strip()


class Prometheus:
    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = workdir
        self.proc = None
        self.port = None
        self.log = os.path.join(workdir, "prometheus.log")

    def start(self):
        cfg = os.path.join(self.workdir, "prometheus.yml")
        with open(cfg, "w") as fh:
            fh.write(CONFIG)
        for attempt in range(3):
            self.port = free_port()
            cmd = [self.binary, "--config.file=prometheus.yml", "--storage.tsdb.path=data",
                   f"--web.listen-address=127.0.0.1:{self.port}", *PROM_FLAGS]
            self.cmd = cmd
            logfh = open(self.log, "ab")
            self.proc = subprocess.Popen(cmd, cwd=self.workdir, stdout=logfh, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
            logfh.close()
            deadline = time.time() + READY_TIMEOUT
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                st, _ = http_get(self.url("/-/ready"), timeout=2)
                if st == 200:
                    return
                time.sleep(0.2)
            self.stop()
            print(f"record.py: prometheus did not become ready (attempt {attempt + 1})", file=sys.stderr)
        with open(self.log, errors="replace") as fh:
            sys.stderr.write(fh.read()[-3000:])
        raise SystemExit("record.py: could not start prometheus")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        """SIGTERM the PID we started (only it); SIGKILL after 30 s."""
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        try:
            os.kill(p.pid, signal.SIGTERM)
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(timeout=30)
        except ProcessLookupError:
            pass


def run_query(prom, q):
    if q["kind"] == "instant":
        params = {"query": q["query"], "time": q["time"]}
        path = "/api/v1/query"
        head = {"kind": "instant", "time": num(q["time"]), "query": q["query"]}
    else:
        params = {"query": q["query"], "start": q["start"], "end": q["end"], "step": q["step"]}
        path = "/api/v1/query_range"
        head = {"kind": "range", "start": num(q["start"]), "end": num(q["end"]),
                "step": num(q["step"]), "query": q["query"]}
    status, body = http_get(prom.url(path + "?" + urllib.parse.urlencode(params)))
    text = body.decode("utf-8").strip()
    try:
        resp = json.loads(text)
        ok_raw = "\n" not in text
    except ValueError:
        resp, ok_raw = None, False
    if status == 0 or resp is None:
        raise SystemExit(f"queries.txt:{q['line']}: no JSON answer (HTTP {status}): {text[:300]}")
    head["http_status"] = status
    prefix = json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
    # splice Prometheus' bytes in verbatim, so the number/float formatting is exactly its own
    raw = text if ok_raw else json.dumps(resp, ensure_ascii=False, separators=(",", ":"))
    return prefix + ',"response":' + raw + "}", resp


# ------------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "prometheus")
    ap.add_argument("--promtool", default=shutil.which("promtool") or "promtool")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temporary directory")
    ap.add_argument("--skip-gen", action="store_true", help="do not regenerate data.om")
    a = ap.parse_args()

    for b in (a.prometheus, a.promtool):
        if not shutil.which(b):
            raise SystemExit(f"record.py: {b} not found (install: ../shared/peers/install-peers.sh)")

    queries = parse_queries(QUERIES)
    bad = [(q, p) for q in queries if q["lint"] for p in lint(q)]
    for q, p in bad:
        print(f"queries.txt:{q['line']}: {p}: {q['query']}", file=sys.stderr)
    if bad:
        raise SystemExit("record.py: alignment rules violated (or wrap the lines in '# @lint off/on')")

    if not a.skip_gen:
        subprocess.run([sys.executable, os.path.join(HERE, "gen_data.py"), "--out", DATA], check=True, timeout=120)

    tmp = tempfile.mkdtemp(prefix="promql-golden-")
    prom = Prometheus(a.prometheus, tmp)

    def on_signal(signum, _frame):
        prom.stop()
        raise SystemExit(f"record.py: interrupted by signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        out = subprocess.run([a.promtool, "tsdb", "create-blocks-from", "openmetrics", DATA,
                              os.path.join(tmp, "data")], capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise SystemExit(f"record.py: promtool failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
        prom.start()
        t0 = time.time()
        lines, n_err, n_inst, n_range = [], 0, 0, 0
        for q in queries:
            line, resp = run_query(prom, q)
            lines.append(line)
            n_inst += q["kind"] == "instant"
            n_range += q["kind"] == "range"
            n_err += resp.get("status") != "success"
            if resp.get("status") != "success" and q["lint"]:
                print(f"record.py: note: queries.txt:{q['line']} outside '@lint off' failed: "
                      f"{resp.get('error')}", file=sys.stderr)
        dt = time.time() - t0
        with open(EXPECTED + ".tmp", "w", encoding="utf-8", newline="\n") as fh:
            fh.write("\n".join(lines) + "\n")
        os.replace(EXPECTED + ".tmp", EXPECTED)
        shown = [os.path.basename(prom.cmd[0])] + [c for c in prom.cmd[1:] if "listen-address" not in c]
        with open(VERSION, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(f"{first_line([a.prometheus, '--version'])}\n"
                     f"{first_line([a.promtool, '--version'])}\n"
                     f"command: {' '.join(shown)} --web.listen-address=127.0.0.1:<free port>\n"
                     f"config: no scrape targets, evaluation_interval 1m (default subquery step)\n"
                     f"feature flags: none\n")
        print(f"record.py: {len(lines)} queries ({n_inst} instant, {n_range} range, {n_err} errors) "
              f"in {dt:.1f}s -> {os.path.relpath(EXPECTED)}")
    finally:
        prom.stop()
        if a.keep_tmp:
            print(f"record.py: kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
