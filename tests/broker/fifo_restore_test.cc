// Rebuilding a FIFO queue from journal records (journal::Replay ->
// broker::restore_queue -> shm::restore_messages), without a broker process:
// records arrive in journal order, which is neither slot order nor send
// order (the journal thread copies a SEND after the sender published it, so
// senders of different groups interleave, and slots are recycled). The
// rebuilt queue must deliver each group in SequenceNumber order, continue
// the counter above the highest journaled number, and answer duplicates of
// live, deleted and purged messages inside the window, not after it.
#include <sys/mman.h>

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker/journal/record.h"
#include "broker/journal/replay.h"
#include "broker/journal_recovery.h"
#include "shm/fifo.h"
#include "shm/segment.h"

namespace shmq {
namespace {

constexpr uint32_t kUid = 5;
constexpr uint64_t kSecret = 0xABCD'0000'0000'0000ULL;

class FifoRestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shm::Geometry g;
    g.counts[0] = 32;
    g.counts[1] = 4;
    g.counts[2] = 1;
    g.counts[3] = 1;
    size_ = shm::segment_size(g, true);
    base_ = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(base_, MAP_FAILED);
    q_.name = "r.fifo";
    q_.uid = kUid;
    q_.fifo = true;
    q_.view = shm::format_segment(base_, size_, g, kUid, true, 1);
    shm::Header* h = q_.view.header;
    h->config.visibility_timeout_s = 30;
    h->config.retention_s = 345600;
    h->config.max_message_size = 262144;
    h->epoch_offset_ms.store(shm::measure_epoch_offset_ms(h));
    q_.view.lanes[shm::kBrokerLane].owner = shm::kBrokerClientId;
    q_.view.lanes[1].owner = 9;
    now_epoch_ = shm::epoch_ms(h, shm::queue_clock_ms(h));

    journal::QueueStateRecord s;
    s.queue_uid = kUid;
    s.fifo = true;
    s.secret = kSecret;
    s.name = q_.name;
    s.attributes_json = "{}";
    apply(journal::RecordType::kQueueState, journal::encode(s));
  }
  void TearDown() override { munmap(base_, size_); }

  void apply(journal::RecordType type, const std::string& payload) {
    journal::ScannedRecord r;
    r.header.type = type;
    r.payload = payload;
    ASSERT_TRUE(replay_.apply(r).ok());
  }
  // A FIFO SEND as the journal thread writes it; the body names the message.
  void send(uint32_t slot, uint64_t inc, uint64_t seq, const std::string& group, const std::string& dedup,
            uint64_t age_ms = 1000) {
    journal::SendRecord r;
    r.queue_uid = kUid;
    r.slot = slot;
    r.incarnation = inc;
    r.sent_epoch_ms = now_epoch_ - age_ms;
    r.sequence_number = seq;
    const std::string body = group + "#" + std::to_string(seq);
    r.body = body;
    r.group_id = group;
    r.dedup_id = dedup;
    apply(journal::RecordType::kSend, journal::encode(r));
  }
  void remove(uint32_t slot, uint64_t inc) {
    apply(journal::RecordType::kDelete, journal::encode(journal::DeleteRecord{kUid, slot, inc}));
  }
  void restore() {
    uint64_t n = 0;
    Status s = broker::restore_queue(&q_, replay_.queues()[kUid], &n);
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  // Receives everything, one group lease at a time, deleting as it goes:
  // the bodies in delivery order.
  std::vector<std::string> drain() {
    std::vector<std::string> out;
    shm::Delivery d[10];
    for (;;) {
      const size_t n = shm::fifo_receive(q_.view, q_.view.lanes[1], 60000, 10, d);
      if (n == 0) return out;
      for (size_t i = 0; i < n; ++i) {
        out.emplace_back(d[i].body, d[i].body_len);
        EXPECT_TRUE(shm::fifo_delete(q_.view, q_.view.lanes[1], {d[i].slot, d[i].gen, d[i].incarnation}).ok());
      }
    }
  }
  shm::FifoSendOutput send_now(const std::string& group, const std::string& dedup) {
    shm::SendInput in;
    in.body = "new";
    shm::FifoSendOutput out;
    EXPECT_TRUE(shm::fifo_send(q_.view, q_.view.lanes[1], in, group, dedup, &out).ok());
    return out;
  }

  size_t size_ = 0;
  void* base_ = nullptr;
  broker::QueueRecord q_;
  journal::Replay replay_;
  uint64_t now_epoch_ = 0;
};

TEST_F(FifoRestoreTest, GroupsComeBackInSequenceOrderNotSlotOrder) {
  // Journal order interleaves groups; slots run against send order.
  send(20, 1, 1, "a", "a1");
  send(3, 1, 2, "b", "b1");
  send(9, 1, 4, "a", "a3");
  send(15, 1, 3, "a", "a2");  // journaled after a later message of its group
  send(1, 1, 5, "b", "b2");
  send(30, 1, 6, "a", "a4");
  send(0, 1, 7, "c", "c1");
  restore();
  std::vector<std::string> got = drain();
  std::map<std::string, std::vector<std::string>> per_group;
  for (const std::string& b : got) per_group[b.substr(0, 1)].push_back(b);
  EXPECT_EQ(per_group["a"], (std::vector<std::string>{"a#1", "a#3", "a#4", "a#6"}));
  EXPECT_EQ(per_group["b"], (std::vector<std::string>{"b#2", "b#5"}));
  EXPECT_EQ(per_group["c"], (std::vector<std::string>{"c#7"}));
  // The group holding the oldest message is served first.
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0], "a#1");
  // The counter continues above the highest journaled number.
  EXPECT_EQ(send_now("a", "fresh").sequence_number, 8u);
}

TEST_F(FifoRestoreTest, DeletedAndPurgedMessagesKeepDeduplicating) {
  send(2, 1, 1, "h", "purged");
  apply(journal::RecordType::kPurge, journal::encode(journal::QueueRecordRef{kUid}));
  send(4, 1, 2, "g", "live");
  send(7, 1, 3, "g", "deleted");
  remove(7, 1);
  send(7, 2, 9, "g", "recycled");  // the same slot again: "deleted" stays remembered
  send(5, 1, 10, "h", "old", shm::kDedupWindowMs + 1000);  // seen before the window
  send(6, 1, 11, "h", "aging", 200000);                      // 100 s of its window left
  // A dedup entry journaled on its own (its SEND was dropped: deleted first).
  journal::FifoDedupRecord f;
  f.queue_uid = kUid;
  f.slot = 11;
  f.incarnation = 4;
  f.sequence_number = 12;
  f.seen_epoch_ms = now_epoch_ - 2000;
  const shm::FifoDedupKey k = shm::fifo_dedup_key({}, "alone");
  f.key_hi = k.hi;
  f.key_lo = k.lo;
  apply(journal::RecordType::kFifoDedup, journal::encode(f));
  remove(11, 4);
  restore();

  auto expect_original = [&](const char* dedup, uint32_t slot, uint64_t inc, uint64_t seq) {
    shm::FifoSendOutput out = send_now("g", dedup);
    EXPECT_TRUE(out.duplicate) << dedup;
    EXPECT_EQ(out.slot, slot) << dedup;
    EXPECT_EQ(out.incarnation, inc) << dedup;
    EXPECT_EQ(out.sequence_number, seq) << dedup;
  };
  expect_original("live", 4, 1, 2);
  expect_original("deleted", 7, 1, 3);
  expect_original("recycled", 7, 2, 9);
  expect_original("purged", 2, 1, 1);
  expect_original("alone", 11, 4, 12);
  EXPECT_FALSE(send_now("g", "old").duplicate) << "an entry past its window came back";
  // An entry keeps its age: 150 s later, 350 s after its first send, it is over.
  EXPECT_TRUE(send_now("g", "aging").duplicate);
  q_.view.header->clock_skew_ms.fetch_add(150000);
  EXPECT_FALSE(send_now("g", "aging").duplicate) << "the rebuild restarted an entry's window";
  // The live messages: "live", "recycled", "old", "aging" (retention is 4
  // days), and the two sent again just now past their windows.
  const std::vector<std::string> left = drain();
  EXPECT_EQ(left.size(), 6u) << ::testing::PrintToString(left);
}

}  // namespace
}  // namespace shmq
