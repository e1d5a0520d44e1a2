# Shared helpers of the acceptance scripts (scripts/acceptance*.sh, chaos.sh,
# console-browser.sh). Source it from the repository's top folder:
#
#   LIB_NAME=outbox          # optional: the prefix of step lines and failures
#   . scripts/lib.sh
#
# It sets nothing but functions and `bin` (the civitas binary: $CIVITAS, $CIVITAS_BIN or the
# debug build).

bin="${CIVITAS:-${CIVITAS_BIN:-target/debug/civitas}}"

# fail MESSAGE: says what failed, on stderr, and ends the script (its EXIT trap cleans up).
fail() { echo "FAIL${LIB_NAME:+ ($LIB_NAME)}: $*" >&2; exit 1; }

# step TEXT: one line that says what the script checks next.
step() { echo "--- ${LIB_NAME:+$LIB_NAME: }$*"; }

# need_tools TOOL...: fails unless each tool is installed.
need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/install-deps.sh)"
  done
}

# need_binary: fails unless the civitas binary is there.
need_binary() { [ -x "$bin" ] || fail "civitas binary not found at $bin (set CIVITAS)"; }

# wait_ready PID OUT ERR [COUNT] [WHAT]: waits at most 60 s until file OUT holds COUNT (default
# 1) lines "civitas: ready" (a restart appends to the same file); fails with both outputs when
# process PID exits first or the time is up.
wait_ready() {
  local pid=$1 out=$2 err=$3 count=${4:-1} what=${5:-civitas up}
  for _ in $(seq 1 120); do
    [ "$(grep -c "civitas: ready" "$out" 2>/dev/null)" -ge "$count" ] && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$out" "$err" >&2; fail "$what exited"; }
    sleep 0.5
  done
  cat "$out" >&2
  tail -20 "$err" >&2
  fail "$what did not become ready within 60 s"
}

# stop_gracefully PID: SIGINT, as Ctrl-C, and waits until the process has ended.
stop_gracefully() { kill -INT "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# kill_all PID...: ends each process and waits for all of them (cleanup traps).
kill_all() {
  local pid
  for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}
