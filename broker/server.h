// The broker's conductor: one thread running an epoll loop over the control
// socket, client connections and pidfds, with a tick that drives the timers
// (lease expiry, delays, retention, dead-letter moves) of every queue.
//
// Dead clients: a connection that closes (or a pidfd that fires for a client
// adopted from a previous broker run) is reaped at once: every lane it owned
// in every queue is repaired (shm/repair.h) and freed.
//
// Thread safety: run() owns everything; nothing else touches a Server.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "broker/journal/journal.h"
#include "broker/journal/replay.h"
#include "broker/journal_feed.h"
#include "broker/move_tasks.h"
#include "broker/registry.h"

namespace shmq::broker {

struct Options {
  std::string socket_path;
  std::string data_dir;
  bool test_clock = false;
  uint32_t tick_ms = 10;
  shm::Geometry geometry;
  // Durability (docs/architecture.md): the journal's directory (empty:
  // <data_dir>/journal), its key file (empty: not encrypted), file size.
  std::string journal_dir;
  std::string journal_key_file;
  uint64_t journal_file_mb = 64;
  bool journal_posix = false;  // pwrite + fdatasync even where io_uring works
  // Tests only (with test_clock): after this many journal writes, every
  // write fails with journal_fault_errno (EIO, ENOSPC). 0 errno: off.
  int journal_fault_errno = 0;
  int journal_fault_after = 0;
  // Called once the control socket listens, before the loop starts (the
  // HTTP gateway starts its threads here; they inherit the blocked signals).
  std::function<void()> on_listening;
};

class Server {
 public:
  explicit Server(Options options);
  ~Server();
  // Binds, recovers and serves until SIGTERM/SIGINT. Returns the exit code.
  int run();

 private:
  struct Connection {
    int fd = -1;
    uint32_t client_id = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    pid_t pid = 0;
    bool said_hello = false;
  };

  bool setup();
  bool open_journal(journal::Replay* replay);
  void restore_lost_queues(const std::vector<std::string>& recreated, journal::Replay* replay);
  // The journal learns of a queue's creation or change (its state record),
  // and the queue's segment of its durability.
  void journal_queue_state(QueueRecord* q);
  nlohmann::json journal_json() const;
  void adopt_or_repair_lanes();
  void accept_clients();
  void serve(int fd);
  void close_connection(int fd);
  void reap(uint32_t client_id);
  bool lane_live(const shm::SegmentView& v, uint32_t lane) const;
  void tick();
  // Handles one request; fills *fd_out with a segment to pass back.
  std::string handle(Connection& c, const std::string& text, int* fd_out);
  bool allowed(const Connection& c, const QueueRecord& q, const char* action) const;
  // The ops of tags, dead-letter sources, grants listing and message move
  // tasks (engine_ops.cc); nullopt when op is none of them.
  std::optional<std::string> handle_engine_op(Connection& c, const std::string& op,
                                              const nlohmann::json& req);
  uint32_t new_client_id();

  Options options_;
  Registry registry_;
  MoveTasks move_tasks_;
  int epoll_ = -1;
  int listen_fd_ = -1;
  int lock_fd_ = -1;
  int signal_fd_ = -1;
  int64_t clock_skew_ms_ = 0;
  std::map<int, Connection> connections_;     // by socket fd
  std::map<uint32_t, int> clients_;           // client id -> socket fd
  std::map<uint32_t, int> orphans_;           // client id -> pidfd (from a previous broker run)
  std::map<int, uint32_t> orphan_pidfds_;     // pidfd -> client id
  uint64_t clients_reaped_ = 0;
  std::unique_ptr<journal::Journal> journal_;
  std::unique_ptr<JournalFeed> feed_;  // declared after journal_: stops first
};

}  // namespace shmq::broker
