#include "shm/journal_ring.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>

#include "shm/futex.h"
#include "shm/queue_ops.h"
#include "shm/ring.h"

namespace shmq::shm {
namespace {

// How long a sender waits for room in a full journal ring, or a sync sender
// for its record to reach the disk, before it gives up. The broker's journal
// thread normally drains within a few ms; this bounds a broker that is down.
constexpr uint64_t kJournalPatienceMs = 10000;

uint64_t now_ms() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

Status journal_failed(const JournalControl& j) {
  return Status("InternalError", std::string("the queue's journal failed (") +
                                     std::strerror(int(j.error.load(std::memory_order_acquire))) +
                                     "): durable sends are refused until the broker restarts");
}

Status journal_stalled() {
  return Status("ServiceUnavailable",
                "the journal did not persist the message in time (is the broker running?); it was not "
                "acknowledged as durable");
}

void ring_doorbell(JournalControl& j) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (j.collector_sleeping.load(std::memory_order_relaxed) != 0) {
    j.doorbell.fetch_add(1, std::memory_order_seq_cst);
    futex_wake_all(&j.doorbell);
  }
}

}  // namespace

uint64_t plan_journal_ring(Header* h, uint64_t offset) {
  uint64_t cap = 1;
  while (cap < uint64_t(h->total_slots) * 2) cap <<= 1;
  h->journal.capacity = uint32_t(cap);
  h->journal.cells_offset = (offset + 4095) / 4096 * 4096;
  return (h->journal.cells_offset + sizeof(Cell) * cap + 4095) / 4096 * 4096;
}

RingView journal_ring_view(char* base, Header* h) {
  RingView r;
  r.pos = &h->journal.ring;
  r.cells = reinterpret_cast<Cell*>(base + h->journal.cells_offset);
  r.mask = h->journal.capacity - 1;
  r.id = kJournalRing;
  return r;
}

void format_journal_ring(const SegmentView& v) {
  for (uint64_t i = 0; i <= v.journal.mask; ++i) v.journal.cells[i].seq.store(i, std::memory_order_relaxed);
}

Status journal_precheck(const SegmentView& v) {
  const JournalControl& j = v.header->journal;
  if (Durability(j.durability.load(std::memory_order_relaxed)) == Durability::kSync &&
      j.error.load(std::memory_order_acquire) != 0)
    return journal_failed(j);
  return Status::OK();
}

Status journal_after_send(const SegmentView& v, Lane& lane, uint32_t slot, uint64_t incarnation,
                          uint64_t* wait_end) {
  JournalControl& j = v.header->journal;
  const Durability d = Durability(j.durability.load(std::memory_order_relaxed));
  if (d == Durability::kMemory || j.error.load(std::memory_order_acquire) != 0) {
    return d == Durability::kSync ? journal_failed(j) : Status::OK();
  }
  // The position is the tail we claim; read it before the push and confirm
  // with the cell afterwards (another producer may take it first: retry).
  const uint64_t entry = make_journal_entry(JournalKind::kSend, slot, incarnation);
  uint64_t pos = UINT64_MAX;
  {
    const RingView& r = v.journal;
    uint64_t deadline = 0;
    for (;;) {
      bool pushed = false;
      uint64_t claimed = 0;
      // ring_push's published() runs while the intent still names our
      // position: that is where we learn it.
      pushed = ring_push(r, lane, entry, [&] { claimed = intent_pos(lane.intent.load(std::memory_order_relaxed)); });
      if (pushed) {
        pos = claimed;
        break;
      }
      if (deadline == 0) deadline = now_ms() + kJournalPatienceMs;
      if (now_ms() > deadline || j.error.load(std::memory_order_acquire) != 0) break;
      ring_doorbell(j);
      const uint32_t f = j.durable_futex.load(std::memory_order_acquire);
      const uint32_t me = lane_index(v, lane);
      set_lane_bit(j.durable_sleeping, me);
      if (ring_size(r) > r.mask) futex_wait(&j.durable_futex, f, 5);
      clear_lane_bit(j.durable_sleeping, me);
    }
  }
  if (pos == UINT64_MAX) return j.error.load() != 0 ? journal_failed(j) : journal_stalled();
  if (d != Durability::kSync || lane_index(v, lane) == kBrokerLane) return Status::OK();
  if (wait_end) {
    *wait_end = std::max(*wait_end, pos + 1);
    return Status::OK();
  }
  return journal_wait_durable(v, lane, pos + 1);
}

Status journal_wait_durable(const SegmentView& v, Lane& lane, uint64_t end) {
  JournalControl& j = v.header->journal;
  if (end == 0) return Status::OK();
  const uint32_t me = lane_index(v, lane);
  const uint64_t pos = end - 1;
  ring_doorbell(j);
  // Group commit: wait until the journal thread's head passes our position.
  // Head first, then the error word: the broker stores error before it
  // would ever move head without writing.
  // No spin before sleeping: the wait is at least one fdatasync (hundreds
  // of microseconds), which a few microseconds of pauses never catch; with
  // 16 senders woken together on 2 vCPUs those pauses were ~2 us of CPU per
  // sender in the stretch where the next batch gathers (measured: the
  // gather 271 -> 238 us, mean of 6 alternating runs).
  const uint64_t deadline = now_ms() + kJournalPatienceMs;
  for (;;) {
    if (v.journal.pos->head.load(std::memory_order_acquire) > pos) {
      if (j.error.load(std::memory_order_acquire) != 0) return journal_failed(j);
      return Status::OK();
    }
    if (j.error.load(std::memory_order_acquire) != 0) return journal_failed(j);
    if (now_ms() > deadline) return journal_stalled();
    const uint32_t f = j.durable_futex.load(std::memory_order_seq_cst);
    set_lane_bit(j.durable_sleeping, me);
    if (v.journal.pos->head.load(std::memory_order_seq_cst) <= pos) futex_wait(&j.durable_futex, f, 50);
    clear_lane_bit(j.durable_sleeping, me);
  }
}

namespace {

// Pushes an entry that nobody waits on (DELETE, FIFO_DEDUP). When the ring
// stays full (the journal thread is behind, or the broker is down) the
// record is given up after a while: the step itself is done; only its
// record would be missing after a reboot (a deleted message could come back:
// at-least-once; a dedup id could be forgotten).
void push_unawaited(const SegmentView& v, Lane& lane, uint64_t entry) {
  JournalControl& j = v.header->journal;
  if (Durability(j.durability.load(std::memory_order_relaxed)) == Durability::kMemory ||
      j.error.load(std::memory_order_acquire) != 0)
    return;
  const uint64_t deadline = now_ms() + kJournalPatienceMs;
  while (!ring_push(v.journal, lane, entry, [] {})) {
    if (now_ms() > deadline || j.error.load(std::memory_order_acquire) != 0) return;
    ring_doorbell(j);
    const uint32_t f = j.durable_futex.load(std::memory_order_acquire);
    const uint32_t me = lane_index(v, lane);
    set_lane_bit(j.durable_sleeping, me);
    if (ring_size(v.journal) > v.journal.mask) futex_wait(&j.durable_futex, f, 5);
    clear_lane_bit(j.durable_sleeping, me);
  }
}

}  // namespace

void journal_after_delete(const SegmentView& v, Lane& lane, uint32_t slot, uint64_t incarnation) {
  push_unawaited(v, lane, make_journal_entry(JournalKind::kDelete, slot, incarnation));
}

void journal_after_fifo_dedup(const SegmentView& v, Lane& lane, uint64_t bucket, uint32_t way,
                              uint64_t incarnation) {
  const uint64_t ref = bucket * 8 + way;
  if (ref > kMaxJournalDedupRef) return;  // a table beyond 2^27 buckets: the SEND still carries the id
  push_unawaited(v, lane, make_journal_entry(JournalKind::kFifoDedup, uint32_t(ref), incarnation));
}

void journal_after_receive(const SegmentView& v, Lane& lane, const Delivery* d, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (d[i].receive_count >= 2)
      push_unawaited(v, lane, make_journal_entry(JournalKind::kRedelivered, d[i].slot, d[i].incarnation));
}

void recover_journal_head(const SegmentView& v) {
  const RingView& r = v.journal;
  uint64_t head = r.pos->head.load(std::memory_order_acquire);
  // A cell at head whose seq reached head + capacity was released (and may
  // even hold the next lap's entry already): move past it.
  while (r.cells[head & r.mask].seq.load(std::memory_order_acquire) >= head + r.mask + 1) ++head;
  r.pos->head.store(head, std::memory_order_release);
}

}  // namespace shmq::shm
