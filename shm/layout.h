// The queue segment: one shared-memory object per queue, mapped by the broker
// and by every client that opened the queue. This header is the only place
// its layout is defined; the broker and the client library both compile it.
//
//   offset 0            +--------------------------------------------+
//                       | Header (4 KiB): identity, config, counters, |
//                       | ready-ring positions, futex words           |
//   lanes_offset        +--------------------------------------------+
//                       | Lane[kMaxLanes]   one cache line per thread |
//   ready_ring_offset   +--------------------------------------------+
//                       | Cell[ready_capacity]  (slot, gen) entries   |
//   class c (x4)        +--------------------------------------------+
//     free_ring_offset  | RingPositions + Cell[free_capacity]         |
//     slots_offset      | Slot[count]        one cache line each      |
//     payload_offset    | count x payload_capacity bytes              |
//                       +--------------------------------------------+
//
// Size classes replace a block allocator: a slot of class c owns the payload
// area at the same index, so a message takes exactly one slot of the smallest
// class that fits (attributes + body) and nothing else is ever allocated.
//
// Rules every field follows (DESIGN.md section 2):
//  - offsets and indices, never pointers; every atomic is lock-free and at
//    most 8 bytes; non-atomic fields are written once by the broker before
//    layout_version is stored (release) and never again;
//  - each field says who writes it;
//  - the slot's state word is the truth; rings are hints checked against it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace shmq::shm {

inline constexpr uint64_t kMagic = 0x314d51484d53ULL;  // "SMHQM1"
inline constexpr uint32_t kLayoutVersion = 6;  // 2: FIFO tables; 3: the journal ring; 4: sleeping bits;
                                               // 5: durable_sleeping bits; 6: system attribute
                                               // entries (kind 3) in the attribute encoding
inline constexpr uint32_t kMaxLanes = 256;
inline constexpr uint32_t kNumClasses = 4;
inline constexpr uint32_t kBrokerLane = 0;  // lane 0 belongs to the broker
inline constexpr uint32_t kBrokerClientId = 1;
inline constexpr size_t kCacheLine = 64;

static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(std::atomic<int64_t>::is_always_lock_free);

// ---------------------------------------------------------------------------
// Slot state word: state:3 | gen:21 | value:40.
//   value = deadline in queue-clock milliseconds for DELAYED and LEASED,
//           owning lane for RESERVED and DELETED, 0 otherwise.
// FREE(g) -> RESERVED(g, lane) -> DELAYED(g, t) | VISIBLE(g)
// VISIBLE(g) -> LEASED(g+1, t) -> VISIBLE(g+1) (expired or visibility 0)
//                              -> DELETED(g+1, lane) -> FREE(g+2)
// ---------------------------------------------------------------------------
enum class SlotState : uint32_t {
  kFree = 0,
  kReserved = 1,
  kDelayed = 2,
  kVisible = 3,
  kLeased = 4,
  kDeleted = 5,
};

inline constexpr uint32_t kGenBits = 21;
inline constexpr uint32_t kGenMask = (1u << kGenBits) - 1;
inline constexpr uint64_t kValueMask = (uint64_t{1} << 40) - 1;

constexpr uint64_t make_state(SlotState s, uint32_t gen, uint64_t value) {
  return (uint64_t(s) << 61) | (uint64_t(gen & kGenMask) << 40) | (value & kValueMask);
}
constexpr SlotState state_of(uint64_t w) { return SlotState(w >> 61); }
constexpr uint32_t gen_of(uint64_t w) { return uint32_t(w >> 40) & kGenMask; }
constexpr uint64_t value_of(uint64_t w) { return w & kValueMask; }
constexpr uint32_t next_gen(uint32_t g) { return (g + 1) & kGenMask; }

// ---------------------------------------------------------------------------
// Rings: bounded MPMC (Vyukov). A cell's seq tells its phase at position p:
// seq == p free for the producer of lap p, p+1 published, p+capacity released.
// ---------------------------------------------------------------------------
struct Cell {
  std::atomic<uint64_t> seq;   // any process, see above
  std::atomic<uint64_t> data;  // the producer that claimed the cell
};
static_assert(sizeof(Cell) == 16);

struct alignas(kCacheLine) RingPositions {
  alignas(kCacheLine) std::atomic<uint64_t> tail;  // producers, by CAS
  alignas(kCacheLine) std::atomic<uint64_t> head;  // consumers, by CAS
};

inline constexpr uint64_t kTombstone = ~uint64_t{0};  // a cell the broker voided
// Ready-ring entry: which slot, at which generation.
constexpr uint64_t make_entry(uint32_t slot, uint32_t gen) { return (uint64_t(gen) << 32) | slot; }
constexpr uint32_t entry_slot(uint64_t e) { return uint32_t(e); }
constexpr uint32_t entry_gen(uint64_t e) { return uint32_t(e >> 32); }

// Ring ids, as named in a lane's intent.
inline constexpr uint32_t kReadyRing = 0;
constexpr uint32_t free_ring_id(uint32_t cls) { return 1 + cls; }

// ---------------------------------------------------------------------------
// Lanes: one per (client, thread). What a lane is doing is always recorded
// in it before the step that would otherwise leave a resource unreachable, so
// the broker can finish or undo the step when the client dies.
//   intent: count-1:4 | ring+1:3 | pop:1 | position:56, stored before the
//           CAS that claims positions [position, position + count), cleared
//           after those cells are published/released. A single-cell step has
//           count 1 (the top bits zero, as before batches existed).
//   op:     kind:4 | gen:24 | slot:32, the slot the lane holds right now.
//   batch:  flags of a batched step (ring.h: ring_push_batch / ring_pop_batch):
//           kBatchHoldsSlots while the lane may hold slots named only by their
//           state word (RESERVED(lane) / DELETED(lane)), so the repair scans
//           the slot table for them; kBatchCellsWritten while the cells its
//           intent names were claimed by it and hold its values;
//           kBatchDedupPending while a FIFO send batch (fifo.h) may have
//           dedup entries pending whose `pending` field alone names the
//           lane, so the repair scans the dedup table for them.
// ---------------------------------------------------------------------------
enum class LaneOp : uint32_t {
  kNone = 0,
  kSending = 1,     // slot popped from a free ring, being written and published
  kLeasing = 2,     // (slot, gen) popped from the ready ring, lease CAS pending
  kDeleting = 3,    // delete CAS on (slot, gen) pending or done (DELETED, lane)
  kFreeing = 4,     // slot being returned to its free ring, gen = its FREE gen
  kPublishing = 5,  // slot made VISIBLE(gen), ready-ring push pending
  kUnlinking = 6,   // FIFO: slot (DELETED by a group) taken off its group's list, free pending
};

// Most cells one batched claim takes (SQS batches hold at most 10 entries).
inline constexpr uint32_t kMaxBatchClaim = 16;
constexpr uint64_t make_intent(uint32_t ring, bool pop, uint64_t pos, uint32_t count = 1) {
  return (uint64_t(count - 1) << 60) | (uint64_t(ring + 1) << 57) | (uint64_t(pop) << 56) |
         (pos & ((uint64_t{1} << 56) - 1));
}
constexpr uint32_t intent_ring(uint64_t i) { return (uint32_t(i >> 57) & 7) - 1; }
constexpr bool intent_pop(uint64_t i) { return (i >> 56) & 1; }
constexpr uint64_t intent_pos(uint64_t i) { return i & ((uint64_t{1} << 56) - 1); }
constexpr uint32_t intent_count(uint64_t i) { return uint32_t(i >> 60) + 1; }
// True when intent i claims (or is about to claim) position q of ring/direction.
constexpr bool intent_covers(uint64_t i, uint32_t ring, bool pop, uint64_t q) {
  return i != 0 && intent_ring(i) == ring && intent_pop(i) == pop && intent_pos(i) <= q &&
         q - intent_pos(i) < intent_count(i);
}
static_assert(intent_count(make_intent(5, true, 7, kMaxBatchClaim)) == kMaxBatchClaim);
static_assert(intent_ring(make_intent(5, false, 7, 3)) == 5);

inline constexpr uint64_t kBatchHoldsSlots = 1;
inline constexpr uint64_t kBatchCellsWritten = 2;
inline constexpr uint64_t kBatchDedupPending = 4;

constexpr uint64_t make_op(LaneOp k, uint32_t slot, uint32_t gen) {
  return (uint64_t(k) << 60) | (uint64_t(gen & 0xffffff) << 32) | slot;
}
constexpr LaneOp op_kind(uint64_t o) { return LaneOp(o >> 60); }
constexpr uint32_t op_slot(uint64_t o) { return uint32_t(o); }
constexpr uint32_t op_gen(uint64_t o) { return uint32_t(o >> 32) & 0xffffff; }

// FIFO locks a lane may hold (fifo.h), each named in the lane before the CAS
// that takes it, so the broker can finish the critical section of a dead one:
//   group_lock: group index + 1;
//   aux_lock:   kind:8 | index:56 (the group-insert lock or a dedup bucket);
//   dedup_pending: bucket:40 | entry:8, + 1: an entry this lane added and has
//               not completed (a duplicate sender waits on it).
enum class AuxLock : uint32_t { kNone = 0, kGroupInsert = 1, kDedupBucket = 2 };
constexpr uint64_t make_aux_lock(AuxLock k, uint64_t index) { return (uint64_t(k) << 56) | index; }
constexpr AuxLock aux_kind(uint64_t a) { return AuxLock(a >> 56); }
constexpr uint64_t aux_index(uint64_t a) { return a & ((uint64_t{1} << 56) - 1); }

struct alignas(kCacheLine) Lane {
  std::atomic<uint32_t> owner;        // client id, 0 = unused. Client CAS 0->id; broker frees
  std::atomic<uint32_t> owner_pid;    // owning client, after claiming
  std::atomic<uint64_t> owner_start;  // owning client: its start time (clock ticks since boot)
  std::atomic<uint64_t> intent;       // owning client (broker when repairing a dead one)
  std::atomic<uint64_t> op;           // owning client (broker when repairing a dead one)
  std::atomic<uint64_t> group_lock;     // owning client: FIFO group lock taken / being taken
  std::atomic<uint64_t> aux_lock;       // owning client: FIFO insert or dedup-bucket lock
  std::atomic<uint64_t> dedup_pending;  // owning client: FIFO dedup entry not yet complete
  std::atomic<uint64_t> batch;          // owning client: kBatch* flags (broker when repairing)
};
static_assert(sizeof(Lane) == kCacheLine);

// ---------------------------------------------------------------------------
// Slots: one cache line of control per message. Fields other than state are
// written only by whoever owns the slot through its state (RESERVED: the
// producer; LEASED: the lease holder for the receive fields).
// ---------------------------------------------------------------------------
struct alignas(kCacheLine) Slot {
  std::atomic<uint64_t> state;          // any process, by CAS (owner-only steps by store)
  std::atomic<uint64_t> incarnation;    // producer: +1 per message; the handle's seq
  std::atomic<uint32_t> body_len;       // producer
  std::atomic<uint32_t> attrs_len;      // producer
  std::atomic<uint64_t> sent_clock_ms;  // producer: queue clock, for retention
  std::atomic<uint64_t> sent_epoch_ms;  // producer: SentTimestamp
  std::atomic<uint32_t> receive_count;  // lease holder (load + store); broker resets on move
  std::atomic<uint32_t> sender_uid;     // producer
  std::atomic<uint64_t> first_receive_epoch_ms;  // first lease holder, stored when 0
  std::atomic<uint64_t> lease_start_ms;          // lease holder: queue clock at receive
};
static_assert(sizeof(Slot) == kCacheLine);
static_assert(std::is_standard_layout_v<Slot>);

// ---------------------------------------------------------------------------
// Header.
// ---------------------------------------------------------------------------
struct SizeClass {            // broker, at format time only
  uint32_t first_slot;        // global index of the class's first slot
  uint32_t count;             // slots in the class
  uint32_t payload_capacity;  // bytes per slot
  uint32_t free_capacity;     // power of two >= count
  uint64_t free_ring_offset;  // RingPositions, then Cell[free_capacity]
  uint64_t slots_offset;      // Slot[count]
  uint64_t payload_offset;    // count * payload_capacity
};

// ---------------------------------------------------------------------------
// FIFO queues (fifo.h). A message group is an entry of an open-addressed
// table keyed by a hash of the group id; it keeps its messages in send order
// in a singly linked list of slots (FifoMeta::next) and is changed only under
// its lock. The ready ring carries group indices instead of slot entries.
// ---------------------------------------------------------------------------
inline constexpr uint32_t kNil = ~uint32_t{0};
inline constexpr uint64_t kGroupRetired = ~uint64_t{0};  // key of a group freed for reuse
inline constexpr uint32_t kMaxGroupIdLength = 128;
// value of a DELETED state word: deleted through its group, still on the
// group's list until the head passes it (never a lane index).
inline constexpr uint64_t kDeletedInGroup = kMaxLanes;

struct alignas(kCacheLine) Group {
  std::atomic<uint64_t> lock;      // 0 free, else holder lane + 1 (CAS)
  std::atomic<uint64_t> key;       // 0 never used, kGroupRetired, else id hash: under lock
  std::atomic<uint32_t> head;      // oldest slot on the list or kNil: under lock
  std::atomic<uint32_t> tail;      // newest slot or kNil: under lock
  std::atomic<uint32_t> leased;    // messages of the group leased now: under lock
  std::atomic<uint32_t> in_ready;  // 1 while a token for the group is in the ready ring
  std::atomic<uint32_t> reserved;
  std::atomic<uint32_t> id_len;    // under lock, before key is stored
  char id[kMaxGroupIdLength];      // under lock, before key is stored
};
static_assert(sizeof(Group) == 3 * kCacheLine);

// At the start of a FIFO message's payload, then group id, dedup id, padding
// to 8, then the encoded attributes and the body.
struct FifoMeta {
  std::atomic<uint64_t> seq;     // SequenceNumber, assigned at the append
  std::atomic<uint32_t> group;   // group index
  std::atomic<uint32_t> next;    // next slot of the group's list or kNil: under group lock
  std::atomic<uint32_t> group_len;
  std::atomic<uint32_t> dedup_len;
};
static_assert(sizeof(FifoMeta) == 24);
// Bytes each payload of a FIFO queue has beyond its class's size, for the metadata.
inline constexpr uint32_t kFifoMetaReserve = 512;
// Bytes every payload has beyond its class's size for the encoding of the
// message attributes (validation.h: encode_attributes, a count and 9 bytes of
// lengths and type per attribute, at most 10): SQS counts only names, types
// and values against MaximumMessageSize, so a message of exactly the largest
// size with attributes must still fit its class.
inline constexpr uint32_t kAttributesEncodingReserve = 128;
// Bytes the largest size class has beyond its size for the message system
// attributes (validation.h: SystemAttributes, an AWSTraceHeader of at most
// 1 KiB and a dead-letter source ARN with their encoding), which SQS counts
// against no size limit either: a message of the largest size still fits with
// them. A smaller class needs no reserve: a message they push over its
// capacity takes the next class.
inline constexpr uint32_t kSystemAttributesReserve = 2048;
constexpr uint32_t fifo_meta_size(uint32_t group_len, uint32_t dedup_len) {
  return (uint32_t(sizeof(FifoMeta)) + group_len + dedup_len + 7) & ~7u;
}

// A bucket's first line is its index: a lookup reads it, and the line of an
// entry only when the entry's tag matches, so a send touches two lines of a
// table far larger than the cache, not the whole bucket.
inline constexpr uint32_t kDedupWays = 7;
inline constexpr uint32_t kDedupPendingBit = 1u << 31;
struct DedupEntry {                     // all under the bucket's lock
  std::atomic<uint64_t> key_hi;        // 128-bit hash of (scope, dedup id)
  std::atomic<uint64_t> key_lo;
  std::atomic<uint64_t> seen_ms;       // queue clock at the first send
  std::atomic<uint64_t> incarnation;   // the original message
  std::atomic<uint64_t> seq;
  std::atomic<uint32_t> slot;
  std::atomic<uint32_t> pending;       // lane + 1 while its sender has not finished
};
struct alignas(kCacheLine) DedupBucket {
  std::atomic<uint64_t> lock;              // 0 free, else holder lane + 1
  std::atomic<uint32_t> tag[kDedupWays];   // low half of key_hi
  // 0 empty; else kDedupPendingBit while pending | (seen_ms >> 10) + 1
  std::atomic<uint32_t> when[kDedupWays];
  DedupEntry entries[kDedupWays];
};
static_assert(sizeof(DedupBucket) == 7 * kCacheLine);

struct QueueConfig {  // broker writes (create / set attributes); clients read
  std::atomic<uint32_t> visibility_timeout_s;
  std::atomic<uint32_t> delay_s;
  std::atomic<uint32_t> retention_s;
  std::atomic<uint32_t> max_message_size;
  std::atomic<uint32_t> receive_wait_s;
  std::atomic<uint32_t> max_receive_count;  // 0: no redrive policy
  std::atomic<uint32_t> dlq_uid;            // the dead-letter queue's uid, 0 none
  std::atomic<uint32_t> deleted;            // 1 once the queue is deleted
  std::atomic<uint32_t> content_based_dedup;  // FIFO: ContentBasedDeduplication
  std::atomic<uint32_t> dedup_per_group;      // FIFO: DeduplicationScope=messageGroup
};

struct Counters {  // broker writes; `shmq stats` prints them
  std::atomic<uint64_t> approx_visible;
  std::atomic<uint64_t> approx_not_visible;
  std::atomic<uint64_t> approx_delayed;
  std::atomic<uint64_t> leases_expired;
  std::atomic<uint64_t> delays_released;
  std::atomic<uint64_t> retention_deleted;
  std::atomic<uint64_t> dlq_moved;
  std::atomic<uint64_t> lanes_repaired;
  std::atomic<uint64_t> cells_voided;       // claimed-but-unpublished cells tombstoned
  std::atomic<uint64_t> cells_released;     // claimed-but-unreleased cells released
  std::atomic<uint64_t> slots_reclaimed;    // half-written or half-freed slots returned
  std::atomic<uint64_t> entries_republished;  // visible slots pushed again after a death
  std::atomic<uint64_t> purged;
  // Written by any lane, on a slow path only (queue_ops.h, CellWait):
  std::atomic<uint64_t> free_push_waits;  // free-ring pushes that waited for a popper's cell
  std::atomic<uint64_t> frees_handed_over;  // ... and gave up (or the broker deferred): slots left to its scan
  std::atomic<uint64_t> ready_parked;     // publishes parked as due-now DELAYED: no ready cell
};
// Counters fills its two lines exactly: a new counter needs a layout version.
static_assert(sizeof(Counters) <= 2 * kCacheLine, "the fields after Counters keep their offsets");

// ---------------------------------------------------------------------------
// Durability (journal_ring.h): the journal ring tells the broker's journal
// thread what to persist. Entries are kind:2 | slot:30 | incarnation:32.
// Producers: any process through its lane (intent before claim, as every
// ring). Consumer: the broker's journal thread only, which releases a cell
// and advances head only once the record is on disk, so head is also the
// durable position a sync sender waits for.
// ---------------------------------------------------------------------------
inline constexpr uint32_t kJournalRing = kNumClasses + 1;  // ring id in lane intents

struct alignas(kCacheLine) JournalControl {
  std::atomic<uint32_t> durability;  // broker: 0 memory, 1 async, 2 sync (Durability)
  std::atomic<uint32_t> error;       // broker: errno of a failed journal write, sticky; 0 none
  uint32_t capacity;                 // broker at format: power of two >= 2 x total slots
  uint32_t reserved;
  uint64_t cells_offset;             // broker at format: Cell[capacity]
  RingPositions ring;                // tail: producers (CAS); head: the broker's journal thread
  alignas(kCacheLine) std::atomic<uint32_t> durable_futex;  // broker: bumped when head moves and a sender sleeps
  std::atomic<uint32_t> doorbell;                           // sync senders: bumped to wake the journal thread
  std::atomic<uint32_t> collector_sleeping;                 // broker: 1 while its journal thread sleeps
  uint32_t reserved2;
  // Lane bits (set_lane_bit): a sender's lane is set around its sleep on
  // durable_futex (a sync sender's wait, a push into a full ring). Bits, not
  // a count: the broker's repair of a dead lane clears its bit, so a sender
  // killed asleep does not leave every commit paying a futex wake.
  std::atomic<uint64_t> durable_sleeping[kMaxLanes / 64];
};
static_assert(offsetof(JournalControl, durable_sleeping) + sizeof(JournalControl::durable_sleeping) <=
                  offsetof(JournalControl, durable_futex) + kCacheLine,
              "the durable wake's words share one line");

struct alignas(4096) Header {
  // --- identity: broker at format; layout_version last (release) ---
  uint64_t magic;
  std::atomic<uint32_t> layout_version;
  uint32_t queue_uid;
  uint64_t total_size;
  uint64_t secret;     // random per segment: receipt-handle check, message ids
  uint32_t fifo;       // 0 standard, 1 FIFO (fixed at creation)
  uint32_t total_slots;
  uint32_t ready_capacity;  // power of two >= 2 * total_slots
  uint32_t reserved0;
  uint64_t lanes_offset;
  uint64_t ready_ring_offset;  // Cell[ready_capacity]
  SizeClass classes[kNumClasses];
  uint64_t groups_offset;      // FIFO: Group[group_capacity]; 0 on standard queues
  uint64_t dedup_offset;       // FIFO: DedupBucket[dedup_buckets]
  uint32_t group_capacity;     // power of two >= total_slots
  uint32_t dedup_buckets;      // power of two

  alignas(kCacheLine) QueueConfig config;
  alignas(kCacheLine) std::atomic<int64_t> clock_skew_ms;  // broker (test clock)
  std::atomic<uint64_t> created_epoch_s;                   // broker
  std::atomic<uint64_t> modified_epoch_s;                  // broker
  std::atomic<uint64_t> broker_heartbeat_ms;               // broker, each tick
  // Wall clock minus queue clock (ms), refreshed by the broker each tick, so
  // a client gets both times from one clock read.
  std::atomic<int64_t> epoch_offset_ms;  // broker
  // Bumped by change_visibility, so the broker's idle check (ring positions
  // unchanged, no deadline due) also notices a lease made shorter.
  alignas(kCacheLine) std::atomic<uint64_t> visibility_changes;  // any client
  alignas(kCacheLine) Counters counters;

  // --- ready ring positions, each on its own line ---
  alignas(kCacheLine) RingPositions ready;

  // --- long poll: receivers wait on ready_futex; senders wake only when a
  //     sleeping bit says someone waits ---
  alignas(kCacheLine) std::atomic<uint32_t> ready_futex;  // any: bumped on publish when waited on
  // Bit i is set while lane i's receiver sleeps (around its last look at
  // the ring and its futex_wait). Bits, not a count: the broker's repair
  // clears a dead receiver's, where a count killed mid-sleep stayed up for
  // good and made every send pay a futex wake. Senders read the four words
  // after their fence: one line, with `spinning`.
  alignas(kCacheLine) std::atomic<uint64_t> sleeping[kMaxLanes / 64];
  // Bit i is set while lane i's receiver spins before it would sleep: a
  // sender need not wake a sleeper then (queue_ops.h: spin_before_sleep).
  // Lane i's owner sets and clears both; the broker clears a dead lane's.
  std::atomic<uint64_t> spinning[kMaxLanes / 64];

  // --- FIFO ---
  alignas(kCacheLine) std::atomic<uint64_t> fifo_seq;     // appenders: last SequenceNumber
  alignas(kCacheLine) std::atomic<uint64_t> group_insert_lock;  // 0 or holder lane + 1

  // --- durability: appended last, so the fields above keep their offsets ---
  JournalControl journal;
};
static_assert(sizeof(Header) == 4096 || sizeof(Header) % 4096 == 0);

}  // namespace shmq::shm
