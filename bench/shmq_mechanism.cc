#include "bench/shmq_mechanism.h"

#include <unistd.h>

#include <filesystem>
#include <span>
#include <stdexcept>

#include "bench/clock.h"
#include "broker/registry.h"

namespace shmq::bench {
namespace {

[[noreturn]] void fail(const std::string& what, const Status& s) {
  throw std::runtime_error("shmq " + what + ": " + s.to_string());
}

void remove_segments(const std::string& socket) {
  const std::string prefix = "shmq-" + broker::instance_tag(socket) + "-";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm", ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) std::filesystem::remove(e.path(), ec);
}

}  // namespace

Broker::Broker(const Options& o) {
  if (!o.socket.empty()) {
    socket_ = o.socket;
    if (!Client::connect(socket_).ok())
      throw std::runtime_error("no shmq-broker answers on " + socket_);
    return;
  }
  const std::string path = find_program(o.broker_path);
  if (path.empty()) throw std::runtime_error("shmq-broker not found at " + o.broker_path);
  dir_ = std::make_unique<TempDir>("shmq-bench");
  socket_ = dir_->path() + "/broker.sock";
  process_.start(
      {path, "--socket", socket_, "--data-dir", dir_->path() + "/data", "--log-level", "warn"},
      dir_->path() + "/broker.log", [&] { return Client::connect(socket_).ok(); });
}

Broker::~Broker() {
  if (!dir_) return;
  process_.stop();
  remove_segments(socket_);
}

ShmqMechanism::ShmqMechanism(const Broker& broker, const Options& o, int channels)
    : socket_(broker.socket()), options_(o) {
  auto c = Client::connect(socket_);
  if (!c.ok()) fail("connect", c.status());
  admin_ = c.value();
  static int runs = 0;
  ++runs;
  for (int ch = 0; ch < channels; ++ch) {
    std::string name =
        "bench-" + std::to_string(getpid()) + "-" + std::to_string(runs) + "-" + std::to_string(ch);
    QueueAttributes attributes{{"Durability", o.durability}};
    if (o.fifo_groups > 0) {
      name += ".fifo";
      attributes["FifoQueue"] = "true";
    }
    auto q = admin_->create_queue(name, attributes);
    if (!q.ok()) fail("create_queue", q.status());
    names_.push_back(name);
  }
}

ShmqMechanism::~ShmqMechanism() {
  for (const auto& n : names_) admin_->delete_queue(n);
}

std::pair<std::shared_ptr<Client>, std::shared_ptr<Queue>> ShmqMechanism::open(int channel) const {
  auto c = Client::connect(socket_);
  if (!c.ok()) fail("connect", c.status());
  auto q = c.value()->open_queue(names_.at(size_t(channel)));
  if (!q.ok()) fail("open_queue", q.status());
  return {c.value(), q.value()};
}

ShmqMechanism::Sender ShmqMechanism::sender(int channel) {
  auto [c, q] = open(channel);
  return Sender(c, q, options_);
}

ShmqMechanism::Receiver ShmqMechanism::receiver(int channel) {
  auto [c, q] = open(channel);
  return Receiver(c, q, options_);
}

ShmqMechanism::Sender::Sender(std::shared_ptr<Client> c, std::shared_ptr<Queue> q, const Options& o)
    : client_(std::move(c)), queue_(std::move(q)), send_each_(o.send_each), groups_(o.fifo_groups) {
  entries_.resize(size_t(std::max(o.batch, 1)));
  for (size_t i = 0; i < entries_.size(); ++i) {
    entries_[i].id = "m" + std::to_string(i);
    entries_[i].body = std::string(o.size, 'x');
  }
  for (int g = 0; g < groups_; ++g) group_names_.push_back("g" + std::to_string(g));
  dedup_prefix_ = std::to_string(getpid()) + "-";
}

// FIFO: the next message's group (round-robin) and a unique dedup id.
void ShmqMechanism::Sender::next_fifo_ids() {
  group_ = group_names_[size_t(sent_ % uint64_t(groups_))];
  dedup_.assign(dedup_prefix_);
  dedup_ += std::to_string(sent_++);
}

void ShmqMechanism::Sender::send_one(const std::string& body) {
  SendOptions options;
  if (groups_ > 0) {
    next_fifo_ids();
    options.message_group_id = group_;
    options.message_deduplication_id = dedup_;
  }
  Backoff backoff;
  for (;;) {
    auto r = queue_->send(body, options);
    if (r.ok()) return;
    if (r.status().code() != "OverLimit") fail("send", r.status());
    backoff.wait();
  }
}

void ShmqMechanism::Sender::send(size_t n) {
  if (n == 1 || send_each_ || n != entries_.size()) {
    for (size_t i = 0; i < n; ++i) send_one(entries_[i].body);
    return;
  }
  if (groups_ > 0)
    for (auto& e : entries_) {
      next_fifo_ids();
      e.message_group_id = group_;
      e.message_deduplication_id = dedup_;
    }
  auto r = queue_->send_batch(entries_);
  if (!r.ok()) fail("send_batch", r.status());
  for (const auto& f : r->failed) {  // the queue was full for these: one by one
    if (f.code != "OverLimit") fail("send_batch entry", Status(f.code, f.message));
    send_one(entries_.at(size_t(std::stoi(f.id.substr(1)))).body);  // FIFO: a new group turn
  }
}

ShmqMechanism::Receiver::Receiver(std::shared_ptr<Client> c, std::shared_ptr<Queue> q,
                                  const Options& o)
    : client_(std::move(c)),
      queue_(std::move(q)),
      wait_s_(o.receiver == ReceiverKind::kPoll ? 20 : 0),
      remove_batch_(o.remove_batch) {}

size_t ShmqMechanism::Receiver::receive(size_t max) {
  ReceiveOptions ro;
  ro.max_messages = int(max);
  ro.wait_time_seconds = wait_s_;
  auto r = queue_->receive(std::span<Message>(messages_, max), ro);
  if (!r.ok()) fail("receive", r.status());
  return n_ = r.value();
}

void ShmqMechanism::Receiver::finish() {
  if (remove_batch_ && n_ > 1) {
    // The handles as received (no text round trip): one batched delete.
    for (size_t i = 0; i < n_; ++i) handles_[i] = messages_[i].receipt_handle;
    Status st[10];
    auto r = queue_->remove_batch(std::span<const ReceiptHandle>(handles_, n_), std::span<Status>(st, n_));
    if (!r.ok()) fail("remove_batch", r.status());
    for (size_t i = 0; i < n_; ++i)
      if (!st[i].ok()) fail("remove_batch entry", st[i]);
  } else {
    for (size_t i = 0; i < n_; ++i)
      if (Status s = queue_->remove(messages_[i].receipt_handle); !s.ok()) fail("remove", s);
  }
  n_ = 0;
}

}  // namespace shmq::bench
