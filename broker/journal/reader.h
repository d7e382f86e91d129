// Reading journal files back (recovery, compaction).
//
// A file is read front to back; the first record whose length is out of
// range, whose CRC fails or whose type is unknown ends it: everything from
// there on is a torn or corrupt tail and is ignored ("cut"). A zero length
// is the clean end (preallocated space is zero). Records before the cut are
// handed out in order, decrypted when the file is encrypted.
//
// Thread safety: none needed; functions keep no state.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "broker/journal/cipher.h"
#include "broker/journal/journal_file.h"
#include "broker/journal/record.h"
#include "shmq/status.h"

namespace shmq::journal {

struct ScannedRecord {
  uint64_t file_id = 0;
  uint64_t offset = 0;     // of the record header in the file
  uint32_t disk_size = 0;  // header + stored payload
  RecordHeader header;
  std::string_view payload;  // plain; valid during the visit only
};

// Returning an error stops the scan and is passed back.
using RecordVisitor = std::function<Status(const ScannedRecord&)>;

struct FileScan {
  FileHeader header;
  uint64_t good_end = 0;  // offset just past the last good record
  uint64_t records = 0;
  bool cut = false;       // a torn or corrupt tail was found at good_end
  std::string cut_reason;
};

// Checks the header and the key, then visits every good record. Errors: the
// file cannot be read, its header is invalid, its key is not in keys, or a
// record that passed its CRC does not decrypt (a wrong key).
Result<FileScan> scan_file(const std::string& path, const KeyRing& keys, const RecordVisitor& visit);

// Reads and opens the one record at offset (compaction's copy forward).
Status read_record(int fd, const FileHeader& fh, const KeyRing& keys, uint64_t offset, uint32_t disk_size,
                   RecordHeader* h, std::string* payload);

// Decrypts or copies a record's payload as stored at rec (header first).
Status open_payload(const char* rec, const RecordHeader& h, const FileHeader& fh, const KeyRing& keys,
                    uint64_t offset, std::string* out);

}  // namespace shmq::journal
