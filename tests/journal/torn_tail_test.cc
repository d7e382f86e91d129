// The journal cut at every byte offset across its last records, and single
// bytes flipped: recovery never fails, never invents a message, never hands
// out a corrupted one, and keeps every record before the damage.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <utility>

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

// Record i of a journal: its type and payload.
using RecordMaker = std::function<std::pair<RecordType, std::string>(int)>;
std::pair<RecordType, std::string> standard_send(int i) {
  return {RecordType::kSend, testing::send_payload(1, uint32_t(i), 1, testing::body_of(uint32_t(i), 1))};
}

// A FIFO queue's records: even i a FIFO SEND (group, dedup id, sequence
// number) into slot i / 2, odd i the FIFO_DEDUP record of that message.
std::pair<RecordType, std::string> fifo_record(int i) {
  const uint32_t slot = uint32_t(i / 2);
  if (i % 2 == 0) {
    const std::string body = testing::body_of(slot, 1), group = "g" + std::to_string(slot % 3),
                      dedup = "d" + std::to_string(slot);
    SendRecord r;
    r.queue_uid = 1;
    r.slot = slot;
    r.incarnation = 1;
    r.sent_epoch_ms = 1000 + slot;
    r.sequence_number = 100 + slot;
    r.body = body;
    r.group_id = group;
    r.dedup_id = dedup;
    return {RecordType::kSend, encode(r)};
  }
  FifoDedupRecord d;
  d.queue_uid = 1;
  d.slot = slot;
  d.incarnation = 1;
  d.sequence_number = 100 + slot;
  d.seen_epoch_ms = 1000 + slot;
  d.key_hi = 0x1111 * (slot + 1);
  d.key_lo = 0x2222 * (slot + 1);
  return {RecordType::kFifoDedup, encode(d)};
}

Written write_journal(const std::string& dir, int n, const KeyRing& keys, const RecordMaker& make = standard_send) {
  JournalOptions o = testing::small_options(dir);
  o.file_size = kFileSize;
  o.keys = keys;
  Written w;
  {
    auto j = Journal::open(o, nullptr);
    EXPECT_TRUE(j.ok());
    uint64_t last = 0;
    for (int i = 0; i < n; ++i) {
      auto [type, payload] = make(i);
      last = (*j)->append(type, payload);
    }
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

// The first `records` FIFO records (fifo_record) and nothing else came back.
void check_fifo_prefix(const std::string& dir, const KeyRing& keys, size_t records) {
  auto r = testing::replay_dir(dir, keys);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ReplayedQueue& q = r->queues()[1];
  const size_t sends = (records + 1) / 2, dedups = records / 2;
  ASSERT_EQ(q.slots.size(), sends);
  ASSERT_EQ(q.dedup.size(), dedups);
  for (auto& [slot, m] : q.slots) {
    ASSERT_LT(slot, sends) << "a message that was never written";
    ASSERT_EQ(m.body, testing::body_of(slot, 1)) << "a corrupted message";
    ASSERT_EQ(m.group_id, "g" + std::to_string(slot % 3));
    ASSERT_EQ(m.dedup_id, "d" + std::to_string(slot));
    ASSERT_EQ(m.sequence_number, 100 + slot);
  }
  for (size_t i = 0; i < dedups; ++i) {
    const ReplayedDedup& d = q.dedup[i];
    ASSERT_TRUE(d.has_key);
    ASSERT_EQ(d.slot, i);
    ASSERT_EQ(d.key_hi, 0x1111 * (i + 1)) << "a corrupted dedup record";
    ASSERT_EQ(d.key_lo, 0x2222 * (i + 1));
    ASSERT_EQ(d.sequence_number, 100 + i);
  }
  ASSERT_EQ(q.max_sequence, sends ? 100 + sends - 1 : 0);
}

// Writes the first len bytes of `bytes` to `to` (replacing it).
void copy_file(const std::string& bytes, const std::string& to, uint64_t len) {
  int fd = open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, bytes.data(), std::min<uint64_t>(len, bytes.size())), ssize_t(std::min<uint64_t>(len, bytes.size())));
  close(fd);
  ASSERT_EQ(truncate(to.c_str(), off_t(len)), 0);
}

void run_cuts(const KeyRing& keys, bool fifo = false) {
  TempDir src;
  constexpr int kRecords = 40, kLast = 4;
  Written w = write_journal(src.path(), kRecords, keys, fifo ? RecordMaker(fifo_record) : RecordMaker(standard_send));
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
      if (fifo)
        check_fifo_prefix(dst.path(), keys, complete);
      else
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

// FIFO SEND records (group, dedup id, sequence number) and FIFO_DEDUP
// records, cut anywhere across the last ones.
TEST(TornTail, EveryCutAcrossFifoRecords) { run_cuts(KeyRing(), true); }

// Copies the journal w to target with one bit of the byte at `at` flipped;
// returns how many of w's records end before it (those must survive).
size_t copy_with_flipped_byte(const Written& w, const std::string& target, uint64_t at) {
  copy_file(w.bytes, target, kFileSize);
  int fd = open(target.c_str(), O_RDWR);
  char c = 0;
  EXPECT_EQ(pread(fd, &c, 1, off_t(at)), 1);
  c ^= 0x20;
  EXPECT_EQ(pwrite(fd, &c, 1, off_t(at)), 1);
  close(fd);
  size_t intact = 0;
  while (intact < w.ends.size() && w.ends[intact] <= at) ++intact;
  return intact;
}

TEST(TornTail, AFlippedByteInAFifoRecordCutsAtThatRecord) {
  TempDir src;
  constexpr int kRecords = 12;
  Written w = write_journal(src.path(), kRecords, KeyRing(), fifo_record);
  TempDir dst;
  const std::string target = dst.path() + "/" + std::filesystem::path(w.path).filename().string();
  for (uint64_t at = w.ends[kRecords - 4]; at < w.ends.back(); ++at) {
    const size_t intact = copy_with_flipped_byte(w, target, at);
    ASSERT_FALSE(HasFailure()) << "flip at " << at;
    check_fifo_prefix(dst.path(), KeyRing(), intact);
    if (HasFatalFailure()) {
      ADD_FAILURE() << "flip at " << at;
      return;
    }
  }
}

TEST(TornTail, AFlippedByteCutsAtThatRecord) {
  TempDir src;
  constexpr int kRecords = 12;
  Written w = write_journal(src.path(), kRecords, KeyRing());
  TempDir dst;
  const std::string target = dst.path() + "/" + std::filesystem::path(w.path).filename().string();
  const uint64_t from = w.ends[kRecords - 4];
  for (uint64_t at = from; at < w.ends.back(); ++at) {
    const size_t intact = copy_with_flipped_byte(w, target, at);
    ASSERT_FALSE(HasFailure()) << "flip at " << at;
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
