// One journal file: `journal-<id, 16 hex>.log` in the data directory,
// preallocated (fallocate) to a fixed size so appends never change its size
// and fdatasync needs no metadata; written once, front to back, never reused:
// each broker start opens a new file, so a torn tail is never written over.
//
//   0                                                         4096
//   +--------------------------------------------------------+-----------
//   | magic | version | header size | file id | key id | salt | crc | ... records
//   +--------------------------------------------------------+-----------
//
// key id 0: records are plain; else the id of the AES-256-GCM key (cipher.h)
// that sealed them. salt is random per file and makes every record's IV
// unique. Space after the last record is zero: a zero length ends the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shmq/status.h"

namespace shmq::journal {

inline constexpr uint64_t kFileMagic = 0x314e524a514d4853ULL;  // "SHMQJRN1"
inline constexpr uint32_t kFileVersion = 1;
inline constexpr uint32_t kFileHeaderSize = 4096;

struct FileHeader {
  uint64_t file_id = 0;
  uint64_t key_id = 0;
  uint64_t salt = 0;
};

std::string file_name(const std::string& dir, uint64_t file_id);
// The ids of the journal files in dir, ascending.
std::vector<uint64_t> list_files(const std::string& dir);

// The 4096-byte header block.
void encode_file_header(const FileHeader& h, char out[kFileHeaderSize]);
// An error when magic, version, size or checksum is wrong.
Status decode_file_header(const char* in, size_t n, FileHeader* h);

}  // namespace shmq::journal
