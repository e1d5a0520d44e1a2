#!/usr/bin/env bash
# Acceptance of the settings file (issue 11, item 7): `civitas up --config FILE` runs from the
# file (its ports, its service name); `civitas config show` prints the effective settings with
# their sources, secrets hidden; an environment variable beats the file; an unknown key stops
# the start with the file and line.
# Environment: CIVITAS (or CIVITAS_BIN), CONFIG_PORT_BASE (ports BASE, BASE+1; default 29500).
set -euo pipefail
cd "$(dirname "$0")/.."

LIB_NAME=config
. scripts/lib.sh
base="${CONFIG_PORT_BASE:-29500}"
work="$(mktemp -d)"
up_pid=""
cleanup() {
  [ -n "$up_pid" ] && { kill "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT
unset CIVITAS_SERVICE_NAME CIVITAS_HTTP_LISTEN CIVITAS_BROKER_LISTEN DATABASE_URL CIVITAS_CONFIG

cat >"$work/civitas.yaml" <<YAML
broker:
  broker_listen: 127.0.0.1:$base
crud:
  http_listen: 127.0.0.1:$((base + 1))
  database_url: sqlite://$work/civitas.db
  service_name: from-the-file
saga:
  frost_password: env:FROST_PASSWORD
YAML

step "config show prints the file's values with their sources; a credential is a pointer"
"$bin" config show --config "$work/civitas.yaml" >"$work/show.yaml"
cat "$work/show.yaml"
grep -q "^  service_name: \"from-the-file\"  # file$" "$work/show.yaml" || fail "service_name is not from the file"
grep -q "^  step_timeout_secs: \"30\"  # default$" "$work/show.yaml" || fail "step_timeout_secs is not the default"
grep -q "^  frost_password: \"env:FROST_PASSWORD\"  # file$" "$work/show.yaml" || fail "the pointer is not shown"

step "a literal secret where a pointer belongs stops the start, and is never printed"
printf 'saga:\n  frost_password: canary-s3cret-in-file\n' >"$work/literal.yaml"
if "$bin" config show --config "$work/literal.yaml" >"$work/literal.out" 2>&1; then fail "a literal secret was accepted"; fi
grep -q -- "--frost-password: NOT_A_POINTER" "$work/literal.out" || fail "no reason: $(cat "$work/literal.out")"
if grep -q "canary-s3cret" "$work/literal.out"; then fail "the literal secret was printed"; fi

step "an environment variable beats the file (a flag beats both: settings_file unit tests)"
CIVITAS_SERVICE_NAME=from-env "$bin" config show --config "$work/civitas.yaml" | grep -q '^  service_name: "from-env"  # env CIVITAS_SERVICE_NAME$' \
  || fail "the environment does not win over the file"
CIVITAS_CONFIG="$work/civitas.yaml" "$bin" config show | grep -q '"from-the-file"' || fail "CIVITAS_CONFIG is not read"

step "an unknown key stops the start with file and line"
printf 'crud:\n  http_listen: 127.0.0.1:1\n  htp_port: 2\n' >"$work/bad.yaml"
if "$bin" up --config "$work/bad.yaml" >"$work/bad.out" 2>&1; then fail "up started with an unknown key"; fi
grep -q "bad.yaml:3: unknown setting crud.htp_port" "$work/bad.out" || fail "no file and line: $(cat "$work/bad.out")"

step "up --config runs from the file"
"$bin" up --config "$work/civitas.yaml" >"$work/up.out" 2>"$work/up.err" &
up_pid=$!
wait_ready "$up_pid" "$work/up.out" "$work/up.err"
grep -q "listening on 127.0.0.1:$base" "$work/up.out" || fail "the broker is not on the file's port: $(cat "$work/up.out")"
status=$(curl -s -o "$work/create.json" -w '%{http_code}' "http://127.0.0.1:$((base + 1))/execute" \
  -H 'content-type: application/json' \
  -d '{"system":"local","object_type":"user","action":"create","params":{"username":"cfg-user","password":"s3cret-cfg"}}')
[ "$status" = 200 ] || fail "create on the file's HTTP port answered $status"
event_id=$(jq -r .event_id "$work/create.json")
event=""
for _ in $(seq 1 30); do
  event=$(kcat -b "127.0.0.1:$base" -t crud.operations -C -o beginning -e -q 2>/dev/null | jq -c --arg id "$event_id" 'select(.event_id == $id)')
  [ -n "$event" ] && break
  sleep 0.5
done
[ "$(jq -r .service <<<"$event")" = from-the-file ] || fail "the event's service is not the file's: $event"
echo "config: all checks passed"
