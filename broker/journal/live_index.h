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
// So F is removable when live_items == 0 and pins_out == 0, and, when F
// holds FIFO_DEDUP records, once the newest of them is past its 5-minute
// window (dedup_until_ms): a rebuild within the window needs them. They are
// not live items (never copied forward): that would cost an index entry per
// FIFO send; holding the file a few minutes longer costs nothing in memory.
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
  uint64_t dedup_until_ms = 0;  // wall clock: the newest FIFO_DEDUP's window ends
  std::map<uint64_t, uint64_t> pinned_by;  // killer file -> kills
};

class LiveIndex {
 public:
  // Accounts for one record placed at loc. payload is plain. A copy made by
  // compaction (is_copy) moves a live record; it never revives one.
  void apply(const RecordLocation& loc, RecordType type, std::string_view payload, bool is_copy);
  // Whether a file may be removed at wall-clock time now_ms.
  bool removable(const FileUsage& f, uint64_t now_ms) const {
    return f.live_items == 0 && f.pins_out == 0 && f.dedup_until_ms <= now_ms;
  }
  // Forgets a removed file (its pins on others go too).
  void remove_file(uint64_t file_id);
  // Registers a file (with nothing in it yet).
  void add_file(uint64_t file_id) { files_[file_id]; }

  const std::map<uint64_t, FileUsage>& files() const { return files_; }
  // Locations of the live records of a file.
  std::vector<RecordLocation> live_in(uint64_t file_id) const;
  uint64_t live_bytes() const;
  uint64_t live_messages() const { return live_messages_; }

 private:
  struct Item {
    uint64_t incarnation;
    RecordLocation loc;
    bool live = true;  // false: deleted; the entry stays for the slot's next message (no free + malloc per message)
  };
  void add(const Item& it);
  void kill(const Item& victim, uint64_t killer_file);

  std::map<uint64_t, FileUsage> files_;
  std::unordered_map<uint64_t, Item> messages_;  // (queue uid << 32 | slot)
  uint64_t live_messages_ = 0;
  std::unordered_map<uint32_t, Item> queues_;    // latest QUEUE_STATE
};

}  // namespace shmq::journal
