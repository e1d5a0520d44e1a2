#!/usr/bin/env bash
# The whole test suite: installs what is missing, starts a throwaway PostgreSQL, runs every
# test of the workspace (SQLite and PostgreSQL backends, embedded-broker integration tests,
# admin tests against a throwaway tansu broker).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
eval "$(scripts/postgres.sh start)"
trap 'scripts/postgres.sh stop' EXIT
# tansu: a broker with an admin API for the `topics plan|apply` tests (built once into
# ~/.cache/civitas-tools, 20+ minutes the first time).
tansu_env=$(scripts/tansu.sh start)
eval "$tansu_env"
trap 'scripts/postgres.sh stop; scripts/tansu.sh stop' EXIT
cargo test --workspace "$@"
