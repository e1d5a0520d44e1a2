#!/usr/bin/env bash
# Acceptance steps of topic governance (issue 4, "How a user checks it"), against a running
# `civitas up`. Starts nothing itself; fails on any wrong output.
# Environment: CIVITAS_BIN (binary), CIVITAS_BROKER (bootstrap), CIVITAS_HTTP (CRUD address).
set -euo pipefail

. "$(dirname "$0")/lib.sh"
broker="${CIVITAS_BROKER:-127.0.0.1:9092}"
http="http://${CIVITAS_HTTP:-127.0.0.1:8080}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step "topics lint passes on the shipped catalog"
"$bin" topics lint >"$work/lint.out" || fail "lint of the shipped catalog failed: $(cat "$work/lint.out")"

step "topics lint reports an uppercase segment and a present-tense event, with line numbers"
printf 'config_events:\n  idm:\n    user: [created]\ntopics:\n  de.civitascore.idm.User.create:\n' >"$work/bad.yaml"
if "$bin" topics lint "$work/bad.yaml" >"$work/bad.out" 2>&1; then fail "lint accepted a bad name"; fi
grep -q "bad.yaml:5: platform.lowercase.*User" "$work/bad.out" || fail "no uppercase violation with its line: $(cat "$work/bad.out")"
grep -q "bad.yaml:5: platform.past-tense.*create" "$work/bad.out" || fail "no past-tense violation with its line: $(cat "$work/bad.out")"

step "topics list shows every topic of seed 003"
"$bin" topics list >"$work/list.out"
for t in de.civitascore.idm.user.password.reset de.civitascore.idm.realm.created de.civitascore.api.backend.created \
         de.civitascore.api.route.updated de.civitascore.data.observedproperty.deleted de.civitascore.data.pipeline.deleted \
         core.civitas.dataset.create.requested core.civitas.frost.project.delete core.civitas.apisix.route.result \
         core.civitas.dataset.create.failed crud.secrets.audit; do
  grep -q "$t" "$work/list.out" || fail "topics list lacks $t"
done
[ "$(grep -c 'de\.civitascore\.' "$work/list.out")" -ge 46 ] || fail "fewer than 46 configuration-event topics listed"

step "a user created through /execute is announced on de.civitascore.idm.user.created"
user="cfg-$(date +%s)-$$"
code=$(curl -s -o "$work/create.json" -w '%{http_code}' "$http/execute" -H 'content-type: application/json' \
  -d "{\"system\":\"local\",\"object_type\":\"user\",\"action\":\"create\",\"params\":{\"username\":\"$user\",\"Password\":\"s3cret-$$\",\"email\":\"$user@example.org\",\"firstname\":\"Max\",\"lastname\":\"Mustermann\"}}")
[ "$code" = 200 ] || fail "create answered $code: $(cat "$work/create.json")"
corr=$(jq -r .correlation_id "$work/create.json")
found=""
for _ in $(seq 1 20); do
  kcat -b "$broker" -t de.civitascore.idm.user.created -C -e -q -f '%h %k %s\n' >"$work/created.out" 2>/dev/null || true
  if grep -q " $user {" "$work/created.out"; then found=1; break; fi
  sleep 0.5
done
[ -n "$found" ] || fail "no record keyed $user on de.civitascore.idm.user.created: $(tail -3 "$work/created.out")"
line=$(grep " $user {" "$work/created.out" | tail -n1)
echo "$line"
for h in "ce_specversion=1.0" "ce_type=de.civitascore.idm.user.created" "ce_subject=$user" "ce_correlationid=$corr" "ce_source=" "ce_time=" "traceparent="; do
  grep -qF "$h" <<<"$line" || fail "header $h missing in: $line"
done
payload=${line#* $user }
jq -e --arg u "$user" '.username == $u and .email == ($u + "@example.org") and (has("data") | not)' <<<"$payload" >/dev/null \
  || fail "payload is not the bare user: $payload"
grep -qi 'password\|s3cret\|masked' <<<"$payload" && fail "payload carries a secret: $payload"

step "acls who de.civitascore.idm.user.created"
"$bin" acls who de.civitascore.idm.user.created | tee "$work/who.out"
grep -q "crud-service" "$work/who.out" || fail "crud-service should be able to write it"
grep -q "idm-adapter" "$work/who.out" || fail "idm-adapter should be able to read it"
grep -q "troubleshooting" "$work/who.out" || fail "troubleshooting should be able to read it"

echo "PASS: topic governance acceptance"
