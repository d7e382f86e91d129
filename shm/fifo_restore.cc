// Rebuilding a FIFO queue's groups and dedup table from journaled messages
// (fifo.h, restore.h). Broker only, on a freshly formatted segment nobody
// maps: plain stores, no locks, no lanes.
//
// Order argument: within a group, send order is SequenceNumber order (the
// number is taken under the group's lock at the append, from one counter
// per queue), so sorting a group's surviving messages by SequenceNumber
// gives back the list the append built, minus what was deleted. Slot order
// says nothing: slots are recycled through the free rings.
#include <algorithm>
#include <map>
#include <utility>

#include "shm/fifo.h"

namespace shmq::shm {

Status fifo_restore_groups(const SegmentView& v, std::vector<RestoredFifoMessage> messages,
                           uint64_t last_sequence) {
  Header* h = v.header;
  std::sort(messages.begin(), messages.end(), [](const RestoredFifoMessage& a, const RestoredFifoMessage& b) {
    if (a.group_id != b.group_id) return a.group_id < b.group_id;
    return a.sequence_number < b.sequence_number;
  });
  const uint32_t mask = v.group_capacity() - 1;
  struct Token {
    uint64_t first_sequence;
    uint32_t group;
  };
  std::vector<Token> tokens;
  uint64_t highest = last_sequence;
  for (size_t i = 0; i < messages.size();) {
    const std::string_view id = messages[i].group_id;
    size_t end = i;
    while (end < messages.size() && messages[end].group_id == id) ++end;
    // The same probe sequence as find_and_lock_group's insert.
    const uint64_t hash = fifo_group_hash(id);
    uint32_t gi = kNil;
    for (uint32_t p = 0; p <= mask && gi == kNil; ++p)
      if (v.groups[uint32_t(hash + p) & mask].key.load(std::memory_order_relaxed) == 0) gi = uint32_t(hash + p) & mask;
    if (gi == kNil) return Status("InternalError", "the journal holds more message groups than the queue's table");
    Group& g = v.groups[gi];
    g.lock.store(0, std::memory_order_relaxed);
    g.head.store(messages[i].slot, std::memory_order_relaxed);
    g.tail.store(messages[end - 1].slot, std::memory_order_relaxed);
    g.leased.store(0, std::memory_order_relaxed);
    g.id_len.store(uint32_t(id.size()), std::memory_order_relaxed);
    std::copy(id.begin(), id.end(), g.id);
    for (size_t k = i; k < end; ++k) {
      FifoMeta& m = v.meta(messages[k].slot);
      m.group.store(gi, std::memory_order_relaxed);
      m.next.store(k + 1 < end ? messages[k + 1].slot : kNil, std::memory_order_relaxed);
      highest = std::max(highest, messages[k].sequence_number);
    }
    // Dispatchable now when its head is visible; a delayed head is made
    // ready by the broker's timer when its delay ends.
    const bool ready = state_of(v.slot(messages[i].slot).state.load(std::memory_order_relaxed)) == SlotState::kVisible;
    g.in_ready.store(ready ? 1 : 0, std::memory_order_relaxed);
    if (ready) tokens.push_back({messages[i].sequence_number, gi});
    g.key.store(fifo_group_key(hash), std::memory_order_relaxed);
    i = end;
  }
  // The group with the oldest message first, as the queue would have served them.
  std::sort(tokens.begin(), tokens.end(), [](const Token& a, const Token& b) { return a.first_sequence < b.first_sequence; });
  for (uint64_t p = 0; p < tokens.size(); ++p) {
    Cell& c = v.ready.cells[p & v.ready.mask];
    c.data.store(make_entry(tokens[p].group, 0), std::memory_order_relaxed);
    c.seq.store(p + 1, std::memory_order_relaxed);
  }
  v.ready.pos->head.store(0, std::memory_order_relaxed);
  v.ready.pos->tail.store(tokens.size(), std::memory_order_relaxed);
  h->fifo_seq.store(highest, std::memory_order_relaxed);
  return Status::OK();
}

void fifo_restore_dedup(const SegmentView& v, const std::vector<RestoredDedup>& entries) {
  Header* h = v.header;
  const uint64_t now = queue_clock_ms(h);
  const uint64_t now_epoch = epoch_ms(h, now);
  // The newest entry per key within the window.
  std::map<std::pair<uint64_t, uint64_t>, const RestoredDedup*> newest;
  for (const RestoredDedup& e : entries) {
    if (e.seen_epoch_ms + kDedupWindowMs <= now_epoch) continue;
    const RestoredDedup*& n = newest[{e.key_hi, e.key_lo}];
    if (!n || n->seen_epoch_ms <= e.seen_epoch_ms) n = &e;
  }
  std::vector<const RestoredDedup*> order;
  order.reserve(newest.size());
  for (const auto& [k, e] : newest) order.push_back(e);
  // Oldest first, so a full bucket ends up holding its newest entries.
  std::sort(order.begin(), order.end(),
            [](const RestoredDedup* a, const RestoredDedup* b) { return a->seen_epoch_ms < b->seen_epoch_ms; });
  for (const RestoredDedup* e : order) {
    DedupBucket& b = v.dedup[e->key_lo & (h->dedup_buckets - 1)];
    uint32_t way = 0, oldest = UINT32_MAX;
    for (uint32_t w = 0; w < kDedupWays; ++w) {
      const uint32_t when = b.when[w].load(std::memory_order_relaxed);
      if (when < oldest) {
        oldest = when;
        way = w;
      }
    }
    // The queue clock restarts at a reboot; an entry older than the clock's
    // start is dated at 0 (it then lives a little longer than 5 minutes).
    const uint64_t age = now_epoch > e->seen_epoch_ms ? now_epoch - e->seen_epoch_ms : 0;
    const uint64_t seen = age < now ? now - age : 0;
    DedupEntry& d = b.entries[way];
    d.key_hi.store(e->key_hi, std::memory_order_relaxed);
    d.key_lo.store(e->key_lo, std::memory_order_relaxed);
    d.seen_ms.store(seen, std::memory_order_relaxed);
    d.incarnation.store(e->incarnation, std::memory_order_relaxed);
    d.seq.store(e->sequence_number, std::memory_order_relaxed);
    d.slot.store(e->slot, std::memory_order_relaxed);
    d.pending.store(0, std::memory_order_relaxed);
    b.tag[way].store(uint32_t(e->key_hi), std::memory_order_relaxed);
    b.when[way].store(uint32_t(seen >> 10) + 1, std::memory_order_relaxed);
  }
}

}  // namespace shmq::shm
