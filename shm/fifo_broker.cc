// FIFO queues, the broker's steps: timers, maintenance, purge and the repair
// of a dead lane's FIFO work (fifo.h).
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

// One group's timers under its lock: expiry, delay, retention, DLQ moves.
void process_group(const SegmentView& v, uint32_t gi, uint64_t now, const DeadLetterMover& mover) {
  Header* h = v.header;
  Counters& counters = h->counters;
  Lane& b = broker_lane(v);
  Group& g = v.groups[gi];
  const uint64_t retention_ms = uint64_t(h->config.retention_s.load(std::memory_order_relaxed)) * 1000;
  const uint32_t max_rc = h->config.max_receive_count.load(std::memory_order_relaxed);
  const bool redrive = max_rc != 0 && h->config.dlq_uid.load(std::memory_order_relaxed) != 0;
  // Messages this pass removes (retention, dead-letter moves): journaled
  // after the lock, so a rebuilt queue does not bring them back.
  std::vector<std::pair<uint32_t, uint64_t>> removed;
  broker_lock_group(v, gi);
  const uint64_t key = g.key.load(std::memory_order_relaxed);
  if (key != 0 && key != kGroupRetired) {
    uint32_t s = g.head.load(std::memory_order_relaxed);
    for (uint32_t guard = 0; s != kNil && s < v.total_slots() && guard <= v.total_slots(); ++guard) {
      Slot& slot = v.slot(s);
      const uint32_t next = v.meta(s).next.load(std::memory_order_relaxed);
      const uint64_t st = slot.state.load(std::memory_order_acquire);
      const SlotState k = state_of(st);
      const uint32_t gen = gen_of(st);
      if (!live_message(k)) {
        s = next;
        continue;
      }
      const bool leased = k == SlotState::kLeased;
      const bool due = k != SlotState::kVisible && value_of(st) <= now;
      if (slot.sent_clock_ms.load(std::memory_order_relaxed) + retention_ms <= now) {
        slot.state.store(make_state(SlotState::kDeleted, gen, kDeletedInGroup), std::memory_order_release);
        if (leased) g.leased.store(g.leased.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        counters.retention_deleted.fetch_add(1, std::memory_order_relaxed);
        removed.emplace_back(s, slot.incarnation.load(std::memory_order_relaxed));
      } else if (due && leased && redrive &&
                 slot.receive_count.load(std::memory_order_relaxed) >= max_rc && mover(s)) {
        slot.state.store(make_state(SlotState::kDeleted, gen, kDeletedInGroup), std::memory_order_release);
        g.leased.store(g.leased.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        counters.dlq_moved.fetch_add(1, std::memory_order_relaxed);
        removed.emplace_back(s, slot.incarnation.load(std::memory_order_relaxed));
      } else if (due) {
        slot.state.store(make_state(SlotState::kVisible, gen, 0), std::memory_order_release);
        if (leased) g.leased.store(g.leased.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        (leased ? counters.leases_expired : counters.delays_released).fetch_add(1, std::memory_order_relaxed);
      }
      s = next;
    }
    advance_head(v, b, g);
    make_ready(v, b, gi);
  }
  unlock_group(v, b, gi);
  for (const auto& [slot, inc] : removed) journal_after_delete(v, b, slot, inc);
}

}  // namespace

ScanResult fifo_scan(const SegmentView& v, uint64_t now, const DeadLetterMover& mover) {
  Header* h = v.header;
  ScanResult r;
  const uint64_t retention_ms = uint64_t(h->config.retention_s.load(std::memory_order_relaxed)) * 1000;
  std::vector<uint32_t> due_groups;
  for (uint32_t i = 0; i < v.total_slots(); ++i) {
    Slot& s = v.slot(i);
    const uint64_t st = s.state.load(std::memory_order_acquire);
    const SlotState k = state_of(st);
    if (!live_message(k)) {
      retry_deferred_free(v, i, st, now, &r);  // off every group list
      continue;
    }
    const uint64_t expires = s.sent_clock_ms.load(std::memory_order_relaxed) + retention_ms;
    bool due = expires <= now;
    r.next_deadline_ms = std::min(r.next_deadline_ms, expires);
    if (k == SlotState::kVisible) {
      ++r.visible;
    } else {
      ++(k == SlotState::kLeased ? r.not_visible : r.delayed);
      if (value_of(st) <= now)
        due = true;
      else
        r.next_deadline_ms = std::min(r.next_deadline_ms, value_of(st));
    }
    if (due) {
      const uint32_t gi = v.meta(i).group.load(std::memory_order_relaxed);
      if (gi < v.group_capacity()) due_groups.push_back(gi);
      r.next_deadline_ms = now;
    }
  }
  if (mover) {
    std::sort(due_groups.begin(), due_groups.end());
    due_groups.erase(std::unique(due_groups.begin(), due_groups.end()), due_groups.end());
    for (uint32_t gi : due_groups) process_group(v, gi, now, mover);
    if (!due_groups.empty()) r.next_deadline_ms = now;  // count again after the changes
  }
  h->counters.approx_visible.store(r.visible, std::memory_order_relaxed);
  h->counters.approx_not_visible.store(r.not_visible, std::memory_order_relaxed);
  h->counters.approx_delayed.store(r.delayed, std::memory_order_relaxed);
  return r;
}

void fifo_maintain(const SegmentView& v) {
  Header* h = v.header;
  Lane& b = broker_lane(v);
  uint64_t expect = 0;
  b.aux_lock.store(make_aux_lock(AuxLock::kGroupInsert, 0), std::memory_order_relaxed);
  const bool may_retire =
      h->group_insert_lock.compare_exchange_strong(expect, me(v, b), std::memory_order_acquire);
  if (!may_retire) b.aux_lock.store(0, std::memory_order_relaxed);
  for (uint32_t gi = 0; gi < v.group_capacity(); ++gi) {
    Group& g = v.groups[gi];
    const uint64_t key = g.key.load(std::memory_order_acquire);
    if (key == 0 || key == kGroupRetired) continue;
    if (!try_lock_group(v, b, gi)) continue;
    if (g.key.load(std::memory_order_relaxed) == key) {
      advance_head(v, b, g);
      if (may_retire && g.head.load(std::memory_order_relaxed) == kNil &&
          g.leased.load(std::memory_order_relaxed) == 0)
        g.key.store(kGroupRetired, std::memory_order_release);  // a stale token finds it retired
      else if (!g.in_ready.load(std::memory_order_relaxed))
        make_ready(v, b, gi);
    }
    unlock_group(v, b, gi);
  }
  if (may_retire) unlock_aux(b, h->group_insert_lock);
}

uint64_t fifo_purge(const SegmentView& v) {
  Lane& b = broker_lane(v);
  uint64_t n = 0;
  for (uint32_t gi = 0; gi < v.group_capacity(); ++gi) {
    Group& g = v.groups[gi];
    const uint64_t key = g.key.load(std::memory_order_acquire);
    if (key == 0 || key == kGroupRetired) continue;
    broker_lock_group(v, gi);
    uint32_t s = g.head.load(std::memory_order_relaxed);
    for (uint32_t guard = 0; s != kNil && s < v.total_slots() && guard <= v.total_slots(); ++guard) {
      Slot& slot = v.slot(s);
      const uint64_t st = slot.state.load(std::memory_order_acquire);
      if (live_message(state_of(st))) {
        slot.state.store(make_state(SlotState::kDeleted, gen_of(st), kDeletedInGroup),
                         std::memory_order_release);
        ++n;
      }
      s = v.meta(s).next.load(std::memory_order_relaxed);
    }
    g.leased.store(0, std::memory_order_relaxed);
    advance_head(v, b, g);
    unlock_group(v, b, gi);
  }
  v.header->counters.purged.fetch_add(n, std::memory_order_relaxed);
  return n;
}

void fifo_repair_lane(const SegmentView& v, uint32_t dead, uint64_t popped_token) {
  Lane& d = v.lanes[dead];
  Lane& b = broker_lane(v);
  Header* h = v.header;
  const uint64_t dead_holder = uint64_t(dead) + 1;
  const bool broker_self = dead == kBrokerLane;

  // 1. A dedup entry the dead lane added and never finished: withdraw it
  //    (its send was not acknowledged). Then a bucket lock it held.
  const uint64_t aux = d.aux_lock.load(std::memory_order_acquire);
  if (aux_kind(aux) == AuxLock::kDedupBucket && aux_index(aux) < h->dedup_buckets) {
    DedupBucket& bucket = v.dedup[aux_index(aux)];
    if (bucket.lock.load(std::memory_order_acquire) == dead_holder)
      bucket.lock.store(0, std::memory_order_release);
  }
  const uint64_t pending = d.dedup_pending.load(std::memory_order_acquire);
  if (pending != 0 && ((pending - 1) >> 8) < h->dedup_buckets && ((pending - 1) & 0xff) < kDedupWays) {
    DedupBucket& bucket = v.dedup[(pending - 1) >> 8];
    DedupEntry& e = bucket.entries[(pending - 1) & 0xff];
    if (!broker_self) spin_lock(bucket.lock, me(v, b));
    // Still ours: `pending` names the dead lane (a completed entry never
    // does: dedup_end clears it first), possibly with the pending bit not
    // yet set over the evicted entry's `when`; or pending with the field
    // already cleared by dedup_end. Not taken over (a completed entry may
    // have been reused by another sender: its pending names that sender).
    std::atomic<uint32_t>& when = bucket.when[(pending - 1) & 0xff];
    const uint32_t owner = e.pending.load(std::memory_order_relaxed);
    if (owner == dead_holder || ((when.load(std::memory_order_relaxed) & kDedupPendingBit) && owner == 0)) {
      when.store(0, std::memory_order_relaxed);
      e.pending.store(0, std::memory_order_relaxed);
    }
    if (!broker_self) bucket.lock.store(0, std::memory_order_release);
  }
  d.dedup_pending.store(0, std::memory_order_relaxed);
  // A send batch's pending entries are named only by the lane in their
  // `pending` field (kBatchDedupPending): withdraw every one, with or
  // without the pending bit (half added over an evicted entry, or half
  // withdrawn).
  if (d.batch.load(std::memory_order_acquire) & kBatchDedupPending) {
    for (uint64_t bi = 0; bi < h->dedup_buckets; ++bi) {
      DedupBucket& bucket = v.dedup[bi];
      bool named = false;
      for (uint32_t w = 0; w < kDedupWays; ++w)
        named |= bucket.entries[w].pending.load(std::memory_order_relaxed) == dead_holder;
      if (!named) continue;
      if (!broker_self) spin_lock(bucket.lock, me(v, b));
      for (uint32_t w = 0; w < kDedupWays; ++w) {
        if (bucket.entries[w].pending.load(std::memory_order_relaxed) != dead_holder) continue;
        bucket.when[w].store(0, std::memory_order_relaxed);
        bucket.entries[w].pending.store(0, std::memory_order_relaxed);
      }
      if (!broker_self) bucket.lock.store(0, std::memory_order_release);
    }
  }

  // 2. A group lock: finish the critical section the lane was in.
  const uint64_t op = d.op.load(std::memory_order_acquire);
  const uint64_t gl = d.group_lock.load(std::memory_order_acquire);
  if (gl != 0 && gl - 1 < v.group_capacity()) {
    const uint32_t gi = uint32_t(gl - 1);
    Group& g = v.groups[gi];
    if (g.lock.load(std::memory_order_acquire) == dead_holder) {
      const uint32_t appending = op_kind(op) == LaneOp::kSending ? op_slot(op) : kNil;
      recover_group(v, gi, appending, dead);
      g.lock.store(0, std::memory_order_release);
    }
  }
  d.group_lock.store(0, std::memory_order_relaxed);
  if (aux_kind(aux) == AuxLock::kGroupInsert &&
      h->group_insert_lock.load(std::memory_order_acquire) == dead_holder)
    h->group_insert_lock.store(0, std::memory_order_release);
  d.aux_lock.store(0, std::memory_order_relaxed);

  // 3. The slot or token the lane held.
  const uint32_t s = op_slot(op);
  switch (op_kind(op)) {
    case LaneOp::kSending:
      if (s < v.total_slots()) {
        const uint64_t st = v.slot(s).state.load(std::memory_order_acquire);
        if (state_of(st) == SlotState::kFree ||
            (state_of(st) == SlotState::kReserved && value_of(st) == dead)) {
          // Never linked: never visible, never acknowledged.
          release_reserved_slot(v, b, s);
          h->counters.slots_reclaimed.fetch_add(1, std::memory_order_relaxed);
        }
      }
      break;
    case LaneOp::kUnlinking:
      if (s < v.total_slots()) {
        const uint64_t st = v.slot(s).state.load(std::memory_order_acquire);
        if (deleted_in_group(st) && gen_of(st) == op_gen(op)) {
          // Off its list (recover_group above would have freed it otherwise).
          free_deleted_slot(v, b, s, gen_of(st));
          h->counters.slots_reclaimed.fetch_add(1, std::memory_order_relaxed);
        }
      }
      break;
    case LaneOp::kLeasing:
      popped_token = make_entry(s, 0);
      break;
    default:
      break;
  }
  // 4. A token popped and never acted on: the group needs one again.
  if (popped_token != kTombstone && entry_slot(popped_token) < v.group_capacity()) {
    const uint32_t gi = entry_slot(popped_token);
    broker_lock_group(v, gi);
    recover_group(v, gi, kNil, dead);
    unlock_group(v, b, gi);
  }
}

}  // namespace shmq::shm
