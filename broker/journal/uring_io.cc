// The io_uring backend of the journal's I/O seam (io.h): one registered
// buffer, and per batch a write_fixed linked to a datasync fsync, submitted
// together so a batch costs one io_uring_enter. A short write breaks the
// link: the fsync then completes with -ECANCELED and we report EIO.
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

  int write_sync(int fd, size_t len, off_t off) override {
    io_uring_sqe* w = io_uring_get_sqe(&ring_);
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    if (!w || !s) return EBUSY;
    io_uring_prep_write_fixed(w, fd, buf_, unsigned(len), off, 0);
    w->flags |= IOSQE_IO_LINK;
    w->user_data = 1;
    io_uring_prep_fsync(s, fd, IORING_FSYNC_DATASYNC);
    s->user_data = 2;
    int r = io_uring_submit_and_wait(&ring_, 2);
    if (r < 0) return -r;
    int err = 0;
    for (int i = 0; i < 2; ++i) {
      io_uring_cqe* cqe = nullptr;
      r = io_uring_wait_cqe(&ring_, &cqe);
      if (r < 0) return -r;
      const int res = cqe->res;
      const bool write = cqe->user_data == 1;
      io_uring_cqe_seen(&ring_, cqe);
      if (err) continue;
      if (write && res >= 0 && size_t(res) != len) err = EIO;  // short write
      else if (res == -ECANCELED) err = EIO;
      else if (res < 0) err = -res;
    }
    return err;
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
