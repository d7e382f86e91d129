#include "bench/probe.h"

#include "bench/clock.h"
#include "bench/floor_mechanism.h"
#include "bench/harness.h"

namespace shmq::bench {

uint64_t probe_floor_p50() {
  Options p;
  p.mode = Mode::kLatency;
  p.mechanism = Mechanism::kFloor;
  p.size = 64;
  p.pin = true;
  p.messages = 20000;
  p.warmup_messages = 1000;
  p.duration_s = 0;
  p.timeout_s = 30;
  FloorMechanism ring(p, 1);
  return one_way(ring, p).at(0).p50;
}

std::string regime_of(uint64_t before_ns, uint64_t after_ns) {
  if (before_ns == 0 || after_ns == 0) return "unknown";
  const bool fast_before = before_ns < kFastRegimeBelowNs;
  const bool fast_after = after_ns < kFastRegimeBelowNs;
  if (fast_before && fast_after) return "fast";
  if (!fast_before && !fast_after) return "slow";
  return "mixed";
}

std::vector<Record> bracketed(const Options& o, const std::function<std::vector<Record>()>& run) {
  const uint64_t before = o.probe ? probe_floor_p50() : 0;
  std::vector<Record> records = run();
  const uint64_t after = o.probe ? probe_floor_p50() : 0;
  const uint64_t clock = clock_read_ns();
  for (Record& r : records) {
    r.probe_before_ns = before;
    r.probe_after_ns = after;
    r.regime = regime_of(before, after);
    r.clock_read_ns = clock;
  }
  return records;
}

}  // namespace shmq::bench
