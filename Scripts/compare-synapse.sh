#!/usr/bin/env bash
# Hearth against Synapse, same machine, same run, same load: writes Spec/performance.md.
#
#   Scripts/compare-synapse.sh [--skip-build]
#
# 1. builds release binaries of hearth and hearth-load (under /tmp/hearth-build.lock; 10-20 min
#    on 2 cores the first time) unless --skip-build;
# 2. starts Synapse (from PyPI, in .venv; SQLite) and Hearth (SQLite), each on a free loopback
#    port with a fresh data directory under .build/compare/, rate limits raised on both, both
#    logging at WARNING;
# 3. measures each server's idle memory (VmRSS, and its anonymous part, 10 s after start, no users);
# 4. runs hearth-load against each, one server at a time (the other one SIGSTOPped):
#      throughput: USERS users in ROOMS rooms, all sending as fast as acknowledged, while all sync;
#      latency:    the same population offered LAT_RATE messages/s in total (a rate both sustain),
#                  so delivery latency is compared without either server saturated;
# 5. writes the numbers and the ratios against the goals to Spec/performance.md.
# Env: USERS (50) ROOMS (10) DURATION (30) LAT_RATE (10) LAT_SECONDS (30) OUT (Spec/performance.md)
#      BIN_DIR (.build/release; with --skip-build, where hearth and hearth-load are)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
USERS=${USERS:-50} ROOMS=${ROOMS:-10} DURATION=${DURATION:-30} LAT_RATE=${LAT_RATE:-10} LAT_SECONDS=${LAT_SECONDS:-30}
OUT=${OUT:-Spec/performance.md}
WORK="$ROOT/.build/compare"
PY="$ROOT/.venv/bin/python3"

Scripts/setup-test-env.sh --synapse >/dev/null
if [ "${1:-}" != "--skip-build" ]; then
  touch /tmp/hearth-build.lock
  echo "== release build (hearth, hearth-load)"
  flock /tmp/hearth-build.lock swift build -c release --product hearth
  flock /tmp/hearth-build.lock swift build -c release --product hearth-load
fi
BIN_DIR=${BIN_DIR:-$ROOT/.build/release}
HEARTH="$BIN_DIR/hearth"
LOAD="$BIN_DIR/hearth-load"
[ -x "$HEARTH" ] && [ -x "$LOAD" ] || { echo "release binaries missing; run without --skip-build" >&2; exit 1; }

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
wait_ready() {  # wait_ready URL PID NAME
  for _ in $(seq 1 600); do
    curl -fsS --max-time 2 "$1/_matrix/client/versions" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { echo "$3 exited during startup" >&2; return 1; }
    sleep 0.2
  done
  echo "$3 did not start" >&2; return 1
}

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

rm -rf "$WORK"; mkdir -p "$WORK/synapse" "$WORK/hearth"
SECRET=$(openssl rand -hex 16)

# --- Synapse -----------------------------------------------------------------------------------
SPORT=$(free_port)
cat > "$WORK/synapse/homeserver.yaml" <<YAML
server_name: "localhost:$SPORT"
public_baseurl: "http://127.0.0.1:$SPORT/"
pid_file: "$WORK/synapse/homeserver.pid"
report_stats: false
listeners:
  - {port: $SPORT, bind_addresses: ['127.0.0.1'], type: http, tls: false, x_forwarded: false,
     resources: [{names: [client], compress: false}]}
database: {name: sqlite3, args: {database: "$WORK/synapse/homeserver.db"}}
log_config: "$WORK/synapse/log.yaml"
media_store_path: "$WORK/synapse/media"
signing_key_path: "$WORK/synapse/signing.key"
macaroon_secret_key: "$(openssl rand -hex 16)"
form_secret: "$(openssl rand -hex 16)"
registration_shared_secret: "$SECRET"
enable_registration: true
enable_registration_without_verification: true
trusted_key_servers: []
suppress_key_server_warning: true
rc_message: {per_second: 100000, burst_count: 100000}
rc_registration: {per_second: 100000, burst_count: 100000}
rc_login:
  address: {per_second: 100000, burst_count: 100000}
  account: {per_second: 100000, burst_count: 100000}
  failed_attempts: {per_second: 100000, burst_count: 100000}
rc_joins:
  local: {per_second: 100000, burst_count: 100000}
rc_joins_per_room: {per_second: 100000, burst_count: 100000}
rc_room_creation: {per_second: 100000, burst_count: 100000}
YAML
cat > "$WORK/synapse/log.yaml" <<YAML
version: 1
formatters: {plain: {format: '%(asctime)s %(levelname)s %(name)s %(message)s'}}
handlers: {file: {class: logging.FileHandler, formatter: plain, filename: "$WORK/synapse/homeserver.log"}}
root: {level: WARNING, handlers: [file]}
disable_existing_loggers: false
YAML
"$PY" -m synapse.app.homeserver -c "$WORK/synapse/homeserver.yaml" --generate-keys >/dev/null
"$PY" -m synapse.app.homeserver -c "$WORK/synapse/homeserver.yaml" >"$WORK/synapse/stdout.log" 2>&1 &
SPID=$!; PIDS+=("$SPID")

# --- Hearth ------------------------------------------------------------------------------------
HPORT=$(free_port)
cat > "$WORK/hearth/homeserver.yaml" <<YAML
server_name: "localhost:$HPORT"
public_baseurl: "http://127.0.0.1:$HPORT/"
data_directory: "$WORK/hearth/data"
listeners:
  - port: $HPORT
    bind_addresses: ['127.0.0.1']
    type: http
    resources:
      - names: [client]
enable_registration: true
registration_shared_secret: "$SECRET"
log_level: warning
rc_message:
  per_second: 100000
  burst_count: 100000
YAML
"$HEARTH" serve --config "$WORK/hearth/homeserver.yaml" >"$WORK/hearth/stdout.log" 2>&1 &
HPID=$!; PIDS+=("$HPID")

wait_ready "http://127.0.0.1:$SPORT" "$SPID" synapse
wait_ready "http://127.0.0.1:$HPORT" "$HPID" hearth
sleep 10
echo "{\"synapse\": $(rss_kib "$SPID" VmRSS), \"hearth\": $(rss_kib "$HPID" VmRSS),
 \"synapse_anon\": $(rss_kib "$SPID" RssAnon), \"hearth_anon\": $(rss_kib "$HPID" RssAnon)}" > "$WORK/idle.json"
echo "== idle RSS (KiB): $(cat "$WORK/idle.json")"

run_load() {  # run_load NAME PORT PID OTHER_PID PHASE [extra args]
  local name=$1 port=$2 pid=$3 other=$4 phase=$5; shift 5
  echo "== $name: $phase"
  # The other server is stopped (SIGSTOP) meanwhile, so background work it still does after
  # its own run (Synapse has some) cannot take CPU from the server being measured.
  kill -STOP "$other"
  "$LOAD" --url "http://127.0.0.1:$port" --users "$USERS" --rooms "$ROOMS" --shared-secret "$SECRET" \
    --pid "$pid" --label "$name" --json "$WORK/$name-$phase.json" "$@" || { kill -CONT "$other"; return 1; }
  kill -CONT "$other"
}
run_load synapse "$SPORT" "$SPID" "$HPID" throughput --seconds "$DURATION"
run_load hearth "$HPORT" "$HPID" "$SPID" throughput --seconds "$DURATION"
run_load synapse "$SPORT" "$SPID" "$HPID" latency --seconds "$LAT_SECONDS" --rate "$LAT_RATE"
run_load hearth "$HPORT" "$HPID" "$SPID" latency --seconds "$LAT_SECONDS" --rate "$LAT_RATE"

SYNAPSE_VERSION=$("$PY" -c 'import importlib.metadata as m; print(m.version("matrix-synapse"))')
COMMIT=$(git rev-parse --short HEAD)
"$PY" Scripts/performance-report.py "$WORK" "$OUT" "$SYNAPSE_VERSION" "$COMMIT ($(basename "$BIN_DIR") build)" \
  "users=$USERS rooms=$ROOMS seconds=$DURATION lat_rate=$LAT_RATE lat_seconds=$LAT_SECONDS"
echo "== wrote $OUT"
