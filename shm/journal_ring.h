// The journal ring: how a durable queue's sends and deletes reach the
// broker's journal thread without a syscall (DESIGN.md section 4).
//
// A sender publishes its message as always, then pushes (SEND, slot,
// incarnation) here; a deleter pushes (DELETE, slot, incarnation) after its
// delete CAS. The broker's journal thread is the only consumer: it copies
// the slot (checking afterwards, seqlock style, that the slot still holds
// that incarnation, so a message deleted and recycled meanwhile is dropped,
// not journaled with someone else's body), appends the record, and once
// the record is on disk releases the cell and advances head. So head is the
// durable position: a `sync` sender whose entry sits at position p returns
// once head > p. An `async` sender does not wait; the journal thread polls
// at least every few milliseconds.
//
// Crash safety: a push is the usual intent-before-claim ring push; repair
// (repair_journal_intent) publishes a tombstone in a dead lane's claimed
// cell. A sender killed between publish and push leaves a message that was
// never acknowledged and is not journaled (lost only if the machine also
// loses its memory). A broker killed while holding records not yet durable
// collects them again from head on restart (duplicates are idempotent).
//
// Thread safety: journal_after_send / journal_after_delete /
// journal_after_fifo_dedup: any process, in send_message / delete_message /
// fifo_send / fifo_delete (or the broker's timer), through the caller's lane. The rest: the
// broker (format and attach time, its repair, its journal thread).
#pragma once

#include <cstdint>

#include "shm/layout.h"
#include "shm/segment.h"
#include "shmq/status.h"

namespace shmq::shm {

struct Delivery;  // queue_ops.h

enum class Durability : uint32_t { kMemory = 0, kAsync = 1, kSync = 2 };
// kFifoDedup: the slot field holds a dedup-table entry (bucket * 8 + way),
// not a slot; the incarnation is the message's (FIFO queues, fifo.h).
// kRedelivered: the message was received again (receive count >= 2): the
// journal thread copies it as for kSend (a SEND record again, now carrying
// the count), but no sender waits for it.
enum class JournalKind : uint32_t { kRedelivered = 0, kSend = 1, kDelete = 2, kFifoDedup = 3 };
inline constexpr uint32_t kMaxJournalDedupRef = 0x3fffffff;

constexpr uint64_t make_journal_entry(JournalKind k, uint32_t slot, uint64_t incarnation) {
  return (uint64_t(k) << 62) | (uint64_t(slot & 0x3fffffff) << 32) | (incarnation & 0xffffffff);
}
constexpr JournalKind journal_entry_kind(uint64_t e) { return JournalKind(e >> 62); }
constexpr uint32_t journal_entry_slot(uint64_t e) { return uint32_t(e >> 32) & 0x3fffffff; }
constexpr uint32_t journal_entry_incarnation(uint64_t e) { return uint32_t(e); }

// Segment layout hooks (segment.cc): where the ring goes, its view, its
// initial state.
uint64_t plan_journal_ring(Header* h, uint64_t offset);
RingView journal_ring_view(char* base, Header* h);
void format_journal_ring(const SegmentView& v);

// A sync queue whose journal has failed refuses sends before they change
// anything. OK for memory and async queues.
Status journal_precheck(const SegmentView& v);

// After a send made (slot, incarnation) VISIBLE or DELAYED: journals it
// when the queue is durable; for `sync` (and not from the broker's lane)
// waits until the record is on disk. Errors: the journal failed, or it did
// not keep up for seconds (the message is in memory but not acknowledged).
// With wait_end non-null a sync sender does not wait here: it raises
// *wait_end to the ring position its record must pass, and the caller waits
// once for a whole batch with journal_wait_durable (one fdatasync round for
// ten messages instead of ten).
Status journal_after_send(const SegmentView& v, Lane& lane, uint32_t slot, uint64_t incarnation,
                          uint64_t* wait_end = nullptr);

// Waits until every journal-ring entry before position `end` is on disk
// (the group commit wait of a sync send), sleeping as `lane` (its bit in
// JournalControl::durable_sleeping). Errors as journal_after_send.
Status journal_wait_durable(const SegmentView& v, Lane& lane, uint64_t end);

// After a delete CAS: journals the delete (never waits for the disk).
void journal_after_delete(const SegmentView& v, Lane& lane, uint32_t slot, uint64_t incarnation);

// After a FIFO send completed its dedup entry (bucket, way): journals the
// entry, so the dedup id outlives the message (never waits for the disk; a
// sync sender's wait for its SEND, pushed after this, covers it).
void journal_after_fifo_dedup(const SegmentView& v, Lane& lane, uint64_t bucket, uint32_t way,
                              uint64_t incarnation);

// After a receive: journals the receive count of every delivery that was a
// redelivery (count >= 2), so a message that keeps failing is still moved
// to its dead-letter queue after a reboot instead of starting over (a first
// receive is not journaled: that would copy every message twice). Never
// waits for the disk.
void journal_after_receive(const SegmentView& v, Lane& lane, const Delivery* d, size_t n);

// Repair (broker): a dead lane's claimed, unpublished journal-ring cell gets
// a tombstone, unless a live lane's intent names the same position.
template <class Live>
void repair_journal_intent(const SegmentView& v, uint32_t dead, uint64_t intent, const Live& live);

// Broker at attach: finishes a release its journal thread was killed in
// (cells released but head not yet advanced).
void recover_journal_head(const SegmentView& v);

}  // namespace shmq::shm

#include "shm/journal_ring_repair.h"
