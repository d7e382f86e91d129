#include "shm/restore.h"

#include <cstring>
#include <string>

namespace shmq::shm {

namespace {

// Bytes before the attributes: FifoMeta and the ids on FIFO queues.
uint32_t prefix_of(const SegmentView& v, const RestoredMessage& m) {
  return v.header->fifo ? fifo_meta_size(uint32_t(m.group_id.size()), uint32_t(m.dedup_id.size())) : 0;
}

void write_fifo_meta(const SegmentView& v, const RestoredMessage& m) {
  FifoMeta& meta = v.meta(m.slot);
  meta.seq.store(m.sequence_number, std::memory_order_relaxed);
  meta.group.store(kNil, std::memory_order_relaxed);  // fifo_restore_groups links it
  meta.next.store(kNil, std::memory_order_relaxed);
  meta.group_len.store(uint32_t(m.group_id.size()), std::memory_order_relaxed);
  meta.dedup_len.store(uint32_t(m.dedup_id.size()), std::memory_order_relaxed);
  char* ids = v.payload(m.slot) + sizeof(FifoMeta);
  std::memcpy(ids, m.group_id.data(), m.group_id.size());
  if (!m.dedup_id.empty()) std::memcpy(ids + m.group_id.size(), m.dedup_id.data(), m.dedup_id.size());
}

}  // namespace

Status restore_messages(const SegmentView& v, const std::vector<RestoredMessage>& messages,
                        uint64_t incarnation_floor, const std::vector<RestoredDedup>& dedup,
                        uint64_t last_sequence) {
  Header* h = v.header;
  const bool fifo = h->fifo != 0;
  std::vector<uint8_t> taken(v.total_slots(), 0);
  for (const RestoredMessage& m : messages) {
    if (m.slot >= v.total_slots())
      return Status("InternalError", "journaled slot " + std::to_string(m.slot) + " is beyond the queue's " +
                                         std::to_string(v.total_slots()) + " slots (was --slots reduced?)");
    if (taken[m.slot]++) return Status("InternalError", "journaled slot " + std::to_string(m.slot) + " twice");
    if (fifo && (m.group_id.empty() || m.group_id.size() > kMaxGroupIdLength ||
                 m.dedup_id.size() > kMaxGroupIdLength))
      return Status("InternalError", "journaled FIFO message in slot " + std::to_string(m.slot) +
                                         " has no valid group or dedup id");
    if (uint64_t(prefix_of(v, m)) + m.attributes.size() + m.body.size() > v.payload_capacity(m.slot))
      return Status("InternalError", "journaled message too large for slot " + std::to_string(m.slot) +
                                         " (were the size classes changed?)");
  }
  const uint64_t now = queue_clock_ms(h);
  // Messages first, then the rings around them.
  uint64_t ready = 0;
  for (const RestoredMessage& m : messages) {
    Slot& s = v.slot(m.slot);
    const uint32_t g = gen_of(s.state.load(std::memory_order_relaxed));
    if (fifo) write_fifo_meta(v, m);
    char* p = v.payload(m.slot) + prefix_of(v, m);
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
      if (fifo) continue;  // its group gets the token (fifo_restore_groups)
      Cell& c = v.ready.cells[ready & v.ready.mask];
      c.data.store(make_entry(m.slot, g), std::memory_order_relaxed);
      c.seq.store(ready + 1, std::memory_order_relaxed);
      ++ready;
    }
  }
  if (fifo) {
    std::vector<RestoredFifoMessage> listed;
    listed.reserve(messages.size());
    for (const RestoredMessage& m : messages) listed.push_back({m.slot, m.sequence_number, m.group_id});
    if (Status st = fifo_restore_groups(v, std::move(listed), last_sequence); !st.ok()) return st;
    fifo_restore_dedup(v, dedup);
  } else {
    v.ready.pos->head.store(0, std::memory_order_relaxed);
    v.ready.pos->tail.store(ready, std::memory_order_relaxed);
  }
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
