// Putting journaled messages back into a fresh segment (recovery after the
// segments were lost, e.g. a reboot). Each message returns to the slot it
// had, with the incarnation it had, so its MessageId (segment secret, slot,
// incarnation) is the one the sender was given. Leases are forgotten: a
// message comes back VISIBLE, or DELAYED while its delay has not ended.
//
// Thread safety: broker only, on a segment it just formatted and no client
// has mapped yet (no lanes, no intents: the rings are written directly).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "shm/fifo.h"
#include "shm/segment.h"
#include "shmq/status.h"

namespace shmq::shm {

struct RestoredMessage {
  uint32_t slot = 0;
  uint64_t incarnation = 0;
  std::string_view attributes;  // encoded, as in the slot's payload
  std::string_view body;
  uint64_t sent_epoch_ms = 0;
  uint64_t visible_clock_ms = 0;  // queue clock when a delay ends; 0: visible now
  uint32_t sender_uid = 0;
  uint32_t receive_count = 0;
  // FIFO queues: the message's group and dedup ids and its SequenceNumber.
  std::string_view group_id, dedup_id;
  uint64_t sequence_number = 0;
};

// Every other slot's incarnation is set to incarnation_floor (the highest
// the journal knows for the queue), so a new message never reuses an
// incarnation the journal still holds records of: replay decides by the
// highest incarnation per slot.
// FIFO queues: each message goes back into its group's list in
// SequenceNumber order (fifo_restore_groups), the SequenceNumber counter
// continues from last_sequence (or the highest restored, if higher), and the
// dedup entries still inside their window are put back (fifo_restore_dedup).
// Errors (nothing is changed then): a slot out of range or listed twice, a
// payload larger than its slot's class, a FIFO message without a valid
// group id.
Status restore_messages(const SegmentView& v, const std::vector<RestoredMessage>& messages,
                        uint64_t incarnation_floor, const std::vector<RestoredDedup>& dedup = {},
                        uint64_t last_sequence = 0);

}  // namespace shmq::shm
