// Futex waits and wakes on a 32-bit word in shared memory. Shared (not
// PRIVATE) futexes: the kernel keys them by the page, so processes that map
// the word at different addresses meet.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <ctime>

namespace shmq::shm {

// Sleeps while *word == expected, at most timeout_ms. Spurious returns happen;
// callers re-check their condition. Any process.
inline void futex_wait(std::atomic<uint32_t>* word, uint32_t expected, uint64_t timeout_ms) {
  timespec ts{time_t(timeout_ms / 1000), long(timeout_ms % 1000) * 1000000L};
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}

// The same, with a timeout in microseconds.
inline void futex_wait_us(std::atomic<uint32_t>* word, uint32_t expected, uint64_t timeout_us) {
  timespec ts{time_t(timeout_us / 1000000), long(timeout_us % 1000000) * 1000L};
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}

inline void futex_wake_all(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace shmq::shm
