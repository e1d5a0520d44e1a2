#!/usr/bin/env bash
# Real-browser checks of the web console (/console/<view>): starts its own `civitas up` (embedded
# broker on 127.0.0.1:29700, HTTP on 127.0.0.1:29780, a SQLite database in a temporary
# directory, the shipped workflows, a crud.metrics snapshot every 2 s) and runs
# scripts/browser/console.spec.mjs in Debian's chromium through playwright-core. Fails
# (non-zero exit) when a check fails; screenshots, perf.md and up's output go to
# scripts/browser/artifacts/.
#
# Does not build: the binary is $CIVITAS (default target/debug/civitas).
# Needs node, /usr/bin/chromium and scripts/browser/node_modules (scripts/install-deps.sh).
#
# Environment:
#   CIVITAS                    the civitas binary                    (default: target/debug/civitas)
#   CHROMIUM                   the browser                           (default: /usr/bin/chromium)
#   CIVITAS_UP_ARGS            extra arguments for `civitas up` (word-split)
#   UPDATE_DOCS_SCREENSHOTS=1  also write the screenshots to docs/console/
#   ONLY=a,b                   run only these checks (and the seed), for debugging
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${CIVITAS:-$PWD/target/debug/civitas}"
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
broker="127.0.0.1:29700"
http="127.0.0.1:29780"
artifacts="$PWD/scripts/browser/artifacts"
chromium="${CHROMIUM:-/usr/bin/chromium}"

fail() { echo "console-browser: FAIL: $*" >&2; exit 1; }
[ -x "$bin" ] || fail "civitas binary not found at $bin (build it, or set CIVITAS)"
command -v node >/dev/null || fail "node is not installed"
[ -x "$chromium" ] || fail "$chromium not found (scripts/install-deps.sh installs Debian's chromium)"
[ -d scripts/browser/node_modules/playwright-core ] \
  || fail "scripts/browser/node_modules is missing (scripts/install-deps.sh, or npm ci --prefix scripts/browser)"

# Its own embedded broker, no caller authentication, the shipped topic names: none of the
# caller's settings may point `civitas up` elsewhere.
unset KAFKA_BOOTSTRAP_SERVERS KAFKA_TOPIC_PREFIX KAFKA_OPTIONS CIVITAS_CONFIG CIVITAS_AUTH_ISSUER \
  CIVITAS_AUTHZ CIVITAS_NO_EVENTS CIVITAS_TOKEN CIVITAS_URL CIVITAS_WORKFLOWS_DIR CIVITAS_SYSTEMS_DIR

work="$(mktemp -d)"
up_pid=""
cleanup() {
  if [ -n "$up_pid" ]; then
    kill "$up_pid" 2>/dev/null || true
    # Bounded: SIGKILL if it has not stopped within 15 s.
    for _ in $(seq 1 30); do kill -0 "$up_pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$up_pid" 2>/dev/null || true
    wait "$up_pid" 2>/dev/null || true
  fi
  mkdir -p "$artifacts"
  cp "$work/up.out" "$artifacts/up.out" 2>/dev/null || true
  cp "$work/up.err" "$artifacts/up.err" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

export CIVITAS_BROKER_LISTEN="$broker" CIVITAS_HTTP_LISTEN="$http" DATABASE_URL="sqlite://$work/civitas.db"

# The flags this binary's `up` knows (an older binary may lack some).
help="$("$bin" up --help 2>&1 || true)"
flags=()
if grep -q -- '--workflows' <<<"$help"; then flags+=(--workflows config/workflows); fi
if grep -q -- '--metrics-interval-secs' <<<"$help"; then flags+=(--metrics-interval-secs 2); fi
# shellcheck disable=SC2206 # word splitting is the point
if [ -n "${CIVITAS_UP_ARGS:-}" ]; then flags+=(${CIVITAS_UP_ARGS}); fi

echo "--- console-browser: $bin up ${flags[*]} (broker $broker, http $http)"
"$bin" up "${flags[@]}" >"$work/up.out" 2>"$work/up.err" </dev/null &
up_pid=$!
ready=""
for _ in $(seq 1 120); do
  if grep -q "ready" "$work/up.out" 2>/dev/null; then ready=1; break; fi
  kill -0 "$up_pid" 2>/dev/null || { cat "$work/up.out" "$work/up.err" >&2; fail "civitas up exited"; }
  sleep 0.5
done
[ -n "$ready" ] || { cat "$work/up.out" >&2; tail -20 "$work/up.err" >&2; fail "civitas up did not become ready within 60 s"; }

echo "--- console-browser: node scripts/browser/console.spec.mjs"
status=0
BASE_URL="http://$http" BROKER="$broker" CIVITAS="$bin" ARTIFACTS="$artifacts" CHROMIUM="$chromium" \
  node scripts/browser/console.spec.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "console-browser: FAILED (exit $status); screenshots and up's output in $artifacts" >&2
  exit "$status"
fi
echo "console-browser: all checks passed; screenshots and perf.md in $artifacts"
