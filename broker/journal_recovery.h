// Between the registry and the journal: what the broker journals about a
// queue, and how a queue whose segment was lost is rebuilt from the journal.
//
// Thread safety: the conductor thread (and setup, before clients connect).
#pragma once

#include <cstdint>
#include <string>

#include "broker/journal/replay.h"
#include "broker/registry.h"
#include "shm/journal_ring.h"

namespace shmq::broker {

// A queue's Durability attribute (memory | async | sync); async by default,
// for standard and FIFO queues alike.
shm::Durability durability_of(const QueueAttributes& attributes);
const char* durability_name(shm::Durability d);

// The QUEUE_STATE record of a queue: name, flags, segment secret, attributes.
std::string queue_state_payload(const QueueRecord& q);

// Rebuilds a queue whose segment was just recreated (empty) from what the
// journal holds: the segment secret (so MessageIds and handles stay valid)
// and every message neither deleted nor past its retention, each in its old
// slot with its old incarnation, visible (leases are forgotten) or still
// delayed. FIFO queues also get their groups back in SequenceNumber order,
// their SequenceNumber counter, and the dedup entries still inside their
// 5-minute window (deleted messages' too). REQUIRES: no client has mapped the segment yet. *restored counts
// the messages put back.
Status restore_queue(QueueRecord* q, journal::ReplayedQueue& journaled, uint64_t* restored);

}  // namespace shmq::broker
