// beanstalkd as a work queue (server_peers.h), with a small client for its
// text protocol (doc/protocol.txt in beanstalkd's source):
//   put <pri> <delay> <ttr> <bytes>\r\n<data>\r\n  ->  INSERTED <id>\r\n
//   reserve-with-timeout <s>\r\n  ->  RESERVED <id> <bytes>\r\n<data>\r\n | TIMED_OUT\r\n
//   delete <id>\r\n  ->  DELETED\r\n
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "bench/server_peers.h"

namespace shmq::bench {

class BeanstalkdMechanism::Connection {
 public:
  explicit Connection(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("beanstalkd connect: " + std::string(std::strerror(errno)));
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Connection() { close(fd_); }

  void write_all(const std::string& s) {
    for (size_t done = 0; done < s.size();) {
      ssize_t w = ::write(fd_, s.data() + done, s.size() - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0)
        throw std::runtime_error("beanstalkd write: " + std::string(std::strerror(errno)));
      done += size_t(w);
    }
  }
  // One reply line, without its \r\n.
  std::string read_line() {
    for (;;) {
      size_t end = in_.find("\r\n", pos_);
      if (end != std::string::npos) {
        std::string line = in_.substr(pos_, end - pos_);
        pos_ = end + 2;
        return line;
      }
      fill();
    }
  }
  // n bytes of job data and the \r\n after them.
  void read_data(size_t n, std::string* out) {
    while (in_.size() - pos_ < n + 2) fill();
    out->assign(in_, pos_, n);
    pos_ += n + 2;
  }
  void expect(const std::string& prefix) {
    std::string line = read_line();
    if (line.rfind(prefix, 0) != 0)
      throw std::runtime_error("beanstalkd: expected " + prefix + ", got " + line);
  }

 private:
  void fill() {
    if (pos_ > 0 && pos_ == in_.size()) {
      in_.clear();
      pos_ = 0;
    } else if (pos_ > (1 << 20)) {
      in_.erase(0, pos_);
      pos_ = 0;
    }
    char buf[1 << 16];
    ssize_t r = ::read(fd_, buf, sizeof buf);
    if (r < 0 && errno == EINTR) return;
    if (r <= 0) throw std::runtime_error("beanstalkd: connection closed");
    in_.append(buf, size_t(r));
  }
  int fd_;
  std::string in_;
  size_t pos_ = 0;
};

namespace {

int free_loopback_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    throw std::runtime_error("no free loopback port");
  }
  close(fd);
  return ntohs(a.sin_port);
}

bool beanstalkd_answers(int port) {
  try {
    BeanstalkdMechanism::Connection c(port);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

BeanstalkdServer::BeanstalkdServer() {
  const std::string path = find_program("beanstalkd");
  if (path.empty()) throw SkipRun("beanstalkd not found (apt-get install -y beanstalkd)");
  dir_ = std::make_unique<TempDir>("shmq-bench-beanstalkd");
  port_ = free_loopback_port();
  // -z: jobs up to 1 MiB (the default stops at 65535 bytes).
  process_.start({path, "-l", "127.0.0.1", "-p", std::to_string(port_), "-z", "1048576"},
                 dir_->path() + "/beanstalkd.log", [&] { return beanstalkd_answers(port_); });
}

BeanstalkdServer::~BeanstalkdServer() { process_.stop(); }

BeanstalkdMechanism::BeanstalkdMechanism(const BeanstalkdServer& server, const Options& o,
                                         int channels)
    : port_(server.port()), options_(o) {
  static int runs = 0;
  ++runs;
  for (int ch = 0; ch < channels; ++ch)
    tubes_.push_back("bench-" + std::to_string(getpid()) + "-" + std::to_string(runs) + "-" +
                     std::to_string(ch));
}

BeanstalkdMechanism::Sender BeanstalkdMechanism::sender(int channel) {
  auto c = std::make_shared<Connection>(port_);
  c->write_all("use " + tubes_.at(size_t(channel)) + "\r\n");
  c->expect("USING");
  return Sender(c, options_);
}

BeanstalkdMechanism::Receiver BeanstalkdMechanism::receiver(int channel) {
  auto c = std::make_shared<Connection>(port_);
  c->write_all("watch " + tubes_.at(size_t(channel)) + "\r\nignore default\r\n");
  c->expect("WATCHING");
  c->expect("WATCHING");
  return Receiver(c, options_);
}

BeanstalkdMechanism::Sender::Sender(std::shared_ptr<Connection> c, const Options& o)
    : c_(std::move(c)), buffers_(size_t(o.batch), std::string(o.size, 'x')) {}

void BeanstalkdMechanism::Sender::send(size_t n) {
  out_.clear();
  for (size_t i = 0; i < n; ++i) {
    out_ += "put 0 0 60 " + std::to_string(buffers_[i].size()) + "\r\n";
    out_ += buffers_[i];
    out_ += "\r\n";
  }
  c_->write_all(out_);
  for (size_t i = 0; i < n; ++i) c_->expect("INSERTED");
}

BeanstalkdMechanism::Receiver::Receiver(std::shared_ptr<Connection> c, const Options& o)
    : c_(std::move(c)),
      block_(o.receiver == ReceiverKind::kPoll),
      bodies_(size_t(o.batch)),
      ids_(size_t(o.batch)) {}

size_t BeanstalkdMechanism::Receiver::receive(size_t max) {
  out_.clear();
  for (size_t i = 0; i < max; ++i)
    out_ += (i == 0 && block_) ? "reserve-with-timeout 20\r\n" : "reserve-with-timeout 0\r\n";
  c_->write_all(out_);
  n_ = 0;
  for (size_t i = 0; i < max; ++i) {
    const std::string line = c_->read_line();
    if (line.rfind("RESERVED ", 0) == 0) {
      const size_t sp = line.find(' ', 9);
      ids_[n_] = line.substr(9, sp - 9);
      c_->read_data(std::stoul(line.substr(sp + 1)), &bodies_[n_]);
      ++n_;
    } else if (line != "TIMED_OUT" && line != "DEADLINE_SOON") {
      throw std::runtime_error("beanstalkd reserve: " + line);
    }
  }
  return n_;
}

void BeanstalkdMechanism::Receiver::finish() {
  out_.clear();
  for (size_t i = 0; i < n_; ++i) out_ += "delete " + ids_[i] + "\r\n";
  c_->write_all(out_);
  for (size_t i = 0; i < n_; ++i) c_->expect("DELETED");
  n_ = 0;
}

}  // namespace shmq::bench
