#include "bench/kernel_peers.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include <boost/interprocess/ipc/message_queue.hpp>

namespace shmq::bench {
namespace {

[[noreturn]] void fail_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

std::string unique_name(const char* prefix, int channel) {
  static int runs = 0;
  return std::string(prefix) + std::to_string(getpid()) + "-" + std::to_string(++runs) + "-" +
         std::to_string(channel);
}

// Queue depth for the kernel queues: deep enough to stream, as shmq's rings are.
constexpr long kQueueDepth = 64;

}  // namespace

// ---- Unix-domain sockets ---------------------------------------------------

UdsMechanism::UdsMechanism(const Options& o, int channels) : options_(o) {
  for (int i = 0; i < channels; ++i) {
    std::array<int, 2> fds;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds.data()) != 0) fail_errno("socketpair");
    fds_.push_back(fds);
  }
}

UdsMechanism::~UdsMechanism() {
  for (auto& f : fds_) {
    close(f[0]);
    close(f[1]);
  }
}

void UdsMechanism::Sender::send(size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (::send(fd_, buffers_[i].data(), buffers_[i].size(), MSG_NOSIGNAL) !=
        ssize_t(buffers_[i].size()))
      fail_errno("uds send");
}

UdsMechanism::Receiver::Receiver(int fd, const Options& o)
    : fd_(fd),
      block_(o.receiver == ReceiverKind::kPoll),
      buffers_(size_t(o.batch), std::string(o.size, '\0')),
      lengths_(size_t(o.batch)) {}

size_t UdsMechanism::Receiver::receive(size_t max) {
  size_t n = 0;
  for (; n < max; ++n) {
    const int flags = (n == 0 && block_) ? 0 : MSG_DONTWAIT;
    ssize_t r = recv(fd_, buffers_[n].data(), buffers_[n].size(), flags);
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      fail_errno("uds recv");
    }
    lengths_[n] = size_t(r);
  }
  return n;
}

// ---- POSIX message queues --------------------------------------------------

PosixMqMechanism::PosixMqMechanism(const Options& o, int channels) : options_(o) {
  // Deep queues of large messages need more than the default 800 KiB per user.
  rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  setrlimit(RLIMIT_MSGQUEUE, &unlimited);
  for (int i = 0; i < channels; ++i) {
    const std::string name = unique_name("/shmq-bench-", i);
    mq_attr attr = {};
    attr.mq_maxmsg = kQueueDepth;
    attr.mq_msgsize = long(o.size);
    mqd_t q = mq_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    if (q == mqd_t(-1) && (errno == EINVAL || errno == EMFILE || errno == ENOMEM)) {
      attr.mq_maxmsg = 10;  // an unprivileged user's ceiling
      q = mq_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    }
    if (q == mqd_t(-1) && errno == EINVAL)
      throw SkipRun(
          "mq_open refuses " + std::to_string(o.size) +
          "-byte messages: /proc/sys/fs/mqueue/msgsize_max is lower (raise it to measure)");
    if (q == mqd_t(-1)) fail_errno("mq_open");
    mq_close(q);
    names_.push_back(name);
  }
}

PosixMqMechanism::~PosixMqMechanism() {
  for (const auto& n : names_) mq_unlink(n.c_str());
}

PosixMqMechanism::Sender::Sender(const std::string& name, const Options& o)
    : buffers_(size_t(o.batch), std::string(o.size, 'x')) {
  mq_ = mq_open(name.c_str(), O_WRONLY);
  if (mq_ == mqd_t(-1)) fail_errno("mq_open");
}

void PosixMqMechanism::Sender::send(size_t n) {
  for (size_t i = 0; i < n; ++i)
    while (mq_send(mq_, buffers_[i].data(), buffers_[i].size(), 0) != 0)
      if (errno != EINTR) fail_errno("mq_send");
}

PosixMqMechanism::Receiver::Receiver(const std::string& name, const Options& o)
    : block_(o.receiver == ReceiverKind::kPoll),
      buffers_(size_t(o.batch), std::string(o.size, '\0')),
      lengths_(size_t(o.batch)) {
  blocking_ = mq_open(name.c_str(), O_RDONLY);
  nonblocking_ = mq_open(name.c_str(), O_RDONLY | O_NONBLOCK);
  if (blocking_ == mqd_t(-1) || nonblocking_ == mqd_t(-1)) fail_errno("mq_open");
}

size_t PosixMqMechanism::Receiver::receive(size_t max) {
  size_t n = 0;
  for (; n < max; ++n) {
    mqd_t q = (n == 0 && block_) ? blocking_ : nonblocking_;
    ssize_t r = mq_receive(q, buffers_[n].data(), buffers_[n].size(), nullptr);
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      fail_errno("mq_receive");
    }
    lengths_[n] = size_t(r);
  }
  return n;
}

// ---- Boost.Interprocess message_queue -------------------------------------

namespace bip = boost::interprocess;

struct BoostMqMechanism::Queue {
  explicit Queue(const std::string& name) : mq(bip::open_only, name.c_str()) {}
  bip::message_queue mq;
};

BoostMqMechanism::BoostMqMechanism(const Options& o, int channels) : options_(o) {
  for (int i = 0; i < channels; ++i) {
    const std::string name = unique_name("shmq-bench-boost-", i);
    bip::message_queue::remove(name.c_str());
    bip::message_queue create(bip::create_only, name.c_str(), size_t(kQueueDepth), o.size);
    names_.push_back(name);
  }
}

BoostMqMechanism::~BoostMqMechanism() {
  for (const auto& n : names_) bip::message_queue::remove(n.c_str());
}

BoostMqMechanism::Sender::Sender(const std::string& name, const Options& o)
    : queue_(std::make_shared<Queue>(name)), buffers_(size_t(o.batch), std::string(o.size, 'x')) {}

void BoostMqMechanism::Sender::send(size_t n) {
  for (size_t i = 0; i < n; ++i) queue_->mq.send(buffers_[i].data(), buffers_[i].size(), 0);
}

BoostMqMechanism::Receiver::Receiver(const std::string& name, const Options& o)
    : queue_(std::make_shared<Queue>(name)),
      block_(o.receiver == ReceiverKind::kPoll),
      buffers_(size_t(o.batch), std::string(o.size, '\0')),
      lengths_(size_t(o.batch)) {}

size_t BoostMqMechanism::Receiver::receive(size_t max) {
  size_t n = 0;
  for (; n < max; ++n) {
    bip::message_queue::size_type got = 0;
    unsigned priority = 0;
    if (n == 0 && block_) {
      queue_->mq.receive(buffers_[n].data(), buffers_[n].size(), got, priority);
    } else if (!queue_->mq.try_receive(buffers_[n].data(), buffers_[n].size(), got, priority)) {
      break;
    }
    lengths_[n] = size_t(got);
  }
  return n;
}

}  // namespace shmq::bench
