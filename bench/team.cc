#include "bench/team.h"

#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "bench/clock.h"

namespace shmq::bench {
namespace {

volatile sig_atomic_t g_interrupted = 0;
constexpr int kMaxWatched = 64;
volatile pid_t g_watched[kMaxWatched] = {};

void on_interrupt(int) {
  g_interrupted = 1;
  for (int i = 0; i < kMaxWatched; ++i)
    if (g_watched[i] > 0) kill(g_watched[i], SIGTERM);
}

void futex_wait_u32(std::atomic<uint32_t>* w, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAIT, expected, nullptr, nullptr, 0);
}
void futex_wake_u32(std::atomic<uint32_t>* w) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAKE, 1 << 30, nullptr, nullptr, 0);
}

void sleep_ms(double ms) {
  timespec ts{time_t(ms / 1000), long(ms * 1e6) % 1000000000L};
  nanosleep(&ts, nullptr);
}

[[noreturn]] void run_child(Team& team, const Role& role, int index) {
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  try {
    if (role.cpu >= 0) pin_to_cpu(role.cpu);
    role.body(team, index);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmq-bench: %s: %s\n", role.name.c_str(), e.what());
    std::fflush(stderr);
    _exit(1);
  }
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(0);
}

class Children {
 public:
  ~Children() { kill_all(); }
  void add(pid_t p, const std::string& name) {
    pids_.push_back(p);
    names_.push_back(name);
  }
  // Reaps exited children; throws when one failed. Returns how many live.
  size_t reap(const std::string& label) {
    size_t live = 0;
    for (size_t i = 0; i < pids_.size(); ++i) {
      if (pids_[i] <= 0) continue;
      int st = 0;
      pid_t r = waitpid(pids_[i], &st, WNOHANG);
      if (r == 0) {
        ++live;
        continue;
      }
      pids_[i] = -1;
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        kill_all();
        throw std::runtime_error(label + ": " + names_[i] + " failed (" +
                                 (WIFSIGNALED(st) ? "signal " + std::to_string(WTERMSIG(st))
                                                  : "exit " + std::to_string(WEXITSTATUS(st))) +
                                 ")");
      }
    }
    return live;
  }
  void kill_all() {
    for (pid_t& p : pids_) {
      if (p <= 0) continue;
      kill(p, SIGKILL);
      waitpid(p, nullptr, 0);
      p = -1;
    }
  }

 private:
  std::vector<pid_t> pids_;
  std::vector<std::string> names_;
};

class ProgressLine {
 public:
  explicit ProgressLine(std::string label) : label_(std::move(label)), tty_(isatty(2)) {}
  ~ProgressLine() {
    if (printed_ && tty_) std::fprintf(stderr, "\n");
  }
  void update(double elapsed_s, uint64_t messages) {
    if (elapsed_s < 2.0 || elapsed_s < next_) return;
    next_ = elapsed_s + (tty_ ? 1.0 : 2.0);
    std::fprintf(stderr, "%s%s: %.0f s, %llu msgs%s", tty_ ? "\r" : "", label_.c_str(), elapsed_s,
                 (unsigned long long)messages, tty_ ? "   " : "\n");
    std::fflush(stderr);
    printed_ = true;
  }

 private:
  std::string label_;
  bool tty_;
  bool printed_ = false;
  double next_ = 0;
};

uint64_t total_progress(const Team& team, size_t roles) {
  uint64_t sum = 0;
  for (size_t i = 0; i < roles; ++i) sum += team.progress[i].value.load(std::memory_order_relaxed);
  return sum;
}

}  // namespace

void pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0)
    throw std::runtime_error("cannot pin to CPU " + std::to_string(cpu));
}

uint64_t arrive_and_wait(Team& team) {
  team.ready.fetch_add(1, std::memory_order_acq_rel);
  while (team.go.load(std::memory_order_acquire) == 0) futex_wait_u32(&team.go, 0);
  return team.t_go;
}

void run_team(Team& team, const std::vector<Role>& roles, const TeamLimits& limits) {
  if (roles.size() > size_t(kMaxRoles)) throw std::runtime_error("too many processes");
  const uint64_t start = now_ns();
  const uint64_t deadline = start + uint64_t(limits.timeout_s * 1e9);
  Children children;
  std::fflush(stdout);
  std::fflush(stderr);
  for (size_t i = 0; i < roles.size(); ++i) {
    pid_t p = fork();
    if (p < 0) throw std::runtime_error("fork failed");
    if (p == 0) run_child(team, roles[i], int(i));
    children.add(p, roles[i].name);
  }
  auto check = [&] {
    if (interrupted()) throw std::runtime_error("interrupted");
    if (now_ns() > deadline)
      throw std::runtime_error(limits.label + ": timed out after " +
                               std::to_string(int(limits.timeout_s)) + " s");
  };
  while (team.ready.load(std::memory_order_acquire) < roles.size()) {
    children.reap(limits.label);
    check();
    sleep_ms(1);
  }
  team.t_go = now_ns();
  team.go.store(1, std::memory_order_release);
  futex_wake_u32(&team.go);

  const uint64_t stop_at = limits.duration_s > 0
                               ? team.t_go + uint64_t((limits.duration_s + limits.warmup_s) * 1e9)
                               : UINT64_MAX;
  ProgressLine progress(limits.label);
  while (children.reap(limits.label) > 0) {
    check();
    const uint64_t now = now_ns();
    if (now >= stop_at) team.stop.store(1, std::memory_order_release);
    progress.update(double(now - team.t_go) / 1e9, total_progress(team, roles.size()));
    const double to_stop_ms =
        stop_at == UINT64_MAX ? 50 : double(stop_at - std::min(stop_at, now)) / 1e6;
    sleep_ms(std::clamp(to_stop_ms, 0.2, 50.0));
  }
}

void watch_child(pid_t pid) {
  for (int i = 0; i < kMaxWatched; ++i)
    if (g_watched[i] == 0) {
      g_watched[i] = pid;
      return;
    }
}

void unwatch_child(pid_t pid) {
  for (int i = 0; i < kMaxWatched; ++i)
    if (g_watched[i] == pid) g_watched[i] = 0;
}

bool interrupted() { return g_interrupted != 0; }

void install_interrupt_handlers() {
  struct sigaction sa = {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace shmq::bench
