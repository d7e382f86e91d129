#include "broker/journal_recovery.h"

#include <chrono>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "broker/journal/record.h"
#include "shm/restore.h"

namespace shmq::broker {

Status check_durability(const QueueAttributes& a, bool fifo) {
  auto it = a.find("Durability");
  if (fifo && it != a.end() && it->second != "memory")
    return Status("InvalidAttributeValue", "Invalid value for the parameter Durability. Reason: FIFO queues are "
                                           "memory-only for now (Durability=memory); async and sync need standard "
                                           "queues.");
  return Status::OK();
}

shm::Durability durability_of(const QueueAttributes& a, bool fifo) {
  if (fifo) return shm::Durability::kMemory;
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

Status restore_queue(QueueRecord* q, journal::ReplayedQueue& jq, uint64_t* restored) {
  *restored = 0;
  if (!jq.known) return Status::OK();  // nothing journaled for it (a memory queue, or a new journal)
  if (jq.fifo != q->fifo)
    return Status("InternalError", "the journal says queue " + q->name + " is of another type");
  shm::SegmentView& v = q->view;
  // The segment was formatted a moment ago and nobody maps it: its secret
  // may still change, and must, so the old MessageIds and handles hold.
  v.header->secret = jq.secret;
  if (q->fifo) {  // FIFO queues are memory-only for now (durability_of): nothing to restore
    if (jq.live() > 0)
      return Status("InternalError", "queue " + q->name + ": restoring FIFO messages is not supported yet (" +
                                         std::to_string(jq.live()) + " journaled messages not restored)");
    return Status::OK();
  }
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
    msgs.push_back(r);
  }
  if (Status s = shm::restore_messages(v, msgs, jq.max_incarnation); !s.ok())
    return Status(s.code(), "queue " + q->name + ": " + s.message());
  *restored = msgs.size();
  if (expired) spdlog::info("queue {}: {} journaled message(s) past retention were dropped", q->name, expired);
  return Status::OK();
}

}  // namespace shmq::broker
