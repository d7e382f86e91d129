// shmq end to end: the public client library (shmq/client.h) against a real
// shmq-broker, behind the harness's mechanism interface (floor_mechanism.h).
//
// Each process connects its own Client and opens the queue by name, as an
// application would. Sends that find the queue full (OverLimit) back off and
// retry; any other error fails the run.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bench/options.h"
#include "bench/server_process.h"
#include "shmq/client.h"

namespace shmq::bench {

// The broker of one invocation: started by the tool in a temporary directory
// (the built shmq-broker, found through a compile definition, or
// --broker PATH), or an already running one given with --socket.
class Broker {
 public:
  explicit Broker(const Options& o);
  ~Broker();
  const std::string& socket() const { return socket_; }

 private:
  std::unique_ptr<TempDir> dir_;
  ServerProcess process_;
  std::string socket_;
};

class ShmqMechanism {
 public:
  static constexpr const char* kName = "shmq";
  static constexpr bool kHasLease = true;
  static constexpr bool kMultiProducer = true;
  static constexpr bool kMultiConsumer = true;

  // Creates `channels` queues. Parent, before fork.
  ShmqMechanism(const Broker& broker, const Options& o, int channels);
  // Deletes them.
  ~ShmqMechanism();

  class Sender {
   public:
    Sender(std::shared_ptr<Client> c, std::shared_ptr<Queue> q, const Options& o);
    std::string& buffer(size_t i) { return entries_[i].body; }
    void send(size_t n);

   private:
    void send_one(const std::string& body);
    void next_fifo_ids();
    std::shared_ptr<Client> client_;
    std::shared_ptr<Queue> queue_;
    std::vector<SendBatchEntry> entries_;
    bool send_each_;
    int groups_;  // FIFO: message groups, 0 for a standard queue
    std::vector<std::string> group_names_;
    std::string dedup_prefix_, group_, dedup_;
    uint64_t sent_ = 0;
  };

  class Receiver {
   public:
    Receiver(std::shared_ptr<Client> c, std::shared_ptr<Queue> q, const Options& o);
    size_t receive(size_t max);
    void stop_waiting() { wait_s_ = 0; }
    std::string_view body(size_t i) const { return messages_[i].body; }
    void finish();

   private:
    std::shared_ptr<Client> client_;
    std::shared_ptr<Queue> queue_;
    Message messages_[10];
    size_t n_ = 0;
    int wait_s_;
    bool remove_batch_;
    ReceiptHandle handles_[10];
  };

  Sender sender(int channel);
  Receiver receiver(int channel);

 private:
  std::pair<std::shared_ptr<Client>, std::shared_ptr<Queue>> open(int channel) const;
  std::string socket_;
  Options options_;
  std::shared_ptr<Client> admin_;
  std::vector<std::string> names_;
};

}  // namespace shmq::bench
