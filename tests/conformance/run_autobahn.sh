#!/usr/bin/env bash
# Run the Autobahn|Testsuite (the harness in tests/conformance/autobahn/) against the echo
# example served by `twistd ratchetpy`; exits non-zero if any case FAILED.
#
#   tests/conformance/run_autobahn.sh                             # full suite, 517 cases (~21 min)
#   tests/conformance/run_autobahn.sh --exclude '12.*,13.*'       # quick: 301 cases, no compression (~25 s)
#   tests/conformance/run_autobahn.sh --cases '1.*,9.*'           # any subset
#
# Other arguments (--cases, --exclude, --outdir, --timeout, --verbose) go to
# run.sh. Reports: ${TMPDIR:-/tmp}/autobahn-reports/ratchetpy/.
# Env: TWISTD (default: `twistd` on PATH), RATCHETPY_HARNESS (default:
# tests/conformance/autobahn), RATCHETPY_START_TIMEOUT (default 30 s).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HARNESS="${RATCHETPY_HARNESS:-$ROOT/tests/conformance/autobahn}"
TWISTD="${TWISTD:-twistd}"
die() { echo "run_autobahn.sh: $*" >&2; exit 3; }

[[ -x "$HARNESS/run.sh" ]] || die "no harness at $HARNESS (set RATCHETPY_HARNESS)"
command -v "$TWISTD" >/dev/null || die "'$TWISTD' not found; put the venv's bin on PATH or set TWISTD"
"$HARNESS/install.sh" >&2 || die "install.sh failed"

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
LOG="$(mktemp "${TMPDIR:-/tmp}/ratchetpy-autobahn-server.XXXXXX")"
SERVER=""
stop_server() {
  [[ -n "$SERVER" ]] || return 0
  kill "$SERVER" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$SERVER" 2>/dev/null || return 0; sleep 0.2; done
  kill -KILL "$SERVER" 2>/dev/null || true
}
trap stop_server EXIT

cd "$ROOT"
# Test this checkout's ratchetpy, not whatever copy is installed beside twistd.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
"$TWISTD" -n --pidfile= ratchetpy --component examples.echo:Echo \
  --port "tcp:$PORT:interface=127.0.0.1" --max-message-size 16777216 >"$LOG" 2>&1 &
SERVER=$!

deadline=$(( SECONDS + ${RATCHETPY_START_TIMEOUT:-30} ))
until grep -q "ratchetpy listening on tcp:127.0.0.1:$PORT" "$LOG"; do
  if ! kill -0 "$SERVER" 2>/dev/null || (( SECONDS >= deadline )); then
    echo "run_autobahn.sh: server did not start listening on port $PORT; its log ($LOG):" >&2
    cat "$LOG" >&2
    exit 3
  fi
  sleep 0.2
done
echo "run_autobahn.sh: ratchetpy (pid $SERVER) listening on 127.0.0.1:$PORT; server log: $LOG"

rc=0
"$HARNESS/run.sh" "ws://127.0.0.1:$PORT/" --agent ratchetpy "$@" || rc=$?
if (( rc != 0 )); then
  kill -0 "$SERVER" 2>/dev/null || echo "run_autobahn.sh: the server died during the run" >&2
  echo "run_autobahn.sh: last lines of the server log ($LOG):" >&2
  tail -20 "$LOG" >&2
else
  rm -f "$LOG"
fi
exit "$rc"
