// Batched sends, receives and deletes (queue_batch.h) on a segment in this
// process's memory: what they leave in the slots and rings, how a full class
// falls back, and a multi-threaded stress that checks every message is
// delivered exactly once and every slot comes back.
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "shm/queue_batch.h"
#include "shm/queue_ops.h"
#include "shm/repair.h"
#include "shm/ring.h"
#include "shm/segment.h"
#include "tests/support/crash_trial.h"

namespace shmq::shm {
namespace {

class QueueBatchTest : public ::testing::Test {
 protected:
  void make(const Geometry& g) {
    size_ = segment_size(g);
    base_ = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(base_, MAP_FAILED);
    v_ = format_segment(base_, size_, g, 3, false, 42);
    v_.header->config.visibility_timeout_s = 30;
    v_.header->config.retention_s = 345600;
    v_.header->config.max_message_size = 1048576;
    v_.lanes[kBrokerLane].owner = kBrokerClientId;
    for (uint32_t l = 1; l < 8; ++l) v_.lanes[l].owner = 10 + l;
  }
  void TearDown() override {
    if (base_) munmap(base_, size_);
  }
  Lane& lane(uint32_t i = 1) { return v_.lanes[i]; }

  size_t size_ = 0;
  void* base_ = nullptr;
  SegmentView v_;
};

TEST_F(QueueBatchTest, SendReceiveDeleteTenWithOneClaimPerRing) {
  make(Geometry{});
  std::string bodies[10];
  SendInput in[10];
  for (int i = 0; i < 10; ++i) {
    bodies[i] = "message " + std::to_string(i);
    in[i].body = bodies[i];
  }
  SendOutput out[10];
  Status st[10];
  ASSERT_EQ(send_messages(v_, lane(), in, 10, out, st), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(st[i].ok());
    EXPECT_EQ(state_of(v_.slot(out[i].slot).state.load()), SlotState::kVisible);
  }
  EXPECT_EQ(v_.free[0].pos->head.load(), 10u);  // ten slots, one claim
  EXPECT_EQ(v_.ready.pos->tail.load(), 10u);
  EXPECT_EQ(lane().batch.load(), 0u);
  EXPECT_EQ(lane().intent.load(), 0u);

  Delivery d[10];
  ASSERT_EQ(receive_messages(v_, lane(), 30000, 10, d), 10u);
  for (int i = 0; i < 10; ++i) {  // in send order
    EXPECT_EQ(std::string(d[i].body, d[i].body_len), bodies[i]);
    EXPECT_EQ(state_of(v_.slot(d[i].slot).state.load()), SlotState::kLeased);
  }
  HandleRef h[11];
  for (int i = 0; i < 10; ++i) h[i] = {d[i].slot, d[i].gen, d[i].incarnation};
  h[10] = h[3];  // the same handle twice: the second finds it gone (OK, as SQS)
  Status ds[11];
  EXPECT_EQ(delete_messages(v_, lane(), h, 11, ds), 11u);
  for (int i = 0; i < 10; ++i) {
    const uint64_t s = v_.slot(d[i].slot).state.load();
    EXPECT_EQ(state_of(s), SlotState::kFree);
    EXPECT_EQ(gen_of(s), next_gen(d[i].gen));
  }
  EXPECT_EQ(lane().batch.load(), 0u);
  testing::expect_every_slot_free_once(v_, lane(), 0);
}

TEST_F(QueueBatchTest, DeleteReportsExpiredAndInvalidHandlesPerEntry) {
  make(Geometry{});
  std::string body = "x";
  SendInput in[2];
  in[0].body = in[1].body = body;
  Status st[2];
  ASSERT_EQ(send_messages(v_, lane(), in, 2, nullptr, st), 2u);
  Delivery d[2];
  ASSERT_EQ(receive_messages(v_, lane(), 30000, 2, d), 2u);
  HandleRef h[3] = {{d[0].slot, d[0].gen, d[0].incarnation},
                    {d[1].slot, next_gen(d[1].gen), d[1].incarnation},  // not this lease's gen
                    {v_.total_slots(), 0, 0}};
  Status ds[3];
  EXPECT_EQ(delete_messages(v_, lane(), h, 3, ds), 1u);
  EXPECT_TRUE(ds[0].ok());
  EXPECT_EQ(ds[1].code(), "InvalidParameterValue");
  EXPECT_EQ(ds[2].code(), "ReceiptHandleIsInvalid");
  EXPECT_EQ(state_of(v_.slot(d[1].slot).state.load()), SlotState::kLeased);
}

TEST_F(QueueBatchTest, AFullClassFallsBackToLargerOnesThenOverLimit) {
  make(testing::small_geometry());  // 8 / 4 / 2 / 1 slots
  std::string body(40, 'a');
  SendInput in[16];
  for (auto& i : in) i.body = body;
  SendOutput out[16];
  Status st[16];
  EXPECT_EQ(send_messages(v_, lane(), in, 16, out, st), 15u);
  for (int i = 0; i < 15; ++i) EXPECT_TRUE(st[i].ok()) << i;
  EXPECT_EQ(st[15].code(), "OverLimit");
  Delivery d[10];
  size_t got = 0;
  for (size_t n; (n = receive_messages(v_, lane(), 30000, 10, d)) > 0; got += n) {
    HandleRef h[10];
    for (size_t i = 0; i < n; ++i) h[i] = {d[i].slot, d[i].gen, d[i].incarnation};
    Status ds[10];
    EXPECT_EQ(delete_messages(v_, lane(), h, n, ds), n);
  }
  EXPECT_EQ(got, 15u);
  testing::expect_every_slot_free_once(v_, lane(), 0);
}

TEST_F(QueueBatchTest, DelayedEntriesStayOffTheReadyRing) {
  make(Geometry{});
  std::string body = "later";
  SendInput in[3];
  for (auto& i : in) i.body = body;
  in[1].delay_ms = 60000;
  SendOutput out[3];
  Status st[3];
  ASSERT_EQ(send_messages(v_, lane(), in, 3, out, st), 3u);
  EXPECT_EQ(state_of(v_.slot(out[1].slot).state.load()), SlotState::kDelayed);
  EXPECT_EQ(ring_size(v_.ready), 2u);
}

// Two producers send batches of 1..10, two consumers receive up to 10 and
// delete them in one batch: every message exactly once, nothing left over.
TEST_F(QueueBatchTest, ConcurrentBatchesDeliverEveryMessageExactlyOnce) {
  Geometry g;
  g.counts[0] = 64;  // a small class: producers often find it full
  make(g);
  constexpr int kProducers = 2, kConsumers = 2;
  constexpr uint32_t kPerProducer = 40000;
  std::vector<std::atomic<uint8_t>> seen(kProducers * kPerProducer);
  std::atomic<uint64_t> consumed{0};
  std::atomic<bool> bad{false};
  // A lost message would otherwise hang the test until ctest's timeout.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  std::atomic<bool> timed_out{false};
  const auto late = [&] {
    if (std::chrono::steady_clock::now() < deadline) return false;
    timed_out = true;
    return true;
  };
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p)
    threads.emplace_back([&, p] {
      std::vector<uint32_t> retry;  // ids an OverLimit turned back
      uint32_t next = 0, run = 1;
      while ((next < kPerProducer || !retry.empty()) && !late()) {
        uint32_t ids[10];
        uint32_t k = 0;
        while (k < run && !retry.empty()) {
          ids[k++] = retry.back();
          retry.pop_back();
        }
        while (k < run && next < kPerProducer) ids[k++] = p * kPerProducer + next++;
        SendInput in[10];
        for (uint32_t i = 0; i < k; ++i)
          in[i].body = std::string_view(reinterpret_cast<const char*>(&ids[i]), sizeof(uint32_t));
        Status st[10];
        const size_t sent = send_messages(v_, lane(1 + p), in, k, nullptr, st);
        size_t ok = 0;
        for (uint32_t i = 0; i < k; ++i) {
          if (st[i].ok()) {
            ++ok;
          } else {
            if (st[i].code() != "OverLimit") bad = true;
            retry.push_back(ids[i]);
          }
        }
        if (ok != sent) bad = true;
        if (sent == 0) std::this_thread::yield();
        run = run % 10 + 1;
      }
    });
  for (int c = 0; c < kConsumers; ++c)
    threads.emplace_back([&, c] {
      Delivery d[10];
      while (consumed.load() < kProducers * kPerProducer && !late()) {
        const size_t n = receive_messages(v_, lane(1 + kProducers + c), 30000, 10, d);
        if (n == 0) {
          std::this_thread::yield();
          continue;
        }
        HandleRef h[10];
        for (size_t i = 0; i < n; ++i) {
          uint32_t id;
          std::memcpy(&id, d[i].body, sizeof id);
          if (d[i].body_len != sizeof id || id >= seen.size()) bad = true;
          else seen[id].fetch_add(1);
          h[i] = {d[i].slot, d[i].gen, d[i].incarnation};
        }
        Status ds[10];
        if (delete_messages(v_, lane(1 + kProducers + c), h, n, ds) != n) bad = true;
        consumed.fetch_add(n);
      }
    });
  // The broker's part: a send that finds its ready cell still held by a
  // receiver preempted a lap ago parks the message as due-now DELAYED for the
  // next tick (publish_visible); without these scans it would never be
  // delivered. Sanitizer builds on a loaded machine park hundreds per run.
  std::atomic<bool> done{false};
  std::thread broker([&] {
    while (!done.load()) {
      scan_slots(v_, queue_clock_ms(v_.header), nullptr);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  for (auto& t : threads) t.join();
  done = true;
  broker.join();
  // A last pass, as the broker's next tick: a free handed over (a cell held
  // past kCellPatienceMs) near the end.
  scan_slots(v_, queue_clock_ms(v_.header), nullptr);
  const Counters& k = v_.header->counters;
  ASSERT_FALSE(timed_out.load()) << "consumed " << consumed.load() << " of " << kProducers * kPerProducer
                                 << "; parked " << k.ready_parked.load() << ", frees handed over "
                                 << k.frees_handed_over.load();
  EXPECT_FALSE(bad.load());
  EXPECT_EQ(consumed.load(), uint64_t(kProducers) * kPerProducer);
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i].load(), 1) << "message " << i;
  EXPECT_EQ(v_.ready.pos->head.load(), v_.ready.pos->tail.load());
  testing::expect_every_slot_free_once(v_, lane(), 0);
}

// A producer process sending batches is SIGKILLed at a random instant while
// this process consumes through its own (live) lane; after the broker's
// repair every acknowledged message is delivered exactly once, none twice,
// and every slot is back in its free ring. 40 kills.
TEST_F(QueueBatchTest, BatchSenderKilledAtRandomLosesNothingAcknowledged) {
  Geometry g;
  g.counts[0] = 64;
  g.counts[1] = 8;
  g.counts[2] = 2;
  g.counts[3] = 1;
  make(g);
  constexpr uint32_t kRounds = 40, kPerRound = 1 << 20;
  auto* acked = static_cast<std::atomic<uint8_t>*>(mmap(nullptr, kRounds * kPerRound, PROT_READ | PROT_WRITE,
                                                        MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(static_cast<void*>(acked), MAP_FAILED);
  std::vector<uint8_t> seen(size_t(kRounds) * kPerRound);
  uint64_t duplicates = 0, delivered = 0;
  Lane& consumer = lane(1);
  auto consume = [&]() -> size_t {
    Delivery d[10];
    const size_t n = receive_messages(v_, consumer, 30000, 10, d);
    HandleRef h[10];
    for (size_t i = 0; i < n; ++i) {
      uint32_t id = 0;
      EXPECT_EQ(d[i].body_len, sizeof id);
      std::memcpy(&id, d[i].body, sizeof id);
      if (id >= seen.size()) {
        ADD_FAILURE() << "a corrupt body";
        continue;
      }
      duplicates += seen[id]++ ? 1 : 0;
      h[i] = {d[i].slot, d[i].gen, d[i].incarnation};
    }
    Status st[10];
    if (n) {
      EXPECT_EQ(delete_messages(v_, consumer, h, n, st), n);
    }
    delivered += n;
    return n;
  };
  std::srand(12345);
  for (uint32_t round = 0; round < kRounds; ++round) {
    const pid_t pid = fork();
    if (pid == 0) {
      uint32_t ids[10];
      SendInput in[10];
      for (uint32_t next = 0;;) {
        for (uint32_t i = 0; i < 10; ++i) {
          ids[i] = round * kPerRound + next + i;
          in[i].body = std::string_view(reinterpret_cast<const char*>(&ids[i]), sizeof(uint32_t));
        }
        Status st[10];
        send_messages(v_, lane(2), in, 10, nullptr, st);
        for (uint32_t i = 0; i < 10; ++i)
          if (st[i].ok()) acked[ids[i]] = 1;
        next += 10;  // an id turned back (OverLimit) is simply never acknowledged
        if (next + 10 >= kPerRound) _exit(0);
      }
    }
    // A random moment, but only once this round delivered a few batches (a
    // slow sanitizer build must still kill senders mid-stream, not at start).
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + std::chrono::microseconds(200 + std::rand() % 3000);
    const uint64_t before = delivered;
    while ((std::chrono::steady_clock::now() < deadline || delivered - before < 40) &&
           std::chrono::steady_clock::now() < start + std::chrono::seconds(10))
      consume();
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    repair_lane(v_, 2, [](uint32_t l) { return l == kBrokerLane || l == 1; });
    // The broker's tick after a repair: publishes what a send parked (its
    // ready cell still held by this process's receive, preempted a lap ago).
    scan_slots(v_, queue_clock_ms(v_.header), nullptr);
    while (consume() > 0) {
    }
    EXPECT_EQ(lane(2).intent.load(), 0u);
    EXPECT_EQ(lane(2).batch.load(), 0u);
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_EQ(duplicates, 0u);
  uint64_t lost = 0, acknowledged = 0;
  for (size_t id = 0; id < seen.size(); ++id) {
    if (!acked[id]) continue;
    ++acknowledged;
    lost += seen[id] ? 0 : 1;
  }
  EXPECT_EQ(lost, 0u) << "of " << acknowledged << " acknowledged";
  EXPECT_GT(acknowledged, 1000u);
  EXPECT_EQ(v_.ready.pos->head.load(), v_.ready.pos->tail.load());
  testing::expect_every_slot_free_once(v_, consumer, 0);
  munmap(acked, kRounds * kPerRound);
}

}  // namespace
}  // namespace shmq::shm
