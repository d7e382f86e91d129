// The peers shmq is compared with, measured by the same loops as shmq
// (harness.h), with the same payloads, pinning and counts: kernel IPC
// (kernel_peers.h) and queue servers the tool starts itself (server_peers.h).
#pragma once

#include "bench/options.h"
#include "bench/record.h"

namespace shmq::bench {

// Runs o.mode for o.mechanism, one of uds, posix-mq, boost-mq, redis,
// beanstalkd. A peer that cannot run here prints a skipped record.
void run_peer(const Options& o, RecordPrinter& printer);

}  // namespace shmq::bench
