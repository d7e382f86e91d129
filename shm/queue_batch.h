// Batched sends and deletes: the same steps on the slot state machine as
// queue_ops.h, with each ring touched through one batched claim
// (ring_push_batch / ring_pop_batch in ring.h) instead of one CAS per message,
// and one wake-up check (fence + sleeping bits) per batch instead of one per message.
//
// Thread safety: as queue_ops.h. send_messages / delete_messages serve
// standard queues; FIFO batches (fifo.h: fifo_send_messages,
// fifo_delete_messages) share claim_slots and free_slots.
//
// Crash safety: while a batch holds slots (RESERVED(lane) after their claim,
// DELETED(lane) after their delete CAS) the lane's `batch` word carries
// kBatchHoldsSlots, so the repair (repair.h) finds every such slot by its
// state word; a lane.op names one slot only. Ring cells claimed in a batch are
// named by the intent's range and, once written, by kBatchCellsWritten.
#pragma once

#include <cstddef>

#include "shm/queue_ops.h"

namespace shmq::shm {

// Sends n messages (n <= kMaxBatchClaim). status[i] and out[i] (out may be
// null) tell each message's outcome, as send_message would have; a message
// whose status is not OK was not published (OverLimit: no free slot), except
// for journal errors, which send_message also reports after publishing.
// Free slots are claimed with one claim per size class, the visible messages
// published with one claim on the ready ring. Returns how many were sent.
// REQUIRES: every input validated; a standard queue.
size_t send_messages(const SegmentView& v, Lane& lane, const SendInput* in, size_t n, SendOutput* out,
                     Status* status);

// Deletes n messages (n <= kMaxBatchClaim); status[i] as delete_message's.
// The freed slots go back to their free rings with one claim per class.
// Returns how many returned OK. REQUIRES: a standard queue.
size_t delete_messages(const SegmentView& v, Lane& lane, const HandleRef* h, size_t n, Status* status);

// The two batched slot steps, shared with FIFO batches:
// claim_slots claims a free slot of need[i] bytes for each of n messages
// (n <= kMaxBatchClaim) with one free-ring claim per size class; a class
// that runs short falls back to single claims in larger classes. Each claimed
// slot is left RESERVED(gen, lane) with its incarnation bumped; slots[i] is
// kNil and status[i] OverLimit where nothing was free.
// REQUIRES: lane.batch holds kBatchHoldsSlots (the state words name the slots).
void claim_slots(const SegmentView& v, Lane& lane, const size_t* need, size_t n, uint32_t* slots,
                 Status* status);
// free_slots returns n slots this lane holds as DELETED(lane) to their free
// rings with one claim per class; slot i turns FREE(free_gens[i]) just before
// its cell is published. A cell not yet released is waited for as in
// push_free_slot (queue_ops.h); what patience cannot push is handed to the
// broker (hand_free_to_broker).
// REQUIRES: kBatchHoldsSlots, n <= kMaxBatchClaim.
void free_slots(const SegmentView& v, Lane& lane, const uint32_t* slots, const uint32_t* free_gens, size_t n);

}  // namespace shmq::shm
