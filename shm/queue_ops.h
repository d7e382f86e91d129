// The data plane: send, receive, delete and change visibility as steps on
// the slot state machine (layout.h) and the rings (ring.h). Used by clients
// for every message and by the broker for what its timers do.
//
// Thread safety: every function may run concurrently in any number of
// processes, each through its own lane. A lane is used by one thread at a
// time. No function here allocates, locks or makes a syscall, except
// notify_receivers' futex wake when a receiver sleeps.
//
// Crash safety: each function records in lane.op / lane.intent what it holds
// before the step that would make it unreachable; repair.h finishes or undoes
// whatever a dead lane left, so a process killed at any instruction never
// leaks a slot, never wedges a ring and never publishes half a message.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "shm/layout.h"
#include "shm/ring.h"
#include "shm/segment.h"
#include "shm/validation.h"
#include "shmq/client.h"
#include "shmq/status.h"

namespace shmq::shm {

struct SendInput {
  std::string_view body;
  const MessageAttributes* attributes = nullptr;  // may be null
  SystemAttributes system;                         // AWSTraceHeader (views)
  size_t attributes_size = 0;                      // encoded_attributes_size(attributes, system)
  uint32_t delay_ms = 0;
  uint32_t sender_uid = 0;
  uint64_t sent_epoch_ms = 0;         // 0: now; the broker passes the original on a DLQ move
  uint64_t sent_clock_ms = 0;         // 0: now (queue clock); likewise kept on a DLQ move
  uint32_t initial_receive_count = 0;
  const char* raw_attributes = nullptr;  // already-encoded attributes (DLQ move), or null
  uint64_t* durable_wait = nullptr;      // sync queues: see journal_after_send's wait_end
};

struct SendOutput {
  uint32_t slot = 0;
  uint64_t incarnation = 0;
};

// The steps of a send, shared with FIFO (fifo.h):
// claim_slot pops a free slot that can hold `need` bytes, records it in
// lane.op (kSending) and leaves it RESERVED(gen, lane) with its incarnation
// bumped. OverLimit when none is free.
Status claim_slot(const SegmentView& v, Lane& lane, size_t need, uint32_t* slot);

// After a pop of free ring `r` found nothing: true when a push has claimed
// the head position but not published it yet -- a delete between its two
// steps, most often one the scheduler preempted there -- and *waits allows
// another try, after a short spin (the first half) or a yield of the CPU.
// Without it a send on a queue at its limit answered OverLimit while a slot
// was being freed. Bounded (kPushWaits): a pusher that died there leaves the
// cell to the broker's repair.
inline constexpr int kPushWaits = 8;
bool wait_for_push(const RingView& r, int* waits);
// The wait itself, for any such retry: false once *waits reaches
// kPushWaits; else a short spin (the first four) or a yield, and true.
bool brief_wait(int* waits);

// A push that found its tail cell not yet released: a popper claimed that
// cell a whole lap ago and has not finished (ring.h). A free ring has a cell
// for every slot of its class twice over, so this is the only way its push
// fails -- and it does, under load: when the queue runs full every send pops
// from the small classes' rings, which lap within one preempted popper's
// timeslice. Such a push waits: wait() spins, then yields, then sleeps
// (50 us), and answers false once kCellPatienceMs have passed -- time for the
// broker to repair a popper that died there; only a broker that is down too
// (or a popper stopped by a debugger) outlasts it, and then the free is
// handed to the broker (hand_free_to_broker).
inline constexpr uint64_t kCellPatienceMs = 2000;
// The first wait() of each CellWait counts in counters.free_push_waits.
class CellWait {
 public:
  // The broker's lane has no patience (push_free_slot): it hands over.
  CellWait(const SegmentView& v, const Lane& lane)
      : counters_(v.header->counters), patience_ms_(&lane == &v.lanes[kBrokerLane] ? 0 : kCellPatienceMs) {}
  bool wait();

 private:
  Counters& counters_;
  uint64_t patience_ms_;
  int tries_ = 0;
  uint64_t deadline_ns_ = 0;
};

// Lists FREE slot `slot` in its class's free ring and clears lane.op (which
// names the slot, kFreeing, until the push is published). Waits out a cell
// not yet released (CellWait); when patience runs out the free is handed to
// the broker (hand_free_to_broker) and the op cleared.
//
// The broker's own lane does not wait out the patience: the broker is one
// thread, and the cell may be held by a dead client that only this thread
// can reap. After a short spin and yields it hands the free to itself.
void push_free_slot(const SegmentView& v, Lane& lane, uint32_t slot);
// A free whose push gave up: the slot, which this lane owns and no ring
// lists, turns DELETED(broker lane) -- named by its own state word, off
// every FIFO group list -- and the broker's scans (repair.h:
// retry_deferred_free) free it once the cell is released. Nothing is lost
// for good. Every hand-over (a client's, or the broker's own deferral,
// wherever it frees: scans, repairs, purges) is counted in
// counters.frees_handed_over, which the broker's activity fingerprint
// includes, so an idle queue is scanned for it.
void hand_free_to_broker(const SegmentView& v, uint32_t slot);
// Writes attributes and body at payload offset `prefix` and the slot's
// fields; returns the queue-clock time it stamped.
uint64_t write_message(const SegmentView& v, uint32_t slot, uint32_t prefix, const SendInput& in);
// Returns a RESERVED slot this lane claimed, unpublished, to its free ring.
void release_reserved_slot(const SegmentView& v, Lane& lane, uint32_t slot);

// Writes a message into a free slot and publishes it (or leaves it DELAYED
// for the broker). OverLimit when every slot that could hold it is taken.
// REQUIRES: the input was validated (validation.h) and fits the largest class.
Status send_message(const SegmentView& v, Lane& lane, const SendInput& in, SendOutput* out);

struct Delivery {
  uint32_t slot;
  uint32_t gen;  // the lease's generation, carried by the receipt handle
  uint64_t incarnation;
  const char* body;
  uint32_t body_len;
  const char* attributes;
  uint32_t attributes_len;
  uint32_t receive_count;
  uint64_t sent_epoch_ms;
  uint64_t first_receive_epoch_ms;
  uint32_t sender_uid;
  // FIFO queues (fifo.h); empty / 0 on standard queues.
  const char* group_id = nullptr;
  uint32_t group_len = 0;
  const char* dedup_id = nullptr;
  uint32_t dedup_len = 0;
  uint64_t sequence_number = 0;
};

// Leases up to max visible messages for visibility_ms each; returns how many.
// With visibility_ms 0 the messages stay visible to others (SQS): each is
// leased to read it and count the receive, then published again.
size_t receive_messages(const SegmentView& v, Lane& lane, uint64_t visibility_ms, size_t max,
                        Delivery* out);

// What a receipt handle names; the caller checked it belongs to this queue.
struct HandleRef {
  uint32_t slot;
  uint32_t gen;
  uint64_t incarnation;
};

// Deletes the message. OK also when it is already gone (SQS: deleting twice
// is not an error). InvalidParameterValue ("The receipt handle has expired.")
// when another receive has leased it since; on FIFO queues also when the lease
// expired. ReceiptHandleIsInvalid when the slot index is out of range.
Status delete_message(const SegmentView& v, Lane& lane, const HandleRef& h);

// The delete CAS: LEASED | VISIBLE | DELAYED(h.gen) -> DELETED(h.gen, lane).
// *deleted tells whether this call made it; the status is delete_message's
// answer when it did not. The caller then owns the slot (journal, free).
Status mark_deleted(const SegmentView& v, Lane& lane, const HandleRef& h, bool* deleted);

// The lease now ends visibility_ms from now (0: visible at once).
Status change_visibility(const SegmentView& v, Lane& lane, const HandleRef& h,
                         uint64_t visibility_ms);

// Makes a slot that this lane just turned VISIBLE(gen) reachable: pushes
// (slot, gen) on the ready ring and wakes sleeping receivers.
void publish_visible(const SegmentView& v, Lane& lane, uint32_t slot, uint32_t gen);

// Returns a slot this lane owns as DELETED(deleted_gen, lane) to its free
// ring, as FREE(deleted_gen + 1).
void free_deleted_slot(const SegmentView& v, Lane& lane, uint32_t slot, uint32_t deleted_gen);

// Wakes long-polling receivers if any sleep and none spins. Any process,
// after publishing.
void notify_receivers(Header* h);

// The broker's safety net, once a tick: when entries wait in the ready ring
// while receivers sleep, wakes them regardless of spinners -- a receiver
// stopped (SIGSTOP, a debugger) in its spin keeps its bit set and would
// leave the sleepers to their 100 ms re-check. Returns whether it woke.
bool wake_stranded_receivers(const SegmentView& v);

// Lane i's bit in a set of kMaxLanes bits (Header::sleeping, ::spinning).
// The fence orders the change before the caller's next look at the ring,
// the receiver's half of the Dekker pair whose other half is the fence in
// notify_receivers (a locked RMW already is one on x86; the fence says so
// in C++'s terms).
inline void set_lane_bit(std::atomic<uint64_t>* set, uint32_t i) {
  set[i / 64].fetch_or(uint64_t{1} << (i % 64), std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);
}
inline void clear_lane_bit(std::atomic<uint64_t>* set, uint32_t i) {
  set[i / 64].fetch_and(~(uint64_t{1} << (i % 64)), std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);
}
inline bool any_lane_bit(const std::atomic<uint64_t>* set) {
  for (uint32_t w = 0; w < kMaxLanes / 64; ++w)
    if (set[w].load(std::memory_order_relaxed) != 0) return true;
  return false;
}
// Whether any receiver sleeps on ready_futex, or spins before it would.
inline bool receivers_sleep(const Header* h) { return any_lane_bit(h->sleeping); }
inline bool receivers_spin(const Header* h) { return any_lane_bit(h->spinning); }

// The answers and checks standard and FIFO queues share (fifo.h).
Status expired_handle();            // InvalidParameterValue: "The receipt handle has expired."
Status not_available_for_change();  // InvalidParameterValue: not available for a visibility change
inline bool live_message(SlotState k) {
  return k == SlotState::kVisible || k == SlotState::kLeased || k == SlotState::kDelayed;
}
// ChangeMessageVisibility may not end a lease more than 12 hours after its
// receive (lease_start_ms). Counted in whole seconds, SQS's unit, so a change
// made in the same second as the receive may ask for the full 43200.
// Returns the InvalidParameterValue to answer, or OK.
Status check_visibility_cap(uint64_t lease_start_ms, uint64_t now_ms, uint64_t visibility_ms);

// Index of the lane in v.lanes.
inline uint32_t lane_index(const SegmentView& v, const Lane& lane) {
  return uint32_t(&lane - v.lanes);
}

// A long poll's spin before it sleeps: up to `spins` pauses, calling take()
// (which returns how many messages it got) whenever the ready ring holds an
// entry, with the lane's bit set in h->spinning meanwhile. While any bit is
// set, senders skip the futex wake (a syscall per message when consumers
// sleep): the spinner takes the entry. A spinner that leaves with entries
// still in the ring passes the wake on, with a message or without one (its
// last take lost a race, then senders skipped their wakes for its bit: its
// sleep loop's try takes at most `max`), so none is stranded with the
// sleepers; with several spinners the last one to leave does it (Dekker
// again: our bit cleared, then the ring read; a sender's entry published,
// then the bits read). Returns what take() got.
template <class Take>
size_t spin_before_sleep(const SegmentView& v, const Lane& lane, int spins, Take&& take) {
  const uint32_t i = lane_index(v, lane);
  set_lane_bit(v.header->spinning, i);
  size_t n = 0;
  for (int k = 0; k < spins && n == 0; ++k) {
    _mm_pause();
    if (ring_size(v.ready) > 0) n = take();
  }
  clear_lane_bit(v.header->spinning, i);
  if (ring_size(v.ready) > 0) notify_receivers(v.header);
  return n;
}

}  // namespace shmq::shm
