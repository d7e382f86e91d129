#include "broker/journal/live_index.h"

#include <algorithm>
#include <cstring>

namespace shmq::journal {
namespace {

// SEND and DELETE payloads start with queue uid, slot, incarnation; the rest
// start with the queue uid (record.h). Short payloads were refused by CRC or
// decode long before; be safe anyway.
bool key_of(std::string_view p, uint32_t* uid, uint32_t* slot, uint64_t* inc) {
  if (p.size() < 16) return false;
  std::memcpy(uid, p.data(), 4);
  std::memcpy(slot, p.data() + 4, 4);
  std::memcpy(inc, p.data() + 8, 8);
  return true;
}

}  // namespace

void LiveIndex::add(const Item& it) {
  FileUsage& f = files_[it.loc.file_id];
  ++f.live_items;
  f.live_bytes += it.loc.disk_size;
}

void LiveIndex::kill(const Item& victim, uint64_t killer_file) {
  auto vf = files_.find(victim.loc.file_id);
  if (vf == files_.end()) return;
  --vf->second.live_items;
  vf->second.live_bytes -= victim.loc.disk_size;
  if (victim.loc.file_id != killer_file) {
    ++files_[killer_file].pins_out;
    ++vf->second.pinned_by[killer_file];
  }
}

void LiveIndex::apply(const RecordLocation& loc, RecordType type, std::string_view payload, bool is_copy) {
  files_[loc.file_id].written_bytes += loc.disk_size;
  uint32_t uid = 0, slot = 0;
  uint64_t inc = 0;
  switch (type) {
    case RecordType::kSend: {
      if (!key_of(payload, &uid, &slot, &inc)) return;
      const uint64_t key = uint64_t(uid) << 32 | slot;
      auto it = messages_.find(key);
      if (is_copy) {
        if (it == messages_.end() || !it->second.live || it->second.incarnation != inc) return;  // dead meanwhile
        Item old = it->second;
        FileUsage& of = files_[old.loc.file_id];
        --of.live_items;
        of.live_bytes -= old.loc.disk_size;
        it->second.loc = loc;
        add(it->second);
        return;
      }
      if (it == messages_.end()) {
        it = messages_.emplace(key, Item{inc, loc}).first;
      } else {
        if (it->second.live) {
          if (it->second.incarnation > inc) return;  // an older message: dead on arrival
          kill(it->second, loc.file_id);  // same slot reused: the earlier message is gone
          --live_messages_;
        }
        it->second = Item{inc, loc};
      }
      ++live_messages_;
      add(it->second);
      return;
    }
    case RecordType::kDelete: {
      if (!key_of(payload, &uid, &slot, &inc)) return;
      auto it = messages_.find(uint64_t(uid) << 32 | slot);
      if (it == messages_.end() || !it->second.live || it->second.incarnation != inc) return;
      kill(it->second, loc.file_id);
      it->second.live = false;
      --live_messages_;
      return;
    }
    case RecordType::kQueueState: {
      if (payload.size() < 4) return;
      std::memcpy(&uid, payload.data(), 4);
      auto it = queues_.find(uid);
      if (it != queues_.end()) {
        if (is_copy) {  // a move: the old copy is no longer needed, nothing was killed
          FileUsage& of = files_[it->second.loc.file_id];
          --of.live_items;
          of.live_bytes -= it->second.loc.disk_size;
        } else {
          kill(it->second, loc.file_id);
        }
        queues_.erase(it);
      } else if (is_copy) {
        return;
      }
      Item item{0, loc};
      queues_.emplace(uid, item);
      add(item);
      return;
    }
    case RecordType::kFifoDedup: {
      // uid 4, slot 4, incarnation 8, sequence 8, then seen_epoch_ms (record.h).
      uint64_t seen = 0;
      if (payload.size() < 32) return;
      std::memcpy(&seen, payload.data() + 24, 8);
      FileUsage& f = files_[loc.file_id];
      f.dedup_until_ms = std::max(f.dedup_until_ms, seen + kFifoDedupWindowMs);
      return;
    }
    case RecordType::kQueueDelete:
    case RecordType::kPurge: {
      if (payload.size() < 4) return;
      std::memcpy(&uid, payload.data(), 4);
      for (auto it = messages_.begin(); it != messages_.end();) {
        if (uint32_t(it->first >> 32) == uid) {
          if (it->second.live) {
            kill(it->second, loc.file_id);
            --live_messages_;
          }
          it = messages_.erase(it);
        } else {
          ++it;
        }
      }
      if (type == RecordType::kQueueDelete) {
        if (auto q = queues_.find(uid); q != queues_.end()) {
          kill(q->second, loc.file_id);
          queues_.erase(q);
        }
      }
      return;
    }
  }
}

void LiveIndex::remove_file(uint64_t file_id) {
  auto f = files_.find(file_id);
  if (f == files_.end()) return;
  for (auto& [killer, n] : f->second.pinned_by)
    if (auto k = files_.find(killer); k != files_.end()) k->second.pins_out -= n;
  files_.erase(f);
}

std::vector<RecordLocation> LiveIndex::live_in(uint64_t file_id) const {
  std::vector<RecordLocation> out;
  for (const auto& [k, it] : messages_)
    if (it.live && it.loc.file_id == file_id) out.push_back(it.loc);
  for (const auto& [k, it] : queues_)
    if (it.loc.file_id == file_id) out.push_back(it.loc);
  return out;
}

uint64_t LiveIndex::live_bytes() const {
  uint64_t n = 0;
  for (const auto& [id, f] : files_) n += f.live_bytes;
  return n;
}

}  // namespace shmq::journal
