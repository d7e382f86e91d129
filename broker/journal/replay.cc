#include "broker/journal/replay.h"

#include <algorithm>

namespace shmq::journal {

uint64_t ReplayedQueue::live() const {
  uint64_t n = 0;
  for (const auto& [s, m] : slots) n += !m.deleted;
  return n;
}

Status Replay::apply(const ScannedRecord& r) {
  switch (r.header.type) {
    case RecordType::kSend: {
      SendRecord s;
      if (Status st = decode(r.payload, &s); !st.ok()) return st;
      ReplayedQueue& q = queues_[s.queue_uid];
      q.uid = s.queue_uid;
      q.max_incarnation = std::max(q.max_incarnation, s.incarnation);
      if (q.deleted) return Status::OK();
      auto it = q.slots.find(s.slot);
      if (it != q.slots.end() && it->second.incarnation > s.incarnation) return Status::OK();
      if (it != q.slots.end() && it->second.incarnation == s.incarnation && it->second.deleted)
        return Status::OK();
      ReplayedMessage& m = q.slots[s.slot];
      m.incarnation = s.incarnation;
      m.sent_epoch_ms = s.sent_epoch_ms;
      m.visible_epoch_ms = s.visible_epoch_ms;
      m.sequence_number = s.sequence_number;
      m.sender_uid = s.sender_uid;
      m.receive_count = s.receive_count;
      m.deleted = false;
      m.attributes.assign(s.attributes);
      m.body.assign(s.body);
      m.group_id.assign(s.group_id);
      m.dedup_id.assign(s.dedup_id);
      return Status::OK();
    }
    case RecordType::kDelete: {
      DeleteRecord d;
      if (Status st = decode(r.payload, &d); !st.ok()) return st;
      ReplayedQueue& q = queues_[d.queue_uid];
      q.uid = d.queue_uid;
      q.max_incarnation = std::max(q.max_incarnation, d.incarnation);
      auto it = q.slots.find(d.slot);
      if (it == q.slots.end()) {
        // The DELETE came first (the sender journals after publishing):
        // remember it so the SEND that follows is not revived.
        ReplayedMessage& m = q.slots[d.slot];
        m.incarnation = d.incarnation;
        m.deleted = true;
      } else if (it->second.incarnation <= d.incarnation) {
        it->second = ReplayedMessage{};
        it->second.incarnation = d.incarnation;
        it->second.deleted = true;
      }
      return Status::OK();
    }
    case RecordType::kQueueState: {
      QueueStateRecord s;
      if (Status st = decode(r.payload, &s); !st.ok()) return st;
      ReplayedQueue& q = queues_[s.queue_uid];
      q.known = true;
      q.deleted = false;
      q.uid = s.queue_uid;
      q.fifo = s.fifo;
      q.secret = s.secret;
      q.created_s = s.created_s;
      q.name.assign(s.name);
      q.attributes_json.assign(s.attributes_json);
      return Status::OK();
    }
    case RecordType::kQueueDelete:
    case RecordType::kPurge: {
      QueueRecordRef ref;
      if (Status st = decode(r.payload, &ref); !st.ok()) return st;
      ReplayedQueue& q = queues_[ref.queue_uid];
      q.uid = ref.queue_uid;
      q.slots.clear();
      if (r.header.type == RecordType::kQueueDelete) q.deleted = true;
      return Status::OK();
    }
  }
  return Status("InternalError", "unknown journal record type");
}

}  // namespace shmq::journal
