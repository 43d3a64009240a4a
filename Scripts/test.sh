#!/usr/bin/env bash
# The project's test command (README, and `.ci/run` on a fresh clone).
#   1. installs missing Debian packages and the Python test environment (.venv)
#   2. builds everything and runs the Swift test suites, interop suites included
#   3. runs the real-client suites (matrix-nio, matrix-commander) against a live Hearth
# Builds and test runs hold /tmp/hearth-build.lock, so parallel sessions on one machine queue.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
Scripts/setup-system.sh
Scripts/setup-test-env.sh --synapse
LOCK=/tmp/hearth-build.lock
touch "$LOCK"
echo "== build"
flock "$LOCK" swift build --build-tests
echo "== swift test"
HEARTH_INTEROP=1 flock "$LOCK" swift test --skip-build 2>&1 | tee .build/test-output.txt | grep -vE "^(◇|↳)|started\.$" 
echo "== real clients"
for suite in Tests/Clients/test_*.py; do
  [ -e "$suite" ] || continue
  echo "-- $suite"
  .venv/bin/python3 "$suite"
done
echo "== all tests passed"
