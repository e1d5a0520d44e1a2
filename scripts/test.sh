#!/usr/bin/env bash
# The whole test suite: installs what is missing, starts a throwaway PostgreSQL, runs every
# test of the workspace (SQLite and PostgreSQL backends, embedded-broker integration tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
eval "$(scripts/postgres.sh start)"
trap 'scripts/postgres.sh stop' EXIT
cargo test --workspace "$@"
