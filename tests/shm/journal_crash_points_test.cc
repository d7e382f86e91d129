// The journal ring under crash points: a client on a durable (async) queue
// sends, receives a message for the second time (a REDELIVERED entry) and
// deletes, and is SIGKILLed at each crash point of that script in turn. The
// broker's repair must leave a journal ring that its feed can drain: every
// cell between head and tail published (a dead lane's claimed cell
// tombstoned), an entry for every step that returned (nothing acknowledged
// goes unjournaled), no entry twice, and the ring still taking pushes.
//
// Built against the shm code with crash points compiled in, like
// crash_points_test.cc.
#include <signal.h>
#include <unistd.h>

#include <map>
#include <string>

#include <gtest/gtest.h>

#include "shm/journal_ring.h"
#include "shm/queue_ops.h"
#include "shm/repair.h"
#include "shm/segment.h"
#include "tests/support/crash_trial.h"

namespace shmq::shm {
namespace {

constexpr uint32_t kParentLane = testing::kTrialParentLane;
constexpr uint32_t kChildLane = testing::kTrialChildLane;

// What the child got done before it died: written only after a call returned.
struct Done {
  std::atomic<uint32_t> sent[2];  // messages 2, 3: send_message returned OK
  std::atomic<uint32_t> sent_slot[2];
  std::atomic<uint64_t> sent_incarnation[2];
  std::atomic<uint32_t> redelivery_journaled;  // journal_after_receive returned
  std::atomic<uint32_t> deleted;               // delete_message of message 0 returned OK
};

class DurableSegment : public testing::TrialSegment<Done> {
 public:
  DurableSegment() { v().header->journal.durability.store(uint32_t(Durability::kAsync)); }
  Done& done() const { return record(); }
};

SendInput input_of(const std::string& body) {
  SendInput in;
  in.body = body;
  return in;
}

// Every entry between head and tail, by (kind, slot, incarnation low bits);
// fails on a claimed cell that was never published.
std::map<uint64_t, int> ring_entries(const SegmentView& v, int64_t trial) {
  const RingView& r = v.journal;
  std::map<uint64_t, int> out;
  const uint64_t head = r.pos->head.load(), tail = r.pos->tail.load();
  for (uint64_t p = head; p < tail; ++p) {
    const Cell& c = r.cells[p & r.mask];
    EXPECT_EQ(c.seq.load(), p + 1) << "trial " << trial << ": journal cell " << p << " claimed, never published";
    const uint64_t e = c.data.load();
    if (e != kTombstone) ++out[e];
  }
  return out;
}

TEST(JournalCrashPoints, ClientKilledAtEveryPointOfItsJournalPushes) {
  int64_t trials = 0;
  for (int64_t k = 1;; ++k) {
    DurableSegment seg;
    const SegmentView& v = seg.v();
    // Before the trial (parent): message 0 leased by the parent, message 1
    // received once and given back (its next receive is a redelivery).
    const std::string b0 = "journaled zero", b1 = "journaled one", b2 = "two", b3 = std::string(1000, '3');
    SendOutput o0, o1;
    ASSERT_TRUE(send_message(v, seg.lane(kParentLane), input_of(b0), &o0).ok());
    ASSERT_TRUE(send_message(v, seg.lane(kParentLane), input_of(b1), &o1).ok());
    Delivery pre[2];
    ASSERT_EQ(receive_messages(v, seg.lane(kParentLane), 30000, 1, pre), 1u);
    ASSERT_EQ(pre[0].slot, o0.slot);
    ASSERT_EQ(receive_messages(v, seg.lane(kParentLane), 0, 1, pre + 1), 1u);  // visibility 0: back at once
    ASSERT_EQ(pre[1].slot, o1.slot);
    const HandleRef h0{pre[0].slot, pre[0].gen, pre[0].incarnation};

    Done& done = seg.done();
    const bool finished = testing::run_crash_trial(k, [&] {
      Lane& lane = seg.lane(kChildLane);
      const std::string* bodies[] = {&b2, &b3};
      for (int i = 0; i < 2; ++i) {
        SendOutput out;
        if (send_message(v, lane, input_of(*bodies[i]), &out).ok()) {
          done.sent_slot[i] = out.slot;
          done.sent_incarnation[i] = out.incarnation;
          done.sent[i] = 1;
        }
      }
      Delivery d[4];
      const size_t n = receive_messages(v, lane, 30000, 4, d);
      journal_after_receive(v, lane, d, n);
      done.redelivery_journaled = 1;
      if (delete_message(v, lane, h0).ok()) done.deleted = 1;
    });
    repair_lane(v, kChildLane, [](uint32_t l) { return l == kBrokerLane || l == kParentLane; });

    const std::map<uint64_t, int> entries = ring_entries(v, k);
    for (const auto& [e, count] : entries)
      EXPECT_EQ(count, 1) << "trial " << k << ": journal entry " << std::hex << e << " pushed twice";
    auto has = [&](JournalKind kind, uint32_t slot, uint64_t inc) {
      return entries.count(make_journal_entry(kind, slot, inc)) == 1;
    };
    EXPECT_TRUE(has(JournalKind::kSend, o0.slot, o0.incarnation)) << "trial " << k;
    EXPECT_TRUE(has(JournalKind::kSend, o1.slot, o1.incarnation)) << "trial " << k;
    for (int i = 0; i < 2; ++i) {
      if (done.sent[i].load()) {
        EXPECT_TRUE(has(JournalKind::kSend, done.sent_slot[i].load(), done.sent_incarnation[i].load()))
            << "trial " << k << ": acknowledged send " << i << " has no SEND entry";
      }
    }
    if (done.redelivery_journaled.load()) {
      EXPECT_TRUE(has(JournalKind::kRedelivered, o1.slot, o1.incarnation))
          << "trial " << k << ": the second receive of message 1 has no REDELIVERED entry";
    }
    if (done.deleted.load()) {
      EXPECT_TRUE(has(JournalKind::kDelete, h0.slot, h0.incarnation)) << "trial " << k << ": a delete went unjournaled";
    }
    // First receives are not journaled.
    EXPECT_FALSE(has(JournalKind::kRedelivered, o0.slot, o0.incarnation)) << "trial " << k;

    // The ring still takes pushes, at its tail.
    const uint64_t tail = v.journal.pos->tail.load();
    journal_after_delete(v, seg.lane(kParentLane), o1.slot, o1.incarnation);
    EXPECT_EQ(v.journal.pos->tail.load(), tail + 1) << "trial " << k << ": journal ring wedged";
    EXPECT_EQ(seg.lane(kParentLane).intent.load(), 0u);
    ++trials;
    if (finished || ::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(trials, 30);  // the script passes dozens of crash points; every one was a trial
  RecordProperty("trials", int(trials));
}

}  // namespace
}  // namespace shmq::shm
