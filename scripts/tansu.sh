#!/usr/bin/env bash
# A throwaway tansu broker (a Kafka-compatible broker with an admin API, memory storage) on
# 127.0.0.1 for the admin tests (`civitas topics plan|apply`); the embedded broker has no
# admin API. tansu is built once into a cache directory (20+ minutes the first time), with the
# `dynostore` feature: without it tansu 0.6 has no storage engine at all (memory:// fails with
# FeatureNotEnabled).
# Usage: scripts/tansu.sh install                 → builds tansu 0.6.0 into the cache if missing
#        eval "$(scripts/tansu.sh start [PORT])"   → exports CIVITAS_TEST_TANSU_BOOTSTRAP
#        scripts/tansu.sh stop
set -euo pipefail
tools="${CIVITAS_TOOLS_DIR:-$HOME/.cache/civitas-tools}"
tansu="$tools/bin/tansu"
dir="${CIVITAS_TANSU_DIR:-${TMPDIR:-/tmp}/civitas-test-tansu}"
pidfile="$dir/pid"

installed() {
  [ -x "$tansu" ] && grep -q '"features":\["dynostore"\]' "$tools/.crates2.json" 2>/dev/null
}

install() {
  if installed; then return; fi
  echo "tansu.sh: building tansu 0.6.0 (memory storage) into $tools (once; 20+ minutes)" >&2
  cargo install tansu --version 0.6.0 --locked --features dynostore \
    --root "$tools" --target-dir "$tools/target" >&2
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "${1:-start}" in
  install)
    install
    ;;
  start)
    port="${2:-${CIVITAS_TANSU_PORT:-19092}}"
    install
    mkdir -p "$dir"
    if ! running; then
      # The environment tansu reads (LISTENER_URL, STORAGE_ENGINE, …) is overridden by flags.
      "$tansu" broker \
        --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine "memory://tansu/" \
        >"$dir/log" 2>&1 &
      echo $! >"$pidfile"
      for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
        if ! running; then
          echo "tansu.sh: tansu exited; its log:" >&2
          cat "$dir/log" >&2
          exit 1
        fi
        sleep 0.1
      done
      if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "tansu.sh: tansu does not listen on 127.0.0.1:$port after 10 s; log: $dir/log" >&2
        exit 1
      fi
      echo "$port" >"$dir/port"
    fi
    echo "export CIVITAS_TEST_TANSU_BOOTSTRAP=127.0.0.1:$(cat "$dir/port")"
    ;;
  stop)
    if running; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
    fi
    rm -f "$pidfile" "$dir/port"
    ;;
  *) echo "usage: $0 install | start [PORT] | stop" >&2; exit 2 ;;
esac
