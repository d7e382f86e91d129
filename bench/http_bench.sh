#!/usr/bin/env bash
# Requests per second of the HTTP gateway for SendMessage, ReceiveMessage and
# DeleteMessage over keep-alive connections (wrk + bench/http/*.lua), against
# a bare Beast server answering a fixed reply (shmq-http-floor) in the same
# run. Target (issue 6): the SQS work costs at most 2x the bare HTTP
# handling, i.e. each action reaches at least half the floor's rate.
#
#   bench/http_bench.sh [BUILD_DIR] [SECONDS] [CONNECTIONS]
#
# Defaults: build, 5 s per run, 32 connections, one wrk thread (the machine
# has two cores; the server gets the rest). Prints a Markdown table.
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-build}"
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
SECS="${2:-5}"
CONNS="${3:-32}"
THREADS=2  # gateway and floor threads alike
command -v wrk >/dev/null || { echo "http_bench: wrk is missing (scripts/install-deps.sh)" >&2; exit 1; }
for b in broker/shmq-broker bench/shmq-http-floor bench/shmq-http-bench-prep; do
  [[ -x "$BUILD/$b" ]] || { echo "http_bench: $BUILD/$b is not built" >&2; exit 1; }
done
DIR=$(mktemp -d /tmp/shmq-http-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

# run_wrk NAME URL SCRIPT: prints "rps total", fails on any non-2xx answer.
run_wrk() {
  local out
  out=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$3" "$2" 2>&1)
  echo "$out" >"$DIR/$1.wrk"
  if grep -q "Non-2xx" <<<"$out"; then
    echo "http_bench: $1 got error answers:" >&2
    echo "$out" >&2
    exit 1
  fi
  local rps total p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  echo "$rps $total $p50 $p99"
}

FLOOR_PORT=$((20000 + RANDOM % 20000))
"$BUILD/bench/shmq-http-floor" "$FLOOR_PORT" "$THREADS" &
PIDS+=($!)

SOCK="$DIR/broker.sock"
"$BUILD/broker/shmq-broker" --socket "$SOCK" --data-dir "$DIR/data" --http 127.0.0.1:0 \
  --http-port-file "$DIR/port" --http-threads "$THREADS" --log-level warn --slots 65536,64,16,16 \
  >"$DIR/broker.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [[ -s "$DIR/port" ]] && break; sleep 0.05; done
PORT=$(cat "$DIR/port")
GW="http://127.0.0.1:$PORT/"
QUEUES=6  # 6 x 65536 slots: room for ~390k sends (~75k/s over 5 s)
for i in $(seq $QUEUES); do "$BUILD/bench/shmq-http-bench-prep" "$SOCK" "bench-send-$i" 0; done
"$BUILD/bench/shmq-http-bench-prep" "$SOCK" bench-recv 1000
DEL_QUEUES=4  # 4 x 65000 leased messages: enough for ~50k deletes/s over 5 s
for i in $(seq $DEL_QUEUES); do
  "$BUILD/bench/shmq-http-bench-prep" "$SOCK" "bench-del-$i" 65000 "$DIR/handles.$i"
  sed "s/^/bench-del-$i /" "$DIR/handles.$i" >>"$DIR/handles"
done
HANDLES=$(wc -l <"$DIR/handles")
sleep 0.5

export SHMQ_QUEUES=$QUEUES SHMQ_HANDLES="$DIR/handles"
H="$ROOT/bench/http"
read -r F_RPS F_N F_P50 F_P99 < <(run_wrk floor "http://127.0.0.1:$FLOOR_PORT/" "$H/send.lua")
read -r S_RPS S_N S_P50 S_P99 < <(run_wrk send "$GW" "$H/send.lua")
read -r R_RPS R_N R_P50 R_P99 < <(run_wrk receive "$GW" "$H/receive.lua")
read -r D_RPS D_N D_P50 D_P99 < <(run_wrk delete "$GW" "$H/delete.lua")
if ((D_N > HANDLES)); then
  echo "http_bench: note: $D_N deletes > $HANDLES handles; the later ones deleted already-deleted messages" >&2
fi
kill -0 "${PIDS[1]}" || { echo "http_bench: the broker died" >&2; exit 1; }

ratio() { awk -v f="$1" -v x="$2" 'BEGIN { printf "%.2f", f / x }'; }
echo
echo "| run ($CONNS keep-alive connections, ${SECS} s, wrk -t1, $THREADS server threads) | requests/s | p50 | p99 | cost vs floor |"
echo "|---|---:|---:|---:|---:|"
echo "| bare Beast floor (fixed reply) | $F_RPS | $F_P50 | $F_P99 | 1.00x |"
echo "| SendMessage | $S_RPS | $S_P50 | $S_P99 | $(ratio "$F_RPS" "$S_RPS")x |"
echo "| ReceiveMessage (VisibilityTimeout 0) | $R_RPS | $R_P50 | $R_P99 | $(ratio "$F_RPS" "$R_RPS")x |"
echo "| DeleteMessage | $D_RPS | $D_P50 | $D_P99 | $(ratio "$F_RPS" "$D_RPS")x |"
