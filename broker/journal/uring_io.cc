// The io_uring backend of the journal's I/O seam (io.h): one registered
// buffer; per batch a write_fixed through the ring, then fdatasync (see
// write_sync for why the sync is not a linked SQE). A short write is EIO.
#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

#include "broker/journal/io.h"

namespace shmq::journal {
namespace {

class UringIo final : public JournalIo {
 public:
  ~UringIo() override {
    if (ring_ok_) io_uring_queue_exit(&ring_);
    std::free(buf_);
  }
  int init(size_t capacity) {
    cap_ = capacity;
    buf_ = static_cast<char*>(std::aligned_alloc(4096, (capacity + 4095) / 4096 * 4096));
    if (!buf_) return ENOMEM;
    int r = io_uring_queue_init(8, &ring_, 0);
    if (r < 0) return -r;
    ring_ok_ = true;
    iovec iov{buf_, cap_};
    r = io_uring_register_buffers(&ring_, &iov, 1);
    return r < 0 ? -r : 0;
  }
  char* buffer() override { return buf_; }
  size_t capacity() const override { return cap_; }

  // The write goes through the ring (inline: a buffered write to ext4 does
  // not block here); the fdatasync is a plain syscall in this thread. A
  // linked IORING_OP_FSYNC, which the first version used, always runs in an
  // io-wq worker: a thread hop and a wake-up per commit, which cost 1.6-2.5x
  // one fdatasync at p50 for a lone sync sender where this costs 1.2x
  // (bench/RESULTS.md, session 10). The ring pays off once commits overlap
  // (two in flight), which the journal does not do yet.
  int write_sync(int fd, size_t len, off_t off) override {
    io_uring_sqe* w = io_uring_get_sqe(&ring_);
    if (!w) return EBUSY;
    io_uring_prep_write_fixed(w, fd, buf_, unsigned(len), off, 0);
    int r = io_uring_submit_and_wait(&ring_, 1);
    if (r < 0) return -r;
    io_uring_cqe* cqe = nullptr;
    r = io_uring_wait_cqe(&ring_, &cqe);
    if (r < 0) return -r;
    const int res = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    if (res < 0) return -res;
    if (size_t(res) != len) return EIO;  // a short write
    return fdatasync(fd) == 0 ? 0 : errno;
  }
  int allocate(int fd, off_t len) override { return posix_fallocate(fd, 0, len); }
  int sync(int fd) override { return fsync(fd) == 0 ? 0 : errno; }
  const char* name() const override { return "io_uring"; }

 private:
  io_uring ring_{};
  bool ring_ok_ = false;
  char* buf_ = nullptr;
  size_t cap_ = 0;
};

}  // namespace

std::unique_ptr<JournalIo> make_uring_io(size_t capacity, std::string* why) {
  auto io = std::make_unique<UringIo>();
  if (int e = io->init(capacity); e != 0) {
    *why = std::strerror(e);
    return nullptr;
  }
  return io;
}

std::unique_ptr<JournalIo> make_io(size_t capacity, bool prefer_posix) {
  if (!prefer_posix) {
    std::string why;
    if (auto io = make_uring_io(capacity, &why)) return io;
    spdlog::warn("journal: io_uring unavailable ({}); using pwrite + fdatasync", why);
  }
  return make_posix_io(capacity);
}

}  // namespace shmq::journal
