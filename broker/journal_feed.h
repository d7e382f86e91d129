// The broker's journal thread: drains the journal ring of every queue
// segment (shm/journal_ring.h) into the journal (broker/journal), and once
// what it took is on disk, releases those ring cells and advances each
// ring's head, which wakes the queue's `sync` senders.
//
// One pass: for each queue, read the published entries from where the last
// pass stopped; for a SEND copy the slot (seqlock: re-check incarnation and
// state after the copy, so a message deleted and recycled meanwhile is
// dropped); append the records; wait until the journal says they are
// durable (group commit: whatever arrives during that fdatasync is the next
// pass); then advance the heads. Idle, it sleeps on every queue's doorbell
// (futex_waitv) for at most 2 ms, so `async` records reach the disk within
// a few milliseconds while `sync` senders ring the doorbell.
//
// A journal failure is copied into every segment's journal.error (sticky):
// sync senders then fail at once, and nothing more is consumed.
//
// Thread safety: add_queue and remove_queue from the conductor thread;
// everything else on the feed's own thread. A view given to add_queue must
// stay mapped until remove_queue returns.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>

#include "broker/journal/journal.h"
#include "shm/segment.h"

namespace shmq::broker {

class JournalFeed {
 public:
  explicit JournalFeed(journal::Journal* journal);
  ~JournalFeed();
  JournalFeed(const JournalFeed&) = delete;
  JournalFeed& operator=(const JournalFeed&) = delete;

  void add_queue(uint32_t uid, const shm::SegmentView& view);
  void remove_queue(uint32_t uid);
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  struct Feed {
    shm::SegmentView view;
    uint64_t next = 0;  // next ring position to read
  };
  void run();
  bool collect(uint64_t* last_seq);
  void release_all();
  void sleep_idle();
  void propagate_error();

  journal::Journal* journal_;
  std::mutex mu_;  // guards feeds_ (the views' lifetime)
  std::map<uint32_t, Feed> feeds_;
  std::atomic<bool> stop_{false};
  std::atomic<uint32_t> wake_{0};  // bumped to end a sleep early (stop)
  std::atomic<uint64_t> dropped_{0};  // SEND entries whose message was already gone
  std::string scratch_;  // a slot's payload, copied
  std::string batch_;    // one pass's records
  std::thread thread_;
};

}  // namespace shmq::broker
