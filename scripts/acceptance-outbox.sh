#!/usr/bin/env bash
# Acceptance of the event outbox (README, "Delivery guarantees"): `civitas serve crud` against
# a broker that goes away; the events it could not deliver by shutdown are kept in its database
# and delivered by the next start. Uses its own broker (scripts/broker.sh, installed by
# scripts/test.sh), not the running `civitas up`.
# Environment: CIVITAS_BIN (binary).
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${CIVITAS_BIN:-target/debug/civitas}"
work="$(mktemp -d)"
export CIVITAS_BROKER_DIR="$work/broker"
port=29192
broker="127.0.0.1:$port"
http="127.0.0.1:28180"
serve_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
  scripts/broker.sh stop
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
step() { echo "--- $*"; }

# One broker: every family with one replica (the shipped catalog asks for 3).
cat >"$work/single-broker.yaml" <<'YAML'
defaults:
  crud: { replicas: 1, min_insync_replicas: 1 }
  config_events: { replicas: 1, min_insync_replicas: 1 }
  saga: { replicas: 1, min_insync_replicas: 1 }
  payload: { replicas: 1, min_insync_replicas: 1 }
YAML

start_broker() {
  eval "$(scripts/broker.sh start "$port")"
  "$bin" topics apply --kafka "$broker" --catalog "$work/single-broker.yaml" --yes >"$work/apply.out" 2>&1 \
    || fail "topics apply failed: $(tail -3 "$work/apply.out")"
}

# Starts `serve crud` with output to $1 and waits until it listens.
start_serve() {
  "$bin" serve crud --kafka "$broker" --http-listen "$http" \
    --database-url "sqlite://$work/civitas.db" --shutdown-timeout-secs 2 >"$1" 2>&1 &
  serve_pid=$!
  for _ in $(seq 1 60); do
    grep -q "listening on" "$1" && return
    kill -0 "$serve_pid" 2>/dev/null || fail "serve crud exited: $(cat "$1")"
    sleep 0.5
  done
  fail "serve crud did not start: $(cat "$1")"
}

# Interrupts `serve crud` and waits for it; its exit code goes to $serve_code.
stop_serve() {
  kill -INT "$serve_pid"
  serve_code=0
  wait "$serve_pid" || serve_code=$?
  serve_pid=""
}

step "serve crud against a broker that goes away before a request"
start_broker
start_serve "$work/serve1.out"
scripts/broker.sh stop
user="outbox-$(date +%s)-$$"
code=$(curl -s -o "$work/create.json" -w '%{http_code}' "http://$http/execute" -H 'content-type: application/json' \
  -d "{\"system\":\"local\",\"object_type\":\"user\",\"action\":\"create\",\"params\":{\"username\":\"$user\",\"password\":\"s3cret-$$\"}}")
[ "$code" = 200 ] || fail "create answered $code without a broker: $(cat "$work/create.json")"
event_id=$(jq -r .event_id "$work/create.json")

step "shutdown keeps the undelivered events in the outbox and exits 0"
stop_serve
grep '^civitas:' "$work/serve1.out" || true
[ "$serve_code" = 0 ] || fail "serve crud exited $serve_code: $(grep '^civitas:' "$work/serve1.out")"
grep -q "undelivered event(s) kept in the outbox" "$work/serve1.out" \
  || fail "no outbox message: $(grep '^civitas:' "$work/serve1.out")"

step "the next start sends them"
start_broker
start_serve "$work/serve2.out"
grep -q "kept in the outbox at the last shutdown handed to the broker again" "$work/serve2.out" \
  || fail "the outbox was not re-sent: $(cat "$work/serve2.out")"
found=""
for _ in $(seq 1 20); do
  "$bin" tail crud.operations -n 10 --json --kafka "$broker" >"$work/tail.json" 2>/dev/null || true
  if jq -e -s --arg id "$event_id" 'any(.[]; .value.event_id == $id)' "$work/tail.json" >/dev/null; then
    found=1
    break
  fi
  sleep 0.5
done
[ -n "$found" ] || fail "event $event_id is not on crud.operations: $(cat "$work/tail.json")"
jq -e -s --arg id "$event_id" --arg u "$user" \
  '.[] | select(.value.event_id == $id) | .value.data.params.username == $u and .value.data.params.password == "****MASKED****"' \
  "$work/tail.json" >/dev/null || fail "the re-sent event is not the request's, masked"
stop_serve
[ "$serve_code" = 0 ] || fail "the second serve crud exited $serve_code"
echo "PASS: outbox acceptance"
