// Helpers for the journal tests: a temporary directory, records, and a
// recovery pass that returns what the journal holds.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "broker/journal/journal.h"
#include "broker/journal/replay.h"

namespace shmq::journal::testing {

class TempDir {
 public:
  TempDir() {
    char t[] = "/tmp/shmq-journal-XXXXXX";
    path_ = mkdtemp(t);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string send_payload(uint32_t uid, uint32_t slot, uint64_t inc, const std::string& body) {
  SendRecord r;
  r.queue_uid = uid;
  r.slot = slot;
  r.incarnation = inc;
  r.sent_epoch_ms = 1000 + inc;
  r.body = body;
  r.group_id = slot % 2 ? "g1" : "";
  return encode(r);
}

inline std::string delete_payload(uint32_t uid, uint32_t slot, uint64_t inc) {
  return encode(DeleteRecord{uid, slot, inc});
}

inline std::string body_of(uint32_t slot, uint64_t inc) {
  return "message " + std::to_string(slot) + "/" + std::to_string(inc) + std::string(slot % 97, 'x');
}

inline JournalOptions small_options(const std::string& dir) {
  JournalOptions o;
  o.dir = dir;
  o.file_size = 64 * 1024;
  o.prefer_posix = true;
  return o;
}

// Opens (recovers) the journal in o.dir and returns the replayed state.
inline Result<Replay> recover(JournalOptions o, RecoveryStats* rs = nullptr) {
  auto replay = std::make_shared<Replay>();
  auto j = Journal::open(std::move(o), [&](const ScannedRecord& r) { return replay->apply(r); }, rs);
  if (!j.ok()) return j.status();
  return *replay;
}

// Reads every journal file in dir as recovery does, without opening the
// journal for writing (no new file): for tests that recover many times.
inline Result<Replay> replay_dir(const std::string& dir, const KeyRing& keys) {
  Replay replay;
  for (uint64_t id : list_files(dir)) {
    auto s = scan_file(file_name(dir, id), keys, [&](const ScannedRecord& r) { return replay.apply(r); });
    if (!s.ok()) return s.status();
  }
  return replay;
}

}  // namespace shmq::journal::testing
