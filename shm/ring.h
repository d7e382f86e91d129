// Bounded MPMC ring of 64-bit values in shared memory (Vyukov's algorithm),
// made crash-repairable by intent-before-claim.
//
// Thread safety / invariants:
//  - Any number of processes push and pop concurrently.
//  - Before the CAS that claims position p, the caller stores
//    make_intent(ring, pop, p) in its own lane. So every claimed cell that is
//    not yet published (push) or released (pop) is named by the intent of the
//    lane that claimed it, until that lane finishes the step. A dead lane's
//    claimed cell is finished by the broker (repair.h); a live lane's never is.
//  - A pop hands the value to `record` before it releases the cell, so the
//    caller can record what it now holds (lane.op) while the cell still holds
//    it too: at every instant the value is reachable from the ring or the lane.
//  - Batched steps (ring_push_batch, ring_pop_batch) claim a run of cells
//    with one CAS; the intent then names the run (position and count).
//  - Positions are 64-bit and only grow; a cell's seq says which lap it is in,
//    so there is no ABA.
#pragma once

#include <cstdint>

#include "shm/crash_point.h"
#include "shm/layout.h"
#include "shm/segment.h"

namespace shmq::shm {

// Pushes value. Returns false when the ring is full. `published()` runs after
// the cell is published and before the intent is cleared, so a caller can
// clear lane.op there: a lane never names a value as "being pushed" with no
// intent to tell whether the push happened. Any process, through its own lane.
template <class Published>
inline bool ring_push(const RingView& r, Lane& lane, uint64_t value, Published&& published) {
  uint64_t pos = r.pos->tail.load(std::memory_order_relaxed);
  for (;;) {
    Cell& c = r.cells[pos & r.mask];
    uint64_t seq = c.seq.load(std::memory_order_acquire);
    int64_t dif = int64_t(seq - pos);
    if (dif == 0) {
      lane.intent.store(make_intent(r.id, false, pos), std::memory_order_relaxed);
      SHMQ_CRASH_POINT();
      if (r.pos->tail.compare_exchange_weak(pos, pos + 1, std::memory_order_acq_rel,
                                            std::memory_order_relaxed)) {
        SHMQ_CRASH_POINT();
        c.data.store(value, std::memory_order_relaxed);
        SHMQ_CRASH_POINT();
        c.seq.store(pos + 1, std::memory_order_release);
        SHMQ_CRASH_POINT();
        published();
        SHMQ_CRASH_POINT();
        lane.intent.store(0, std::memory_order_relaxed);
        return true;
      }
    } else if (dif < 0) {
      lane.intent.store(0, std::memory_order_relaxed);  // a claim lost to another lane named pos
      return false;
    } else {
      pos = r.pos->tail.load(std::memory_order_relaxed);
    }
  }
}

// Pops one value into *out. Returns false when the ring is empty (or its head
// cell is claimed but not yet published). `record(value)` runs after the
// claim and before the release. Any process, through its own lane.
template <class Record>
inline bool ring_pop(const RingView& r, Lane& lane, uint64_t* out, Record&& record) {
  uint64_t pos = r.pos->head.load(std::memory_order_relaxed);
  for (;;) {
    Cell& c = r.cells[pos & r.mask];
    uint64_t seq = c.seq.load(std::memory_order_acquire);
    int64_t dif = int64_t(seq - (pos + 1));
    if (dif == 0) {
      lane.intent.store(make_intent(r.id, true, pos), std::memory_order_relaxed);
      SHMQ_CRASH_POINT();
      if (r.pos->head.compare_exchange_weak(pos, pos + 1, std::memory_order_acq_rel,
                                            std::memory_order_relaxed)) {
        SHMQ_CRASH_POINT();
        uint64_t v = c.data.load(std::memory_order_relaxed);
        record(v);
        SHMQ_CRASH_POINT();
        c.seq.store(pos + r.mask + 1, std::memory_order_release);
        SHMQ_CRASH_POINT();
        lane.intent.store(0, std::memory_order_relaxed);
        *out = v;
        return true;
      }
    } else if (dif < 0) {
      lane.intent.store(0, std::memory_order_relaxed);  // a claim lost to another lane named pos
      return false;
    } else {
      pos = r.pos->head.load(std::memory_order_relaxed);
    }
  }
}

// Batched steps: one CAS claims up to kMaxBatchClaim consecutive positions.
// The intent names the whole range (make_intent's count), so the crash
// argument above holds cell by cell: every claimed cell not yet published or
// released lies in the range of the claiming lane's intent.
//
// Pushes up to n values (n <= kMaxBatchClaim) with one claim of the longest
// run of free cells at the tail. Returns how many it pushed: 0 when the ring
// is full; fewer than n when a cell behind the run is not yet free (call
// again for the rest). After the claim it writes every value, then sets
// kBatchCellsWritten in lane.batch (from then on a repair publishes the
// claimed cells as they are), then for each cell i calls before_publish(i)
// and publishes the cell, then published(), then clears the flag and the
// intent. Any process, through its own lane.
template <class BeforePublish, class Published>
inline size_t ring_push_batch(const RingView& r, Lane& lane, const uint64_t* values, size_t n,
                              BeforePublish&& before_publish, Published&& published) {
  uint64_t pos = r.pos->tail.load(std::memory_order_relaxed);
  for (;;) {
    size_t m = 0;
    for (; m < n; ++m) {
      const int64_t dif = int64_t(r.cells[(pos + m) & r.mask].seq.load(std::memory_order_acquire) - (pos + m));
      if (dif != 0) {
        if (m == 0 && dif < 0) {  // full
          lane.intent.store(0, std::memory_order_relaxed);  // a claim lost to another lane named pos
          return 0;
        }
        break;
      }
    }
    if (m == 0) {  // another producer claimed pos meanwhile
      pos = r.pos->tail.load(std::memory_order_relaxed);
      continue;
    }
    lane.intent.store(make_intent(r.id, false, pos, uint32_t(m)), std::memory_order_relaxed);
    SHMQ_CRASH_POINT();
    if (!r.pos->tail.compare_exchange_weak(pos, pos + m, std::memory_order_acq_rel,
                                           std::memory_order_relaxed))
      continue;
    SHMQ_CRASH_POINT();
    for (size_t i = 0; i < m; ++i) r.cells[(pos + i) & r.mask].data.store(values[i], std::memory_order_relaxed);
    SHMQ_CRASH_POINT();
    lane.batch.store(lane.batch.load(std::memory_order_relaxed) | kBatchCellsWritten,
                     std::memory_order_release);
    for (size_t i = 0; i < m; ++i) {
      SHMQ_CRASH_POINT();
      before_publish(i);
      SHMQ_CRASH_POINT();
      r.cells[(pos + i) & r.mask].seq.store(pos + i + 1, std::memory_order_release);
    }
    SHMQ_CRASH_POINT();
    published();
    lane.batch.store(lane.batch.load(std::memory_order_relaxed) & ~kBatchCellsWritten,
                     std::memory_order_relaxed);
    lane.intent.store(0, std::memory_order_relaxed);
    return m;
  }
}

// Pops up to max values (max <= kMaxBatchClaim) into out with one claim of
// the longest run of published cells at the head. Returns how many: 0 when
// the ring is empty (or its head cell is claimed but not yet published).
// `record(out, m)` runs after the claim and before the cells are released,
// so a caller can make every value reachable from elsewhere (a slot's state
// word) while the cells still hold them. Any process, through its own lane.
template <class Record>
inline size_t ring_pop_batch(const RingView& r, Lane& lane, uint64_t* out, size_t max, Record&& record) {
  uint64_t pos = r.pos->head.load(std::memory_order_relaxed);
  for (;;) {
    size_t m = 0;
    for (; m < max; ++m) {
      const int64_t dif =
          int64_t(r.cells[(pos + m) & r.mask].seq.load(std::memory_order_acquire) - (pos + m + 1));
      if (dif != 0) {
        if (m == 0 && dif < 0) {  // empty
          lane.intent.store(0, std::memory_order_relaxed);  // a claim lost to another lane named pos
          return 0;
        }
        break;
      }
    }
    if (m == 0) {
      pos = r.pos->head.load(std::memory_order_relaxed);
      continue;
    }
    lane.intent.store(make_intent(r.id, true, pos, uint32_t(m)), std::memory_order_relaxed);
    SHMQ_CRASH_POINT();
    if (!r.pos->head.compare_exchange_weak(pos, pos + m, std::memory_order_acq_rel,
                                           std::memory_order_relaxed))
      continue;
    SHMQ_CRASH_POINT();
    for (size_t i = 0; i < m; ++i) out[i] = r.cells[(pos + i) & r.mask].data.load(std::memory_order_relaxed);
    record(out, m);
    for (size_t i = 0; i < m; ++i) {
      SHMQ_CRASH_POINT();
      r.cells[(pos + i) & r.mask].seq.store(pos + i + r.mask + 1, std::memory_order_release);
    }
    SHMQ_CRASH_POINT();
    lane.intent.store(0, std::memory_order_relaxed);
    return m;
  }
}

// The value in the head cell if it is published, without claiming it: a
// hint for prefetching what a pop is about to touch (another lane may pop
// it first). Any process; writes nothing.
inline bool ring_peek(const RingView& r, uint64_t* out) {
  const uint64_t pos = r.pos->head.load(std::memory_order_relaxed);
  const Cell& c = r.cells[pos & r.mask];
  if (c.seq.load(std::memory_order_acquire) != pos + 1) return false;
  *out = c.data.load(std::memory_order_relaxed);
  return true;
}

// The cell the next push would claim, for a prefetch (any process).
inline const Cell* ring_tail_cell(const RingView& r) {
  return &r.cells[r.pos->tail.load(std::memory_order_relaxed) & r.mask];
}

// Approximate number of values in the ring (any process).
inline uint64_t ring_size(const RingView& r) {
  uint64_t t = r.pos->tail.load(std::memory_order_acquire);
  uint64_t h = r.pos->head.load(std::memory_order_acquire);
  return t > h ? t - h : 0;
}

}  // namespace shmq::shm
