#!/usr/bin/env bash
# ThreadSanitizer build of the tests that run threads against one mapping
# (the ring stress, the slot machine, the journal writer and feed, and the
# multi-process lease and FIFO tests whose broker and clients are all
# TSan-instrumented). Not part of CI's time budget;
# run it when touching shm/ or the client's threading.
set -euo pipefail
root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" build-tsan -DSHMQ_SANITIZE=thread
cd "$root/build-tsan"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1}"
ctest -j1 --output-on-failure -R '^(Ring|RingBatch|SlotState|SlotStateTest|Status|RoundTrip|Lease|Fifo|FifoTrucks|FifoBatchTest|QueueBatchTest|Journal|JournalFaults|Compaction|Io/JournalBackends|Durability)\.'
