#!/usr/bin/env bash
# Acceptance of caller authentication (docs/crud.md, "Caller authentication"): `civitas serve
# crud --auth-issuer` against a stand-in OpenID Connect issuer (python's http.server serving a
# discovery document and a JWKS made here with openssl), on the running `civitas up`'s broker.
# A request without a token or with an expired one is refused with 401; a valid token's caller
# is the event's user_context, as kcat reads it.
# Environment: CIVITAS_BIN (binary), CIVITAS_BROKER (the running broker).
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
broker="${CIVITAS_BROKER:-127.0.0.1:9092}"
idp_port=28490
http="127.0.0.1:28480"
issuer="http://127.0.0.1:$idp_port/realms/acceptance"
work="$(mktemp -d)"
idp_pid=""
serve_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
  [ -n "$idp_pid" ] && kill "$idp_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step "a stand-in issuer: discovery, JWKS and tokens signed with a fresh RSA key"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/key.pem" 2>/dev/null
modulus=$(openssl rsa -in "$work/key.pem" -noout -modulus | cut -d= -f2)
mkdir -p "$work/idp/realms/acceptance/.well-known" "$work/idp/realms/acceptance/certs"
python3 - "$work/idp/realms/acceptance" "$issuer" "$modulus" <<'EOF'
import base64, json, sys
root, issuer, modulus = sys.argv[1:]
n = int(modulus, 16).to_bytes(len(modulus) // 2, "big")
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
with open(root + "/.well-known/openid-configuration", "w") as f:
    json.dump({"issuer": issuer, "jwks_uri": issuer + "/certs/jwks.json"}, f)
with open(root + "/certs/jwks.json", "w") as f:
    json.dump({"keys": [{"kid": "acc", "kty": "RSA", "alg": "RS256", "use": "sig",
                         "n": b64(n), "e": "AQAB"}]}, f)
EOF
python3 -m http.server "$idp_port" --bind 127.0.0.1 --directory "$work/idp" >/dev/null 2>&1 &
idp_pid=$!

# token EXP_OFFSET_SECONDS: an RS256 token of the issuer for `operator`.
token() {
  local header payload signature
  b64() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
  header=$(printf '{"alg":"RS256","typ":"JWT","kid":"acc"}' | b64)
  payload=$(printf '{"iss":"%s","sub":"6f1c-acceptance","preferred_username":"operator","exp":%d}' \
    "$issuer" "$(($(date +%s) + $1))" | b64)
  signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$work/key.pem" | b64)
  printf '%s.%s.%s' "$header" "$payload" "$signature"
}
for _ in $(seq 1 40); do
  curl -sf "$issuer/.well-known/openid-configuration" >/dev/null && break
  sleep 0.25
done

step "serve crud --auth-issuer $issuer"
"$bin" serve crud --kafka "$broker" --http-listen "$http" --database-url "sqlite://$work/civitas.db" \
  --auth-issuer "$issuer" >"$work/serve.out" 2>&1 &
serve_pid=$!
for _ in $(seq 1 60); do
  grep -q "listening on" "$work/serve.out" && break
  kill -0 "$serve_pid" 2>/dev/null || fail "serve crud exited: $(cat "$work/serve.out")"
  sleep 0.5
done
grep -q "callers: bearer tokens of $issuer" "$work/serve.out" \
  || fail "serve crud does not say how callers are authenticated: $(cat "$work/serve.out")"

user="op-$(date +%s)-$$"
body="{\"system\":\"local\",\"object_type\":\"user\",\"action\":\"create\",\"params\":{\"username\":\"$user\",\"password\":\"pw-$$\"}}"
# post NAME [AUTHORIZATION]: the status; body in $work/NAME.json, headers in $work/NAME.headers.
post() {
  local auth=()
  [ -n "${2:-}" ] && auth=(-H "authorization: $2")
  curl -s -o "$work/$1.json" -D "$work/$1.headers" -w '%{http_code}' "http://$http/execute" \
    -H 'content-type: application/json' -H "x-correlation-id: acc-$1-$$" "${auth[@]}" -d "$body"
}

step "no token: 401 with a challenge naming the issuer"
[ "$(post none)" = 401 ] || fail "a request without a token answered $(cat "$work/none.json")"
grep -qi '^www-authenticate: Bearer realm="civitas"' "$work/none.headers" || fail "no WWW-Authenticate challenge"
jq -e --arg i "$issuer" '.detail | contains($i)' "$work/none.json" >/dev/null || fail "the 401 does not name the issuer"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$http/health")" = 200 ] || fail "/health needs a token"

step "an expired token: 401 saying so"
[ "$(post expired "Bearer $(token -3600)")" = 401 ] || fail "an expired token answered $(cat "$work/expired.json")"
jq -e '.detail == "the token has expired"' "$work/expired.json" >/dev/null || fail "the 401 does not say expired"

step "a valid token: 200, and the caller is the event's user_context"
[ "$(post valid "Bearer $(token 300)")" = 200 ] || fail "a valid token answered $(cat "$work/valid.json")"
event=""
for _ in $(seq 1 30); do
  event=$(kcat -b "$broker" -t crud.operations -C -o -20 -e -q 2>/dev/null \
    | jq -c "select(.correlation_id == \"acc-valid-$$\")" || true)
  [ -n "$event" ] && break
  sleep 0.5
done
[ -n "$event" ] || fail "no operation event for the authenticated request"
echo "$event" | jq -c .user_context
echo "$event" | jq -e --arg i "$issuer" '.user_context == {"unique_id": "6f1c-acceptance",
  "subject": "operator", "issuer": $i}' >/dev/null || fail "user_context is wrong: $event"
recent=$(kcat -b "$broker" -t crud.operations -C -o -20 -e -q 2>/dev/null || true)
if grep -q "acc-none-$$" <<<"$recent"; then
  fail "the refused request left an event"
fi

echo "PASS: caller authentication acceptance"
