#include "broker/journal/fault_io.h"

#include <cerrno>

namespace shmq::journal {
namespace {

class FaultyIo final : public JournalIo {
 public:
  FaultyIo(std::unique_ptr<JournalIo> inner, int err, int fail_after)
      : inner_(std::move(inner)), err_(err), fail_after_(fail_after) {}
  char* buffer() override { return inner_->buffer(); }
  size_t capacity() const override { return inner_->capacity(); }
  int write_sync(int fd, size_t len, off_t off) override {
    if (writes_ >= fail_after_) {
      if (len > 1) inner_->write_sync(fd, len / 2, off);
      return err_;
    }
    ++writes_;
    return inner_->write_sync(fd, len, off);
  }
  int allocate(int fd, off_t len) override {
    return writes_ >= fail_after_ && err_ == ENOSPC ? ENOSPC : inner_->allocate(fd, len);
  }
  int sync(int fd) override { return inner_->sync(fd); }
  const char* name() const override { return "fault-injecting"; }

 private:
  std::unique_ptr<JournalIo> inner_;
  int err_;
  int fail_after_;
  int writes_ = 0;
};

}  // namespace

std::unique_ptr<JournalIo> make_faulty_io(std::unique_ptr<JournalIo> inner, int err, int fail_after) {
  return std::make_unique<FaultyIo>(std::move(inner), err, fail_after);
}

}  // namespace shmq::journal
