#!/usr/bin/env bash
# Builds shmq and runs the whole test suite: once in `build` (RelWithDebInfo)
# and once in `build-asan` under AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   scripts/test.sh [--quick]
#
# --quick skips the sanitizer build. Exits non-zero if any build or test fails.
# Tests run one at a time (ctest -j1): many of them start several processes and
# are CPU-heavy on a small machine.
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

QUICK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test: unknown argument: $arg (usage: scripts/test.sh [--quick])" >&2; exit 2 ;;
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

CTEST_ENV=()
CTEST_WRAP=()
# -DSHMQ_SANITIZE= keeps `build` uninstrumented even if its cache says otherwise.
run_suite "RelWithDebInfo" build -DSHMQ_SANITIZE=

# Keep the benchmark tool working: a seconds-long run that times nothing.
echo "==== [bench] smoke (build) ===="
if "$ROOT/bench/smoke.sh" build; then
  SUMMARY+=("test: bench smoke (build): PASS")
else
  SUMMARY+=("test: bench smoke (build): FAIL")
  FAILED=1
fi

if ((QUICK)); then
  SUMMARY+=("test: asan+ubsan (build-asan): SKIPPED (--quick)")
else
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
  run_suite "asan+ubsan" build-asan -DSHMQ_SANITIZE=address,undefined
fi

echo "==== summary ===="
printf '%s\n' "${SUMMARY[@]}"
exit "$FAILED"
