#!/usr/bin/env bash
# The fuzz targets (fuzz/, cargo-fuzz + libFuzzer), each run for SECONDS (default 15).
#   scripts/fuzz.sh [SECONDS]         the fast targets: CloudEvents header codec, masker, saga
#                                     message decoding (CI runs this)
#   scripts/fuzz.sh --all [SECONDS]   also endpoint-template rendering (builds the command crate,
#                                     several minutes the first time)
# Stable toolchain, so no sanitizer (-s none): panics and failed assertions are the findings.
# A finding is written to fuzz/artifacts/<target>/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

all=false
if [ "${1:-}" = "--all" ]; then all=true; shift; fi
seconds="${1:-15}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
targets=(cloudevents_headers masker saga_messages)
features=()
if $all; then targets+=(endpoint_template); features=(--features command); fi
cargo fuzz build -s none "${features[@]}"
for target in "${targets[@]}"; do
  echo "--- fuzz $target for ${seconds}s"
  cargo fuzz run -s none "${features[@]}" "$target" -- -max_total_time="$seconds" -max_len=65536 2>&1 \
    | grep -E '^Done|panicked|SUMMARY|artifact' || true
  if compgen -G "artifacts/$target/crash-*" >/dev/null; then
    echo "fuzz: $target found a crash: $(ls artifacts/"$target"/crash-*)" >&2
    exit 1
  fi
done
echo "fuzz: no findings"
