// The broker's journal thread: drains the journal ring of every queue
// segment (shm/journal_ring.h) into the journal (broker/journal), and once
// what it took is on disk, releases those ring cells and advances each
// ring's head, which wakes the queue's `sync` senders.
//
// One pass: for each queue, read the published entries from where the last
// pass stopped; for a SEND copy the slot (and, on a FIFO queue, its group
// id, dedup id and SequenceNumber); for a FIFO_DEDUP copy the dedup entry (seqlock: re-check incarnation and
// state after the copy, so a message deleted and recycled meanwhile is
// dropped); append the records and remember (ring position, last sequence).
// Then the same thread commits (Journal::commit: write + fdatasync, the
// journal opened with writer_thread false): whatever the senders pushed
// during that fdatasync is the next batch (group commit), and no hand-off
// to another thread sits between a sender's doorbell and its fdatasync.
// The next pass, after taking what was pushed during the fdatasync,
// releases each ring's cells up to the positions whose records are durable
// and advances the heads, waking the sync senders; before the next commit
// the feed waits (yielding, bounded by the last commit's time) until as
// many sync SENDs as it released have come back, so they share one
// fdatasync instead of splitting over two.
// Idle, the feed sleeps on every queue's doorbell (futex_waitv) for at most
// 2 ms, so `async` records reach the disk within a few milliseconds while
// `sync` senders ring the doorbell.
//
// A journal failure is copied into every segment's journal.error (sticky):
// sync senders then fail at once, and nothing more is consumed.
//
// Thread safety: add_queue and remove_queue from the conductor thread;
// everything else on the feed's own thread. A view given to add_queue must
// stay mapped until remove_queue returns.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
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
  struct Mark {
    uint64_t end;  // ring positions before it ...
    uint64_t seq;  // ... are journaled once this sequence is durable
    uint64_t sync_sends;  // sync SEND records among them (each has a waiter)
  };
  struct Feed {
    shm::SegmentView view;
    uint64_t next = 0;  // next ring position to read
    std::deque<Mark> marks;
    uint64_t pass_sync_sends = 0;  // in the current pass (collect)
  };
  void run();
  // One pass over every ring (counting sync SENDs in sync_since_commit_),
  // then the release of what the last commit made durable. False when no
  // ring had anything.
  bool collect();
  void gather();
  // Appends a FIFO_DEDUP record for a kFifoDedup entry; false if the entry
  // was reused or never completed.
  bool append_fifo_dedup(uint32_t uid, const shm::SegmentView& v, uint64_t entry);
  // Returns how many sync SEND records it released (the senders it woke
  // wait for those). REQUIRES: mu_ held.
  uint64_t release(uint64_t durable_seq);
  void sleep_idle(long timeout_ns);
  void propagate_error();

  journal::Journal* journal_;
  std::mutex mu_;  // guards feeds_ (the views' lifetime)
  std::map<uint32_t, Feed> feeds_;
  std::atomic<bool> stop_{false};
  std::atomic<uint32_t> wake_{0};  // bumped to end a sleep early (stop)
  std::atomic<uint64_t> dropped_{0};  // SEND entries whose message was already gone
  std::string batch_;    // one pass's records
  uint64_t sync_since_commit_ = 0;  // sync SEND records collected since the last commit
  uint64_t gather_target_ = 0;      // gather() waits for this many (see run)
  std::chrono::nanoseconds last_commit_{0};  // how long the last commit took
  std::thread thread_;
};

}  // namespace shmq::broker
