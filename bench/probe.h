// The regime probe: this machine class's virtual CPUs flip between a fast
// placement (a bare ring at ~60 ns one way) and a slow one (~300 ns),
// sometimes mid-run. Every measurement is bracketed by a short bare-ring
// one-way run (64 B, pinned to CPUs 0 and 1, ~20k round trips) before and
// after, and each record carries both p50s and the regime they show.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench/options.h"
#include "bench/record.h"

namespace shmq::bench {

inline constexpr uint64_t kFastRegimeBelowNs = 150;

// One probe: the bare ring's one-way p50 in ns. Forks two processes.
uint64_t probe_floor_p50();

// "fast" when both probes are below 150 ns, "slow" when neither is, "mixed"
// when the placement flipped during the run.
std::string regime_of(uint64_t before_ns, uint64_t after_ns);

// Runs one measurement between two probes (unless --no-probe) and stamps its
// records with the probes, the regime and the cost of a clock read.
std::vector<Record> bracketed(const Options& o, const std::function<std::vector<Record>()>& run);

}  // namespace shmq::bench
