#include "shm/segment.h"

#include <sys/mman.h>

#include <cstring>
#include <new>

#include "shm/journal_ring.h"

namespace shmq::shm {
namespace {

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

uint32_t pow2_at_least(uint64_t n) {
  uint64_t p = 1;
  while (p < n) p <<= 1;
  return uint32_t(p);
}

// Lays out every region; fills h's geometry fields. Returns the total size.
uint64_t plan(const Geometry& g, bool fifo, Header* h) {
  uint64_t off = sizeof(Header);
  h->lanes_offset = off;
  off = align_up(off + sizeof(Lane) * kMaxLanes, 4096);
  uint32_t total = 0;
  for (uint32_t c = 0; c < kNumClasses; ++c) total += g.counts[c];
  h->total_slots = total;
  h->ready_capacity = pow2_at_least(uint64_t(total) * 2);
  h->ready_ring_offset = off;
  off = align_up(off + sizeof(Cell) * h->ready_capacity, 4096);
  uint32_t first = 0;
  for (uint32_t c = 0; c < kNumClasses; ++c) {
    SizeClass& k = h->classes[c];
    k.first_slot = first;
    k.count = g.counts[c];
    // A FIFO message's metadata and the attributes' encoding do not count
    // against the size limit.
    k.payload_capacity = g.payload[c] + kAttributesEncodingReserve + (fifo ? kFifoMetaReserve : 0) +
                         (c + 1 == kNumClasses ? kSystemAttributesReserve : 0);
    // Twice the slots: a queue at rest holds every slot in its free ring, and
    // with a ring of exactly `count` cells the push position (the consumer's
    // delete) would sit one cell behind the pop position (the producer's
    // send), four cells to a cache line: every send would wait for the line
    // the last delete wrote. With 2x the two are `count` cells apart.
    k.free_capacity = pow2_at_least(k.count ? uint64_t(k.count) * 2 : 1);
    k.free_ring_offset = off;
    off = align_up(off + sizeof(RingPositions) + sizeof(Cell) * k.free_capacity, 4096);
    k.slots_offset = off;
    off = align_up(off + sizeof(Slot) * k.count, 4096);
    k.payload_offset = off;
    off = align_up(off + uint64_t(k.payload_capacity) * k.count, 4096);
    first += k.count;
  }
  h->groups_offset = h->dedup_offset = 0;
  h->group_capacity = h->dedup_buckets = 0;
  if (fifo) {
    // Every stored message may be in a group of its own; deduplication ids
    // are remembered for 5 minutes or the last ~8 per slot, whichever ends first.
    h->group_capacity = pow2_at_least(total);
    h->groups_offset = off;
    off = align_up(off + sizeof(Group) * uint64_t(h->group_capacity), 4096);
    h->dedup_buckets = pow2_at_least(uint64_t(total) * 8 / kDedupWays);
    h->dedup_offset = off;
    off = align_up(off + sizeof(DedupBucket) * uint64_t(h->dedup_buckets), 4096);
  }
  return plan_journal_ring(h, off);
}

SegmentView make_view(char* base, size_t size) {
  SegmentView v;
  v.base = base;
  v.size = size;
  v.header = reinterpret_cast<Header*>(base);
  Header* h = v.header;
  v.lanes = reinterpret_cast<Lane*>(base + h->lanes_offset);
  v.ready.pos = &h->ready;
  v.ready.cells = reinterpret_cast<Cell*>(base + h->ready_ring_offset);
  v.ready.mask = h->ready_capacity - 1;
  v.ready.id = kReadyRing;
  for (uint32_t c = 0; c < kNumClasses; ++c) {
    const SizeClass& k = h->classes[c];
    RingView& r = v.free[c];
    r.pos = reinterpret_cast<RingPositions*>(base + k.free_ring_offset);
    r.cells = reinterpret_cast<Cell*>(base + k.free_ring_offset + sizeof(RingPositions));
    r.mask = k.free_capacity - 1;
    r.id = free_ring_id(c);
    v.slots[c] = reinterpret_cast<Slot*>(base + k.slots_offset);
  }
  if (h->fifo) {
    v.groups = reinterpret_cast<Group*>(base + h->groups_offset);
    v.dedup = reinterpret_cast<DedupBucket*>(base + h->dedup_offset);
  }
  v.journal = journal_ring_view(base, h);
  return v;
}

bool is_pow2(uint64_t v) { return v && !(v & (v - 1)); }

bool inside(uint64_t off, uint64_t len, uint64_t size) { return off <= size && len <= size - off; }

}  // namespace

size_t segment_size(const Geometry& g, bool fifo) {
  Header scratch{};
  return plan(g, fifo, &scratch);
}

SegmentView format_segment(void* base, size_t size, const Geometry& g, uint32_t queue_uid,
                           bool fifo, uint64_t secret) {
  char* b = static_cast<char*>(base);
  Header* h = new (b) Header{};
  h->magic = kMagic;
  h->queue_uid = queue_uid;
  h->total_size = size;
  h->secret = secret;
  h->fifo = fifo ? 1 : 0;
  plan(g, fifo, h);
  SegmentView v = make_view(b, size);
  for (uint32_t i = 0; i < h->group_capacity; ++i) {
    v.groups[i].head.store(kNil, std::memory_order_relaxed);
    v.groups[i].tail.store(kNil, std::memory_order_relaxed);
  }
  // A zero-filled mapping already holds every atomic at 0; the rings need
  // their sequence numbers: the ready ring empty, each free ring full.
  for (uint64_t i = 0; i <= v.ready.mask; ++i) v.ready.cells[i].seq.store(i, std::memory_order_relaxed);
  for (uint32_t c = 0; c < kNumClasses; ++c) {
    const SizeClass& k = h->classes[c];
    RingView& r = v.free[c];
    for (uint64_t i = 0; i <= r.mask; ++i) {
      if (i < k.count) {
        r.cells[i].data.store(k.first_slot + i, std::memory_order_relaxed);
        r.cells[i].seq.store(i + 1, std::memory_order_relaxed);
      } else {
        r.cells[i].seq.store(i, std::memory_order_relaxed);
      }
    }
    r.pos->tail.store(k.count, std::memory_order_relaxed);
    for (uint32_t s = 0; s < k.count; ++s)
      v.slots[c][s].state.store(make_state(SlotState::kFree, 0, 0), std::memory_order_relaxed);
  }
  format_journal_ring(v);
  h->epoch_offset_ms.store(measure_epoch_offset_ms(h), std::memory_order_relaxed);
  h->layout_version.store(kLayoutVersion, std::memory_order_release);
  return v;
}

Result<SegmentView> attach_segment(void* base, size_t size) {
  if (base == nullptr || size < sizeof(Header)) return Status("InternalError", "segment too small");
  char* b = static_cast<char*>(base);
  Header* h = reinterpret_cast<Header*>(b);
  uint32_t version = h->layout_version.load(std::memory_order_acquire);
  if (version == 0) return Status("InternalError", "segment is not initialised yet");
  if (h->magic != kMagic) return Status("InternalError", "segment has a bad magic number");
  if (version != kLayoutVersion) return Status("InternalError", "segment layout version mismatch");
  if (h->total_size != size) return Status("InternalError", "segment size mismatch");
  if (!inside(h->lanes_offset, sizeof(Lane) * kMaxLanes, size) ||
      !is_pow2(h->ready_capacity) ||
      !inside(h->ready_ring_offset, sizeof(Cell) * uint64_t(h->ready_capacity), size))
    return Status("InternalError", "segment header is corrupt");
  uint64_t expect_first = 0;
  for (uint32_t c = 0; c < kNumClasses; ++c) {
    const SizeClass& k = h->classes[c];
    if (k.first_slot != expect_first || !is_pow2(k.free_capacity) || k.free_capacity < k.count ||
        k.payload_capacity == 0 ||
        !inside(k.free_ring_offset, sizeof(RingPositions) + sizeof(Cell) * uint64_t(k.free_capacity), size) ||
        !inside(k.slots_offset, sizeof(Slot) * uint64_t(k.count), size) ||
        !inside(k.payload_offset, uint64_t(k.payload_capacity) * k.count, size))
      return Status("InternalError", "segment size class is corrupt");
    expect_first += k.count;
  }
  if (expect_first != h->total_slots || uint64_t(h->ready_capacity) < 2 * expect_first)
    return Status("InternalError", "segment slot count is corrupt");
  if (h->fifo > 1 ||
      (h->fifo && (!is_pow2(h->group_capacity) || h->group_capacity < h->total_slots ||
                   !is_pow2(h->dedup_buckets) ||
                   !inside(h->groups_offset, sizeof(Group) * uint64_t(h->group_capacity), size) ||
                   !inside(h->dedup_offset, sizeof(DedupBucket) * uint64_t(h->dedup_buckets), size))))
    return Status("InternalError", "segment FIFO tables are corrupt");
  // A FIFO message keeps its metadata at the start of its payload.
  if (h->fifo && h->classes[0].payload_capacity < sizeof(FifoMeta))
    return Status("InternalError", "segment size class is corrupt");
  if (!is_pow2(h->journal.capacity) || uint64_t(h->journal.capacity) < 2 * expect_first ||
      !inside(h->journal.cells_offset, sizeof(Cell) * uint64_t(h->journal.capacity), size))
    return Status("InternalError", "segment journal ring is corrupt");
  return make_view(b, size);
}

void advise_huge_pages(void* base, size_t size) {
  (void)madvise(base, size, MADV_HUGEPAGE);  // EINVAL where THP is compiled out: 4 KiB pages, as before
}

}  // namespace shmq::shm
