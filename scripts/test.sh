#!/usr/bin/env bash
# Builds shmq and runs the whole test suite.
#
#   scripts/test.sh [--quick | --full]
#
# Default (what CI runs): one build, `build-asan`, instrumented with
# AddressSanitizer + UndefinedBehaviorSanitizer, unoptimised with line tables
# only (-O0 -g1: the reports keep file:line; at -O2 -g the Beast and CLI11
# code took 30 CPU-minutes to build, at -O0 -g1 11; the suite runs as fast),
# its whole ctest suite, then a seconds-long smoke of the benchmark tool.
# --quick: the plain build (`build`, RelWithDebInfo) and its suite instead.
# --full:  both: the plain build and suite first, then the sanitizer one.
# Exits non-zero if any build or test fails. Tests run one at a time
# (ctest -j1): many of them start several processes and are CPU-heavy on a
# small machine.
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PLAIN=0
SANITIZED=1
for arg in "$@"; do
  case "$arg" in
    --quick) PLAIN=1; SANITIZED=0 ;;
    --full) PLAIN=1; SANITIZED=1 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test: unknown argument: $arg (usage: scripts/test.sh [--quick | --full])" >&2; exit 2 ;;
  esac
done

"$ROOT/scripts/install-deps.sh"

SUMMARY=()
FAILED=0

# run_suite NAME BUILD_DIR [cmake args...]; the ctest environment comes from
# CTEST_ENV (an array of VAR=value) and CTEST_WRAP (a command prefix).
run_suite() {
  local name="$1" dir="$2"
  shift 2
  echo "==== [$name] build ($dir) ===="
  if ! "$ROOT/scripts/build.sh" "$dir" "$@"; then
    SUMMARY+=("test: $name ($dir): FAIL (build)")
    FAILED=1
    return 0
  fi
  echo "==== [$name] ctest ($dir) ===="
  if env "${CTEST_ENV[@]}" "${CTEST_WRAP[@]}" \
      ctest --test-dir "$dir" --output-on-failure --no-tests=error -j1; then
    SUMMARY+=("test: $name ($dir): PASS")
  else
    SUMMARY+=("test: $name ($dir): FAIL (tests)")
    FAILED=1
  fi
}

# bench_smoke DIR: keeps the benchmark tool working (a seconds-long run that
# times nothing), in the same environment as the tests of DIR.
bench_smoke() {
  echo "==== [bench] smoke ($1) ===="
  if env "${CTEST_ENV[@]}" "${CTEST_WRAP[@]}" "$ROOT/bench/smoke.sh" "$1"; then
    SUMMARY+=("test: bench smoke ($1): PASS")
  else
    SUMMARY+=("test: bench smoke ($1): FAIL")
    FAILED=1
  fi
}

CTEST_ENV=()
CTEST_WRAP=()
if ((PLAIN)); then
  # -DSHMQ_SANITIZE= keeps `build` uninstrumented even if its cache says otherwise.
  run_suite "RelWithDebInfo" build -DSHMQ_SANITIZE=
  ((SANITIZED)) || bench_smoke build
fi

if ((SANITIZED)); then
  CTEST_ENV=(
    "ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
    "UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  )
  # GCC 12's ASan cannot map its shadow memory when the kernel uses more than
  # 28 bits of mmap randomisation (newer kernels default to 32). Run without
  # ASLR then, if this environment allows it.
  rnd_bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)
  if ((rnd_bits > 28)); then
    if setarch "$(uname -m)" -R true 2>/dev/null; then
      echo "test: vm.mmap_rnd_bits=$rnd_bits; running sanitizer tests without ASLR"
      CTEST_WRAP=(setarch "$(uname -m)" -R)
    else
      echo "test: warning: vm.mmap_rnd_bits=$rnd_bits may break ASan;" \
           "if tests die at startup run: sysctl vm.mmap_rnd_bits=28" >&2
    fi
  fi
  run_suite "asan+ubsan" build-asan -DSHMQ_SANITIZE=address,undefined \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O0 -g1 -DNDEBUG"
  bench_smoke build-asan
fi

echo "==== summary ===="
printf '%s\n' "${SUMMARY[@]}"
exit "$FAILED"
