#!/usr/bin/env bash
# Acceptance: runs what the issues' "How a user checks it" steps say, against a started
# `civitas up`, and fails on any wrong output. Uses its own ports so it can run beside a
# developer's `civitas up`.
set -euo pipefail
cd "$(dirname "$0")/.."

export CIVITAS_BROKER_LISTEN="${CIVITAS_BROKER_LISTEN:-127.0.0.1:29092}"
export CIVITAS_HTTP_LISTEN="${CIVITAS_HTTP_LISTEN:-127.0.0.1:28080}"
BROKER="$CIVITAS_BROKER_LISTEN"
work=$(mktemp -d)
export DATABASE_URL="sqlite://$work/civitas.db"

cargo build --quiet -p civitas
CIVITAS="${CIVITAS:-$PWD/target/debug/civitas}"
# The component scripts (scripts/acceptance-*.sh) read these.
export CIVITAS BROKER CIVITAS_BIN="$CIVITAS" CIVITAS_BROKER="$BROKER" CIVITAS_HTTP="$CIVITAS_HTTP_LISTEN"

LIB_NAME=acceptance
. scripts/lib.sh

# Start `civitas up` and wait until it is ready.
"$CIVITAS" up >"$work/up.out" 2>"$work/up.err" &
up_pid=$!
cleanup() { kill "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
wait_ready "$up_pid" "$work/up.out" "$work/up.err"

step "up prints the broker address and the in-memory warning"
grep -q "listening on $BROKER" "$work/up.out" || fail "no broker address in: $(cat "$work/up.out")"
grep -q "keeps events in memory" "$work/up.out" || fail "no in-memory warning"

step "emit --count 100"
"$CIVITAS" emit --count 100 --kafka "$BROKER" | tee "$work/emit.out"
grep -q "published 100 events" "$work/emit.out" || fail "emit did not report 100 events"

step "kcat -L lists the crud topics"
kcat -b "$BROKER" -L -t crud.operations >/dev/null
listing=$(kcat -b "$BROKER" -L)
for t in crud.operations crud.errors crud.workflows crud.secrets crud.secrets.audit crud.metrics; do
  grep -q "topic \"$t\"" <<<"$listing" || fail "kcat -L does not list $t"
done

step "the seed's commands work unchanged"
errors=$(kcat -b "$BROKER" -t crud.errors -C -o -10 -e -q)
[ -n "$errors" ] || fail "crud.errors is empty"
jq -e -s 'length > 0 and all(.[]; has("event_id") and has("event_type") and has("timestamp")
  and has("correlation_id") and has("service") and has("trace_id") and has("span_id")
  and has("user_context") and has("data") and .event_type == "validation_error"
  and (.data | has("path") and has("errors")))' <<<"$errors" >/dev/null \
  || fail "crud.errors records lack the seed's fields: $errors"
failed=$(kcat -b "$BROKER" -t crud.operations -C -o -10 -e -q | jq -c 'select(.data.success==false)')
[ -n "$failed" ] || fail "no failed operation among the last records"
jq -e -s 'all(.[]; .data.success == false and (.data.error | type == "string")
  and (.data | has("result") | not) and .data.params.Password == "****MASKED****")' <<<"$failed" >/dev/null \
  || fail "failed operations are not shaped as the seed says: $failed"

step "civitas tail crud.operations -n 10 --failed"
"$CIVITAS" tail crud.operations -n 10 --failed --json --kafka "$BROKER" >"$work/tail.json"
n=$(jq -s 'length' "$work/tail.json")
[ "$n" -eq 10 ] || fail "tail --failed printed $n records, expected 10"
jq -e -s 'all(.[]; .value.data.success == false and .headers.ce_specversion == "1.0")' "$work/tail.json" >/dev/null \
  || fail "tail --failed printed a non-failure"
jq -e -s '[.[].timestamp] == ([.[].timestamp] | sort)' "$work/tail.json" >/dev/null || fail "tail is not in time order"
"$CIVITAS" tail crud.operations -n 10 --failed --kafka "$BROKER" | tee "$work/tail.txt"
[ "$(wc -l <"$work/tail.txt")" -eq 10 ] || fail "human tail did not print 10 lines"
grep -q "FAILED" "$work/tail.txt" || fail "human tail does not mark failures"

step "a reader that stops early (| head) is not a fault: no panic, exit 0"
# Far more than a pipe buffer (64 KiB) of records, so tail is still writing when head quits.
"$CIVITAS" emit --count 400 --kafka "$BROKER" >/dev/null
"$CIVITAS" tail crud.operations -n 500 --json --kafka "$BROKER" 2>"$work/pipe.err" | head -1 >/dev/null \
  || fail "tail exited non-zero when its reader went away: $(cat "$work/pipe.err")"
if grep -q panicked "$work/pipe.err"; then fail "tail panicked when its reader went away: $(cat "$work/pipe.err")"; fi

step "civitas trace <id from the tail>"
id=$(jq -r -s '.[0].value.correlation_id' "$work/tail.json")
"$CIVITAS" trace "$id" --kafka "$BROKER" | tee "$work/trace.txt"
[ "$(wc -l <"$work/trace.txt")" -ge 2 ] || fail "trace found fewer than 2 records for $id"
"$CIVITAS" trace "$id" --json --kafka "$BROKER" | jq -e -s --arg id "$id" \
  'length >= 2 and all(.[]; .value.correlation_id == $id) and ([.[].topic] | unique | length) >= 2' >/dev/null \
  || fail "trace --json is wrong for $id"
if "$CIVITAS" trace no-such-correlation --kafka "$BROKER" >/dev/null 2>&1; then
  fail "trace of an unknown id succeeded"
fi

# Later components add their own acceptance scripts; each gets the running instance.
for extra in scripts/acceptance-*.sh; do
  [ -e "$extra" ] || continue
  step "$extra"
  bash "$extra"
done

# The web console in a real browser (issue 15): its own `up`s, open and with a sign-in.
step "scripts/console-browser.sh"
CIVITAS="$CIVITAS" bash scripts/console-browser.sh

# The chaos suite (issue 14): broker paused, kill -9 during an outage, database stopped.
step "scripts/chaos.sh"
bash scripts/chaos.sh

echo "acceptance: all checks passed"
