// Client: the control connection to the broker.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "libclient/src/client_impl.h"
#include "libclient/src/control_channel.h"

namespace shmq {

using nlohmann::json;

std::string resolve_socket_path(std::string_view explicit_path) {
  if (!explicit_path.empty()) return std::string(explicit_path);
  if (const char* env = std::getenv("SHMQ_SOCKET"); env && *env) return env;
  return kDefaultSocketPath;
}

uint64_t process_start_time(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return 0;
  // comm may hold spaces or parentheses: fields start after the last ')'.
  size_t close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i)
    if (i == 22) return std::strtoull(field.c_str(), nullptr, 10);
  return 0;
}

std::string Client::queue_name_from_url(std::string_view url_or_name) {
  size_t slash = url_or_name.rfind('/');
  return std::string(slash == std::string_view::npos ? url_or_name : url_or_name.substr(slash + 1));
}

Client::Impl::~Impl() {
  if (sock >= 0) close(sock);
}

Status Client::Impl::connect_locked() {
  if (sock >= 0) close(sock);
  sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (sock < 0) return Status("InternalError", std::string("socket: ") + std::strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    return Status("InvalidParameterValue", "socket path is too long: " + path);
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (::connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    Status s("ServiceUnavailable",
             "cannot reach the shmq broker at " + path + ": " + std::strerror(errno) +
                 " (is shmq-broker running? set SHMQ_SOCKET or --socket)");
    close(sock);
    sock = -1;
    return s;
  }
  return hello_locked();
}

Status Client::Impl::hello_locked() {
  json req{{"op", "hello"}, {"version", wire::kProtocolVersion}, {"pid", getpid()},
           {"start_time", start_time}, {"client_id", client_id}};
  if (!wire::send_message(sock, req.dump()))
    return Status("ServiceUnavailable", "the broker closed the connection");
  std::string text;
  int fd;
  if (!wire::recv_message(sock, &text, &fd))
    return Status("ServiceUnavailable", "the broker closed the connection");
  if (fd >= 0) close(fd);
  json reply = json::parse(text, nullptr, false);
  Status s = wire::reply_status(reply);
  if (!s.ok()) return s;
  client_id = reply.value("client_id", 0u);
  return Status::OK();
}

Result<json> Client::Impl::call(json request, int* fd) {
  std::lock_guard<std::mutex> lock(mu);
  if (fd) *fd = -1;
  std::string text = request.dump();
  for (int attempt = 0;; ++attempt) {
    if (sock >= 0 && wire::send_message(sock, text)) {
      std::string reply_text;
      int got = -1;
      if (wire::recv_message(sock, &reply_text, &got)) {
        if (fd) *fd = got; else if (got >= 0) close(got);
        json reply = json::parse(reply_text, nullptr, false);
        if (reply.is_discarded()) return Status("InternalError", "malformed reply from the broker");
        Status s = wire::reply_status(reply);
        if (!s.ok()) {
          if (got >= 0 && fd) { close(got); *fd = -1; }
          return s;
        }
        return reply;
      }
    }
    // The broker went away (restart): reconnect for up to ~10 s, then retry.
    if (attempt >= 1) return Status("ServiceUnavailable", "lost the connection to the broker at " + path);
    Status s;
    for (int i = 0; i < 100; ++i) {
      s = connect_locked();
      if (s.ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!s.ok()) return s;
  }
}

Result<std::shared_ptr<Client>> Client::connect(std::string_view socket_path) {
  auto impl = std::make_shared<Impl>();
  impl->path = resolve_socket_path(socket_path);
  impl->start_time = process_start_time(getpid());
  {
    std::lock_guard<std::mutex> lock(impl->mu);
    Status s = impl->connect_locked();
    if (!s.ok()) return s;
  }
  std::shared_ptr<Client> c(new Client());
  c->impl_ = std::move(impl);
  return c;
}

Client::~Client() = default;

const std::string& Client::socket_path() const { return impl_->path; }
uint32_t Client::client_id() const { return impl_->client_id; }

Result<std::shared_ptr<Queue>> Client::Impl::make_queue(const json& reply, int fd) {
  if (fd < 0) return Status("InternalError", "the broker sent no segment");
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size <= 0) {
    close(fd);
    return Status("InternalError", "cannot stat the queue segment");
  }
  size_t size = size_t(st.st_size);
  void* map = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return Status("InternalError", std::string("mmap: ") + std::strerror(errno));
  shm::advise_huge_pages(map, size);
  auto view = shm::attach_segment(map, size);
  if (!view.ok()) {
    munmap(map, size);
    return view.status();
  }
  static std::atomic<uint64_t> next_id{1};
  auto qi = std::make_shared<Queue::Impl>();
  qi->client = weak_from_this();
  qi->id = next_id.fetch_add(1);
  qi->map = map;
  qi->size = size;
  qi->view = view.value();
  qi->client_id = client_id;
  qi->sender_uid = getuid();
  qi->pid = getpid();
  qi->start_time = start_time;
  std::shared_ptr<Queue> q(new Queue());
  q->name_ = reply.value("name", std::string());
  q->url_ = reply.value("url", std::string());
  q->impl_ = std::move(qi);
  return q;
}

Result<std::shared_ptr<Queue>> Client::create_queue(std::string_view name,
                                                    const QueueAttributes& attributes) {
  int fd = -1;
  auto r = impl_->call({{"op", "create_queue"}, {"name", name}, {"attributes", attributes}}, &fd);
  if (!r.ok()) return r.status();
  return impl_->make_queue(r.value(), fd);
}

Result<std::shared_ptr<Queue>> Client::open_queue(std::string_view name) {
  int fd = -1;
  auto r = impl_->call({{"op", "open_queue"}, {"name", queue_name_from_url(name)}}, &fd);
  if (!r.ok()) return r.status();
  return impl_->make_queue(r.value(), fd);
}

Result<std::string> Client::get_queue_url(std::string_view name) {
  auto r = impl_->call({{"op", "get_queue_url"}, {"name", name}});
  if (!r.ok()) return r.status();
  return r->value("url", std::string());
}

Result<std::vector<std::string>> Client::list_queues(std::string_view prefix) {
  auto r = impl_->call({{"op", "list_queues"}, {"prefix", prefix}});
  if (!r.ok()) return r.status();
  return r->value("urls", std::vector<std::string>{});
}

Status Client::delete_queue(std::string_view name) {
  return impl_->call({{"op", "delete_queue"}, {"name", queue_name_from_url(name)}}).status();
}

Status Client::purge_queue(std::string_view name) {
  return impl_->call({{"op", "purge_queue"}, {"name", queue_name_from_url(name)}}).status();
}

Result<QueueAttributes> Client::get_queue_attributes(std::string_view name,
                                                     const std::vector<std::string>& names) {
  auto r = impl_->call(
      {{"op", "get_queue_attributes"}, {"name", queue_name_from_url(name)}, {"names", names}});
  if (!r.ok()) return r.status();
  return r->value("attributes", QueueAttributes{});
}

Status Client::set_queue_attributes(std::string_view name, const QueueAttributes& attributes) {
  return impl_
      ->call({{"op", "set_queue_attributes"}, {"name", queue_name_from_url(name)},
              {"attributes", attributes}})
      .status();
}

Status Client::add_permission(std::string_view queue, std::string_view label,
                              std::string_view principal, const std::vector<std::string>& actions) {
  return impl_
      ->call({{"op", "add_permission"}, {"name", queue_name_from_url(queue)}, {"label", label},
              {"principal", principal}, {"actions", actions}})
      .status();
}

Status Client::remove_permission(std::string_view queue, std::string_view label) {
  return impl_
      ->call({{"op", "remove_permission"}, {"name", queue_name_from_url(queue)}, {"label", label}})
      .status();
}

Result<std::string> Client::stats() {
  auto r = impl_->call({{"op", "stats"}});
  if (!r.ok()) return r.status();
  return r->value("stats", json::object()).dump(2);
}

Status Client::advance_clock(uint64_t milliseconds) {
  return impl_->call({{"op", "advance_clock"}, {"ms", milliseconds}}).status();
}

}  // namespace shmq
