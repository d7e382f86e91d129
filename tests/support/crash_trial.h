// Crash-point trials, shared by the tests built against the shm code with
// crash points compiled in (shmq_shm_crash): a child process runs a script
// and is SIGKILLed at its k-th SHMQ_CRASH_POINT(); the parent then repairs and
// checks. Link tests/support/crash_trial.cc, which defines crash_point().
#pragma once

#include <cstdint>
#include <functional>

#include "shm/segment.h"

namespace shmq::testing {

// Runs `script` in a child killed at its k-th crash point. Returns true when
// the child ran to the end (k was past its last point); fails the test when
// the child died any other way.
bool run_crash_trial(int64_t k, const std::function<void()>& script);

// A segment small enough to check slot by slot: 8 / 4 / 2 / 1 slots.
shm::Geometry small_geometry();

// The lanes a crash trial uses besides the broker's: the parent's (owner 2)
// and the child's (owner 3, the one killed).
inline constexpr uint32_t kTrialParentLane = 1;
inline constexpr uint32_t kTrialChildLane = 2;

// What a crash trial works on: a small_geometry() segment in shared
// anonymous memory (a forked child's steps are the parent's to check),
// visibility timeout 30 s, retention 14 days, the trial lanes owned; and a
// zeroed T beside it, in shared memory too, where the child records what it
// got done (written only after a call returned).
template <class T>
class TrialSegment {
 public:
  explicit TrialSegment(bool fifo = false, uint32_t queue_uid = 7, uint64_t secret = 0x1234);
  ~TrialSegment();
  TrialSegment(const TrialSegment&) = delete;
  TrialSegment& operator=(const TrialSegment&) = delete;
  const shm::SegmentView& v() const { return v_; }
  shm::Lane& lane(uint32_t i) const { return v_.lanes[i]; }
  T& record() const { return *record_; }

 private:
  size_t size_;
  void* base_;
  shm::SegmentView v_;
  T* record_;
};

// After a drain: every free ring is unwedged and lists every slot of its
// class exactly once, and every slot is FREE. Empties the free rings through
// `lane`. Failures name the trial.
void expect_every_slot_free_once(const shm::SegmentView& v, shm::Lane& lane, int64_t trial);

}  // namespace shmq::testing

#include "tests/support/crash_trial_segment.h"
