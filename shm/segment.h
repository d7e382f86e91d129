// SegmentView: typed access to a mapped queue segment (layout.h), and the
// two ways to get one: format a fresh mapping (broker) or validate an
// existing one (broker on restart, client on open). Nothing here maps or
// opens files; the caller owns the mapping.
//
// Thread safety: a SegmentView is an immutable set of pointers into the
// mapping, usable from any thread while the mapping lives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>

#include "shm/layout.h"
#include "shmq/status.h"

namespace shmq::shm {

// How many slots each class has and how big their payloads are.
struct Geometry {
  uint32_t counts[kNumClasses] = {16384, 2048, 256, 32};
  uint32_t payload[kNumClasses] = {256, 4096, 65536, 1048576};
};

struct RingView {
  RingPositions* pos = nullptr;
  Cell* cells = nullptr;
  uint64_t mask = 0;  // capacity - 1
  uint32_t id = 0;    // kReadyRing or free_ring_id(class)
};

struct SegmentView {
  char* base = nullptr;
  size_t size = 0;
  Header* header = nullptr;
  Lane* lanes = nullptr;
  RingView ready;
  RingView free[kNumClasses];
  Slot* slots[kNumClasses] = {};
  Group* groups = nullptr;       // FIFO queues only
  DedupBucket* dedup = nullptr;  // FIFO queues only
  RingView journal;  // journal_ring.h

  uint32_t total_slots() const { return header->total_slots; }
  // REQUIRES: s < total_slots().
  uint32_t class_of(uint32_t s) const {
    uint32_t c = 0;
    while (c + 1 < kNumClasses && s >= header->classes[c + 1].first_slot) ++c;
    return c;
  }
  Slot& slot(uint32_t s) const {
    uint32_t c = class_of(s);
    return slots[c][s - header->classes[c].first_slot];
  }
  char* payload(uint32_t s) const {
    uint32_t c = class_of(s);
    const SizeClass& k = header->classes[c];
    return base + k.payload_offset + uint64_t(s - k.first_slot) * k.payload_capacity;
  }
  uint32_t payload_capacity(uint32_t s) const { return header->classes[class_of(s)].payload_capacity; }
  RingView& ring(uint32_t id) { return id == kReadyRing ? ready : free[id - 1]; }
  uint32_t group_capacity() const { return header->group_capacity; }
  // FIFO: the metadata at the start of slot s's payload.
  FifoMeta& meta(uint32_t s) const { return *reinterpret_cast<FifoMeta*>(payload(s)); }
};

// Bytes a segment with this geometry needs (a FIFO queue's adds its group
// and deduplication tables).
size_t segment_size(const Geometry& g, bool fifo = false);

// Formats a zero-filled mapping of segment_size(g) bytes: every slot FREE and
// listed in its class's free ring. Stores layout_version last.
// Broker only, before any client can see the mapping.
SegmentView format_segment(void* base, size_t size, const Geometry& g, uint32_t queue_uid,
                           bool fifo, uint64_t secret);

// Checks magic, version and that every offset and size lies inside the
// mapping. Any process. A corrupted or hostile header yields an error.
Result<SegmentView> attach_segment(void* base, size_t size);

// Asks for transparent huge pages on a segment mapping (MADV_HUGEPAGE).
// The slot, group and deduplication tables are read at random and are far
// larger than what the TLB covers with 4 KiB pages. The kernel honours it
// only where the tmpfs that holds the segment allows it (/dev/shm mounted
// with huge=advise, within_size or always; shmem_enabled "force");
// elsewhere nothing changes. The broker calls it before formatting (pages
// are chosen at the first touch), clients after mapping.
void advise_huge_pages(void* base, size_t size);

// The queue clock, in milliseconds: CLOCK_MONOTONIC_COARSE (a vDSO read, no
// syscall) plus the segment's test skew. Deadlines in state words use it.
inline uint64_t queue_clock_ms(const Header* h) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000 +
         uint64_t(h->clock_skew_ms.load(std::memory_order_relaxed));
}
// Wall clock in epoch milliseconds (skewed too) for SentTimestamp and friends,
// derived from a queue-clock reading: no second clock read on the hot path.
inline uint64_t epoch_ms(const Header* h, uint64_t queue_now_ms) {
  return queue_now_ms + uint64_t(h->epoch_offset_ms.load(std::memory_order_relaxed));
}
// Wall minus queue clock right now (the broker stores it in the header).
inline int64_t measure_epoch_offset_ms(const Header* h) {
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  const int64_t wall = int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000 +
                       h->clock_skew_ms.load(std::memory_order_relaxed);
  return wall - int64_t(queue_clock_ms(h));
}

}  // namespace shmq::shm
