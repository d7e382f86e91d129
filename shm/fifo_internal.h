// Internal to the FIFO implementation (fifo.cc, fifo_send.cc, fifo_groups.cc,
// fifo_dedup.cc, fifo_broker.cc): the locks, the group lists, the group
// table and the deduplication table that fifo.h's steps are built from. Not
// for other code: every function here has preconditions (locks held, lane
// ops named) that only those steps meet. The rules these keep are fifo.h's.
#pragma once

#include <immintrin.h>
#include <sched.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "shm/crash_point.h"
#include "shm/fifo.h"
#include "shm/layout.h"
#include "shm/segment.h"

namespace shmq::shm {

inline Lane& broker_lane(const SegmentView& v) { return v.lanes[kBrokerLane]; }
inline uint64_t me(const SegmentView& v, const Lane& lane) { return uint64_t(lane_index(v, lane)) + 1; }

// --- hashing ----------------------------------------------------------------

inline uint64_t fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

inline uint64_t hash64(std::string_view a, uint64_t seed) {
  uint64_t h = seed ^ (a.size() * 0x9E3779B97F4A7C15ULL);
  size_t i = 0;
  for (; i + 8 <= a.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, a.data() + i, 8);
    h = fmix64(h ^ w) + 0x9E3779B97F4A7C15ULL;
  }
  uint64_t w = 0;
  if (a.size() > i) std::memcpy(&w, a.data() + i, a.size() - i);  // an empty view may hold null
  return fmix64(h ^ w ^ (uint64_t(a.size() - i) << 56));
}

inline uint64_t group_key(uint64_t hash) {
  uint64_t k = hash | 1;
  return k == kGroupRetired ? k - 2 : k;
}

// --- locks --------------------------------------------------------------------

// Spins, then yields: holders are never blocked by anything but the scheduler.
inline void spin_lock(std::atomic<uint64_t>& word, uint64_t holder) {
  for (uint32_t spins = 0;; ++spins) {
    uint64_t expect = 0;
    if (word.load(std::memory_order_relaxed) == 0 &&
        word.compare_exchange_weak(expect, holder, std::memory_order_acquire, std::memory_order_relaxed))
      return;
    if (spins < 128)
      _mm_pause();
    else
      sched_yield();
  }
}

inline void lock_group(const SegmentView& v, Lane& lane, uint32_t gi) {
  // Named before the CAS (which orders the two on x86 and in the model).
  lane.group_lock.store(uint64_t(gi) + 1, std::memory_order_relaxed);
  SHMQ_CRASH_POINT();
  spin_lock(v.groups[gi].lock, me(v, lane));
  SHMQ_CRASH_POINT();
}

inline bool try_lock_group(const SegmentView& v, Lane& lane, uint32_t gi) {
  lane.group_lock.store(uint64_t(gi) + 1, std::memory_order_relaxed);
  uint64_t expect = 0;
  if (v.groups[gi].lock.compare_exchange_strong(expect, me(v, lane), std::memory_order_acquire))
    return true;
  lane.group_lock.store(0, std::memory_order_relaxed);
  return false;
}

inline void unlock_group(const SegmentView& v, Lane& lane, uint32_t gi) {
  SHMQ_CRASH_POINT();
  v.groups[gi].lock.store(0, std::memory_order_release);
  lane.group_lock.store(0, std::memory_order_relaxed);
}

inline void lock_aux(Lane& lane, std::atomic<uint64_t>& word, uint64_t holder, AuxLock kind, uint64_t index) {
  lane.aux_lock.store(make_aux_lock(kind, index), std::memory_order_relaxed);
  spin_lock(word, holder);
}

inline void unlock_aux(Lane& lane, std::atomic<uint64_t>& word) {
  word.store(0, std::memory_order_release);
  lane.aux_lock.store(0, std::memory_order_relaxed);
}

// Takes group gi's lock for the broker, waiting for a live holder.
inline void broker_lock_group(const SegmentView& v, uint32_t gi) { lock_group(v, broker_lane(v), gi); }

// --- slots on a group's list ------------------------------------------------------

inline bool deleted_in_group(uint64_t st) {
  return state_of(st) == SlotState::kDeleted && value_of(st) == kDeletedInGroup;
}

// The slots a delete batch took off its groups' lists, returned to their free
// rings together at the end of the batch (free_slots: one claim per class).
struct UnlinkedSlots {
  uint32_t slot[kMaxBatchClaim];
  uint32_t free_gen[kMaxBatchClaim];  // the generation each is FREE under
  size_t n = 0;
};

// Drops deleted messages from the head of the list and frees their slots.
// With u (a delete batch) each slot taken off the head turns DELETED(gen,
// lane) -- the lane's, named by its state word under kBatchHoldsSlots --
// instead of being freed at once, and is collected in *u. Order of each
// step: kUnlinking names the slot, the head moves past it (from here
// recover_group no longer sees it; the op does), then either the slot is
// freed (free_deleted_slot clears the op) or the state names the lane (from
// here the repair's slot scan frees it) and the op is cleared. Past u's
// capacity a slot is freed at once.
// REQUIRES: the group's lock; with u, lane.batch holds kBatchHoldsSlots.
void advance_head(const SegmentView& v, Lane& lane, Group& g, UnlinkedSlots* u = nullptr);

// Appends slot s, its message written, to group gi's list as number seq and
// gives it `state` (VISIBLE, or DELAYED until its due time): seq, then link,
// then tail, then state, so recover_group can tell how far it got.
// REQUIRES: the group's lock; lane.op names s (kSending).
void append_to_group(const SegmentView& v, uint32_t gi, uint32_t s, uint64_t seq, uint64_t state);

// First message on the list that is not deleted, or kNil.
uint32_t first_live(const SegmentView& v, const Group& g, uint64_t* state);

// Pushes the group's token when it has a visible head, nothing leased and no
// token out, and wakes sleeping receivers unless the caller (a batch) does
// that once for all its groups. Returns whether it pushed.
// REQUIRES: the group's lock.
bool make_ready(const SegmentView& v, Lane& lane, uint32_t gi, bool notify = true);

// The broker's repair of a group whose lock holder died (or a token lost):
// finishes the dead lane's append of `appending` if it got linked, drops the
// deleted head run, recounts leases, restores the token. REQUIRES: the lock is
// held by the broker now or by the dead lane, and nobody else runs in it.
void recover_group(const SegmentView& v, uint32_t gi, uint32_t appending, uint32_t dead);

// --- the group table ------------------------------------------------------------------

inline uint64_t group_hash(std::string_view id) { return hash64(id, 0x5348'4D51'4752'5031ULL); }

// Finds the group with this id and returns its index with its lock held;
// kNil when the table is full. Inserts the group when it does not exist.
uint32_t find_and_lock_group(const SegmentView& v, Lane& lane, std::string_view id, uint64_t hash);

// --- deduplication ---------------------------------------------------------------------

struct DedupKey {
  uint64_t hi, lo;
};

inline DedupKey dedup_key(std::string_view scope, std::string_view id) {
  const uint64_t s1 = hash64(scope, 0x4445'4455'5031ULL);
  return {hash64(id, s1 ^ 0x9E3779B97F4A7C15ULL), hash64(id, fmix64(s1 + 0x632BE59BD9B4E019ULL))};
}

enum class DedupOutcome { kFresh, kDuplicate, kBusy };

// Looks the key up; a live entry answers the send with the original message.
// Otherwise adds a pending entry for this lane (recorded in
// lane.dedup_pending) that a concurrent duplicate waits on.
// In a batch (fifo_send_messages) the lane's kBatchDedupPending flag records
// the entry instead, and where a single send would wait (the key's first
// sender is still at it, or every way is pending) it returns kBusy: a batch
// holding pending entries must not wait for another's, or two batches with
// the same ids in opposite orders would wait for each other for ever.
DedupOutcome dedup_begin(const SegmentView& v, Lane& lane, DedupKey key, uint64_t now,
                         FifoSendOutput* out, uint64_t* pending_ref, bool batch = false);

// Completes (slot given) or withdraws (slot == kNil) this lane's pending entry.
void dedup_end(const SegmentView& v, Lane& lane, uint64_t ref, uint32_t slot, uint64_t incarnation,
               uint64_t seq);

}  // namespace shmq::shm
