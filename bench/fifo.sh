#!/usr/bin/env bash
# FIFO throughput against a standard queue, in the same run: the full cycle
# (send, receive, delete), 64 B, unpinned, with 1, 10 and 100 message groups,
# batches of 1 and 10. Each round runs the standard baseline and the FIFO
# variants back to back and prints every figure with its regime (the bare-ring
# probe before and after) and its ratio to the baseline of the same round.
#
#   bench/fifo.sh [--rounds N] [--duration S] [--producers P] [--consumers C]
#                 [--receiver spin|poll] [--remove each|batch] [--build-dir DIR]
#
# Defaults: 2 rounds of 2 s runs, 1 producer x 4 consumers (the issue's
# "100 groups and 4 consumers"), spinning receivers. With more processes than
# CPUs, spinning consumers take CPU from the producer: --receiver poll (long
# polls that sleep) shows the queues without that effect. --remove batch: the
# consumers delete what one receive returned with one remove_batch (batch 10
# rows; both queues).
# Writes bench/results/<date>-fifo.jsonl too.
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD=build-bench
ROUNDS=2
DURATION=2
PRODUCERS=1
CONSUMERS=4
RECEIVER=spin
REMOVE=each
while (($#)); do
  case "$1" in
    --rounds) ROUNDS="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --producers) PRODUCERS="$2"; shift ;;
    --consumers) CONSUMERS="$2"; shift ;;
    --receiver) RECEIVER="$2"; shift ;;
    --remove) REMOVE="$2"; shift ;;
    --build-dir) BUILD="$2"; shift ;;
    *) echo "usage: bench/fifo.sh [--rounds N] [--duration S] [--producers P] [--consumers C] [--receiver spin|poll] [--remove each|batch] [--build-dir DIR]" >&2; exit 2 ;;
  esac
  shift
done

cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$BUILD" -j"${SHMQ_BUILD_JOBS:-2}" shmq-bench shmq-broker >/dev/null
BENCH="$BUILD/bench/shmq-bench"
mkdir -p bench/results
OUT="bench/results/$(date +%Y-%m-%d-%H%M%S)-fifo.jsonl"
: >"$OUT"

run() {  # prints one JSON record
  timeout 300 "$BENCH" throughput --producers "$PRODUCERS" --consumers "$CONSUMERS" \
    --receiver "$RECEIVER" --remove "$REMOVE" --duration "$DURATION" --json "$@" 2>/dev/null | tee -a "$OUT"
}

for ((round = 1; round <= ROUNDS; round++)); do
  for batch in 1 10; do
    base="$(run --batch "$batch")"
    for groups in 1 10 100; do
      fifo="$(run --batch "$batch" --fifo-groups "$groups")"
      python3 - "$round" "$batch" "$groups" "$base" "$fifo" <<'EOF'
import json, sys
rnd, batch, groups, base, fifo = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), json.loads(sys.argv[5])
def fmt(r):
    return f"{r['msgs_per_s'] / 1e6:6.2f} M/s [{r['regime']} {r['probe_before_ns']}/{r['probe_after_ns']} ns, lost {r['lost']}]"
ratio = fifo['msgs_per_s'] / base['msgs_per_s'] if base['msgs_per_s'] else 0
print(f"round {rnd} {fifo['receiver']} batch {batch:>2} {fifo['producers']}x{fifo['consumers']}  standard {fmt(base)}  "
      f"fifo {groups:>3} groups {fmt(fifo)}  ratio {ratio:.2f}")
EOF
    done
  done
done
echo "fifo.sh: records in $OUT" >&2
