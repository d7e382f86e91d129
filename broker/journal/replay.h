// Replay: the queues and messages a journal describes, rebuilt record by
// record in journal order (what recovery feeds the segments with).
//
// Rules (record.h): a SEND makes (queue, slot) hold that incarnation unless
// a later incarnation is already known; a DELETE removes exactly the
// incarnation it names; PURGE removes every message of the queue seen so
// far; QUEUE_DELETE forgets the queue. A slot reused by a later SEND implies
// the earlier message was deleted (the slot was freed first).
// FIFO: every FIFO_DEDUP record is remembered apart from the messages, and
// so is the dedup id of a FIFO message a DELETE removes, so deduplication
// survives the message (SQS: 5 minutes after the first send, deleted or
// not); the highest SequenceNumber seen is kept for the queue's counter.
//
// Thread safety: one thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/journal/reader.h"
#include "broker/journal/record.h"
#include "shmq/status.h"

namespace shmq::journal {

struct ReplayedMessage {
  uint64_t incarnation = 0;
  uint64_t sent_epoch_ms = 0;
  uint64_t visible_epoch_ms = 0;
  uint64_t sequence_number = 0;
  uint32_t sender_uid = 0;
  uint32_t receive_count = 0;
  bool deleted = false;  // a DELETE for this incarnation arrived
  std::string attributes, body, group_id, dedup_id;
};

// A FIFO deduplication entry: from a FIFO_DEDUP record (has_key), or the
// dedup id of a journaled SEND (the key is computed at restore, where the
// queue's DeduplicationScope is known).
struct ReplayedDedup {
  bool has_key = false;
  uint64_t key_hi = 0, key_lo = 0;
  std::string group_id, dedup_id;  // when !has_key
  uint32_t slot = 0;
  uint64_t incarnation = 0;
  uint64_t sequence_number = 0;
  uint64_t seen_epoch_ms = 0;
};

struct ReplayedQueue {
  bool known = false;  // a QUEUE_STATE was seen
  bool deleted = false;
  uint32_t uid = 0;
  bool fifo = false;
  uint64_t secret = 0;
  uint64_t created_s = 0;
  std::string name, attributes_json;
  uint64_t max_incarnation = 0;  // over every SEND and DELETE seen
  uint64_t max_sequence = 0;     // FIFO: over every SEND and FIFO_DEDUP seen
  std::unordered_map<uint32_t, ReplayedMessage> slots;  // slot -> message
  // FIFO: dedup entries of deleted messages and FIFO_DEDUP records, in
  // journal order (restore keeps the newest per key within the window).
  std::vector<ReplayedDedup> dedup;
  uint64_t live() const;
};

class Replay {
 public:
  // Applies one record; a record whose payload does not decode is an error.
  Status apply(const ScannedRecord& r);
  std::map<uint32_t, ReplayedQueue>& queues() { return queues_; }

 private:
  std::map<uint32_t, ReplayedQueue> queues_;
};

}  // namespace shmq::journal
