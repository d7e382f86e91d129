// The journal writer: durability, group commit, recovery of what was written,
// with both I/O backends.
#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include "tests/journal/journal_test_util.h"

namespace shmq::journal {
namespace {

using testing::TempDir;

class JournalBackends : public ::testing::TestWithParam<bool> {};  // prefer_posix

TEST_P(JournalBackends, DurableRecordsComeBack) {
  TempDir dir;
  auto o = testing::small_options(dir.path());
  o.prefer_posix = GetParam();
  o.file_size = 16 * 1024;
  {
    auto j = Journal::open(o, nullptr);
    ASSERT_TRUE(j.ok()) << j.status().to_string();
    uint64_t last = 0;
    for (uint32_t s = 0; s < 300; ++s) last = (*j)->append(RecordType::kSend, testing::send_payload(3, s, 1, testing::body_of(s, 1)));
    for (uint32_t s = 0; s < 300; s += 3) last = (*j)->append(RecordType::kDelete, testing::delete_payload(3, s, 1));
    ASSERT_TRUE((*j)->wait_durable(last).ok());
    EXPECT_GE((*j)->durable_seq(), last);
    EXPECT_GT(list_files(dir.path()).size(), 1u) << "16 KiB files must rotate";
  }
  RecoveryStats rs;
  auto r = testing::recover(o, &rs);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ReplayedQueue& q = r->queues()[3];
  EXPECT_EQ(q.live(), 200u);
  for (uint32_t s = 0; s < 300; ++s) {
    ASSERT_TRUE(q.slots.count(s));
    EXPECT_EQ(q.slots[s].deleted, s % 3 == 0) << s;
    if (s % 3) {
      EXPECT_EQ(q.slots[s].body, testing::body_of(s, 1));
    }
  }
  EXPECT_EQ(rs.cut_files, 0u);
}

INSTANTIATE_TEST_SUITE_P(Io, JournalBackends, ::testing::Values(true, false),
                         [](const auto& i) { return i.param ? "posix" : "uring"; });

TEST(Journal, GroupCommitSharesSyncsAmongWaiters) {
  TempDir dir;
  auto o = testing::small_options(dir.path());
  o.file_size = 8 << 20;
  auto j = Journal::open(o, nullptr);
  ASSERT_TRUE(j.ok());
  constexpr int kThreads = 16, kEach = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        uint64_t seq = (*j)->append(RecordType::kSend, testing::send_payload(1, uint32_t(t * kEach + i), 1, "b"));
        if (!(*j)->wait_durable(seq).ok() || (*j)->durable_seq() < seq) ++failures;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(failures.load(), 0);
  JournalStats s = (*j)->stats();
  EXPECT_EQ(s.records, uint64_t(kThreads * kEach));
  // Each waiter waits for its own record; with 16 of them most batches
  // carry several records.
  EXPECT_LT(s.batches, uint64_t(kThreads * kEach) * 3 / 4) << "no group commit: " << s.batches << " batches";
}

// writer_thread = false (the broker's mode): nothing is written until the
// owner calls commit(), which writes, syncs, publishes and calls back in the
// caller's thread; the destructor commits what is still pending.
TEST(Journal, OwnerDrivenCommitWritesInTheCallersThread) {
  TempDir dir;
  auto o = testing::small_options(dir.path());
  o.writer_thread = false;
  {
    auto j = Journal::open(o, nullptr);
    ASSERT_TRUE(j.ok()) << j.status().to_string();
    std::vector<std::pair<uint64_t, std::thread::id>> calls;
    (*j)->set_on_durable([&](uint64_t seq) { calls.emplace_back(seq, std::this_thread::get_id()); });
    EXPECT_FALSE((*j)->commit()) << "nothing pending";
    uint64_t last = 0;
    for (uint32_t s = 0; s < 3; ++s) last = (*j)->append(RecordType::kSend, testing::send_payload(5, s, 1, "b"));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_LT((*j)->durable_seq(), last) << "a record was written without commit(): a writer thread runs";
    EXPECT_EQ((*j)->stats().records, 0u);
    std::atomic<bool> waited{false};
    std::thread waiter([&] { waited = (*j)->wait_durable(last).ok(); });
    ASSERT_TRUE((*j)->commit());
    waiter.join();
    EXPECT_TRUE(waited.load());
    EXPECT_EQ((*j)->durable_seq(), last);
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].first, last);
    EXPECT_EQ(calls[0].second, std::this_thread::get_id()) << "on_durable must run in the committing thread";
    EXPECT_FALSE((*j)->commit());
    (*j)->set_on_durable(nullptr);
    for (uint32_t s = 3; s < 5; ++s) (*j)->append(RecordType::kSend, testing::send_payload(5, s, 1, "b"));
  }  // the destructor commits s = 3, 4
  auto r = testing::recover(o);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->queues()[5].live(), 5u);
}

TEST(Journal, SequencesContinueAfterReopenAndNewFileEachStart) {
  TempDir dir;
  auto o = testing::small_options(dir.path());
  uint64_t first;
  {
    auto j = Journal::open(o, nullptr);
    ASSERT_TRUE(j.ok());
    first = (*j)->append(RecordType::kSend, testing::send_payload(1, 1, 1, "a"));
    ASSERT_TRUE((*j)->wait_durable(first).ok());
  }
  auto before = list_files(dir.path());
  auto j = Journal::open(o, nullptr);
  ASSERT_TRUE(j.ok());
  uint64_t second = (*j)->append(RecordType::kSend, testing::send_payload(1, 2, 1, "b"));
  EXPECT_GT(second, first);
  ASSERT_TRUE((*j)->wait_durable(second).ok());
  auto after = list_files(dir.path());
  EXPECT_GT(after.back(), before.back()) << "a restart must never append to an old file";
}

TEST(Journal, ANewestFileWithoutHeaderIsACrashDuringCreation) {
  TempDir dir;
  auto o = testing::small_options(dir.path());
  {
    auto j = Journal::open(o, nullptr);
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE((*j)->wait_durable((*j)->append(RecordType::kSend, testing::send_payload(1, 1, 1, "kept"))).ok());
  }
  // The broker died after creating the next file, before its header was on
  // disk: empty, or preallocated zeros.
  for (uint64_t size : {uint64_t(0), uint64_t(65536)}) {
    const std::string torn = file_name(dir.path(), list_files(dir.path()).back() + 1);
    {
      std::ofstream f(torn);
    }
    ASSERT_EQ(truncate(torn.c_str(), off_t(size)), 0);
    auto r = testing::recover(o);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->queues()[1].slots[1].body, "kept");
  }
  // An older file with a bad header is damage: the start stops, saying so.
  const std::string first = file_name(dir.path(), list_files(dir.path()).front());
  std::fstream f(first, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(0);
  f.write("XXXX", 4);
  f.close();
  auto bad = testing::recover(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad magic"), std::string::npos) << bad.status().message();
}

TEST(Journal, QueueRecordsReplay) {
  TempDir dir;
  auto o = testing::small_options(dir.path());
  {
    auto j = Journal::open(o, nullptr);
    ASSERT_TRUE(j.ok());
    QueueStateRecord q{5, true, 0xabcdef, 1700000000, "orders.fifo", R"({"Durability":"sync"})"};
    (*j)->append(RecordType::kQueueState, encode(q));
    (*j)->append(RecordType::kSend, testing::send_payload(5, 1, 1, "x"));
    (*j)->append(RecordType::kSend, testing::send_payload(6, 1, 1, "y"));
    (*j)->append(RecordType::kPurge, encode(QueueRecordRef{5}));
    (*j)->append(RecordType::kSend, testing::send_payload(5, 2, 1, "z"));
    uint64_t last = (*j)->append(RecordType::kQueueDelete, encode(QueueRecordRef{6}));
    ASSERT_TRUE((*j)->wait_durable(last).ok());
  }
  auto r = testing::recover(o);
  ASSERT_TRUE(r.ok());
  ReplayedQueue& q = r->queues()[5];
  EXPECT_TRUE(q.known);
  EXPECT_TRUE(q.fifo);
  EXPECT_EQ(q.secret, 0xabcdefu);
  EXPECT_EQ(q.name, "orders.fifo");
  EXPECT_EQ(q.live(), 1u);
  EXPECT_EQ(q.slots[2].body, "z");
  EXPECT_TRUE(r->queues()[6].deleted);
  EXPECT_EQ(r->queues()[6].live(), 0u);
}

}  // namespace
}  // namespace shmq::journal
