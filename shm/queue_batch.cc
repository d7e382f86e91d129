#include "shm/queue_batch.h"

#include <algorithm>

#include "shm/crash_point.h"
#include "shm/journal_ring.h"
#include "shm/prefetch.h"
#include "shm/ring.h"

namespace shmq::shm {
namespace {

// The smallest class whose payloads hold `need` bytes, or kNumClasses.
uint32_t smallest_class(const SegmentView& v, size_t need) {
  for (uint32_t c = 0; c < kNumClasses; ++c)
    if (v.header->classes[c].payload_capacity >= need) return c;
  return kNumClasses;
}

// Claims free slots of class c for the messages listed in want[0..n) (their
// indices into slots[]), with one ring claim per run of cells. Each claimed
// slot becomes RESERVED(gen, lane) while its cell still lists it, so it is
// reachable at every instant (the lane holds kBatchHoldsSlots). Leaves
// slots[i] = kNil for those the class could not serve.
void claim_class(const SegmentView& v, Lane& lane, uint32_t c, const uint32_t* want, size_t n,
                 uint32_t* slots) {
  const SizeClass& k = v.header->classes[c];
  const uint32_t me = lane_index(v, lane);
  size_t done = 0;
  int waits = 0;
  while (done < n) {
    uint64_t got[kMaxBatchClaim];
    size_t served = done;
    const size_t m = ring_pop_batch(v.free[c], lane, got, n - done, [&](const uint64_t* vals, size_t m) {
      // The slots and payloads are cold or on the consumer's core: start
      // every transfer before the first is waited for (prefetch.h).
      for (size_t i = 0; i < m; ++i) prefetch_to_send(v, vals[i]);  // skips a tombstone
      for (size_t i = 0; i < m; ++i) {
        const uint64_t s = vals[i];
        // A tombstone (a cell voided after a death) or a corrupt value: skip.
        if (s < k.first_slot || s >= uint64_t(k.first_slot) + k.count) continue;
        Slot& slot = v.slot(uint32_t(s));
        const uint32_t g = gen_of(slot.state.load(std::memory_order_acquire));
        slot.state.store(make_state(SlotState::kReserved, g, me), std::memory_order_relaxed);
        SHMQ_CRASH_POINT();
        slot.incarnation.store(slot.incarnation.load(std::memory_order_relaxed) + 1,
                               std::memory_order_relaxed);
        slots[want[served++]] = uint32_t(s);
      }
    });
    if (m == 0) {
      if (wait_for_push(v.free[c], &waits)) continue;  // a delete between its steps
      return;                                         // the class is empty
    }
    done = served;
  }
}

}  // namespace

void claim_slots(const SegmentView& v, Lane& lane, const size_t* need, size_t n, uint32_t* slots,
                 Status* status) {
  n = std::min<size_t>(n, kMaxBatchClaim);
  std::fill(slots, slots + n, kNil);
  for (uint32_t c = 0; c < kNumClasses; ++c) {
    uint32_t want[kMaxBatchClaim];
    size_t w = 0;
    for (size_t i = 0; i < n; ++i)
      if (smallest_class(v, need[i]) == c) want[w++] = uint32_t(i);
    if (w) claim_class(v, lane, c, want, w, slots);
  }
  // What a class could not serve tries the larger ones, one at a time.
  for (size_t i = 0; i < n; ++i) {
    status[i] = Status::OK();
    if (slots[i] != kNil) continue;
    status[i] = claim_slot(v, lane, need[i], &slots[i]);
    lane.op.store(0, std::memory_order_relaxed);  // RESERVED(lane) names it now
    if (!status[i].ok()) slots[i] = kNil;
  }
}

void free_slots(const SegmentView& v, Lane& lane, const uint32_t* slots, const uint32_t* free_gens, size_t n) {
  for (uint32_t c = 0; c < kNumClasses; ++c) {
    uint64_t vals[kMaxBatchClaim];
    uint32_t gens[kMaxBatchClaim];
    size_t m = 0;
    for (size_t i = 0; i < n; ++i) {
      if (v.class_of(slots[i]) != c) continue;
      vals[m] = slots[i];
      gens[m++] = free_gens[i];
    }
    if (m == 0) continue;
    size_t pushed = 0;
    CellWait w(v, lane);
    while (pushed < m) {
      const size_t k = ring_push_batch(
          v.free[c], lane, vals + pushed, m - pushed,
          [&](size_t i) {
            v.slot(uint32_t(vals[pushed + i]))
                .state.store(make_state(SlotState::kFree, gens[pushed + i], 0), std::memory_order_release);
          },
          [] {});
      // The ring has a cell for every slot of its class twice over; a cell
      // not yet free is one a popper claimed a lap ago (CellWait). The
      // slots not pushed when patience runs out go to the broker's scans.
      if (k == 0 && !w.wait()) {
        for (size_t i = pushed; i < m; ++i) hand_free_to_broker(v, uint32_t(vals[i]));
        break;
      }
      pushed += k;
    }
  }
}

size_t send_messages(const SegmentView& v, Lane& lane, const SendInput* in, size_t n, SendOutput* out,
                     Status* status) {
  n = std::min<size_t>(n, kMaxBatchClaim);
  if (Status j = journal_precheck(v); !j.ok()) {
    for (size_t i = 0; i < n; ++i) status[i] = j;
    return 0;
  }
  lane.batch.store(kBatchHoldsSlots, std::memory_order_relaxed);
  uint32_t slots[kMaxBatchClaim];
  size_t need[kMaxBatchClaim];
  for (size_t i = 0; i < n; ++i) need[i] = in[i].attributes_size + in[i].body.size();
  claim_slots(v, lane, need, n, slots, status);

  uint64_t entries[kMaxBatchClaim];
  size_t nv = 0;
  uint64_t now = 0;
  for (size_t i = 0; i < n; ++i) {
    if (slots[i] == kNil) continue;
    Slot& slot = v.slot(slots[i]);
    const uint32_t g = gen_of(slot.state.load(std::memory_order_relaxed));
    now = write_message(v, slots[i], 0, in[i]);
    if (out) out[i] = SendOutput{slots[i], slot.incarnation.load(std::memory_order_relaxed)};
    if (in[i].delay_ms > 0) {
      slot.state.store(make_state(SlotState::kDelayed, g, now + in[i].delay_ms), std::memory_order_release);
      SHMQ_CRASH_POINT();
      continue;
    }
    entries[nv++] = make_entry(slots[i], g);
  }
  size_t published = 0;
  for (int waits = 0; published < nv;) {
    const size_t m = ring_push_batch(
        v.ready, lane, entries + published, nv - published,
        [&](size_t i) {
          const uint64_t e = entries[published + i];
          v.slot(entry_slot(e)).state.store(make_state(SlotState::kVisible, entry_gen(e), 0),
                                            std::memory_order_release);
        },
        [] {});
    if (m == 0 && !brief_wait(&waits)) break;  // a cell a receiver claimed a lap ago: as publish_visible
    published += m;
  }
  // Still no cell: park the rest as due-now DELAYED, as publish_visible
  // does, for the broker's next tick.
  if (published < nv) v.header->counters.ready_parked.fetch_add(nv - published, std::memory_order_relaxed);
  for (size_t i = published; i < nv; ++i)
    v.slot(entry_slot(entries[i]))
        .state.store(make_state(SlotState::kDelayed, entry_gen(entries[i]), now), std::memory_order_release);
  SHMQ_CRASH_POINT();
  lane.batch.store(0, std::memory_order_relaxed);  // no slot is RESERVED(lane) any more
  if (published) notify_receivers(v.header);

  size_t sent = 0;
  for (size_t i = 0; i < n; ++i) {
    if (slots[i] == kNil) continue;
    ++sent;
    Slot& slot = v.slot(slots[i]);
    status[i] = journal_after_send(v, lane, slots[i], slot.incarnation.load(std::memory_order_relaxed),
                                   in[i].durable_wait);
  }
  return sent;
}

size_t delete_messages(const SegmentView& v, Lane& lane, const HandleRef* h, size_t n, Status* status) {
  n = std::min<size_t>(n, kMaxBatchClaim);
  lane.batch.store(kBatchHoldsSlots, std::memory_order_relaxed);
  SHMQ_CRASH_POINT();
  uint32_t deleted[kMaxBatchClaim];
  size_t nd = 0;
  for (size_t i = 0; i < n; ++i) {
    bool mine = false;
    status[i] = mark_deleted(v, lane, h[i], &mine);
    if (mine) deleted[nd++] = uint32_t(i);
    SHMQ_CRASH_POINT();
  }
  for (size_t i = 0; i < nd; ++i) journal_after_delete(v, lane, h[deleted[i]].slot, h[deleted[i]].incarnation);

  // Back to the free rings, one claim per class. Each slot turns
  // FREE(gen + 1) just before its cell is published, so a slot is FREE only
  // once a written cell (kBatchCellsWritten) lists it.
  uint32_t slots[kMaxBatchClaim];
  uint32_t gens[kMaxBatchClaim];
  for (size_t i = 0; i < nd; ++i) {
    slots[i] = h[deleted[i]].slot;
    gens[i] = next_gen(h[deleted[i]].gen);
  }
  free_slots(v, lane, slots, gens, nd);
  lane.batch.store(0, std::memory_order_relaxed);
  return size_t(std::count_if(status, status + n, [](const Status& s) { return s.ok(); }));
}

}  // namespace shmq::shm
