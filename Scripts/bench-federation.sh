#!/usr/bin/env bash
# The egress gate's cost: federation throughput between two Hearth servers (release build, TLS
# on loopback, SQLite with synchronous=full) with the gate as configured — the organization
# policy evaluated for every PDU and EDU and every decision audited — against its benchmark
# baseline (allows everything, records nothing), alternating rounds in the same run.
#
#   Scripts/bench-federation.sh [--skip-build]      (env: MESSAGES=1000 CONCURRENCY=8 ROUNDS=3)
#
# Writes Spec/performance-federation.md. The goal (organization-policy issue): at most 5%.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-.build-release}
if [ "${1:-}" != "--skip-build" ]; then
  touch /tmp/hearth-build.lock
  flock /tmp/hearth-build.lock swift build -c release --product hearth --scratch-path "$BUILD"
fi
HEARTH="$ROOT/$BUILD/release/hearth"
RESULT=$(python3 Scripts/bench_federation.py "$HEARTH")
echo "$RESULT"
python3 - "$RESULT" > Spec/performance-federation.md <<'PY'
import json, subprocess, sys, datetime, os
r = json.loads(sys.argv[1])
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
base, gate = r["median_events_per_second"]["baseline"], r["median_events_per_second"]["gate"]
print(f"""# The egress gate's cost

Measured by `Scripts/bench-federation.sh` (generated; rerun it to refresh). Two Hearth servers,
release build, TLS on loopback, SQLite with `synchronous=full`, on one machine
({os.cpu_count()} CPUs, shared with the load driver). One user on server A sends {r['messages']}
messages ({r['concurrency']} at a time) into a room shared with server B; the time runs until B's
/sync has delivered all of them. Each round starts both servers afresh; baseline and gate rounds
alternate.

- Date: {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC; commit {commit}
- **Gate**: the organization policy (default settings: everything allowed) judges every
  transaction item by item and every decision is appended to the audit chain.
- **Baseline**: `hearth serve --benchmark-gate-baseline`: the gate allows everything and
  records nothing.

| | events/s delivered (median of {r['rounds']}) | all rounds |
| --- | ---: | --- |
| Baseline | {base:.1f} | {', '.join(f'{v:.1f}' for v in r['runs']['baseline'])} |
| Gate | {gate:.1f} | {', '.join(f'{v:.1f}' for v in r['runs']['gate'])} |

Gate overhead: **{r['gate_overhead_percent']:.1f}%** of throughput (goal: at most 5%;
{'met' if r['gate_overhead_percent'] <= 5 else 'not met'}).
""")
PY
cat Spec/performance-federation.md
