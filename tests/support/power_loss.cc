#include "tests/support/power_loss.h"

#include <chrono>
#include <filesystem>
#include <thread>

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
