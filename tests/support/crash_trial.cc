#include "tests/support/crash_trial.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <set>

#include "shm/crash_point.h"
#include "shm/ring.h"

namespace shmq {
namespace {
int64_t g_countdown = -1;  // per process: the child sets it after fork
}  // namespace

namespace shm {
void crash_point() {
  if (g_countdown > 0 && --g_countdown == 0) raise(SIGKILL);
}
}  // namespace shm

namespace testing {

bool run_crash_trial(int64_t k, const std::function<void()>& script) {
  pid_t pid = fork();
  if (pid == 0) {
    g_countdown = k;
    script();
    _exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  if (WIFEXITED(st)) {
    EXPECT_EQ(WEXITSTATUS(st), 0);
    return true;
  }
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  return false;
}

shm::Geometry small_geometry() {
  shm::Geometry g;
  g.counts[0] = 8;
  g.counts[1] = 4;
  g.counts[2] = 2;
  g.counts[3] = 1;
  return g;
}

void expect_every_slot_free_once(const shm::SegmentView& v, shm::Lane& lane, int64_t trial) {
  using namespace shm;
  for (uint32_t c = 0; c < kNumClasses; ++c) {
    const SizeClass& k = v.header->classes[c];
    std::multiset<uint64_t> listed;
    uint64_t value;
    while (ring_pop(v.free[c], lane, &value, [](uint64_t) {}))
      if (value != kTombstone) listed.insert(value);
    lane.op.store(0);
    EXPECT_EQ(v.free[c].pos->head.load(), v.free[c].pos->tail.load())
        << "trial " << trial << ": free ring " << c << " wedged";
    for (uint32_t s = k.first_slot; s < k.first_slot + k.count; ++s) {
      EXPECT_EQ(state_of(v.slot(s).state.load()), SlotState::kFree) << "trial " << trial << " slot " << s;
      EXPECT_EQ(listed.count(s), 1u) << "trial " << trial << ": slot " << s << " leaked or listed twice";
    }
    EXPECT_EQ(listed.size(), k.count) << "trial " << trial;
  }
}

}  // namespace testing
}  // namespace shmq
