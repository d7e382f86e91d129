// A server the tool starts for one invocation (shmq-broker, redis-server,
// beanstalkd): a child process in its own temporary directory, its output in
// a log file there, stopped with SIGTERM (SIGKILL after 5 s) and its
// directory removed when the object goes away, or killed on SIGINT/SIGTERM.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace shmq::bench {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class ServerProcess {
 public:
  ServerProcess() = default;
  ~ServerProcess() { stop(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts argv[0] (a path, or a name looked up in PATH) with stdout and
  // stderr in log_path, then polls `ready` every 10 ms for up to 10 s.
  // Throws, with the log's tail, when it exits or does not become ready.
  void start(const std::vector<std::string>& argv, const std::string& log_path,
             const std::function<bool()>& ready);
  void stop();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

// The full path of `name` when it is an executable in PATH (or /usr/sbin,
// /sbin, where Debian puts daemons) or an executable path; "" otherwise.
std::string find_program(const std::string& name);

}  // namespace shmq::bench
