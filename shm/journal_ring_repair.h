// repair_journal_intent (journal_ring.h), a template so repair.cc passes its
// liveness callback without a std::function copy.
#pragma once

#include "shm/journal_ring.h"

namespace shmq::shm {

template <class Live>
void repair_journal_intent(const SegmentView& v, uint32_t dead, uint64_t intent, const Live& live) {
  const RingView& r = v.journal;
  if (r.cells == nullptr || intent_pop(intent)) return;  // only the broker pops, without intents
  const uint64_t p = intent_pos(intent);
  Cell& c = r.cells[p & r.mask];
  const uint64_t tail = r.pos->tail.load(std::memory_order_acquire);
  if (tail <= p || c.seq.load(std::memory_order_acquire) != p) return;  // not claimed, or published
  for (uint32_t i = 0; i < kMaxLanes; ++i) {
    if (i == dead || v.lanes[i].owner.load(std::memory_order_acquire) == 0) continue;
    if (v.lanes[i].intent.load(std::memory_order_acquire) == intent && live(i)) return;
  }
  c.data.store(kTombstone, std::memory_order_relaxed);
  c.seq.store(p + 1, std::memory_order_release);
  v.header->counters.cells_voided.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace shmq::shm
