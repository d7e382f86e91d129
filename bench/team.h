// A measurement's processes: one forked child per role (producer, consumer,
// waiter, ...), released together, stopped together, bounded in time.
//
// The parent and the children meet in a `Team` block of shared memory (made
// before fork). Children write only their own fields (`progress[i]`,
// `results[i]`) and the words their protocol names; the parent writes `go`,
// `t_go` and `stop`.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench/histogram.h"

namespace shmq::bench {

inline constexpr int kMaxRoles = 16;

struct alignas(64) PaddedCounter {
  std::atomic<uint64_t> value{0};
};

// What a throughput role reports: its message count and its measuring window.
struct RoleResult {
  uint64_t total = 0;  // messages sent (producer) or received (consumer), all of them
  uint64_t window_begin_ns = 0;
  uint64_t window_begin_count = 0;
  uint64_t window_end_ns = 0;
  uint64_t window_end_count = 0;
};

struct Team {
  alignas(64) std::atomic<uint32_t> ready{0};  // roles that finished their set-up
  alignas(64) std::atomic<uint32_t> go{0};     // parent: 1 = start (a futex word)
  uint64_t t_go = 0;                           // parent, before go
  alignas(64) std::atomic<uint32_t> stop{0};   // parent: the duration is over
  // Latency pacing: the consumer stores seq + 1 once it is done with seq.
  alignas(64) std::atomic<uint64_t> ack{0};
  alignas(64) std::atomic<uint32_t> producers_done{0};
  // Futex mode: the waiter sleeps on `futex_word`; the waker stores its
  // timestamp in `wake_ns` before bumping the word.
  alignas(64) std::atomic<uint32_t> futex_word{0};
  alignas(64) std::atomic<uint64_t> wake_ns{0};
  PaddedCounter progress[kMaxRoles];  // role i: messages so far
  RoleResult results[kMaxRoles];      // role i, at its end
  Histogram hist[3];                  // the measuring roles, at their end
};

struct Role {
  std::string name;
  int cpu = -1;  // pinned when >= 0
  std::function<void(Team&, int index)> body;
};

struct TeamLimits {
  std::string label;      // for the progress line and errors
  double duration_s = 0;  // > 0: `stop` is raised this long after go (+ warmup_s)
  double warmup_s = 0;
  double timeout_s = 120;  // the whole run, from fork to the last exit
};

// Forks a child per role, waits until every role is ready, releases them,
// raises `stop` when the duration is over, and waits for all to exit. Prints
// a progress line on stderr once the run is longer than 2 s. Throws when a
// role fails or the run times out (the other roles are killed).
// REQUIRES: roles.size() <= kMaxRoles. Parent only.
void run_team(Team& team, const std::vector<Role>& roles, const TeamLimits& limits);

// In a role, after its set-up: counts it ready and sleeps until go. Returns
// the parent's go time.
uint64_t arrive_and_wait(Team& team);

void pin_to_cpu(int cpu);

// Processes (servers, the broker) to kill if the tool is interrupted.
void watch_child(pid_t pid);
void unwatch_child(pid_t pid);
// True once SIGINT or SIGTERM arrived; long waits check it and throw.
bool interrupted();
void install_interrupt_handlers();

}  // namespace shmq::bench
