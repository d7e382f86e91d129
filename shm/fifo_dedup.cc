// The deduplication table of a FIFO queue (fifo_internal.h).

#include "shm/crash_point.h"
#include "shm/fifo_internal.h"

namespace shmq::shm {

DedupOutcome dedup_begin(const SegmentView& v, Lane& lane, DedupKey key, uint64_t now,
                         FifoSendOutput* out, uint64_t* pending_ref, bool batch) {
  const uint64_t bi = key.lo & (v.header->dedup_buckets - 1);
  DedupBucket& b = v.dedup[bi];
  const uint64_t self = me(v, lane);
  const uint32_t tag = uint32_t(key.hi);
  for (;;) {
    lock_aux(lane, b.lock, self, AuxLock::kDedupBucket, bi);
    bool wait = false;
    int victim = -1;
    uint32_t oldest = UINT32_MAX;
    for (uint32_t e = 0; e < kDedupWays; ++e) {
      const uint32_t when = b.when[e].load(std::memory_order_acquire);  // dedup_end's release
      if (when != 0 && b.tag[e].load(std::memory_order_relaxed) == tag) {
        DedupEntry& d = b.entries[e];
        if (d.key_hi.load(std::memory_order_relaxed) == key.hi &&
            d.key_lo.load(std::memory_order_relaxed) == key.lo &&
            d.seen_ms.load(std::memory_order_relaxed) + kDedupWindowMs > now) {
          if (when & kDedupPendingBit) {
            wait = true;  // its first sender is still at it
            break;
          }
          out->slot = d.slot.load(std::memory_order_relaxed);
          out->incarnation = d.incarnation.load(std::memory_order_relaxed);
          out->sequence_number = d.seq.load(std::memory_order_relaxed);
          out->duplicate = true;
          unlock_aux(lane, b.lock);
          return DedupOutcome::kDuplicate;
        }
      }
      if (when & kDedupPendingBit) continue;
      if (when < oldest) {  // empty first, then the oldest (expired ones are older still)
        oldest = when;
        victim = int(e);
      }
    }
    if (!wait && victim >= 0) {
      DedupEntry& d = b.entries[victim];
      *pending_ref = (bi << 8 | uint64_t(victim)) + 1;
      if (!batch) lane.dedup_pending.store(*pending_ref, std::memory_order_relaxed);
      d.pending.store(uint32_t(self), std::memory_order_relaxed);
      d.key_hi.store(key.hi, std::memory_order_relaxed);
      d.key_lo.store(key.lo, std::memory_order_relaxed);
      d.seen_ms.store(now, std::memory_order_relaxed);
      // A death here leaves the new key beside the victim's old `when`: a
      // live-looking entry answering the new key with the victim's message.
      // The repair withdraws every entry whose `pending` names the dead lane.
      SHMQ_CRASH_POINT();
      b.tag[victim].store(tag, std::memory_order_relaxed);
      b.when[victim].store(kDedupPendingBit | (uint32_t(now >> 10) + 1), std::memory_order_relaxed);
      unlock_aux(lane, b.lock);
      return DedupOutcome::kFresh;
    }
    // Every way pending, or our duplicate in flight: wait for it to finish.
    unlock_aux(lane, b.lock);
    if (batch) return DedupOutcome::kBusy;
    sched_yield();
  }
}

void dedup_end(const SegmentView& v, Lane& lane, uint64_t ref, uint32_t slot, uint64_t incarnation,
               uint64_t seq) {
  const uint64_t bi = (ref - 1) >> 8;
  const uint32_t e = uint32_t(ref - 1) & 0xff;
  DedupEntry& d = v.dedup[bi].entries[e];
  DedupBucket& b = v.dedup[bi];
  if (slot == kNil) {
    lock_aux(lane, b.lock, me(v, lane), AuxLock::kDedupBucket, bi);
    b.when[e].store(0, std::memory_order_relaxed);
    d.pending.store(0, std::memory_order_relaxed);
    unlock_aux(lane, b.lock);
  } else {
    // No lock: while `when` says pending the entry is this lane's alone (no
    // one picks a pending entry), and readers load `when` with acquire, so
    // clearing the bit last (release) publishes the fields with it.
    d.slot.store(slot, std::memory_order_relaxed);
    d.incarnation.store(incarnation, std::memory_order_relaxed);
    d.seq.store(seq, std::memory_order_relaxed);
    d.pending.store(0, std::memory_order_relaxed);
    SHMQ_CRASH_POINT();
    b.when[e].store(b.when[e].load(std::memory_order_relaxed) & ~kDedupPendingBit,
                    std::memory_order_release);
  }
  lane.dedup_pending.store(0, std::memory_order_relaxed);
}

FifoDedupKey fifo_dedup_key(std::string_view scope, std::string_view id) {
  const DedupKey k = dedup_key(scope, id);
  return {k.hi, k.lo};
}

uint64_t fifo_group_hash(std::string_view id) { return group_hash(id); }
uint64_t fifo_group_key(uint64_t hash) { return group_key(hash); }

}  // namespace shmq::shm
