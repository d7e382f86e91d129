// Time for the measurements: CLOCK_MONOTONIC, which every process on the
// machine shares, so a sender's timestamp can be subtracted from a
// receiver's. On this machine class (kvm-clock through the vDSO) a read costs
// ~20 ns; every latency sample contains about one read, so each record also
// reports the cost of a read measured in the same run (clock_read_ns()).
#pragma once

#include <immintrin.h>
#include <sched.h>
#include <time.h>

#include <cstdint>

#include "bench/histogram.h"

namespace shmq::bench {

inline uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ULL + uint64_t(ts.tv_nsec);
}

inline void cpu_relax() { _mm_pause(); }

inline void spin_until_ns(uint64_t deadline) {
  while (now_ns() < deadline) cpu_relax();
}

// Spinning on another process: pause, and give the CPU away every ~16k
// turns, so a spinner that shares a core with the process it waits for (an
// unpinned run) lets it run within ~0.3 ms instead of a scheduler tick. Only
// waits longer than that are touched: they are outliers anyway.
class SpinWait {
 public:
  SpinWait() = default;
  // yield_every must be a power of two.
  explicit SpinWait(uint32_t yield_every) : mask_(yield_every - 1) {}
  void wait() {
    cpu_relax();
    if ((++turns_ & mask_) == 0) sched_yield();
  }

 private:
  uint32_t mask_ = 0x3fff;
  uint32_t turns_ = 0;
};

// Waiting for room (a full queue) or for a message: pause a while, then give
// the CPU away, so two processes sharing a core still make progress.
class Backoff {
 public:
  void wait() {
    if (++spins_ < 256) {
      cpu_relax();
    } else {
      spins_ = 0;
      sched_yield();
    }
  }

 private:
  int spins_ = 0;
};

// Median of the difference between two back-to-back reads: what one read
// adds to a sample.
inline uint64_t clock_read_ns() {
  Histogram h;
  for (int i = 0; i < 20000; ++i) {
    const uint64_t a = now_ns();
    const uint64_t b = now_ns();
    h.record(b - a);
  }
  return h.percentile(0.5);
}

}  // namespace shmq::bench
