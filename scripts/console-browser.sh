#!/usr/bin/env bash
# Real-browser checks of the web console (/console/<view>), in two runs, each against its own
# `civitas up` (embedded broker, a SQLite database in a temporary directory, the shipped
# workflows, a crud.metrics snapshot every 2 s):
#
#   open  no caller authentication: broker 127.0.0.1:BASE, HTTP 127.0.0.1:BASE+80;
#         scripts/browser/console.spec.mjs
#   auth  --auth-issuer with the stand-in issuer scripts/browser/oidc-issuer.py on
#         127.0.0.1:BASE+90: broker 127.0.0.1:BASE+1, HTTP 127.0.0.1:BASE+81;
#         scripts/browser/console-auth.spec.mjs (sign-in, sessions, CSRF, who may approve)
#
# BASE is $CONSOLE_BROWSER_PORT_BASE, default 29700: ports 29700, 29780, 29701, 29781, 29790.
# (The specs' own defaults for BASE_URL, BROKER and ISSUER are those default ports; this script
# passes them the ones it uses.)
#
# Debian's chromium is driven through playwright-core. Fails (non-zero exit) when a check of
# either run fails; screenshots, perf.md and the servers' output go to
# scripts/browser/artifacts/.
#
# Does not build: the binary is $CIVITAS (default target/debug/civitas).
# Needs node, python3 with `cryptography` (the issuer), /usr/bin/chromium and
# scripts/browser/node_modules (scripts/install-deps.sh).
#
# Environment:
#   CIVITAS                    the civitas binary                    (default: target/debug/civitas)
#   CHROMIUM                   the browser                           (default: /usr/bin/chromium)
#   CIVITAS_UP_ARGS            extra arguments for both `civitas up` (word-split)
#   CONSOLE_BROWSER_PORT_BASE  the ports BASE, BASE+1, BASE+80, BASE+81, BASE+90 (default: 29700)
#   SPECS=open,auth            which runs (default both), for debugging
#   UPDATE_DOCS_SCREENSHOTS=1  also write the screenshots to docs/console/
#   ONLY=a,b                   the open run: only these checks (and the seed), for debugging
set -euo pipefail
cd "$(dirname "$0")/.."

LIB_NAME=console-browser
. scripts/lib.sh
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
artifacts="$PWD/scripts/browser/artifacts"
chromium="${CHROMIUM:-/usr/bin/chromium}"
specs=",${SPECS:-open,auth},"

base="${CONSOLE_BROWSER_PORT_BASE:-29700}"
[[ "$base" =~ ^[1-9][0-9]*$ ]] && [ "$base" -ge 1024 ] && [ "$base" -le 65445 ] \
  || fail "CONSOLE_BROWSER_PORT_BASE must be a number from 1024 to 65445 (it uses BASE..BASE+90), not '$base'"
open_broker="127.0.0.1:$base" open_http="127.0.0.1:$((base + 80))"
auth_broker="127.0.0.1:$((base + 1))" auth_http="127.0.0.1:$((base + 81))"
issuer_port=$((base + 90)) && issuer="http://127.0.0.1:$issuer_port/realms/test"

[ -x "$bin" ] || fail "civitas binary not found at $bin (build it, or set CIVITAS)"
command -v node >/dev/null || fail "node is not installed"
[ -x "$chromium" ] || fail "$chromium not found (scripts/install-deps.sh installs Debian's chromium)"
[ -d scripts/browser/node_modules/playwright-core ] \
  || fail "scripts/browser/node_modules is missing (scripts/install-deps.sh, or npm ci --prefix scripts/browser)"
if [[ "$specs" == *,auth,* ]]; then
  python3 -c 'import cryptography' 2>/dev/null || fail "python3 with the cryptography module is needed (the stand-in issuer)"
fi

# Their own embedded brokers, the shipped topic names, the issuer given here: none of the
# caller's settings may point `civitas up` elsewhere.
unset KAFKA_BOOTSTRAP_SERVERS KAFKA_TOPIC_PREFIX KAFKA_OPTIONS CIVITAS_CONFIG CIVITAS_AUTH_ISSUER \
  CIVITAS_AUTH_AUDIENCE CIVITAS_AUTH_JWKS_URL CIVITAS_AUTH_SUBJECT_CLAIM CIVITAS_AUTHZ \
  CIVITAS_CONSOLE_CLIENT_ID CIVITAS_CONSOLE_CLIENT_SECRET CIVITAS_CONSOLE_URL \
  CIVITAS_NO_EVENTS CIVITAS_TOKEN CIVITAS_URL CIVITAS_WORKFLOWS_DIR CIVITAS_SYSTEMS_DIR \
  CIVITAS_BROKER_LISTEN CIVITAS_HTTP_LISTEN DATABASE_URL CIVITAS_METRICS_INTERVAL_SECS

work="$(mktemp -d)"
mkdir -p "$work/open" "$work/auth"
open_pid=""
auth_pid=""
issuer_pid=""

# Stops one process started here: SIGTERM, SIGKILL if it has not stopped within 15 s.
stop() {
  local pid="$1"
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop "$open_pid"
  stop "$auth_pid"
  stop "$issuer_pid"
  mkdir -p "$artifacts"
  for f in up.out up.err; do cp "$work/open/$f" "$artifacts/$f" 2>/dev/null || true; done
  for f in up.out up.err issuer.out issuer.err; do cp "$work/auth/$f" "$artifacts/auth-$f" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

extra=()
# shellcheck disable=SC2206 # word splitting is the point
if [ -n "${CIVITAS_UP_ARGS:-}" ]; then extra=(${CIVITAS_UP_ARGS}); fi

# start_up VAR DIR BROKER HTTP [ARGS...]: starts `civitas up` in the background (its pid in
# $VAR, its output in DIR/up.out and DIR/up.err) and waits until it says "ready" (60 s).
start_up() {
  local var="$1" dir="$2" broker="$3" http="$4"
  shift 4
  local args=(--broker-listen "$broker" --http-listen "$http" --database-url "sqlite://$dir/civitas.db"
    --workflows config/workflows --metrics-interval-secs 2 "$@" "${extra[@]}")
  echo "--- console-browser: $bin up ${args[*]}"
  "$bin" up "${args[@]}" >"$dir/up.out" 2>"$dir/up.err" </dev/null &
  local pid=$!
  printf -v "$var" '%s' "$pid"
  wait_ready "$pid" "$dir/up.out" "$dir/up.err" 1 "civitas up ($http)"
}

open_status=skipped
auth_status=skipped

if [[ "$specs" == *,open,* ]]; then
  start_up open_pid "$work/open" "$open_broker" "$open_http"
  echo "--- console-browser: node scripts/browser/console.spec.mjs"
  open_status=0
  BASE_URL="http://$open_http" BROKER="$open_broker" CIVITAS="$bin" ARTIFACTS="$artifacts" CHROMIUM="$chromium" \
    node scripts/browser/console.spec.mjs || open_status=$?
  # Done with it: the second run gets both cores.
  stop "$open_pid"
  open_pid=""
fi

if [[ "$specs" == *,auth,* ]]; then
  echo "--- console-browser: python3 scripts/browser/oidc-issuer.py $issuer_port"
  python3 scripts/browser/oidc-issuer.py "$issuer_port" >"$work/auth/issuer.out" 2>"$work/auth/issuer.err" </dev/null &
  issuer_pid=$!
  ready=""
  for _ in $(seq 1 40); do
    if grep -q "ready" "$work/auth/issuer.out" 2>/dev/null; then ready=1; break; fi
    kill -0 "$issuer_pid" 2>/dev/null || { cat "$work/auth/issuer.out" "$work/auth/issuer.err" >&2; fail "the stand-in issuer exited"; }
    sleep 0.5
  done
  [ -n "$ready" ] || { cat "$work/auth/issuer.err" >&2; fail "the stand-in issuer did not become ready within 20 s"; }

  start_up auth_pid "$work/auth" "$auth_broker" "$auth_http" --auth-issuer "$issuer"
  echo "--- console-browser: node scripts/browser/console-auth.spec.mjs"
  auth_status=0
  BASE_URL="http://$auth_http" ISSUER="$issuer" ARTIFACTS="$artifacts" CHROMIUM="$chromium" \
    node scripts/browser/console-auth.spec.mjs || auth_status=$?
fi

echo "--- console-browser: open run: $open_status, auth run: $auth_status (0: passed)"
failed() { [ "$1" != 0 ] && [ "$1" != skipped ]; }
if failed "$open_status" || failed "$auth_status"; then
  echo "console-browser: FAILED; screenshots and the servers' output in $artifacts" >&2
  exit 1
fi
echo "console-browser: all checks passed; screenshots and perf.md in $artifacts"
