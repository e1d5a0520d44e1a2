#!/usr/bin/env bash
# The chaos suite (issue 14, docs/operations.md "Delivery"): what an operator bets the audit
# trail on, proven against real processes. `civitas serve crud` publishes to the embedded
# broker of a separate `civitas up` (the broker) and keeps its events in its own database.
#
#   1. broker paused for 10 s during load (SIGSTOP/SIGCONT of the `up`: the broker neither
#      answers nor forgets): every acknowledged create's event arrives afterwards;
#   2. kill -9 of `serve crud` during a broker outage (the `up` stopped) with N acknowledged
#      creates; `up` and `serve crud` started again: N distinct events arrive (the issue's
#      "How a user checks it");
#   3. the database (PostgreSQL) stops during load: commands answer 503, never 500;
#      /health/ready is 503 while it is down; both recover when it is back, and every
#      acknowledged create's event arrives;
#   4. the saga: FROST and APISIX stand-ins answer 500 to their first requests, then recover
#      (scripts/chaos-http.py); `civitas up` is killed with -9 while a FROST step is in
#      flight, again while an APISIX step is, and once more right after a restart; every saga
#      ends COMPLETED, COMPENSATED or escalated (COMPENSATION_FAILED), none stuck.
#
# Prints a table of what each scenario sent, acknowledged and found on Kafka (distinct event
# ids, and copies beyond one: at-least-once allows them, the table shows them). Exits
# non-zero when an acknowledged event is missing or a rule above is broken. Bounded: every
# wait has a deadline.
#
# Environment: CIVITAS (or CIVITAS_BIN) the binary (default target/debug/civitas);
# CHAOS_PORT_BASE (default 29600; uses BASE..BASE+7). Needs curl, jq, kcat, python3 and the
# PostgreSQL server binaries (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

LIB_NAME=chaos
. scripts/lib.sh
base="${CHAOS_PORT_BASE:-29600}"
broker="127.0.0.1:$base"
up_http="127.0.0.1:$((base + 1))"
serve_http="127.0.0.1:$((base + 2))"
pg_port=$((base + 3))
url="http://$serve_http"
work="$(mktemp -d)"
chmod 755 "$work" # the PostgreSQL server (user postgres) keeps its data dir below it
unset KAFKA_BOOTSTRAP_SERVERS KAFKA_TOPIC_PREFIX KAFKA_OPTIONS CIVITAS_CONFIG CIVITAS_AUTH_ISSUER \
  CIVITAS_AUTHZ CIVITAS_NO_EVENTS DATABASE_URL CIVITAS_HTTP_LISTEN CIVITAS_BROKER_LISTEN
up_pid=""
serve_pid=""
saga_pid=""
pg_started=""
helpers=()
cleanup() {
  for pid in "${helpers[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "$saga_pid" ] && kill -9 "$saga_pid" 2>/dev/null || true
  [ -n "$up_pid" ] && { kill -CONT "$up_pid" 2>/dev/null || true; kill -9 "$up_pid" 2>/dev/null || true; }
  [ -n "$serve_pid" ] && kill -9 "$serve_pid" 2>/dev/null || true
  [ -n "$pg_started" ] && CIVITAS_PG_DIR="$work/pg" CIVITAS_PG_PORT=$pg_port scripts/postgres.sh stop
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
need_tools curl jq kcat python3
need_binary

# The broker: `civitas up` with nothing kept across its restarts (history 0), its own database.
start_up() {
  : >"$work/up.out"
  "$bin" up --broker-listen "$broker" --http-listen "$up_http" --database-url "sqlite://$work/up-$RANDOM.db" \
    --history-hours 0 --metrics-interval-secs 0 >"$work/up.out" 2>"$work/up.err" &
  up_pid=$!
  wait_ready "$up_pid" "$work/up.out" "$work/up.err"
}
stop_up() { stop_gracefully "$up_pid"; up_pid=""; }

# serve crud against the broker, on database $1.
start_serve() {
  "$bin" serve crud --kafka "$broker" --http-listen "$serve_http" --database-url "$1" \
    --shutdown-timeout-secs 2 --metrics-interval-secs 0 >>"$work/serve.out" 2>>"$work/serve.err" &
  serve_pid=$!
  for _ in $(seq 1 120); do
    curl -sf "$url/health/live" >/dev/null 2>&1 && return 0
    kill -0 "$serve_pid" 2>/dev/null || fail "serve crud exited: $(tail -5 "$work/serve.err")"
    sleep 0.5
  done
  fail "serve crud did not start"
}
kill9_serve() { kill -9 "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; serve_pid=""; }
stop_serve() { stop_gracefully "$serve_pid"; serve_pid=""; }

# The event ids of the acknowledged (200) answers in load file $1.
acknowledged() { jq -r 'select(.status == 200) | .event_id' "$1" | sort -u; }

# Polls crud.operations until every id in file $1 is there (60 s at most); writes every
# copy's event id of prefix $2 to $work/found.
await_events() {
  local want=$1 prefix=$2
  for _ in $(seq 1 60); do
    kcat -b "$broker" -C -t crud.operations -o beginning -e -q -f '%s\n' 2>/dev/null \
      | jq -r --arg p "$prefix-" 'select(.data.params.username | startswith($p)) | .event_id' \
      >"$work/found" || true
    [ -z "$(comm -23 "$want" <(sort -u "$work/found"))" ] && return 0
    sleep 1
  done
  return 1
}

# A table row: scenario, sent, acknowledged, found (distinct), extra copies, other answers.
row() {
  local name=$1 load=$2 acks=$3
  local sent found copies others
  sent=$(wc -l <"$load")
  found=$(sort -u "$work/found" | wc -l)
  copies=$(($(wc -l <"$work/found") - found))
  others=$(jq -r 'select(.status != 200) | .status' "$load" | sort | uniq -c | awk '{printf "%s×%s ", $1, $2}')
  printf '| %-42s | %5s | %5s | %5s | %5s | %-16s |\n' "$name" "$sent" "$(wc -l <"$acks")" "$found" "$copies" "${others:-none}" \
    >>"$work/table"
}

printf '| %-42s | %5s | %5s | %5s | %5s | %-16s |\n' scenario sent acked found extra "other answers" >"$work/table"
printf '|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..44})" "-------" "-------" "-------" "-------" "------------------" >>"$work/table"

step "1. the broker is paused for 10 s during load"
start_up
start_serve "sqlite://$work/serve1.db"
python3 scripts/chaos-load.py "$url" pause 600 8 "$work/load1" 0.02 &
load_pid=$!
sleep 2
kill -STOP "$up_pid"
sleep 10
curl -s "$url/health" >"$work/health1.json" || true
kill -CONT "$up_pid"
wait "$load_pid"
acknowledged "$work/load1" >"$work/acks1"
[ "$(wc -l <"$work/acks1")" -gt 0 ] || fail "no create was acknowledged: $(head -3 "$work/load1")"
await_events "$work/acks1" pause || fail "acknowledged events are missing after the pause: $(comm -23 "$work/acks1" <(sort -u "$work/found") | head -3)"
row "broker paused 10 s during load" "$work/load1" "$work/acks1"
jq -e '.status == "degraded"' "$work/health1.json" >/dev/null || fail "/health was not degraded during the pause: $(cat "$work/health1.json")"
echo "    /health during the pause: $(jq -c '{status, reasons}' "$work/health1.json")"
stop_serve

step "2. kill -9 of serve crud during a broker outage, then both started again"
stop_up
start_serve "sqlite://$work/serve2.db"
python3 scripts/chaos-load.py "$url" outage 100 1 "$work/load2"
acknowledged "$work/load2" >"$work/acks2"
[ "$(wc -l <"$work/acks2")" = 100 ] || fail "not all 100 creates were acknowledged without a broker: $(jq -r .status "$work/load2" | sort | uniq -c)"
kill9_serve
start_up
start_serve "sqlite://$work/serve2.db"
await_events "$work/acks2" outage || fail "$(comm -23 "$work/acks2" <(sort -u "$work/found") | wc -l) acknowledged events never arrived"
row "kill -9 during a broker outage, restarted" "$work/load2" "$work/acks2"
stop_serve

step "3. the database stops during load"
export CIVITAS_PG_DIR="$work/pg" CIVITAS_PG_PORT=$pg_port
eval "$(scripts/postgres.sh start)"
pg_started=1
pg_url="$CIVITAS_TEST_POSTGRES_URL"
start_serve "$pg_url"
python3 scripts/chaos-load.py "$url" dbdown 300 4 "$work/load3" 0.05 &
load_pid=$!
sleep 2
scripts/postgres.sh stop
ready_down=""
for _ in $(seq 1 20); do
  code=$(curl -s -o "$work/ready3.json" -w '%{http_code}' --max-time 5 "$url/health/ready" || true)
  [ "$code" = 503 ] && { ready_down=1; break; }
  sleep 0.5
done
[ -n "$ready_down" ] || fail "/health/ready did not turn 503 while the database was down (last $code)"
echo "    /health/ready while the database is down: $(jq -c . "$work/ready3.json")"
# Longer than the pool's 5 s acquire timeout: requests get their answer while it is down.
sleep 8
eval "$(scripts/postgres.sh start)"
ready_up=""
for _ in $(seq 1 60); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/health/ready" || true)" = 200 ] && { ready_up=1; break; }
  sleep 0.5
done
[ -n "$ready_up" ] || fail "/health/ready did not recover after the database came back"
wait "$load_pid"
python3 scripts/chaos-load.py "$url" dbback 5 1 "$work/load3b"
[ "$(jq -r .status "$work/load3b" | sort -u)" = 200 ] || fail "commands did not recover: $(cat "$work/load3b")"
count_status() { jq -s --argjson s "$1" 'map(select(.status == $s)) | length' "$2"; }
[ "$(count_status 500 "$work/load3")" = 0 ] || fail "a command answered 500 while the database was down"
[ "$(count_status 503 "$work/load3")" -gt 0 ] || fail "no command answered 503 while the database was down: $(jq -r .status "$work/load3" | sort | uniq -c | tr '\n' ' ')"
acknowledged "$work/load3" >"$work/acks3"
await_events "$work/acks3" dbdown || fail "acknowledged events are missing after the database outage"
row "database stopped during load" "$work/load3" "$work/acks3"
stop_serve
stop_up

step "4. the saga: kill -9 of the orchestrator at the step boundaries, adapters failing then recovering"
saga_broker="127.0.0.1:$((base + 4))"
python3 scripts/chaos-http.py "$((base + 6))" 2 0.5 2>"$work/frost.log" &
helpers+=("$!")
python3 scripts/chaos-http.py "$((base + 7))" 2 0.5 2>"$work/apisix.log" &
helpers+=("$!")
saga_up() {
  DATABASE_URL="sqlite://$work/saga.db" "$bin" up --broker-listen "$saga_broker" --http-listen "127.0.0.1:$((base + 5))" \
    --history-hours 0 --metrics-interval-secs 0 --step-timeout-secs 30 --adapter-backoff-ms 200 \
    --frost-url "http://127.0.0.1:$((base + 6))" --apisix-url "http://127.0.0.1:$((base + 7))" \
    >"$work/saga-up.out" 2>"$work/saga-up.err" &
  saga_pid=$!
  wait_ready "$saga_pid" "$work/saga-up.out" "$work/saga-up.err" 1 "the saga's civitas up"
}
sagas() { DATABASE_URL="sqlite://$work/saga.db" "$bin" saga list --limit 100 2>/dev/null || true; }
# Waits (30 s at most) until `saga show` of some saga shows STEP as DISPATCHED; then kill -9.
kill_at() {
  local step=$1
  for _ in $(seq 1 120); do
    for n in $(seq 1 "$saga_count"); do
      if DATABASE_URL="sqlite://$work/saga.db" "$bin" saga show "chaos-$n" 2>/dev/null | grep -Eq "^  $step +DISPATCHED"; then
        kill -9 "$saga_pid"; wait "$saga_pid" 2>/dev/null || true
        echo "    kill -9 while chaos-$n had $step in flight"
        kills=$((kills + 1))
        return 0
      fi
    done
    sleep 0.25
  done
  echo "    (no saga had $step in flight to kill at)"
}
saga_count=6
kills=0
saga_up
for n in $(seq 1 "$saga_count"); do
  "$bin" saga request --kafka "$saga_broker" --dataset-id "chaos-$n" --name "Chaos $n" \
    --api "sensorthings=http://frost:8080/FROST-Server/v1.1" >/dev/null
done
kill_at frost-project
saga_up
kill_at apisix-route
saga_up
sleep 0.3
kill -9 "$saga_pid"; wait "$saga_pid" 2>/dev/null || true
kills=$((kills + 1))
echo "    kill -9 right after a restart"
saga_up
ended=""
for _ in $(seq 1 180); do
  sagas >"$work/sagas.txt"
  open=$(grep -c "chaos-" "$work/sagas.txt" | tr -d ' ')
  done_count=$(grep "chaos-" "$work/sagas.txt" | grep -Ec " (COMPLETED|COMPENSATED|COMPENSATION_FAILED) ") || true
  [ "$open" = "$saga_count" ] && [ "$done_count" = "$saga_count" ] && { ended=1; break; }
  sleep 0.5
done
cat "$work/sagas.txt"
[ -n "$ended" ] || fail "sagas are stuck after $kills kill(s): $(grep "chaos-" "$work/sagas.txt" | grep -Ev " (COMPLETED|COMPENSATED|COMPENSATION_FAILED) ")"
completed=$(grep "chaos-" "$work/sagas.txt" | grep -c " COMPLETED ") || true
compensated=$(grep "chaos-" "$work/sagas.txt" | grep -c " COMPENSATED ") || true
escalated=$(grep "chaos-" "$work/sagas.txt" | grep -c " COMPENSATION_FAILED ") || true
printf '| %-42s | %5s | %5s | %5s | %5s | %-16s |\n' "saga: $kills kill -9, adapters 500 then 201" "$saga_count" "-" "-" "-" \
  "${completed} done ${compensated} comp ${escalated} esc" >>"$work/table"
grep -Eq "(^|[^0-9])500 [A-Z]+ /" "$work/frost.log" && grep -Eq "(^|[^0-9])201 [A-Z]+ /" "$work/frost.log" || fail "the FROST stand-in did not fail then recover: $(head -5 "$work/frost.log")"
kill -INT "$saga_pid"; wait "$saga_pid" 2>/dev/null || true
saga_pid=""

echo
echo "Chaos table (sent: requests, or sagas; acked: 200 answers; found: their distinct event ids"
echo "on crud.operations; extra: copies beyond one, allowed by at-least-once; for the saga, how"
echo "the sagas ended):"
cat "$work/table"
echo "PASS: chaos suite"
