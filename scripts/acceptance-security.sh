#!/usr/bin/env bash
# Acceptance of the security issue ("How a user checks it"), plus the standing attack suite:
# `civitas serve crud --systems DIR` on the running `civitas up`'s broker, with a Keycloak
# system whose base URL is a request-logging stand-in (scripts/fake-http.py), then
#   - a `..` (and encoded) delete answers 400 and the stand-in receives nothing;
#   - a create without a content type answers 415;
#   - a 400 KB invalid body answers 422 and its crud.errors event arrives; the retry queue
#     stays empty;
#   - a PEM key is masked on crud.operations and on the configuration event;
#   - `trace --since 999999999999999d` prints an error, no panic;
#   - schemathesis against /openapi.json, bounded: no 5xx, answers as documented.
# Environment: CIVITAS_BIN (binary), CIVITAS_BROKER (the running broker).
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
broker="${CIVITAS_BROKER:-127.0.0.1:9092}"
kc_port=28591
http="127.0.0.1:28580"
work="$(mktemp -d)"
kc_pid=""
serve_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
  [ -n "$kc_pid" ] && kill "$kc_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# post NAME BODY [CURL ARGS…]: POST /execute as JSON; body in $work/NAME.json, status printed.
post() {
  local name=$1 body=$2
  shift 2
  curl -s -o "$work/$name.json" -w '%{http_code}' "http://$http/execute" \
    -H 'content-type: application/json' "$@" --data-binary "$body"
}

# events TOPIC FILTER: the matching records of the topic's last 50 per partition (15 s wait).
events() {
  local out="$work/events.$RANDOM"
  for _ in $(seq 1 30); do
    kcat -b "$broker" -t "$1" -C -o -50 -e -q 2>/dev/null | jq -c "$2" >"$out" 2>/dev/null || true
    if [ -s "$out" ]; then cat "$out"; return 0; fi
    sleep 0.5
  done
  return 1
}

mkdir -p "$work/systems"
cat >"$work/systems/kc.yaml" <<EOF
name: kc
type: keycloak
base_url: http://127.0.0.1:$kc_port
settings: {realm: civitas}
EOF
python3 scripts/fake-http.py "$kc_port" 204 2>"$work/kc.log" &
kc_pid=$!
DATABASE_URL="sqlite://$work/civitas.db" "$bin" serve crud --kafka "$broker" \
  --systems "$work/systems" --workflows config/workflows --http-listen "$http" \
  >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
for _ in $(seq 1 60); do
  curl -sf "http://$http/health" >/dev/null 2>&1 && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.out" "$work/serve.err"; fail "serve crud exited"; }
  sleep 0.5
done
grep -q "authorization: none" "$work/serve.out" || fail "start-up does not say that no authorization policy is in force"

step "a path value of .. (or an encoded form) is 400 and reaches nothing"
for id in '..' '.' '%2e%2e' 'a/../..' ''; do
  status=$(post dots "{\"system\":\"kc\",\"object_type\":\"user\",\"action\":\"delete\",\"object_id\":\"$id\",\"params\":{}}")
  [ "$status" = 400 ] || fail "delete of '$id' answered $status: $(cat "$work/dots.json")"
done
jq -e '.detail | contains("object_id")' "$work/dots.json" >/dev/null || fail "the 400 does not name the param"
sleep 0.5
[ ! -s "$work/kc.log" ] || fail "the Keycloak stand-in received: $(cat "$work/kc.log")"
events crud.operations 'select(.data.system=="kc" and .data.object_id==".." and .data.success==false
  and (.data.error | contains("object_id")))' >/dev/null || fail "no failure event saying why"

step "a command without the JSON content type is 415 and does not run"
status=$(curl -s -o "$work/ct.json" -w '%{http_code}' "http://$http/execute" -H 'Content-Type:' \
  --data-binary '{"system":"local","object_type":"user","action":"create","params":{"username":"csrf-victim"}}')
[ "$status" = 415 ] || fail "content-type-less create answered $status"
status=$(post read-csrf '{"system":"local","object_type":"user","action":"read","object_id":"csrf-victim","params":{}}')
[ "$status" = 404 ] || fail "the refused create ran (read answered $status)"

step "a 400 KB invalid body is 422 and its crud.errors event arrives"
python3 -c 'import json; print(json.dumps({"system": 1, "params": {"blob": "x" * 400000}}))' >"$work/big.body"
status=$(curl -s -o "$work/big.json" -w '%{http_code}' "http://$http/execute" \
  -H 'content-type: application/json' -H 'x-correlation-id: acc-big-body' --data-binary @"$work/big.body")
[ "$status" = 422 ] || fail "the big invalid body answered $status"
events crud.errors 'select(.correlation_id=="acc-big-body") | .event_id' >/dev/null \
  || fail "the big body's crud.errors event did not arrive"
curl -s "http://$http/health" >"$work/health.json"
jq -e '.events.delivery.outbox.dropped == 0 and .events.delivery.outbox.rejected == 0 and .status == "ok"' "$work/health.json" >/dev/null \
  || fail "/health after the big body: $(cat "$work/health.json")"

step "a PEM key in a user's attributes is masked on both topics"
user="pem-$$-$(date +%s)"
pem='-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----'
status=$(post pem "{\"system\":\"local\",\"object_type\":\"user\",\"action\":\"create\",\"params\":{\"username\":\"$user\",\"attributes\":{\"client_key\":\"$pem\",\"note\":\"$pem\"}}}")
[ "$status" = 200 ] || fail "the create answered $status: $(cat "$work/pem.json")"
op=$(events crud.operations "select(.data.object_id==\"$user\")") || fail "no operation event for $user"
grep -q MIIEvQ <<<"$op" && fail "the key is in clear on crud.operations: $op"
config=$(events de.civitascore.idm.user.created "select(.username==\"$user\")") \
  || fail "no configuration event for $user"
grep -q MIIEvQ <<<"$config" && fail "the key is in clear on the configuration event: $config"

step "trace --since 999999999999999d is an error, not a panic"
if "$bin" trace x --since 999999999999999d --kafka "$broker" >"$work/trace.out" 2>"$work/trace.err"; then
  fail "trace with an impossible --since succeeded"
fi
grep -q panicked "$work/trace.err" && fail "trace panicked: $(cat "$work/trace.err")"
grep -q "since" "$work/trace.err" || fail "trace's error does not name --since: $(cat "$work/trace.err")"

step "schemathesis against /openapi.json (bounded): no 5xx, answers as documented"
st="$(command -v st || command -v schemathesis || true)"
[ -n "$st" ] || fail "schemathesis is not installed (scripts/install-deps.sh)"
timeout 300 "$st" run "http://$http/openapi.json" \
  --checks all \
  --max-examples 100 --request-timeout 10 --generation-database none --no-color \
  >"$work/st.out" 2>&1 || { tail -60 "$work/st.out"; fail "schemathesis found problems"; }
tail -5 "$work/st.out"
kill -0 "$serve_pid" 2>/dev/null || fail "the service died under schemathesis"

echo "security acceptance: all checks passed"
