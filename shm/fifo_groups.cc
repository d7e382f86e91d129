// The group lists and the group table of a FIFO queue (fifo_internal.h).

#include <cstring>

#include "shm/crash_point.h"
#include "shm/fifo_internal.h"
#include "shm/queue_ops.h"
#include "shm/ring.h"

namespace shmq::shm {
namespace {

bool same_id(const Group& g, std::string_view id) {
  const uint32_t n = g.id_len.load(std::memory_order_relaxed);
  return n == id.size() && std::memcmp(g.id, id.data(), n) == 0;
}

}  // namespace

void advance_head(const SegmentView& v, Lane& lane, Group& g, UnlinkedSlots* u) {
  for (uint32_t guard = 0; guard <= v.total_slots(); ++guard) {
    const uint32_t s = g.head.load(std::memory_order_relaxed);
    if (s == kNil || s >= v.total_slots()) return;
    const uint64_t st = v.slot(s).state.load(std::memory_order_acquire);
    if (!deleted_in_group(st)) return;
    const uint32_t next = v.meta(s).next.load(std::memory_order_relaxed);
    lane.op.store(make_op(LaneOp::kUnlinking, s, gen_of(st)), std::memory_order_relaxed);
    SHMQ_CRASH_POINT();
    g.head.store(next, std::memory_order_relaxed);
    if (next == kNil) g.tail.store(kNil, std::memory_order_relaxed);
    SHMQ_CRASH_POINT();
    if (u == nullptr || u->n == kMaxBatchClaim) {
      free_deleted_slot(v, lane, s, gen_of(st));  // clears lane.op
      continue;
    }
    v.slot(s).state.store(make_state(SlotState::kDeleted, gen_of(st), lane_index(v, lane)),
                          std::memory_order_release);
    SHMQ_CRASH_POINT();
    lane.op.store(0, std::memory_order_relaxed);
    u->slot[u->n] = s;
    u->free_gen[u->n++] = next_gen(gen_of(st));
  }
}

void append_to_group(const SegmentView& v, uint32_t gi, uint32_t s, uint64_t seq, uint64_t state) {
  Group& g = v.groups[gi];
  FifoMeta& m = v.meta(s);
  m.seq.store(seq, std::memory_order_relaxed);
  m.group.store(gi, std::memory_order_relaxed);
  SHMQ_CRASH_POINT();
  const uint32_t tail = g.tail.load(std::memory_order_relaxed);
  if (tail == kNil)
    g.head.store(s, std::memory_order_relaxed);
  else
    v.meta(tail).next.store(s, std::memory_order_relaxed);
  SHMQ_CRASH_POINT();
  g.tail.store(s, std::memory_order_relaxed);
  SHMQ_CRASH_POINT();
  v.slot(s).state.store(state, std::memory_order_release);
  SHMQ_CRASH_POINT();
}

uint32_t first_live(const SegmentView& v, const Group& g, uint64_t* state) {
  uint32_t s = g.head.load(std::memory_order_relaxed);
  for (uint32_t guard = 0; s != kNil && s < v.total_slots() && guard <= v.total_slots(); ++guard) {
    const uint64_t st = v.slot(s).state.load(std::memory_order_acquire);
    if (!deleted_in_group(st)) {
      *state = st;
      return s;
    }
    s = v.meta(s).next.load(std::memory_order_relaxed);
  }
  return kNil;
}

bool make_ready(const SegmentView& v, Lane& lane, uint32_t gi, bool notify) {
  Group& g = v.groups[gi];
  if (g.in_ready.load(std::memory_order_relaxed) || g.leased.load(std::memory_order_relaxed)) return false;
  uint64_t st = 0;
  if (first_live(v, g, &st) == kNil || state_of(st) != SlotState::kVisible) return false;
  g.in_ready.store(1, std::memory_order_relaxed);
  SHMQ_CRASH_POINT();
  if (!ring_push(v.ready, lane, make_entry(gi, 0), [] {})) {
    g.in_ready.store(0, std::memory_order_relaxed);  // the broker's maintenance pushes it later
    return false;
  }
  if (notify) notify_receivers(v.header);
  return true;
}

void recover_group(const SegmentView& v, uint32_t gi, uint32_t appending, uint32_t dead) {
  Lane& b = broker_lane(v);
  Group& g = v.groups[gi];
  const uint64_t key = g.key.load(std::memory_order_relaxed);
  if (key == 0 || key == kGroupRetired) return;  // an entry being inserted: it stays free
  if (appending < v.total_slots()) {
    Slot& s = v.slot(appending);
    const uint64_t st = s.state.load(std::memory_order_acquire);
    if (state_of(st) == SlotState::kReserved && value_of(st) == dead &&
        v.meta(appending).group.load(std::memory_order_relaxed) == gi) {
      const uint32_t head = g.head.load(std::memory_order_relaxed);
      const uint32_t tail = g.tail.load(std::memory_order_relaxed);
      bool linked = tail == appending;
      if (!linked && tail == kNil && head == appending) linked = true;
      if (!linked && tail != kNil && tail < v.total_slots() &&
          v.meta(tail).next.load(std::memory_order_relaxed) == appending)
        linked = true;
      if (linked) {
        // On the list: it keeps its place; publishing it is the only way to
        // keep the list whole (it was never acknowledged, so either is fine).
        g.tail.store(appending, std::memory_order_relaxed);
        s.state.store(make_state(SlotState::kVisible, gen_of(st), 0), std::memory_order_release);
      }
    }
  }
  advance_head(v, b, g);
  uint32_t leased = 0;
  uint32_t s = g.head.load(std::memory_order_relaxed);
  for (uint32_t guard = 0; s != kNil && s < v.total_slots() && guard <= v.total_slots(); ++guard) {
    if (state_of(v.slot(s).state.load(std::memory_order_acquire)) == SlotState::kLeased) ++leased;
    s = v.meta(s).next.load(std::memory_order_relaxed);
  }
  g.leased.store(leased, std::memory_order_relaxed);
  g.in_ready.store(0, std::memory_order_relaxed);
  make_ready(v, b, gi);
}

uint32_t find_and_lock_group(const SegmentView& v, Lane& lane, std::string_view id, uint64_t hash) {
  const uint64_t key = group_key(hash);
  const uint32_t mask = v.group_capacity() - 1;
  auto lookup = [&]() -> uint32_t {
    for (uint32_t i = 0; i <= mask; ++i) {
      const uint32_t gi = uint32_t(hash + i) & mask;
      Group& g = v.groups[gi];
      const uint64_t k = g.key.load(std::memory_order_acquire);
      if (k == 0) return kNil;  // the end of the probe chain
      if (k != key) continue;
      lock_group(v, lane, gi);
      if (g.key.load(std::memory_order_relaxed) == key && same_id(g, id)) return gi;
      unlock_group(v, lane, gi);
    }
    return kNil;
  };
  if (uint32_t gi = lookup(); gi != kNil) return gi;

  // Insert under the table lock, so one id never gets two entries.
  Header* h = v.header;
  lock_aux(lane, h->group_insert_lock, me(v, lane), AuxLock::kGroupInsert, 0);
  uint32_t found = lookup();
  if (found == kNil) {
    for (uint32_t i = 0; i <= mask; ++i) {
      const uint32_t gi = uint32_t(hash + i) & mask;
      Group& g = v.groups[gi];
      const uint64_t k = g.key.load(std::memory_order_acquire);
      if (k != 0 && k != kGroupRetired) continue;
      lock_group(v, lane, gi);
      SHMQ_CRASH_POINT();
      g.head.store(kNil, std::memory_order_relaxed);
      g.tail.store(kNil, std::memory_order_relaxed);
      g.leased.store(0, std::memory_order_relaxed);
      g.in_ready.store(0, std::memory_order_relaxed);
      g.id_len.store(uint32_t(id.size()), std::memory_order_relaxed);
      std::memcpy(g.id, id.data(), id.size());
      g.key.store(key, std::memory_order_release);
      found = gi;
      break;
    }
  }
  unlock_aux(lane, h->group_insert_lock);
  return found;
}

}  // namespace shmq::shm
