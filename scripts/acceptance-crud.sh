#!/usr/bin/env bash
# Acceptance steps of the CRUD service (issue 3, "How a user checks it"), against a running
# `civitas up`. Starts nothing itself; fails (non-zero exit) on any wrong answer or event.
#
# Environment:
#   CIVITAS_BIN         the civitas binary          (default: target/debug/civitas)
#   CIVITAS_BROKER      the broker's bootstrap      (default: 127.0.0.1:9092)
#   CIVITAS_HTTP        the CRUD service's address  (default: 127.0.0.1:8080)
#   KAFKA_TOPIC_PREFIX  the crud topics' prefix     (default: crud)
#   CRUD_USERNAME       the user to create          (default: max-<unique>, so reruns against
#                                                    the same database still see a fresh create)
# Needs curl, jq and kcat (scripts/install-deps.sh installs the last two).
set -euo pipefail

. "$(dirname "$0")/lib.sh"
broker="${CIVITAS_BROKER:-127.0.0.1:9092}"
http="http://${CIVITAS_HTTP:-127.0.0.1:8080}"
prefix="${KAFKA_TOPIC_PREFIX:-crud}"
username="${CRUD_USERNAME:-max-$(date +%s)-$$}"
password="s3cret-$$"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

need_tools curl jq kcat
need_binary

# post NAME JSON: POST /execute; body in $work/NAME.json, headers in $work/NAME.headers,
# status printed.
post() {
  curl -s -o "$work/$1.json" -D "$work/$1.headers" -w '%{http_code}' \
    "$http/execute" -H 'content-type: application/json' -d "$2"
}

# expect_json NAME JQ-FILTER DESCRIPTION: the filter must be true on the body.
expect_json() {
  jq -e "$2" "$work/$1.json" >/dev/null || { echo "body: $(cat "$work/$1.json")"; fail "$3"; }
}

# events TOPIC FILTER: records of the last 10 per partition matching the jq filter; waits up
# to 15 s for at least one.
events() {
  local out="$work/events.$RANDOM"
  for _ in $(seq 1 30); do
    kcat -b "$broker" -t "$1" -C -o -10 -e -q 2>/dev/null | jq -c "$2" > "$out" 2>/dev/null || true
    if [ -s "$out" ]; then cat "$out"; return 0; fi
    sleep 0.5
  done
  return 1
}

create="{\"system\":\"local\",\"object_type\":\"user\",\"action\":\"create\",\"params\":{\"username\":\"$username\",\"Password\":\"$password\",\"email\":\"$username@example.org\"}}"

step "health, systems, openapi"
[ "$(curl -s -o "$work/health.json" -w '%{http_code}' "$http/health")" = 200 ] || fail "GET /health is not 200"
expect_json health '.status == "ok"' "/health does not say ok"
[ "$(curl -s -o "$work/systems.json" -w '%{http_code}' "$http/systems")" = 200 ] || fail "GET /systems is not 200"
expect_json systems '[.systems[].name] | index("local") != null' "/systems does not list the local directory"
[ "$(curl -s -o "$work/openapi.json" -w '%{http_code}' "$http/openapi.json")" = 200 ] || fail "GET /openapi.json is not 200"
expect_json openapi '.paths["/execute"].post != null' "/openapi.json does not describe POST /execute"

step "create user $username"
status=$(post created "$create")
[ "$status" = 200 ] || { cat "$work/created.json"; fail "create answered $status, expected 200"; }
expect_json created ".result.username == \"$username\"" "create did not return the user"
expect_json created '(.result | tostring | test("argon2|s3cret") | not)' "create returned the password or its hash"
expect_json created '.event_id | type == "string"' "create returned no event_id"
created_cid=$(jq -r .correlation_id "$work/created.json")
grep -qi "^x-correlation-id: $created_cid" "$work/created.headers" || fail "X-Correlation-ID header does not match the body"
echo "ok: 200, correlation id $created_cid"

step "the same create again is a conflict"
status=$(post conflict "$create")
[ "$status" = 409 ] || { cat "$work/conflict.json"; fail "second create answered $status, expected 409"; }
expect_json conflict '.detail | test("already exists")' "the conflict does not say the user already exists"
conflict_cid=$(jq -r .correlation_id "$work/conflict.json")
echo "ok: 409 $(jq -r .detail "$work/conflict.json")"

step "a body without system is 422"
status=$(post invalid "{\"object_type\":\"user\",\"action\":\"create\",\"params\":{\"username\":\"$username\",\"Password\":\"$password\"}}")
[ "$status" = 422 ] || { cat "$work/invalid.json"; fail "body without system answered $status, expected 422"; }
expect_json invalid '.detail[0].type == "missing" and .detail[0].loc == ["body","system"] and .detail[0].msg == "Field required"' \
  "the 422 detail is not FastAPI's missing/Field required at [body, system]"
expect_json invalid '.detail[0].input.params.Password == "****MASKED****"' "the 422 input is not masked"
invalid_cid=$(jq -r .correlation_id "$work/invalid.json")
echo "ok: 422"

step "kcat: the failed create on $prefix.operations, password masked"
failed=$(events "$prefix.operations" "select(.data.success==false and .correlation_id==\"$conflict_cid\")") \
  || fail "no failed operation event with correlation id $conflict_cid on $prefix.operations"
echo "$failed"
echo "$failed" | jq -e '.event_type == "create" and .data.operation == "create" and .data.system == "local" and .data.object_type == "user"' >/dev/null \
  || fail "the failed event does not describe local/user/create"
echo "$failed" | jq -e '.data.params.Password == "****MASKED****"' >/dev/null || fail "the password is not masked in the event"
echo "$failed" | jq -e '.data.error | test("already exists")' >/dev/null || fail "the event's error does not name the conflict"
echo "$failed" | jq -e '.service == "crud-service" and (.trace_id | length == 32) and (.span_id | length == 16)' >/dev/null \
  || fail "the envelope lacks service/trace_id/span_id"
if echo "$failed" | grep -q "$password"; then fail "the password appears in the event"; fi

step "kcat: the successful create on $prefix.operations"
ok_event=$(events "$prefix.operations" "select(.correlation_id==\"$created_cid\")") \
  || fail "no operation event for the successful create"
echo "$ok_event" | jq -e ".data.success == true and .event_id == \"$(jq -r .event_id "$work/created.json")\"" >/dev/null \
  || fail "the success event does not match the response's event_id"
if echo "$ok_event" | grep -qE "$password|argon2"; then fail "the password or its hash appears in the event"; fi

step "kcat: the validation error on $prefix.errors"
verr=$(events "$prefix.errors" "select(.correlation_id==\"$invalid_cid\")") \
  || fail "no validation_error event with correlation id $invalid_cid on $prefix.errors"
echo "$verr"
echo "$verr" | jq -e '.event_type == "validation_error" and .data.path == "/execute" and .data.errors[0].type == "missing" and .data.errors[0].loc == ["body","system"] and .data.object_type == "user" and .data.action == "create" and .data.system == null' >/dev/null \
  || fail "the validation_error event does not carry path, errors and the fields that could be read"
echo "$verr" | jq -e '.data.errors[0].input.params.Password == "****MASKED****"' >/dev/null || fail "the validation input is not masked"
if echo "$verr" | grep -q "$password"; then fail "the password appears in the validation_error event"; fi

step "civitas trace $conflict_cid"
trace_out=$("$bin" trace "$conflict_cid" --kafka "$broker" --topic-prefix "$prefix") || fail "civitas trace exited non-zero"
echo "$trace_out"
echo "$trace_out" | grep -q "$conflict_cid" || fail "civitas trace does not show the request's events"
echo "$trace_out" | grep -q "FAILED" || fail "civitas trace does not show the failure"

step "metrics"
# Read whole before grep: `grep -q` stops at the match, and under pipefail curl's broken pipe
# would fail the check that just passed.
metrics=$(curl -s "$http/metrics")
grep -q 'civitas_execute_requests_total{system="local",action="create",outcome="conflict"}' <<<"$metrics" \
  || fail "/metrics does not count the conflict"

echo "PASS: CRUD service acceptance"
