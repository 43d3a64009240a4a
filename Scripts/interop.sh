#!/usr/bin/env bash
# Runs Hearth's interop tests: against Python's signedjson/canonicaljson/unpaddedbase64/pynacl
# and against events made by a real Synapse (started on loopback by the test itself).
#
#   Scripts/interop.sh                       set up .venv if needed, build, run the interop suites
#   HEARTH_SYNAPSE_EVENTS=FILE Scripts/interop.sh   reuse a dump from Tests/Interop/synapse_events.py
#
# Builds and test runs hold /tmp/hearth-build.lock.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
Scripts/setup-test-env.sh --synapse
flock /tmp/hearth-build.lock swift build --build-tests 2>&1 | grep -E "error|Build" || true
HEARTH_INTEROP=1 flock /tmp/hearth-build.lock swift test --skip-build \
  --filter "PythonReferenceTests|SynapseInteropTests" 2>&1 | grep -vE "^(◇|↳)" | tail -40
