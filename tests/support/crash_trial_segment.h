// TrialSegment's members (crash_trial.h): a template, so each test picks the
// record its child writes.
#pragma once

#include <sys/mman.h>

#include <cstring>

#include "tests/support/crash_trial.h"

namespace shmq::testing {

template <class T>
TrialSegment<T>::TrialSegment(bool fifo, uint32_t queue_uid, uint64_t secret) {
  const shm::Geometry g = small_geometry();
  size_ = shm::segment_size(g, fifo);
  base_ = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  v_ = shm::format_segment(base_, size_, g, queue_uid, fifo, secret);
  shm::QueueConfig& c = v_.header->config;
  c.visibility_timeout_s = 30;
  c.retention_s = 1209600;
  c.max_message_size = 1048576;
  v_.lanes[shm::kBrokerLane].owner = shm::kBrokerClientId;
  v_.lanes[kTrialParentLane].owner = 2;
  v_.lanes[kTrialChildLane].owner = 3;
  record_ = static_cast<T*>(mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  std::memset(static_cast<void*>(record_), 0, sizeof(T));
}

template <class T>
TrialSegment<T>::~TrialSegment() {
  munmap(base_, size_);
  munmap(record_, sizeof(T));
}

}  // namespace shmq::testing
