// Batched sends and deletes: the same steps on the slot state machine as
// queue_ops.h, with each ring touched through one batched claim
// (ring_push_batch / ring_pop_batch in ring.h) instead of one CAS per message,
// and one wake-up check (fence + waiters) per batch instead of one per message.
//
// Thread safety: as queue_ops.h. Standard queues only (FIFO sends and
// deletes go through fifo.h one message at a time).
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

}  // namespace shmq::shm
