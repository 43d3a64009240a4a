#!/usr/bin/env bash
# Creates .venv/ in the repository (git-ignored) with the Python reference libraries the
# interop tests compare Hearth against. Idempotent: a re-run with nothing to do takes < 1 s.
#
#   Scripts/setup-test-env.sh            signedjson, canonicaljson, unpaddedbase64, pynacl
#   Scripts/setup-test-env.sh --synapse  the above plus matrix-synapse, matrix-nio[e2e] and matrix-commander
#
# Env: PYTHON (interpreter, default python3, needs >= 3.10), SYNAPSE_SPEC, NIO_SPEC (pins).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="$ROOT/.venv"
PY=${PYTHON:-python3}

BASE_SPECS="signedjson==1.1.4 canonicaljson==2.0.0 unpaddedbase64==2.1.0 pynacl==1.5.0"
SYNAPSE_SPEC=${SYNAPSE_SPEC:-"matrix-synapse==1.163.2"}
NIO_SPEC=${NIO_SPEC:-"matrix-nio[e2e]==0.26.0"}
COMMANDER_SPEC=${COMMANDER_SPEC:-"matrix-commander==8.0.6"}

want="$BASE_SPECS"
if [ "${1:-}" = "--synapse" ]; then want="$want $SYNAPSE_SPEC $NIO_SPEC $COMMANDER_SPEC"; fi

if [ ! -x "$VENV/bin/python3" ]; then
  echo "setup-test-env: creating $VENV with $("$PY" --version)"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python3" -m pip install --quiet --upgrade pip wheel
fi

# One stamp line per installed spec set; a superset already installed counts.
stamp="$VENV/.hearth-installed"
missing=""
for spec in $want; do
  grep -qxF "$spec" "$stamp" 2>/dev/null || missing="$missing $spec"
done
if [ -n "$missing" ]; then
  echo "setup-test-env: pip install$missing"
  # shellcheck disable=SC2086
  "$VENV/bin/python3" -m pip install --quiet --prefer-binary $missing
  for spec in $missing; do echo "$spec" >> "$stamp"; done
fi

"$VENV/bin/python3" -c 'import signedjson.sign, canonicaljson, unpaddedbase64, nacl.signing' \
  || { echo "setup-test-env: reference libraries do not import" >&2; exit 1; }
if [ "${1:-}" = "--synapse" ]; then
  "$VENV/bin/python3" -c 'import synapse, nio' || { echo "setup-test-env: synapse/nio do not import" >&2; exit 1; }
fi
echo "setup-test-env: ready ($VENV)"
