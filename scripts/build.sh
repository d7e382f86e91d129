#!/usr/bin/env bash
# Configures (CMake + Ninja) and builds shmq.
#
#   scripts/build.sh [build-dir] [extra cmake args...]
#
# build-dir defaults to `build`; a relative build-dir is taken relative to the
# repository root, so the script behaves the same from any directory. The
# build type defaults to RelWithDebInfo (pass -DCMAKE_BUILD_TYPE=... to change
# it). Builds with 2 jobs; set SHMQ_BUILD_JOBS to override.
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BUILD_DIR="build"
if (($# > 0)) && [[ "$1" != -* ]]; then
  BUILD_DIR="$1"
  shift
fi
JOBS="${SHMQ_BUILD_JOBS:-2}"

# An existing build dir configured with another generator cannot be reused.
if [[ -f "$BUILD_DIR/CMakeCache.txt" ]] &&
   ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$BUILD_DIR/CMakeCache.txt"; then
  echo "build: $BUILD_DIR was configured with a generator other than Ninja;" >&2
  echo "build: remove it (rm -rf $BUILD_DIR) and run again." >&2
  exit 1
fi

# Later -D options win, so extra args can override the defaults.
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
ninja -C "$BUILD_DIR" -j"$JOBS"
