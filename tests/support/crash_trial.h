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

// After a drain: every free ring is unwedged and lists every slot of its
// class exactly once, and every slot is FREE. Empties the free rings through
// `lane`. Failures name the trial.
void expect_every_slot_free_once(const shm::SegmentView& v, shm::Lane& lane, int64_t trial);

}  // namespace shmq::testing
