// FIFO queues: message groups delivered in send order, one lease at a time
// per group, and deduplication.
//
// The unit of dispatch is the group, not the message (DESIGN.md "FIFO
// dispatch"): a group keeps its messages in a linked list of slots in send
// order; the ready ring carries group indices ("tokens"); a receiver pops a
// token, locks the group and leases messages from the head of its list, in
// order, while no other message of the group is leased. Scanning messages and
// leasing "the first whose group is free" would break order, so nothing here
// does.
//
// Locks. Every change to a group (its list, its lease count, its token flag)
// happens under the group's lock, a 64-bit word holding the holder's lane + 1.
// The critical sections are a few dozen instructions and never block on
// anything else. A lane names the lock it is taking (Lane::group_lock) before
// the CAS, so when its client dies the broker finds the lock, finishes the
// section (fifo_recover_group: complete a half-done append, drop deleted
// messages from the head, recount leases, make the group ready again) and
// releases it. The same holds for the table-insert lock and the dedup-bucket
// locks (Lane::aux_lock). Lock order: insert lock, then a group lock; a dedup
// bucket lock is never held with another lock.
//
// Order argument. A message's place in its group is fixed by the append,
// under the group's lock; receivers take only the list's head run of visible
// messages, and only when no message of the group is leased; a lease that
// ends makes its messages visible in place. So within a group, delivery order
// is list order is send order, and leases are exclusive per group.
//
// Lost wakeups cannot happen: making a group ready (push its token) is
// decided under its lock at the end of every change (fifo_make_ready), so the
// last of a producer's append and a consumer's release sees the other's
// effect. A token that was lost anyway (a push into a full ring, a consumer
// killed between pop and lock) is restored by the broker's maintenance pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "shm/layout.h"
#include "shm/queue_ops.h"
#include "shm/repair.h"
#include "shm/segment.h"
#include "shmq/status.h"

namespace shmq::shm {

inline constexpr uint64_t kDedupWindowMs = 5 * 60 * 1000;

struct FifoSendOutput {
  uint32_t slot = 0;
  uint64_t incarnation = 0;
  uint64_t sequence_number = 0;
  bool duplicate = false;  // an earlier message with the same dedup id answered
};

// SendMessage on a FIFO queue: deduplicates by dedup_id (empty: no check,
// used by the broker's dead-letter moves), appends to the group's list,
// assigns the SequenceNumber and makes the group ready if it was idle.
// REQUIRES: group_id 1..128 bytes, dedup_id <= 128 bytes; input validated.
Status fifo_send(const SegmentView& v, Lane& lane, const SendInput& in, std::string_view group_id,
                 std::string_view dedup_id, FifoSendOutput* out);

// One entry of a FIFO send batch: fifo_send's arguments.
struct FifoSendEntry {
  SendInput in;
  std::string_view group_id;
  std::string_view dedup_id;
};

// SendMessageBatch on a FIFO queue: n entries (n <= kMaxBatchClaim), each with
// exactly fifo_send's outcome in status[i] / out[i] (out may be null): a
// duplicate (of an earlier send, or of an earlier entry of this batch) is
// answered with the original; OverLimit per entry (no free slot, too many
// groups); the entries of one group are appended in batch order, so order
// within a group is send order, including within the batch. An entry whose
// in-batch original failed fails the same way; SequenceNumbers increase in
// batch order, across groups too, as for a loop of fifo_send. Shared-memory
// steps per batch: one free-ring claim per size class, dedup entries outside
// every lock, one hold of a group's lock and one fetch_add of the
// SequenceNumber counter per run of consecutive entries of that group, one
// token push per run that makes its group ready, one wake-up check.
// Returns how many entries were answered OK.
// Crash safety: the claimed slots are RESERVED(lane) under kBatchHoldsSlots,
// the pending dedup entries name the lane under kBatchDedupPending, and the
// slot being appended is named by lane.op while its group's lock is held, so
// fifo_repair_lane + repair_lane finish or undo a batch killed anywhere.
// REQUIRES: every entry validated as fifo_send's.
size_t fifo_send_messages(const SegmentView& v, Lane& lane, const FifoSendEntry* e, size_t n,
                          FifoSendOutput* out, Status* status);

// ReceiveMessage: leases up to max messages, group by group, each group's
// from the head of its list. visibility_ms 0 delivers without a lease.
size_t fifo_receive(const SegmentView& v, Lane& lane, uint64_t visibility_ms, size_t max,
                    Delivery* out);

// DeleteMessage: only a holder of an unexpired lease may delete
// (InvalidParameterValue "The receipt handle has expired." otherwise).
// fifo_delete_messages with one handle: the slots freed go back to their
// free rings after the group's lock is released.
Status fifo_delete(const SegmentView& v, Lane& lane, const HandleRef& h);

// DeleteMessageBatch: status[i] as fifo_delete's for h[i] (n <= kMaxBatchClaim).
// One hold of each distinct group's lock for its handles; the slots taken
// off the lists go back to their free rings with one claim per class (they
// are DELETED(lane) under kBatchHoldsSlots meanwhile); one wake-up check.
// Returns how many returned OK.
size_t fifo_delete_messages(const SegmentView& v, Lane& lane, const HandleRef* h, size_t n, Status* status);

// ChangeMessageVisibility for a leased message; 0 returns it to its group's
// head run (the group is dispatched again once none of it is leased).
Status fifo_change_visibility(const SegmentView& v, Lane& lane, const HandleRef& h,
                              uint64_t visibility_ms);

// Reads a message this handle still leases (gen and incarnation match, lease
// unexpired) into *out without changing it: a retried receive
// (ReceiveRequestAttemptId) returns the same messages. False otherwise.
bool fifo_peek(const SegmentView& v, const HandleRef& h, Delivery* out);

// --- broker only, through its lane -----------------------------------------

// The timer pass: expired leases, due delays, retention and dead-letter moves,
// each under the group's lock; refreshes the approximate counts. With no
// mover the pass only counts.
ScanResult fifo_scan(const SegmentView& v, uint64_t now, const DeadLetterMover& mover);

// Retires groups with no messages (their table entries become reusable) and
// pushes a token for every ready group that has none. Run about once a second.
void fifo_maintain(const SegmentView& v);

// PurgeQueue: deletes every message of every group. Returns how many.
uint64_t fifo_purge(const SegmentView& v);

// Finishes whatever FIFO step lane `dead` was in: its locks, its pending
// dedup entry, its half-done append or unlink, a token it popped.
// Called by repair_lane for FIFO segments, after the ring intent is settled.
void fifo_repair_lane(const SegmentView& v, uint32_t dead, uint64_t popped_token);

// The group id, dedup id and sequence number of a FIFO message in slot s
// (for the broker's dead-letter move). REQUIRES: the caller holds the message.
struct FifoIds {
  std::string_view group_id;
  std::string_view dedup_id;
  uint64_t sequence_number = 0;
  uint32_t prefix = 0;  // bytes before the attributes
};
FifoIds fifo_ids(const SegmentView& v, uint32_t s);

// --- rebuilding a FIFO queue from the journal (shm/restore.h) ---------------

// The dedup table's key of a dedup id: scope is the group id under
// DeduplicationScope=messageGroup, else empty. Any process.
struct FifoDedupKey {
  uint64_t hi = 0, lo = 0;
};
FifoDedupKey fifo_dedup_key(std::string_view scope, std::string_view id);
// The group table's probe start and key for a group id.
uint64_t fifo_group_hash(std::string_view id);
uint64_t fifo_group_key(uint64_t hash);

// A dedup entry to put back: its key, when it was first seen and the
// message that answers a duplicate.
struct RestoredDedup {
  uint64_t key_hi = 0, key_lo = 0;
  uint32_t slot = 0;
  uint64_t incarnation = 0;
  uint64_t sequence_number = 0;
  uint64_t seen_epoch_ms = 0;
};

// Broker, on a segment it just formatted that nobody maps (restore.h): links
// the restored messages (their FifoMeta and ids already written, state
// VISIBLE or DELAYED) into their groups' lists in SequenceNumber order,
// gives each group whose head is visible a token (groups ordered by their
// oldest message), and sets the queue's SequenceNumber counter to
// last_sequence. Errors: more groups than the table holds.
struct RestoredFifoMessage {
  uint32_t slot = 0;
  uint64_t sequence_number = 0;
  std::string_view group_id;
};
Status fifo_restore_groups(const SegmentView& v, std::vector<RestoredFifoMessage> messages,
                           uint64_t last_sequence);
// Puts the entries seen less than kDedupWindowMs ago back into the dedup
// table (the newest per key; a full bucket keeps its newest 7).
void fifo_restore_dedup(const SegmentView& v, const std::vector<RestoredDedup>& entries);

}  // namespace shmq::shm
