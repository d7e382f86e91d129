#include "broker/server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "broker/journal/fault_io.h"
#include "broker/journal/replay.h"
#include "broker/journal_recovery.h"
#include "libclient/src/client_impl.h"
#include "libclient/src/control_channel.h"
#include "shm/fifo.h"
#include "shm/queue_ops.h"
#include "shm/repair.h"
#include "shm/validation.h"

namespace shmq::broker {

using nlohmann::json;

namespace {

json fail(const char* code, const std::string& message) {
  return wire::error_reply(Status(code, message));
}

json queue_missing() {
  return fail("QueueDoesNotExist", "The specified queue does not exist.");
}

json access_denied(const std::string& action, const std::string& queue) {
  return fail("AccessDenied", "Access to the resource " + queue + " is denied (" + action + ").");
}

int pidfd_open(pid_t pid) { return int(syscall(SYS_pidfd_open, pid, 0)); }

// Whether queue segments (files in /dev/shm) can get huge pages
// (shm::advise_huge_pages): the tmpfs's huge= mount option, unless
// shmem_enabled forces or denies it. Empty when they can.
std::string huge_page_hint() {
  std::ifstream thp("/sys/kernel/mm/transparent_hugepage/shmem_enabled");
  std::string modes((std::istreambuf_iterator<char>(thp)), std::istreambuf_iterator<char>());
  if (modes.empty()) return "transparent huge pages are not available: segments use 4 KiB pages";
  if (modes.find("[force]") != std::string::npos) return "";
  if (modes.find("[deny]") != std::string::npos) return "shmem_enabled is \"deny\": segments use 4 KiB pages";
  std::ifstream mounts("/proc/mounts");
  std::string dev, dir, type, opts, shm_opts;
  while (mounts >> dev >> dir >> type >> opts) {
    mounts.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    if (dir == "/dev/shm") shm_opts = opts;  // the last mount there is the one in effect
  }
  for (const char* on : {"huge=always", "huge=within_size", "huge=advise"})
    if (shm_opts.find(on) != std::string::npos) return "";
  return "/dev/shm has no huge pages: segments use 4 KiB pages; `mount -o remount,huge=advise /dev/shm` "
         "lets them use 2 MiB pages (FIFO batches ~5 % faster here: bench/RESULTS.md)";
}

}  // namespace

Server::Server(Options options)
    : options_(std::move(options)),
      registry_(options_.data_dir, instance_tag(options_.socket_path), options_.geometry) {}

Server::~Server() {
  feed_.reset();  // before the segments and the journal go
  for (auto& [fd, c] : connections_) close(fd);
  for (auto& [fd, id] : orphan_pidfds_) close(fd);
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(options_.socket_path.c_str());
  }
  if (epoll_ >= 0) close(epoll_);
  if (signal_fd_ >= 0) close(signal_fd_);
  if (lock_fd_ >= 0) close(lock_fd_);
}

bool Server::setup() {
  std::error_code ec;
  std::filesystem::create_directories(options_.data_dir, ec);
  if (ec) {
    spdlog::critical("cannot create data directory {}: {}", options_.data_dir, ec.message());
    return false;
  }
  // One broker per socket: an flock'd lock file beside it.
  const std::string lock_path = options_.socket_path + ".lock";
  lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) {
    spdlog::critical("cannot open {}: {}", lock_path, std::strerror(errno));
    return false;
  }
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {};
    if (pread(lock_fd_, pid, sizeof(pid) - 1, 0) < 0) pid[0] = 0;
    spdlog::critical("another shmq-broker (pid {}) is already running on {}", std::string(pid).substr(0, std::string(pid).find('\n')),
                     options_.socket_path);
    return false;
  }
  if (ftruncate(lock_fd_, 0) == 0) {
    std::string me = std::to_string(getpid()) + "\n";
    if (pwrite(lock_fd_, me.data(), me.size(), 0) < 0) spdlog::warn("cannot record pid in {}", lock_path);
  }

  // Block the stop signals before any thread starts (the journal's threads
  // inherit the mask), so they reach the signalfd, not a default action.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  journal::Replay replay;
  if (!open_journal(&replay)) return false;
  std::vector<std::string> recreated;
  if (Status s = registry_.load(&recreated); !s.ok()) {
    spdlog::critical("{}", s.to_string());
    return false;
  }
  restore_lost_queues(recreated, &replay);
  adopt_or_repair_lanes();
  feed_ = std::make_unique<JournalFeed>(journal_.get());
  for (auto& [name, q] : registry_.queues()) journal_queue_state(q.get());

  unlink(options_.socket_path.c_str());
  listen_fd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (options_.socket_path.size() >= sizeof(addr.sun_path)) {
    spdlog::critical("socket path too long: {}", options_.socket_path);
    return false;
  }
  std::memcpy(addr.sun_path, options_.socket_path.data(), options_.socket_path.size());
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      chmod(options_.socket_path.c_str(), 0666) != 0 || listen(listen_fd_, 128) != 0) {
    spdlog::critical("cannot listen on {}: {}", options_.socket_path, std::strerror(errno));
    return false;
  }

  signal(SIGPIPE, SIG_IGN);
  signal_fd_ = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  for (int fd : {listen_fd_, signal_fd_}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
  }
  for (auto& [pfd, id] : orphan_pidfds_) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = pfd;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, pfd, &ev);
  }
  return true;
}

// Reads the journal (recovery) into *replay and opens it for writing. A
// wrong or missing key, or an unreadable journal, stops the start.
bool Server::open_journal(journal::Replay* replay) {
  journal::JournalOptions jo;
  jo.dir = options_.journal_dir.empty() ? options_.data_dir + "/journal" : options_.journal_dir;
  jo.file_size = options_.journal_file_mb << 20;
  jo.prefer_posix = options_.journal_posix;
  jo.writer_thread = false;  // the journal feed's thread collects, writes and syncs
  if (options_.journal_fault_errno != 0) {
    const int err = options_.journal_fault_errno, after = options_.journal_fault_after;
    const bool posix = options_.journal_posix;
    jo.make_io = [=](size_t cap) { return journal::make_faulty_io(journal::make_io(cap, posix), err, after); };
  }
  if (!options_.journal_key_file.empty()) {
    auto keys = journal::KeyRing::load(options_.journal_key_file);
    if (!keys.ok()) {
      spdlog::critical("{}", keys.status().message());
      return false;
    }
    jo.keys = std::move(keys.value());
  }
  const auto start = std::chrono::steady_clock::now();
  journal::RecoveryStats rs;
  auto j = journal::Journal::open(
      std::move(jo), [&](const journal::ScannedRecord& r) { return replay->apply(r); }, &rs);
  if (!j.ok()) {
    spdlog::critical("cannot open the journal: {}", j.status().message());
    return false;
  }
  journal_ = std::move(j.value());
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  if (rs.records > 0)
    spdlog::info("journal: read {} record(s) from {} file(s) in {} ms ({} with a torn tail); writing with {}",
                 rs.records, rs.files, ms, rs.cut_files, journal_->stats().backend);
  return true;
}

void Server::restore_lost_queues(const std::vector<std::string>& recreated, journal::Replay* replay) {
  for (const auto& name : recreated) {
    QueueRecord* q = registry_.find(name);
    if (!q) continue;
    auto it = replay->queues().find(q->uid);
    if (it == replay->queues().end() || !it->second.known) {
      spdlog::warn("queue {}: its segment was gone (reboot?) and the journal holds nothing of it: recreated empty",
                   name);
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    uint64_t restored = 0;
    Status s = restore_queue(q, it->second, &restored);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    if (!s.ok())
      spdlog::error("queue {}: its segment was gone and could not be rebuilt from the journal: {}", name, s.message());
    else
      spdlog::warn("queue {}: its segment was gone (reboot?); rebuilt from the journal: {} message(s) in {} ms", name,
                   restored, ms);
    replay->queues().erase(it);  // free the bodies as we go
  }
}

nlohmann::json Server::journal_json() const {
  journal::JournalStats js = journal_->stats();
  Status err = journal_->error();
  return json{{"backend", js.backend}, {"files", js.files}, {"disk_bytes", js.disk_bytes},
              {"live_bytes", js.live_bytes}, {"live_messages", js.live_messages}, {"batches", js.batches},
              {"records", js.records}, {"write_micros", js.write_micros}, {"compaction_copies", js.copies}, {"files_removed", js.files_removed},
              {"durable_seq", journal_->durable_seq()}, {"sends_dropped", feed_ ? feed_->dropped() : 0},
              {"error", err.ok() ? "" : err.message()}};
}

void Server::journal_queue_state(QueueRecord* q) {
  q->view.header->journal.durability.store(uint32_t(durability_of(q->attributes)), std::memory_order_release);
  if (feed_) feed_->add_queue(q->uid, q->view);
  journal_->append(journal::RecordType::kQueueState, queue_state_payload(*q));
}

// After a restart, lanes still name the clients of the previous run. A client
// whose process (pid + start time) still lives keeps its lanes and is watched
// through a pidfd until it reconnects or exits; the rest are repaired now.
void Server::adopt_or_repair_lanes() {
  std::map<uint32_t, bool> alive;  // client id -> its process lives
  for (auto& [name, q] : registry_.queues()) {
    shm::SegmentView& v = q->view;
    shm::repair_lane(v, shm::kBrokerLane, [](uint32_t) { return true; });  // our own last step
    v.lanes[shm::kBrokerLane].owner.store(shm::kBrokerClientId);
    for (uint32_t i = 1; i < shm::kMaxLanes; ++i) {
      uint32_t owner = v.lanes[i].owner.load();
      if (owner == 0) continue;
      pid_t pid = pid_t(v.lanes[i].owner_pid.load());
      uint64_t start = v.lanes[i].owner_start.load();
      auto it = alive.find(owner);
      if (it == alive.end()) {
        bool lives = pid > 0 && start != 0 && process_start_time(pid) == start;
        it = alive.emplace(owner, lives).first;
        if (lives && !orphans_.count(owner)) {
          int pfd = pidfd_open(pid);
          if (pfd >= 0) {
            orphans_[owner] = pfd;
            orphan_pidfds_[pfd] = owner;
          } else {
            it->second = false;
          }
        }
      }
    }
  }
  for (auto& [owner, lives] : alive)
    if (!lives) reap(owner);
  if (!orphans_.empty()) spdlog::info("{} client(s) of the previous run still live; watching them", orphans_.size());
}

bool Server::lane_live(const shm::SegmentView& v, uint32_t lane) const {
  uint32_t owner = v.lanes[lane].owner.load(std::memory_order_acquire);
  return owner == shm::kBrokerClientId || clients_.count(owner) || orphans_.count(owner);
}

void Server::reap(uint32_t client_id) {
  uint32_t repaired = 0;
  for (auto& [name, q] : registry_.queues()) {
    shm::SegmentView& v = q->view;
    auto live = [&](uint32_t lane) { return lane_live(v, lane); };
    std::vector<uint32_t> lanes;
    for (uint32_t i = 1; i < shm::kMaxLanes; ++i)
      if (v.lanes[i].owner.load(std::memory_order_acquire) == client_id) lanes.push_back(i);
    shm::repair_lanes(v, lanes.data(), lanes.size(), live);
    for (uint32_t i : lanes) {
      v.lanes[i].owner_pid.store(0);
      v.lanes[i].owner.store(0, std::memory_order_release);
      ++repaired;
    }
  }
  ++clients_reaped_;
  spdlog::debug("client {} gone: {} lane(s) repaired", client_id, repaired);
}

uint32_t Server::new_client_id() {
  static std::mt19937 rng(std::random_device{}());
  for (;;) {
    uint32_t id = rng();
    if (id > shm::kBrokerClientId && !clients_.count(id) && !orphans_.count(id)) return id;
  }
}

void Server::accept_clients() {
  for (;;) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      close(fd);
      continue;
    }
    Connection c;
    c.fd = fd;
    c.uid = cred.uid;
    c.gid = cred.gid;
    c.pid = cred.pid;
    connections_[fd] = c;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
  }
}

void Server::close_connection(int fd) {
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  uint32_t id = it->second.client_id;
  epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  connections_.erase(it);
  if (id != 0) {
    clients_.erase(id);
    reap(id);
  }
}

void Server::serve(int fd) {
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  std::string text;
  int passed = -1;
  // The socket is non-blocking: drain what is queued, then go back to epoll.
  for (;;) {
    if (!wire::recv_message(fd, &text, &passed)) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      close_connection(fd);
      return;
    }
    if (passed >= 0) close(passed);  // clients never pass descriptors
    int out_fd = -1;
    std::string reply = handle(it->second, text, &out_fd);
    if (!wire::send_message(fd, reply, out_fd)) {
      close_connection(fd);
      return;
    }
  }
}

bool Server::allowed(const Connection& c, const QueueRecord& q, const char* action) const {
  if (c.uid == q.owner_uid || c.uid == getuid()) return true;
  const std::string uid = "uid:" + std::to_string(c.uid);
  const std::string gid = "gid:" + std::to_string(c.gid);
  for (const auto& g : q.grants) {
    if (g.principal != uid && g.principal != gid && g.principal != "*") continue;
    for (const auto& a : g.actions)
      if (a == action || a == "admin" || a == "*") return true;
  }
  return false;
}

std::string Server::handle(Connection& c, const std::string& text, int* fd_out) {
  json req = json::parse(text, nullptr, false);
  if (req.is_discarded() || !req.is_object() || !req.contains("op") || !req["op"].is_string())
    return fail("InvalidParameterValue", "malformed control request").dump();
  try {
    const std::string op = req["op"];
    if (op == "hello") {
      if (req.value("version", 0) != wire::kProtocolVersion)
        return fail("InvalidParameterValue", "protocol version mismatch: the broker speaks version " +
                                                 std::to_string(wire::kProtocolVersion)).dump();
      uint32_t wanted = req.value("client_id", 0u);
      if (c.client_id != 0) clients_.erase(c.client_id);
      if (wanted > shm::kBrokerClientId && !clients_.count(wanted)) {
        if (auto o = orphans_.find(wanted); o != orphans_.end()) {  // a client of the last run is back
          epoll_ctl(epoll_, EPOLL_CTL_DEL, o->second, nullptr);
          orphan_pidfds_.erase(o->second);
          close(o->second);
          orphans_.erase(o);
        }
        c.client_id = wanted;
      } else {
        c.client_id = new_client_id();
      }
      clients_[c.client_id] = c.fd;
      c.said_hello = true;
      return json{{"ok", true}, {"client_id", c.client_id}, {"version", wire::kProtocolVersion}}.dump();
    }
    if (!c.said_hello) return fail("InvalidParameterValue", "say hello first").dump();

    if (op == "stats") {
      json queues = json::array();
      for (auto& [name, q] : registry_.queues()) {
        shm::scan_slots(q->view, shm::queue_clock_ms(q->view.header), nullptr);
        const shm::Counters& k = q->view.header->counters;
        json lanes = 0;
        int used = 0;
        for (uint32_t i = 1; i < shm::kMaxLanes; ++i) used += q->view.lanes[i].owner.load() != 0;
        lanes = used;
        queues.push_back({{"name", name}, {"uid", q->uid}, {"fifo", q->fifo},
                          {"visible", k.approx_visible.load()}, {"not_visible", k.approx_not_visible.load()},
                          {"delayed", k.approx_delayed.load()}, {"lanes_in_use", lanes},
                          {"leases_expired", k.leases_expired.load()}, {"delays_released", k.delays_released.load()},
                          {"retention_deleted", k.retention_deleted.load()}, {"dlq_moved", k.dlq_moved.load()},
                          {"purged", k.purged.load()},
                          {"durability", durability_name(durability_of(q->attributes))},
                          {"journal_pending", q->view.journal.pos->tail.load() - q->view.journal.pos->head.load()},
                          {"recovery", {{"lanes_repaired", k.lanes_repaired.load()},
                                        {"cells_voided", k.cells_voided.load()},
                                        {"cells_released", k.cells_released.load()},
                                        {"slots_reclaimed", k.slots_reclaimed.load()},
                                        {"entries_republished", k.entries_republished.load()},
                                        {"free_push_waits", k.free_push_waits.load()},
                                        {"frees_handed_over", k.frees_handed_over.load()},
                                        {"ready_parked", k.ready_parked.load()}}}});
      }
      return json{{"ok", true},
                  {"stats", {{"queues", queues},
                             {"broker", {{"pid", getpid()}, {"clients", clients_.size()},
                                         {"orphans_watched", orphans_.size()},
                                         {"clients_reaped", clients_reaped_}}},
                             {"journal", journal_json()}}}}.dump();
    }
    if (op == "advance_clock") {
      if (!options_.test_clock)
        return fail("UnsupportedOperation", "the broker was not started with --test-clock").dump();
      int64_t ms = req.value("ms", int64_t{0});
      if (ms < 0) return fail("InvalidParameterValue", "the clock only moves forward").dump();
      clock_skew_ms_ += ms;
      for (auto& [name, q] : registry_.queues()) {
        q->view.header->clock_skew_ms.fetch_add(ms);
        q->next_deadline_ms = 0;
      }
      tick();
      return json{{"ok", true}}.dump();
    }
    if (op == "list_queues") {
      const std::string prefix = req.value("prefix", std::string());
      json urls = json::array();
      for (auto& [name, q] : registry_.queues())
        if (name.rfind(prefix, 0) == 0 &&
            (allowed(c, *q, "send") || allowed(c, *q, "receive")))
          urls.push_back(q->url());
      return json{{"ok", true}, {"urls", urls}}.dump();
    }

    if (auto reply = handle_engine_op(c, op, req)) return *reply;

    // CreateQueue takes a bare name, validated as given; the others also
    // accept a queue URL.
    const std::string raw_name = req.value("name", std::string());
    const std::string name = op == "create_queue" ? raw_name : Client::queue_name_from_url(raw_name);
    if (op == "create_queue") {
      QueueAttributes attrs = req.value("attributes", QueueAttributes{});
      QueueRecord* existing = registry_.find(name);
      if (existing && !allowed(c, *existing, "send") && !allowed(c, *existing, "receive"))
        return access_denied("CreateQueue", name).dump();
      auto q = registry_.create(name, attrs, c.uid, c.gid, clock_skew_ms_);
      if (!q.ok()) return wire::error_reply(q.status()).dump();
      *fd_out = q.value()->fd();
      if (!existing) {
        journal_queue_state(q.value());
        spdlog::info("created queue {} (uid {}) for uid {}", name, q.value()->uid, c.uid);
      }
      return json{{"ok", true}, {"name", name}, {"url", q.value()->url()}}.dump();
    }

    QueueRecord* q = registry_.find(name);
    if (!q) return queue_missing().dump();
    if (op == "open_queue") {
      if (!allowed(c, *q, "send") && !allowed(c, *q, "receive")) return access_denied("OpenQueue", name).dump();
      *fd_out = q->fd();
      return json{{"ok", true}, {"name", name}, {"url", q->url()}}.dump();
    }
    if (op == "get_queue_url") {
      if (!allowed(c, *q, "send") && !allowed(c, *q, "receive")) return access_denied("GetQueueUrl", name).dump();
      return json{{"ok", true}, {"url", q->url()}}.dump();
    }
    if (op == "get_queue_attributes") {
      if (!allowed(c, *q, "send") && !allowed(c, *q, "receive"))
        return access_denied("GetQueueAttributes", name).dump();
      shm::scan_slots(q->view, shm::queue_clock_ms(q->view.header), nullptr);
      const shm::Header* h = q->view.header;
      QueueAttributes all = q->effective_attributes();
      all["ApproximateNumberOfMessages"] = std::to_string(h->counters.approx_visible.load());
      all["ApproximateNumberOfMessagesNotVisible"] = std::to_string(h->counters.approx_not_visible.load());
      all["ApproximateNumberOfMessagesDelayed"] = std::to_string(h->counters.approx_delayed.load());
      all["CreatedTimestamp"] = std::to_string(q->created_s);
      all["LastModifiedTimestamp"] = std::to_string(q->modified_s);
      all["QueueArn"] = q->arn();
      std::vector<std::string> names = req.value("names", std::vector<std::string>{"All"});
      QueueAttributes out;
      for (const auto& n : names) {
        if (n == "All") {
          out = all;
          break;
        }
        if (auto it = all.find(n); it != all.end()) {
          out[n] = it->second;
        } else if (!shm::is_known_queue_attribute(n)) {
          return fail("InvalidAttributeName", "Unknown Attribute " + n + ".").dump();
        }
      }
      return json{{"ok", true}, {"attributes", out}}.dump();
    }
    if (!allowed(c, *q, "admin")) return access_denied(op, name).dump();
    if (op == "set_queue_attributes") {
      const QueueAttributes attrs = req.value("attributes", QueueAttributes{});
      Status s = registry_.set_attributes(q, attrs);
      q->next_deadline_ms = 0;  // retention may have shrunk: rescan
      if (s.ok()) journal_queue_state(q);
      return (s.ok() ? json{{"ok", true}} : wire::error_reply(s)).dump();
    }
    if (op == "delete_queue") {
      const uint32_t uid = q->uid;
      feed_->remove_queue(uid);  // before the segment is unmapped
      registry_.remove(name);
      journal_->append(journal::RecordType::kQueueDelete, journal::encode(journal::QueueRecordRef{uid}));
      spdlog::info("deleted queue {}", name);
      return json{{"ok", true}}.dump();
    }
    if (op == "purge_queue") {
      const uint64_t now = shm::queue_clock_ms(q->view.header);
      if (q->last_purge_ms && now < q->last_purge_ms + 60000)
        return fail("PurgeQueueInProgress",
                    "Only one PurgeQueue operation on " + name + " is allowed every 60 seconds.").dump();
      q->last_purge_ms = now;
      uint64_t n = shm::purge_slots(q->view);
      journal_->append(journal::RecordType::kPurge, journal::encode(journal::QueueRecordRef{q->uid}));
      spdlog::info("purged {} message(s) from {}", n, name);
      return json{{"ok", true}, {"purged", n}}.dump();
    }
    if (op == "add_permission") {
      Grant g{req.value("label", std::string()), req.value("principal", std::string()),
              req.value("actions", std::vector<std::string>{})};
      if (g.label.empty() || g.label.size() > 80)
        return fail("InvalidParameterValue", "Label must be 1 to 80 characters.").dump();
      // account:ID[,ID...] grants are the HTTP gateway's (SQS AddPermission,
      // SQS action names); it enforces them for its authenticated principals.
      const bool account = g.principal.rfind("account:", 0) == 0 && g.principal.size() > 8 &&
                           g.principal.find_first_not_of("0123456789,", 8) == std::string::npos;
      if (g.principal != "*" && g.principal.rfind("uid:", 0) != 0 && g.principal.rfind("gid:", 0) != 0 && !account)
        return fail("InvalidParameterValue", "Principal must be uid:N, gid:N or *.").dump();
      if (g.actions.empty()) return fail("MissingParameter", "The request must contain the parameter Actions.").dump();
      for (const auto& a : g.actions)
        if (a != "send" && a != "receive" && a != "admin" && a != "*" && !account)
          return fail("InvalidParameterValue", "Unknown action " + a + " (send, receive, admin).").dump();
      for (const auto& e : q->grants)
        if (e.label == g.label)
          return fail("InvalidParameterValue",
                      "Value " + g.label + " for parameter Label is invalid. Reason: Already exists.").dump();
      q->grants.push_back(g);
      Status s = registry_.save();
      return (s.ok() ? json{{"ok", true}} : wire::error_reply(s)).dump();
    }
    if (op == "remove_permission") {
      const std::string label = req.value("label", std::string());
      auto before = q->grants.size();
      std::erase_if(q->grants, [&](const Grant& g) { return g.label == label; });
      if (before == q->grants.size())
        return fail("InvalidParameterValue",
                    "Value " + label + " for parameter Label is invalid. Reason: can't find label.").dump();
      Status s = registry_.save();
      return (s.ok() ? json{{"ok", true}} : wire::error_reply(s)).dump();
    }
    return fail("InvalidAction", "The action " + op + " is not valid for this endpoint.").dump();
  } catch (const std::exception& e) {
    // A request with fields of the wrong type: refuse it, change nothing.
    return fail("InvalidParameterValue", std::string("malformed control request: ") + e.what()).dump();
  }
}

void Server::tick() {
  for (auto& [name, q] : registry_.queues()) {
    shm::SegmentView& v = q->view;
    const uint64_t now = shm::queue_clock_ms(v.header);
    v.header->broker_heartbeat_ms.store(now, std::memory_order_relaxed);
    v.header->epoch_offset_ms.store(shm::measure_epoch_offset_ms(v.header), std::memory_order_relaxed);
    auto mover = [&](uint32_t slot) -> bool {
      QueueRecord* dlq = registry_.find_uid(v.header->config.dlq_uid.load());
      if (!dlq) return false;
      if (dlq->uid == q->uid || bool(dlq->view.header->fifo) != bool(v.header->fifo)) return false;
      const uint32_t source_uid = q->uid;
      shm::Slot& s = v.slot(slot);
      const uint32_t attrs = s.attrs_len.load(), body = s.body_len.load();
      shm::FifoIds ids;
      if (v.header->fifo) ids = shm::fifo_ids(v, slot);
      if (uint64_t(ids.prefix) + attrs + body > v.payload_capacity(slot)) return false;
      const char* p = v.payload(slot) + ids.prefix;
      // The moved message names where it came from (SQS's
      // DeadLetterQueueSourceArn), besides its own attributes.
      const std::string blob = shm::with_dead_letter_source(std::string_view(p, attrs), q->arn());
      shm::SendInput in;
      in.body = std::string_view(p + attrs, body);
      in.raw_attributes = blob.data();
      in.attributes_size = blob.size();
      in.sender_uid = s.sender_uid.load();
      // [DG-dlqret]: a standard queue's message keeps its enqueue time, and
      // retention counts from it; a FIFO one is enqueued anew (0: now).
      if (!v.header->fifo) {
        in.sent_epoch_ms = s.sent_epoch_ms.load();
        in.sent_clock_ms = s.sent_clock_ms.load();
      }
      shm::Lane& lane = dlq->view.lanes[shm::kBrokerLane];
      uint32_t moved_slot = 0;
      uint64_t moved_incarnation = 0;
      if (v.header->fifo) {  // same group; a move is not deduplicated again
        shm::FifoSendOutput out;
        if (!shm::fifo_send(dlq->view, lane, in, ids.group_id, {}, &out).ok()) return false;
        moved_slot = out.slot, moved_incarnation = out.incarnation;
      } else {
        shm::SendOutput out;
        if (!shm::send_message(dlq->view, lane, in, &out).ok()) return false;
        moved_slot = out.slot, moved_incarnation = out.incarnation;
      }
      move_tasks_.note_origin(dlq->uid, moved_slot, moved_incarnation, source_uid);  // for a redrive back
      return true;
    };
    if (v.header->fifo && ++q->ticks_since_maintain * options_.tick_ms >= 1000) {
      q->ticks_since_maintain = 0;
      // Retire empty groups, restore lost tokens: only after activity (a
      // pass reads the whole group table).
      const uint64_t fp = shm::activity_fingerprint(v);
      if (fp != q->maintained_fingerprint) {
        shm::fifo_maintain(v);
        q->maintained_fingerprint = shm::activity_fingerprint(v);
      }
    }
    // A scan costs a pass over every slot; skip it when nothing a client
    // could have done since the last one shows and no deadline is due.
    const uint64_t fingerprint = shm::activity_fingerprint(v);
    if (fingerprint != q->scanned_fingerprint || now >= q->next_deadline_ms) {
      shm::ScanResult r = shm::scan_slots(v, now, mover);
      q->scanned_fingerprint = shm::activity_fingerprint(v);
      // The scan itself may have moved rings (expiry, frees): scan again
      // next tick in that case, then settle.
      q->next_deadline_ms = q->scanned_fingerprint == fingerprint ? r.next_deadline_ms : 0;
    }
    // Long polls: bounded by a tick, whatever a spinner does -- after the
    // scan, so what it published (expired leases, due delays) is covered.
    shm::wake_stranded_receivers(v);
  }
  move_tasks_.step(registry_);
}

int Server::run() {
  if (!setup()) return 1;
  spdlog::info("shmq-broker listening on {} (data dir {}, {} queue(s))", options_.socket_path,
               options_.data_dir, registry_.queues().size());
  if (options_.test_clock) spdlog::warn("test clock enabled: clients may move the queue clock forward");
  if (const std::string hint = huge_page_hint(); !hint.empty()) spdlog::info("{}", hint);
  if (options_.on_listening) options_.on_listening();
  epoll_event events[64];
  auto next_tick = std::chrono::steady_clock::now();
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (now >= next_tick) {
      tick();
      next_tick = now + std::chrono::milliseconds(options_.tick_ms);
    }
    int timeout = int(std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - now).count()) + 1;
    int n = epoll_wait(epoll_, events, 64, timeout);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == signal_fd_) {
        signalfd_siginfo si;
        if (read(signal_fd_, &si, sizeof(si)) > 0) {
          spdlog::info("signal {}: stopping", si.ssi_signo);
          if (Status s = registry_.save(); !s.ok()) spdlog::error("{}", s.to_string());
          return 0;
        }
      } else if (fd == listen_fd_) {
        accept_clients();
      } else if (auto o = orphan_pidfds_.find(fd); o != orphan_pidfds_.end()) {
        uint32_t id = o->second;
        epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
        orphan_pidfds_.erase(o);
        orphans_.erase(id);
        if (!clients_.count(id)) reap(id);
      } else if (events[i].events & (EPOLLIN)) {
        serve(fd);
      } else {
        close_connection(fd);
      }
    }
  }
}

}  // namespace shmq::broker
