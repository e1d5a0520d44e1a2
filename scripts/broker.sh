#!/usr/bin/env bash
# A throwaway Kafka-compatible broker with an admin API on 127.0.0.1, for the admin tests
# (`civitas topics plan|apply`: CreateTopics, DescribeConfigs, CreatePartitions, AlterConfigs,
# DeleteTopics) and the outbox acceptance; the embedded broker has no admin API.
#
# The broker is noida-db (PyPI, MIT, a prebuilt binary: a 1 s pip install into a venv in the
# tools cache). It replaced tansu built from source (20+ minutes on a fresh machine), which
# lacks CreatePartitions and AlterConfigs. Each start gets a fresh data directory.
#
# Usage: scripts/broker.sh install                 → installs noida-db into the cache if missing
#        eval "$(scripts/broker.sh start [PORT])"  → exports CIVITAS_TEST_BROKER_BOOTSTRAP
#        scripts/broker.sh stop
set -euo pipefail
version=0.2.3
tools="${CIVITAS_TOOLS_DIR:-$HOME/.cache/civitas-tools}"
venv="$tools/noida-db-$version"
dir="${CIVITAS_BROKER_DIR:-${TMPDIR:-/tmp}/civitas-test-broker}"
pidfile="$dir/pid"

# The broker binary inside the wheel (the console script is a Python wrapper around it).
binary() {
  "$venv/bin/python" -c 'import noida_db, os; print(os.path.join(os.path.dirname(noida_db.__file__), "noida-db"))'
}

install() {
  if [ -x "$venv/bin/python" ] && [ -x "$(binary 2>/dev/null)" ]; then return; fi
  echo "broker.sh: installing noida-db $version into $venv" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "noida-db==$version" >&2
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "${1:-start}" in
  install)
    install
    ;;
  start)
    port="${2:-${CIVITAS_BROKER_PORT:-19092}}"
    install
    mkdir -p "$dir"
    if ! running; then
      rm -rf "$dir/data"
      mkdir -p "$dir/data"
      "$(binary)" start --data-dir "$dir/data" --host 127.0.0.1 --only kafka --kafka-port "$port" \
        >"$dir/log" 2>&1 &
      echo $! >"$pidfile"
      for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
        if ! running; then
          echo "broker.sh: the broker exited; its log:" >&2
          cat "$dir/log" >&2
          exit 1
        fi
        sleep 0.1
      done
      if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "broker.sh: the broker does not listen on 127.0.0.1:$port after 10 s; log: $dir/log" >&2
        exit 1
      fi
      echo "$port" >"$dir/port"
    fi
    echo "export CIVITAS_TEST_BROKER_BOOTSTRAP=127.0.0.1:$(cat "$dir/port")"
    ;;
  stop)
    if running; then
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidfile" "$dir/port"
    ;;
  *) echo "usage: $0 install | start [PORT] | stop" >&2; exit 2 ;;
esac
