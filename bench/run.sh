#!/usr/bin/env bash
# The whole comparison: installs what the peers need (only what is missing),
# builds shmq-bench, runs shmq, the floor, the futex wake and every peer with
# the same payloads, pinning and counts, and writes
#   bench/results/<date>.json        every record, with the machine and commands
#   bench/results/<date>.md          targets, ratios and figures (also printed)
#   bench/results/<date>-*.png       latency percentiles, p50 by size, throughput
#
#   bench/run.sh [--full] [--rounds N] [--rounds-only] [--build-dir DIR] [--no-install]
#
# Short by default (each run ~2 s, about five minutes in all); --full runs
# 10 s each. The machine's regime flips between runs (measured-here.md), so
# the figures the targets compare are measured in N rounds (default 3) and the
# report pairs records that ran in the same regime. --rounds-only measures just
# those (a minute or two: to catch a fast placement when the probe shows one).
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD=build-bench
DURATION=2
ROUNDS=3
ROUNDS_ONLY=0
INSTALL=1
while (($#)); do
  case "$1" in
    --full) DURATION=10 ;;
    --rounds) ROUNDS="$2"; shift ;;
    --rounds-only) ROUNDS_ONLY=1 ;;
    --build-dir) BUILD="$2"; shift ;;
    --no-install) INSTALL=0 ;;
    *) echo "usage: bench/run.sh [--full] [--rounds N] [--rounds-only] [--build-dir DIR] [--no-install]" >&2; exit 2 ;;
  esac
  shift
done

# ---- packages the peers and plots need -------------------------------------
install_missing() {
  local missing=()
  command -v redis-server >/dev/null || [[ -x /usr/bin/redis-server ]] || missing+=(redis-server)
  command -v beanstalkd >/dev/null || [[ -x /usr/bin/beanstalkd ]] || missing+=(beanstalkd)
  command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
  pkg-config --exists hiredis 2>/dev/null || missing+=(libhiredis-dev)
  ((${#missing[@]})) || return 0
  echo "run.sh: installing ${missing[*]}" >&2
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >&2; then
    echo "run.sh: could not install ${missing[*]}; those peers will be reported as skipped" >&2
  fi
}
((INSTALL)) && install_missing

# ---- build ------------------------------------------------------------------
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$BUILD" -j"${SHMQ_BUILD_JOBS:-2}" shmq-bench shmq-broker >/dev/null
BENCH="$BUILD/bench/shmq-bench"

# ---- runs -------------------------------------------------------------------
STAMP="$(date +%Y-%m-%d-%H%M%S)"
OUT="bench/results"
mkdir -p "$OUT"
WORK="$(mktemp -d /tmp/shmq-bench-run-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
RECORDS="$WORK/records.jsonl"
COMMANDS="$WORK/commands.txt"
: >"$RECORDS"
: >"$COMMANDS"
FAILED=0

bench() {
  local cmd=("$BENCH" "$@" --json --duration "$DURATION")
  echo "${cmd[*]#$ROOT/}" >>"$COMMANDS"
  echo "== ${cmd[*]:1}" >&2
  if ! timeout 600 "${cmd[@]}" >>"$RECORDS"; then
    echo "run.sh: FAILED: ${cmd[*]}" >&2
    FAILED=$((FAILED + 1))
  fi
}

# The figures the targets compare, in rounds (64 B).
for ((round = 1; round <= ROUNDS; round++)); do
  echo "== round $round of $ROUNDS" >&2
  bench floor --pin
  bench latency --mech shmq --pin
  bench throughput --mech shmq --pin --batch 1
  bench throughput --mech shmq --pin --batch 10
  bench throughput --mech shmq --batch 10
  bench throughput --mech shmq --producers 2 --consumers 2 --batch 10
  # Sleeping receivers: shmq's long poll against a bare futex wake (200 us
  # idle before each send so the receiver is asleep).
  bench latency --mech shmq --pin --receiver poll --test oneway
  bench futex --pin
  bench latency --mech uds --pin --receiver poll --gap-us 0 --test pingpong
done

all_the_rest() {
  SIZES=(64 1024 65536)
  # The floor and shmq at the larger sizes, spinning receivers, pinned.
  for s in 1024 65536; do
    bench floor --pin --size "$s"
    bench latency --mech shmq --pin --size "$s"
  done
  # Kernel peers as they are used (blocking receive), and non-blocking at 64 B.
  for m in uds posix-mq boost-mq; do
    for s in "${SIZES[@]}"; do bench latency --mech "$m" --pin --receiver poll --gap-us 0 --size "$s"; done
    bench latency --mech "$m" --pin --receiver spin
  done
  # Queue servers: lease and delete, blocking lease.
  for m in redis beanstalkd; do
    for s in "${SIZES[@]}"; do bench latency --mech "$m" --pin --receiver poll --gap-us 0 --size "$s"; done
  done

  # Throughput of the full cycle. shmq: 1x1 pinned and unpinned, batch 1 and 10,
  # send_batch against sends one by one, remove against remove_batch.
  bench throughput --mech shmq --batch 1
  bench throughput --mech shmq --pin --batch 10 --send each
  bench throughput --mech shmq --batch 10 --send each
  bench throughput --mech shmq --pin --batch 10 --remove batch
  for s in 1024 65536; do bench throughput --mech shmq --pin --size "$s"; done
  # Producers x consumers sharing the two cores, unpinned.
  for pc in "1 2" "2 1" "2 2"; do
    set -- $pc
    bench throughput --mech shmq --producers "$1" --consumers "$2" --batch 1
    [[ "$pc" == "2 2" ]] || bench throughput --mech shmq --producers "$1" --consumers "$2" --batch 10
    bench throughput --mech shmq --producers "$1" --consumers "$2" --batch 10 --send each
  done
  bench throughput --mech shmq --producers 2 --consumers 2 --batch 10 --receiver poll
  # Peers: 1x1 pinned, and the multi-process kernel queues unpinned.
  for m in uds posix-mq boost-mq; do
    bench throughput --mech "$m" --pin --receiver poll
    for pc in "1 1" "1 2" "2 1" "2 2"; do
      set -- $pc
      bench throughput --mech "$m" --producers "$1" --consumers "$2" --receiver poll
    done
  done
  for m in redis beanstalkd; do
    bench throughput --mech "$m" --pin --receiver poll --batch 1
    bench throughput --mech "$m" --pin --receiver poll --batch 64
  done
}
((ROUNDS_ONLY)) || all_the_rest

# ---- results ----------------------------------------------------------------
json_string() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
MODEL="$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
{
  printf '{"date": %s, "machine": {"cpu": %s, "cpus": %s, "kernel": %s, "load": %s},\n' \
    "$(json_string "$STAMP")" "$(json_string "$MODEL")" "$(nproc)" "$(json_string "$(uname -r)")" \
    "$(json_string "$(cut -d' ' -f1-3 /proc/loadavg)")"
  printf ' "git": {"commit": %s, "uncommitted_files": %s},\n' \
    "$(json_string "$(git rev-parse HEAD 2>/dev/null || echo unknown)")" \
    "$(git status --porcelain 2>/dev/null | wc -l)"
  printf ' "duration_s": %s, "rounds": %s, "commands": [\n' "$DURATION" "$ROUNDS"
  sed 's/\\/\\\\/g; s/"/\\"/g; s/.*/  "&"/' "$COMMANDS" | paste -sd, -
  printf ' ],\n "records": [\n'
  paste -sd, "$RECORDS"
  printf ' ]}\n'
} >"$OUT/$STAMP.json"

"$BENCH" report "$OUT/$STAMP.json" --plot-dir "$WORK" >"$OUT/$STAMP.md"
if command -v gnuplot >/dev/null; then
  SUB="$MODEL, $(nproc) vCPUs, kernel $(uname -r), run $STAMP (regime of each figure: $STAMP.md)"
  gnuplot -e "dir='$WORK'; out='$OUT/$STAMP'; subtitle='$SUB'" bench/plot.gp
else
  echo "run.sh: gnuplot missing: no plots" >&2
fi
cat "$OUT/$STAMP.md"
echo "run.sh: wrote $OUT/$STAMP.json, $OUT/$STAMP.md and $OUT/$STAMP-*.png ($FAILED runs failed)" >&2
