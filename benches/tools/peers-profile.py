#!/usr/bin/env python3
"""Profile tsdb-server under the shared harness's own clients, with `perf record`.

Starts one server exactly as benches/tools/peers-ours.sh configures it (the harness's
CommandTarget), attaches `perf record -g` to that PID only, and drives it with the
harness's code: the concurrent ingest client (`bench.send_dataset`) for a protocol, or
the query battery (`bench.run_queries`) repeated on a loaded store dataset. Prints the
server CPU seconds the phase cost and leaves perf.data for `perf report`.

    python3 benches/tools/peers-profile.py ingest influx DATASET_DIR OUT_DIR
    python3 benches/tools/peers-profile.py ingest rw     DATASET_DIR OUT_DIR
    python3 benches/tools/peers-profile.py query  -      STORE_DIR   OUT_DIR [REPS]

DATASET_DIR comes from the harness's gen.py (`--formats influx,rw --end now`, ingest) or
(`--formats om,influx`, store). Needs OURS_CMD etc. in the environment as peers-ours.sh
sets them, and PEERS_DIR (default ../shared/peers).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.environ.get("PEERS_DIR", os.path.join(HERE, "..", "..", "..", "shared", "peers"))
sys.path.insert(0, PEERS)

import bench  # noqa: E402  (the harness's modules)
import targets  # noqa: E402


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    mode, proto, ds, out = sys.argv[1:5]
    reps = int(sys.argv[5]) if len(sys.argv) > 5 else 20
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="peers-profile-")
    t = targets.ours_from_env(work, out)
    if t is None:
        sys.exit("OURS_CMD is not set (see benches/tools/peers-ours.sh)")
    t.start(tag=f"profile-{mode}")
    perf = None
    try:
        if mode == "query":
            # load (not profiled), flush, then profile the battery
            bench.send_dataset(t, ds, "influx", 4)
            t.flush()
        perf = subprocess.Popen(["perf", "record", "-g", "-o", os.path.join(out, f"perf-{mode}.data"),
                                 "-p", str(t.proc.pid)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(1)
        cpu0 = t.proc_stats().get("cpu_s", 0)
        t0 = time.time()
        if mode == "ingest":
            r = bench.send_dataset(t, ds, proto, 4)
            print(f"{proto}: {r['samples_per_s']:,} samples/s, errors {r['errors']}")
        else:
            import json
            meta = json.load(open(os.path.join(ds, "meta.json")))
            queries = bench.parse_queries(os.path.join(PEERS, "queries.txt"))
            res = bench.run_queries(t, queries, meta["end_s"] - meta["interval_s"] / 2, reps,
                                    os.path.join(out, "results"))
            for q in queries:
                print(f"{q['name']:24} {res[q['name']].get('median_ms')} ms")
        cpu = t.proc_stats().get("cpu_s", 0) - cpu0
        print(f"server CPU {cpu:.2f} s over {time.time() - t0:.2f} s wall")
    finally:
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=120)
        t.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
