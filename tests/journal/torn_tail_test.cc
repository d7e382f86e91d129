// The journal cut at every byte offset across its last records, and single
// bytes flipped: recovery never fails, never invents a message, never hands
// out a corrupted one, and keeps every record before the damage.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/journal/journal_test_util.h"

namespace shmq::journal {
namespace {

using testing::TempDir;
constexpr int kFileSize = 64 * 1024;

// Writes n sends (slot i, incarnation 1) into a fresh journal, returns the
// path of the file that holds them and the offset where the last k begin.
struct Written {
  std::string path;
  std::vector<uint64_t> ends;  // offset after each record
  std::string bytes;           // the whole file
};

Written write_journal(const std::string& dir, int n, const KeyRing& keys) {
  JournalOptions o = testing::small_options(dir);
  o.file_size = kFileSize;
  o.keys = keys;
  Written w;
  {
    auto j = Journal::open(o, nullptr);
    EXPECT_TRUE(j.ok());
    uint64_t last = 0;
    for (int i = 0; i < n; ++i)
      last = (*j)->append(RecordType::kSend, testing::send_payload(1, uint32_t(i), 1, testing::body_of(uint32_t(i), 1)));
    EXPECT_TRUE((*j)->wait_durable(last).ok());
  }
  auto ids = list_files(dir);
  w.path = file_name(dir, ids.back());
  auto s = scan_file(w.path, keys, [&](const ScannedRecord& r) {
    w.ends.push_back(r.offset + r.disk_size);
    return Status::OK();
  });
  EXPECT_TRUE(s.ok());
  std::ifstream f(w.path, std::ios::binary);
  w.bytes.assign(std::istreambuf_iterator<char>(f), {});
  return w;
}

void check_prefix(const std::string& dir, const KeyRing& keys, size_t min_records, size_t max_records) {
  auto r = testing::replay_dir(dir, keys);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ReplayedQueue& q = r->queues()[1];
  ASSERT_GE(q.slots.size(), min_records);
  ASSERT_LE(q.slots.size(), max_records);
  for (auto& [slot, m] : q.slots) {
    ASSERT_LT(slot, max_records) << "a message that was never written";
    ASSERT_EQ(m.body, testing::body_of(slot, 1)) << "a corrupted message";
  }
  for (uint32_t s = 0; s < min_records; ++s) ASSERT_TRUE(q.slots.count(s)) << "lost record " << s;
}

// Writes the first len bytes of `bytes` to `to` (replacing it).
void copy_file(const std::string& bytes, const std::string& to, uint64_t len) {
  int fd = open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, bytes.data(), std::min<uint64_t>(len, bytes.size())), ssize_t(std::min<uint64_t>(len, bytes.size())));
  close(fd);
  ASSERT_EQ(truncate(to.c_str(), off_t(len)), 0);
}

void run_cuts(const KeyRing& keys) {
  TempDir src;
  constexpr int kRecords = 40, kLast = 4;
  Written w = write_journal(src.path(), kRecords, keys);
  ASSERT_EQ(w.ends.size(), size_t(kRecords));
  const uint64_t from = w.ends[kRecords - kLast - 1], to = w.ends.back();
  TempDir dst;
  const std::string target = dst.path() + "/" + std::filesystem::path(w.path).filename().string();
  for (uint64_t cut = from; cut <= to; ++cut) {
    // The file as a power loss may leave it: everything up to `cut`, then the
    // preallocated zeros (and separately: nothing after `cut` at all).
    for (bool keep_size : {true, false}) {
      copy_file(w.bytes, target, cut);
      if (keep_size) {
        ASSERT_EQ(truncate(target.c_str(), kFileSize), 0);
      }
      // A record whose missing bytes were zeros anyway (a zero length at its
      // end) is whole again when the rest of the file is zero.
      size_t complete = 0;
      while (complete < w.ends.size() &&
             (w.ends[complete] <= cut ||
              (keep_size && w.bytes.find_first_not_of('\0', cut) >= w.ends[complete])))
        ++complete;
      check_prefix(dst.path(), keys, complete, complete);
      if (::testing::Test::HasFatalFailure()) {
        ADD_FAILURE() << "at cut " << cut;
        return;
      }
    }
  }
}

TEST(TornTail, EveryCutAcrossTheLastRecordsRecoversThePrefix) { run_cuts(KeyRing()); }

TEST(TornTail, EveryCutOfAnEncryptedJournal) {
  std::array<unsigned char, 32> kb{};
  kb[5] = 9;
  run_cuts(KeyRing::from_keys({KeyRing::key_from_bytes(kb)}));
}

TEST(TornTail, AFlippedByteCutsAtThatRecord) {
  TempDir src;
  constexpr int kRecords = 12;
  Written w = write_journal(src.path(), kRecords, KeyRing());
  TempDir dst;
  const std::string target = dst.path() + "/" + std::filesystem::path(w.path).filename().string();
  const uint64_t from = w.ends[kRecords - 4];
  for (uint64_t at = from; at < w.ends.back(); ++at) {
    copy_file(w.bytes, target, kFileSize);
    int fd = open(target.c_str(), O_RDWR);
    char c;
    ASSERT_EQ(pread(fd, &c, 1, off_t(at)), 1);
    c ^= 0x20;
    ASSERT_EQ(pwrite(fd, &c, 1, off_t(at)), 1);
    close(fd);
    size_t intact = 0;
    while (intact < w.ends.size() && w.ends[intact] <= at) ++intact;
    check_prefix(dst.path(), KeyRing(), intact, intact);
    for (auto id : list_files(dst.path()))
      { if (file_name(dst.path(), id) != target) std::filesystem::remove(file_name(dst.path(), id)); }
    if (HasFatalFailure()) {
      ADD_FAILURE() << "flip at " << at;
      return;
    }
  }
}

}  // namespace
}  // namespace shmq::journal
