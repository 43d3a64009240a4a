#!/usr/bin/env bash
# Installs the Debian packages Hearth needs to build and test, if any are missing.
#   libsqlite3-dev  SQLite (GRDB links the system library)
#   libssl-dev zlib1g-dev  TLS and compression for the HTTP stack
#   libgd-dev       thumbnails (PNG, JPEG, GIF, WebP): headers to build, libgd3 loaded at the first thumbnail
#   python3-venv    the test clients' virtual environment
#   libmagic1       matrix-commander's file-type detection
#   openssl curl    test certificates and probes
#   postgresql      the PostgreSQL backend's tests start their own server (initdb)
# Idempotent: does nothing when everything is present.
set -euo pipefail
packages=(libsqlite3-dev libssl-dev zlib1g-dev libgd-dev python3-venv libmagic1 openssl curl)
if [ "${1:-}" = "--with-postgres" ]; then packages+=(postgresql); fi
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "setup-system: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y --no-install-recommends "${missing[@]}" || {
  $sudo apt-get update && $sudo apt-get install -y --no-install-recommends "${missing[@]}"
}
