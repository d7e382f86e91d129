#include "tests/support/crash_trial.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "shm/crash_point.h"

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

}  // namespace testing
}  // namespace shmq
