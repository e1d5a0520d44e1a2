#!/usr/bin/env bash
# Acceptance of the secret service (issue 12, "How a user checks it"): its own OpenBao dev
# server and its own `civitas up`, a system whose bearer token is an openbao+kv2:// pointer.
#   1. two commands: crud.secrets.audit holds one secret_retrieved and one secret_cache_hit
#      with the requests' correlation ids; crud.secrets holds the same events (same ids);
#   2. the canary value is on no topic and in no output of civitas;
#   3. `civitas secrets check` lists the pointer as OK (exit 0);
#   4. OpenBao stopped: check fails (exit 1); after the cache TTL the next command is a 503
#      naming the pointer, and crud.secrets shows secret_error.
# Fails (non-zero exit) on any wrong output.
#
# Environment:
#   CIVITAS (or CIVITAS_BIN)  the civitas binary     (default: target/debug/civitas)
#   SECRETS_PORT_BASE         ports BASE..BASE+3     (default: 29560)
# Needs curl, jq, kcat and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

LIB_NAME=secrets
. scripts/lib.sh
base="${SECRETS_PORT_BASE:-29560}"
broker="127.0.0.1:$base"
http="127.0.0.1:$((base + 1))"
upstream=$((base + 2))
work="$(mktemp -d)"
export CIVITAS_BAO_PORT=$((base + 3)) CIVITAS_BAO_DIR="$work/bao"
pids=()
cleanup() {
  kill_all "${pids[@]}"
  scripts/openbao.sh stop
  rm -rf "$work"
}
trap cleanup EXIT
need_tools curl jq kcat python3

canary="CANARY-$(python3 -c 'import uuid; print(uuid.uuid4().hex)')"
eval "$(scripts/openbao.sh start)"
export VAULT_ADDR="$CIVITAS_TEST_BAO_ADDR" VAULT_TOKEN="$CIVITAS_TEST_BAO_TOKEN"
curl -sf -H "X-Vault-Token: $VAULT_TOKEN" -d "{\"data\":{\"client_secret\":\"$canary\"}}" \
  "$VAULT_ADDR/v1/secret/data/keycloak" >/dev/null || fail "could not write the secret"

python3 scripts/fake-http.py "$upstream" 200 2>"$work/upstream.log" &
pids+=($!)
mkdir -p "$work/systems"
cat >"$work/systems/keycloak.yaml" <<YAML
name: keycloak
type: keycloak
base_url: http://127.0.0.1:$upstream
settings: {realm: civitas}
auth:
  kind: bearer
  token: openbao+kv2://secret/keycloak#client_secret
YAML

DATABASE_URL="sqlite://$work/civitas.db" "$bin" up --systems "$work/systems" --broker-listen "$broker" \
  --http-listen "$http" --secrets-cache-ttl-secs 3 >"$work/up.out" 2>"$work/up.err" &
up_pid=$!
pids+=("$up_pid")
wait_ready "$up_pid" "$work/up.out" "$work/up.err"
grep -q "secrets: vault $VAULT_ADDR (token)" "$work/up.out" || fail "up does not name the vault: $(cat "$work/up.out")"

read_user() {
  curl -s -o "$work/$1.json" -w '%{http_code}' "http://$http/execute" -H 'content-type: application/json' \
    -H "X-Correlation-ID: $1" \
    -d '{"system":"keycloak","object_type":"user","action":"read","object_id":"u1","params":{}}'
}
# secret events on TOPIC, as "event_type correlation_id event_id" lines, waiting for COUNT
events() {
  local out=""
  for _ in $(seq 1 30); do
    out=$(kcat -b "$broker" -t "$1" -C -o beginning -e -q 2>/dev/null |
      jq -r '"\(.event_type) \(.correlation_id) \(.event_id) \(.data.success)"')
    [ "$(grep -c . <<<"$out")" -ge "$2" ] && break
    sleep 0.5
  done
  echo "$out"
}

step "1. two commands: one secret_retrieved, one secret_cache_hit, on both topics"
[ "$(read_user sec-1)" = 200 ] || fail "the first command answered $(cat "$work/sec-1.json")"
[ "$(read_user sec-2)" = 200 ] || fail "the second command answered $(cat "$work/sec-2.json")"
audit=$(events crud.secrets.audit 2)
echo "$audit"
grep -q "^secret_retrieved sec-1 " <<<"$audit" || fail "no secret_retrieved for sec-1 on crud.secrets.audit"
grep -q "^secret_cache_hit sec-2 " <<<"$audit" || fail "no secret_cache_hit for sec-2 on crud.secrets.audit"
functional=$(events crud.secrets 2)
[ "$functional" = "$audit" ] || fail "crud.secrets differs from its audit copy: $functional"

step "2. the canary is on no topic and in no output"
for topic in $(kcat -b "$broker" -L 2>/dev/null | sed -n 's/^  topic "\([^"]*\)".*/\1/p'); do
  # Read whole, then grep: with `kcat | grep -q` under pipefail, kcat's broken pipe would hide a hit.
  records=$(kcat -b "$broker" -t "$topic" -C -o beginning -e -q -f '%k %h %s\n' 2>/dev/null || true)
  if grep -q "$canary" <<<"$records"; then
    fail "the secret is on topic $topic"
  fi
done
if grep -q "$canary" "$work/up.out" "$work/up.err" "$work"/sec-*.json; then fail "the secret is in civitas' output"; fi

step "3. secrets check lists the pointer as OK"
"$bin" secrets check --systems "$work/systems" >"$work/check.out" || fail "secrets check failed: $(cat "$work/check.out")"
cat "$work/check.out"
grep -q "^openbao .* OK .* openbao+kv2://secret/keycloak#client_secret$" "$work/check.out" || fail "the pointer is not OK"

step "4. OpenBao stopped: check fails, the next uncached command is a 503 naming the pointer"
scripts/openbao.sh stop
if "$bin" secrets check --systems "$work/systems" >"$work/check2.out" 2>&1; then fail "secrets check passed without a vault"; fi
grep -q "FAILED" "$work/check2.out" || fail "check does not say FAILED: $(cat "$work/check2.out")"
sleep 4
status=$(read_user sec-3)
[ "$status" = 503 ] || fail "without a vault the command answered $status: $(cat "$work/sec-3.json")"
jq -r .detail "$work/sec-3.json" | grep -q "openbao+kv2://secret/keycloak#client_secret" \
  || fail "the 503 does not name the pointer: $(cat "$work/sec-3.json")"
errors=$(events crud.secrets 3)
grep -q "^secret_error sec-3 .* false$" <<<"$errors" || fail "no secret_error for sec-3: $errors"
echo "secrets: all checks passed"
