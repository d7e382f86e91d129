// The FIFO steps (fifo.h) killed at every crash point, one trial per point,
// as crash_points_test does for standard queues: after the broker's repair
// nothing acknowledged is lost, nothing deleted comes back, every group still
// delivers in send order, no lock is left held, no dedup entry left pending,
// no slot leaked and no ring wedged.
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "shm/fifo.h"
#include "shm/queue_ops.h"
#include "shm/repair.h"
#include "shm/ring.h"
#include "shm/segment.h"
#include "tests/support/crash_trial.h"

namespace shmq::shm {

namespace {

constexpr uint32_t kParentLane = testing::kTrialParentLane;
constexpr uint32_t kChildLane = testing::kTrialChildLane;
constexpr uint64_t kFarFuture = 100'000'000;  // ms: past every lease, not retention
constexpr int kMessages = 11;

// Message i: its group and dedup id. 0, 1, 2 are sent by the parent before
// the trial; 3, 4 by the child; 5 is the child's duplicate of 3. The batch
// trial sends 6..10 in one batch instead: 6 (A, 2000 B: the second size
// class), 7 (C), 8 (A), 9 a duplicate of 6 within the batch, 10 a duplicate
// of the parent's 2.
const char* group_of(int i) {
  static const char* g[] = {"A", "A", "B", "A", "C", "A", "A", "C", "A", "A", "B"};
  return g[i];
}
std::string dedup_of(int i) {
  const int original = i == 5 ? 3 : i == 9 ? 6 : i == 10 ? 2 : i;
  return "dedup-" + std::to_string(original);
}
std::string body_of(int i) {
  std::string b = "fifo-" + std::to_string(i) + ":";
  const size_t size = i == 6 ? 2000 : size_t(30 + 200 * (i % 3));
  while (b.size() < size) b.push_back(char('a' + (b.size() * 5 + size_t(i)) % 26));
  return b;
}
int index_of(std::string_view body) {
  for (int i = 0; i < kMessages; ++i)
    if (body == body_of(i)) return i;
  return -1;
}

struct Journal {  // what the child got done, written after each call returned
  std::atomic<uint32_t> acked[kMessages];
  std::atomic<uint32_t> deleting[kMessages];
  std::atomic<uint32_t> deleted[kMessages];
  std::atomic<uint32_t> finished;
};

class FifoSegment : public testing::TrialSegment<Journal> {
 public:
  FifoSegment() : TrialSegment(true, 9, 0x4321) {}
  Journal& journal() const { return record(); }

  Status send(uint32_t lane_index, int i, FifoSendOutput* out = nullptr) {
    const std::string b = body_of(i);
    SendInput in;
    in.body = b;
    return fifo_send(v(), lane(lane_index), in, group_of(i), dedup_of(i), out);
  }
};

void check_after_repair(FifoSegment& seg, const std::map<int, int>& expected, int64_t trial) {
  const SegmentView& v = seg.v();
  Lane& parent = seg.lane(kParentLane);
  // No lock is held and no dedup entry is pending once the dead are repaired.
  for (uint32_t gi = 0; gi < v.group_capacity(); ++gi)
    EXPECT_EQ(v.groups[gi].lock.load(), 0u) << "trial " << trial << ": group " << gi << " still locked";
  EXPECT_EQ(v.header->group_insert_lock.load(), 0u) << "trial " << trial;
  for (uint32_t b = 0; b < v.header->dedup_buckets; ++b) {
    EXPECT_EQ(v.dedup[b].lock.load(), 0u) << "trial " << trial;
    for (uint32_t e = 0; e < kDedupWays; ++e) {
      EXPECT_EQ(v.dedup[b].entries[e].pending.load(), 0u) << "trial " << trial;
      EXPECT_EQ(v.dedup[b].when[e].load() & kDedupPendingBit, 0u) << "trial " << trial;
    }
  }
  // Every lease ends; then drain in order, group by group.
  fifo_scan(v, queue_clock_ms(v.header) + kFarFuture, [](uint32_t) { return false; });
  std::multiset<int> drained;
  std::map<std::string, std::vector<int>> per_group;
  Delivery d[10];
  for (int rounds = 0; rounds < 100; ++rounds) {
    size_t n = fifo_receive(v, parent, kFarFuture * 10, 10, d);
    if (n == 0) break;
    for (size_t i = 0; i < n; ++i) {
      const int idx = index_of(std::string_view(d[i].body, d[i].body_len));
      EXPECT_GE(idx, 0) << "trial " << trial << ": a half-written or corrupt body was delivered";
      drained.insert(idx);
      if (idx >= 0) {
        EXPECT_EQ(std::string_view(d[i].group_id, d[i].group_len), group_of(idx)) << "trial " << trial;
        per_group[group_of(idx)].push_back(idx);
      }
      EXPECT_TRUE(fifo_delete(v, parent, {d[i].slot, d[i].gen, d[i].incarnation}).ok()) << "trial " << trial;
    }
  }
  for (const auto& [idx, must] : expected) {
    if (must == 1)
      EXPECT_EQ(drained.count(idx), 1u) << "trial " << trial << ": message " << idx << " lost";
    else if (must == 0)
      EXPECT_EQ(drained.count(idx), 0u) << "trial " << trial << ": deleted message " << idx << " came back";
    else
      EXPECT_LE(drained.count(idx), 1u) << "trial " << trial;
  }
  for (int dup : {5, 9, 10})
    EXPECT_EQ(drained.count(dup), 0u) << "trial " << trial << ": duplicate " << dup << " was enqueued";
  for (const auto& [group, order] : per_group)
    EXPECT_TRUE(std::is_sorted(order.begin(), order.end())) << "trial " << trial << ": group " << group
                                                            << " out of order";
  EXPECT_EQ(v.ready.pos->head.load(), v.ready.pos->tail.load()) << "trial " << trial << ": ready ring wedged";
  // Everything delivered was deleted, so every group's list is empty: a list
  // still naming a slot names one no receive could reach (or a freed one).
  for (uint32_t gi = 0; gi < v.group_capacity(); ++gi) {
    const uint64_t key = v.groups[gi].key.load();
    if (key == 0 || key == kGroupRetired) continue;
    EXPECT_EQ(v.groups[gi].head.load(), kNil) << "trial " << trial << ": group " << gi << " keeps a list";
    EXPECT_EQ(v.groups[gi].tail.load(), kNil) << "trial " << trial << ": group " << gi << " keeps a tail";
  }
  testing::expect_every_slot_free_once(v, parent, trial);
}

int must_be(const Journal& j, int i, bool sent_before) {
  if (j.deleted[i].load()) return 0;
  if (j.deleting[i].load()) return 2;
  if (sent_before || j.acked[i].load()) return 1;
  return 2;
}

// Before a trial: messages 0 and 1 in group A (0 leased by the parent, its
// handle in *h0), 2 in group B.
void parent_leases_first_of_three(FifoSegment& seg, HandleRef* h0) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(seg.send(kParentLane, i).ok());
  Delivery pre[1];
  ASSERT_EQ(fifo_receive(seg.v(), seg.lane(kParentLane), 30000, 1, pre), 1u);
  ASSERT_EQ(index_of(std::string_view(pre[0].body, pre[0].body_len)), 0);
  *h0 = HandleRef{pre[0].slot, pre[0].gen, pre[0].incarnation};
}

TEST(FifoCrashPoints, ClientKilledAtEveryPointOfItsSteps) {
  int64_t trials = 0;
  for (int64_t k = 1;; ++k) {
    FifoSegment seg;
    const SegmentView& v = seg.v();
    HandleRef h0{};
    ASSERT_NO_FATAL_FAILURE(parent_leases_first_of_three(seg, &h0));

    Journal& j = seg.journal();
    bool finished = testing::run_crash_trial(k, [&] {
      Lane& lane = seg.lane(kChildLane);
      for (int i : {3, 4})
        if (seg.send(kChildLane, i).ok()) j.acked[i] = 1;
      FifoSendOutput dup;
      if (seg.send(kChildLane, 5, &dup).ok() && !dup.duplicate) _exit(3);  // 3's duplicate
      Delivery d[2];
      size_t n = fifo_receive(v, lane, 30000, 2, d);
      j.deleting[0] = 1;
      if (fifo_delete(v, lane, h0).ok()) j.deleted[0] = 1;
      if (n >= 1) fifo_change_visibility(v, lane, {d[0].slot, d[0].gen, d[0].incarnation}, 0);
      if (n >= 2) {
        const int idx = index_of(std::string_view(d[1].body, d[1].body_len));
        if (idx >= 0) j.deleting[idx] = 1;
        if (fifo_delete(v, lane, {d[1].slot, d[1].gen, d[1].incarnation}).ok() && idx >= 0)
          j.deleted[idx] = 1;
      }
      j.finished = 1;
    });
    repair_lane(v, kChildLane, [](uint32_t l) { return l == kBrokerLane || l == kParentLane; });
    std::map<int, int> expected;
    for (int i = 0; i < 5; ++i) expected[i] = must_be(j, i, i < 3);
    check_after_repair(seg, expected, k);
    ++trials;
    if (finished || ::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(trials, 40);
  RecordProperty("trials", int(trials));
}

// The batched FIFO steps: a send batch over three groups and two size
// classes with a duplicate inside the batch and one of an earlier send, a
// receive, a delete batch over three groups (one of them the parent's lease),
// then a receive of a group's head run and a delete batch of it (two size
// classes, one group), killed at each of their crash points.
TEST(FifoCrashPoints, ClientKilledAtEveryPointOfItsBatches) {
  int64_t trials = 0;
  for (int64_t k = 1;; ++k) {
    FifoSegment seg;
    const SegmentView& v = seg.v();
    HandleRef h0{};
    ASSERT_NO_FATAL_FAILURE(parent_leases_first_of_three(seg, &h0));

    Journal& j = seg.journal();
    bool finished = testing::run_crash_trial(k, [&] {
      Lane& lane = seg.lane(kChildLane);
      const int batch[] = {6, 7, 10, 8, 9};
      std::string bodies[5], dedups[5];
      FifoSendEntry e[5];
      for (int x = 0; x < 5; ++x) {
        bodies[x] = body_of(batch[x]);
        dedups[x] = dedup_of(batch[x]);
        e[x].in.body = bodies[x];
        e[x].group_id = group_of(batch[x]);
        e[x].dedup_id = dedups[x];
      }
      FifoSendOutput out[5];
      Status st[5];
      fifo_send_messages(v, lane, e, 5, out, st);
      for (int x = 0; x < 5; ++x) {
        if (!st[x].ok()) continue;
        const bool dup = batch[x] == 9 || batch[x] == 10;
        if (out[x].duplicate != dup) _exit(3);
        if (!dup) j.acked[batch[x]] = 1;
      }
      auto delete_batch = [&](const HandleRef* h, const int* idx, size_t n) {
        for (size_t i = 0; i < n; ++i)
          if (idx[i] >= 0) j.deleting[idx[i]] = 1;
        Status ds[8];
        fifo_delete_messages(v, lane, h, n, ds);
        for (size_t i = 0; i < n; ++i)
          if (ds[i].ok() && idx[i] >= 0) j.deleted[idx[i]] = 1;
      };
      // A is leased by the parent: this gets B's and C's heads.
      Delivery d[4];
      size_t n = fifo_receive(v, lane, 30000, 4, d);
      HandleRef del[5] = {h0};
      int idx[5] = {0};
      for (size_t i = 0; i < n; ++i) {
        del[i + 1] = {d[i].slot, d[i].gen, d[i].incarnation};
        idx[i + 1] = index_of(std::string_view(d[i].body, d[i].body_len));
      }
      delete_batch(del, idx, n + 1);
      // A's head run now: 1, 6 (second class), 8.
      n = fifo_receive(v, lane, 30000, 4, d);
      for (size_t i = 0; i < n; ++i) {
        del[i] = {d[i].slot, d[i].gen, d[i].incarnation};
        idx[i] = index_of(std::string_view(d[i].body, d[i].body_len));
      }
      delete_batch(del, idx, n);
      j.finished = 1;
    });
    repair_lane(v, kChildLane, [](uint32_t l) { return l == kBrokerLane || l == kParentLane; });
    EXPECT_EQ(seg.lane(kChildLane).batch.load(), 0u) << "trial " << k;
    EXPECT_EQ(seg.lane(kChildLane).op.load(), 0u) << "trial " << k;
    EXPECT_EQ(seg.lane(kChildLane).group_lock.load(), 0u) << "trial " << k;
    std::map<int, int> expected;
    for (int i : {0, 1, 2, 6, 7, 8}) expected[i] = must_be(j, i, i < 3);
    check_after_repair(seg, expected, k);
    ++trials;
    if (finished || ::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(trials, 60);
  RecordProperty("trials", int(trials));
}

TEST(FifoCrashPoints, BrokerKilledAtEveryPointOfItsTimersMaintenanceAndPurge) {
  int64_t trials = 0;
  for (int64_t k = 1;; ++k) {
    FifoSegment seg;
    const SegmentView& v = seg.v();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(seg.send(kParentLane, i).ok());
    Delivery pre[2];
    ASSERT_EQ(fifo_receive(v, seg.lane(kParentLane), 1000, 2, pre), 2u);  // 0 and 1 of A
    Journal& j = seg.journal();
    bool finished = testing::run_crash_trial(k, [&] {
      fifo_scan(v, queue_clock_ms(v.header) + kFarFuture, [](uint32_t) { return false; });
      fifo_maintain(v);
      j.acked[0] = 1;  // timers and maintenance done
      purge_slots(v);
      j.finished = 1;
    });
    repair_lane(v, kBrokerLane, [](uint32_t l) { return l == kParentLane; });
    const bool purged = j.finished.load() != 0;
    std::map<int, int> expected;
    // Killed before the purge began: nothing may be lost; inside it: either way.
    for (int i = 0; i < 3; ++i) expected[i] = purged ? 0 : (j.acked[0].load() ? 2 : 1);
    check_after_repair(seg, expected, k);
    ++trials;
    if (finished || ::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(trials, 10);
}

}  // namespace
}  // namespace shmq::shm
