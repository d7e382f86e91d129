// FIFO batches (fifo.h: fifo_send_messages, fifo_delete_messages) on a
// segment in this process's memory: order within a group across a batch,
// duplicates inside one batch and against earlier sends, OverLimit in the
// middle of a batch, and deletes over several groups returning every slot.
// The crash side is in fifo_crash_points_test (ClientKilledAtEveryPointOfItsBatches).
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "shm/fifo.h"
#include "shm/queue_ops.h"
#include "shm/ring.h"
#include "shm/segment.h"
#include "tests/support/crash_trial.h"

namespace shmq::shm {
namespace {

class FifoBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const Geometry g = testing::small_geometry();  // 8 / 4 / 2 / 1 slots
    size_ = segment_size(g, true);
    base_ = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(base_, MAP_FAILED);
    v_ = format_segment(base_, size_, g, 5, true, 77);
    v_.header->config.visibility_timeout_s = 30;
    v_.header->config.retention_s = 345600;
    v_.header->config.max_message_size = 1048576;
    v_.lanes[kBrokerLane].owner = kBrokerClientId;
    v_.lanes[1].owner = 11;
  }
  void TearDown() override {
    if (base_) munmap(base_, size_);
  }
  Lane& lane() { return v_.lanes[1]; }

  // Entry i of a batch: body, group and dedup id kept alive by the fixture.
  void add(std::string body, std::string group, std::string dedup) {
    bodies_.push_back(std::move(body));
    groups_.push_back(std::move(group));
    dedups_.push_back(std::move(dedup));
  }
  size_t send_batch(FifoSendOutput* out, Status* st) {
    std::vector<FifoSendEntry> e(bodies_.size());
    for (size_t i = 0; i < e.size(); ++i) {
      e[i].in.body = bodies_[i];
      e[i].group_id = groups_[i];
      e[i].dedup_id = dedups_[i];
    }
    const size_t n = fifo_send_messages(v_, lane(), e.data(), e.size(), out, st);
    EXPECT_EQ(lane().batch.load(), 0u);
    EXPECT_EQ(lane().dedup_pending.load(), 0u);
    return n;
  }
  // Receives (leases) everything, deletes it with one batch per receive,
  // and returns the bodies per group in delivery order.
  std::map<std::string, std::vector<std::string>> drain(std::vector<uint64_t>* seqs = nullptr) {
    std::map<std::string, std::vector<std::string>> got;
    Delivery d[10];
    for (int rounds = 0; rounds < 100; ++rounds) {
      const size_t n = fifo_receive(v_, lane(), 30000, 10, d);
      if (n == 0) break;
      HandleRef h[10];
      Status st[10];
      for (size_t i = 0; i < n; ++i) {
        got[std::string(d[i].group_id, d[i].group_len)].emplace_back(d[i].body, d[i].body_len);
        if (seqs) seqs->push_back(d[i].sequence_number);
        h[i] = {d[i].slot, d[i].gen, d[i].incarnation};
      }
      EXPECT_EQ(fifo_delete_messages(v_, lane(), h, n, st), n);
      EXPECT_EQ(lane().batch.load(), 0u);
    }
    return got;
  }

  // A popper claims class 0's free-ring head cell and stalls there (as one
  // preempted between its claim and its release); sends, receives and
  // deletes of group A go round the ring until its tail reaches that cell
  // again. Returns the stalled position; *d is a message of A, leased, whose
  // free will push onto that very cell.
  uint64_t lap_a_stalled_pop(Delivery* d) {
    const RingView& r = v_.free[0];
    const uint64_t stalled = r.pos->head.fetch_add(1);
    SendInput in;
    in.body = "x";
    FifoSendOutput o{};
    for (int i = 0; r.pos->tail.load() < stalled + r.mask + 1; ++i) {
      EXPECT_TRUE(fifo_send(v_, lane(), in, "A", "lap" + std::to_string(i), &o).ok());
      EXPECT_EQ(fifo_receive(v_, lane(), 30000, 1, d), 1u);
      EXPECT_TRUE(fifo_delete(v_, lane(), {d->slot, d->gen, d->incarnation}).ok());
    }
    EXPECT_TRUE(fifo_send(v_, lane(), in, "A", "last", &o).ok());
    EXPECT_EQ(fifo_receive(v_, lane(), 30000, 1, d), 1u);
    EXPECT_EQ(v_.class_of(d->slot), 0u);
    return stalled;
  }
  void release_stalled_pop(uint64_t pos) {
    const RingView& r = v_.free[0];
    r.cells[pos & r.mask].seq.store(pos + r.mask + 1);
  }
  // Laps a stalled pop (above) and has the broker free the leased message's
  // slot with `broker_free(d)`, which must return well within the patience
  // -- the broker must not wait it out -- leaving the slot DELETED(broker
  // lane), in no ring and off its group's list, until a scan after the
  // popper's release frees it.
  template <class Free>
  void expect_broker_defers(Free&& broker_free) {
    Delivery d{};
    const uint64_t stalled = lap_a_stalled_pop(&d);
    const uint32_t s = d.slot;
    const uint64_t fingerprint = activity_fingerprint(v_);
    const auto start = std::chrono::steady_clock::now();
    broker_free(d);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(kCellPatienceMs / 2))
        << "the broker waited out the patience";
    const RingView& r = v_.free[0];
    const uint64_t listed = ring_size(r);
    const uint64_t st = v_.slot(s).state.load();
    EXPECT_EQ(state_of(st), SlotState::kDeleted);
    EXPECT_EQ(value_of(st), kBrokerLane);
    EXPECT_EQ(v_.groups[v_.meta(s).group.load()].head.load(), kNil);
    EXPECT_EQ(v_.header->counters.frees_handed_over.load(), 1u);
    EXPECT_NE(activity_fingerprint(v_), fingerprint) << "an idle queue's tick would not scan for the deferral";
    EXPECT_EQ(v_.lanes[kBrokerLane].op.load(), 0u);
    EXPECT_EQ(v_.lanes[kBrokerLane].batch.load(), 0u);
    const uint64_t now = queue_clock_ms(v_.header);
    // Still held: a scan tries again, defers again, and asks to run soon.
    ScanResult sr = fifo_scan(v_, now, nullptr);
    EXPECT_EQ(state_of(v_.slot(s).state.load()), SlotState::kDeleted);
    EXPECT_LE(sr.next_deadline_ms, now + 1000);
    release_stalled_pop(stalled);
    fifo_scan(v_, now, nullptr);
    EXPECT_EQ(state_of(v_.slot(s).state.load()), SlotState::kFree);
    EXPECT_EQ(ring_size(r), listed + 1);
    EXPECT_EQ(v_.header->counters.frees_handed_over.load(), 2u) << "the scan's deferral counts again";
    EXPECT_EQ(v_.lanes[kBrokerLane].op.load(), 0u);
  }

  size_t size_ = 0;
  void* base_ = nullptr;
  SegmentView v_;
  std::vector<std::string> bodies_, groups_, dedups_;
};

TEST_F(FifoBatchTest, OrderWithinAGroupIsBatchOrder) {
  // Three groups, interleaved and in runs; within each, the batch order is
  // the send order, and sequence numbers increase in batch order.
  const char* g[] = {"A", "A", "B", "A", "C", "C", "A", "B"};
  for (int i = 0; i < 8; ++i) add("m" + std::to_string(i), g[i], "d" + std::to_string(i));
  FifoSendOutput out[8];
  Status st[8];
  ASSERT_EQ(send_batch(out, st), 8u);
  std::map<std::string, uint64_t> last_seq;
  uint64_t prev = 0;
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(st[i].ok()) << i << ": " << st[i].message();
    EXPECT_FALSE(out[i].duplicate);
    EXPECT_GT(out[i].sequence_number, last_seq[g[i]]) << i;  // increasing within a group, in batch order
    last_seq[g[i]] = out[i].sequence_number;
    EXPECT_GT(out[i].sequence_number, prev) << i;  // as a loop of single sends numbers them
    prev = out[i].sequence_number;
  }
  std::vector<uint64_t> seqs;
  auto got = drain(&seqs);
  EXPECT_EQ(got["A"], (std::vector<std::string>{"m0", "m1", "m3", "m6"}));
  EXPECT_EQ(got["B"], (std::vector<std::string>{"m2", "m7"}));
  EXPECT_EQ(got["C"], (std::vector<std::string>{"m4", "m5"}));
  EXPECT_EQ(seqs.size(), 8u);
  testing::expect_every_slot_free_once(v_, lane(), 0);
}

TEST_F(FifoBatchTest, BatchAfterSingleSendsKeepsGroupOrderAndSequenceNumbers) {
  // A single send first, then a batch to the same group: the batch follows it.
  std::string first = "single";
  SendInput in;
  in.body = first;
  FifoSendOutput one;
  ASSERT_TRUE(fifo_send(v_, lane(), in, "A", "s0", &one).ok());
  add("b0", "A", "x0");
  add("b1", "B", "x1");
  add("b2", "A", "x2");
  FifoSendOutput out[3];
  Status st[3];
  ASSERT_EQ(send_batch(out, st), 3u);
  EXPECT_LT(one.sequence_number, out[0].sequence_number);
  EXPECT_LT(out[0].sequence_number, out[2].sequence_number);
  auto got = drain();
  EXPECT_EQ(got["A"], (std::vector<std::string>{"single", "b0", "b2"}));
  EXPECT_EQ(got["B"], (std::vector<std::string>{"b1"}));
}

TEST_F(FifoBatchTest, DuplicatesInsideOneBatchAndAgainstEarlierSendsAreAnsweredWithTheOriginal) {
  std::string early = "early";
  SendInput in;
  in.body = early;
  FifoSendOutput orig;
  ASSERT_TRUE(fifo_send(v_, lane(), in, "A", "dup-early", &orig).ok());
  add("e0", "A", "dup-early");  // a duplicate of the earlier send
  add("e1", "A", "fresh-1");
  add("e2", "B", "fresh-2");
  add("e3", "A", "fresh-1");  // a duplicate of entry 1, in the same batch
  add("e4", "B", "fresh-4");
  FifoSendOutput out[5];
  Status st[5];
  ASSERT_EQ(send_batch(out, st), 5u);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(st[i].ok()) << i << ": " << st[i].message();
  EXPECT_TRUE(out[0].duplicate);
  EXPECT_EQ(out[0].slot, orig.slot);
  EXPECT_EQ(out[0].incarnation, orig.incarnation);
  EXPECT_EQ(out[0].sequence_number, orig.sequence_number);
  EXPECT_FALSE(out[1].duplicate);
  EXPECT_TRUE(out[3].duplicate);
  EXPECT_EQ(out[3].slot, out[1].slot);
  EXPECT_EQ(out[3].incarnation, out[1].incarnation);
  EXPECT_EQ(out[3].sequence_number, out[1].sequence_number);
  // A later batch repeating an id of this one is a duplicate too.
  bodies_.clear(), groups_.clear(), dedups_.clear();
  add("again", "B", "fresh-4");
  FifoSendOutput again;
  Status ast;
  ASSERT_EQ(send_batch(&again, &ast), 1u);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.sequence_number, out[4].sequence_number);
  auto got = drain();
  EXPECT_EQ(got["A"], (std::vector<std::string>{"early", "e1"}));
  EXPECT_EQ(got["B"], (std::vector<std::string>{"e2", "e4"}));
  testing::expect_every_slot_free_once(v_, lane(), 0);
}

TEST_F(FifoBatchTest, OverLimitMidBatchLeavesTheOthersInOrder) {
  // Fill the one class that holds 100 KB (1 x 1 MiB) so a 100 KB body finds
  // no slot, then send it between small ones of the same group.
  std::string big(100000, 'x');
  SendInput in;
  in.body = big;
  ASSERT_TRUE(fifo_send(v_, lane(), in, "filler", "f0", nullptr).ok());
  ASSERT_EQ(fifo_send(v_, lane(), in, "filler", "f1", nullptr).code(), "OverLimit");
  add("s0", "A", "o0");
  add(big, "A", "o1");
  add("s2", "A", "o2");
  add("s3", "B", "o3");
  add("s4", "A", "o4");
  FifoSendOutput out[5];
  Status st[5];
  EXPECT_EQ(send_batch(out, st), 4u);
  EXPECT_TRUE(st[0].ok());
  EXPECT_EQ(st[1].code(), "OverLimit");
  EXPECT_TRUE(st[2].ok());
  EXPECT_TRUE(st[3].ok());
  EXPECT_TRUE(st[4].ok());
  EXPECT_LT(out[0].sequence_number, out[2].sequence_number);
  EXPECT_LT(out[2].sequence_number, out[4].sequence_number);
  // The failed entry's dedup id was withdrawn: a retry is fresh, not a duplicate.
  auto got = drain();
  EXPECT_EQ(got["filler"].size(), 1u);
  EXPECT_EQ(got["A"], (std::vector<std::string>{"s0", "s2", "s4"}));
  EXPECT_EQ(got["B"], (std::vector<std::string>{"s3"}));
  bodies_.clear(), groups_.clear(), dedups_.clear();
  add("retry", "A", "o1");
  FifoSendOutput r;
  Status rst;
  ASSERT_EQ(send_batch(&r, &rst), 1u);
  EXPECT_FALSE(r.duplicate);
}

TEST_F(FifoBatchTest, DeleteBatchOverGroupsAnswersEachHandleAndFreesEverySlot) {
  for (int i = 0; i < 6; ++i) add(std::string(i % 2 ? 2000 : 20, char('a' + i)), i < 3 ? "A" : "B", "d" + std::to_string(i));
  FifoSendOutput out[6];
  Status st[6];
  ASSERT_EQ(send_batch(out, st), 6u);
  Delivery d[10];
  const size_t n = fifo_receive(v_, lane(), 30000, 10, d);
  ASSERT_EQ(n, 6u);
  HandleRef h[8];
  for (size_t i = 0; i < n; ++i) h[i] = {d[i].slot, d[i].gen, d[i].incarnation};
  h[6] = {d[0].slot, d[0].gen + 1, d[0].incarnation};  // a later lease's generation: expired
  h[7] = {v_.total_slots() + 3, 0, 0};                  // out of range
  Status ds[8];
  EXPECT_EQ(fifo_delete_messages(v_, lane(), h, 8, ds), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(ds[i].ok()) << i;
  EXPECT_EQ(ds[6].code(), "InvalidParameterValue");
  EXPECT_EQ(ds[7].code(), "ReceiptHandleIsInvalid");
  EXPECT_EQ(fifo_receive(v_, lane(), 30000, 10, d), 0u);
  testing::expect_every_slot_free_once(v_, lane(), 0);
}

TEST_F(FifoBatchTest, DeleteOfALaterMessageWaitsForTheHeadThenFreesBoth) {
  add("h0", "A", "k0");
  add("h1", "A", "k1");
  add("h2", "A", "k2");
  FifoSendOutput out[3];
  Status st[3];
  ASSERT_EQ(send_batch(out, st), 3u);
  Delivery d[3];
  ASSERT_EQ(fifo_receive(v_, lane(), 30000, 3, d), 3u);
  HandleRef later[1] = {{d[1].slot, d[1].gen, d[1].incarnation}};
  Status ds[2];
  ASSERT_EQ(fifo_delete_messages(v_, lane(), later, 1, ds), 1u);
  HandleRef rest[2] = {{d[2].slot, d[2].gen, d[2].incarnation}, {d[0].slot, d[0].gen, d[0].incarnation}};
  ASSERT_EQ(fifo_delete_messages(v_, lane(), rest, 2, ds), 2u);
  EXPECT_EQ(v_.groups[v_.meta(d[0].slot).group.load()].head.load(), kNil);
  testing::expect_every_slot_free_once(v_, lane(), 0);
}

// The broker's free of a FIFO slot (here a purge unlinking the group's
// head) lands on a free-ring cell a stalled popper still holds -- the ring
// went a lap round since its claim. The broker must not wait the patience
// out (it is one thread, and only it can reap a dead popper): it leaves the
// slot DELETED(broker lane), off the group's list, and a later fifo_scan
// frees it once the cell is released.
TEST_F(FifoBatchTest, BrokerDefersAFreeItCannotPushAndAScanFreesItLater) {
  expect_broker_defers([&](const Delivery&) { EXPECT_EQ(fifo_purge(v_), 1u); });  // the head advance frees it
}

// The same through a delete batch's free (free_slots): the broker's message
// moves delete each moved message with fifo_delete on its own lane.
TEST_F(FifoBatchTest, BrokerDefersABatchFreeItCannotPush) {
  expect_broker_defers([&](const Delivery& d) {
    EXPECT_TRUE(fifo_delete(v_, v_.lanes[kBrokerLane], {d.slot, d.gen, d.incarnation}).ok());
  });
}

// A client's delete whose free-ring push must wait for a cell a stalled
// popper holds (a lap round the ring since its claim) waits with the
// group's lock released: the group's other messages, and the broker's
// timers, which take the same lock, are not held up for that wait.
TEST_F(FifoBatchTest, ADeleteWaitingForAFreeRingCellDoesNotHoldTheGroupLock) {
  Delivery d{};
  const uint64_t stalled = lap_a_stalled_pop(&d);
  const RingView& r = v_.free[0];
  const uint32_t gi = v_.meta(d.slot).group.load();
  const uint64_t listed = ring_size(r);
  Status deleted = Status("NotRun", "");
  std::thread deleter([&] { deleted = fifo_delete(v_, lane(), {d.slot, d.gen, d.incarnation}); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (v_.header->counters.free_push_waits.load() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  const bool waited = v_.header->counters.free_push_waits.load() >= 1;
  const bool locked = v_.groups[gi].lock.load() != 0;
  release_stalled_pop(stalled);
  deleter.join();
  ASSERT_TRUE(waited) << "the delete never waited";
  EXPECT_FALSE(locked) << "the delete waited for the cell holding the group's lock";
  EXPECT_TRUE(deleted.ok()) << deleted.to_string();
  EXPECT_EQ(state_of(v_.slot(d.slot).state.load()), SlotState::kFree);
  EXPECT_EQ(ring_size(r), listed + 1);
  EXPECT_EQ(v_.header->counters.frees_handed_over.load(), 0u);
  EXPECT_EQ(lane().batch.load(), 0u);
  EXPECT_EQ(v_.groups[gi].head.load(), kNil);
}

// The group's next message is ready as soon as its head is deleted: the
// delete wakes long-poll sleepers then, not after its free, which may wait
// for a free-ring cell up to the patience (a stopped popper).
TEST_F(FifoBatchTest, ADeleteWakesSleepersForTheGroupsNextMessageBeforeItsFreeWaits) {
  Delivery d{};
  const uint64_t stalled = lap_a_stalled_pop(&d);
  SendInput in;
  in.body = "next";
  FifoSendOutput o{};
  ASSERT_TRUE(fifo_send(v_, lane(), in, "A", "next", &o).ok());  // A is leased: no token yet
  Header* h = v_.header;
  const uint64_t tokens = ring_size(v_.ready);
  const uint32_t seen = h->ready_futex.load();
  set_lane_bit(h->sleeping, 7);  // a long poll asleep
  std::thread deleter([&] { EXPECT_TRUE(fifo_delete(v_, lane(), {d.slot, d.gen, d.incarnation}).ok()); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (h->counters.free_push_waits.load() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  const bool waiting = h->counters.free_push_waits.load() != 0;
  const bool token_out = ring_size(v_.ready) == tokens + 1;
  const bool woken = h->ready_futex.load() != seen;
  release_stalled_pop(stalled);
  deleter.join();
  clear_lane_bit(h->sleeping, 7);
  ASSERT_TRUE(waiting) << "the delete's free never waited";
  EXPECT_TRUE(token_out) << "A's token should be out while the delete waits";
  EXPECT_TRUE(woken) << "A's next message was ready, but the sleepers were left until the free ended";
}

// Three senders send the same dedup ids each round, in different orders
// (ascending, descending, rotated), over four groups, while a consumer
// drains with delete batches. A batch must not wait for another's pending
// entry while it holds its own (that would deadlock two of them: the alarm
// catches it); every id is enqueued once; every group delivers in sequence
// order, and each sender's messages of a group in its own send order.
TEST(FifoBatchConcurrency, CollidingDedupIdsNeitherDeadlockNorEnqueueTwice) {
  Geometry geo;
  geo.counts[0] = 2048;
  geo.counts[1] = 4;
  geo.counts[2] = 2;
  geo.counts[3] = 1;
  const size_t size = segment_size(geo, true);
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(base, MAP_FAILED);
  SegmentView v = format_segment(base, size, geo, 6, true, 91);
  v.header->config.visibility_timeout_s = 30;
  v.header->config.retention_s = 345600;
  v.header->config.max_message_size = 1048576;
  v.lanes[kBrokerLane].owner = kBrokerClientId;
  for (uint32_t l = 1; l < 6; ++l) v.lanes[l].owner = 20 + l;
  constexpr int kSenders = 3, kRounds = 150, kPerBatch = 8;
  alarm(60);  // a deadlock fails the test instead of hanging it
  std::atomic<int> senders_done{0};
  std::atomic<int> failures{0};
  struct Got {
    std::string group, body;
    uint64_t seq;
  };
  std::vector<Got> got;
  std::thread consumer([&] {
    Delivery d[10];
    for (;;) {
      const bool last = senders_done.load() == kSenders;
      const size_t n = fifo_receive(v, v.lanes[5], 30000, 10, d);
      HandleRef h[10];
      Status st[10];
      for (size_t i = 0; i < n; ++i) {
        got.push_back({std::string(d[i].group_id, d[i].group_len), std::string(d[i].body, d[i].body_len),
                       d[i].sequence_number});
        h[i] = {d[i].slot, d[i].gen, d[i].incarnation};
      }
      if (n && fifo_delete_messages(v, v.lanes[5], h, n, st) != n) ++failures;
      if (n == 0 && last) break;
    }
  });
  std::vector<std::thread> senders;
  for (int t = 0; t < kSenders; ++t)
    senders.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        std::string bodies[kPerBatch], groups[kPerBatch], dedups[kPerBatch];
        FifoSendEntry e[kPerBatch];
        for (int pos = 0; pos < kPerBatch; ++pos) {
          const int k = t == 0 ? pos : t == 1 ? kPerBatch - 1 - pos : (pos + 3) % kPerBatch;
          bodies[pos] = "t" + std::to_string(t) + " " + std::to_string(r * kPerBatch + pos);
          groups[pos] = "g" + std::to_string(k % 4);
          dedups[pos] = "r" + std::to_string(r) + "k" + std::to_string(k);
          e[pos].in.body = bodies[pos];
          e[pos].group_id = groups[pos];
          e[pos].dedup_id = dedups[pos];
        }
        Status st[kPerBatch];
        if (fifo_send_messages(v, v.lanes[1 + t], e, kPerBatch, nullptr, st) != size_t(kPerBatch)) ++failures;
      }
      ++senders_done;
    });
  for (auto& s : senders) s.join();
  consumer.join();
  alarm(0);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(got.size(), size_t(kRounds * kPerBatch));  // each id once
  std::map<std::string, uint64_t> last_seq;
  std::map<std::pair<std::string, char>, int> last_of_sender;
  for (const Got& g : got) {
    EXPECT_GT(g.seq, last_seq[g.group]) << g.group;
    last_seq[g.group] = g.seq;
    const int ordinal = std::stoi(g.body.substr(3));
    auto [it, fresh] = last_of_sender.try_emplace({g.group, g.body[1]}, ordinal);
    if (!fresh) {
      EXPECT_GT(ordinal, it->second) << g.group << " " << g.body;
    }
    it->second = ordinal;
  }
  munmap(base, size);
}

}  // namespace
}  // namespace shmq::shm
