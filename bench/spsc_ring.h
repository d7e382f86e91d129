// The floor: a single-producer single-consumer ring in a MAP_SHARED mapping,
// the least any shared-memory queue must do to move a message between two
// processes: copy the body into a slot and publish the tail; the consumer sees
// the tail, reads the slot in place and publishes the head.
//
//   +-----------------+-----------------+----------------------------------+
//   | tail (own line) | head (own line) | capacity x slot (payload rounded |
//   | producer writes | consumer writes |   up to whole cache lines)       |
//   +-----------------+-----------------+----------------------------------+
//
// Each side keeps a private copy of the other side's index and reloads it only
// when the ring looks full (producer) or empty (consumer), so in the steady
// state a message moves two lines: its slot and the tail (rigtorp/SPSCQueue's
// idea). Fixed-size slots: every message of a run has the same size.
//
// Thread safety / invariants: exactly one producer process and one consumer
// process. Positions only grow; slot i holds position p when p % capacity == i;
// the producer writes a slot only when tail - head < capacity, the consumer
// reads it only when head < tail, both with acquire/release on the indices.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "bench/shared_memory.h"

namespace shmq::bench {

class SpscRing {
 public:
  // REQUIRES: capacity is a power of two. Parent, before fork.
  SpscRing(size_t payload_bytes, size_t capacity)
      : payload_(payload_bytes),
        slot_bytes_((payload_bytes + 63) / 64 * 64),
        mask_(capacity - 1),
        memory_(sizeof(Control) + capacity * slot_bytes_) {
    new (memory_.data()) Control();
  }

  // The producer's side. One process.
  class Producer {
   public:
    explicit Producer(const SpscRing& r) : r_(r), tail_(r.control()->tail.load()) {}
    // Copies n bytes into the next slot without publishing it; false when full.
    bool try_write(const char* p, size_t n) {
      if (written_ - cached_head_ > r_.mask_) {
        cached_head_ = r_.control()->head.load(std::memory_order_acquire);
        if (written_ - cached_head_ > r_.mask_) return false;
      }
      std::memcpy(r_.slot(written_), p, n);
      ++written_;
      return true;
    }
    // Makes every written slot visible to the consumer.
    void publish() {
      tail_ = written_;
      r_.control()->tail.store(tail_, std::memory_order_release);
    }

   private:
    const SpscRing& r_;
    uint64_t tail_;
    uint64_t written_ = tail_;
    uint64_t cached_head_ = 0;
  };

  // The consumer's side. One process.
  class Consumer {
   public:
    explicit Consumer(const SpscRing& r) : r_(r), head_(r.control()->head.load()) {}
    // How many published slots are readable, up to max.
    size_t peek(size_t max) {
      if (cached_tail_ == head_) cached_tail_ = r_.control()->tail.load(std::memory_order_acquire);
      const uint64_t avail = cached_tail_ - head_;
      return size_t(avail < max ? avail : max);
    }
    // The i-th readable slot. REQUIRES: i < the last peek().
    std::string_view slot(size_t i) const { return {r_.slot(head_ + i), r_.payload_}; }
    // Gives the first n readable slots back to the producer.
    void release(size_t n) {
      head_ += n;
      r_.control()->head.store(head_, std::memory_order_release);
    }

   private:
    const SpscRing& r_;
    uint64_t head_;
    uint64_t cached_tail_ = head_;
  };

 private:
  struct Control {
    alignas(64) std::atomic<uint64_t> tail{0};  // producer
    alignas(64) std::atomic<uint64_t> head{0};  // consumer
  };
  Control* control() const { return reinterpret_cast<Control*>(memory_.data()); }
  char* slot(uint64_t pos) const {
    return memory_.data() + sizeof(Control) + (pos & mask_) * slot_bytes_;
  }

  size_t payload_;
  size_t slot_bytes_;
  uint64_t mask_;
  SharedBytes memory_;
};

// Slots for a ring of this payload size: 4096, or fewer so the ring stays
// within 16 MiB.
inline size_t spsc_capacity_for(size_t payload) {
  size_t cap = 4096;
  while (cap > 16 && cap * ((payload + 63) / 64 * 64) > (size_t(16) << 20)) cap /= 2;
  return cap;
}

}  // namespace shmq::bench
