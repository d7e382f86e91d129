// Which journal records are still needed, per file: the basis of compaction.
//
// A record is "live" while recovery would need it: a SEND whose message is
// not deleted (nor superseded: a later SEND into the same slot means the
// slot was freed, so the earlier message is gone), and a queue's latest
// QUEUE_STATE while the queue exists. A file with no live record can be
// removed only once no record in it "kills" a record in an older file that
// still exists: removing a DELETE before its SEND would bring the message
// back at recovery. Such kills are counted as pins:
//   pins_out[F]      kills in F whose victim lives in another existing file
//   pinned_by[E][F]  how many of F's kills hit E; dropped when E is removed.
// So F is removable when live_items == 0 and pins_out == 0.
//
// Thread safety: one thread (the journal writer; recovery before it starts).
#pragma once

#include <cstdint>
#include <map>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/journal/record.h"

namespace shmq::journal {

struct RecordLocation {
  uint64_t file_id = 0;
  uint64_t offset = 0;
  uint32_t disk_size = 0;
};

struct FileUsage {
  uint64_t live_items = 0;
  uint64_t live_bytes = 0;
  uint64_t written_bytes = 0;  // records placed in it
  uint64_t pins_out = 0;
  std::map<uint64_t, uint64_t> pinned_by;  // killer file -> kills
};

class LiveIndex {
 public:
  // Accounts for one record placed at loc. payload is plain. A copy made by
  // compaction (is_copy) moves a live record; it never revives one.
  void apply(const RecordLocation& loc, RecordType type, std::string_view payload, bool is_copy);
  // Forgets a removed file (its pins on others go too).
  void remove_file(uint64_t file_id);
  // Registers a file (with nothing in it yet).
  void add_file(uint64_t file_id) { files_[file_id]; }

  const std::map<uint64_t, FileUsage>& files() const { return files_; }
  // Locations of the live records of a file.
  std::vector<RecordLocation> live_in(uint64_t file_id) const;
  uint64_t live_bytes() const;
  uint64_t live_messages() const { return messages_.size(); }

 private:
  struct Item {
    uint64_t incarnation;
    RecordLocation loc;
  };
  void add(const Item& it);
  void kill(const Item& victim, uint64_t killer_file);

  std::map<uint64_t, FileUsage> files_;
  std::unordered_map<uint64_t, Item> messages_;  // (queue uid << 32 | slot)
  std::unordered_map<uint32_t, Item> queues_;    // latest QUEUE_STATE
};

}  // namespace shmq::journal
