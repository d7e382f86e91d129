// The journal's I/O seam: every write and sync the writer makes goes through
// a JournalIo, so tests replace it (FaultyIo in tests/journal) to inject EIO,
// ENOSPC and short writes, as LevelDB's Env does.
//
// Two real backends:
//  - UringIo: io_uring, one registered buffer; each batch is a write_fixed
//    through the ring, then fdatasync(2) (a linked IORING_OP_FSYNC runs in an
//    io-wq worker: one more thread hop per commit, measured 1.6-2.5x slower).
//  - PosixIo: pwrite + fdatasync, for where io_uring is unavailable (EPERM or
//    ENOSYS from io_uring_setup: kernel.io_uring_disabled, a container's
//    seccomp profile, an old kernel).
// make_io() tries io_uring first and falls back with one log line.
//
// Thread safety: one thread (the journal writer) uses an instance.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>

namespace shmq::journal {

class JournalIo {
 public:
  virtual ~JournalIo() = default;
  // The buffer write_sync writes from (registered with the kernel for
  // io_uring); capacity() bytes.
  virtual char* buffer() = 0;
  virtual size_t capacity() const = 0;
  // Writes buffer()[0, len) at offset off of fd and makes it durable
  // (fdatasync). Returns 0 or a positive errno (EIO for a short write).
  virtual int write_sync(int fd, size_t len, off_t off) = 0;
  // Reserves [0, len) of fd on disk (fallocate). 0 or errno.
  virtual int allocate(int fd, off_t len) = 0;
  // fsync of a file or directory (file creation, removal, header). 0 or errno.
  virtual int sync(int fd) = 0;
  virtual const char* name() const = 0;
};

std::unique_ptr<JournalIo> make_posix_io(size_t capacity);
// Null when io_uring cannot be set up; *why names the error.
std::unique_ptr<JournalIo> make_uring_io(size_t capacity, std::string* why);
// io_uring unless prefer_posix or it is unavailable (logged once).
std::unique_ptr<JournalIo> make_io(size_t capacity, bool prefer_posix);

}  // namespace shmq::journal
