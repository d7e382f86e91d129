// Compaction: files whose messages are all deleted go, files held by a few
// live messages are rewritten, disk use stays within about twice the live
// data, and every live message survives (also across a reopen).
#include <chrono>
#include <filesystem>
#include <map>
#include <random>

#include "tests/journal/journal_test_util.h"

namespace shmq::journal {
namespace {

using testing::TempDir;

// The journal's files' bytes. The journal may still be open: its writer can
// remove a file between the listing and its size (gone: it counts 0).
uint64_t dir_bytes(const std::string& dir) {
  uint64_t n = 0;
  for (auto id : list_files(dir)) {
    std::error_code ec;
    const uintmax_t size = std::filesystem::file_size(file_name(dir, id), ec);
    if (!ec) n += size;
  }
  return n;
}

TEST(Compaction, KeepsEveryLiveMessageAndBoundsDiskUse) {
  TempDir dir;
  auto o = testing::small_options(dir.path());
  o.file_size = 32 * 1024;
  std::map<uint32_t, uint64_t> live;  // slot -> incarnation
  std::mt19937 rng(7);
  {
    auto j = Journal::open(o, nullptr);
    ASSERT_TRUE(j.ok());
    QueueStateRecord qs{1, false, 42, 1, "q", "{}"};
    (*j)->append(RecordType::kQueueState, encode(qs));
    std::map<uint32_t, uint64_t> incarnations;
    uint64_t last = 0;
    // A queue of ~300 slots churning: most messages are deleted soon, a few
    // stay for long (they pin old files until compaction moves them).
    for (int step = 0; step < 20000; ++step) {
      uint32_t slot = rng() % 300;
      auto it = live.find(slot);
      if (it != live.end()) {
        if (slot % 50 != 0 || rng() % 100 == 0) {
          last = (*j)->append(RecordType::kDelete, testing::delete_payload(1, slot, it->second));
          live.erase(it);
        }
      } else {
        uint64_t inc = ++incarnations[slot];
        last = (*j)->append(RecordType::kSend, testing::send_payload(1, slot, inc, testing::body_of(slot, inc)));
        live[slot] = inc;
      }
      if (step % 200 == 0) {
        ASSERT_TRUE((*j)->wait_durable(last).ok());
      }
    }
    ASSERT_TRUE((*j)->wait_durable(last).ok());
    // One more batch lets the writer remove what the last one freed.
    ASSERT_TRUE((*j)->wait_durable((*j)->append(RecordType::kQueueState, encode(qs))).ok());
    JournalStats s = (*j)->stats();
    EXPECT_GT(s.files_removed, 10u);
    EXPECT_GT(s.copies, 0u) << "long-lived messages were never copied forward";
    // Within 2x the live data, plus the file being written and the one the
    // last copies landed in.
    EXPECT_LE(dir_bytes(dir.path()), 2 * s.live_bytes + 3 * o.file_size)
        << s.files << " files, live " << s.live_bytes;
  }
  auto r = testing::recover(o);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ReplayedQueue& q = r->queues()[1];
  EXPECT_TRUE(q.known) << "the queue's state record was compacted away";
  EXPECT_EQ(q.secret, 42u);
  EXPECT_EQ(q.live(), live.size());
  for (auto& [slot, inc] : live) {
    ASSERT_TRUE(q.slots.count(slot));
    EXPECT_FALSE(q.slots[slot].deleted) << slot;
    EXPECT_EQ(q.slots[slot].incarnation, inc);
    EXPECT_EQ(q.slots[slot].body, testing::body_of(slot, inc));
  }
}

TEST(Compaction, ADeleteIsNeverRemovedBeforeItsSend) {
  // File A: send 1, file B: delete 1 + filler. A stays (pinned by a live
  // message) until compaction copies it; B may only go after A.
  TempDir dir;
  auto o = testing::small_options(dir.path());
  o.file_size = 16 * 1024;
  {
    auto j = Journal::open(o, nullptr);
    ASSERT_TRUE(j.ok());
    uint64_t last = (*j)->append(RecordType::kSend, testing::send_payload(1, 1, 1, std::string(6000, 'a')));
    last = (*j)->append(RecordType::kSend, testing::send_payload(1, 2, 1, std::string(6000, 'b')));
    ASSERT_TRUE((*j)->wait_durable(last).ok());
    for (uint32_t i = 0; i < 40; ++i) {
      last = (*j)->append(RecordType::kSend, testing::send_payload(1, 100 + i, 1, std::string(3000, 'f')));
      last = (*j)->append(RecordType::kDelete, testing::delete_payload(1, 100 + i, 1));
      if (i == 3) last = (*j)->append(RecordType::kDelete, testing::delete_payload(1, 1, 1));
      ASSERT_TRUE((*j)->wait_durable(last).ok());
    }
  }
  auto r = testing::recover(o);
  ASSERT_TRUE(r.ok());
  ReplayedQueue& q = r->queues()[1];
  EXPECT_EQ(q.live(), 1u);
  EXPECT_FALSE(q.slots[2].deleted);
  EXPECT_EQ(q.slots[2].body, std::string(6000, 'b'));
  EXPECT_TRUE(!q.slots.count(1) || q.slots[1].deleted) << "a deleted message came back";
}

// A file whose messages are all deleted still holds FIFO_DEDUP records: it
// stays until the newest is past its 5-minute window (a rebuild inside the
// window must still answer duplicates of those deleted messages).
TEST(Compaction, AFileWithFreshFifoDedupRecordsStaysForTheWindow) {
  auto wall = [] {
    return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count());
  };
  for (const bool fresh : {true, false}) {
    TempDir dir;
    auto o = testing::small_options(dir.path());
    o.file_size = 16 * 1024;
    {
      auto j = Journal::open(o, nullptr);
      ASSERT_TRUE(j.ok());
      FifoDedupRecord d{1, 7, 1, 5, wall() - (fresh ? 1000 : kFifoDedupWindowMs + 1000), 0x11, 0x22};
      uint64_t last = (*j)->append(RecordType::kFifoDedup, encode(d));
      last = (*j)->append(RecordType::kDelete, testing::delete_payload(1, 7, 1));
      ASSERT_TRUE((*j)->wait_durable(last).ok());
      // Fill a few files with sends deleted at once: the first file has
      // nothing live and pins nothing.
      for (uint32_t i = 0; i < 20; ++i) {
        last = (*j)->append(RecordType::kSend, testing::send_payload(1, 100 + i, 1, std::string(3000, 'f')));
        last = (*j)->append(RecordType::kDelete, testing::delete_payload(1, 100 + i, 1));
        ASSERT_TRUE((*j)->wait_durable(last).ok());
      }
      EXPECT_GT((*j)->stats().files_removed, 0u);
    }
    auto r = testing::recover(o);
    ASSERT_TRUE(r.ok());
    ReplayedQueue& q = r->queues()[1];
    if (fresh) {
      ASSERT_EQ(q.dedup.size(), 1u) << "a dedup record inside its window was compacted away";
      EXPECT_EQ(q.dedup[0].key_hi, 0x11u);
    } else {
      EXPECT_TRUE(q.dedup.empty()) << "a file held only by an expired dedup record was kept";
    }
  }
}

}  // namespace
}  // namespace shmq::journal
