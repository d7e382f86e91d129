// FIFO queues, the client's side: receive, peek and delete (fifo.h). Sends
// are in fifo_send.cc, the group lists and table in fifo_groups.cc, the
// deduplication table in fifo_dedup.cc, the broker's steps in
// fifo_broker.cc.
#include "shm/fifo.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "shm/crash_point.h"
#include "shm/fifo_internal.h"
#include "shm/journal_ring.h"
#include "shm/queue_batch.h"
#include "shm/ring.h"

namespace shmq::shm {
namespace {

// What a receive hands out for the message in slot s, leased (or read) as
// generation gen. False when its lengths do not fit its payload (corrupt).
// REQUIRES: the caller holds the message.
bool read_delivery(const SegmentView& v, uint32_t s, uint32_t gen, Delivery* d) {
  Slot& slot = v.slot(s);
  const uint32_t attrs_len = slot.attrs_len.load(std::memory_order_relaxed);
  const uint32_t body_len = slot.body_len.load(std::memory_order_relaxed);
  const FifoIds ids = fifo_ids(v, s);
  if (uint64_t(ids.prefix) + attrs_len + body_len > v.payload_capacity(s)) return false;
  const char* p = v.payload(s) + ids.prefix;
  *d = Delivery{s,
                gen,
                slot.incarnation.load(std::memory_order_relaxed),
                p + attrs_len,
                body_len,
                p,
                attrs_len,
                slot.receive_count.load(std::memory_order_relaxed),
                slot.sent_epoch_ms.load(std::memory_order_relaxed),
                slot.first_receive_epoch_ms.load(std::memory_order_relaxed),
                slot.sender_uid.load(std::memory_order_relaxed)};
  d->group_id = ids.group_id.data();
  d->group_len = uint32_t(ids.group_id.size());
  d->dedup_id = ids.dedup_id.data();
  d->dedup_len = uint32_t(ids.dedup_id.size());
  d->sequence_number = ids.sequence_number;
  return true;
}

}  // namespace

FifoIds fifo_ids(const SegmentView& v, uint32_t s) {
  const FifoMeta& m = v.meta(s);
  const char* p = v.payload(s) + sizeof(FifoMeta);
  const uint32_t gl = std::min(m.group_len.load(std::memory_order_relaxed), kMaxGroupIdLength);
  const uint32_t dl = std::min(m.dedup_len.load(std::memory_order_relaxed), kMaxGroupIdLength);
  return {std::string_view(p, gl), std::string_view(p + gl, dl), m.seq.load(std::memory_order_relaxed),
          fifo_meta_size(gl, dl)};
}

size_t fifo_receive(const SegmentView& v, Lane& lane, uint64_t visibility_ms, size_t max,
                    Delivery* out) {
  Header* h = v.header;
  size_t n = 0;
  uint64_t now = 0;
  auto record = [&](uint64_t e) {
    lane.op.store(make_op(LaneOp::kLeasing, entry_slot(e), 0), std::memory_order_relaxed);
  };
  // Groups read with visibility 0 stay dispatchable; their tokens go back
  // after the loop, so this call does not deliver the same message twice.
  uint32_t reready[16];
  size_t nreready = 0;
  while (n < max) {
    uint64_t e;
    if (!ring_pop(v.ready, lane, &e, record)) break;
    const uint32_t gi = entry_slot(e);
    if (e == kTombstone || gi >= v.group_capacity()) {
      lane.op.store(0, std::memory_order_relaxed);
      continue;
    }
    lock_group(v, lane, gi);
    lane.op.store(0, std::memory_order_relaxed);  // the lock's record covers the token now
    Group& g = v.groups[gi];
    g.in_ready.store(0, std::memory_order_relaxed);
    const uint64_t key = g.key.load(std::memory_order_relaxed);
    if (key != 0 && key != kGroupRetired && g.leased.load(std::memory_order_relaxed) == 0) {
      advance_head(v, lane, g);
      if (now == 0) now = queue_clock_ms(h);
      const uint32_t max_rc = h->config.max_receive_count.load(std::memory_order_relaxed);
      uint32_t s = g.head.load(std::memory_order_relaxed);
      for (uint32_t guard = 0; n < max && s != kNil && s < v.total_slots() && guard <= v.total_slots();
           ++guard) {
        Slot& slot = v.slot(s);
        uint64_t st = slot.state.load(std::memory_order_acquire);
        const uint32_t next = v.meta(s).next.load(std::memory_order_relaxed);
        if (deleted_in_group(st)) {
          s = next;
          continue;
        }
        if (state_of(st) != SlotState::kVisible) break;  // delayed, or leased after a change
        const uint32_t ng = next_gen(gen_of(st));
        const uint32_t count = slot.receive_count.load(std::memory_order_relaxed) + 1;
        // With visibility 0 the message is only read (SQS delivers it and
        // leaves it visible), unless it is due for its dead-letter queue.
        const bool lease = visibility_ms > 0 || (max_rc != 0 && count >= max_rc);
        slot.state.store(lease ? make_state(SlotState::kLeased, ng, now + visibility_ms)
                               : make_state(SlotState::kVisible, ng, 0),
                         std::memory_order_release);
        if (lease) g.leased.store(g.leased.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        SHMQ_CRASH_POINT();
        slot.receive_count.store(count, std::memory_order_relaxed);
        const uint64_t wall = epoch_ms(h, now);
        uint64_t first = slot.first_receive_epoch_ms.load(std::memory_order_relaxed);
        if (first == 0) {
          first = wall;
          slot.first_receive_epoch_ms.store(wall, std::memory_order_relaxed);
        }
        slot.lease_start_ms.store(now, std::memory_order_relaxed);
        if (read_delivery(v, s, ng, &out[n])) ++n;  // a corrupt length is skipped
        if (lease && visibility_ms == 0) break;  // left to the broker's dead-letter move
        s = next;
      }
      if (visibility_ms == 0 && nreready < std::size(reready))
        reready[nreready++] = gi;
      else
        make_ready(v, lane, gi);  // nothing was visible yet: no token is owed
    }
    unlock_group(v, lane, gi);
  }
  for (size_t i = 0; i < nreready; ++i) {
    lock_group(v, lane, reready[i]);
    make_ready(v, lane, reready[i]);
    unlock_group(v, lane, reready[i]);
  }
  return n;
}

bool fifo_peek(const SegmentView& v, const HandleRef& h, Delivery* out) {
  if (h.slot >= v.total_slots()) return false;
  Slot& slot = v.slot(h.slot);
  const uint64_t st = slot.state.load(std::memory_order_acquire);
  if (state_of(st) != SlotState::kLeased || gen_of(st) != h.gen ||
      value_of(st) <= queue_clock_ms(v.header) ||
      slot.incarnation.load(std::memory_order_acquire) != h.incarnation)
    return false;
  return read_delivery(v, h.slot, h.gen, out);
}

namespace {

// The checks and the mark of a FIFO delete, under group gi's lock. True when
// this call marked the message DELETED in its group (and uncounted its
// lease); otherwise *result is the answer: OK when the message is gone
// already (deleting twice is not an error), else "The receipt handle has
// expired." REQUIRES: the lock of group gi; h.slot < total slots.
bool mark_deleted_in_group(const SegmentView& v, uint32_t gi, const HandleRef& h, Status* result) {
  Slot& slot = v.slot(h.slot);
  Group& g = v.groups[gi];
  *result = Status::OK();
  const uint64_t st = slot.state.load(std::memory_order_acquire);
  if (slot.incarnation.load(std::memory_order_acquire) != h.incarnation ||
      v.meta(h.slot).group.load(std::memory_order_relaxed) != gi)
    return false;  // gone already
  if (deleted_in_group(st)) {
    if (gen_of(st) != h.gen) *result = expired_handle();
    return false;
  }
  // Unlinked and freed (or claimed again, its incarnation not yet bumped):
  // the message is gone, and SQS answers a repeated delete with success.
  if (!live_message(state_of(st))) return false;
  if (state_of(st) != SlotState::kLeased || gen_of(st) != h.gen || value_of(st) <= queue_clock_ms(v.header)) {
    *result = expired_handle();
    return false;
  }
  slot.state.store(make_state(SlotState::kDeleted, h.gen, kDeletedInGroup), std::memory_order_release);
  SHMQ_CRASH_POINT();
  g.leased.store(g.leased.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  return true;
}

}  // namespace

Status fifo_delete(const SegmentView& v, Lane& lane, const HandleRef& h) {
  // A batch of one: the slots it takes off the group's list are freed after
  // the group's lock is released, so a free-ring push that must wait for a
  // cell (queue_ops.h: CellWait) never holds up the group.
  Status result;
  fifo_delete_messages(v, lane, &h, 1, &result);
  return result;
}

size_t fifo_delete_messages(const SegmentView& v, Lane& lane, const HandleRef* h, size_t n, Status* status) {
  n = std::min<size_t>(n, kMaxBatchClaim);
  uint32_t gi_of[kMaxBatchClaim];
  for (size_t i = 0; i < n; ++i) {
    status[i] = Status::OK();
    gi_of[i] = kNil;
    if (h[i].slot >= v.total_slots()) {
      status[i] = Status("ReceiptHandleIsInvalid", "The input receipt handle is not a valid receipt handle.");
      continue;
    }
    if (v.slot(h[i].slot).incarnation.load(std::memory_order_acquire) != h[i].incarnation) continue;
    const uint32_t gi = v.meta(h[i].slot).group.load(std::memory_order_acquire);
    if (gi < v.group_capacity()) gi_of[i] = gi;
  }
  lane.batch.store(kBatchHoldsSlots, std::memory_order_relaxed);
  SHMQ_CRASH_POINT();
  UnlinkedSlots unlinked;
  uint32_t deleted[kMaxBatchClaim];
  size_t nd = 0;
  bool tokens = false;
  bool done[kMaxBatchClaim] = {};
  // One lock per distinct group: the handles of a group in batch order.
  for (size_t i = 0; i < n; ++i) {
    if (gi_of[i] == kNil || done[i]) continue;
    const uint32_t gi = gi_of[i];
    lock_group(v, lane, gi);
    bool any = false;
    for (size_t j = i; j < n; ++j) {
      if (done[j] || gi_of[j] != gi) continue;
      done[j] = true;
      if (mark_deleted_in_group(v, gi, h[j], &status[j])) {
        deleted[nd++] = uint32_t(j);
        any = true;
      }
    }
    if (any) {
      advance_head(v, lane, v.groups[gi], &unlinked);
      tokens |= make_ready(v, lane, gi, false);
    }
    unlock_group(v, lane, gi);
  }
  // Wake sleepers for the groups' next messages before the free, which may
  // wait for a free-ring cell (up to kCellPatienceMs on a stopped popper).
  if (tokens) notify_receivers(v.header);
  for (size_t k = 0; k < nd; ++k) journal_after_delete(v, lane, h[deleted[k]].slot, h[deleted[k]].incarnation);
  SHMQ_CRASH_POINT();
  free_slots(v, lane, unlinked.slot, unlinked.free_gen, unlinked.n);
  lane.batch.store(0, std::memory_order_relaxed);
  return size_t(std::count_if(status, status + n, [](const Status& s) { return s.ok(); }));
}

Status fifo_change_visibility(const SegmentView& v, Lane& lane, const HandleRef& h,
                              uint64_t visibility_ms) {
  if (h.slot >= v.total_slots())
    return Status("ReceiptHandleIsInvalid", "The input receipt handle is not a valid receipt handle.");
  Slot& slot = v.slot(h.slot);
  if (slot.incarnation.load(std::memory_order_acquire) != h.incarnation) return not_available_for_change();
  const uint32_t gi = v.meta(h.slot).group.load(std::memory_order_acquire);
  if (gi >= v.group_capacity()) return not_available_for_change();
  v.header->visibility_changes.fetch_add(1, std::memory_order_release);
  lock_group(v, lane, gi);
  Group& g = v.groups[gi];
  Status result = Status::OK();
  const uint64_t st = slot.state.load(std::memory_order_acquire);
  const uint64_t now = queue_clock_ms(v.header);
  if (slot.incarnation.load(std::memory_order_acquire) != h.incarnation ||
      v.meta(h.slot).group.load(std::memory_order_relaxed) != gi || !live_message(state_of(st))) {
    result = not_available_for_change();
  } else if (state_of(st) != SlotState::kLeased || gen_of(st) != h.gen || value_of(st) <= now) {
    result = expired_handle();
  } else if (Status cap = check_visibility_cap(slot.lease_start_ms.load(std::memory_order_relaxed), now,
                                                visibility_ms);
             !cap.ok()) {
    result = cap;
  } else {
    const uint32_t max_rc = v.header->config.max_receive_count.load(std::memory_order_relaxed);
    const bool to_dlq = max_rc != 0 && slot.receive_count.load(std::memory_order_relaxed) >= max_rc;
    if (visibility_ms == 0 && !to_dlq) {
      slot.state.store(make_state(SlotState::kVisible, h.gen, 0), std::memory_order_release);
      g.leased.store(g.leased.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
      make_ready(v, lane, gi);
    } else {
      // A message due for its dead-letter queue is left to the broker's timer.
      slot.state.store(make_state(SlotState::kLeased, h.gen, now + visibility_ms),
                       std::memory_order_release);
    }
  }
  unlock_group(v, lane, gi);
  return result;
}

}  // namespace shmq::shm
