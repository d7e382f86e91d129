#include "broker/journal/reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace shmq::journal {
namespace {

bool known_type(RecordType t) { return uint8_t(t) >= 1 && uint8_t(t) <= kMaxRecordType; }

Status io_error(const std::string& what, const std::string& path) {
  return Status("InternalError", what + " " + path + ": " + std::strerror(errno));
}

Status missing_key(const std::string& path, uint64_t id, const KeyRing& keys) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(id));
  if (keys.empty())
    return Status("InvalidParameterValue", "journal file " + path + " is encrypted (key id " + buf +
                                               "); start the broker with --journal-key-file");
  return Status("InvalidParameterValue", "journal file " + path + " is encrypted with key id " + buf +
                                             ", which the journal key file does not hold (wrong key?)");
}

}  // namespace

Status open_payload(const char* rec, const RecordHeader& h, const FileHeader& fh, const KeyRing& keys,
                    uint64_t offset, std::string* out) {
  std::string_view stored(rec + kRecordHeaderSize, h.length);
  if (!(h.flags & kEncrypted)) {
    out->assign(stored);
    return Status::OK();
  }
  const Key* key = keys.find(fh.key_id);
  if (!key) return Status("InvalidParameterValue", "no key for an encrypted journal record");
  if (h.length < kTagSize) return Status("InternalError", "encrypted journal record shorter than its tag");
  unsigned char iv[kIvSize];
  make_iv(fh.salt, uint32_t(offset), iv);
  out->resize(h.length - kTagSize);
  return open_sealed(*key, iv, std::string_view(rec + 8, 16), stored, out->data());
}

Result<FileScan> scan_file(const std::string& path, const KeyRing& keys, const RecordVisitor& visit) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return io_error("cannot stat", path);
  }
  const size_t size = size_t(st.st_size);
  if (size < kFileHeaderSize) {
    close(fd);
    return Status("InternalError", "journal file " + path + " is shorter than its header");
  }
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return io_error("cannot map", path);
  madvise(map, size, MADV_SEQUENTIAL);
  const char* base = static_cast<const char*>(map);

  FileScan scan;
  Status result = decode_file_header(base, size, &scan.header);
  if (!result.ok()) result = Status(result.code(), "journal file " + path + ": " + result.message());
  if (result.ok() && scan.header.key_id != 0 && !keys.find(scan.header.key_id))
    result = missing_key(path, scan.header.key_id, keys);

  uint64_t off = kFileHeaderSize;
  std::string plain;
  while (result.ok()) {
    if (size - off < kRecordHeaderSize) break;  // no room for another record: clean end
    const char* rec = base + off;
    RecordHeader h = get_header(rec);
    if (h.length == 0 && h.crc == 0) break;  // preallocated zeros: clean end
    std::string why;
    if (h.length > kMaxPayload + kTagSize || h.length > size - off - kRecordHeaderSize)
      why = "record length " + std::to_string(h.length) + " out of range";
    else if (record_crc(rec, h.length) != h.crc)
      why = "checksum mismatch";
    else if (!known_type(h.type))
      why = "unknown record type " + std::to_string(int(h.type));
    if (!why.empty()) {
      scan.cut = true;
      scan.cut_reason = why;
      break;
    }
    result = open_payload(rec, h, scan.header, keys, off, &plain);
    if (!result.ok()) {
      result = Status(result.code(), "journal file " + path + " at offset " + std::to_string(off) + ": " +
                                         result.message());
      break;
    }
    ScannedRecord r{scan.header.file_id, off, uint32_t(kRecordHeaderSize + h.length), h, plain};
    result = visit(r);
    off += kRecordHeaderSize + h.length;
    ++scan.records;
  }
  scan.good_end = off;
  munmap(map, size);
  if (!result.ok()) return result;
  return scan;
}

Status read_record(int fd, const FileHeader& fh, const KeyRing& keys, uint64_t offset, uint32_t disk_size,
                   RecordHeader* h, std::string* payload) {
  std::string buf(disk_size, '\0');
  size_t done = 0;
  while (done < disk_size) {
    ssize_t n = pread(fd, buf.data() + done, disk_size - done, off_t(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status("InternalError", std::string("journal read failed: ") + std::strerror(n < 0 ? errno : EIO));
    done += size_t(n);
  }
  *h = get_header(buf.data());
  if (kRecordHeaderSize + size_t(h->length) != disk_size || record_crc(buf.data(), h->length) != h->crc)
    return Status("InternalError", "journal record changed on disk (checksum mismatch)");
  return open_payload(buf.data(), *h, fh, keys, offset, payload);
}

}  // namespace shmq::journal
