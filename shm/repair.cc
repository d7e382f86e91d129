#include "shm/repair.h"

#include <algorithm>
#include <vector>

#include "shm/fifo.h"
#include "shm/journal_ring.h"
#include "shm/queue_ops.h"
#include "shm/ring.h"

namespace shmq::shm {
namespace {

constexpr uint64_t kDeadLetterClaimMs = 60000;

Lane& broker_lane(const SegmentView& v) { return v.lanes[kBrokerLane]; }

// True when a lane other than `self` has claimed (or is claiming) position q
// and will finish it: a live lane, or a dead one whose written batch cells
// its own repair publishes. A lane whose CAS failed may still name q; the
// order of reads (positions, then intents, then the cell) keeps that safe.
bool other_lane_covers(const SegmentView& v, uint32_t ring, bool pop, uint64_t q, uint32_t self,
                       const LaneLiveness& live) {
  for (uint32_t i = 0; i < kMaxLanes; ++i) {
    if (i == self || v.lanes[i].owner.load(std::memory_order_acquire) == 0) continue;
    if (!intent_covers(v.lanes[i].intent.load(std::memory_order_acquire), ring, pop, q)) continue;
    if (live(i) || (v.lanes[i].batch.load(std::memory_order_acquire) & kBatchCellsWritten)) return true;
  }
  return false;
}

// True when another lane holds `slot` as just popped from a free ring.
bool other_lane_sending(const SegmentView& v, uint32_t slot, uint32_t self) {
  for (uint32_t i = 0; i < kMaxLanes; ++i) {
    if (i == self) continue;
    uint64_t op = v.lanes[i].op.load(std::memory_order_acquire);
    if (op_kind(op) == LaneOp::kSending && op_slot(op) == slot) return true;
  }
  return false;
}

// Lists a FREE slot in its free ring again (the broker's lane does the push,
// recording it the same way a client would).
void relist_free_slot(const SegmentView& v, uint32_t slot) {
  release_reserved_slot(v, broker_lane(v), slot);
  v.header->counters.slots_reclaimed.fetch_add(1, std::memory_order_relaxed);
}

void republish_if_visible(const SegmentView& v, uint32_t slot, uint32_t gen) {
  uint64_t st = v.slot(slot).state.load(std::memory_order_acquire);
  if (state_of(st) == SlotState::kVisible && gen_of(st) == gen) {
    publish_visible(v, broker_lane(v), slot, gen);
    v.header->counters.entries_republished.fetch_add(1, std::memory_order_relaxed);
  }
}

// A batch (queue_batch.h) names the slots it holds only by their state
// words: RESERVED(dead) was claimed and never published (never
// acknowledged: back to its free ring); DELETED(dead) was deleted and not yet
// freed. One pass over the slot table, only for a lane that died in a batch.
void return_batch_slots(const SegmentView& v, uint32_t dead) {
  for (uint32_t i = 0; i < v.total_slots(); ++i) {
    const uint64_t st = v.slot(i).state.load(std::memory_order_acquire);
    if (value_of(st) != dead) continue;
    if (state_of(st) == SlotState::kReserved)
      relist_free_slot(v, i);
    else if (state_of(st) == SlotState::kDeleted)
      free_deleted_slot(v, broker_lane(v), i, gen_of(st));
  }
}

// Turns one DELETED(dead) slot of class c FREE and returns it (kNil: none),
// for the caller to list in a free-ring cell.
uint32_t free_one_deleted(const SegmentView& v, uint32_t dead, uint32_t c) {
  const SizeClass& k = v.header->classes[c];
  for (uint32_t i = k.first_slot; i < k.first_slot + k.count; ++i) {
    Slot& s = v.slot(i);
    const uint64_t st = s.state.load(std::memory_order_acquire);
    if (state_of(st) != SlotState::kDeleted || value_of(st) != dead) continue;
    s.state.store(make_state(SlotState::kFree, next_gen(gen_of(st)), 0), std::memory_order_release);
    return i;
  }
  return kNil;
}

}  // namespace

void repair_lane(const SegmentView& v, uint32_t dead, const LaneLiveness& live) {
  if (dead >= kMaxLanes) return;
  Lane& d = v.lanes[dead];
  Counters& counters = v.header->counters;
  // A receiver that died spinning (queue_ops.h: spin_before_sleep) would
  // keep every sender from waking the sleepers; one that died asleep would
  // make every sender wake nobody.
  clear_lane_bit(v.header->spinning, dead);
  clear_lane_bit(v.header->sleeping, dead);
  clear_lane_bit(v.header->journal.durable_sleeping, dead);  // a sync sender killed in its wait
  const uint64_t intent = d.intent.load(std::memory_order_acquire);
  const uint64_t op = d.op.load(std::memory_order_acquire);
  const LaneOp kind = op_kind(op);
  const uint32_t op_s = op_slot(op);
  const uint32_t op_g = op_gen(op);
  const bool op_valid = op_s < v.total_slots();
  bool freed_by_intent = false;  // the kFreeing slot is already in its ring
  uint64_t popped_token = kTombstone;  // FIFO: a group token the lane popped

  const uint64_t batch = d.batch.load(std::memory_order_acquire);
  const uint32_t ring_id = intent ? intent_ring(intent) : 0;
  if (intent != 0 && ring_id == kJournalRing) repair_journal_intent(v, dead, intent, live);
  if (intent != 0 && ring_id <= kNumClasses) {
    const RingView& r = ring_id == kReadyRing ? v.ready : v.free[ring_id - 1];
    const bool pop = intent_pop(intent);
    for (uint64_t p = intent_pos(intent), end = p + intent_count(intent); p < end; ++p) {
      Cell& c = r.cells[p & r.mask];
      if (pop) {
        // Claimed (head moved past p) and published but never released?
        const uint64_t head = r.pos->head.load(std::memory_order_acquire);
        if (head > p && c.seq.load(std::memory_order_acquire) == p + 1 &&
            !other_lane_covers(v, ring_id, true, p, dead, live)) {
          const uint64_t value = c.data.load(std::memory_order_relaxed);
          c.seq.store(p + r.mask + 1, std::memory_order_release);
          counters.cells_released.fetch_add(1, std::memory_order_relaxed);
          if (ring_id == kReadyRing && v.header->fifo) {
            popped_token = value;  // a group's token: fifo_repair_lane gives the group a new one
          } else if (ring_id == kReadyRing) {
            // Unless op already names it (it is handled below), put it back;
            // a message the lane leased before it died is LEASED, not put back.
            if (value != kTombstone && entry_slot(value) < v.total_slots() &&
                !(kind == LaneOp::kLeasing && op_s == entry_slot(value)))
              republish_if_visible(v, entry_slot(value), entry_gen(value));
          } else if (value < v.total_slots() && !(kind == LaneOp::kSending && op_s == value) &&
                     state_of(v.slot(uint32_t(value)).state.load(std::memory_order_acquire)) ==
                         SlotState::kFree) {
            // Not yet reserved. A slot a batch reserved (RESERVED(dead))
            // is returned by the slot scan below.
            relist_free_slot(v, uint32_t(value));
          }
        }
        continue;
      }
      const uint64_t tail = r.pos->tail.load(std::memory_order_acquire);
      const uint64_t seq = c.seq.load(std::memory_order_acquire);
      if (batch & kBatchCellsWritten) {
        // The lane's batch claim succeeded and wrote every cell: publish
        // what it did not, as it would have (a freed slot turns FREE first).
        if (seq != p) continue;
        const uint64_t value = c.data.load(std::memory_order_relaxed);
        if (ring_id != kReadyRing && value < v.total_slots() && v.class_of(uint32_t(value)) == ring_id - 1) {
          Slot& s = v.slot(uint32_t(value));
          const uint64_t st = s.state.load(std::memory_order_acquire);
          if (state_of(st) == SlotState::kDeleted && value_of(st) == dead)
            s.state.store(make_state(SlotState::kFree, next_gen(gen_of(st)), 0), std::memory_order_release);
        }
        // A ready entry whose slot is still RESERVED is stale by the time
        // the slot scan relists it (under a new generation).
        c.seq.store(p + 1, std::memory_order_release);
        (ring_id == kReadyRing ? counters.entries_republished : counters.slots_reclaimed)
            .fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      const bool freeing_here = kind == LaneOp::kFreeing && op_valid && ring_id != kReadyRing &&
                                v.class_of(op_s) == ring_id - 1;
      if (seq == p && tail > p && !other_lane_covers(v, ring_id, false, p, dead, live)) {
        // Claimed, never published: everyone behind it waits. Publish.
        uint32_t deleted = kNil;
        if (freeing_here) {
          c.data.store(op_s, std::memory_order_relaxed);
          freed_by_intent = true;
        } else if (ring_id != kReadyRing && (batch & kBatchHoldsSlots) &&
                   (deleted = free_one_deleted(v, dead, ring_id - 1)) != kNil) {
          // A delete batch claimed free-ring cells and died before writing
          // them. A tombstone would take a cell a slot needs (the ring has
          // one per slot): list one of the batch's slots there instead.
          c.data.store(deleted, std::memory_order_relaxed);
          counters.slots_reclaimed.fetch_add(1, std::memory_order_relaxed);
        } else {
          c.data.store(kTombstone, std::memory_order_relaxed);
          counters.cells_voided.fetch_add(1, std::memory_order_relaxed);
        }
        c.seq.store(p + 1, std::memory_order_release);
      } else if (freeing_here) {
        if (seq == p + 1) {
          freed_by_intent = c.data.load(std::memory_order_relaxed) == op_s;
        } else if (seq != p) {
          // Published and consumed since. If it was our slot, a producer
          // took it: it names the slot in its op, or has moved it past FREE.
          const uint64_t st = v.slot(op_s).state.load(std::memory_order_acquire);
          freed_by_intent = other_lane_sending(v, op_s, dead) ||
                            state_of(v.slot(op_s).state.load(std::memory_order_acquire)) !=
                                SlotState::kFree ||
                            gen_of(st) != op_g;
        }
      }
    }
  }
  d.intent.store(0, std::memory_order_release);

  const bool fifo = v.header->fifo != 0;
  if (fifo) fifo_repair_lane(v, dead, popped_token);  // locks, appends, unlinks, tokens
  if (op_valid && kind != LaneOp::kNone && (!fifo || kind == LaneOp::kFreeing)) {
    Slot& s = v.slot(op_s);
    const uint64_t st = s.state.load(std::memory_order_acquire);
    const SlotState k = state_of(st);
    // FIFO: a slot unlinked from its group (kUnlinking, then kFreeing) is
    // DELETED by the group, not by the lane, until it is FREE.
    const bool deleted_by_dead =
        k == SlotState::kDeleted &&
        (value_of(st) == dead || (value_of(st) == kDeletedInGroup && kind == LaneOp::kFreeing &&
                                  next_gen(gen_of(st)) == op_g));
    switch (kind) {
      case LaneOp::kSending:
        if (k == SlotState::kFree || (k == SlotState::kReserved && value_of(st) == dead))
          relist_free_slot(v, op_s);  // half-written: never visible, never acknowledged
        else if (k == SlotState::kVisible)
          republish_if_visible(v, op_s, gen_of(st));
        break;
      case LaneOp::kLeasing:
      case LaneOp::kPublishing:
        republish_if_visible(v, op_s, op_g);
        break;
      case LaneOp::kDeleting:
        if (deleted_by_dead) free_deleted_slot(v, broker_lane(v), op_s, gen_of(st));
        break;
      case LaneOp::kFreeing:
        if (deleted_by_dead) {
          free_deleted_slot(v, broker_lane(v), op_s, gen_of(st));
        } else if (!freed_by_intent && k == SlotState::kFree && gen_of(st) == op_g) {
          Lane& b = broker_lane(v);
          b.op.store(make_op(LaneOp::kFreeing, op_s, op_g), std::memory_order_relaxed);
          push_free_slot(v, b, op_s);
          counters.slots_reclaimed.fetch_add(1, std::memory_order_relaxed);
        }
        break;
      case LaneOp::kUnlinking:  // FIFO only, handled above
      case LaneOp::kNone:
        break;
    }
  }
  d.op.store(0, std::memory_order_release);
  if (batch & kBatchHoldsSlots) return_batch_slots(v, dead);
  d.batch.store(0, std::memory_order_release);
  counters.lanes_repaired.fetch_add(1, std::memory_order_relaxed);
}

bool broker_delete(const SegmentView& v, uint32_t slot, uint64_t expected_state, bool journal) {
  Lane& b = broker_lane(v);
  const uint32_t g = gen_of(expected_state);
  b.op.store(make_op(LaneOp::kDeleting, slot, g), std::memory_order_relaxed);
  uint64_t expect = expected_state;
  if (v.slot(slot).state.compare_exchange_strong(
          expect, make_state(SlotState::kDeleted, g, kBrokerLane), std::memory_order_acq_rel)) {
    if (journal) journal_after_delete(v, b, slot, v.slot(slot).incarnation.load(std::memory_order_relaxed));
    free_deleted_slot(v, b, slot, g);
    return true;
  }
  b.op.store(0, std::memory_order_relaxed);
  return false;
}

bool retry_deferred_free(const SegmentView& v, uint32_t slot, uint64_t st, uint64_t now, ScanResult* r) {
  if (state_of(st) != SlotState::kDeleted || value_of(st) != kBrokerLane) return false;
  free_deleted_slot(v, broker_lane(v), slot, gen_of(st));
  if (state_of(v.slot(slot).state.load(std::memory_order_acquire)) == SlotState::kDeleted)
    r->next_deadline_ms = std::min(r->next_deadline_ms, now + kDeferredFreeRetryMs);
  return true;
}

ScanResult scan_slots(const SegmentView& v, uint64_t now, const DeadLetterMover& mover) {
  if (v.header->fifo) return fifo_scan(v, now, mover);
  Header* h = v.header;
  Counters& counters = h->counters;
  ScanResult r;
  const uint64_t retention_ms = uint64_t(h->config.retention_s.load(std::memory_order_relaxed)) * 1000;
  const uint32_t max_rc = h->config.max_receive_count.load(std::memory_order_relaxed);
  const bool redrive = max_rc != 0 && h->config.dlq_uid.load(std::memory_order_relaxed) != 0;
  Lane& b = broker_lane(v);
  for (uint32_t i = 0; i < v.total_slots(); ++i) {
    Slot& s = v.slot(i);
    uint64_t st = s.state.load(std::memory_order_acquire);
    const SlotState k = state_of(st);
    if (retry_deferred_free(v, i, st, now, &r)) continue;
    if (k != SlotState::kVisible && k != SlotState::kLeased && k != SlotState::kDelayed) continue;
    const uint32_t g = gen_of(st);

    const uint64_t expires = s.sent_clock_ms.load(std::memory_order_relaxed) + retention_ms;
    if (expires <= now) {
      if (broker_delete(v, i, st, true)) counters.retention_deleted.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    r.next_deadline_ms = std::min(r.next_deadline_ms, expires);

    if (k == SlotState::kVisible) {
      ++r.visible;
      continue;
    }
    const uint64_t deadline = value_of(st);
    if (deadline > now) {
      ++(k == SlotState::kLeased ? r.not_visible : r.delayed);
      r.next_deadline_ms = std::min(r.next_deadline_ms, deadline);
      continue;
    }
    const bool due_for_dlq = k == SlotState::kLeased && redrive &&
                             s.receive_count.load(std::memory_order_relaxed) >= max_rc;
    if (due_for_dlq && !mover) {
      // A pass that only counts (attributes, stats): leave the move to the
      // timer's pass rather than make the message visible once more.
      ++r.not_visible;
      r.next_deadline_ms = now;
      continue;
    }
    if (due_for_dlq) {
      // Claim it under a new generation first, so a late delete with the old
      // handle cannot race the copy; if the broker dies mid-move the claim
      // simply expires and the move is tried again (at-least-once).
      const uint64_t claimed = make_state(SlotState::kLeased, next_gen(g), now + kDeadLetterClaimMs);
      if (!s.state.compare_exchange_strong(st, claimed, std::memory_order_acq_rel)) continue;
      if (mover(i)) {
        broker_delete(v, i, claimed, true);
        counters.dlq_moved.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      st = claimed;  // no dead-letter queue to take it: make it visible again
    }
    const uint32_t vg = gen_of(st);
    b.op.store(make_op(LaneOp::kPublishing, i, vg), std::memory_order_relaxed);
    if (s.state.compare_exchange_strong(st, make_state(SlotState::kVisible, vg, 0),
                                        std::memory_order_acq_rel)) {
      publish_visible(v, b, i, vg);
      (k == SlotState::kLeased ? counters.leases_expired : counters.delays_released)
          .fetch_add(1, std::memory_order_relaxed);
      ++r.visible;
    } else {
      b.op.store(0, std::memory_order_relaxed);
    }
  }
  counters.approx_visible.store(r.visible, std::memory_order_relaxed);
  counters.approx_not_visible.store(r.not_visible, std::memory_order_relaxed);
  counters.approx_delayed.store(r.delayed, std::memory_order_relaxed);
  return r;
}

uint64_t activity_fingerprint(const SegmentView& v) {
  uint64_t h = v.header->visibility_changes.load(std::memory_order_acquire);
  auto mix = [&](uint64_t x) { h = (h ^ x) * 0x100000001B3ULL + 0x9E3779B97F4A7C15ULL; };
  mix(v.header->counters.frees_handed_over.load(std::memory_order_acquire));  // a slot for the scan
  mix(v.ready.pos->tail.load(std::memory_order_acquire));
  mix(v.ready.pos->head.load(std::memory_order_acquire));
  for (const RingView& r : v.free) {
    mix(r.pos->tail.load(std::memory_order_acquire));
    mix(r.pos->head.load(std::memory_order_acquire));
  }
  return h;
}

uint64_t purge_slots(const SegmentView& v) {
  if (v.header->fifo) return fifo_purge(v);
  uint64_t n = 0;
  for (uint32_t i = 0; i < v.total_slots(); ++i) {
    Slot& s = v.slot(i);
    uint64_t st = s.state.load(std::memory_order_acquire);
    const SlotState k = state_of(st);
    if (k != SlotState::kVisible && k != SlotState::kLeased && k != SlotState::kDelayed) continue;
    n += broker_delete(v, i, st) ? 1 : 0;
  }
  v.header->counters.purged.fetch_add(n, std::memory_order_relaxed);
  return n;
}

void repair_lanes(const SegmentView& v, const uint32_t* dead, size_t n, const LaneLiveness& live) {
  const auto in_pop = [&](uint32_t lane) {
    if (lane >= kMaxLanes) return false;
    const uint64_t intent = v.lanes[lane].intent.load(std::memory_order_acquire);
    return intent != 0 && intent_pop(intent);
  };
  std::vector<uint32_t> order(dead, dead + n);
  std::stable_partition(order.begin(), order.end(), in_pop);
  for (uint32_t lane : order) repair_lane(v, lane, live);
}

}  // namespace shmq::shm
