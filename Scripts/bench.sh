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
import glob, json
swift = {}
for path in glob.glob(".build-bench/results/*.jmh.json") + glob.glob(".build-bench/results/*.json"):
    if path.endswith("python.json"): continue
    try: entries = json.load(open(path))
    except Exception: continue
    for entry in entries if isinstance(entries, list) else []:
        name, metric = entry.get("benchmark", ""), entry.get("primaryMetric", {})
        if "Time (wall clock)" in name or "wall" in name.lower():
            swift[name] = metric.get("scorePercentiles", {}).get("50.0", metric.get("score"))
py = json.load(open(".build-bench/results/python.json"))
print("Swift (p50, μs):")
for k, v in sorted(swift.items()): print(f"  {v:>12.3f}  {k}")
pairs = [("sign 1 KB", "sign_1k"), ("verify 1 KB", "verify_1k"), ("parse 64 KB", "parse_64k")]
print("\nPython reference (best of 5, μs/op):", {k: round(v, 3) for k, v in py.items() if k != "sizes"})
for label, key in pairs:
    match = [v for k, v in swift.items() if label in k]
    if match:
        print(f"  {label}: Hearth {match[0]:.3f} μs vs Python {py[key]:.3f} μs  →  {py[key] / match[0]:.1f}x")
PY
