// Kills a process at every crash point of the data plane, one trial per
// point, and checks that the broker's repair leaves a queue with nothing
// lost, nothing half-visible, no slot leaked and no ring wedged.
//
// The shm code is built with -DSHMQ_CRASH_POINTS for this test only: each
// SHMQ_CRASH_POINT() calls crash_point() below, which raises SIGKILL on the
// hit the trial asked for. Trial k kills the child at its k-th crash point;
// trials continue until a child finishes its script without being killed.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <set>
#include <string>
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

constexpr uint32_t kParentLane = testing::kTrialParentLane;
constexpr uint32_t kChildLane = testing::kTrialChildLane;
constexpr uint64_t kFarFuture = 100'000'000;  // ms: past every lease and delay, not retention

// What the child got done before it died: written only after a call returned.
struct Journal {
  std::atomic<uint32_t> acked[8];    // by message index: its send returned OK
  std::atomic<uint32_t> deleting[8];  // by message index: a delete of it was started
  std::atomic<uint32_t> deleted[8];   // by message index: a delete of it returned OK
  std::atomic<uint32_t> finished;
};

std::string body_of(int i) {
  // 0, 1: sent by the parent before the trial; 2..4 (2..5 in the batch
  // trial): by the child.
  static const size_t sizes[] = {40, 1000, 100, 3000, 60, 70};
  std::string b = "msg-" + std::to_string(i) + ":";
  while (b.size() < sizes[i]) b.push_back(char('a' + (b.size() * 7 + size_t(i)) % 26));
  return b;
}

int index_of(std::string_view body) {
  for (int i = 0; i < 6; ++i)
    if (body == body_of(i)) return i;
  return -1;
}

class Segment : public testing::TrialSegment<Journal> {
 public:
  Journal& journal() const { return record(); }

  void send(uint32_t lane_index, int i, uint32_t delay_ms = 0) {
    std::string b = body_of(i);
    SendInput in;
    in.body = b;
    in.delay_ms = delay_ms;
    ASSERT_TRUE(send_message(v(), lane(lane_index), in, nullptr).ok());
  }

  // Before a client trial: message 0 leased by the parent (its handle
  // returned), message 1 visible.
  HandleRef lease_first_of_two() {
    send(kParentLane, 0);
    send(kParentLane, 1);
    Delivery pre[1];
    EXPECT_EQ(receive_messages(v(), lane(kParentLane), 30000, 1, pre), 1u);
    EXPECT_EQ(index_of(std::string_view(pre[0].body, pre[0].body_len)), 0);
    return {pre[0].slot, pre[0].gen, pre[0].incarnation};
  }
};

// After the repair: drain everything with the parent's lane and check the
// invariants. `expected` says, per message index, whether it must be there
// (acknowledged and not deleted), must not be (deleted), or may be.
void check_after_repair(Segment& seg, const std::map<int, int>& expected, int64_t trial) {
  const SegmentView& v = seg.v();
  scan_slots(v, queue_clock_ms(v.header) + kFarFuture, nullptr);
  std::multiset<int> drained;
  Delivery d[10];
  for (int rounds = 0; rounds < 100; ++rounds) {
    size_t n = receive_messages(v, seg.lane(kParentLane), kFarFuture * 10, 10, d);
    if (n == 0) break;
    for (size_t i = 0; i < n; ++i) {
      int idx = index_of(std::string_view(d[i].body, d[i].body_len));
      EXPECT_GE(idx, 0) << "trial " << trial << ": a half-written or corrupt body was delivered";
      drained.insert(idx);
      EXPECT_TRUE(delete_message(v, seg.lane(kParentLane), {d[i].slot, d[i].gen, d[i].incarnation}).ok());
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
  // The ready ring is not wedged: everything published was consumed.
  EXPECT_EQ(v.ready.pos->head.load(), v.ready.pos->tail.load()) << "trial " << trial << ": ready ring wedged";
  testing::expect_every_slot_free_once(v, seg.lane(kParentLane), trial);
}

int must_be(const Journal& j, int i, bool sent_before) {
  if (j.deleted[i].load()) return 0;
  if (j.deleting[i].load()) return 2;  // killed inside the delete: either way is right
  if (sent_before || j.acked[i].load()) return 1;
  return 2;  // its send may or may not have happened
}

TEST(CrashPoints, ClientKilledAtEveryPointOfItsSteps) {
  int64_t trials = 0;
  for (int64_t k = 1;; ++k) {
    Segment seg;
    const SegmentView& v = seg.v();
    const HandleRef h0 = seg.lease_first_of_two();
    ASSERT_FALSE(::testing::Test::HasFailure());

    Journal& j = seg.journal();
    bool finished = testing::run_crash_trial(k, [&] {
      Lane& lane = seg.lane(kChildLane);
      for (int i : {2, 3}) {
        std::string b = body_of(i);
        SendInput in;
        in.body = b;
        if (send_message(v, lane, in, nullptr).ok()) j.acked[i] = 1;
      }
      {
        std::string b = body_of(4);
        SendInput in;
        in.body = b;
        in.delay_ms = 5000;
        if (send_message(v, lane, in, nullptr).ok()) j.acked[4] = 1;
      }
      Delivery d[2];
      size_t n = receive_messages(v, lane, 30000, 2, d);
      j.deleting[0] = 1;
      if (delete_message(v, lane, h0).ok()) j.deleted[0] = 1;
      if (n >= 1) change_visibility(v, lane, {d[0].slot, d[0].gen, d[0].incarnation}, 0);
      if (n >= 2) {
        int idx = index_of(std::string_view(d[1].body, d[1].body_len));
        if (idx >= 0) j.deleting[idx] = 1;
        if (delete_message(v, lane, {d[1].slot, d[1].gen, d[1].incarnation}).ok() && idx >= 0)
          j.deleted[idx] = 1;
      }
      j.finished = 1;
    });
    repair_lane(v, kChildLane, [](uint32_t l) { return l == kBrokerLane || l == kParentLane; });
    std::map<int, int> expected;
    for (int i = 0; i < 5; ++i) expected[i] = must_be(j, i, i < 2);
    check_after_repair(seg, expected, k);
    ++trials;
    if (finished || ::testing::Test::HasFailure()) break;
  }
  // The script passes dozens of crash points; every one was a trial.
  EXPECT_GT(trials, 40);
  RecordProperty("trials", int(trials));
}

// The batched steps (queue_batch.h, and receive's batched ready-ring claim):
// a send_messages of four (two size classes, one delayed), a receive of up to
// four, and a delete_messages of the parent's leased message and the
// received ones, killed at each of their crash points.
TEST(CrashPoints, ClientKilledAtEveryPointOfItsBatches) {
  int64_t trials = 0;
  for (int64_t k = 1;; ++k) {
    Segment seg;
    const SegmentView& v = seg.v();
    const HandleRef h0 = seg.lease_first_of_two();
    ASSERT_FALSE(::testing::Test::HasFailure());

    Journal& j = seg.journal();
    bool finished = testing::run_crash_trial(k, [&] {
      Lane& lane = seg.lane(kChildLane);
      std::string b[4];
      SendInput in[4];
      for (int i = 0; i < 4; ++i) {
        b[i] = body_of(2 + i);
        in[i].body = b[i];
      }
      in[3].delay_ms = 5000;
      Status st[5];
      send_messages(v, lane, in, 4, nullptr, st);
      for (int i = 0; i < 4; ++i)
        if (st[i].ok()) j.acked[2 + i] = 1;
      Delivery d[4];
      const size_t n = receive_messages(v, lane, 30000, 4, d);
      HandleRef del[5] = {h0};
      int idx[5] = {0};
      for (size_t i = 0; i < n; ++i) {
        del[i + 1] = {d[i].slot, d[i].gen, d[i].incarnation};
        idx[i + 1] = index_of(std::string_view(d[i].body, d[i].body_len));
      }
      for (size_t i = 0; i < n + 1; ++i)
        if (idx[i] >= 0) j.deleting[idx[i]] = 1;
      delete_messages(v, lane, del, n + 1, st);
      for (size_t i = 0; i < n + 1; ++i)
        if (st[i].ok() && idx[i] >= 0) j.deleted[idx[i]] = 1;
      j.finished = 1;
    });
    repair_lane(v, kChildLane, [](uint32_t l) { return l == kBrokerLane || l == kParentLane; });
    EXPECT_EQ(seg.lane(kChildLane).batch.load(), 0u);
    std::map<int, int> expected;
    for (int i = 0; i < 6; ++i) expected[i] = must_be(j, i, i < 2);
    check_after_repair(seg, expected, k);
    ++trials;
    if (finished || ::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(trials, 40);
  RecordProperty("trials", int(trials));
}

TEST(CrashPoints, BrokerKilledAtEveryPointOfItsTimersAndPurge) {
  int64_t trials = 0;
  for (int64_t k = 1;; ++k) {
    Segment seg;
    const SegmentView& v = seg.v();
    // A leased message (expires at the child's scan), a delayed one, a visible one.
    seg.send(kParentLane, 0);
    Delivery pre[1];
    ASSERT_EQ(receive_messages(v, seg.lane(kParentLane), 1000, 1, pre), 1u);
    seg.send(kParentLane, 1, 1000);
    seg.send(kParentLane, 2);
    bool purged = false;
    Journal& j = seg.journal();
    bool finished = testing::run_crash_trial(k, [&] {
      scan_slots(v, queue_clock_ms(v.header) + kFarFuture, nullptr);
      j.acked[0] = 1;  // the scan finished
      purge_slots(v);
      j.finished = 1;
    });
    purged = j.finished.load() != 0;
    // The broker restarts: it repairs its own lane first.
    repair_lane(v, kBrokerLane, [](uint32_t l) { return l == kParentLane; });
    std::map<int, int> expected;
    for (int i = 0; i < 3; ++i) expected[i] = purged ? 0 : 2;
    if (!purged && j.acked[0].load() == 0) {
      // Killed inside the scan, before the purge began: nothing may be lost.
      for (int i = 0; i < 3; ++i) expected[i] = 1;
    }
    check_after_repair(seg, expected, k);
    ++trials;
    if (finished || ::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(trials, 10);
}

}  // namespace
}  // namespace shmq::shm
