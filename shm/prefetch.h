// Prefetch hints for the cache lines a step is about to touch.
//
// In a send -> receive -> delete cycle between two cores, most of the time is
// cache lines moving from the other core or from memory (ring cells, slot
// lines, payloads). Loaded one after another, each transfer waits for the one
// before. A prefetch issued as soon as the address is known lets them
// overlap; prefetches are not ordered by locked instructions. Used only where
// it measured a gain (bench/RESULTS.md): a receive fetches the slot and
// payload it is about to lease and the free-ring cell its delete will push; a
// batched claim fetches every claimed slot and payload. They change no state,
// so a prefetch of something another process changes meanwhile costs a
// wasted transfer, never a wrong result.
#pragma once

#include <cstdint>

#include "shm/layout.h"
#include "shm/segment.h"

namespace shmq::shm {

// Fetches the line holding p with intent to write (PREFETCHW where the CPU
// has it; older x86 CPUs execute it as a no-op).
inline void prefetch_for_write(const void* p) {
#if defined(__x86_64__)
  asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 1);
#endif
}

inline void prefetch_for_read(const void* p) { __builtin_prefetch(p, 0); }

// What a receive of slot s touches: the slot line (leased by CAS) and the
// first two lines of the payload (read by the caller). Ignores an
// out-of-range index.
inline void prefetch_to_receive(const SegmentView& v, uint64_t s) {
  if (s >= v.total_slots()) return;
  prefetch_for_write(&v.slot(uint32_t(s)));
  const char* p = v.payload(uint32_t(s));
  prefetch_for_read(p);
  prefetch_for_read(p + kCacheLine);
}

// What a send into slot s writes: the slot line and the first two lines of
// the payload. Ignores an out-of-range index.
inline void prefetch_to_send(const SegmentView& v, uint64_t s) {
  if (s >= v.total_slots()) return;
  prefetch_for_write(&v.slot(uint32_t(s)));
  const char* p = v.payload(uint32_t(s));
  prefetch_for_write(p);
  prefetch_for_write(p + kCacheLine);
}

}  // namespace shmq::shm
