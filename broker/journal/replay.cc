#include "broker/journal/replay.h"

#include <algorithm>

namespace shmq::journal {

uint64_t ReplayedQueue::live() const {
  uint64_t n = 0;
  for (const auto& [s, m] : slots) n += !m.deleted;
  return n;
}

namespace {

// A FIFO message leaves the replay: its dedup id keeps answering duplicates.
void remember_dedup(ReplayedQueue& q, uint32_t slot, const ReplayedMessage& m) {
  if (m.deleted || m.dedup_id.empty()) return;
  ReplayedDedup e;
  e.group_id = m.group_id;
  e.dedup_id = m.dedup_id;
  e.slot = slot;
  e.incarnation = m.incarnation;
  e.sequence_number = m.sequence_number;
  e.seen_epoch_ms = m.sent_epoch_ms;
  q.dedup.push_back(std::move(e));
}

}  // namespace

Status Replay::apply(const ScannedRecord& r) {
  switch (r.header.type) {
    case RecordType::kSend: {
      SendRecord s;
      if (Status st = decode(r.payload, &s); !st.ok()) return st;
      ReplayedQueue& q = queues_[s.queue_uid];
      q.uid = s.queue_uid;
      q.max_incarnation = std::max(q.max_incarnation, s.incarnation);
      q.max_sequence = std::max(q.max_sequence, s.sequence_number);
      if (q.deleted) return Status::OK();
      auto it = q.slots.find(s.slot);
      if (it != q.slots.end() && it->second.incarnation > s.incarnation) return Status::OK();
      if (it != q.slots.end() && it->second.incarnation == s.incarnation && it->second.deleted)
        return Status::OK();
      if (it != q.slots.end() && it->second.incarnation < s.incarnation)
        remember_dedup(q, s.slot, it->second);  // the slot was freed: that message is gone
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
        remember_dedup(q, d.slot, it->second);
        it->second = ReplayedMessage{};
        it->second.incarnation = d.incarnation;
        it->second.deleted = true;
      }
      return Status::OK();
    }
    case RecordType::kFifoDedup: {
      FifoDedupRecord f;
      if (Status st = decode(r.payload, &f); !st.ok()) return st;
      ReplayedQueue& q = queues_[f.queue_uid];
      q.uid = f.queue_uid;
      q.max_incarnation = std::max(q.max_incarnation, f.incarnation);
      q.max_sequence = std::max(q.max_sequence, f.sequence_number);
      if (q.deleted) return Status::OK();
      ReplayedDedup e;
      e.has_key = true;
      e.key_hi = f.key_hi;
      e.key_lo = f.key_lo;
      e.slot = f.slot;
      e.incarnation = f.incarnation;
      e.sequence_number = f.sequence_number;
      e.seen_epoch_ms = f.seen_epoch_ms;
      q.dedup.push_back(std::move(e));
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
      if (r.header.type == RecordType::kPurge) {
        for (const auto& [slot, m] : q.slots) remember_dedup(q, slot, m);  // a purge keeps deduplicating
      } else {
        q.dedup.clear();
        q.deleted = true;
      }
      q.slots.clear();
      return Status::OK();
    }
  }
  return Status("InternalError", "unknown journal record type");
}

}  // namespace shmq::journal
