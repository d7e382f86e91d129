#include "tests/support/power_loss.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/registry.h"
#include "tests/support/queue_helpers.h"

namespace shmq::testing {

void remove_segments(const BrokerProcess& b) {
  const std::string prefix = "shmq-" + broker::instance_tag(b.socket()) + "-";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm", ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) std::filesystem::remove(e.path(), ec);
}

void power_loss(BrokerProcess& b) {
  b.kill9();
  remove_segments(b);
  b.start();
}

std::string kill_during_sends(BrokerProcess& b, const std::function<void(int fd)>& sender, int min_acks) {
  int p[2];
  if (pipe(p) != 0) return {};
  pid_t child = fork();
  if (child == 0) {
    close(p[0]);
    sender(p[1]);
    _exit(0);
  }
  close(p[1]);
  std::string acks;
  char buf[4096];
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::count(acks.begin(), acks.end(), '\n') < min_acks && std::chrono::steady_clock::now() < until) {
    // poll first: a sender that neither writes nor exits must not block
    // the test past its 5 s.
    pollfd pfd{p[0], POLLIN, 0};
    if (poll(&pfd, 1, 100) == 0) continue;
    ssize_t n = read(p[0], buf, sizeof(buf));
    if (n <= 0) break;
    acks.append(buf, size_t(n));
  }
  b.kill9();
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ssize_t n;
  while ((n = read(p[0], buf, sizeof(buf))) > 0) acks.append(buf, size_t(n));
  close(p[0]);
  return acks;
}

bool wait_journaled(const BrokerProcess& b, const std::string& queue) {
  for (int i = 0; i < 2000; ++i) {
    auto s = b.queue_stats(queue);
    if (!s.is_null() && s["journal_pending"] == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

std::map<std::string, std::string> drain(Queue& q) {
  std::map<std::string, std::string> out;
  for (;;) {
    auto got = receive_now(q, 10, 600);
    if (got.empty()) return out;
    for (auto& m : got) out[m.body_copy()] = m.message_id.str();
  }
}

}  // namespace shmq::testing
