// The kernel IPC peers behind the harness's mechanism interface
// (floor_mechanism.h): what an application would use instead of shmq on one
// machine. No leases: finish() does nothing, so their "cycle" is their one-way.
//
//  UdsMechanism      a SOCK_SEQPACKET socketpair per channel (message
//                    boundaries kept; any number of processes may share an end)
//  PosixMqMechanism  mq_open / mq_send / mq_receive
//  BoostMqMechanism  boost::interprocess::message_queue (a mutex and two
//                    condition variables in shared memory)
//
// Receivers: poll = a blocking receive (how these are used); spin = a
// non-blocking receive in a loop (EAGAIN: nothing yet), which shows the
// syscall cost without the ~23 us wake-up of a sleeping vCPU.
#pragma once

#include <mqueue.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "bench/options.h"

namespace shmq::bench {

class UdsMechanism {
 public:
  static constexpr const char* kName = "uds";
  static constexpr bool kHasLease = false;
  static constexpr bool kMultiProducer = true;
  static constexpr bool kMultiConsumer = true;

  UdsMechanism(const Options& o, int channels);
  ~UdsMechanism();

  class Sender {
   public:
    Sender(int fd, const Options& o)
        : fd_(fd), buffers_(size_t(o.batch), std::string(o.size, 'x')) {}
    std::string& buffer(size_t i) { return buffers_[i]; }
    void send(size_t n);

   private:
    int fd_;
    std::vector<std::string> buffers_;
  };
  class Receiver {
   public:
    Receiver(int fd, const Options& o);
    size_t receive(size_t max);
    std::string_view body(size_t i) const { return {buffers_[i].data(), lengths_[i]}; }
    void finish() {}

   private:
    int fd_;
    bool block_;
    std::vector<std::string> buffers_;
    std::vector<size_t> lengths_;
  };

  Sender sender(int channel) { return Sender(fds_.at(size_t(channel))[0], options_); }
  Receiver receiver(int channel) { return Receiver(fds_.at(size_t(channel))[1], options_); }

 private:
  Options options_;
  std::vector<std::array<int, 2>> fds_;
};

class PosixMqMechanism {
 public:
  static constexpr const char* kName = "posix-mq";
  static constexpr bool kHasLease = false;
  static constexpr bool kMultiProducer = true;
  static constexpr bool kMultiConsumer = true;

  PosixMqMechanism(const Options& o, int channels);
  ~PosixMqMechanism();

  class Sender {
   public:
    Sender(const std::string& name, const Options& o);
    std::string& buffer(size_t i) { return buffers_[i]; }
    void send(size_t n);

   private:
    mqd_t mq_;
    std::vector<std::string> buffers_;
  };
  class Receiver {
   public:
    Receiver(const std::string& name, const Options& o);
    size_t receive(size_t max);
    std::string_view body(size_t i) const { return {buffers_[i].data(), lengths_[i]}; }
    void finish() {}

   private:
    mqd_t blocking_;
    mqd_t nonblocking_;
    bool block_;
    std::vector<std::string> buffers_;
    std::vector<size_t> lengths_;
  };

  Sender sender(int channel) { return Sender(names_.at(size_t(channel)), options_); }
  Receiver receiver(int channel) { return Receiver(names_.at(size_t(channel)), options_); }

 private:
  Options options_;
  std::vector<std::string> names_;
};

class BoostMqMechanism {
 public:
  static constexpr const char* kName = "boost-mq";
  static constexpr bool kHasLease = false;
  static constexpr bool kMultiProducer = true;
  static constexpr bool kMultiConsumer = true;

  BoostMqMechanism(const Options& o, int channels);
  ~BoostMqMechanism();

  struct Queue;  // the boost object, kept out of this header
  class Sender {
   public:
    Sender(const std::string& name, const Options& o);
    std::string& buffer(size_t i) { return buffers_[i]; }
    void send(size_t n);

   private:
    std::shared_ptr<Queue> queue_;
    std::vector<std::string> buffers_;
  };
  class Receiver {
   public:
    Receiver(const std::string& name, const Options& o);
    size_t receive(size_t max);
    std::string_view body(size_t i) const { return {buffers_[i].data(), lengths_[i]}; }
    void finish() {}

   private:
    std::shared_ptr<Queue> queue_;
    bool block_;
    std::vector<std::string> buffers_;
    std::vector<size_t> lengths_;
  };

  Sender sender(int channel) { return Sender(names_.at(size_t(channel)), options_); }
  Receiver receiver(int channel) { return Receiver(names_.at(size_t(channel)), options_); }

 private:
  Options options_;
  std::vector<std::string> names_;
};

}  // namespace shmq::bench
