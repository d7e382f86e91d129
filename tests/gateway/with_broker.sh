#!/usr/bin/env bash
# Runs a client scenario against a real shmq-broker serving HTTP.
#
#   with_broker.sh BROKER [--broker-arg ARG]... -- COMMAND [ARGS...]
#
# Starts BROKER (--http 127.0.0.1:0, its own socket and data dir in a fresh
# temp dir), replaces {ENDPOINT} in the command with http://127.0.0.1:PORT,
# runs it, and fails if the command fails or if the broker died meanwhile
# (a gateway crash must never pass). The broker's log is shown on failure.
set -euo pipefail
BROKER="$1"
shift
EXTRA=()
while [[ $# -gt 0 && "$1" != "--" ]]; do
  [[ "$1" == --broker-arg ]] && { EXTRA+=("$2"); shift 2; continue; }
  echo "with_broker.sh: unknown argument $1" >&2
  exit 2
done
shift
DIR=$(mktemp -d /tmp/shmq-gw-test.XXXXXX)
BROKER_PID=""
cleanup() {
  if [[ -n "$BROKER_PID" ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT
"$BROKER" --socket "$DIR/broker.sock" --data-dir "$DIR/data" --http 127.0.0.1:0 \
  --http-port-file "$DIR/port" "${EXTRA[@]}" >"$DIR/broker.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 200); do
  [[ -s "$DIR/port" ]] && break
  kill -0 "$BROKER_PID" 2>/dev/null || { echo "with_broker.sh: the broker exited at start:" >&2; cat "$DIR/broker.log" >&2; exit 1; }
  sleep 0.05
done
[[ -s "$DIR/port" ]] || { echo "with_broker.sh: the gateway did not come up" >&2; cat "$DIR/broker.log" >&2; exit 1; }
PORT=$(cat "$DIR/port")
SCHEME=http
for a in "${EXTRA[@]}"; do [[ "$a" == --tls-cert ]] && SCHEME=https; done
ARGS=()
for a in "$@"; do ARGS+=("${a//\{ENDPOINT\}/$SCHEME://127.0.0.1:$PORT}"); done
export SHMQ_TEST_DIR="$DIR" SHMQ_SOCKET="$DIR/broker.sock"
rc=0
"${ARGS[@]}" || rc=$?
if ! kill -0 "$BROKER_PID" 2>/dev/null; then
  echo "with_broker.sh: FAIL: the broker died during the test:" >&2
  cat "$DIR/broker.log" >&2
  exit 1
fi
kill -TERM "$BROKER_PID"
brc=0
wait "$BROKER_PID" || brc=$?
BROKER_PID=""
if ((rc != 0 || brc != 0)); then
  echo "with_broker.sh: FAIL: client exit $rc, broker exit $brc; broker log:" >&2
  tail -50 "$DIR/broker.log" >&2
  exit 1
fi
