// The broker's side of the segment: finishing what a dead client left half
// done, and the time-driven transitions (lease expiry, delay, retention,
// dead-letter moves, purge).
//
// Thread safety: broker only, from its one conductor thread, through the
// broker's own lane (kBrokerLane). Clients keep running concurrently; every
// transition here is a CAS on the slot's state word, so a race with a client
// costs a failed CAS, never a wrong delivery.
#pragma once

#include <cstdint>
#include <functional>

#include "shm/layout.h"
#include "shm/segment.h"

namespace shmq::shm {

// Tells whether the client that owns lane i is alive.
using LaneLiveness = std::function<bool(uint32_t lane)>;

// Finishes or undoes the step lane `dead` was in when its client died:
// a claimed ring cell is published (the lane's value, or a tombstone) or
// released; a slot it held is returned to its free ring, published, or freed;
// its bits in Header::spinning and ::sleeping are cleared.
// Idempotent. Clears the lane's intent and op (not its owner).
// REQUIRES: the lane's client is dead and will never run again.
void repair_lane(const SegmentView& v, uint32_t dead, const LaneLiveness& live);

// Repairs the n lanes of one dead client (or several), those that died
// inside a pop first: a push in another dead lane's repair (a freed slot
// back to its free ring) may need exactly that cell, claimed a lap earlier
// and never released, and would otherwise be deferred to a later scan
// (queue_ops.h: push_free_slot). REQUIRES: as repair_lane, for each.
void repair_lanes(const SegmentView& v, const uint32_t* dead, size_t n, const LaneLiveness& live);

// Moves one message to the dead-letter queue; returns true when it was sent
// there. The broker implements it (it needs the other queue's segment).
using DeadLetterMover = std::function<bool(uint32_t slot)>;

struct ScanResult {
  uint64_t visible = 0;
  uint64_t not_visible = 0;
  uint64_t delayed = 0;
  uint64_t next_deadline_ms = UINT64_MAX;  // earliest lease, delay or retention deadline
};

// One pass over every slot at queue-clock time `now`: expired leases become
// visible again (or move to the DLQ once received max_receive_count times),
// due delays are published, messages past retention are deleted. Refreshes
// the approximate counts in the header. With no mover, a message due for
// its dead-letter queue is left leased (and counted) for a pass that has one.
// FIFO segments are handed to fifo_scan (fifo.h).
ScanResult scan_slots(const SegmentView& v, uint64_t now, const DeadLetterMover& mover);

// A free the broker deferred (queue_ops.h: push_free_slot) is tried again
// this soon, even on a queue that is otherwise idle.
inline constexpr uint64_t kDeferredFreeRetryMs = 10;
// When slot state `st` is a free the broker deferred -- DELETED(broker lane),
// a slot in no ring -- frees it again; if the cell is still held it stays
// deferred and r->next_deadline_ms asks for another pass within
// kDeferredFreeRetryMs. Returns false for any other state. Broker thread.
bool retry_deferred_free(const SegmentView& v, uint32_t slot, uint64_t st, uint64_t now, ScanResult* r);

// A fingerprint of everything clients change without the broker: ring
// positions, the visibility-change counter and the frees handed to the
// broker (queue_ops.h: hand_free_to_broker). When it has not changed since
// the last scan and no deadline is due, a scan would find nothing to do.
uint64_t activity_fingerprint(const SegmentView& v);

// Deletes every stored message (PurgeQueue; FIFO: fifo_purge). Returns how many.
uint64_t purge_slots(const SegmentView& v);

// Deletes one message through the broker's lane if its state word still is
// expected_state (retention, purge, after a DLQ move). False when it moved on.
// With journal, a durable queue journals the delete (retention and DLQ
// moves; a purge has its own PURGE record).
bool broker_delete(const SegmentView& v, uint32_t slot, uint64_t expected_state, bool journal = false);

}  // namespace shmq::shm
