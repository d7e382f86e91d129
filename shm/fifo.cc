#include "shm/fifo.h"

#include <immintrin.h>
#include <sched.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "shm/crash_point.h"
#include "shm/journal_ring.h"
#include "shm/queue_batch.h"
#include "shm/ring.h"

namespace shmq::shm {
namespace {

Lane& broker_lane(const SegmentView& v) { return v.lanes[kBrokerLane]; }
uint64_t me(const SegmentView& v, const Lane& lane) { return uint64_t(lane_index(v, lane)) + 1; }

// --- hashing ----------------------------------------------------------------

uint64_t fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

uint64_t hash64(std::string_view a, uint64_t seed) {
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

uint64_t group_key(uint64_t hash) {
  uint64_t k = hash | 1;
  return k == kGroupRetired ? k - 2 : k;
}

// --- locks --------------------------------------------------------------------

// Spins, then yields: holders are never blocked by anything but the scheduler.
void spin_lock(std::atomic<uint64_t>& word, uint64_t holder) {
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

void lock_group(const SegmentView& v, Lane& lane, uint32_t gi) {
  // Named before the CAS (which orders the two on x86 and in the model).
  lane.group_lock.store(uint64_t(gi) + 1, std::memory_order_relaxed);
  SHMQ_CRASH_POINT();
  spin_lock(v.groups[gi].lock, me(v, lane));
  SHMQ_CRASH_POINT();
}

bool try_lock_group(const SegmentView& v, Lane& lane, uint32_t gi) {
  lane.group_lock.store(uint64_t(gi) + 1, std::memory_order_relaxed);
  uint64_t expect = 0;
  if (v.groups[gi].lock.compare_exchange_strong(expect, me(v, lane), std::memory_order_acquire))
    return true;
  lane.group_lock.store(0, std::memory_order_relaxed);
  return false;
}

void unlock_group(const SegmentView& v, Lane& lane, uint32_t gi) {
  SHMQ_CRASH_POINT();
  v.groups[gi].lock.store(0, std::memory_order_release);
  lane.group_lock.store(0, std::memory_order_relaxed);
}

void lock_aux(Lane& lane, std::atomic<uint64_t>& word, uint64_t holder, AuxLock kind, uint64_t index) {
  lane.aux_lock.store(make_aux_lock(kind, index), std::memory_order_relaxed);
  spin_lock(word, holder);
}

void unlock_aux(Lane& lane, std::atomic<uint64_t>& word) {
  word.store(0, std::memory_order_release);
  lane.aux_lock.store(0, std::memory_order_relaxed);
}

// --- slots on a group's list ------------------------------------------------------

bool deleted_in_group(uint64_t st) {
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
void advance_head(const SegmentView& v, Lane& lane, Group& g, UnlinkedSlots* u = nullptr) {
  for (uint32_t guard = 0; guard <= v.total_slots(); ++guard) {
    const uint32_t s = g.head.load(std::memory_order_relaxed);
    if (s == kNil || s >= v.total_slots()) return;
    const uint64_t st = v.slot(s).state.load(std::memory_order_acquire);
    if (!deleted_in_group(st)) return;
    const uint32_t next = v.meta(s).next.load(std::memory_order_relaxed);
    lane.op.store(make_op(LaneOp::kUnlinking, s, gen_of(st)), std::memory_order_relaxed);
    SHMQ_CRASH_POINT();
    g.head.store(next, std::memory_order_relaxed);
    if (next == kNil) g.tail.store(kNil, std::memory_order_relaxed);
    SHMQ_CRASH_POINT();
    if (u == nullptr || u->n == kMaxBatchClaim) {
      free_deleted_slot(v, lane, s, gen_of(st));  // clears lane.op
      continue;
    }
    v.slot(s).state.store(make_state(SlotState::kDeleted, gen_of(st), lane_index(v, lane)),
                          std::memory_order_release);
    SHMQ_CRASH_POINT();
    lane.op.store(0, std::memory_order_relaxed);
    u->slot[u->n] = s;
    u->free_gen[u->n++] = next_gen(gen_of(st));
  }
}

// Appends slot s, its message written, to group gi's list as number seq and
// gives it `state` (VISIBLE, or DELAYED until its due time): seq, then link,
// then tail, then state, so recover_group can tell how far it got.
// REQUIRES: the group's lock; lane.op names s (kSending).
void append_to_group(const SegmentView& v, uint32_t gi, uint32_t s, uint64_t seq, uint64_t state) {
  Group& g = v.groups[gi];
  FifoMeta& m = v.meta(s);
  m.seq.store(seq, std::memory_order_relaxed);
  m.group.store(gi, std::memory_order_relaxed);
  SHMQ_CRASH_POINT();
  const uint32_t tail = g.tail.load(std::memory_order_relaxed);
  if (tail == kNil)
    g.head.store(s, std::memory_order_relaxed);
  else
    v.meta(tail).next.store(s, std::memory_order_relaxed);
  SHMQ_CRASH_POINT();
  g.tail.store(s, std::memory_order_relaxed);
  SHMQ_CRASH_POINT();
  v.slot(s).state.store(state, std::memory_order_release);
  SHMQ_CRASH_POINT();
}

// First message on the list that is not deleted, or kNil.
uint32_t first_live(const SegmentView& v, const Group& g, uint64_t* state) {
  uint32_t s = g.head.load(std::memory_order_relaxed);
  for (uint32_t guard = 0; s != kNil && s < v.total_slots() && guard <= v.total_slots(); ++guard) {
    const uint64_t st = v.slot(s).state.load(std::memory_order_acquire);
    if (!deleted_in_group(st)) {
      *state = st;
      return s;
    }
    s = v.meta(s).next.load(std::memory_order_relaxed);
  }
  return kNil;
}

// Pushes the group's token when it has a visible head, nothing leased and no
// token out, and wakes sleeping receivers unless the caller (a batch) does
// that once for all its groups. Returns whether it pushed.
// REQUIRES: the group's lock.
bool make_ready(const SegmentView& v, Lane& lane, uint32_t gi, bool notify = true) {
  Group& g = v.groups[gi];
  if (g.in_ready.load(std::memory_order_relaxed) || g.leased.load(std::memory_order_relaxed)) return false;
  uint64_t st = 0;
  if (first_live(v, g, &st) == kNil || state_of(st) != SlotState::kVisible) return false;
  g.in_ready.store(1, std::memory_order_relaxed);
  SHMQ_CRASH_POINT();
  if (!ring_push(v.ready, lane, make_entry(gi, 0), [] {})) {
    g.in_ready.store(0, std::memory_order_relaxed);  // the broker's maintenance pushes it later
    return false;
  }
  if (notify) notify_receivers(v.header);
  return true;
}

// The broker's repair of a group whose lock holder died (or a token lost):
// finishes the dead lane's append of `appending` if it got linked, drops the
// deleted head run, recounts leases, restores the token. REQUIRES: the lock is
// held by the broker now or by the dead lane, and nobody else runs in it.
void recover_group(const SegmentView& v, uint32_t gi, uint32_t appending, uint32_t dead) {
  Lane& b = broker_lane(v);
  Group& g = v.groups[gi];
  const uint64_t key = g.key.load(std::memory_order_relaxed);
  if (key == 0 || key == kGroupRetired) return;  // an entry being inserted: it stays free
  if (appending < v.total_slots()) {
    Slot& s = v.slot(appending);
    const uint64_t st = s.state.load(std::memory_order_acquire);
    if (state_of(st) == SlotState::kReserved && value_of(st) == dead &&
        v.meta(appending).group.load(std::memory_order_relaxed) == gi) {
      const uint32_t head = g.head.load(std::memory_order_relaxed);
      const uint32_t tail = g.tail.load(std::memory_order_relaxed);
      bool linked = tail == appending;
      if (!linked && tail == kNil && head == appending) linked = true;
      if (!linked && tail != kNil && tail < v.total_slots() &&
          v.meta(tail).next.load(std::memory_order_relaxed) == appending)
        linked = true;
      if (linked) {
        // On the list: it keeps its place; publishing it is the only way to
        // keep the list whole (it was never acknowledged, so either is fine).
        g.tail.store(appending, std::memory_order_relaxed);
        s.state.store(make_state(SlotState::kVisible, gen_of(st), 0), std::memory_order_release);
      }
    }
  }
  advance_head(v, b, g);
  uint32_t leased = 0;
  uint32_t s = g.head.load(std::memory_order_relaxed);
  for (uint32_t guard = 0; s != kNil && s < v.total_slots() && guard <= v.total_slots(); ++guard) {
    if (state_of(v.slot(s).state.load(std::memory_order_acquire)) == SlotState::kLeased) ++leased;
    s = v.meta(s).next.load(std::memory_order_relaxed);
  }
  g.leased.store(leased, std::memory_order_relaxed);
  g.in_ready.store(0, std::memory_order_relaxed);
  make_ready(v, b, gi);
}

// Takes group gi's lock for the broker, waiting for a live holder.
void broker_lock_group(const SegmentView& v, uint32_t gi) { lock_group(v, broker_lane(v), gi); }

// --- the group table ------------------------------------------------------------------

bool same_id(const Group& g, std::string_view id) {
  const uint32_t n = g.id_len.load(std::memory_order_relaxed);
  return n == id.size() && std::memcmp(g.id, id.data(), n) == 0;
}

// Finds the group with this id and returns its index with its lock held;
// kNil when the table is full. Inserts the group when it does not exist.
uint64_t group_hash(std::string_view id) { return hash64(id, 0x5348'4D51'4752'5031ULL); }

uint32_t find_and_lock_group(const SegmentView& v, Lane& lane, std::string_view id, uint64_t hash) {
  const uint64_t key = group_key(hash);
  const uint32_t mask = v.group_capacity() - 1;
  auto lookup = [&]() -> uint32_t {
    for (uint32_t i = 0; i <= mask; ++i) {
      const uint32_t gi = uint32_t(hash + i) & mask;
      Group& g = v.groups[gi];
      const uint64_t k = g.key.load(std::memory_order_acquire);
      if (k == 0) return kNil;  // the end of the probe chain
      if (k != key) continue;
      lock_group(v, lane, gi);
      if (g.key.load(std::memory_order_relaxed) == key && same_id(g, id)) return gi;
      unlock_group(v, lane, gi);
    }
    return kNil;
  };
  if (uint32_t gi = lookup(); gi != kNil) return gi;

  // Insert under the table lock, so one id never gets two entries.
  Header* h = v.header;
  lock_aux(lane, h->group_insert_lock, me(v, lane), AuxLock::kGroupInsert, 0);
  uint32_t found = lookup();
  if (found == kNil) {
    for (uint32_t i = 0; i <= mask; ++i) {
      const uint32_t gi = uint32_t(hash + i) & mask;
      Group& g = v.groups[gi];
      const uint64_t k = g.key.load(std::memory_order_acquire);
      if (k != 0 && k != kGroupRetired) continue;
      lock_group(v, lane, gi);
      SHMQ_CRASH_POINT();
      g.head.store(kNil, std::memory_order_relaxed);
      g.tail.store(kNil, std::memory_order_relaxed);
      g.leased.store(0, std::memory_order_relaxed);
      g.in_ready.store(0, std::memory_order_relaxed);
      g.id_len.store(uint32_t(id.size()), std::memory_order_relaxed);
      std::memcpy(g.id, id.data(), id.size());
      g.key.store(key, std::memory_order_release);
      found = gi;
      break;
    }
  }
  unlock_aux(lane, h->group_insert_lock);
  return found;
}

// --- deduplication ---------------------------------------------------------------------

struct DedupKey {
  uint64_t hi, lo;
};

DedupKey dedup_key(std::string_view scope, std::string_view id) {
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
                         FifoSendOutput* out, uint64_t* pending_ref, bool batch = false) {
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

// Completes (slot given) or withdraws (slot == kNil) this lane's pending entry.
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

}  // namespace

FifoIds fifo_ids(const SegmentView& v, uint32_t s);

namespace {

// What a receive hands out for the message in slot s, leased (or read) as
// generation gen. False when its lengths do not fit its payload (corrupt).
// REQUIRES: the caller holds the message.
bool read_delivery(const SegmentView& v, uint32_t s, uint32_t gen, Delivery* d) {
  Slot& slot = v.slot(s);
  const uint32_t attrs_len = slot.attrs_len.load(std::memory_order_relaxed);
  const uint32_t body_len = slot.body_len.load(std::memory_order_relaxed);
  const FifoIds ids = fifo_ids(v, s);
  if (uint64_t(ids.prefix) + attrs_len + body_len > v.payload_capacity(s)) return false;
  const char* p = v.payload(s) + ids.prefix;
  *d = Delivery{s,
                gen,
                slot.incarnation.load(std::memory_order_relaxed),
                p + attrs_len,
                body_len,
                p,
                attrs_len,
                slot.receive_count.load(std::memory_order_relaxed),
                slot.sent_epoch_ms.load(std::memory_order_relaxed),
                slot.first_receive_epoch_ms.load(std::memory_order_relaxed),
                slot.sender_uid.load(std::memory_order_relaxed)};
  d->group_id = ids.group_id.data();
  d->group_len = uint32_t(ids.group_id.size());
  d->dedup_id = ids.dedup_id.data();
  d->dedup_len = uint32_t(ids.dedup_id.size());
  d->sequence_number = ids.sequence_number;
  return true;
}

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

FifoDedupKey fifo_dedup_key(std::string_view scope, std::string_view id) {
  const DedupKey k = dedup_key(scope, id);
  return {k.hi, k.lo};
}

uint64_t fifo_group_hash(std::string_view id) { return group_hash(id); }
uint64_t fifo_group_key(uint64_t hash) { return group_key(hash); }

FifoIds fifo_ids(const SegmentView& v, uint32_t s) {
  const FifoMeta& m = v.meta(s);
  const char* p = v.payload(s) + sizeof(FifoMeta);
  const uint32_t gl = std::min(m.group_len.load(std::memory_order_relaxed), kMaxGroupIdLength);
  const uint32_t dl = std::min(m.dedup_len.load(std::memory_order_relaxed), kMaxGroupIdLength);
  return {std::string_view(p, gl), std::string_view(p + gl, dl), m.seq.load(std::memory_order_relaxed),
          fifo_meta_size(gl, dl)};
}

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

size_t fifo_receive(const SegmentView& v, Lane& lane, uint64_t visibility_ms, size_t max,
                    Delivery* out) {
  Header* h = v.header;
  size_t n = 0;
  uint64_t now = 0;
  auto record = [&](uint64_t e) {
    lane.op.store(make_op(LaneOp::kLeasing, entry_slot(e), 0), std::memory_order_relaxed);
  };
  // Groups read with visibility 0 stay dispatchable; their tokens go back
  // after the loop, so this call does not deliver the same message twice.
  uint32_t reready[16];
  size_t nreready = 0;
  while (n < max) {
    uint64_t e;
    if (!ring_pop(v.ready, lane, &e, record)) break;
    const uint32_t gi = entry_slot(e);
    if (e == kTombstone || gi >= v.group_capacity()) {
      lane.op.store(0, std::memory_order_relaxed);
      continue;
    }
    lock_group(v, lane, gi);
    lane.op.store(0, std::memory_order_relaxed);  // the lock's record covers the token now
    Group& g = v.groups[gi];
    g.in_ready.store(0, std::memory_order_relaxed);
    const uint64_t key = g.key.load(std::memory_order_relaxed);
    if (key != 0 && key != kGroupRetired && g.leased.load(std::memory_order_relaxed) == 0) {
      advance_head(v, lane, g);
      if (now == 0) now = queue_clock_ms(h);
      const uint32_t max_rc = h->config.max_receive_count.load(std::memory_order_relaxed);
      uint32_t s = g.head.load(std::memory_order_relaxed);
      for (uint32_t guard = 0; n < max && s != kNil && s < v.total_slots() && guard <= v.total_slots();
           ++guard) {
        Slot& slot = v.slot(s);
        uint64_t st = slot.state.load(std::memory_order_acquire);
        const uint32_t next = v.meta(s).next.load(std::memory_order_relaxed);
        if (deleted_in_group(st)) {
          s = next;
          continue;
        }
        if (state_of(st) != SlotState::kVisible) break;  // delayed, or leased after a change
        const uint32_t ng = next_gen(gen_of(st));
        const uint32_t count = slot.receive_count.load(std::memory_order_relaxed) + 1;
        // With visibility 0 the message is only read (SQS delivers it and
        // leaves it visible), unless it is due for its dead-letter queue.
        const bool lease = visibility_ms > 0 || (max_rc != 0 && count >= max_rc);
        slot.state.store(lease ? make_state(SlotState::kLeased, ng, now + visibility_ms)
                               : make_state(SlotState::kVisible, ng, 0),
                         std::memory_order_release);
        if (lease) g.leased.store(g.leased.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        SHMQ_CRASH_POINT();
        slot.receive_count.store(count, std::memory_order_relaxed);
        const uint64_t wall = epoch_ms(h, now);
        uint64_t first = slot.first_receive_epoch_ms.load(std::memory_order_relaxed);
        if (first == 0) {
          first = wall;
          slot.first_receive_epoch_ms.store(wall, std::memory_order_relaxed);
        }
        slot.lease_start_ms.store(now, std::memory_order_relaxed);
        if (read_delivery(v, s, ng, &out[n])) ++n;  // a corrupt length is skipped
        if (lease && visibility_ms == 0) break;  // left to the broker's dead-letter move
        s = next;
      }
      if (visibility_ms == 0 && nreready < std::size(reready))
        reready[nreready++] = gi;
      else
        make_ready(v, lane, gi);  // nothing was visible yet: no token is owed
    }
    unlock_group(v, lane, gi);
  }
  for (size_t i = 0; i < nreready; ++i) {
    lock_group(v, lane, reready[i]);
    make_ready(v, lane, reready[i]);
    unlock_group(v, lane, reready[i]);
  }
  return n;
}

bool fifo_peek(const SegmentView& v, const HandleRef& h, Delivery* out) {
  if (h.slot >= v.total_slots()) return false;
  Slot& slot = v.slot(h.slot);
  const uint64_t st = slot.state.load(std::memory_order_acquire);
  if (state_of(st) != SlotState::kLeased || gen_of(st) != h.gen ||
      value_of(st) <= queue_clock_ms(v.header) ||
      slot.incarnation.load(std::memory_order_acquire) != h.incarnation)
    return false;
  return read_delivery(v, h.slot, h.gen, out);
}

namespace {

// The checks and the mark of a FIFO delete, under group gi's lock. True when
// this call marked the message DELETED in its group (and uncounted its
// lease); otherwise *result is the answer: OK when the message is gone
// already (deleting twice is not an error), else "The receipt handle has
// expired." REQUIRES: the lock of group gi; h.slot < total slots.
bool mark_deleted_in_group(const SegmentView& v, uint32_t gi, const HandleRef& h, Status* result) {
  Slot& slot = v.slot(h.slot);
  Group& g = v.groups[gi];
  *result = Status::OK();
  const uint64_t st = slot.state.load(std::memory_order_acquire);
  if (slot.incarnation.load(std::memory_order_acquire) != h.incarnation ||
      v.meta(h.slot).group.load(std::memory_order_relaxed) != gi)
    return false;  // gone already
  if (deleted_in_group(st)) {
    if (gen_of(st) != h.gen) *result = expired_handle();
    return false;
  }
  // Unlinked and freed (or claimed again, its incarnation not yet bumped):
  // the message is gone, and SQS answers a repeated delete with success.
  if (!live_message(state_of(st))) return false;
  if (state_of(st) != SlotState::kLeased || gen_of(st) != h.gen || value_of(st) <= queue_clock_ms(v.header)) {
    *result = expired_handle();
    return false;
  }
  slot.state.store(make_state(SlotState::kDeleted, h.gen, kDeletedInGroup), std::memory_order_release);
  SHMQ_CRASH_POINT();
  g.leased.store(g.leased.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  return true;
}

}  // namespace

Status fifo_delete(const SegmentView& v, Lane& lane, const HandleRef& h) {
  if (h.slot >= v.total_slots())
    return Status("ReceiptHandleIsInvalid", "The input receipt handle is not a valid receipt handle.");
  Slot& slot = v.slot(h.slot);
  if (slot.incarnation.load(std::memory_order_acquire) != h.incarnation) return Status::OK();
  const uint32_t gi = v.meta(h.slot).group.load(std::memory_order_acquire);
  if (gi >= v.group_capacity()) return Status::OK();
  lock_group(v, lane, gi);
  Group& g = v.groups[gi];
  Status result;
  if (!mark_deleted_in_group(v, gi, h, &result)) {
    unlock_group(v, lane, gi);
    return result;
  }
  advance_head(v, lane, g);
  make_ready(v, lane, gi);
  unlock_group(v, lane, gi);
  // After the lock: a full journal ring may make this wait.
  journal_after_delete(v, lane, h.slot, h.incarnation);
  return result;
}

size_t fifo_delete_messages(const SegmentView& v, Lane& lane, const HandleRef* h, size_t n, Status* status) {
  n = std::min<size_t>(n, kMaxBatchClaim);
  uint32_t gi_of[kMaxBatchClaim];
  for (size_t i = 0; i < n; ++i) {
    status[i] = Status::OK();
    gi_of[i] = kNil;
    if (h[i].slot >= v.total_slots()) {
      status[i] = Status("ReceiptHandleIsInvalid", "The input receipt handle is not a valid receipt handle.");
      continue;
    }
    if (v.slot(h[i].slot).incarnation.load(std::memory_order_acquire) != h[i].incarnation) continue;
    const uint32_t gi = v.meta(h[i].slot).group.load(std::memory_order_acquire);
    if (gi < v.group_capacity()) gi_of[i] = gi;
  }
  lane.batch.store(kBatchHoldsSlots, std::memory_order_relaxed);
  SHMQ_CRASH_POINT();
  UnlinkedSlots unlinked;
  uint32_t deleted[kMaxBatchClaim];
  size_t nd = 0;
  bool tokens = false;
  bool done[kMaxBatchClaim] = {};
  // One lock per distinct group: the handles of a group in batch order.
  for (size_t i = 0; i < n; ++i) {
    if (gi_of[i] == kNil || done[i]) continue;
    const uint32_t gi = gi_of[i];
    lock_group(v, lane, gi);
    bool any = false;
    for (size_t j = i; j < n; ++j) {
      if (done[j] || gi_of[j] != gi) continue;
      done[j] = true;
      if (mark_deleted_in_group(v, gi, h[j], &status[j])) {
        deleted[nd++] = uint32_t(j);
        any = true;
      }
    }
    if (any) {
      advance_head(v, lane, v.groups[gi], &unlinked);
      tokens |= make_ready(v, lane, gi, false);
    }
    unlock_group(v, lane, gi);
  }
  for (size_t k = 0; k < nd; ++k) journal_after_delete(v, lane, h[deleted[k]].slot, h[deleted[k]].incarnation);
  SHMQ_CRASH_POINT();
  free_slots(v, lane, unlinked.slot, unlinked.free_gen, unlinked.n);
  lane.batch.store(0, std::memory_order_relaxed);
  if (tokens) notify_receivers(v.header);
  return size_t(std::count_if(status, status + n, [](const Status& s) { return s.ok(); }));
}

Status fifo_change_visibility(const SegmentView& v, Lane& lane, const HandleRef& h,
                              uint64_t visibility_ms) {
  if (h.slot >= v.total_slots())
    return Status("ReceiptHandleIsInvalid", "The input receipt handle is not a valid receipt handle.");
  Slot& slot = v.slot(h.slot);
  if (slot.incarnation.load(std::memory_order_acquire) != h.incarnation) return not_available_for_change();
  const uint32_t gi = v.meta(h.slot).group.load(std::memory_order_acquire);
  if (gi >= v.group_capacity()) return not_available_for_change();
  v.header->visibility_changes.fetch_add(1, std::memory_order_release);
  lock_group(v, lane, gi);
  Group& g = v.groups[gi];
  Status result = Status::OK();
  const uint64_t st = slot.state.load(std::memory_order_acquire);
  const uint64_t now = queue_clock_ms(v.header);
  if (slot.incarnation.load(std::memory_order_acquire) != h.incarnation ||
      v.meta(h.slot).group.load(std::memory_order_relaxed) != gi || !live_message(state_of(st))) {
    result = not_available_for_change();
  } else if (state_of(st) != SlotState::kLeased || gen_of(st) != h.gen || value_of(st) <= now) {
    result = expired_handle();
  } else if (Status cap = check_visibility_cap(slot.lease_start_ms.load(std::memory_order_relaxed), now,
                                                visibility_ms);
             !cap.ok()) {
    result = cap;
  } else {
    const uint32_t max_rc = v.header->config.max_receive_count.load(std::memory_order_relaxed);
    const bool to_dlq = max_rc != 0 && slot.receive_count.load(std::memory_order_relaxed) >= max_rc;
    if (visibility_ms == 0 && !to_dlq) {
      slot.state.store(make_state(SlotState::kVisible, h.gen, 0), std::memory_order_release);
      g.leased.store(g.leased.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
      make_ready(v, lane, gi);
    } else {
      // A message due for its dead-letter queue is left to the broker's timer.
      slot.state.store(make_state(SlotState::kLeased, h.gen, now + visibility_ms),
                       std::memory_order_release);
    }
  }
  unlock_group(v, lane, gi);
  return result;
}

// --- broker -------------------------------------------------------------------------

namespace {

// One group's timers under its lock: expiry, delay, retention, DLQ moves.
void process_group(const SegmentView& v, uint32_t gi, uint64_t now, const DeadLetterMover& mover) {
  Header* h = v.header;
  Counters& counters = h->counters;
  Lane& b = broker_lane(v);
  Group& g = v.groups[gi];
  const uint64_t retention_ms = uint64_t(h->config.retention_s.load(std::memory_order_relaxed)) * 1000;
  const uint32_t max_rc = h->config.max_receive_count.load(std::memory_order_relaxed);
  const bool redrive = max_rc != 0 && h->config.dlq_uid.load(std::memory_order_relaxed) != 0;
  // Messages this pass removes (retention, dead-letter moves): journaled
  // after the lock, so a rebuilt queue does not bring them back.
  std::vector<std::pair<uint32_t, uint64_t>> removed;
  broker_lock_group(v, gi);
  const uint64_t key = g.key.load(std::memory_order_relaxed);
  if (key != 0 && key != kGroupRetired) {
    uint32_t s = g.head.load(std::memory_order_relaxed);
    for (uint32_t guard = 0; s != kNil && s < v.total_slots() && guard <= v.total_slots(); ++guard) {
      Slot& slot = v.slot(s);
      const uint32_t next = v.meta(s).next.load(std::memory_order_relaxed);
      const uint64_t st = slot.state.load(std::memory_order_acquire);
      const SlotState k = state_of(st);
      const uint32_t gen = gen_of(st);
      if (!live_message(k)) {
        s = next;
        continue;
      }
      const bool leased = k == SlotState::kLeased;
      const bool due = k != SlotState::kVisible && value_of(st) <= now;
      if (slot.sent_clock_ms.load(std::memory_order_relaxed) + retention_ms <= now) {
        slot.state.store(make_state(SlotState::kDeleted, gen, kDeletedInGroup), std::memory_order_release);
        if (leased) g.leased.store(g.leased.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        counters.retention_deleted.fetch_add(1, std::memory_order_relaxed);
        removed.emplace_back(s, slot.incarnation.load(std::memory_order_relaxed));
      } else if (due && leased && redrive &&
                 slot.receive_count.load(std::memory_order_relaxed) >= max_rc && mover(s)) {
        slot.state.store(make_state(SlotState::kDeleted, gen, kDeletedInGroup), std::memory_order_release);
        g.leased.store(g.leased.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        counters.dlq_moved.fetch_add(1, std::memory_order_relaxed);
        removed.emplace_back(s, slot.incarnation.load(std::memory_order_relaxed));
      } else if (due) {
        slot.state.store(make_state(SlotState::kVisible, gen, 0), std::memory_order_release);
        if (leased) g.leased.store(g.leased.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        (leased ? counters.leases_expired : counters.delays_released).fetch_add(1, std::memory_order_relaxed);
      }
      s = next;
    }
    advance_head(v, b, g);
    make_ready(v, b, gi);
  }
  unlock_group(v, b, gi);
  for (const auto& [slot, inc] : removed) journal_after_delete(v, b, slot, inc);
}

}  // namespace

ScanResult fifo_scan(const SegmentView& v, uint64_t now, const DeadLetterMover& mover) {
  Header* h = v.header;
  ScanResult r;
  const uint64_t retention_ms = uint64_t(h->config.retention_s.load(std::memory_order_relaxed)) * 1000;
  std::vector<uint32_t> due_groups;
  for (uint32_t i = 0; i < v.total_slots(); ++i) {
    Slot& s = v.slot(i);
    const uint64_t st = s.state.load(std::memory_order_acquire);
    const SlotState k = state_of(st);
    if (!live_message(k)) continue;
    const uint64_t expires = s.sent_clock_ms.load(std::memory_order_relaxed) + retention_ms;
    bool due = expires <= now;
    r.next_deadline_ms = std::min(r.next_deadline_ms, expires);
    if (k == SlotState::kVisible) {
      ++r.visible;
    } else {
      ++(k == SlotState::kLeased ? r.not_visible : r.delayed);
      if (value_of(st) <= now)
        due = true;
      else
        r.next_deadline_ms = std::min(r.next_deadline_ms, value_of(st));
    }
    if (due) {
      const uint32_t gi = v.meta(i).group.load(std::memory_order_relaxed);
      if (gi < v.group_capacity()) due_groups.push_back(gi);
      r.next_deadline_ms = now;
    }
  }
  if (mover) {
    std::sort(due_groups.begin(), due_groups.end());
    due_groups.erase(std::unique(due_groups.begin(), due_groups.end()), due_groups.end());
    for (uint32_t gi : due_groups) process_group(v, gi, now, mover);
    if (!due_groups.empty()) r.next_deadline_ms = now;  // count again after the changes
  }
  h->counters.approx_visible.store(r.visible, std::memory_order_relaxed);
  h->counters.approx_not_visible.store(r.not_visible, std::memory_order_relaxed);
  h->counters.approx_delayed.store(r.delayed, std::memory_order_relaxed);
  return r;
}

void fifo_maintain(const SegmentView& v) {
  Header* h = v.header;
  Lane& b = broker_lane(v);
  uint64_t expect = 0;
  b.aux_lock.store(make_aux_lock(AuxLock::kGroupInsert, 0), std::memory_order_relaxed);
  const bool may_retire =
      h->group_insert_lock.compare_exchange_strong(expect, me(v, b), std::memory_order_acquire);
  if (!may_retire) b.aux_lock.store(0, std::memory_order_relaxed);
  for (uint32_t gi = 0; gi < v.group_capacity(); ++gi) {
    Group& g = v.groups[gi];
    const uint64_t key = g.key.load(std::memory_order_acquire);
    if (key == 0 || key == kGroupRetired) continue;
    if (!try_lock_group(v, b, gi)) continue;
    if (g.key.load(std::memory_order_relaxed) == key) {
      advance_head(v, b, g);
      if (may_retire && g.head.load(std::memory_order_relaxed) == kNil &&
          g.leased.load(std::memory_order_relaxed) == 0)
        g.key.store(kGroupRetired, std::memory_order_release);  // a stale token finds it retired
      else if (!g.in_ready.load(std::memory_order_relaxed))
        make_ready(v, b, gi);
    }
    unlock_group(v, b, gi);
  }
  if (may_retire) unlock_aux(b, h->group_insert_lock);
}

uint64_t fifo_purge(const SegmentView& v) {
  Lane& b = broker_lane(v);
  uint64_t n = 0;
  for (uint32_t gi = 0; gi < v.group_capacity(); ++gi) {
    Group& g = v.groups[gi];
    const uint64_t key = g.key.load(std::memory_order_acquire);
    if (key == 0 || key == kGroupRetired) continue;
    broker_lock_group(v, gi);
    uint32_t s = g.head.load(std::memory_order_relaxed);
    for (uint32_t guard = 0; s != kNil && s < v.total_slots() && guard <= v.total_slots(); ++guard) {
      Slot& slot = v.slot(s);
      const uint64_t st = slot.state.load(std::memory_order_acquire);
      if (live_message(state_of(st))) {
        slot.state.store(make_state(SlotState::kDeleted, gen_of(st), kDeletedInGroup),
                         std::memory_order_release);
        ++n;
      }
      s = v.meta(s).next.load(std::memory_order_relaxed);
    }
    g.leased.store(0, std::memory_order_relaxed);
    advance_head(v, b, g);
    unlock_group(v, b, gi);
  }
  v.header->counters.purged.fetch_add(n, std::memory_order_relaxed);
  return n;
}

void fifo_repair_lane(const SegmentView& v, uint32_t dead, uint64_t popped_token) {
  Lane& d = v.lanes[dead];
  Lane& b = broker_lane(v);
  Header* h = v.header;
  const uint64_t dead_holder = uint64_t(dead) + 1;
  const bool broker_self = dead == kBrokerLane;

  // 1. A dedup entry the dead lane added and never finished: withdraw it
  //    (its send was not acknowledged). Then a bucket lock it held.
  const uint64_t aux = d.aux_lock.load(std::memory_order_acquire);
  if (aux_kind(aux) == AuxLock::kDedupBucket && aux_index(aux) < h->dedup_buckets) {
    DedupBucket& bucket = v.dedup[aux_index(aux)];
    if (bucket.lock.load(std::memory_order_acquire) == dead_holder)
      bucket.lock.store(0, std::memory_order_release);
  }
  const uint64_t pending = d.dedup_pending.load(std::memory_order_acquire);
  if (pending != 0 && ((pending - 1) >> 8) < h->dedup_buckets && ((pending - 1) & 0xff) < kDedupWays) {
    DedupBucket& bucket = v.dedup[(pending - 1) >> 8];
    DedupEntry& e = bucket.entries[(pending - 1) & 0xff];
    if (!broker_self) spin_lock(bucket.lock, me(v, b));
    // Still ours: `pending` names the dead lane (a completed entry never
    // does: dedup_end clears it first), possibly with the pending bit not
    // yet set over the evicted entry's `when`; or pending with the field
    // already cleared by dedup_end. Not taken over (a completed entry may
    // have been reused by another sender: its pending names that sender).
    std::atomic<uint32_t>& when = bucket.when[(pending - 1) & 0xff];
    const uint32_t owner = e.pending.load(std::memory_order_relaxed);
    if (owner == dead_holder || ((when.load(std::memory_order_relaxed) & kDedupPendingBit) && owner == 0)) {
      when.store(0, std::memory_order_relaxed);
      e.pending.store(0, std::memory_order_relaxed);
    }
    if (!broker_self) bucket.lock.store(0, std::memory_order_release);
  }
  d.dedup_pending.store(0, std::memory_order_relaxed);
  // A send batch's pending entries are named only by the lane in their
  // `pending` field (kBatchDedupPending): withdraw every one, with or
  // without the pending bit (half added over an evicted entry, or half
  // withdrawn).
  if (d.batch.load(std::memory_order_acquire) & kBatchDedupPending) {
    for (uint64_t bi = 0; bi < h->dedup_buckets; ++bi) {
      DedupBucket& bucket = v.dedup[bi];
      bool named = false;
      for (uint32_t w = 0; w < kDedupWays; ++w)
        named |= bucket.entries[w].pending.load(std::memory_order_relaxed) == dead_holder;
      if (!named) continue;
      if (!broker_self) spin_lock(bucket.lock, me(v, b));
      for (uint32_t w = 0; w < kDedupWays; ++w) {
        if (bucket.entries[w].pending.load(std::memory_order_relaxed) != dead_holder) continue;
        bucket.when[w].store(0, std::memory_order_relaxed);
        bucket.entries[w].pending.store(0, std::memory_order_relaxed);
      }
      if (!broker_self) bucket.lock.store(0, std::memory_order_release);
    }
  }

  // 2. A group lock: finish the critical section the lane was in.
  const uint64_t op = d.op.load(std::memory_order_acquire);
  const uint64_t gl = d.group_lock.load(std::memory_order_acquire);
  if (gl != 0 && gl - 1 < v.group_capacity()) {
    const uint32_t gi = uint32_t(gl - 1);
    Group& g = v.groups[gi];
    if (g.lock.load(std::memory_order_acquire) == dead_holder) {
      const uint32_t appending = op_kind(op) == LaneOp::kSending ? op_slot(op) : kNil;
      recover_group(v, gi, appending, dead);
      g.lock.store(0, std::memory_order_release);
    }
  }
  d.group_lock.store(0, std::memory_order_relaxed);
  if (aux_kind(aux) == AuxLock::kGroupInsert &&
      h->group_insert_lock.load(std::memory_order_acquire) == dead_holder)
    h->group_insert_lock.store(0, std::memory_order_release);
  d.aux_lock.store(0, std::memory_order_relaxed);

  // 3. The slot or token the lane held.
  const uint32_t s = op_slot(op);
  switch (op_kind(op)) {
    case LaneOp::kSending:
      if (s < v.total_slots()) {
        const uint64_t st = v.slot(s).state.load(std::memory_order_acquire);
        if (state_of(st) == SlotState::kFree ||
            (state_of(st) == SlotState::kReserved && value_of(st) == dead)) {
          // Never linked: never visible, never acknowledged.
          release_reserved_slot(v, b, s);
          h->counters.slots_reclaimed.fetch_add(1, std::memory_order_relaxed);
        }
      }
      break;
    case LaneOp::kUnlinking:
      if (s < v.total_slots()) {
        const uint64_t st = v.slot(s).state.load(std::memory_order_acquire);
        if (deleted_in_group(st) && gen_of(st) == op_gen(op)) {
          // Off its list (recover_group above would have freed it otherwise).
          free_deleted_slot(v, b, s, gen_of(st));
          h->counters.slots_reclaimed.fetch_add(1, std::memory_order_relaxed);
        }
      }
      break;
    case LaneOp::kLeasing:
      popped_token = make_entry(s, 0);
      break;
    default:
      break;
  }
  // 4. A token popped and never acted on: the group needs one again.
  if (popped_token != kTombstone && entry_slot(popped_token) < v.group_capacity()) {
    const uint32_t gi = entry_slot(popped_token);
    broker_lock_group(v, gi);
    recover_group(v, gi, kNil, dead);
    unlock_group(v, b, gi);
  }
}

}  // namespace shmq::shm
