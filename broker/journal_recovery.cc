#include "broker/journal_recovery.h"

#include <chrono>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "broker/journal/record.h"
#include "shm/restore.h"

namespace shmq::broker {

shm::Durability durability_of(const QueueAttributes& a) {
  auto it = a.find("Durability");
  if (it == a.end() || it->second == "async") return shm::Durability::kAsync;
  if (it->second == "sync") return shm::Durability::kSync;
  if (it->second == "memory") return shm::Durability::kMemory;
  return shm::Durability::kAsync;  // validation refuses anything else before it is stored
}

const char* durability_name(shm::Durability d) {
  switch (d) {
    case shm::Durability::kMemory: return "memory";
    case shm::Durability::kSync: return "sync";
    default: return "async";
  }
}

std::string queue_state_payload(const QueueRecord& q) {
  const std::string attrs = nlohmann::json(q.attributes).dump();
  journal::QueueStateRecord r;
  r.queue_uid = q.uid;
  r.fifo = q.fifo;
  r.secret = q.view.header->secret;
  r.created_s = q.created_s;
  r.name = q.name;
  r.attributes_json = attrs;
  return journal::encode(r);
}

namespace {

// The dedup entries to put back: FIFO_DEDUP records as they are, and the
// dedup ids of journaled messages (live or deleted), keyed with the queue's
// DeduplicationScope. fifo_restore_dedup drops those past the window.
std::vector<shm::RestoredDedup> restored_dedup(const shm::SegmentView& v, const journal::ReplayedQueue& jq) {
  const bool per_group = v.header->config.dedup_per_group.load(std::memory_order_relaxed) != 0;
  auto keyed = [&](std::string_view group, std::string_view id) {
    return shm::fifo_dedup_key(per_group ? group : std::string_view(), id);
  };
  std::vector<shm::RestoredDedup> out;
  out.reserve(jq.dedup.size() + jq.slots.size());
  for (const journal::ReplayedDedup& d : jq.dedup) {
    shm::RestoredDedup r;
    if (d.has_key) {
      r.key_hi = d.key_hi;
      r.key_lo = d.key_lo;
    } else {
      const shm::FifoDedupKey k = keyed(d.group_id, d.dedup_id);
      r.key_hi = k.hi;
      r.key_lo = k.lo;
    }
    r.slot = d.slot;
    r.incarnation = d.incarnation;
    r.sequence_number = d.sequence_number;
    r.seen_epoch_ms = d.seen_epoch_ms;
    out.push_back(r);
  }
  for (const auto& [slot, m] : jq.slots) {
    if (m.deleted || m.dedup_id.empty()) continue;
    const shm::FifoDedupKey k = keyed(m.group_id, m.dedup_id);
    out.push_back({k.hi, k.lo, slot, m.incarnation, m.sequence_number, m.sent_epoch_ms});
  }
  return out;
}

}  // namespace

Status restore_queue(QueueRecord* q, journal::ReplayedQueue& jq, uint64_t* restored) {
  *restored = 0;
  if (!jq.known) return Status::OK();  // nothing journaled for it (a memory queue, or a new journal)
  if (jq.fifo != q->fifo)
    return Status("InternalError", "the journal says queue " + q->name + " is of another type");
  shm::SegmentView& v = q->view;
  // The segment was formatted a moment ago and nobody maps it: its secret
  // may still change, and must, so the old MessageIds and handles hold.
  v.header->secret = jq.secret;
  const uint64_t now_q = shm::queue_clock_ms(v.header);
  const uint64_t now_epoch = shm::epoch_ms(v.header, now_q);
  const uint64_t retention_ms = uint64_t(v.header->config.retention_s.load()) * 1000;
  std::vector<shm::RestoredMessage> msgs;
  msgs.reserve(jq.slots.size());
  uint64_t expired = 0;
  for (auto& [slot, m] : jq.slots) {
    if (m.deleted) continue;
    if (m.sent_epoch_ms + retention_ms <= now_epoch) {
      ++expired;
      continue;
    }
    shm::RestoredMessage r;
    r.slot = slot;
    r.incarnation = m.incarnation;
    r.attributes = m.attributes;
    r.body = m.body;
    r.sent_epoch_ms = m.sent_epoch_ms;
    if (m.visible_epoch_ms > now_epoch) r.visible_clock_ms = now_q + (m.visible_epoch_ms - now_epoch);
    r.sender_uid = m.sender_uid;
    r.receive_count = m.receive_count;
    r.group_id = m.group_id;
    r.dedup_id = m.dedup_id;
    r.sequence_number = m.sequence_number;
    msgs.push_back(r);
  }
  std::vector<shm::RestoredDedup> dedup;
  if (q->fifo) dedup = restored_dedup(v, jq);
  if (Status s = shm::restore_messages(v, msgs, jq.max_incarnation, dedup, jq.max_sequence); !s.ok())
    return Status(s.code(), "queue " + q->name + ": " + s.message());
  *restored = msgs.size();
  if (expired) spdlog::info("queue {}: {} journaled message(s) past retention were dropped", q->name, expired);
  return Status::OK();
}

}  // namespace shmq::broker
