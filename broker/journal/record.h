// Journal records: what a journal file holds after its header.
//
//   0      4      8    9     10        16       24
//   +------+------+----+-----+---------+--------+---------------------+
//   | len  | crc  |type|flags| reserved|  seq   | payload (len bytes) |
//   +------+------+----+-----+---------+--------+---------------------+
//
// All integers little endian. crc is CRC32C of bytes [8, 24 + len): the type,
// flags, sequence and payload, so a torn, zeroed or flipped record fails it.
// With flags & kEncrypted the payload is AES-256-GCM ciphertext + 16-byte tag
// (cipher.h); the header stays in clear so a reader without the key still
// finds record boundaries and a torn tail.
//
// Payloads (plain) are fixed fields followed by variable-length byte strings;
// decode_* checks every length against the payload size, so a corrupt record
// that passed its CRC by chance still cannot read out of bounds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "shmq/status.h"

namespace shmq::journal {

inline constexpr size_t kRecordHeaderSize = 24;
// A message of 1 MiB with 256 KiB of attributes, ids and fixed fields fits.
inline constexpr uint32_t kMaxPayload = 2u << 20;
inline constexpr uint8_t kEncrypted = 1;

enum class RecordType : uint8_t {
  kSend = 1,         // a message stored in a slot (SendRecord)
  kDelete = 2,       // the message (queue, slot, incarnation) is gone
  kQueueState = 3,   // a queue's full definition, at create and on every change
  kQueueDelete = 4,  // the queue and all its messages are gone
  kPurge = 5,        // every message of the queue journaled before this is gone
  kFifoDedup = 6,    // a FIFO deduplication entry (FifoDedupRecord); added with FIFO durability
};
// The highest type this build reads; a reader treats a higher one as a torn
// or corrupt tail (so an older broker stops at a FIFO dedup record).
inline constexpr uint8_t kMaxRecordType = 6;

struct SendRecord {
  uint32_t queue_uid = 0;
  uint32_t slot = 0;
  uint64_t incarnation = 0;
  uint64_t sent_epoch_ms = 0;     // SentTimestamp
  uint64_t visible_epoch_ms = 0;  // end of the send's delay (0: none)
  uint64_t sequence_number = 0;   // FIFO sequence number (0: standard queue)
  uint32_t sender_uid = 0;
  uint32_t receive_count = 0;
  std::string_view attributes;  // encoded as in the segment (shm/validation.h)
  std::string_view body;
  std::string_view group_id;
  std::string_view dedup_id;
};

// A FIFO send's deduplication entry: the 128-bit key of (scope, dedup id),
// when it was first seen and the message that answers a duplicate. Written
// for every FIFO send with a dedup id, apart from the SEND (which the
// journal thread drops when the message is deleted before it copies it), so
// a duplicate sent after a rebuild gets the original MessageId for the
// whole 5-minute window, deleted message or not. Starts with queue uid,
// slot and incarnation like SEND and DELETE.
struct FifoDedupRecord {
  uint32_t queue_uid = 0;
  uint32_t slot = 0;
  uint64_t incarnation = 0;
  uint64_t sequence_number = 0;
  uint64_t seen_epoch_ms = 0;
  uint64_t key_hi = 0;
  uint64_t key_lo = 0;
};

// How long a FIFO_DEDUP record matters: SQS's deduplication interval
// (shm::kDedupWindowMs), on the wall clock here.
inline constexpr uint64_t kFifoDedupWindowMs = 5 * 60 * 1000;

struct DeleteRecord {
  uint32_t queue_uid = 0;
  uint32_t slot = 0;
  uint64_t incarnation = 0;
};

struct QueueStateRecord {
  uint32_t queue_uid = 0;
  bool fifo = false;
  uint64_t secret = 0;  // the segment secret: MessageIds and receipt handles
  uint64_t created_s = 0;
  std::string_view name;
  std::string_view attributes_json;  // the attributes as the user set them
};

struct QueueRecordRef {  // kQueueDelete, kPurge
  uint32_t queue_uid = 0;
};

std::string encode(const SendRecord& r);
// Appends a whole record (header with seq 0 and no crc, then the SEND
// payload) to *out: the batch format Journal::append_batch takes.
void append_record(const SendRecord& r, std::string* out);
void append_record(const DeleteRecord& r, std::string* out);  // no temporary string
void append_record(RecordType type, std::string_view payload, std::string* out);
std::string encode(const DeleteRecord& r);
std::string encode(const FifoDedupRecord& r);
std::string encode(const QueueStateRecord& r);
std::string encode(const QueueRecordRef& r);

// The views in the decoded record point into `payload`.
Status decode(std::string_view payload, SendRecord* r);
Status decode(std::string_view payload, DeleteRecord* r);
Status decode(std::string_view payload, FifoDedupRecord* r);
Status decode(std::string_view payload, QueueStateRecord* r);
Status decode(std::string_view payload, QueueRecordRef* r);

// The 24-byte header, parsed.
struct RecordHeader {
  uint32_t length = 0;
  uint32_t crc = 0;
  RecordType type{};
  uint8_t flags = 0;
  uint64_t seq = 0;
};

void put_header(char* out, const RecordHeader& h);
RecordHeader get_header(const char* in);
// CRC of a record laid out at p (header + h.length payload bytes).
uint32_t record_crc(const char* p, uint32_t length);

}  // namespace shmq::journal
