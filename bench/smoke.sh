#!/usr/bin/env bash
# A seconds-long smoke run of shmq-bench for CI: every mode and the kernel
# peers with tiny message counts, then the report. It checks that the tool
# runs and exits 0; it times nothing and never fails on a figure.
#
#   bench/smoke.sh [build-dir]     (default: build; built if needed)
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD="${1:-build}"
if [[ ! -x "$BUILD/bench/shmq-bench" ]]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja >/dev/null
  ninja -C "$BUILD" -j"${SHMQ_BUILD_JOBS:-2}" shmq-bench shmq-broker >/dev/null
fi
BENCH="$BUILD/bench/shmq-bench"
OUT="$(mktemp -d /tmp/shmq-bench-smoke-XXXXXX)"
trap 'rm -rf "$OUT"' EXIT

run() {
  echo "smoke: shmq-bench $*"
  timeout 120 "$BENCH" "$@" --json --no-probe --timeout 60 >>"$OUT/records.jsonl"
}

run probe
run floor --messages 2000
run futex --messages 20 --gap-us 50
run latency --mech shmq --messages 500
run latency --mech shmq --messages 20 --receiver poll --test oneway --gap-us 50
run latency --mech shmq --messages 100 --size 65536 --test oneway
run throughput --mech shmq --messages 5000
run throughput --mech shmq --messages 5000 --batch 10 --producers 2 --consumers 2
run throughput --mech shmq --messages 2000 --batch 10 --remove batch --receiver poll
run throughput --mech shmq --messages 2000 --durability async
run throughput --mech shmq --messages 2000 --fifo-groups 10 --consumers 2
run throughput --mech shmq --messages 2000 --fifo-groups 10 --batch 10 --durability sync
for m in uds posix-mq boost-mq; do
  run latency --mech "$m" --messages 100 --receiver poll
  run throughput --mech "$m" --messages 2000 --producers 2 --consumers 2 --receiver poll
done
"$BENCH" report "$OUT/records.jsonl" --plot-dir "$OUT" >/dev/null
echo "smoke: shmq-bench ok"
