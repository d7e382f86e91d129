// The MPMC ring: order, full/empty, wrap-around, the intent protocol, and a
// multi-threaded stress that checks every value comes out exactly once.
#include <sys/mman.h>

#include <algorithm>
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

// ---- batched claims ----------------------------------------------------------

auto noop_i = [](size_t) {};
auto noop_rec = [](const uint64_t*, size_t) {};

TEST(RingBatch, OneClaimPushesAndPopsARunInOrder) {
  TestRing r(16);
  Lane lane{};
  const uint64_t in[10] = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
  EXPECT_EQ(ring_push_batch(r.view, lane, in, 10, noop_i, noop), 10u);
  EXPECT_EQ(r.pos.tail.load(), 10u);  // one claim of ten positions
  EXPECT_EQ(lane.intent.load(), 0u);
  EXPECT_EQ(lane.batch.load(), 0u);
  uint64_t out[16];
  EXPECT_EQ(ring_pop_batch(r.view, lane, out, 4, noop_rec), 4u);
  EXPECT_EQ(r.pos.head.load(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], 10u + i);
  EXPECT_EQ(ring_pop_batch(r.view, lane, out, 16, noop_rec), 6u);  // only six are published
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out[i], 14u + i);
  EXPECT_EQ(ring_pop_batch(r.view, lane, out, 16, noop_rec), 0u);
  EXPECT_EQ(lane.intent.load(), 0u);
}

TEST(RingBatch, ClaimsOnlyTheFreeRunWhenNearlyFull) {
  TestRing r(8);
  Lane lane{};
  const uint64_t in[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ(ring_push_batch(r.view, lane, in, 5, noop_i, noop), 5u);
  EXPECT_EQ(ring_push_batch(r.view, lane, in + 5, 5, noop_i, noop), 3u);  // three cells left
  EXPECT_EQ(ring_push_batch(r.view, lane, in + 8, 2, noop_i, noop), 0u);  // full
  uint64_t out[8];
  EXPECT_EQ(ring_pop_batch(r.view, lane, out, 2, noop_rec), 2u);
  EXPECT_EQ(ring_push_batch(r.view, lane, in + 8, 2, noop_i, noop), 2u);  // wraps
  EXPECT_EQ(ring_pop_batch(r.view, lane, out, 8, noop_rec), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[i], uint64_t(2 + i));
}

TEST(RingBatch, TheIntentNamesTheWholeRunUntilItIsPublishedOrReleased) {
  TestRing r(16);
  Lane lane{};
  r.pos.tail.store(3);
  r.pos.head.store(3);
  for (uint64_t i = 0; i < 16; ++i) r.cells[i].seq.store(i < 3 ? i + 16 : i);
  const uint64_t in[4] = {7, 8, 9, 10};
  size_t calls = 0;
  EXPECT_EQ(ring_push_batch(
                r.view, lane, in, 4,
                [&](size_t i) {
                  // Every value written and flagged before any cell is published.
                  EXPECT_EQ(lane.intent.load(), make_intent(3, false, 3, 4));
                  EXPECT_TRUE(lane.batch.load() & kBatchCellsWritten);
                  EXPECT_EQ(r.cells[3 + 3].data.load(), 10u);
                  EXPECT_EQ(r.cells[3 + i].seq.load(), 3 + i);  // this one not yet published
                  ++calls;
                },
                [&] { EXPECT_EQ(r.cells[6].seq.load(), 7u); }),
            4u);
  EXPECT_EQ(calls, 4u);
  EXPECT_EQ(lane.batch.load(), 0u);
  uint64_t out[4];
  EXPECT_EQ(ring_pop_batch(r.view, lane, out, 4,
                           [&](const uint64_t* vals, size_t m) {
                             EXPECT_EQ(m, 4u);
                             EXPECT_EQ(vals[3], 10u);
                             EXPECT_EQ(lane.intent.load(), make_intent(3, true, 3, 4));
                             for (int i = 0; i < 4; ++i) EXPECT_EQ(r.cells[3 + i].seq.load(), 4u + i);
                           }),
            4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(r.cells[3 + i].seq.load(), 3u + i + 16);  // released
}

TEST(RingBatch, IntentEncodingKeepsSingleCellIntentsAsBefore) {
  // A lane written before batches existed (count bits zero) reads as count 1.
  const uint64_t old = (uint64_t(kJournalRing + 1) << 57) | (uint64_t(1) << 56) | 12345;
  EXPECT_EQ(make_intent(kJournalRing, true, 12345), old);
  EXPECT_EQ(intent_count(old), 1u);
  const uint64_t i = make_intent(2, false, 100, 10);
  EXPECT_TRUE(intent_covers(i, 2, false, 100));
  EXPECT_TRUE(intent_covers(i, 2, false, 109));
  EXPECT_FALSE(intent_covers(i, 2, false, 110));
  EXPECT_FALSE(intent_covers(i, 2, false, 99));
  EXPECT_FALSE(intent_covers(i, 2, true, 105));
  EXPECT_FALSE(intent_covers(i, 1, false, 105));
}

// Producers push runs of 1..10 (batched and single), consumers pop runs of
// 1..10: every value comes out exactly once and the counts match.
TEST(RingBatch, ConcurrentBatchesDeliverEachValueExactlyOnce) {
  TestRing r(64);
  constexpr int kProducers = 3, kConsumers = 3;
  constexpr uint64_t kPerProducer = 300000;
  std::vector<std::atomic<uint8_t>> seen(kProducers * kPerProducer);
  std::atomic<uint64_t> consumed{0};
  std::vector<std::thread> threads;
  std::vector<Lane> lanes(kProducers + kConsumers);
  for (int p = 0; p < kProducers; ++p)
    threads.emplace_back([&, p] {
      uint64_t next = 0;
      uint64_t run = 1;
      while (next < kPerProducer) {
        uint64_t vals[10];
        const size_t k = size_t(std::min<uint64_t>(run, kPerProducer - next));
        for (size_t i = 0; i < k; ++i) vals[i] = p * kPerProducer + next + i;
        size_t pushed = p == 0 && k == 1 ? (ring_push(r.view, lanes[p], vals[0], noop) ? 1 : 0)
                                         : ring_push_batch(r.view, lanes[p], vals, k, noop_i, noop);
        if (pushed == 0) std::this_thread::yield();
        next += pushed;
        run = run % 10 + 1;
      }
    });
  for (int c = 0; c < kConsumers; ++c)
    threads.emplace_back([&, c] {
      uint64_t out[10];
      size_t want = size_t(c) + 1;
      while (consumed.load() < kProducers * kPerProducer) {
        const size_t m = ring_pop_batch(r.view, lanes[kProducers + c], out, want, noop_rec);
        for (size_t i = 0; i < m; ++i) seen[out[i]].fetch_add(1);
        consumed.fetch_add(m);
        if (m == 0) std::this_thread::yield();
        want = want % 10 + 1;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(consumed.load(), kProducers * kPerProducer);
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i].load(), 1) << "value " << i;
  EXPECT_EQ(r.pos.head.load(), r.pos.tail.load());
  for (const Lane& l : lanes) EXPECT_EQ(l.intent.load(), 0u);
}

}  // namespace
}  // namespace shmq::shm
