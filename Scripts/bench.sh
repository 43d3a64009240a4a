#!/usr/bin/env bash
# Runs the protocol-core benchmarks (package-benchmark, release build in .build-bench) and the
# same operations with Python's canonicaljson/signedjson in the same run, and prints the ratios.
# Takes 10–20 minutes the first time (release build of the dependencies).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
Scripts/setup-test-env.sh >/dev/null
mkdir -p .build-bench/results
HEARTH_BENCHMARKS=1 flock /tmp/hearth-build.lock swift package --scratch-path .build-bench \
  --allow-writing-to-package-directory benchmark --format jmh --path .build-bench/results "$@"
.venv/bin/python3 Scripts/bench_python_reference.py > .build-bench/results/python.json
.venv/bin/python3 - <<'PY'
import json
# package-benchmark's JMH export: primaryMetric is throughput (# / s); μs per operation = 1e6 / p50.
entries = json.load(open(".build-bench/results/Current_run.jmh.json"))
swift = {}
for entry in entries:
    metric = entry["primaryMetric"]
    per_second = metric.get("scorePercentiles", {}).get("50.0") or metric["score"]
    swift[entry["benchmark"].split(".")[-1].replace("_", " ")] = 1e6 / per_second
py = json.load(open(".build-bench/results/python.json"))
print("Hearth (p50, μs per operation):")
for name, us in swift.items(): print(f"  {us:>12.2f}  {name}")
print("\nRatios against Python's canonicaljson/signedjson/json in the same run (higher is better for Hearth):")
for label, key in [("sign 1 KB", "sign_1k"), ("verify 1 KB", "verify_1k"), ("parse 64 KB", "parse_64k")]:
    match = [us for name, us in swift.items() if name.startswith(label)]
    if match:
        print(f"  {label:<12} Hearth {match[0]:9.2f} μs   Python {py[key]:9.2f} μs   {py[key] / match[0]:5.2f}x")
PY
