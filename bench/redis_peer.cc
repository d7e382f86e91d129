// Redis as a reliable queue (server_peers.h). Built with hiredis when the
// library was found at configure time (SHMQ_BENCH_HIREDIS); otherwise every
// Redis run is reported as skipped.
#include <unistd.h>

#include <stdexcept>

#include "bench/server_peers.h"

#ifdef SHMQ_BENCH_HIREDIS
#include <hiredis/hiredis.h>
#endif

namespace shmq::bench {

#ifdef SHMQ_BENCH_HIREDIS

bool have_hiredis() { return true; }

struct RedisMechanism::Connection {
  explicit Connection(const std::string& socket) : ctx(redisConnectUnix(socket.c_str())) {
    if (!ctx || ctx->err)
      throw std::runtime_error("redis connect: " + std::string(ctx ? ctx->errstr : "oom"));
  }
  ~Connection() { redisFree(ctx); }
  // Sends the appended commands, returns the next reply. Throws on an error.
  redisReply* next_reply() {
    void* r = nullptr;
    if (redisGetReply(ctx, &r) != REDIS_OK || !r)
      throw std::runtime_error("redis: " + std::string(ctx->errstr));
    auto* reply = static_cast<redisReply*>(r);
    if (reply->type == REDIS_REPLY_ERROR) {
      std::string e(reply->str, reply->len);
      freeReplyObject(reply);
      throw std::runtime_error("redis: " + e);
    }
    return reply;
  }
  void expect_n(size_t n) {
    for (size_t i = 0; i < n; ++i) freeReplyObject(next_reply());
  }
  redisContext* ctx;
};

namespace {

bool redis_answers(const std::string& socket) {
  redisContext* c = redisConnectUnix(socket.c_str());
  bool ok = false;
  if (c && !c->err) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
    ok = r && r->type == REDIS_REPLY_STATUS;
    if (r) freeReplyObject(r);
  }
  if (c) redisFree(c);
  return ok;
}

}  // namespace

RedisServer::RedisServer() {
  const std::string path = find_program("redis-server");
  if (path.empty()) throw SkipRun("redis-server not found (apt-get install -y redis-server)");
  dir_ = std::make_unique<TempDir>("shmq-bench-redis");
  socket_ = dir_->path() + "/redis.sock";
  process_.start(
      {path, "--port", "0", "--unixsocket", socket_, "--unixsocketperm", "700", "--save", "",
       "--appendonly", "no", "--dir", dir_->path(), "--daemonize", "no", "--loglevel", "warning"},
      dir_->path() + "/redis.log", [&] { return redis_answers(socket_); });
}

RedisServer::~RedisServer() { process_.stop(); }

RedisMechanism::RedisMechanism(const RedisServer& server, const Options& o, int channels)
    : socket_(server.socket()), options_(o) {
  static int runs = 0;
  ++runs;
  for (int ch = 0; ch < channels; ++ch)
    keys_.push_back("bench:" + std::to_string(getpid()) + ":" + std::to_string(runs) + ":" +
                    std::to_string(ch));
}

RedisMechanism::Sender RedisMechanism::sender(int channel) {
  return Sender(std::make_shared<Connection>(socket_), keys_.at(size_t(channel)), options_);
}

RedisMechanism::Receiver RedisMechanism::receiver(int channel) {
  return Receiver(std::make_shared<Connection>(socket_), keys_.at(size_t(channel)), options_);
}

RedisMechanism::Sender::Sender(std::shared_ptr<Connection> c, std::string key, const Options& o)
    : c_(std::move(c)), key_(std::move(key)), buffers_(size_t(o.batch), std::string(o.size, 'x')) {}

void RedisMechanism::Sender::send(size_t n) {
  for (size_t i = 0; i < n; ++i)
    redisAppendCommand(c_->ctx, "LPUSH %b %b", key_.data(), key_.size(), buffers_[i].data(),
                       buffers_[i].size());
  c_->expect_n(n);
}

RedisMechanism::Receiver::Receiver(std::shared_ptr<Connection> c, std::string key, const Options& o)
    : c_(std::move(c)),
      key_(std::move(key)),
      processing_(key_ + ":processing"),
      block_(o.receiver == ReceiverKind::kPoll) {}

RedisMechanism::Receiver::~Receiver() {
  for (redisReply* r : leased_) freeReplyObject(r);
}

size_t RedisMechanism::Receiver::receive(size_t max) {
  // Blocking: the first lease waits (BLMOVE); the rest of a batch takes what is there.
  for (size_t i = 0; i < max; ++i) {
    if (i == 0 && block_)
      redisAppendCommand(c_->ctx, "BLMOVE %b %b RIGHT LEFT 20", key_.data(), key_.size(),
                         processing_.data(), processing_.size());
    else
      redisAppendCommand(c_->ctx, "LMOVE %b %b RIGHT LEFT", key_.data(), key_.size(),
                         processing_.data(), processing_.size());
  }
  for (size_t i = 0; i < max; ++i) {
    redisReply* r = c_->next_reply();
    if (r->type == REDIS_REPLY_STRING)
      leased_.push_back(r);
    else
      freeReplyObject(r);  // nil: nothing there
  }
  return leased_.size();
}

std::string_view RedisMechanism::Receiver::body(size_t i) const {
  return {leased_[i]->str, leased_[i]->len};
}

void RedisMechanism::Receiver::finish() {
  for (redisReply* r : leased_)
    redisAppendCommand(c_->ctx, "LREM %b 1 %b", processing_.data(), processing_.size(), r->str,
                       r->len);
  for (size_t i = 0; i < leased_.size(); ++i) {
    redisReply* r = c_->next_reply();
    const bool removed = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    if (!removed) throw std::runtime_error("redis: LREM removed nothing");
  }
  for (redisReply* r : leased_) freeReplyObject(r);
  leased_.clear();
}

#else  // no hiredis: every Redis run is skipped

bool have_hiredis() { return false; }
struct RedisMechanism::Connection {};
RedisServer::RedisServer() {
  throw SkipRun("built without hiredis (apt-get install -y libhiredis-dev, then rebuild)");
}
RedisServer::~RedisServer() = default;
RedisMechanism::RedisMechanism(const RedisServer&, const Options& o, int) : options_(o) {}
RedisMechanism::Sender RedisMechanism::sender(int) { throw SkipRun("no hiredis"); }
RedisMechanism::Receiver RedisMechanism::receiver(int) { throw SkipRun("no hiredis"); }
RedisMechanism::Sender::Sender(std::shared_ptr<Connection>, std::string, const Options&) {}
void RedisMechanism::Sender::send(size_t) {}
RedisMechanism::Receiver::Receiver(std::shared_ptr<Connection>, std::string, const Options&) {}
RedisMechanism::Receiver::~Receiver() = default;
size_t RedisMechanism::Receiver::receive(size_t) { return 0; }
std::string_view RedisMechanism::Receiver::body(size_t) const { return {}; }
void RedisMechanism::Receiver::finish() {}

#endif

}  // namespace shmq::bench
