// Memory that forked processes share: an anonymous MAP_SHARED mapping made
// before fork(). What lives here must hold no pointer into one process's
// memory. The parent owns the mapping; children inherit it and leave with
// _exit(), so only the parent ever unmaps it.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <new>
#include <stdexcept>
#include <utility>

namespace shmq::bench {

class SharedBytes {
 public:
  explicit SharedBytes(size_t size) : size_(size) {
    base_ = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (base_ == MAP_FAILED) throw std::runtime_error("mmap of shared memory failed");
  }
  ~SharedBytes() {
    if (base_) munmap(base_, size_);
  }
  SharedBytes(SharedBytes&& o) noexcept : base_(std::exchange(o.base_, nullptr)), size_(o.size_) {}
  SharedBytes(const SharedBytes&) = delete;
  SharedBytes& operator=(const SharedBytes&) = delete;

  char* data() const { return static_cast<char*>(base_); }
  size_t size() const { return size_; }

 private:
  void* base_;
  size_t size_;
};

// One T, value-initialised, in shared memory.
template <class T>
class SharedObject {
 public:
  SharedObject() : bytes_(sizeof(T)) { new (bytes_.data()) T(); }
  T* get() const { return reinterpret_cast<T*>(bytes_.data()); }
  T* operator->() const { return get(); }
  T& operator*() const { return *get(); }

 private:
  SharedBytes bytes_;
};

}  // namespace shmq::bench
