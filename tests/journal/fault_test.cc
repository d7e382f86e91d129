// Injected I/O errors (the JournalIo seam): a failed write or fdatasync is
// sticky, nothing is reported durable that was not synced, and recovery
// afterwards holds every acknowledged record.
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "broker/journal/fault_io.h"
#include "tests/journal/journal_test_util.h"

namespace shmq::journal {
namespace {

using testing::TempDir;

void run_fault(int err) {
  TempDir dir;
  auto o = testing::small_options(dir.path());
  o.file_size = 16 * 1024;  // rotations hit allocate too
  o.make_io = [&](size_t cap) { return make_faulty_io(make_posix_io(cap), err, 25); };
  std::vector<uint32_t> acknowledged;
  std::mutex mu;
  {
    auto j = Journal::open(o, nullptr);
    ASSERT_TRUE(j.ok()) << j.status().to_string();
    std::vector<std::thread> ts;
    std::atomic<int> failed{0};
    for (int t = 0; t < 4; ++t)
      ts.emplace_back([&, t] {
        for (uint32_t i = 0; i < 60; ++i) {
          const uint32_t slot = uint32_t(t) * 1000 + i;
          uint64_t seq = (*j)->append(RecordType::kSend, testing::send_payload(1, slot, 1, testing::body_of(slot, 1)));
          Status s = (*j)->wait_durable(seq);
          if (s.ok()) {
            std::lock_guard<std::mutex> lock(mu);
            acknowledged.push_back(slot);
          } else {
            ++failed;
            EXPECT_NE(s.message().find(std::strerror(err)), std::string::npos) << s.message();
          }
        }
      });
    for (auto& t : ts) t.join();
    EXPECT_GT(failed.load(), 0);
    EXPECT_FALSE((*j)->error().ok());
    // Sticky: a record appended after the failure is never acknowledged.
    uint64_t seq = (*j)->append(RecordType::kSend, testing::send_payload(1, 9999, 1, "late"));
    EXPECT_FALSE((*j)->wait_durable(seq).ok());
    EXPECT_LT((*j)->durable_seq(), seq);
  }
  EXPECT_FALSE(acknowledged.empty());
  // Everything acknowledged is on disk; a record that failed may or may not
  // be (the write may have landed), but nothing else shows up.
  o.make_io = nullptr;
  auto r = testing::recover(o);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ReplayedQueue& q = r->queues()[1];
  for (uint32_t s : acknowledged) {
    ASSERT_TRUE(q.slots.count(s)) << "acknowledged record " << s << " lost";
    EXPECT_EQ(q.slots[s].body, testing::body_of(s, 1));
  }
  for (auto& [slot, m] : q.slots) EXPECT_EQ(m.body, testing::body_of(slot, 1));
  EXPECT_FALSE(q.slots.count(9999));
}

TEST(JournalFaults, EioIsStickyAndNothingIsFalselyAcknowledged) { run_fault(EIO); }
TEST(JournalFaults, EnospcIsStickyAndNothingIsFalselyAcknowledged) { run_fault(ENOSPC); }

TEST(JournalFaults, CannotCreateTheFirstFile) {
  TempDir dir;
  auto o = testing::small_options(dir.path());
  o.make_io = [&](size_t cap) { return make_faulty_io(make_posix_io(cap), ENOSPC, 0); };
  auto j = Journal::open(o, nullptr);
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find("No space left"), std::string::npos) << j.status().message();
}

}  // namespace
}  // namespace shmq::journal
