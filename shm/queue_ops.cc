#include "shm/queue_ops.h"

#include <immintrin.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cstring>

#include "shm/crash_point.h"
#include "shm/futex.h"
#include "shm/journal_ring.h"
#include "shm/prefetch.h"
#include "shm/ring.h"
#include "shm/validation.h"

namespace shmq::shm {
Status expired_handle() {
  return Status("InvalidParameterValue",
                "Value for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.");
}

Status not_available_for_change() {
  return Status("InvalidParameterValue",
                "Value for parameter ReceiptHandle is invalid. Reason: Message does not exist or is "
                "not available for visibility timeout change.");
}

Status check_visibility_cap(uint64_t lease_start_ms, uint64_t now_ms, uint64_t visibility_ms) {
  const uint64_t elapsed_s = now_ms > lease_start_ms ? (now_ms - lease_start_ms) / 1000 : 0;
  if (elapsed_s + visibility_ms / 1000 <= uint64_t(kMaxVisibilityTimeout)) return Status::OK();
  return Status("InvalidParameterValue",
                "Value " + std::to_string(visibility_ms / 1000) +
                    " for parameter VisibilityTimeout is invalid. Reason: Total "
                    "VisibilityTimeout for the message is beyond the limit [43200 seconds]");
}

namespace {

// A sleeping receiver's futex_wait on ready_futex returns (or does not start).
void wake_sleepers(Header* h) {
  h->ready_futex.fetch_add(1, std::memory_order_seq_cst);
  futex_wake_all(&h->ready_futex);
}

}  // namespace

bool wake_stranded_receivers(const SegmentView& v) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (ring_size(v.ready) == 0 || !receivers_sleep(v.header)) return false;
  wake_sleepers(v.header);
  return true;
}

void notify_receivers(Header* h) {
  // Pairs with the receiver's sleeping bit, set before its last look at the
  // ring (Dekker): either it sees our entry or we see its bit.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (receivers_sleep(h) && !receivers_spin(h)) wake_sleepers(h);
}

void publish_visible(const SegmentView& v, Lane& lane, uint32_t slot, uint32_t gen) {
  lane.op.store(make_op(LaneOp::kPublishing, slot, gen), std::memory_order_relaxed);
  // The ring holds twice as many cells as there are slots, so a push fails
  // only on a cell a receiver claimed a lap ago and has not released (as on
  // a free ring, queue_ops.h: CellWait) or behind a pile of stale entries.
  // Wait a little for the first, as a parked message waits a broker tick.
  bool pushed = false;
  int waits = 0;
  do {
    pushed = ring_push(v.ready, lane, make_entry(slot, gen), [&] { lane.op.store(0, std::memory_order_relaxed); });
  } while (!pushed && brief_wait(&waits));
  if (!pushed) {
    // Park the message as due-now DELAYED: the broker's timer publishes it
    // on its next tick.
    v.header->counters.ready_parked.fetch_add(1, std::memory_order_relaxed);
    Slot& s = v.slot(slot);
    uint64_t expect = make_state(SlotState::kVisible, gen, 0);
    s.state.compare_exchange_strong(expect,
                                    make_state(SlotState::kDelayed, gen, queue_clock_ms(v.header)),
                                    std::memory_order_acq_rel);
    lane.op.store(0, std::memory_order_relaxed);
    return;
  }
  notify_receivers(v.header);
}

void free_deleted_slot(const SegmentView& v, Lane& lane, uint32_t slot, uint32_t deleted_gen) {
  uint32_t g = next_gen(deleted_gen);
  lane.op.store(make_op(LaneOp::kFreeing, slot, g), std::memory_order_relaxed);
  SHMQ_CRASH_POINT();
  v.slot(slot).state.store(make_state(SlotState::kFree, g, 0), std::memory_order_release);
  SHMQ_CRASH_POINT();
  push_free_slot(v, lane, slot);
}

namespace {

// Try n (from 1) of a wait for another process's step: a lane that runs
// finishes its step within nanoseconds, so the first kSpinTries spin; one
// that was preempted needs the CPU, so later tries yield it.
constexpr int kSpinTries = 4;
void spin_or_yield(int n) {
  if (n <= kSpinTries) {
    for (int i = 0; i < 32; ++i) _mm_pause();
  } else {
    sched_yield();
  }
}

}  // namespace

void hand_free_to_broker(const SegmentView& v, uint32_t slot) {
  Slot& s = v.slot(slot);
  s.state.store(make_state(SlotState::kDeleted, gen_of(s.state.load(std::memory_order_relaxed)), kBrokerLane),
                std::memory_order_release);
  // The broker's own deferrals too: a scan that deferred asks for no retry by itself.
  v.header->counters.frees_handed_over.fetch_add(1, std::memory_order_release);
}

bool CellWait::wait() {
  if (tries_++ == 0) counters_.free_push_waits.fetch_add(1, std::memory_order_relaxed);
  if (tries_ <= 64) {
    spin_or_yield(tries_);
    return true;
  }
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const uint64_t ns = uint64_t(now.tv_sec) * 1000000000u + uint64_t(now.tv_nsec);
  if (deadline_ns_ == 0) deadline_ns_ = ns + patience_ms_ * 1000000u;
  if (ns > deadline_ns_) return false;
  const timespec nap{0, 50 * 1000};
  nanosleep(&nap, nullptr);
  return true;
}

namespace {

// push_free_slot after its first try failed: out of line, so the delete's
// hot path stays one inlined ring_push.
[[gnu::noinline, gnu::cold]] void wait_to_push_free_slot(const SegmentView& v, Lane& lane, uint32_t slot) {
  const RingView& r = v.free[v.class_of(slot)];
  CellWait w(v, lane);
  do {
    if (!w.wait()) {
      hand_free_to_broker(v, slot);
      lane.op.store(0, std::memory_order_relaxed);
      return;
    }
  } while (!ring_push(r, lane, slot, [&] { lane.op.store(0, std::memory_order_relaxed); }));
}

}  // namespace

void push_free_slot(const SegmentView& v, Lane& lane, uint32_t slot) {
  if (!ring_push(v.free[v.class_of(slot)], lane, slot, [&] { lane.op.store(0, std::memory_order_relaxed); }))
    wait_to_push_free_slot(v, lane, slot);
}

bool brief_wait(int* waits) {
  if (*waits >= kPushWaits) return false;
  spin_or_yield(++*waits);
  return true;
}

bool wait_for_push(const RingView& r, int* waits) { return ring_size(r) != 0 && brief_wait(waits); }

Status claim_slot(const SegmentView& v, Lane& lane, size_t need, uint32_t* slot_out) {
  Header* h = v.header;
  uint64_t value = 0;
  bool got = false;
  auto record = [&](uint64_t s) {
    lane.op.store(make_op(LaneOp::kSending, uint32_t(s), 0), std::memory_order_relaxed);
  };
  int waits = 0;
  for (uint32_t c = 0; c < kNumClasses && !got; ++c) {
    if (h->classes[c].payload_capacity < need) continue;
    do {
      // A tombstone (a cell the broker voided after a death) is skipped.
      while ((got = ring_pop(v.free[c], lane, &value, record)) && value == kTombstone)
        lane.op.store(0, std::memory_order_relaxed);
    } while (!got && wait_for_push(v.free[c], &waits));
  }
  if (!got)
    return Status("OverLimit", "The queue is full: no free slot can hold a message of " +
                                   std::to_string(need) +
                                   " bytes (a queue holds a fixed number of messages per size class: "
                                   "the broker's --slots).");
  const uint32_t s = uint32_t(value);
  if (s >= v.total_slots() || v.payload_capacity(s) < need) {
    lane.op.store(0, std::memory_order_relaxed);  // a corrupt ring: drop the index
    return Status("InternalError", "the queue segment's free ring is corrupt");
  }
  Slot& slot = v.slot(s);
  const uint32_t g = gen_of(slot.state.load(std::memory_order_acquire));
  SHMQ_CRASH_POINT();
  slot.state.store(make_state(SlotState::kReserved, g, lane_index(v, lane)), std::memory_order_relaxed);
  SHMQ_CRASH_POINT();
  slot.incarnation.store(slot.incarnation.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  *slot_out = s;
  return Status::OK();
}

uint64_t write_message(const SegmentView& v, uint32_t s, uint32_t prefix, const SendInput& in) {
  Header* h = v.header;
  Slot& slot = v.slot(s);
  char* p = v.payload(s) + prefix;
  if (in.attributes_size) {
    if (in.raw_attributes)
      std::memcpy(p, in.raw_attributes, in.attributes_size);
    else
      encode_attributes(in.attributes, in.system, p);
  }
  SHMQ_CRASH_POINT();
#ifdef SHMQ_CRASH_POINTS
  std::memcpy(p + in.attributes_size, in.body.data(), in.body.size() / 2);
  SHMQ_CRASH_POINT();  // half a body written
  std::memcpy(p + in.attributes_size + in.body.size() / 2, in.body.data() + in.body.size() / 2,
              in.body.size() - in.body.size() / 2);
#else
  std::memcpy(p + in.attributes_size, in.body.data(), in.body.size());
#endif
  const uint64_t now = queue_clock_ms(h);
  slot.attrs_len.store(uint32_t(in.attributes_size), std::memory_order_relaxed);
  slot.body_len.store(uint32_t(in.body.size()), std::memory_order_relaxed);
  slot.sent_clock_ms.store(in.sent_clock_ms ? in.sent_clock_ms : now, std::memory_order_relaxed);
  slot.sent_epoch_ms.store(in.sent_epoch_ms ? in.sent_epoch_ms : epoch_ms(h, now), std::memory_order_relaxed);
  slot.receive_count.store(in.initial_receive_count, std::memory_order_relaxed);
  slot.sender_uid.store(in.sender_uid, std::memory_order_relaxed);
  slot.first_receive_epoch_ms.store(0, std::memory_order_relaxed);
  slot.lease_start_ms.store(0, std::memory_order_relaxed);
  SHMQ_CRASH_POINT();
  return now;
}

void release_reserved_slot(const SegmentView& v, Lane& lane, uint32_t s) {
  Slot& slot = v.slot(s);
  const uint32_t g = next_gen(gen_of(slot.state.load(std::memory_order_acquire)));
  lane.op.store(make_op(LaneOp::kFreeing, s, g), std::memory_order_relaxed);
  slot.state.store(make_state(SlotState::kFree, g, 0), std::memory_order_release);
  push_free_slot(v, lane, s);
}

Status send_message(const SegmentView& v, Lane& lane, const SendInput& in, SendOutput* out) {
  if (Status j = journal_precheck(v); !j.ok()) return j;
  uint32_t s = 0;
  if (Status st = claim_slot(v, lane, in.attributes_size + in.body.size(), &s); !st.ok()) return st;
  Slot& slot = v.slot(s);
  const uint32_t g = gen_of(slot.state.load(std::memory_order_relaxed));
  const uint64_t now = write_message(v, s, 0, in);
  const uint64_t inc = slot.incarnation.load(std::memory_order_relaxed);
  if (out) *out = SendOutput{s, inc};

  if (in.delay_ms > 0) {
    slot.state.store(make_state(SlotState::kDelayed, g, now + in.delay_ms), std::memory_order_release);
    SHMQ_CRASH_POINT();
    lane.op.store(0, std::memory_order_relaxed);
    return journal_after_send(v, lane, s, inc, in.durable_wait);
  }
  slot.state.store(make_state(SlotState::kVisible, g, 0), std::memory_order_release);
  SHMQ_CRASH_POINT();
  publish_visible(v, lane, s, g);
  return journal_after_send(v, lane, s, inc, in.durable_wait);
}

size_t receive_messages(const SegmentView& v, Lane& lane, uint64_t visibility_ms, size_t max,
                        Delivery* out) {
  Header* h = v.header;
  size_t n = 0;
  uint64_t now = 0;
  struct {
    uint32_t mask = 0;  // deliveries leased with visibility 0, published again below
  } release_zero;
  // Leases the message an entry names while the ready-ring cell still holds
  // the entry: a consumer killed before the lease CAS leaves the entry in a
  // claimed, unreleased cell, which the repair republishes.
  auto lease = [&](uint64_t e) {
    const uint32_t s = entry_slot(e);
    const uint32_t g = entry_gen(e);
    if (e == kTombstone || s >= v.total_slots()) return;
    Slot& slot = v.slot(s);
    uint64_t st = slot.state.load(std::memory_order_acquire);
    if (state_of(st) != SlotState::kVisible || gen_of(st) != g) return;  // a stale entry
    if (now == 0) now = queue_clock_ms(h);
    SHMQ_CRASH_POINT();
    const uint32_t ng = next_gen(g);
    const bool leased = slot.state.compare_exchange_strong(
        st, make_state(SlotState::kLeased, ng, now + visibility_ms), std::memory_order_acq_rel);
    SHMQ_CRASH_POINT();
    if (!leased) return;
    // The delete that follows pushes the slot onto its free ring: fetch that
    // cell (cold, or last written by the producer's pop) now.
    if (n == 0) prefetch_for_write(ring_tail_cell(v.free[v.class_of(s)]));

    const uint32_t attrs_len = slot.attrs_len.load(std::memory_order_relaxed);
    const uint32_t body_len = slot.body_len.load(std::memory_order_relaxed);
    if (uint64_t(attrs_len) + body_len > v.payload_capacity(s)) return;  // corrupt: skip
    // The lease makes this receiver the only writer of the receive fields,
    // so plain stores do (a locked RMW each would cost as much as the lease
    // CAS). Only a receiver stalled past its whole lease could race the next
    // one here, and then an approximate count or first time is off by one.
    const uint32_t count = slot.receive_count.load(std::memory_order_relaxed) + 1;
    slot.receive_count.store(count, std::memory_order_relaxed);
    uint64_t first = slot.first_receive_epoch_ms.load(std::memory_order_relaxed);
    if (first == 0) {
      first = epoch_ms(h, now);
      slot.first_receive_epoch_ms.store(first, std::memory_order_relaxed);
    }
    slot.lease_start_ms.store(now, std::memory_order_relaxed);
    if (visibility_ms == 0) release_zero.mask |= 1u << n;
    const char* p = v.payload(s);
    out[n++] = Delivery{s,
                        ng,
                        slot.incarnation.load(std::memory_order_relaxed),
                        p + attrs_len,
                        body_len,
                        p,
                        attrs_len,
                        count,
                        slot.sent_epoch_ms.load(std::memory_order_relaxed),
                        first,
                        slot.sender_uid.load(std::memory_order_relaxed)};
  };
  // The first entry's slot and payload lines come from the producer's core:
  // fetch them while the claim runs, so the caller's read of the body finds
  // them (prefetch.h).
  if (uint64_t e = 0; max > 0 && ring_peek(v.ready, &e)) prefetch_to_receive(v, entry_slot(e));
  // One claim takes as many published entries as are wanted; entries that
  // turn out stale are skipped, so claim again until max or the ring is empty.
  while (n < max) {
    uint64_t e[kMaxBatchClaim];
    const size_t want = std::min<size_t>(max - n, kMaxBatchClaim);
    if (ring_pop_batch(v.ready, lane, e, want, [&](const uint64_t* es, size_t m) {
          // A batch: every slot and payload line in flight before the
          // first lease CAS waits for its own.
          for (size_t i = 1; i < m; ++i) prefetch_to_receive(v, entry_slot(es[i]));
          for (size_t i = 0; i < m; ++i) lease(es[i]);
        }) == 0)
      break;
  }
  // After the loop, so this call cannot receive the same message twice.
  for (size_t i = 0; i < n; ++i) {
    if (!(release_zero.mask & (1u << i))) continue;
    Slot& slot = v.slot(out[i].slot);
    uint64_t st = make_state(SlotState::kLeased, out[i].gen, now);
    const uint32_t max_rc = h->config.max_receive_count.load(std::memory_order_relaxed);
    if (max_rc != 0 && out[i].receive_count >= max_rc) continue;  // the broker moves it
    lane.op.store(make_op(LaneOp::kPublishing, out[i].slot, out[i].gen), std::memory_order_relaxed);
    if (slot.state.compare_exchange_strong(st, make_state(SlotState::kVisible, out[i].gen, 0),
                                           std::memory_order_acq_rel))
      publish_visible(v, lane, out[i].slot, out[i].gen);
    else
      lane.op.store(0, std::memory_order_relaxed);
  }
  return n;
}

Status mark_deleted(const SegmentView& v, Lane& lane, const HandleRef& h, bool* deleted) {
  *deleted = false;
  if (h.slot >= v.total_slots())
    return Status("ReceiptHandleIsInvalid", "The input receipt handle is not a valid receipt handle.");
  Slot& slot = v.slot(h.slot);
  const bool fifo = v.header->fifo != 0;
  for (;;) {
    uint64_t st = slot.state.load(std::memory_order_acquire);
    const SlotState k = state_of(st);
    if (slot.incarnation.load(std::memory_order_acquire) != h.incarnation || !live_message(k))
      return Status::OK();  // already deleted (or its slot reused): as SQS, not an error
    if (gen_of(st) != h.gen) return expired_handle();  // another receive leased it since
    if (fifo && (k != SlotState::kLeased || value_of(st) <= queue_clock_ms(v.header)))
      return expired_handle();
    const uint64_t marked = make_state(SlotState::kDeleted, h.gen, lane_index(v, lane));
    if (slot.state.compare_exchange_strong(st, marked, std::memory_order_acq_rel)) {
      *deleted = true;
      return Status::OK();
    }
  }
}

Status delete_message(const SegmentView& v, Lane& lane, const HandleRef& h) {
  if (h.slot >= v.total_slots())
    return Status("ReceiptHandleIsInvalid", "The input receipt handle is not a valid receipt handle.");
  lane.op.store(make_op(LaneOp::kDeleting, h.slot, h.gen), std::memory_order_relaxed);
  SHMQ_CRASH_POINT();
  bool deleted = false;
  Status s = mark_deleted(v, lane, h, &deleted);
  if (!deleted) {
    lane.op.store(0, std::memory_order_relaxed);
    return s;
  }
  SHMQ_CRASH_POINT();
  journal_after_delete(v, lane, h.slot, h.incarnation);
  free_deleted_slot(v, lane, h.slot, h.gen);
  return Status::OK();
}

Status change_visibility(const SegmentView& v, Lane& lane, const HandleRef& h,
                         uint64_t visibility_ms) {
  if (h.slot >= v.total_slots())
    return Status("ReceiptHandleIsInvalid", "The input receipt handle is not a valid receipt handle.");
  Header* hd = v.header;
  Slot& slot = v.slot(h.slot);
  const bool fifo = hd->fifo != 0;
  hd->visibility_changes.fetch_add(1, std::memory_order_release);
  for (;;) {
    uint64_t st = slot.state.load(std::memory_order_acquire);
    const SlotState k = state_of(st);
    if (slot.incarnation.load(std::memory_order_acquire) != h.incarnation ||
        (k != SlotState::kLeased && k != SlotState::kVisible))
      return not_available_for_change();
    if (gen_of(st) != h.gen) return expired_handle();
    const uint64_t now = queue_clock_ms(hd);
    if (k == SlotState::kVisible) {
      // Standard queue, lease expired and nobody received it since: SQS
      // accepts the change; the message is leased again by this handle.
      if (fifo) return expired_handle();
      if (visibility_ms == 0) return Status::OK();
      slot.lease_start_ms.store(now, std::memory_order_relaxed);
      if (slot.state.compare_exchange_strong(
              st, make_state(SlotState::kLeased, h.gen, now + visibility_ms), std::memory_order_acq_rel))
        return Status::OK();
      continue;
    }
    if (fifo && value_of(st) <= now) return expired_handle();
    const uint64_t start = slot.lease_start_ms.load(std::memory_order_relaxed);
    if (Status cap = check_visibility_cap(start, now, visibility_ms); !cap.ok()) return cap;
    const uint32_t max_rc = hd->config.max_receive_count.load(std::memory_order_relaxed);
    const bool to_dlq = max_rc != 0 && slot.receive_count.load(std::memory_order_relaxed) >= max_rc;
    if (visibility_ms == 0 && !to_dlq) {
      lane.op.store(make_op(LaneOp::kPublishing, h.slot, h.gen), std::memory_order_relaxed);
      SHMQ_CRASH_POINT();
      if (slot.state.compare_exchange_strong(st, make_state(SlotState::kVisible, h.gen, 0),
                                             std::memory_order_acq_rel)) {
        SHMQ_CRASH_POINT();
        publish_visible(v, lane, h.slot, h.gen);
        return Status::OK();
      }
      lane.op.store(0, std::memory_order_relaxed);
      continue;
    }
    // A message due for its dead-letter queue is left to the broker's timer.
    if (slot.state.compare_exchange_strong(
            st, make_state(SlotState::kLeased, h.gen, now + visibility_ms), std::memory_order_acq_rel))
      return Status::OK();
  }
}

}  // namespace shmq::shm
