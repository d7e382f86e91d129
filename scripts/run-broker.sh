#!/usr/bin/env bash
# Installs what is missing, builds, and runs the broker in the foreground.
#
#   scripts/run-broker.sh [broker flags...]
#
# Broker flags: --socket PATH (default $SHMQ_SOCKET or /tmp/shmq.sock),
# --data-dir DIR (default ./shmq-data, relative to the current directory),
# --log-level LEVEL. Stop it with Ctrl-C.
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"

"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh" build
exec "$ROOT/build/broker/shmq-broker" "$@"
