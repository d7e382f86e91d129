// Private parts of Client and Queue shared by client.cc and queue.cc.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shm/segment.h"
#include "shmq/client.h"

namespace shmq {

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
  std::mutex mu;  // one request at a time on the socket
  int sock = -1;
  std::string path;
  uint32_t client_id = 0;
  uint64_t start_time = 0;

  ~Impl();
  // Sends a request and waits for the reply; reconnects (and says hello with
  // the same client id) once if the broker went away. *fd gets a passed fd.
  Result<nlohmann::json> call(nlohmann::json request, int* fd = nullptr);
  Status hello_locked();
  Status connect_locked();
  Result<std::shared_ptr<Queue>> make_queue(const nlohmann::json& reply, int fd);
};

struct Queue::Impl : std::enable_shared_from_this<Queue::Impl> {
  std::weak_ptr<Client::Impl> client;
  uint64_t id = 0;  // process-unique, keys the per-thread lane cache
  void* map = nullptr;
  size_t size = 0;
  shm::SegmentView view;
  uint32_t client_id = 0;
  uint32_t sender_uid = 0;
  pid_t pid = 0;
  uint64_t start_time = 0;

  std::mutex lanes_mu;
  std::vector<uint32_t> lanes;  // claimed by this process's threads

  // FIFO ReceiveRequestAttemptId -> what that receive returned, for 5 minutes.
  struct Attempt {
    uint64_t at_ms = 0;
    std::vector<ReceiptHandle> handles;
  };
  std::mutex attempts_mu;
  std::map<std::string, Attempt, std::less<>> attempts;

  ~Impl();
  // This thread's lane, claimed on first use. nullptr when all are taken.
  shm::Lane* lane();
  void release_lane(uint32_t lane);
};

// This process's start time in clock ticks since boot (/proc/self/stat field 22).
uint64_t process_start_time(pid_t pid);

}  // namespace shmq
