#include "broker/journal/journal_file.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "broker/journal/crc32c.h"

namespace shmq::journal {
namespace {
constexpr size_t kCrcAt = 40;  // the fields before it are covered
}

std::string file_name(const std::string& dir, uint64_t file_id) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "journal-%016llx.log", static_cast<unsigned long long>(file_id));
  return dir + "/" + buf;
}

std::vector<uint64_t> list_files(const std::string& dir) {
  std::vector<uint64_t> ids;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    unsigned long long id;
    char tail[8] = {};
    if (n.size() == 28 && std::sscanf(n.c_str(), "journal-%16llx.%3s", &id, tail) == 2 &&
        std::strcmp(tail, "log") == 0)
      ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

void encode_file_header(const FileHeader& h, char out[kFileHeaderSize]) {
  std::memset(out, 0, kFileHeaderSize);
  const uint32_t version = kFileVersion, size = kFileHeaderSize;
  std::memcpy(out, &kFileMagic, 8);
  std::memcpy(out + 8, &version, 4);
  std::memcpy(out + 12, &size, 4);
  std::memcpy(out + 16, &h.file_id, 8);
  std::memcpy(out + 24, &h.key_id, 8);
  std::memcpy(out + 32, &h.salt, 8);
  const uint32_t crc = crc32c(out, kCrcAt);
  std::memcpy(out + kCrcAt, &crc, 4);
}

Status decode_file_header(const char* in, size_t n, FileHeader* h) {
  if (n < kFileHeaderSize) return Status("InternalError", "journal file shorter than its header");
  uint64_t magic;
  uint32_t version, size, crc;
  std::memcpy(&magic, in, 8);
  std::memcpy(&version, in + 8, 4);
  std::memcpy(&size, in + 12, 4);
  std::memcpy(&crc, in + kCrcAt, 4);
  if (magic != kFileMagic) return Status("InternalError", "not a journal file (bad magic)");
  if (version != kFileVersion || size != kFileHeaderSize)
    return Status("InternalError", "journal file version " + std::to_string(version) + " is not supported");
  if (crc != crc32c(in, kCrcAt)) return Status("InternalError", "journal file header checksum mismatch");
  std::memcpy(&h->file_id, in + 16, 8);
  std::memcpy(&h->key_id, in + 24, 8);
  std::memcpy(&h->salt, in + 32, 8);
  return Status::OK();
}

}  // namespace shmq::journal
