#!/usr/bin/env bash
# Acceptance of delivery you can bet an audit on (issue 14; docs/operations.md "Delivery"),
# the parts scripts/chaos.sh does not cover: its own `civitas up` on a SQLite database in a
# temporary directory.
#   1. up states the embedded broker's limits in plain numbers and the history window;
#   2. /health/live and /health/ready answer 200, /health says ok with the outbox's figures;
#   3. a create's event is on crud.operations, and `civitas emit` (another producer) puts
#      records on crud.secrets; after `civitas up` is stopped and started again (a new, empty
#      embedded broker), `civitas tail crud.operations -n 10` and `kcat -o beginning` still
#      show the create's event, with its original record time, and emit's records are back;
#   4. crud.metrics carries snapshots (event_type metrics, key = metric_type, data with
#      metric_type, window_seconds, values, timestamp) for execute, connector, publisher,
#      workflow, secrets and saga (up runs the saga); the execute snapshot counts the create;
#   5. a final snapshot is written at shutdown.
# Environment: CIVITAS (or CIVITAS_BIN) the binary; OUTBOX_PORT_BASE (default 29580: BASE
# broker, BASE+1 http). Needs curl, jq and kcat.
set -euo pipefail
cd "$(dirname "$0")/.."

LIB_NAME=outbox
. scripts/lib.sh
base="${OUTBOX_PORT_BASE:-29580}"
broker="127.0.0.1:$base"
http="127.0.0.1:$((base + 1))"
url="http://$http"
work="$(mktemp -d)"
unset KAFKA_BOOTSTRAP_SERVERS KAFKA_TOPIC_PREFIX KAFKA_OPTIONS CIVITAS_CONFIG CIVITAS_AUTH_ISSUER \
  CIVITAS_AUTHZ CIVITAS_NO_EVENTS DATABASE_URL CIVITAS_HTTP_LISTEN CIVITAS_BROKER_LISTEN
up_pid=""
cleanup() {
  [ -n "$up_pid" ] && kill -9 "$up_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start_up() {
  "$bin" up --broker-listen "$broker" --http-listen "$http" --database-url "sqlite://$work/civitas.db" \
    --metrics-interval-secs 2 >"$work/up.out" 2>"$work/up.err" &
  up_pid=$!
  wait_ready "$up_pid" "$work/up.out" "$work/up.err"
}
stop_up() { stop_gracefully "$up_pid"; up_pid=""; }

step "up states the embedded broker's limits and the history window"
start_up
grep -q "at most 100000 records or 5 MB per partition" "$work/up.out" || fail "no limits in: $(grep WARNING "$work/up.out")"
grep -q "A restart gets back the last 24 h of its records" "$work/up.out" || fail "no history window in: $(grep WARNING "$work/up.out")"

step "the probes"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health/live")" = 200 ] || fail "/health/live"
[ "$(curl -s -o "$work/ready.json" -w '%{http_code}' "$url/health/ready")" = 200 ] || fail "/health/ready: $(cat "$work/ready.json")"
curl -s "$url/health" >"$work/health.json"
jq -e '.status == "ok" and (.events.delivery.outbox | has("backlog_events"))' "$work/health.json" >/dev/null \
  || fail "/health: $(cat "$work/health.json")"

step "a create's event survives a restart of civitas up"
user="history-$$"
curl -s "$url/execute" -H 'content-type: application/json' \
  -d "{\"system\":\"local\",\"object_type\":\"user\",\"action\":\"create\",\"params\":{\"username\":\"$user\",\"password\":\"pw-$$-secret\"}}" \
  >"$work/create.json"
event_id=$(jq -r .event_id "$work/create.json")
[ -n "$event_id" ] && [ "$event_id" != null ] || fail "the create failed: $(cat "$work/create.json")"
"$bin" emit --count 12 --kafka "$broker" >/dev/null
sleep 3 # two metrics snapshots, and the journal copies what the broker took
stop_up
grep -q "delivering the events still waiting" "$work/up.out" || fail "no shutdown line: $(tail -3 "$work/up.out")"
start_up
found=""
for _ in $(seq 1 20); do
  "$bin" tail crud.operations -n 10 --json --kafka "$broker" >"$work/tail.json" 2>/dev/null || true
  if jq -e -s --arg id "$event_id" 'any(.[]; .value.event_id == $id)' "$work/tail.json" >/dev/null; then
    found=1
    break
  fi
  sleep 0.5
done
[ -n "$found" ] || fail "civitas tail does not show the event from before the restart: $(cat "$work/tail.json")"
kcat -b "$broker" -C -t crud.operations -o beginning -e -q -f '%T %s\n' >"$work/kcat.txt"
line=$(grep "$event_id" "$work/kcat.txt") || fail "kcat -o beginning does not show the event"
record_ms=${line%% *}
event_ms=$(jq -r '.result.created_at' "$work/create.json" | python3 -c 'import sys, datetime; print(int(datetime.datetime.fromisoformat(sys.stdin.read().strip().replace("Z", "+00:00")).timestamp() * 1000))')
[ $((record_ms - event_ms)) -lt 5000 ] || fail "the record's time ($record_ms) is the restart's, not the event's ($event_ms)"
grep -q "password\":\"\*\*\*\*MASKED\*\*\*\*" <<<"$line" || fail "the replayed event is not masked: $line"
grep -q "history: [1-9][0-9]* record(s) of the last 24 h written back" "$work/up.out" \
  || fail "up did not say what it wrote back: $(grep history "$work/up.out")"
[ "$(kcat -b "$broker" -C -t crud.secrets -o beginning -e -q | wc -l)" -ge 2 ] \
  || fail "emit's records on crud.secrets did not come back after the restart"

step "crud.metrics carries a snapshot of each type"
kcat -b "$broker" -C -t crud.metrics -o beginning -e -q -f '%k\t%s\n' >"$work/metrics.txt"
for type in execute connector publisher workflow secrets saga; do
  grep -q "^$type	" "$work/metrics.txt" || fail "no $type snapshot keyed by its type: $(head -3 "$work/metrics.txt")"
done
cut -f2- "$work/metrics.txt" | jq -e -s '
  all(.[]; .event_type == "metrics" and (.data | has("metric_type") and has("window_seconds") and has("values") and has("timestamp")))' \
  >/dev/null || fail "a snapshot lacks the seed's envelope or a field: $(head -1 "$work/metrics.txt")"
cut -f2- "$work/metrics.txt" | jq -e -s '[.[] | select(.data.metric_type == "execute") | .data.values.requests] | add >= 1' \
  >/dev/null || fail "no execute snapshot counts the create"
stop_up
echo "PASS: outbox acceptance"
