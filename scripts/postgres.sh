#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on 127.0.0.1 for the tests and prints its URL on stdout.
# Usage: eval "$(scripts/postgres.sh start)"   → exports CIVITAS_TEST_POSTGRES_URL
#        scripts/postgres.sh stop
set -euo pipefail
dir="${CIVITAS_PG_DIR:-${TMPDIR:-/tmp}/civitas-test-pg}"
port="${CIVITAS_PG_PORT:-55432}"
bin=$(dirname "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1)")
run() { if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }

case "${1:-start}" in
  start)
    if [ ! -f "$dir/PG_VERSION" ]; then
      mkdir -p "$dir"
      [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
      run "'$bin/initdb' -D '$dir' -U postgres --auth=trust >/dev/null"
    fi
    if ! run "'$bin/pg_ctl' -D '$dir' status" >/dev/null 2>&1; then
      run "'$bin/pg_ctl' -D '$dir' -l '$dir/log' -o '-p $port -k /tmp -c listen_addresses=127.0.0.1' -w start" >/dev/null
    fi
    echo "export CIVITAS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    run "'$bin/pg_ctl' -D '$dir' -m fast stop" >/dev/null 2>&1 || true
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
