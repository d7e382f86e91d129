#include "tests/support/broker_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "broker/registry.h"

namespace shmq::testing {

const char* broker_path() { return SHMQ_BROKER_PATH; }
const char* cli_path() { return SHMQ_CLI_PATH; }

BrokerProcess::BrokerProcess(std::vector<std::string> extra_args) : args_(std::move(extra_args)) {
  char tmpl[] = "/tmp/shmq-test-XXXXXX";
  char* d = mkdtemp(tmpl);
  if (!d) {
    std::perror("mkdtemp");
    std::abort();
  }
  dir_ = d;
  socket_ = dir_ + "/broker.sock";
  start();
}

BrokerProcess::~BrokerProcess() {
  terminate();
  // Remove this instance's segments: they outlive the broker on purpose.
  const std::string prefix = "shmq-" + broker::instance_tag(socket_) + "-";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm", ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) std::filesystem::remove(e.path(), ec);
  std::filesystem::remove_all(dir_, ec);
}

void BrokerProcess::start() {
  std::vector<std::string> argv = {broker_path(), "--socket", socket_, "--data-dir", dir_ + "/data",
                                   "--test-clock", "--log-level", "warn"};
  argv.insert(argv.end(), args_.begin(), args_.end());
  pid_ = fork();
  if (pid_ == 0) {
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  for (int i = 0; i < 1000; ++i) {
    auto c = Client::connect(socket_);
    if (c.ok()) return;
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      ADD_FAILURE() << "shmq-broker exited at start";
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "shmq-broker did not come up on " << socket_;
}

void BrokerProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void BrokerProcess::terminate() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 500; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill9();
}

std::shared_ptr<Client> BrokerProcess::connect() const {
  auto c = Client::connect(socket_);
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? c.value() : nullptr;
}

nlohmann::json BrokerProcess::stats() const {
  auto c = Client::connect(socket_);
  if (!c.ok()) return nullptr;
  auto s = c.value()->stats();
  if (!s.ok()) return nullptr;
  return nlohmann::json::parse(s.value(), nullptr, false);
}

nlohmann::json BrokerProcess::queue_stats(const std::string& name) const {
  auto s = stats();
  if (s.is_null()) return nullptr;
  for (const auto& q : s["queues"])
    if (q["name"] == name) return q;
  return nullptr;
}

bool BrokerProcess::wait_lanes_free(const std::string& queue, int timeout_ms) const {
  for (int waited = 0; waited < timeout_ms; waited += 5) {
    auto q = queue_stats(queue);
    // The stats call itself holds no lane: lanes belong to data operations.
    if (!q.is_null() && q["lanes_in_use"] == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

pid_t fork_client(const BrokerProcess& broker, const std::string& queue, const std::function<void(Queue&)>& body) {
  std::fflush(stdout);  // nothing buffered is written twice
  std::fflush(stderr);
  const pid_t child = fork();
  if (child != 0) return child;
  auto c = Client::connect(broker.socket());
  if (!c.ok()) _exit(2);
  auto q = (*c)->open_queue(queue);
  if (!q.ok()) _exit(3);
  body(**q);
  _exit(0);
}

MappedSegment::MappedSegment(const BrokerProcess& broker, const std::string& queue) {
  const nlohmann::json q = broker.queue_stats(queue);
  if (q.is_null()) {
    ADD_FAILURE() << "no queue " << queue << " in the broker's stats";
    return;
  }
  const std::string name = broker::segment_object_name(broker::instance_tag(broker.socket()), q["uid"].get<uint32_t>());
  const int fd = shm_open(name.c_str(), O_RDWR, 0);
  struct stat st {};
  if (fd < 0 || fstat(fd, &st) != 0) {
    ADD_FAILURE() << "segment " << name << ": " << std::strerror(errno);
    if (fd >= 0) close(fd);
    return;
  }
  void* base = mmap(nullptr, size_t(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (base == MAP_FAILED) {
    ADD_FAILURE() << "mmap " << name << ": " << std::strerror(errno);
    return;
  }
  auto v = shm::attach_segment(base, size_t(st.st_size));
  if (!v.ok()) {
    ADD_FAILURE() << "attach " << name << ": " << v.status().to_string();
    munmap(base, size_t(st.st_size));
    return;
  }
  base_ = base;
  size_ = size_t(st.st_size);
  view_ = v.value();
}

MappedSegment::~MappedSegment() {
  if (base_) munmap(base_, size_);
}

int run_command(const std::vector<std::string>& argv, std::string* out,
                const std::vector<std::string>& env) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    close(pipefd[0]);
    close(pipefd[1]);
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    execvp(cargv[0], cargv.data());
    _exit(127);
  }
  close(pipefd[1]);
  std::string data;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof(buf))) > 0) data.append(buf, size_t(n));
  close(pipefd[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  if (out) *out = data;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace shmq::testing
