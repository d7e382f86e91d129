// A real shmq-broker for a test: its own socket, data directory and segment
// names in a fresh temporary directory, started as a child process, stopped
// (and its segments removed) when the object goes away.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shm/segment.h"
#include "shmq/client.h"

namespace shmq::testing {

class BrokerProcess {
 public:
  // extra_args go to shmq-broker; --test-clock is always on.
  explicit BrokerProcess(std::vector<std::string> extra_args = {});
  ~BrokerProcess();
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  // Starts the broker and waits until its socket answers. Aborts the test
  // process with a message when it does not come up within 10 s.
  void start();
  void kill9();      // SIGKILL, reaped
  void terminate();  // SIGTERM, reaped; returns when it exited
  void restart() { kill9(); start(); }

  pid_t pid() const { return pid_; }
  const std::string& socket() const { return socket_; }
  const std::string& dir() const { return dir_; }
  const std::vector<std::string>& args() const { return args_; }
  // The extra arguments of the next start() (e.g. another journal key).
  void set_args(std::vector<std::string> args) { args_ = std::move(args); }

  // A connected client (fails the test when it cannot connect).
  std::shared_ptr<Client> connect() const;
  // `shmq stats` as JSON.
  nlohmann::json stats() const;
  // Stats of one queue (null when missing).
  nlohmann::json queue_stats(const std::string& name) const;
  // Waits until no lane of the queue is held (every dead client reaped).
  bool wait_lanes_free(const std::string& queue, int timeout_ms = 5000) const;

 private:
  std::string dir_;
  std::string socket_;
  std::vector<std::string> args_;
  pid_t pid_ = -1;
};

// Forks a client process: it connects to `broker`, opens `queue`, runs
// body(queue) and exits 0 (2 or 3 when it cannot connect or open). Returns
// its pid; the test kills and reaps it.
pid_t fork_client(const BrokerProcess& broker, const std::string& queue, const std::function<void(Queue&)>& body);

// A queue's segment mapped into the test process by its name (the broker
// instance's prefix and the queue's uid from `shmq stats`), to look at or
// stage what a client in some state would leave in its header. ok() is
// false (and the test has failed) when the queue or its segment is missing.
class MappedSegment {
 public:
  MappedSegment(const BrokerProcess& broker, const std::string& queue);
  ~MappedSegment();
  MappedSegment(const MappedSegment&) = delete;
  MappedSegment& operator=(const MappedSegment&) = delete;
  bool ok() const { return base_ != nullptr; }
  const shm::SegmentView& view() const { return view_; }

 private:
  void* base_ = nullptr;
  size_t size_ = 0;
  shm::SegmentView view_;
};

// Path of a built binary, from the build system.
const char* broker_path();
const char* cli_path();

// Runs a command line, returns its exit status and fills *out with stdout.
int run_command(const std::vector<std::string>& argv, std::string* out,
                const std::vector<std::string>& env = {});

}  // namespace shmq::testing
