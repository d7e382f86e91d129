// The pwrite + fdatasync backend of the journal's I/O seam (io.h).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "broker/journal/io.h"

namespace shmq::journal {
namespace {

class PosixIo final : public JournalIo {
 public:
  explicit PosixIo(size_t capacity)
      : buf_(static_cast<char*>(std::aligned_alloc(4096, (capacity + 4095) / 4096 * 4096))), cap_(capacity) {}
  ~PosixIo() override { std::free(buf_); }
  char* buffer() override { return buf_; }
  size_t capacity() const override { return cap_; }
  int write_sync(int fd, size_t len, off_t off) override {
    size_t done = 0;
    while (done < len) {
      ssize_t n = pwrite(fd, buf_ + done, len - done, off + off_t(done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno;
      if (n == 0) return EIO;
      done += size_t(n);
    }
    return fdatasync(fd) == 0 ? 0 : errno;
  }
  int allocate(int fd, off_t len) override { return posix_fallocate(fd, 0, len); }
  int sync(int fd) override { return fsync(fd) == 0 ? 0 : errno; }
  const char* name() const override { return "pwrite+fdatasync"; }

 private:
  char* buf_;
  size_t cap_;
};

}  // namespace

std::unique_ptr<JournalIo> make_posix_io(size_t capacity) { return std::make_unique<PosixIo>(capacity); }

}  // namespace shmq::journal
