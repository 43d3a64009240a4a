#!/usr/bin/env bash
# Builds Hearth's libFuzzer targets with -sanitize=fuzzer,address and runs each for a while.
#
#   Scripts/fuzz.sh [SECONDS] [TARGET...]     default: 30 s each for FuzzJSONParser FuzzPDU FuzzTextParsers
#   FUZZ_JOBS=N   extra libFuzzer -jobs (default: none; one process per target)
#
# Builds into .build-fuzz (the package graph gets the fuzz targets only when HEARTH_FUZZ=1).
# Seed corpora are in Fuzz/corpus/<json|pdu|text>; inputs libFuzzer finds go to
# .build-fuzz/corpus/<target> (not into the repository), crashes to .build-fuzz/artifacts/.
# Building and running hold /tmp/hearth-build.lock, as every build on this machine must.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECONDS_PER_TARGET=${1:-30}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(FuzzJSONParser FuzzPDU FuzzTextParsers)
LOCK=/tmp/hearth-build.lock
SCRATCH="$ROOT/.build-fuzz"

corpus_of() {
  case "$1" in
    FuzzJSONParser) echo json ;;
    FuzzPDU) echo pdu ;;
    FuzzTextParsers) echo text ;;
    *) echo "fuzz.sh: unknown target $1" >&2; exit 2 ;;
  esac
}

# libFuzzer's runtime ships with the Swift toolchain (lib/clang/*/lib/linux). Debian's
# libclang-rt-14-dev is only a fallback for toolchains without it.
SWIFTC=$(command -v swiftc) || { echo "fuzz.sh: swiftc not found" >&2; exit 1; }
TOOLCHAIN=$(dirname "$(dirname "$(readlink -f "$SWIFTC")")")
if ! ls "$TOOLCHAIN"/lib/clang/*/lib/linux/libclang_rt.fuzzer-"$(uname -m)".a >/dev/null 2>&1; then
  echo "fuzz.sh: no libFuzzer runtime in $TOOLCHAIN; installing libclang-rt-14-dev"
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y libclang-rt-14-dev || { apt-get update && apt-get install -y libclang-rt-14-dev; }
  else
    sudo apt-get install -y libclang-rt-14-dev
  fi
fi

for target in "${TARGETS[@]}"; do
  corpus_of "$target" >/dev/null
  echo "== building $target"
  flock "$LOCK" env HEARTH_FUZZ=1 swift build --scratch-path "$SCRATCH" -c release --product "$target" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld 2>&1 | grep -E "error|warning: |Compiling|Build" | grep -v "^\[" || true
  [ -x "$SCRATCH/release/$target" ] || { echo "fuzz.sh: build of $target failed" >&2; exit 1; }
done

status=0
for target in "${TARGETS[@]}"; do
  corpus=$(corpus_of "$target")
  work="$SCRATCH/corpus/$target"
  mkdir -p "$work" "$SCRATCH/artifacts"
  echo "== running $target for ${SECONDS_PER_TARGET}s (seeds: Fuzz/corpus/$corpus)"
  log="$SCRATCH/$target.log"
  set +e
  flock "$LOCK" "$SCRATCH/release/$target" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -max_len=70000 -print_final_stats=1 -artifact_prefix="$SCRATCH/artifacts/$target-" ${FUZZ_JOBS:+-jobs=$FUZZ_JOBS} \
    "$work" "Fuzz/corpus/$corpus" >"$log" 2>&1
  rc=$?
  set -e
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|INFO: seed corpus|Done [0-9]+ runs" "$log" || true
  if [ $rc -ne 0 ]; then
    echo "fuzz.sh: $target FAILED (exit $rc); see $log and $SCRATCH/artifacts/" >&2
    grep -E "ERROR|Fatal|precondition|SUMMARY" "$log" | head -20 >&2 || true
    status=1
  fi
done
exit $status
