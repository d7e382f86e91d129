#include "shm/restore.h"

#include <cstring>
#include <string>

namespace shmq::shm {

Status restore_messages(const SegmentView& v, const std::vector<RestoredMessage>& messages,
                        uint64_t incarnation_floor) {
  Header* h = v.header;
  std::vector<uint8_t> taken(v.total_slots(), 0);
  for (const RestoredMessage& m : messages) {
    if (m.slot >= v.total_slots())
      return Status("InternalError", "journaled slot " + std::to_string(m.slot) + " is beyond the queue's " +
                                         std::to_string(v.total_slots()) + " slots (was --slots reduced?)");
    if (taken[m.slot]++) return Status("InternalError", "journaled slot " + std::to_string(m.slot) + " twice");
    if (m.attributes.size() + m.body.size() > v.payload_capacity(m.slot))
      return Status("InternalError", "journaled message too large for slot " + std::to_string(m.slot) +
                                         " (were the size classes changed?)");
  }
  const uint64_t now = queue_clock_ms(h);
  // Messages first, then the rings around them.
  uint64_t ready = 0;
  for (const RestoredMessage& m : messages) {
    Slot& s = v.slot(m.slot);
    const uint32_t g = gen_of(s.state.load(std::memory_order_relaxed));
    char* p = v.payload(m.slot);
    std::memcpy(p, m.attributes.data(), m.attributes.size());
    std::memcpy(p + m.attributes.size(), m.body.data(), m.body.size());
    s.incarnation.store(m.incarnation, std::memory_order_relaxed);
    s.attrs_len.store(uint32_t(m.attributes.size()), std::memory_order_relaxed);
    s.body_len.store(uint32_t(m.body.size()), std::memory_order_relaxed);
    const int64_t age = int64_t(epoch_ms(h, now)) - int64_t(m.sent_epoch_ms);
    s.sent_clock_ms.store(age > 0 && uint64_t(age) < now ? now - uint64_t(age) : now, std::memory_order_relaxed);
    s.sent_epoch_ms.store(m.sent_epoch_ms, std::memory_order_relaxed);
    s.receive_count.store(m.receive_count, std::memory_order_relaxed);
    s.sender_uid.store(m.sender_uid, std::memory_order_relaxed);
    s.first_receive_epoch_ms.store(0, std::memory_order_relaxed);
    s.lease_start_ms.store(0, std::memory_order_relaxed);
    if (m.visible_clock_ms > now) {
      s.state.store(make_state(SlotState::kDelayed, g, m.visible_clock_ms), std::memory_order_relaxed);
    } else {
      s.state.store(make_state(SlotState::kVisible, g, 0), std::memory_order_relaxed);
      Cell& c = v.ready.cells[ready & v.ready.mask];
      c.data.store(make_entry(m.slot, g), std::memory_order_relaxed);
      c.seq.store(ready + 1, std::memory_order_relaxed);
      ++ready;
    }
  }
  v.ready.pos->head.store(0, std::memory_order_relaxed);
  v.ready.pos->tail.store(ready, std::memory_order_relaxed);
  // Each free ring lists exactly the slots of its class nobody holds.
  for (uint32_t c = 0; c < kNumClasses; ++c) {
    const SizeClass& k = h->classes[c];
    const RingView& r = v.free[c];
    uint64_t n = 0;
    for (uint32_t i = 0; i < k.count; ++i) {
      if (taken[k.first_slot + i]) continue;
      v.slot(k.first_slot + i).incarnation.store(incarnation_floor, std::memory_order_relaxed);
      r.cells[n].data.store(k.first_slot + i, std::memory_order_relaxed);
      r.cells[n].seq.store(n + 1, std::memory_order_relaxed);
      ++n;
    }
    for (uint64_t i = n; i <= r.mask; ++i) r.cells[i].seq.store(i, std::memory_order_relaxed);
    r.pos->head.store(0, std::memory_order_relaxed);
    r.pos->tail.store(n, std::memory_order_release);
  }
  return Status::OK();
}

}  // namespace shmq::shm
