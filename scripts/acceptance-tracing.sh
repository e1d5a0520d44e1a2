#!/usr/bin/env bash
# Acceptance of tracing (issue 11, item 6): its own `civitas up` exporting spans over
# OTLP/HTTP (JSON) to a receiver this script starts (scripts/otlp-receiver.py).
#   1. POST /execute with a caller's traceparent: the crud.operations event's trace_id is the
#      caller's trace, and its span_id is a span the receiver got (the request span, a child
#      of the caller's span), named http.request, with the service name.
#   2. saga request --wait: every hop (request, orchestrator, FROST and APISIX adapters) is a
#      span of one trace, the trace id `saga request` printed.
# Fails (non-zero exit) on any wrong output.
#
# Environment:
#   CIVITAS (or CIVITAS_BIN)  the civitas binary     (default: target/debug/civitas)
#   TRACING_PORT_BASE         ports BASE..BASE+2     (default: 29400)
# Needs curl, jq, kcat and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

LIB_NAME=tracing
. scripts/lib.sh
base="${TRACING_PORT_BASE:-29400}"
broker="127.0.0.1:$base"
http="127.0.0.1:$((base + 1))"
otlp=$((base + 2))
work="$(mktemp -d)"
pids=()
cleanup() {
  kill_all "${pids[@]}"
  rm -rf "$work"
}
trap cleanup EXIT
need_tools curl jq kcat python3

python3 scripts/otlp-receiver.py "$otlp" "$work/spans.txt" 300 &
pids+=($!)
export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$otlp"
export OTEL_EXPORTER_OTLP_PROTOCOL=http/json
export OTEL_SERVICE_NAME=civitas-acceptance
DATABASE_URL="sqlite://$work/civitas.db" "$bin" up --broker-listen "$broker" --http-listen "$http" \
  >"$work/up.out" 2>"$work/up.err" &
up_pid=$!
pids+=("$up_pid")
wait_ready "$up_pid" "$work/up.out" "$work/up.err"

# spans_of TRACE_ID: the spans the receiver got for a trace, waiting up to 20 s for COUNT.
spans_of() {
  for _ in $(seq 1 40); do
    n=$(grep -c "^$1 " "$work/spans.txt" 2>/dev/null || true)
    if [ "${n:-0}" -ge "$2" ]; then break; fi
    sleep 0.5
  done
  grep "^$1 " "$work/spans.txt" 2>/dev/null || true
}

step "1. POST /execute with a traceparent: the event carries an exported span of the caller's trace"
caller_trace=4bf92f3577b34da6a3ce929d0e0e4736
caller_span=00f067aa0ba902b7
user="trace-$$"
status=$(curl -s -o "$work/create.json" -w '%{http_code}' "http://$http/execute" \
  -H 'content-type: application/json' -H "traceparent: 00-$caller_trace-$caller_span-01" \
  -d "{\"system\":\"local\",\"object_type\":\"user\",\"action\":\"create\",\"params\":{\"username\":\"$user\",\"email\":\"$user@example.org\",\"password\":\"s3cret-trace\"}}")
[ "$status" = 200 ] || fail "create answered $status: $(cat "$work/create.json")"
event_id=$(jq -r .event_id "$work/create.json")
event=""
for _ in $(seq 1 30); do
  event=$(kcat -b "$broker" -t crud.operations -C -o beginning -e -q 2>/dev/null | jq -c --arg id "$event_id" 'select(.event_id == $id)')
  [ -n "$event" ] && break
  sleep 0.5
done
[ -n "$event" ] || fail "no crud.operations event $event_id"
trace_id=$(jq -r .trace_id <<<"$event")
span_id=$(jq -r .span_id <<<"$event")
[ "$trace_id" = "$caller_trace" ] || fail "the event's trace_id $trace_id is not the caller's $caller_trace"
spans=$(spans_of "$trace_id" 2)
echo "$spans"
grep -q "^$trace_id $span_id $caller_span http.request civitas-acceptance$" <<<"$spans" \
  || fail "the event's span $span_id is not an exported http.request child of $caller_span"
command_span=$(awk -v parent="$span_id" '$3 == parent && $4 == "command" {print $2}' <<<"$spans")
[ -n "$command_span" ] || fail "no command span under the request span $span_id"
spans=$(spans_of "$trace_id" 4)
grep -q " $command_span db.query " <<<"$spans" \
  || fail "no db.query span under the command span $command_span"
grep -q " $span_id kafka.produce " <<<"$spans" \
  || fail "no kafka.produce span (the event) under the request span $span_id"

step "2. saga request --wait: every hop is a span of the trace saga request printed"
"$bin" saga request --kafka "$broker" --dataset-id ds-trace --name Spuren \
  --api sensorthings=http://frost:8080/FROST-Server/v1.1 --wait --wait-timeout-secs 60 >"$work/saga.out" \
  || { cat "$work/saga.out" >&2; fail "the saga did not complete"; }
cat "$work/saga.out"
saga_trace=$(sed -n 's/^trace id \([0-9a-f]*\)$/\1/p' "$work/saga.out")
[ -n "$saga_trace" ] || fail "saga request printed no trace id"
completed=$(kcat -b "$broker" -t core.civitas.dataset.create.completed -C -o beginning -e -q -f '%h\n' 2>/dev/null | grep "ce_subject=ds-trace" | head -1)
grep -q "traceparent=00-$saga_trace-" <<<"$completed" || fail ".completed does not carry the saga's trace: $completed"
spans=$(spans_of "$saga_trace" 6)
echo "$spans"
[ "$(grep -c ' saga.request ' <<<"$spans")" -eq 1 ] || fail "no saga.request span in the trace"
# request → orchestrator → FROST adapter → orchestrator → APISIX adapter → orchestrator
[ "$(grep -c ' saga.message ' <<<"$spans")" -ge 5 ] || fail "fewer than 5 saga.message spans in the trace"
for name in kafka.produce db.query; do
  grep -q " $name " <<<"$spans" || fail "no $name span in the saga's trace"
done
# every span but the root has a parent inside the trace
ids=$(awk '{print $2}' <<<"$spans")
while read -r _ _ parent name _; do
  [ "$name" = saga.request ] && continue
  grep -qx "$parent" <<<"$ids" || fail "span $name has a parent $parent outside the trace"
done <<<"$spans"

echo "tracing: all checks passed"
