// The MPMC ring: order, full/empty, wrap-around, the intent protocol, and a
// multi-threaded stress that checks every value comes out exactly once.
#include <sys/mman.h>

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "shm/ring.h"

namespace shmq::shm {
namespace {

struct TestRing {
  explicit TestRing(uint64_t capacity) : cells(capacity) {
    for (uint64_t i = 0; i < capacity; ++i) cells[i].seq.store(i);
    view.pos = &pos;
    view.cells = cells.data();
    view.mask = capacity - 1;
    view.id = 3;
  }
  RingPositions pos{};
  std::vector<Cell> cells;
  RingView view;
};

auto noop = [] {};
auto noop1 = [](uint64_t) {};

TEST(Ring, FifoOrderFullAndEmpty) {
  TestRing r(4);
  Lane lane{};
  uint64_t v;
  EXPECT_FALSE(ring_pop(r.view, lane, &v, noop1));
  for (uint64_t i = 0; i < 4; ++i) EXPECT_TRUE(ring_push(r.view, lane, 100 + i, noop));
  EXPECT_FALSE(ring_push(r.view, lane, 999, noop));  // full
  EXPECT_EQ(ring_size(r.view), 4u);
  for (uint64_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(ring_pop(r.view, lane, &v, noop1));
    EXPECT_EQ(v, 100 + i);
  }
  EXPECT_FALSE(ring_pop(r.view, lane, &v, noop1));
  EXPECT_EQ(lane.intent.load(), 0u);  // cleared after each completed step
}

TEST(Ring, WrapsManyLaps) {
  TestRing r(8);
  Lane lane{};
  uint64_t v;
  for (uint64_t i = 0; i < 1000; ++i) {
    ASSERT_TRUE(ring_push(r.view, lane, i, noop));
    ASSERT_TRUE(ring_pop(r.view, lane, &v, noop1));
    ASSERT_EQ(v, i);
  }
  EXPECT_EQ(r.pos.head.load(), 1000u);
}

TEST(Ring, RecordRunsBeforeReleaseAndPublishedBeforeIntentClears) {
  TestRing r(4);
  Lane lane{};
  bool saw_intent = false;
  ASSERT_TRUE(ring_push(r.view, lane, 5, [&] {
    // Published, intent still names the position: a repair can tell.
    saw_intent = lane.intent.load() == make_intent(3, false, 0);
    EXPECT_EQ(r.cells[0].seq.load(), 1u);
  }));
  EXPECT_TRUE(saw_intent);
  uint64_t v;
  ASSERT_TRUE(ring_pop(r.view, lane, &v, [&](uint64_t got) {
    EXPECT_EQ(got, 5u);
    EXPECT_EQ(r.cells[0].seq.load(), 1u);  // not yet released
    EXPECT_EQ(lane.intent.load(), make_intent(3, true, 0));
  }));
}

TEST(Ring, AClaimedUnpublishedCellBlocksConsumersBehindIt) {
  // What a producer killed between its CAS and its publish leaves: the repair
  // (repair.h) exists because of this.
  TestRing r(4);
  Lane lane{};
  r.pos.tail.store(1);  // position 0 claimed, never published
  ASSERT_TRUE(ring_push(r.view, lane, 7, noop));
  uint64_t v;
  EXPECT_FALSE(ring_pop(r.view, lane, &v, noop1));
  r.cells[0].data.store(kTombstone);
  r.cells[0].seq.store(1);
  ASSERT_TRUE(ring_pop(r.view, lane, &v, noop1));
  EXPECT_EQ(v, kTombstone);
  ASSERT_TRUE(ring_pop(r.view, lane, &v, noop1));
  EXPECT_EQ(v, 7u);
}

TEST(Ring, ConcurrentProducersAndConsumersDeliverEachValueOnce) {
  TestRing r(1024);
  constexpr int kProducers = 3, kConsumers = 3;
  constexpr uint64_t kPerProducer = 200000;
  std::vector<std::atomic<uint8_t>> seen(kProducers * kPerProducer);
  std::atomic<uint64_t> consumed{0};
  std::vector<std::thread> threads;
  std::vector<Lane> lanes(kProducers + kConsumers);
  for (int p = 0; p < kProducers; ++p)
    threads.emplace_back([&, p] {
      for (uint64_t i = 0; i < kPerProducer; ++i)
        while (!ring_push(r.view, lanes[p], p * kPerProducer + i, noop)) std::this_thread::yield();
    });
  for (int c = 0; c < kConsumers; ++c)
    threads.emplace_back([&, c] {
      uint64_t v;
      while (consumed.load() < kProducers * kPerProducer) {
        if (ring_pop(r.view, lanes[kProducers + c], &v, noop1)) {
          seen[v].fetch_add(1);
          consumed.fetch_add(1);
        } else {
          std::this_thread::yield();
        }
      }
    });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i].load(), 1) << "value " << i;
}

}  // namespace
}  // namespace shmq::shm
