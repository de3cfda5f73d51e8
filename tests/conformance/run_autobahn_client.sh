#!/usr/bin/env bash
# Run the Autobahn|Testsuite in fuzzingserver mode against ratchetpy.client
# (tests/conformance/client_echo.py); exits non-zero if any case FAILED.
#
#   tests/conformance/run_autobahn_client.sh                          # 301 cases, no compression (~1 min)
#   tests/conformance/run_autobahn_client.sh --cases '12.*,13.*'      # the compression cases
#
# Reports: ${TMPDIR:-/tmp}/autobahn-reports/ratchetpy-client/. Env: PYTHON
# (default: python3), RATCHETPY_HARNESS (default: tests/conformance/autobahn).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HARNESS="${RATCHETPY_HARNESS:-$ROOT/tests/conformance/autobahn}"
PYTHON="${PYTHON:-python3}"
AGENT=ratchetpy-client
CASES='["*"]' EXCLUDE='["12.*", "13.*"]'
die() { echo "run_autobahn_client.sh: $*" >&2; exit 3; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cases) [[ $# -ge 2 ]] || die "--cases needs a value"
             CASES="[\"${2//,/\", \"}\"]"; EXCLUDE='[]'; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done

"$HARNESS/install.sh" >&2 || die "install.sh failed"
WSTEST="${WSTEST_HOME:-$HOME/.cache/wstest27}/wstest"
PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
OUTDIR="${TMPDIR:-/tmp}/autobahn-reports/$AGENT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ratchetpy-autobahn-client.XXXXXX")"
rm -rf "$OUTDIR" && mkdir -p "$OUTDIR"
cat >"$WORK/spec.json" <<SPEC
{"url": "ws://127.0.0.1:$PORT", "outdir": "$OUTDIR", "cases": $CASES, "exclude-cases": $EXCLUDE,
 "exclude-agent-cases": {}}
SPEC

SERVER=""
stop_server() { [[ -z "$SERVER" ]] || kill "$SERVER" 2>/dev/null || true; }
trap stop_server EXIT
(cd "$WORK" && exec "$WSTEST" -m fuzzingserver -s spec.json) >"$WORK/wstest.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do
  "$PYTHON" -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null && break
  sleep 0.2
done

cd "$ROOT"
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" tests/conformance/client_echo.py "ws://127.0.0.1:$PORT" "$AGENT"
"$PYTHON" "$HARNESS/summarize.py" "$OUTDIR" --agent "$AGENT"
