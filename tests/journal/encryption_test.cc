// Encryption at rest: an encrypted journal recovers with its key, refuses a
// wrong or missing key with a clear error, and a rotated key applies from
// the next file while older files still read with the older key.
#include <fstream>

#include "tests/journal/journal_test_util.h"

namespace shmq::journal {
namespace {

using testing::TempDir;

std::string write_key_file(const std::string& dir, const std::string& name, const std::vector<std::string>& keys) {
  std::string path = dir + "/" + name;
  std::ofstream f(path);
  f << "# shmq journal keys, newest last\n";
  for (const auto& k : keys) f << k << "\n";
  return path;
}

const std::string kKeyA(64, 'a');
const std::string kKeyB = std::string(32, '0') + std::string(32, 'b');

TEST(Encryption, RecoversWithTheKeyAndRefusesOthers) {
  TempDir dir, keys;
  auto ring = KeyRing::load(write_key_file(keys.path(), "a", {kKeyA}));
  ASSERT_TRUE(ring.ok()) << ring.status().to_string();
  auto o = testing::small_options(dir.path());
  o.keys = *ring;
  {
    auto j = Journal::open(o, nullptr);
    ASSERT_TRUE(j.ok());
    uint64_t last = 0;
    for (uint32_t s = 0; s < 50; ++s) last = (*j)->append(RecordType::kSend, testing::send_payload(1, s, 1, "secret body " + std::to_string(s)));
    ASSERT_TRUE((*j)->wait_durable(last).ok());
  }
  // Nothing of a body is readable on disk.
  for (auto id : list_files(dir.path())) {
    std::ifstream f(file_name(dir.path(), id), std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(f)), {});
    EXPECT_EQ(all.find("secret body"), std::string::npos);
  }
  auto r = testing::recover(o);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->queues()[1].live(), 50u);
  EXPECT_EQ(r->queues()[1].slots[7].body, "secret body 7");

  auto wrong = KeyRing::load(write_key_file(keys.path(), "b", {kKeyB}));
  ASSERT_TRUE(wrong.ok());
  o.keys = *wrong;
  auto w = testing::recover(o);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("does not hold"), std::string::npos) << w.status().message();
  o.keys = KeyRing();
  auto m = testing::recover(o);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("--journal-key-file"), std::string::npos) << m.status().message();
  // The refused starts changed nothing: the right key still recovers all.
  o.keys = *ring;
  auto again = testing::recover(o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->queues()[1].live(), 50u);
}

TEST(Encryption, ANewKeyAppliesFromTheNextFile) {
  TempDir dir, keys;
  auto a = KeyRing::load(write_key_file(keys.path(), "a", {kKeyA}));
  auto ab = KeyRing::load(write_key_file(keys.path(), "ab", {kKeyA, kKeyB}));
  auto b = KeyRing::load(write_key_file(keys.path(), "b", {kKeyB}));
  ASSERT_TRUE(a.ok() && ab.ok() && b.ok());
  auto o = testing::small_options(dir.path());
  o.compact = false;
  o.keys = *a;
  {
    auto j = Journal::open(o, nullptr);
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE((*j)->wait_durable((*j)->append(RecordType::kSend, testing::send_payload(1, 1, 1, "old"))).ok());
  }
  o.keys = *ab;
  {
    auto j = Journal::open(o, nullptr);
    ASSERT_TRUE(j.ok()) << j.status().to_string();
    ASSERT_TRUE((*j)->wait_durable((*j)->append(RecordType::kSend, testing::send_payload(1, 2, 1, "new"))).ok());
  }
  auto ids = list_files(dir.path());
  ASSERT_GE(ids.size(), 2u);
  auto last = scan_file(file_name(dir.path(), ids.back()), *ab, [](const ScannedRecord&) { return Status::OK(); });
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->header.key_id, b->current()->id);
  auto r = testing::recover(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->queues()[1].slots[1].body, "old");
  EXPECT_EQ(r->queues()[1].slots[2].body, "new");
  o.keys = *b;  // the old key dropped too early: refused, clearly
  EXPECT_FALSE(testing::recover(o).ok());
}

TEST(Encryption, MalformedKeyFilesAreRefused) {
  TempDir keys;
  EXPECT_FALSE(KeyRing::load(keys.path() + "/missing").ok());
  EXPECT_FALSE(KeyRing::load(write_key_file(keys.path(), "short", {"abcd"})).ok());
  EXPECT_FALSE(KeyRing::load(write_key_file(keys.path(), "nothex", {std::string(64, 'z')})).ok());
  auto empty = KeyRing::load(write_key_file(keys.path(), "empty", {}));
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("holds no key"), std::string::npos);
}

}  // namespace
}  // namespace shmq::journal
