// The slot state machine, one transition at a time, on a segment in this
// process's memory (no broker): what each step leaves in the state word, and
// which handles each state accepts.
#include <sched.h>
#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "shm/queue_batch.h"
#include "shm/queue_ops.h"
#include "shm/repair.h"
#include "shm/ring.h"
#include "shm/segment.h"

namespace shmq::shm {
namespace {

// Pins the calling thread (and the threads it starts from then on) to the
// CPU it runs on, until restore() or the end of the scope: a test whose
// helper thread can make progress only when the code under test yields.
class OnOneCpu {
 public:
  OnOneCpu() {
    ok_ = sched_getaffinity(0, sizeof before_, &before_) == 0;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    ok_ = ok_ && sched_setaffinity(0, sizeof one, &one) == 0;
  }
  ~OnOneCpu() { restore(); }
  bool ok() const { return ok_; }
  bool restore() {
    if (!ok_) return false;
    ok_ = false;
    return sched_setaffinity(0, sizeof before_, &before_) == 0;
  }

 private:
  cpu_set_t before_;
  bool ok_ = false;
};

class SlotStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Geometry g;
    g.counts[0] = 4;
    g.counts[1] = 2;
    g.counts[2] = 1;
    g.counts[3] = 1;
    size_ = segment_size(g);
    base_ = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(base_, MAP_FAILED);
    v_ = format_segment(base_, size_, g, 3, false, 42);
    v_.header->config.visibility_timeout_s = 30;
    v_.header->config.retention_s = 345600;
    v_.header->config.max_message_size = 1048576;
    v_.lanes[kBrokerLane].owner = kBrokerClientId;
    v_.lanes[1].owner = 9;
  }
  void TearDown() override { munmap(base_, size_); }

  Lane& lane() { return v_.lanes[1]; }
  uint64_t now() { return queue_clock_ms(v_.header); }
  uint64_t state(uint32_t s) { return v_.slot(s).state.load(); }

  SendOutput send(const std::string& body, uint32_t delay_ms = 0) {
    SendInput in;
    in.body = body;
    in.delay_ms = delay_ms;
    SendOutput out{};
    EXPECT_TRUE(send_message(v_, lane(), in, &out).ok());
    return out;
  }
  Delivery receive(uint64_t vt_ms = 30000) {
    Delivery d{};
    EXPECT_EQ(receive_messages(v_, lane(), vt_ms, 1, &d), 1u);
    return d;
  }

  // Sends until the queue is full, leases one message and leaves its delete
  // half done: the slot FREE and its free-ring push claimed at the tail but
  // not published -- where a deleting process stops when the scheduler
  // preempts it between the two steps. Returns the claimed position.
  uint64_t fill_and_half_free(Delivery* d) {
    SendInput in;
    in.body = "x";
    while (send_message(v_, lane(), in, nullptr).ok()) {
    }
    *d = receive();
    v_.slot(d->slot).state.store(make_state(SlotState::kFree, next_gen(d->gen), 0));
    const RingView& r = v_.free[v_.class_of(d->slot)];
    const uint64_t pos = r.pos->tail.fetch_add(1);
    r.cells[pos & r.mask].data.store(d->slot);
    return pos;
  }

  // A popper claims class 0's free-ring head cell and stalls there (as one
  // preempted between its claim and its release); sends and deletes then go
  // round the ring until its tail reaches that cell again, a lap later.
  // Returns a leased message whose delete will push onto that very cell.
  Delivery lap_a_stalled_pop(uint64_t* stalled) {
    const RingView& r = v_.free[0];
    *stalled = r.pos->head.fetch_add(1);
    while (r.pos->tail.load() < *stalled + r.mask + 1) {
      send("x");
      Delivery d = receive();
      EXPECT_TRUE(delete_message(v_, lane(), {d.slot, d.gen, d.incarnation}).ok());
    }
    SendOutput o = send("x");
    EXPECT_EQ(v_.class_of(o.slot), 0u);
    return receive();
  }
  // The same on the ready ring: a receiver claims the head cell and stalls;
  // sends, receives and deletes go round until the tail reaches that cell.
  uint64_t lap_a_stalled_ready_pop() {
    const RingView& r = v_.ready;
    send("x");
    const uint64_t stalled = r.pos->head.fetch_add(1);
    while (r.pos->tail.load() < stalled + r.mask + 1) {
      send("x");
      Delivery d = receive();
      EXPECT_TRUE(delete_message(v_, lane(), {d.slot, d.gen, d.incarnation}).ok());
    }
    return stalled;
  }
  void release_stalled_pop(uint64_t pos) {
    const RingView& r = v_.free[0];
    r.cells[pos & r.mask].seq.store(pos + r.mask + 1, std::memory_order_release);
  }
  // Runs `remove` on a thread, checks it waits for the stalled cell, then
  // releases the cell; what `remove` freed must be listed afterwards.
  template <class Remove>
  void expect_remove_waits_for_the_cell(uint64_t stalled, const Delivery& d, Remove&& remove) {
    const RingView& r = v_.free[0];
    const uint64_t listed = ring_size(r);
    std::atomic<bool> done{false};
    std::thread remover([&] {
      remove();
      done.store(true);
    });
    // Released as soon as the push is seen waiting: its patience is wall
    // time (2 s), which a loaded machine's yields could use up.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (v_.header->counters.free_push_waits.load() == 0 && !done.load() &&
           std::chrono::steady_clock::now() < deadline)
      sched_yield();
    EXPECT_EQ(v_.header->counters.free_push_waits.load(), 1u) << "the push never met the stalled cell";
    EXPECT_FALSE(done.load()) << "the free-ring push gave up on a cell a live popper holds";
    release_stalled_pop(stalled);
    remover.join();
    EXPECT_EQ(ring_size(r), listed + 1) << "the freed slot is in no ring";
    EXPECT_EQ(state_of(state(d.slot)), SlotState::kFree);
    EXPECT_EQ(v_.header->counters.frees_handed_over.load(), 0u);
    EXPECT_EQ(lane().op.load(), 0u);
    EXPECT_EQ(lane().intent.load(), 0u);
  }

  // Laps a stalled pop and deletes the message whose free meets the stalled
  // cell with `remove(d)`, the cell never released meanwhile: the delete
  // ends after the patience with the free handed to the broker -- counted,
  // and seen by the activity fingerprint, so even an idle queue is scanned
  // -- and a scan after the release lists the slot.
  template <class Remove>
  void expect_give_up_hands_over(Remove&& remove) {
    uint64_t stalled = 0;
    const Delivery d = lap_a_stalled_pop(&stalled);
    const uint64_t fingerprint = activity_fingerprint(v_);
    const uint64_t listed = ring_size(v_.free[0]);
    remove(d);
    EXPECT_EQ(v_.header->counters.free_push_waits.load(), 1u);
    EXPECT_EQ(v_.header->counters.frees_handed_over.load(), 1u);
    EXPECT_NE(activity_fingerprint(v_), fingerprint) << "an idle queue's scan would skip the hand-over";
    const uint64_t st = state(d.slot);
    EXPECT_EQ(state_of(st), SlotState::kDeleted);
    EXPECT_EQ(value_of(st), kBrokerLane);
    EXPECT_EQ(lane().op.load(), 0u);
    EXPECT_EQ(lane().intent.load(), 0u);
    Delivery none{};
    EXPECT_EQ(receive_messages(v_, lane(), 30000, 1, &none), 0u);
    release_stalled_pop(stalled);
    scan_slots(v_, now(), nullptr);
    EXPECT_EQ(state_of(state(d.slot)), SlotState::kFree);
    EXPECT_EQ(ring_size(v_.free[0]), listed + 1);
  }

  size_t size_ = 0;
  void* base_ = nullptr;
  SegmentView v_;
};

TEST_F(SlotStateTest, FormatListsEverySlotFree) {
  for (uint32_t s = 0; s < v_.total_slots(); ++s) EXPECT_EQ(state_of(state(s)), SlotState::kFree);
  EXPECT_EQ(ring_size(v_.free[0]), 4u);
  EXPECT_EQ(ring_size(v_.free[1]), 2u);
  EXPECT_EQ(ring_size(v_.ready), 0u);
  EXPECT_TRUE(attach_segment(base_, size_).ok());
}

// A queue at rest keeps every slot in its free ring; with a ring of exactly
// `count` cells a delete's push lands on the cache line the next send pops
// from (architecture.md). The push and pop positions must be a line apart.
TEST_F(SlotStateTest, FreeRingPushAndPopPositionsAtRestAreLinesApart) {
  for (uint32_t c = 0; c < kNumClasses; ++c) {
    const RingView& r = v_.free[c];
    EXPECT_GE(r.mask + 1, 2 * uint64_t(v_.header->classes[c].count)) << "class " << c;
    const uint64_t head = r.pos->head.load(), tail = r.pos->tail.load();
    const auto line = [&](uint64_t pos) { return reinterpret_cast<uintptr_t>(&r.cells[pos & r.mask]) / kCacheLine; };
    // (A ring of one line cannot avoid it: this fixture's classes 1-3.)
    if (v_.header->classes[c].count >= kCacheLine / sizeof(Cell)) {
      EXPECT_NE(line(head), line(tail)) << "class " << c;
    }
  }
}

TEST_F(SlotStateTest, SendWaitsForAFreeHalfDoneInAFullQueue) {
  // The sender and the thread that finishes the push share one CPU, so the
  // push completes only if the send gives the CPU away while it waits
  // (queue_ops.h: wait_for_push). Answering OverLimit at once fails here.
  OnOneCpu pinned;
  ASSERT_TRUE(pinned.ok());
  Delivery d;
  const uint64_t pos = fill_and_half_free(&d);
  const RingView& r = v_.free[v_.class_of(d.slot)];
  SendInput in;
  in.body = "x";
  // The helper has run before the send starts (a thread that never ran may
  // be placed behind the sender's few yields on some schedulers).
  std::atomic<bool> started{false}, sending{false};
  std::thread finisher([&] {
    started.store(true);
    while (!sending.load()) sched_yield();
    r.cells[pos & r.mask].seq.store(pos + 1, std::memory_order_release);  // the push's second step
  });
  while (!started.load()) sched_yield();
  sending.store(true);
  SendOutput out{};
  const Status st = send_message(v_, lane(), in, &out);
  finisher.join();
  ASSERT_TRUE(pinned.restore());
  ASSERT_TRUE(st.ok()) << st.to_string();
  EXPECT_EQ(out.slot, d.slot);
  EXPECT_EQ(ring_size(r), 0u);
}

TEST_F(SlotStateTest, SendGivesUpOnAFreeThatNeverCompletes) {
  // A deleter killed between its steps leaves the cell to the broker's
  // repair; a send meanwhile answers OverLimit (bounded wait) and changes
  // nothing.
  Delivery d;
  const uint64_t pos = fill_and_half_free(&d);
  const RingView& r = v_.free[v_.class_of(d.slot)];
  SendInput in;
  in.body = "x";
  EXPECT_EQ(send_message(v_, lane(), in, nullptr).code(), "OverLimit");
  EXPECT_EQ(r.pos->head.load(), pos);
  EXPECT_EQ(r.pos->tail.load(), pos + 1);
  EXPECT_EQ(state_of(state(d.slot)), SlotState::kFree);
  EXPECT_EQ(lane().op.load(), 0u);
  EXPECT_EQ(lane().intent.load(), 0u);
}

// A free ring has twice as many cells as its class has slots, yet its push
// fails on a cell a popper claimed a lap ago and has not released. Under
// load (a full queue, every send popping a small class's ring) that happened
// thousands of times a run, and each failure left a FREE slot in no ring:
// the queue shrank for good. The delete must wait for the cell instead.
TEST_F(SlotStateTest, DeleteWaitsForAFreeRingCellAStalledPopperHolds) {
  uint64_t stalled = 0;
  const Delivery d = lap_a_stalled_pop(&stalled);
  expect_remove_waits_for_the_cell(stalled, d, [&] {
    EXPECT_TRUE(delete_message(v_, lane(), {d.slot, d.gen, d.incarnation}).ok());
  });
}

TEST_F(SlotStateTest, BatchDeleteWaitsForAFreeRingCellAStalledPopperHolds) {
  uint64_t stalled = 0;
  const Delivery d = lap_a_stalled_pop(&stalled);
  expect_remove_waits_for_the_cell(stalled, d, [&] {
    const HandleRef h{d.slot, d.gen, d.incarnation};
    Status st;
    EXPECT_EQ(delete_messages(v_, lane(), &h, 1, &st), 1u);
    EXPECT_TRUE(st.ok()) << st.to_string();
  });
}

// The broker is one thread, and the popper holding the cell may be a dead
// client only that thread can reap: its own free does not wait out the
// patience. The slot stays DELETED(broker lane), in no ring, and a later
// scan frees it once the cell is released. The deferral is counted, so the
// tick of an otherwise idle queue scans again (activity_fingerprint).
TEST_F(SlotStateTest, BrokerDefersAFreeItCannotPushAndAScanFreesItLater) {
  uint64_t stalled = 0;
  const Delivery d = lap_a_stalled_pop(&stalled);
  Lane& b = v_.lanes[kBrokerLane];
  v_.slot(d.slot).state.store(make_state(SlotState::kDeleted, d.gen, kBrokerLane));
  const RingView& r = v_.free[0];
  const uint64_t listed = ring_size(r);
  const uint64_t fingerprint = activity_fingerprint(v_);
  const auto start = std::chrono::steady_clock::now();
  free_deleted_slot(v_, b, d.slot, d.gen);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(kCellPatienceMs / 2))
      << "the broker waited out the patience";
  uint64_t st = state(d.slot);
  EXPECT_EQ(state_of(st), SlotState::kDeleted);
  EXPECT_EQ(value_of(st), kBrokerLane);
  EXPECT_EQ(ring_size(r), listed);
  EXPECT_EQ(v_.header->counters.frees_handed_over.load(), 1u);
  EXPECT_NE(activity_fingerprint(v_), fingerprint) << "an idle queue's tick would not scan for the deferral";
  EXPECT_EQ(b.op.load(), 0u);
  EXPECT_EQ(b.intent.load(), 0u);
  // Still held: a scan tries again, defers again, and asks to run soon.
  ScanResult sr = scan_slots(v_, now(), nullptr);
  EXPECT_EQ(state_of(state(d.slot)), SlotState::kDeleted);
  EXPECT_LE(sr.next_deadline_ms, now() + 1000);
  release_stalled_pop(stalled);
  scan_slots(v_, now(), nullptr);
  EXPECT_EQ(state_of(state(d.slot)), SlotState::kFree);
  EXPECT_EQ(ring_size(r), listed + 1);
  EXPECT_EQ(v_.header->counters.frees_handed_over.load(), 2u) << "the scan's deferral counts again";
  EXPECT_EQ(b.op.load(), 0u);
}

// A free the broker defers in the middle of a scan (here a retention delete
// meets the stalled cell) is counted too: the next tick's fingerprint
// differs, so an idle queue is scanned again and the slot freed, not left
// out of its ring until some client happens to act.
TEST_F(SlotStateTest, ABrokerDeferralInsideAScanMakesTheNextTickScanAgain) {
  uint64_t stalled = 0;
  const Delivery d = lap_a_stalled_pop(&stalled);
  const uint64_t fingerprint = activity_fingerprint(v_);
  const uint64_t later = now() + 345600ull * 1000 + 1000;  // past the retention
  scan_slots(v_, later, nullptr);
  EXPECT_EQ(state_of(state(d.slot)), SlotState::kDeleted);
  EXPECT_EQ(value_of(state(d.slot)), kBrokerLane);
  EXPECT_NE(activity_fingerprint(v_), fingerprint) << "the tick would skip the deferred free";
  release_stalled_pop(stalled);
  scan_slots(v_, later, nullptr);
  EXPECT_EQ(state_of(state(d.slot)), SlotState::kFree);
}

// A popper that never releases (stopped, or dead with no broker to repair
// it): the delete still ends, after kCellPatienceMs, with the message
// deleted and the free handed to the broker -- counted, and seen by the
// broker's activity fingerprint, so even an idle queue is scanned -- and
// the broker's scan lists the slot once the cell is released: bounded for
// the client, and no slot lost for good.
TEST_F(SlotStateTest, DeleteGivesUpOnAFreeRingCellNeverReleasedAndTheBrokerFreesItLater) {
  expect_give_up_hands_over([&](const Delivery& d) {
    EXPECT_TRUE(delete_message(v_, lane(), {d.slot, d.gen, d.incarnation}).ok());
  });
}

// The same for a delete batch (free_slots): the slot it could not push is
// handed over, not left DELETED(lane) for a repair that never comes.
TEST_F(SlotStateTest, BatchDeleteGivesUpOnACellNeverReleasedAndTheBrokerFreesItLater) {
  expect_give_up_hands_over([&](const Delivery& d) {
    const HandleRef h[1] = {{d.slot, d.gen, d.incarnation}};
    Status st[1];
    EXPECT_EQ(delete_messages(v_, lane(), h, 1, st), 1u);
    EXPECT_EQ(lane().batch.load(), 0u);
  });
}

// One client died with two lanes mid-step: lane 2 inside a free-ring pop
// (claimed, never released) and lane 3 between a delete's two steps (slot
// FREE, its push not made) -- and the ring went a lap round meanwhile, so
// lane 3's push lands on lane 2's cell. Repairing lane 3 first would wait
// for a cell only lane 2's repair releases, and lose the slot after
// kCellPatienceMs; repair_lanes repairs the pop first.
TEST_F(SlotStateTest, RepairLanesReleasesADeadPopBeforeADeadFreeWaitsOnIt) {
  uint64_t stalled = 0;
  const Delivery d = lap_a_stalled_pop(&stalled);
  const RingView& r = v_.free[0];
  const uint32_t held = uint32_t(r.cells[stalled & r.mask].data.load());
  Lane& popper = v_.lanes[2];
  Lane& freer = v_.lanes[3];
  popper.owner = freer.owner = 77;
  popper.intent.store(make_intent(r.id, true, stalled));
  popper.op.store(make_op(LaneOp::kSending, held, 0));
  const uint32_t g = next_gen(d.gen);
  v_.slot(d.slot).state.store(make_state(SlotState::kFree, g, 0));
  freer.op.store(make_op(LaneOp::kFreeing, d.slot, g));
  const uint32_t dead[] = {3, 2};
  repair_lanes(v_, dead, 2, [](uint32_t l) { return l == kBrokerLane || l == 1; });
  EXPECT_EQ(v_.header->counters.frees_handed_over.load(), 0u);
  EXPECT_EQ(ring_size(r), uint64_t(v_.header->classes[0].count)) << "every class-0 slot listed again";
  for (uint32_t s = 0; s < v_.header->classes[0].count; ++s) EXPECT_EQ(state_of(state(s)), SlotState::kFree) << s;
  for (Lane* l : {&popper, &freer}) {
    EXPECT_EQ(l->op.load(), 0u);
    EXPECT_EQ(l->intent.load(), 0u);
  }
}

// A publish that meets a ready-ring cell a receiver has not released parks
// the message as due-now DELAYED (the broker's tick publishes it): the send
// succeeds, nothing is lost, and the stats count it.
TEST_F(SlotStateTest, PublishParksTheMessageWhenTheReadyCellStaysClaimed) {
  lap_a_stalled_ready_pop();
  SendOutput o = send("y");
  EXPECT_EQ(state_of(state(o.slot)), SlotState::kDelayed);
  EXPECT_LE(value_of(state(o.slot)), now());
  SendInput in;
  in.body = "z";
  SendOutput ob{};
  Status st;
  EXPECT_EQ(send_messages(v_, lane(), &in, 1, &ob, &st), 1u);
  EXPECT_TRUE(st.ok()) << st.to_string();
  EXPECT_EQ(state_of(state(ob.slot)), SlotState::kDelayed);
  EXPECT_EQ(v_.header->counters.ready_parked.load(), 2u);
  EXPECT_EQ(lane().op.load(), 0u);
  EXPECT_EQ(lane().intent.load(), 0u);
  EXPECT_EQ(lane().batch.load(), 0u);
}

TEST_F(SlotStateTest, PublishWaitsForAReadyCellBeingReleased) {
  // Receiver and sender share one CPU: the send's publish succeeds only if
  // it gives the CPU away while it waits for the cell.
  OnOneCpu pinned;
  ASSERT_TRUE(pinned.ok());
  const uint64_t stalled = lap_a_stalled_ready_pop();
  const RingView& r = v_.ready;
  std::atomic<bool> started{false}, sending{false};  // as in SendWaitsForAFreeHalfDoneInAFullQueue
  std::thread receiver([&] {
    started.store(true);
    while (!sending.load()) sched_yield();
    r.cells[stalled & r.mask].seq.store(stalled + r.mask + 1, std::memory_order_release);
  });
  while (!started.load()) sched_yield();
  sending.store(true);
  SendInput in;
  in.body = "y";
  SendOutput o{};
  const Status st = send_message(v_, lane(), in, &o);
  receiver.join();
  ASSERT_TRUE(pinned.restore());
  ASSERT_TRUE(st.ok()) << st.to_string();
  EXPECT_EQ(state_of(state(o.slot)), SlotState::kVisible);
  EXPECT_EQ(v_.header->counters.ready_parked.load(), 0u);
}

TEST_F(SlotStateTest, AttachRejectsCorruptHeaders) {
  EXPECT_FALSE(attach_segment(base_, size_ - 4096).ok());  // size mismatch
  v_.header->classes[1].payload_offset = size_;             // region past the end
  EXPECT_EQ(attach_segment(base_, size_).status().code(), "InternalError");
  v_.header->magic = 0;
  EXPECT_FALSE(attach_segment(base_, size_).ok());
}

TEST_F(SlotStateTest, SendMakesVisibleAndListsIt) {
  SendOutput o = send("hi");
  uint64_t st = state(o.slot);
  EXPECT_EQ(state_of(st), SlotState::kVisible);
  EXPECT_EQ(gen_of(st), 0u);
  EXPECT_EQ(o.incarnation, 1u);
  EXPECT_EQ(ring_size(v_.ready), 1u);
  EXPECT_EQ(ring_size(v_.free[0]), 3u);
  EXPECT_EQ(lane().op.load(), 0u);
  EXPECT_EQ(lane().intent.load(), 0u);
}

TEST_F(SlotStateTest, SendChoosesTheSmallestClassThatFitsAndFallsBack) {
  SendOutput big = send(std::string(1000, 'x'));
  EXPECT_EQ(v_.class_of(big.slot), 1u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(v_.class_of(send("s").slot), 0u);
  // Class 0 is full: a small message takes a larger slot.
  EXPECT_EQ(v_.class_of(send("s").slot), 1u);
  SendInput in;
  std::string b(100, 'y');
  in.body = b;
  // Classes 0 and 1 full now; 2 and 3 have one each.
  EXPECT_TRUE(send_message(v_, lane(), in, nullptr).ok());
  EXPECT_TRUE(send_message(v_, lane(), in, nullptr).ok());
  EXPECT_EQ(send_message(v_, lane(), in, nullptr).code(), "OverLimit");
}

TEST_F(SlotStateTest, DelayedUntilTheBrokerReleasesIt) {
  SendOutput o = send("later", 5000);
  uint64_t st = state(o.slot);
  EXPECT_EQ(state_of(st), SlotState::kDelayed);
  EXPECT_GE(value_of(st), now() + 4000);
  EXPECT_EQ(ring_size(v_.ready), 0u);
  Delivery d;
  EXPECT_EQ(receive_messages(v_, lane(), 30000, 1, &d), 0u);
  ScanResult r = scan_slots(v_, now(), nullptr);
  EXPECT_EQ(r.delayed, 1u);
  r = scan_slots(v_, now() + 6000, nullptr);
  EXPECT_EQ(r.visible, 1u);
  EXPECT_EQ(state_of(state(o.slot)), SlotState::kVisible);
  EXPECT_EQ(receive().slot, o.slot);
}

TEST_F(SlotStateTest, ReceiveLeasesWithNextGenerationAndDeadline) {
  SendOutput o = send("m");
  uint64_t before = now();
  Delivery d = receive(30000);
  uint64_t st = state(o.slot);
  EXPECT_EQ(state_of(st), SlotState::kLeased);
  EXPECT_EQ(gen_of(st), 1u);
  EXPECT_EQ(d.gen, 1u);
  EXPECT_GE(value_of(st), before + 30000);
  EXPECT_EQ(d.receive_count, 1u);
  EXPECT_EQ(std::string(d.body, d.body_len), "m");
  // Leased: nobody else gets it.
  Delivery other;
  EXPECT_EQ(receive_messages(v_, lane(), 30000, 1, &other), 0u);
}

TEST_F(SlotStateTest, ExpiryMakesVisibleWithSameGenerationThenReleaseBumpsIt) {
  SendOutput o = send("m");
  Delivery d1 = receive(1000);
  scan_slots(v_, now() + 2000, nullptr);
  uint64_t st = state(o.slot);
  EXPECT_EQ(state_of(st), SlotState::kVisible);
  EXPECT_EQ(gen_of(st), 1u);  // same gen: the old handle can still delete (SQS)
  Delivery d2 = receive(1000);
  EXPECT_EQ(d2.gen, 2u);
  EXPECT_EQ(d2.receive_count, 2u);
  // The first handle is stale now.
  EXPECT_EQ(delete_message(v_, lane(), {d1.slot, d1.gen, d1.incarnation}).code(), "InvalidParameterValue");
  EXPECT_EQ(change_visibility(v_, lane(), {d1.slot, d1.gen, d1.incarnation}, 0).code(), "InvalidParameterValue");
  EXPECT_TRUE(delete_message(v_, lane(), {d2.slot, d2.gen, d2.incarnation}).ok());
}

TEST_F(SlotStateTest, DeleteAfterExpiryBeforeReReceiveSucceeds) {
  SendOutput o = send("m");
  Delivery d = receive(1000);
  scan_slots(v_, now() + 2000, nullptr);
  ASSERT_EQ(state_of(state(o.slot)), SlotState::kVisible);
  EXPECT_TRUE(delete_message(v_, lane(), {d.slot, d.gen, d.incarnation}).ok());
  EXPECT_EQ(state_of(state(o.slot)), SlotState::kFree);
  Delivery none;
  EXPECT_EQ(receive_messages(v_, lane(), 1000, 1, &none), 0u);  // the stale ring entry is dropped
}

TEST_F(SlotStateTest, DeleteFreesWithNextGenerationAndRelists) {
  SendOutput o = send("m");
  Delivery d = receive();
  EXPECT_TRUE(delete_message(v_, lane(), {d.slot, d.gen, d.incarnation}).ok());
  uint64_t st = state(o.slot);
  EXPECT_EQ(state_of(st), SlotState::kFree);
  EXPECT_EQ(gen_of(st), 2u);
  EXPECT_EQ(ring_size(v_.free[0]), 4u);
  // Deleting again is not an error; nor is a handle of a reused slot.
  EXPECT_TRUE(delete_message(v_, lane(), {d.slot, d.gen, d.incarnation}).ok());
  // Out of range: invalid.
  EXPECT_EQ(delete_message(v_, lane(), {999, 0, 1}).code(), "ReceiptHandleIsInvalid");
}

TEST_F(SlotStateTest, ChangeVisibilityExtendsOrReleases) {
  SendOutput o = send("m");
  Delivery d = receive(1000);
  ASSERT_TRUE(change_visibility(v_, lane(), {d.slot, d.gen, d.incarnation}, 60000).ok());
  EXPECT_GE(value_of(state(o.slot)), now() + 59000);
  scan_slots(v_, now() + 2000, nullptr);
  EXPECT_EQ(state_of(state(o.slot)), SlotState::kLeased);  // extended past the old deadline
  ASSERT_TRUE(change_visibility(v_, lane(), {d.slot, d.gen, d.incarnation}, 0).ok());
  EXPECT_EQ(state_of(state(o.slot)), SlotState::kVisible);  // at once, no broker needed
  Delivery again = receive();
  EXPECT_EQ(again.slot, o.slot);
  EXPECT_EQ(again.receive_count, 2u);
}

TEST_F(SlotStateTest, ChangeVisibilityOfDeletedMessageFails) {
  send("m");
  Delivery d = receive();
  ASSERT_TRUE(delete_message(v_, lane(), {d.slot, d.gen, d.incarnation}).ok());
  Status s = change_visibility(v_, lane(), {d.slot, d.gen, d.incarnation}, 10000);
  EXPECT_EQ(s.code(), "InvalidParameterValue");
  EXPECT_NE(s.message().find("does not exist"), std::string::npos);
}

TEST_F(SlotStateTest, RetentionDeletesInEveryLiveState) {
  SendOutput a = send("visible");
  SendOutput b = send("delayed", 5000);
  send("leased");
  Delivery d = receive();
  (void)d;
  ScanResult r = scan_slots(v_, now() + 345600ull * 1000 + 1000, nullptr);
  EXPECT_EQ(r.visible + r.not_visible + r.delayed, 0u);
  EXPECT_EQ(state_of(state(a.slot)), SlotState::kFree);
  EXPECT_EQ(state_of(state(b.slot)), SlotState::kFree);
  EXPECT_EQ(v_.header->counters.retention_deleted.load(), 3u);
  EXPECT_EQ(ring_size(v_.free[0]), 4u);
}

TEST_F(SlotStateTest, ExpiredLeaseGoesToTheDeadLetterQueueAfterMaxReceives) {
  v_.header->config.max_receive_count = 2;
  v_.header->config.dlq_uid = 77;
  send("poison");
  int moved = 0;
  auto mover = [&](uint32_t) { return ++moved, true; };
  receive(1000);
  scan_slots(v_, now() + 2000, mover);
  EXPECT_EQ(moved, 0);  // received once: back to visible
  receive(1000);
  scan_slots(v_, now() + 4000, mover);
  EXPECT_EQ(moved, 1);  // received twice (= maxReceiveCount) and expired: moved
  EXPECT_EQ(v_.header->counters.dlq_moved.load(), 1u);
  EXPECT_EQ(ring_size(v_.free[0]), 4u);
}

TEST_F(SlotStateTest, ACountingPassNeverReleasesAMessageDueForItsDeadLetterQueue) {
  v_.header->config.max_receive_count = 1;
  v_.header->config.dlq_uid = 77;
  SendOutput o = send("poison");
  receive(1000);
  ScanResult r = scan_slots(v_, now() + 2000, nullptr);  // e.g. GetQueueAttributes
  EXPECT_EQ(r.not_visible, 1u);
  EXPECT_EQ(r.visible, 0u);
  EXPECT_EQ(state_of(state(o.slot)), SlotState::kLeased);
  Delivery d;
  EXPECT_EQ(receive_messages(v_, lane(), 1000, 1, &d), 0u);  // not delivered a second time
  int moved = 0;
  scan_slots(v_, now() + 2000, [&](uint32_t) { return ++moved, true; });
  EXPECT_EQ(moved, 1);
}

TEST_F(SlotStateTest, PurgeDeletesEverything) {
  send("a");
  send("b", 5000);
  send("c");
  receive();
  EXPECT_EQ(purge_slots(v_), 3u);
  for (uint32_t s = 0; s < v_.total_slots(); ++s) EXPECT_EQ(state_of(state(s)), SlotState::kFree);
  Delivery d;
  EXPECT_EQ(receive_messages(v_, lane(), 1000, 1, &d), 0u);
}

// Long polling: a sender wakes the sleepers (a futex syscall per message)
// only when no receiver is spinning before its sleep -- a spinner takes the
// entry itself.
TEST_F(SlotStateTest, ASenderSkipsTheWakeWhileAReceiverSpins) {
  Header* h = v_.header;
  h->sleeping[0].store(uint64_t{1} << 7);  // lane 7's receiver asleep
  h->spinning[0].store(uint64_t{1} << 2);  // lane 2's receiver spinning
  const uint32_t before = h->ready_futex.load();
  send("a");
  EXPECT_EQ(h->ready_futex.load(), before) << "woke the sleepers though a receiver spins";
  h->spinning[0].store(0);
  send("b");
  EXPECT_NE(h->ready_futex.load(), before) << "a sleeper with no spinner was not woken";
}

// A spinner that takes one message and leaves another in the ring (whose
// sender skipped its wake because of it) passes the wake on to the
// sleepers; its bit is set only while it spins.
TEST_F(SlotStateTest, ASpinnerThatLeavesEntriesBehindPassesTheWakeOn) {
  Header* h = v_.header;
  h->sleeping[0].store(uint64_t{1} << 7);  // lane 7's receiver asleep
  Lane& spinner = v_.lanes[2];
  spinner.owner = 9;
  h->spinning[0].store(uint64_t{1} << 2);
  send("a");
  send("b");  // both wakes skipped: lane 2 "spins"
  h->spinning[0].store(0);
  const uint32_t before = h->ready_futex.load();
  bool bit_while_taking = false;
  Delivery d{};
  const size_t n = spin_before_sleep(v_, spinner, 10, [&] {
    bit_while_taking = (h->spinning[0].load() >> 2) & 1;
    return receive_messages(v_, spinner, 30000, 1, &d);
  });
  EXPECT_EQ(n, 1u);
  EXPECT_TRUE(bit_while_taking);
  EXPECT_EQ(h->spinning[0].load(), 0u);
  EXPECT_NE(h->ready_futex.load(), before) << "the entry left behind stays with sleepers nobody woke";
  // With nothing left behind there is nothing to pass on.
  const uint32_t after = h->ready_futex.load();
  EXPECT_EQ(spin_before_sleep(v_, spinner, 10, [&] { return receive_messages(v_, spinner, 30000, 1, &d); }), 1u);
  EXPECT_EQ(h->ready_futex.load(), after);
}

// A receiver stopped (not dead) in its spin keeps its bit: publishers skip
// the wake. The broker's tick wakes the sleepers when entries wait while
// they sleep, and does nothing otherwise.
TEST_F(SlotStateTest, TheBrokersTickWakesSleepersAStoppedSpinnerWouldStrand) {
  Header* h = v_.header;
  h->sleeping[0].store(uint64_t{1} << 7);  // lane 7's receiver asleep
  h->spinning[0].store(uint64_t{1} << 2);  // stopped mid-spin
  const uint32_t before = h->ready_futex.load();
  EXPECT_FALSE(wake_stranded_receivers(v_)) << "woke sleepers for an empty ring";
  send("a");
  EXPECT_EQ(h->ready_futex.load(), before);  // the publisher skipped its wake
  EXPECT_TRUE(wake_stranded_receivers(v_));
  EXPECT_NE(h->ready_futex.load(), before);
  h->sleeping[0].store(0);
  const uint32_t after = h->ready_futex.load();
  EXPECT_FALSE(wake_stranded_receivers(v_)) << "a syscall with nobody asleep";
  EXPECT_EQ(h->ready_futex.load(), after);
}

// A spinner whose last take lost the race (another receiver popped the entry
// it saw) leaves empty-handed, but senders skipped their wakes for its bit
// meanwhile: it passes the wake on all the same, or the entries beyond what
// its sleep loop's try takes would sit with sleepers nobody woke.
TEST_F(SlotStateTest, ASpinnerThatLeavesEmptyHandedPassesTheWakeOn) {
  Header* h = v_.header;
  Lane& p = v_.lanes[2];  // the long poll in its spin
  Lane& c = v_.lanes[3];  // a competing receiver
  p.owner = c.owner = 9;
  send("e0");
  const uint32_t seen = h->ready_futex.load();
  set_lane_bit(h->sleeping, 7);  // another long poll, asleep
  Delivery d{};
  const size_t n = spin_before_sleep(v_, p, 1, [&] {
    EXPECT_EQ(receive_messages(v_, c, 30000, 1, &d), 1u);  // c takes e0 first
    const size_t got = receive_messages(v_, p, 30000, 1, &d);
    send("e1");
    send("e2");
    EXPECT_EQ(h->ready_futex.load(), seen) << "the senders should skip the wake while p spins";
    return got;
  });
  EXPECT_EQ(n, 0u);
  EXPECT_NE(h->ready_futex.load(), seen) << "e1 and e2 visible, a sleeper, and nobody woke it";
  clear_lane_bit(h->sleeping, 7);
}

// Two spinners: the first leaves with a message and passes the wake on, but
// the second's bit suppresses it; the second, leaving empty-handed, is the
// last spinner and passes it on.
TEST_F(SlotStateTest, TheLastSpinnerToLeavePassesOnAWakeAnotherSuppressed) {
  Header* h = v_.header;
  Lane& p1 = v_.lanes[2];
  Lane& p2 = v_.lanes[66];  // a lane in the second word of `spinning`
  Lane& c = v_.lanes[3];
  p1.owner = p2.owner = c.owner = 9;
  send("e0");
  const uint32_t seen = h->ready_futex.load();
  set_lane_bit(h->sleeping, 7);  // a long poll asleep
  Delivery d{};
  const size_t n2 = spin_before_sleep(v_, p2, 1, [&] {
    EXPECT_EQ(receive_messages(v_, c, 30000, 1, &d), 1u);
    const size_t got = receive_messages(v_, p2, 30000, 1, &d);
    send("e1");
    send("e2");
    send("e3");
    EXPECT_EQ(spin_before_sleep(v_, p1, 10, [&] { return receive_messages(v_, p1, 30000, 1, &d); }), 1u);
    EXPECT_EQ(h->ready_futex.load(), seen) << "p1's pass-on should be suppressed while p2 spins";
    return got;
  });
  EXPECT_EQ(n2, 0u);
  EXPECT_EQ(h->spinning[0].load() | h->spinning[1].load(), 0u);
  EXPECT_NE(h->ready_futex.load(), seen) << "e2 and e3 visible, a sleeper, and nobody woke it";
  clear_lane_bit(h->sleeping, 7);
}

// A receiver killed while it spins leaves its bit set: every sender would
// skip the wake from then on; one killed asleep, its sleeping bit: every
// sender would wake nobody. The repair of its lane clears both.
TEST_F(SlotStateTest, RepairClearsADeadReceiversSpinningAndSleepingBits) {
  Header* h = v_.header;
  h->spinning[1].store((uint64_t{1} << 3) | (uint64_t{1} << 5));  // lanes 67 and 69
  h->sleeping[1].store((uint64_t{1} << 3) | (uint64_t{1} << 6));  // lanes 67 and 70
  v_.lanes[67].owner = 77;
  repair_lane(v_, 67, [](uint32_t) { return false; });
  EXPECT_EQ(h->spinning[1].load(), uint64_t{1} << 5);
  EXPECT_EQ(h->sleeping[1].load(), uint64_t{1} << 6);
}

}  // namespace
}  // namespace shmq::shm
