// The SQS-compatible HTTP gateway served by shmq-broker (--http HOST:PORT):
// AWS JSON 1.0 and Query protocols over HTTP/1.1 (keep-alive, pipelining) or
// HTTPS, on its own Asio threads. It is a client of the queues like any
// other: it connects to the broker's control socket with shmq::Client and
// maps the segments it serves.
//
// Lifetime: bind() in the broker's main thread (so a port in use stops the
// broker at start), run() once the broker's control socket listens (it
// connects from a gateway thread, so the broker's loop must be running or
// about to run), stop() before the broker exits.
//
// Thread safety: bind/run/stop from one thread; the rest is internal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "shmq/status.h"

namespace shmq::gateway {

struct GatewayOptions {
  std::string listen = "127.0.0.1:9324";  // HOST:PORT; port 0 picks a free one
  std::string socket_path;                // the broker's control socket
  std::string region = "us-east-1";
  std::string credentials_file;           // empty: accept every request
  std::string tls_cert, tls_key;          // PEM files; both or neither
  std::string port_file;                  // if set, the bound port is written there
  int threads = 2;
  size_t max_body_bytes = 8 << 20;        // a 1 MiB message, escaped or form-encoded, fits
  int read_timeout_s = 60;                // a request (or keep-alive idle) must arrive within this
};

class Gateway {
 public:
  explicit Gateway(GatewayOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Loads credentials and TLS files, binds and listens.
  Status bind();
  // Starts the threads: connect to the broker, then accept.
  void run();
  void stop();
  uint16_t port() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmq::gateway
