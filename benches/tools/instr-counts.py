#!/usr/bin/env python3
"""Collects the instruction counts of the `instructions` bench into one JSON file.

gungraun writes a `summary.json` per benchmark when run with `--save-summary=json`
(`<target>/gungraun/tsdb-benches/instructions/<group>/<function>.<id>/summary.json`).
This reads every one under DIR and writes

    {"toolchain": "<rustc -V>", "valgrind": "<valgrind --version>", "cpu": "<model; flags>",
     "benchmarks": {"<group>::<function>::<id>": <instructions>, ...}}

with sorted keys: the Callgrind `Ir` (instructions executed) of the measured part of
each benchmark, the figure the comparison tool (`instr-compare`) checks against the
committed baselines. Usage:

    instr-counts.py SUMMARY_DIR OUT.json

Exits 1 (with the reason on stderr) when DIR holds no summary or a summary has no
Callgrind `Ir`: a partial file would read as "benchmark missing" later.
"""

import json
import os
import subprocess
import sys


def tool_version(cmd):
    """First line of `cmd`'s output, or "unknown" when it cannot be run."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.strip().splitlines()[0] if out.strip() else "unknown"


def instructions(summary, path):
    """The Callgrind Ir of a summary's total (all threads and processes of the run)."""
    for profile in summary.get("profiles", []):
        if profile.get("tool") != "Callgrind":
            continue
        ir = profile["data"]["total"]["metrics"].get("Ir", {}).get("values", {})
        new = ir.get("new")
        if isinstance(new, int):
            return new
    raise ValueError(f"{path}: no Callgrind Ir in the summary")


# The CPU features that glibc (memcpy, strlen), crc32fast, memchr and zstd dispatch on.
DISPATCH_FLAGS = ("sse4_2", "pclmulqdq", "avx", "avx2", "bmi2", "avx512f", "erms", "fsrm")


def cpu_description():
    """The host CPU's model and dispatch-relevant features, or "unknown"."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return "unknown"
    model, flags = "unknown", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == "unknown":
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return model + "; " + " ".join(f for f in DISPATCH_FLAGS if f in flags)


def collect(root):
    counts = {}
    for dirpath, _dirs, files in os.walk(root):
        if "summary.json" not in files:
            continue
        path = os.path.join(dirpath, "summary.json")
        with open(path, encoding="utf-8") as f:
            summary = json.load(f)
        key = "::".join(
            [summary["group"], summary["function_name"], summary.get("id") or "default"]
        )
        if key in counts:
            raise ValueError(f"{path}: benchmark {key} appears twice")
        counts[key] = instructions(summary, path)
    return counts


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: instr-counts.py SUMMARY_DIR OUT.json", file=sys.stderr)
        return 2
    root, out = argv[1], argv[2]
    try:
        counts = collect(root)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        print(f"instr-counts: {e}", file=sys.stderr)
        return 1
    if not counts:
        print(f"instr-counts: no summary.json under {root}", file=sys.stderr)
        return 1
    doc = {
        "toolchain": tool_version(["rustc", "-V"]),
        "valgrind": tool_version(["valgrind", "--version"]),
        "cpu": cpu_description(),
        "benchmarks": dict(sorted(counts.items())),
    }
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
