#!/usr/bin/env bash
# Acceptance of the workflow engine (issue 13, "How a user checks it"): its own `civitas up`
# with --workflows config/workflows (the shipped onboarding workflow) on a SQLite database in
# a temporary directory.
#   1. up names the workflows ("workflows: 1 (onboarding)") and warns that approvals are
#      OPEN TO ANYONE (no --auth-issuer);
#   2. the groups staff, newsletter and admins are created with POST /execute on `local`;
#   3. POST /workflow/start for max is a 202 with the run id; inputs that fail the schema are
#      a 422 whose detail[0].loc starts with ["body","data"], and crud.errors gets a
#      validation_error for /workflow/start;
#   4. the run reaches WAITING with a required_action.task_id, and crud.workflows holds its
#      WAITING event (correlation id = run id, step_name approve);
#   5. a resume with a stale state_version (If-Match: 1) is a 409 carrying the run as it is;
#   6. `civitas up` killed with -9 while the run waits and started again on the same database
#      and ports: the run is still WAITING at the same state_version (the embedded broker
#      forgets its records on a restart: expected);
#   7. `civitas workflow approve <task>` succeeds; the run ends COMPLETED, every node COMPLETED;
#   8. a second run (erika): the same resume sent twice with one idempotency key answers 200
#      twice with the same body, the user is enabled once, and the run completes;
#   9. crud.workflows holds the first run's completed event; `civitas trace <run id>` lists its
#      enable_user operation and its completed event, and the whole second run in order;
#  10. `civitas workflow list` shows both runs COMPLETED; `civitas workflow show` prints the
#      timeline with "approved by anyone".
# Fails (non-zero exit) on any wrong output.
#
# Environment:
#   CIVITAS (or CIVITAS_BIN)  the civitas binary                  (default: target/debug/civitas)
#   WORKFLOWS_PORT_BASE       ports BASE (broker), BASE+1 (http)  (default: 29570)
# Needs curl, jq and kcat.
set -euo pipefail
cd "$(dirname "$0")/.."

LIB_NAME=workflows
. scripts/lib.sh
base="${WORKFLOWS_PORT_BASE:-29570}"
broker="127.0.0.1:$base"
http="127.0.0.1:$((base + 1))"
url="http://$http"
work="$(mktemp -d)"
# Its own embedded broker, no caller authentication, the shipped topic names: none of the
# caller's settings may point `civitas up` elsewhere.
unset KAFKA_BOOTSTRAP_SERVERS KAFKA_TOPIC_PREFIX KAFKA_OPTIONS CIVITAS_CONFIG CIVITAS_AUTH_ISSUER \
  CIVITAS_AUTHZ CIVITAS_NO_EVENTS CIVITAS_TOKEN CIVITAS_URL
pids=()
cleanup() {
  kill_all "${pids[@]}"
  rm -rf "$work"
}
trap cleanup EXIT
need_tools curl jq kcat
need_binary

# Starts `civitas up` in the background (always the same database and ports) and waits until
# its stdout holds READY_COUNT "ready" lines (the output file is appended to on a restart).
up() {
  "$bin" up --broker-listen "$broker" --http-listen "$http" --database-url "sqlite://$work/civitas.db" \
    --workflows config/workflows >>"$work/up.out" 2>>"$work/up.err" &
  up_pid=$!
  pids+=("$up_pid")
  wait_ready "$up_pid" "$work/up.out" "$work/up.err" "$1"
}

# post NAME PATH BODY [CURL ARGS…]: the answer's body to $work/NAME.json; prints the HTTP status.
post() {
  local name=$1 path=$2 body=$3
  shift 3
  curl -s -o "$work/$name.json" -w '%{http_code}' "$url$path" -H 'content-type: application/json' \
    "$@" -d "$body" || true
}
# The run as GET /workflow/status/ID answers it (empty when it does not answer).
run_json() { curl -s "$url/workflow/status/$1" || true; }
# wait_status ID STATUS: polls (at most 15 s) until the run has STATUS; prints the run.
wait_status() {
  local run=""
  for _ in $(seq 1 30); do
    run=$(run_json "$1")
    [ "$(jq -r .status <<<"$run" 2>/dev/null)" = "$2" ] && { echo "$run"; return 0; }
    sleep 0.5
  done
  fail "run $1 did not reach $2 within 15 s: $run"
}
# records TOPIC FILTER [JQ ARGS…]: the topic's records FILTER keeps (compact), waiting at most
# 15 s for one. kcat's whole output goes to jq, which reads to the end: no broken pipe.
records() {
  local topic=$1 filter=$2 out=""
  shift 2
  for _ in $(seq 1 30); do
    out=$(kcat -b "$broker" -t "$topic" -C -o beginning -e -q 2>/dev/null | jq -c "$@" "$filter" 2>/dev/null || true)
    [ -n "$out" ] && break
    sleep 0.5
  done
  echo "$out"
}

# ---------------------------------------------------------------------------------------
step "1. up --workflows config/workflows names the workflows and the open approvals"
up 1
first_pid=$up_pid
out=$(cat "$work/up.out")
grep -q "workflows: 1 (onboarding)" <<<"$out" || fail "up does not name the workflows: $out"
grep -q "approvals: OPEN TO ANYONE" <<<"$out" || fail "up does not warn that approvals are open to anyone: $out"

step "2. the groups staff, newsletter and admins"
for group in staff newsletter admins; do
  status=$(post "group-$group" /execute \
    "{\"system\":\"local\",\"object_type\":\"group\",\"action\":\"create\",\"params\":{\"name\":\"$group\"}}")
  [ "$status" = 200 ] || fail "creating group $group answered $status: $(cat "$work/group-$group.json")"
done

step "3. POST /workflow/start: 202 with an id; inputs against the schema: 422 and crud.errors"
status=$(post start1 /workflow/start \
  '{"workflow_name":"onboarding","data":{"username":"max","email":"max@example.org"}}')
[ "$status" = 202 ] || fail "start answered $status: $(cat "$work/start1.json")"
run1=$(jq -r '.id // empty' "$work/start1.json")
[ -n "$run1" ] || fail "the 202 carries no id: $(cat "$work/start1.json")"
echo "run $run1"
status=$(post invalid /workflow/start '{"workflow_name":"onboarding","data":{"username":"X Y!"}}')
[ "$status" = 422 ] || fail "start with a bad username answered $status: $(cat "$work/invalid.json")"
jq -e '.detail[0].loc[0:2] == ["body","data"]' "$work/invalid.json" >/dev/null \
  || fail "the 422's detail[0].loc does not start with [\"body\",\"data\"]: $(cat "$work/invalid.json")"
jq -e 'any(.detail[]; .loc == ["body","data","username"])' "$work/invalid.json" >/dev/null \
  || fail "the 422 does not name data.username: $(cat "$work/invalid.json")"
invalid_id=$(jq -r '.correlation_id // empty' "$work/invalid.json")
errors=$(records crud.errors 'select(.event_type == "validation_error" and .data.path == "/workflow/start")')
[ -n "$errors" ] || fail "crud.errors holds no validation_error for /workflow/start"
[ -z "$invalid_id" ] || jq -e -s --arg c "$invalid_id" 'any(.[]; .correlation_id == $c)' <<<"$errors" >/dev/null \
  || fail "no validation_error with the 422's correlation id $invalid_id: $errors"

step "4. the run waits for the approval; crud.workflows says WAITING"
run=$(wait_status "$run1" WAITING)
task1=$(jq -r '.required_action.task_id // empty' <<<"$run")
[ -n "$task1" ] || fail "the waiting run has no required_action.task_id: $run"
version=$(jq -r .state_version <<<"$run")
echo "task $task1, state version $version"
waiting=$(records crud.workflows 'select(.data.status == "WAITING")')
jq -e -s --arg r "$run1" 'any(.[]; .correlation_id == $r and .data.step_name == "approve")' <<<"$waiting" >/dev/null \
  || fail "crud.workflows has no WAITING event of $run1 at step approve: $waiting"

step "5. a resume with a stale state_version: 409 with the run as it is"
status=$(post stale "/workflow/resume/$task1" \
  '{"decision":"approve","state_version":1,"idempotency_key":"acceptance-stale"}' -H 'If-Match: 1')
[ "$status" = 409 ] || fail "a stale resume answered $status: $(cat "$work/stale.json")"
jq -e --argjson v "$version" '.run.state_version == $v' "$work/stale.json" >/dev/null \
  || fail "the 409 does not carry the run at state version $version: $(cat "$work/stale.json")"
run=$(run_json "$run1")
jq -e --argjson v "$version" '.status == "WAITING" and .state_version == $v' <<<"$run" >/dev/null \
  || fail "the stale resume changed the run: $run"

step "6. kill -9 while the run waits, start again: still WAITING at state version $version"
kill -9 "$first_pid"
wait "$first_pid" 2>/dev/null || true
pids=()
up 2
run=$(run_json "$run1")
jq -e --argjson v "$version" '.status == "WAITING" and .state_version == $v' <<<"$run" >/dev/null \
  || fail "after the restart the run is not WAITING at state version $version: $run"
[ "$(jq -r .required_action.task_id <<<"$run")" = "$task1" ] || fail "after the restart the task changed: $run"

step "7. civitas workflow approve: the run completes"
"$bin" workflow approve "$task1" --url "$url" >"$work/approve.out" 2>&1 \
  || fail "workflow approve failed: $(cat "$work/approve.out")"
cat "$work/approve.out"
grep -q "^$task1: APPROVED " "$work/approve.out" || fail "workflow approve does not say APPROVED"
run=$(wait_status "$run1" COMPLETED)
jq -e '(.nodes | length) == 5 and all(.nodes[]; .status == "COMPLETED")' <<<"$run" >/dev/null \
  || fail "not every node is COMPLETED: $(jq -c '[.nodes[] | {id, status}]' <<<"$run")"
enable_event=$(jq -r '.nodes[] | select(.id == "enable_user") | .event_id // empty' <<<"$run")
[ -n "$enable_event" ] || fail "enable_user has no operation event id: $run"

step "8. one idempotency key twice: the same answer, done once"
status=$(post start2 /workflow/start \
  '{"workflow_name":"onboarding","data":{"username":"erika","email":"erika@example.org"}}')
[ "$status" = 202 ] || fail "start (erika) answered $status: $(cat "$work/start2.json")"
run2=$(jq -r '.id // empty' "$work/start2.json")
[ -n "$run2" ] || fail "the 202 carries no id: $(cat "$work/start2.json")"
run=$(wait_status "$run2" WAITING)
task2=$(jq -r '.required_action.task_id // empty' <<<"$run")
version2=$(jq -r .state_version <<<"$run")
[ -n "$task2" ] || fail "the waiting run has no required_action.task_id: $run"
resume="{\"decision\":\"approve\",\"state_version\":$version2,\"idempotency_key\":\"acceptance-erika\"}"
status=$(post resume1 "/workflow/resume/$task2" "$resume" -H "If-Match: $version2")
[ "$status" = 200 ] || fail "the resume answered $status: $(cat "$work/resume1.json")"
status=$(post resume2 "/workflow/resume/$task2" "$resume" -H "If-Match: $version2")
[ "$status" = 200 ] || fail "the repeated resume answered $status: $(cat "$work/resume2.json")"
[ "$(jq -S . "$work/resume1.json")" = "$(jq -S . "$work/resume2.json")" ] \
  || fail "the repeated resume answered differently: $(cat "$work/resume1.json") then $(cat "$work/resume2.json")"
jq -e '.task.status == "APPROVED"' "$work/resume1.json" >/dev/null || fail "the task is not APPROVED: $(cat "$work/resume1.json")"
run=$(wait_status "$run2" COMPLETED)
updates=$(records crud.operations 'select(.correlation_id == $r and .data.operation == "update")' --arg r "$run2")
[ "$(grep -c . <<<"$updates")" -eq 1 ] || fail "erika was not enabled exactly once: $updates"

step "9. crud.workflows and civitas trace after the restart"
completed=$(records crud.workflows 'select(.correlation_id == $r and .event_type == "completed")' --arg r "$run1")
jq -e -s 'length == 1 and .[0].data.status == "COMPLETED" and .[0].data.workflow_name == "onboarding"' \
  <<<"$completed" >/dev/null || fail "crud.workflows has no (single) completed event of $run1: $completed"
enable=$(records crud.operations 'select(.event_id == $e)' --arg e "$enable_event")
[ -n "$enable" ] || fail "crud.operations has no event $enable_event (enable_user)"
"$bin" trace "$run1" --kafka "$broker" >"$work/trace1.out" || fail "civitas trace $run1 failed: $(cat "$work/trace1.out")"
cat "$work/trace1.out"
"$bin" trace "$run1" --kafka "$broker" --json >"$work/trace1.json" || fail "civitas trace --json $run1 failed"
jq -e -s --arg r "$run1" --arg e "$enable_event" '
  any(.[]; .topic == "crud.operations" and .value.event_id == $e and .value.correlation_id == $r
    and .value.data.operation == "update" and .value.data.object_id == "max" and .value.data.success == true)
  and any(.[]; .topic == "crud.workflows" and .value.event_type == "completed" and .value.correlation_id == $r)' \
  "$work/trace1.json" >/dev/null || fail "civitas trace does not list the enable_user operation and the completed event"
grep -q "update local/user/max ok" "$work/trace1.out" || fail "civitas trace does not show the enable_user operation"
grep -q "crud.workflows.* completed .*COMPLETED" "$work/trace1.out" || fail "civitas trace does not show the completed event"
# The second run's events all reached this broker: the whole run, in order.
"$bin" trace "$run2" --kafka "$broker" --json >"$work/trace2.json" || fail "civitas trace --json $run2 failed"
jq -e -s '[.[] | select(.topic == "crud.workflows") | .value.event_type] == ["started", "waiting", "completed"]
  and ([.[] | select(.topic == "crud.operations") | .value.data.success] | length == 4 and all)' \
  "$work/trace2.json" >/dev/null \
  || fail "civitas trace $run2 lacks started/waiting/completed or the 4 operations: $(jq -c -s '[.[] | [.topic, .value.event_type?]]' "$work/trace2.json")"

step "10. civitas workflow list and show"
"$bin" workflow list --url "$url" >"$work/list.out" || fail "workflow list failed: $(cat "$work/list.out")"
cat "$work/list.out"
for run_id in "$run1" "$run2"; do
  grep -Eq "^$run_id +onboarding +COMPLETED " "$work/list.out" || fail "workflow list does not show $run_id COMPLETED"
done
"$bin" workflow show "$run1" --url "$url" >"$work/show.out" || fail "workflow show failed: $(cat "$work/show.out")"
cat "$work/show.out"
grep -q "^status    COMPLETED" "$work/show.out" || fail "workflow show does not say COMPLETED"
grep -Eq "^  .* approve +approved by anyone$" "$work/show.out" || fail "the timeline lacks \"approved by anyone\""
grep -Eq "^  .* enable_user +completed$" "$work/show.out" || fail "the timeline lacks enable_user completed"
echo "workflows: all checks passed"
