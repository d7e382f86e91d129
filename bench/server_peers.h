// The server peers, each started by the tool for one invocation and stopped
// at its end, doing the same lease-and-delete work as shmq:
//
//  Redis as a reliable queue, over a Unix socket with hiredis:
//    send  LPUSH q body
//    lease BLMOVE q processing RIGHT LEFT 20 (poll) | LMOVE ... (spin)
//    delete LREM processing 1 body
//  beanstalkd over TCP loopback, with a small client for its text protocol:
//    send  put 0 0 60 <bytes>;  lease reserve-with-timeout 20 | 0;  delete <id>
//
// One request at a time (batch 1), or pipelined (batch N: N commands written
// before the N replies are read). Missing programs make the run a "skipped"
// record (SkipRun), never a failure.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/options.h"
#include "bench/server_process.h"

struct redisContext;
struct redisReply;

namespace shmq::bench {

bool have_hiredis();

class RedisServer {
 public:
  RedisServer();  // throws SkipRun when redis-server or hiredis is missing
  ~RedisServer();
  const std::string& socket() const { return socket_; }

 private:
  std::unique_ptr<TempDir> dir_;
  ServerProcess process_;
  std::string socket_;
};

class RedisMechanism {
 public:
  static constexpr const char* kName = "redis";
  static constexpr bool kHasLease = true;
  static constexpr bool kMultiProducer = true;
  static constexpr bool kMultiConsumer = true;

  RedisMechanism(const RedisServer& server, const Options& o, int channels);

  struct Connection;  // a hiredis context, freed with the object
  class Sender {
   public:
    Sender(std::shared_ptr<Connection> c, std::string key, const Options& o);
    std::string& buffer(size_t i) { return buffers_[i]; }
    void send(size_t n);

   private:
    std::shared_ptr<Connection> c_;
    std::string key_;
    std::vector<std::string> buffers_;
  };
  class Receiver {
   public:
    Receiver(std::shared_ptr<Connection> c, std::string key, const Options& o);
    ~Receiver();
    Receiver(Receiver&&) = default;
    size_t receive(size_t max);
    std::string_view body(size_t i) const;
    void finish();

   private:
    std::shared_ptr<Connection> c_;
    std::string key_;
    std::string processing_;
    bool block_;
    std::vector<redisReply*> leased_;
  };

  Sender sender(int channel);
  Receiver receiver(int channel);

 private:
  std::string socket_;
  Options options_;
  std::vector<std::string> keys_;
};

class BeanstalkdServer {
 public:
  BeanstalkdServer();  // throws SkipRun when beanstalkd is missing
  ~BeanstalkdServer();
  int port() const { return port_; }

 private:
  std::unique_ptr<TempDir> dir_;
  ServerProcess process_;
  int port_ = 0;
};

class BeanstalkdMechanism {
 public:
  static constexpr const char* kName = "beanstalkd";
  static constexpr bool kHasLease = true;
  static constexpr bool kMultiProducer = true;
  static constexpr bool kMultiConsumer = true;

  BeanstalkdMechanism(const BeanstalkdServer& server, const Options& o, int channels);

  class Connection;  // a TCP connection with a read buffer
  class Sender {
   public:
    Sender(std::shared_ptr<Connection> c, const Options& o);
    std::string& buffer(size_t i) { return buffers_[i]; }
    void send(size_t n);

   private:
    std::shared_ptr<Connection> c_;
    std::vector<std::string> buffers_;
    std::string out_;
  };
  class Receiver {
   public:
    Receiver(std::shared_ptr<Connection> c, const Options& o);
    size_t receive(size_t max);
    std::string_view body(size_t i) const { return bodies_[i]; }
    void finish();

   private:
    std::shared_ptr<Connection> c_;
    bool block_;
    std::vector<std::string> bodies_;
    std::vector<std::string> ids_;
    size_t n_ = 0;
    std::string out_;
  };

  Sender sender(int channel);
  Receiver receiver(int channel);

 private:
  int port_;
  Options options_;
  std::vector<std::string> tubes_;
};

}  // namespace shmq::bench
