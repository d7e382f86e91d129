// Crash points: named instants in the lock-free steps where a test may kill
// the process (SIGKILL) to check that the broker's repair (repair.h) copes
// with a death exactly there. Compiled in only for the crash-point test
// build (-DSHMQ_CRASH_POINTS); in every other build the macro is empty.
#pragma once

#ifdef SHMQ_CRASH_POINTS
namespace shmq::shm {
// Counts hits; raises SIGKILL on the hit a test asked for.
void crash_point();
}  // namespace shmq::shm
#define SHMQ_CRASH_POINT() ::shmq::shm::crash_point()
#else
#define SHMQ_CRASH_POINT() \
  do {                     \
  } while (0)
#endif
