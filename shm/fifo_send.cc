// FIFO queues: sends, one at a time and batched (fifo.h).
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

// A duplicate's answer acknowledges the original message, so on a sync
// queue it waits, like a send, until the original is on disk: it pushes a
// SEND for the original's (slot, incarnation), which the journal thread
// drops if that message is gone by then and replay takes as a repeat, and
// waits for it (or, in a batch, raises the batch's wait).
Status acknowledge_duplicate(const SegmentView& v, Lane& lane, const FifoSendOutput& result,
                             uint64_t* durable_wait) {
  if (Durability(v.header->journal.durability.load(std::memory_order_relaxed)) != Durability::kSync ||
      result.slot >= v.total_slots())
    return Status::OK();
  return journal_after_send(v, lane, result.slot, result.incarnation, durable_wait);
}

}  // namespace

Status fifo_send(const SegmentView& v, Lane& lane, const SendInput& in, std::string_view group_id,
                 std::string_view dedup_id, FifoSendOutput* out) {
  Header* h = v.header;
  if (Status j = journal_precheck(v); !j.ok()) return j;
  FifoSendOutput result;
  // The group entry and the dedup bucket are random lines of tables far
  // larger than the cache: fetch them while the message is written.
  const uint64_t ghash = group_hash(group_id);
  __builtin_prefetch(&v.groups[ghash & (v.group_capacity() - 1)], 1);
  DedupKey key{};
  if (!dedup_id.empty()) {
    const bool per_group = h->config.dedup_per_group.load(std::memory_order_relaxed) != 0;
    key = dedup_key(per_group ? group_id : std::string_view(), dedup_id);
    __builtin_prefetch(&v.dedup[key.lo & (h->dedup_buckets - 1)], 1);
  }
  uint64_t pending = 0;
  auto deduplicate = [&] {
    return !dedup_id.empty() &&
           dedup_begin(v, lane, key, queue_clock_ms(h), &result, &pending) == DedupOutcome::kDuplicate;
  };

  const uint32_t prefix = fifo_meta_size(uint32_t(group_id.size()), uint32_t(dedup_id.size()));
  uint32_t s = 0;
  if (Status st = claim_slot(v, lane, prefix + in.attributes_size + in.body.size(), &s); !st.ok()) {
    if (deduplicate()) {  // a duplicate is answered even when the queue is full
      if (out) *out = result;
      return acknowledge_duplicate(v, lane, result, in.durable_wait);
    }
    if (pending) dedup_end(v, lane, pending, kNil, 0, 0);
    return st;
  }
  Slot& slot = v.slot(s);
  FifoMeta& m = v.meta(s);
  char* ids = v.payload(s) + sizeof(FifoMeta);
  std::memcpy(ids, group_id.data(), group_id.size());
  if (!dedup_id.empty()) std::memcpy(ids + group_id.size(), dedup_id.data(), dedup_id.size());
  m.group_len.store(uint32_t(group_id.size()), std::memory_order_relaxed);
  m.dedup_len.store(uint32_t(dedup_id.size()), std::memory_order_relaxed);
  m.next.store(kNil, std::memory_order_relaxed);
  m.group.store(kNil, std::memory_order_relaxed);
  const uint64_t now = write_message(v, s, prefix, in);
  const uint32_t gen = gen_of(slot.state.load(std::memory_order_relaxed));
  if (deduplicate()) {  // seen within the window: the slot goes back unpublished
    release_reserved_slot(v, lane, s);
    if (out) *out = result;
    return acknowledge_duplicate(v, lane, result, in.durable_wait);
  }

  const uint32_t gi = find_and_lock_group(v, lane, group_id, ghash);
  if (gi == kNil) {
    release_reserved_slot(v, lane, s);
    if (pending) dedup_end(v, lane, pending, kNil, 0, 0);
    return Status("OverLimit", "The queue has too many message groups with messages in them.");
  }
  const uint64_t seq = h->fifo_seq.fetch_add(1, std::memory_order_relaxed) + 1;
  append_to_group(v, gi, s, seq,
                  in.delay_ms > 0 ? make_state(SlotState::kDelayed, gen, now + in.delay_ms)
                                  : make_state(SlotState::kVisible, gen, 0));
  make_ready(v, lane, gi);
  unlock_group(v, lane, gi);
  lane.op.store(0, std::memory_order_relaxed);
  result.slot = s;
  result.incarnation = slot.incarnation.load(std::memory_order_relaxed);
  result.sequence_number = seq;
  if (pending) {
    dedup_end(v, lane, pending, s, result.incarnation, seq);
    // Before the SEND: a sync sender's wait for its SEND covers this too.
    journal_after_fifo_dedup(v, lane, (pending - 1) >> 8, uint32_t(pending - 1) & 0xff, result.incarnation);
  }
  if (out) *out = result;
  return journal_after_send(v, lane, s, result.incarnation, in.durable_wait);
}

size_t fifo_send_messages(const SegmentView& v, Lane& lane, const FifoSendEntry* e, size_t n,
                          FifoSendOutput* out, Status* status) {
  Header* h = v.header;
  n = std::min<size_t>(n, kMaxBatchClaim);
  if (Status j = journal_precheck(v); !j.ok()) {
    for (size_t i = 0; i < n; ++i) status[i] = j;
    return 0;
  }
  const bool per_group = h->config.dedup_per_group.load(std::memory_order_relaxed) != 0;
  uint64_t ghash[kMaxBatchClaim];
  DedupKey key[kMaxBatchClaim];
  size_t need[kMaxBatchClaim];
  int first[kMaxBatchClaim];  // an earlier entry of this batch with the same dedup key, or -1
  enum class Dedup : uint8_t { kUnchecked, kFresh, kDuplicate };
  Dedup dedup[kMaxBatchClaim];
  uint64_t pending[kMaxBatchClaim];
  FifoSendOutput res[kMaxBatchClaim];
  for (size_t i = 0; i < n; ++i) {
    // Group entries and dedup buckets are random lines of tables far larger
    // than the cache: fetch them while the messages are claimed and written.
    ghash[i] = group_hash(e[i].group_id);
    __builtin_prefetch(&v.groups[ghash[i] & (v.group_capacity() - 1)], 1);
    first[i] = -1;
    dedup[i] = Dedup::kUnchecked;
    pending[i] = 0;
    res[i] = FifoSendOutput{};
    if (!e[i].dedup_id.empty()) {
      key[i] = dedup_key(per_group ? e[i].group_id : std::string_view(), e[i].dedup_id);
      __builtin_prefetch(&v.dedup[key[i].lo & (h->dedup_buckets - 1)], 1);
      for (size_t j = 0; j < i; ++j)
        if (!e[j].dedup_id.empty() && first[j] < 0 && key[j].hi == key[i].hi && key[j].lo == key[i].lo) {
          first[i] = int(j);
          break;
        }
    }
    need[i] = fifo_meta_size(uint32_t(e[i].group_id.size()), uint32_t(e[i].dedup_id.size())) +
              e[i].in.attributes_size + e[i].in.body.size();
  }

  // 1. Slots: one free-ring claim per size class; each claimed slot is
  //    RESERVED(lane), named by its state word (kBatchHoldsSlots). Dedup
  //    entries this batch adds are pending under the lane (kBatchDedupPending).
  lane.batch.store(kBatchHoldsSlots | kBatchDedupPending, std::memory_order_relaxed);
  uint32_t slots[kMaxBatchClaim];
  claim_slots(v, lane, need, n, slots, status);
  uint64_t sent_at[kMaxBatchClaim];
  for (size_t i = 0; i < n; ++i) {
    if (slots[i] == kNil) continue;
    const uint32_t s = slots[i];
    FifoMeta& m = v.meta(s);
    char* ids = v.payload(s) + sizeof(FifoMeta);
    std::memcpy(ids, e[i].group_id.data(), e[i].group_id.size());
    if (!e[i].dedup_id.empty()) std::memcpy(ids + e[i].group_id.size(), e[i].dedup_id.data(), e[i].dedup_id.size());
    m.group_len.store(uint32_t(e[i].group_id.size()), std::memory_order_relaxed);
    m.dedup_len.store(uint32_t(e[i].dedup_id.size()), std::memory_order_relaxed);
    m.next.store(kNil, std::memory_order_relaxed);
    m.group.store(kNil, std::memory_order_relaxed);
    sent_at[i] = write_message(v, s, fifo_meta_size(m.group_len.load(std::memory_order_relaxed),
                                                    m.dedup_len.load(std::memory_order_relaxed)),
                               e[i].in);
  }

  // 2. Deduplication, outside every group lock (a bucket lock is never held
  //    with another lock), also for entries that got no slot: a duplicate is
  //    answered even when the queue is full. Where a single send would wait,
  //    the batch withdraws its pending entries and starts the pass again.
  const uint64_t now = queue_clock_ms(h);
  for (;;) {
    bool busy = false;
    for (size_t i = 0; i < n && !busy; ++i) {
      if (e[i].dedup_id.empty() || first[i] >= 0 || dedup[i] != Dedup::kUnchecked) continue;
      switch (dedup_begin(v, lane, key[i], now, &res[i], &pending[i], true)) {
        case DedupOutcome::kFresh: dedup[i] = Dedup::kFresh; break;
        case DedupOutcome::kDuplicate: dedup[i] = Dedup::kDuplicate; break;
        case DedupOutcome::kBusy: busy = true; break;
      }
    }
    if (!busy) break;
    for (size_t i = 0; i < n; ++i)
      if (dedup[i] == Dedup::kFresh) {
        dedup_end(v, lane, pending[i], kNil, 0, 0);
        pending[i] = 0;
        dedup[i] = Dedup::kUnchecked;
      }
    sched_yield();
  }
  for (size_t i = 0; i < n; ++i) {
    const bool drop = first[i] >= 0 || dedup[i] == Dedup::kDuplicate;  // answered by another message
    if (drop && slots[i] != kNil) {
      release_reserved_slot(v, lane, slots[i]);  // never published
      slots[i] = kNil;
    }
    if (dedup[i] == Dedup::kDuplicate) status[i] = Status::OK();
    if (slots[i] == kNil && pending[i]) {  // no slot: OverLimit, the entry goes
      dedup_end(v, lane, pending[i], kNil, 0, 0);
      pending[i] = 0;
    }
  }

  // 3. The appends, in batch order, run by run: a run is the entries of one
  //    group that follow each other in the batch (entries answered or failed
  //    above do not break it), appended under one hold of the group's lock
  //    with consecutive sequence numbers from one fetch_add. Sequence numbers
  //    thus increase in batch order across groups too, as they do for a loop
  //    of fifo_send; one hold per group for interleaved groups would need
  //    several group locks held at once (see docs/architecture.md).
  //    lane.op names the slot being appended (kSending) while the lock is
  //    held, as in fifo_send, so recover_group can finish or undo it; a slot
  //    appended is VISIBLE or DELAYED before the next one is named.
  bool tokens = false;
  for (size_t i = 0; i < n;) {
    if (slots[i] == kNil) {
      ++i;
      continue;
    }
    uint32_t members[kMaxBatchClaim];
    size_t k = 0;
    size_t next = i;
    for (; next < n; ++next) {
      if (slots[next] == kNil) continue;
      if (ghash[next] != ghash[i] || e[next].group_id != e[i].group_id) break;
      members[k++] = uint32_t(next);
    }
    const size_t first_of_run = i;
    i = next;
    const uint32_t gi = find_and_lock_group(v, lane, e[first_of_run].group_id, ghash[first_of_run]);
    if (gi == kNil) {
      for (size_t x = 0; x < k; ++x) {
        const uint32_t j = members[x];
        release_reserved_slot(v, lane, slots[j]);
        slots[j] = kNil;
        if (pending[j]) dedup_end(v, lane, pending[j], kNil, 0, 0);
        pending[j] = 0;
        status[j] = Status("OverLimit", "The queue has too many message groups with messages in them.");
      }
      continue;
    }
    uint64_t seq = h->fifo_seq.fetch_add(k, std::memory_order_relaxed);
    for (size_t x = 0; x < k; ++x) {
      const uint32_t j = members[x];
      const uint32_t s = slots[j];
      Slot& slot = v.slot(s);
      const uint32_t gen = gen_of(slot.state.load(std::memory_order_relaxed));
      lane.op.store(make_op(LaneOp::kSending, s, 0), std::memory_order_relaxed);
      append_to_group(v, gi, s, ++seq,
                      e[j].in.delay_ms > 0 ? make_state(SlotState::kDelayed, gen, sent_at[j] + e[j].in.delay_ms)
                                           : make_state(SlotState::kVisible, gen, 0));
      res[j] = FifoSendOutput{s, slot.incarnation.load(std::memory_order_relaxed), seq, false};
    }
    tokens |= make_ready(v, lane, gi, false);
    unlock_group(v, lane, gi);
    lane.op.store(0, std::memory_order_relaxed);
  }

  // 4. Complete the dedup entries. Each is named in lane.dedup_pending while
  //    it is completed (dedup_end clears it), so a death between its two
  //    stores is repaired as a single send's is.
  for (size_t i = 0; i < n; ++i) {
    if (!pending[i]) continue;
    lane.dedup_pending.store(pending[i], std::memory_order_relaxed);
    dedup_end(v, lane, pending[i], res[i].slot, res[i].incarnation, res[i].sequence_number);
  }
  lane.batch.store(0, std::memory_order_relaxed);
  if (tokens) notify_receivers(h);  // one wake-up check for the batch

  size_t sent = 0;
  for (size_t i = 0; i < n; ++i) {
    if (first[i] >= 0) {  // a duplicate within the batch: answered as its first entry is
      const size_t f = size_t(first[i]);
      status[i] = status[f];
      if (status[i].ok()) {
        res[i] = res[f];
        res[i].duplicate = true;
      }
    }
    if (!status[i].ok()) continue;
    ++sent;
    if (out) out[i] = res[i];
    if (pending[i])  // before the SEND: a sync sender's wait for its SEND covers this too
      journal_after_fifo_dedup(v, lane, (pending[i] - 1) >> 8, uint32_t(pending[i] - 1) & 0xff,
                               res[i].incarnation);
    status[i] = res[i].duplicate
                    ? acknowledge_duplicate(v, lane, res[i], e[i].in.durable_wait)
                    : journal_after_send(v, lane, res[i].slot, res[i].incarnation, e[i].in.durable_wait);
  }
  return sent;
}

}  // namespace shmq::shm
