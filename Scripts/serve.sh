#!/usr/bin/env bash
# Runs Hearth on embedded SQLite. Without arguments: server name localhost:8008, data in
# ./hearth-data, listening on 127.0.0.1:8008. Arguments go to `hearth serve`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
Scripts/setup-system.sh
swift build --product hearth
exec .build/debug/hearth serve "$@"
