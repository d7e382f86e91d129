// shmq-broker: owns the queue segments, serves the control socket, runs the
// timers and reaps dead clients. See docs/architecture.md.
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "broker/server.h"
#include "gateway/gateway.h"
#include "shmq/client.h"

int main(int argc, char** argv) {
  shmq::broker::Options options;
  std::string log_level = "info";
  options.socket_path = shmq::resolve_socket_path();
  options.data_dir = "shmq-data";
  CLI::App app{"shmq-broker: SQS-style message queues over shared memory"};
  app.add_option("--socket", options.socket_path,
                 "control socket (clients find it through SHMQ_SOCKET or the same default)")
      ->capture_default_str();
  app.add_option("--data-dir", options.data_dir, "directory for the queue registry")->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical, off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_flag("--test-clock", options.test_clock,
               "let clients move the queue clock forward (tests only)");
  app.add_option("--tick-ms", options.tick_ms, "timer resolution in milliseconds")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  std::vector<uint32_t> slots(std::begin(options.geometry.counts), std::end(options.geometry.counts));
  app.add_option("--slots", slots,
                 "slots per size class (<=256 B, <=4 KiB, <=64 KiB, <=1 MiB) in each new queue: "
                 "the most messages of each size a queue holds at once")
      ->delimiter(',')
      ->expected(4)
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 22));
  app.add_option("--journal-dir", options.journal_dir,
                 "directory of the journal (durable queues); default: <data-dir>/journal");
  app.add_option("--journal-key-file", options.journal_key_file,
                 "encrypt the journal with AES-256-GCM: a file of 64-hex-digit keys, one per line, newest last "
                 "(the newest encrypts new journal files; older ones still read older files)");
  app.add_option("--journal-file-mb", options.journal_file_mb, "size of each (preallocated) journal file")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_flag("--journal-posix", options.journal_posix,
               "write the journal with pwrite + fdatasync instead of io_uring");
  std::string journal_fault;
  app.add_option("--test-journal-fault", journal_fault,
                 "tests only (needs --test-clock): EIO:N or ENOSPC:N makes every journal write after the "
                 "first N fail")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            return v.rfind("EIO:", 0) == 0 || v.rfind("ENOSPC:", 0) == 0 ? "" : "expected EIO:N or ENOSPC:N";
          },
          "EIO:N|ENOSPC:N"));
  shmq::gateway::GatewayOptions http;
  std::string http_listen;
  app.add_option("--http", http_listen,
                 "serve the SQS API (AWS JSON 1.0 and Query protocols) on HOST:PORT, e.g. 127.0.0.1:9324");
  app.add_option("--credentials-file,--http-credentials-file", http.credentials_file,
                 "require SigV4 signatures; lines 'ACCESS_KEY_ID SECRET [ACCOUNT_ID]'");
  app.add_option("--tls-cert", http.tls_cert, "serve HTTPS with this PEM certificate chain");
  app.add_option("--tls-key", http.tls_key, "the PEM private key of --tls-cert");
  app.add_option("--region", http.region, "region in the gateway's queue ARNs")->capture_default_str();
  app.add_option("--http-threads", http.threads, "gateway threads")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--http-max-body", http.max_body_bytes, "largest request body in bytes")
      ->capture_default_str()
      ->check(CLI::Range(size_t(1024), size_t(64) << 20));
  app.add_option("--http-timeout", http.read_timeout_s,
                 "seconds a client has to send a whole request (and a keep-alive connection may idle)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  app.add_option("--http-port-file", http.port_file, "write the gateway's bound port to this file (tests)");
  CLI11_PARSE(app, argc, argv);
  if (!journal_fault.empty()) {
    if (!options.test_clock) {
      std::fprintf(stderr, "--test-journal-fault needs --test-clock\n");
      return 2;
    }
    options.journal_fault_errno = journal_fault.rfind("EIO:", 0) == 0 ? EIO : ENOSPC;
    options.journal_fault_after = std::atoi(journal_fault.c_str() + journal_fault.find(':') + 1);
  }
  for (size_t i = 0; i < slots.size() && i < 4; ++i) options.geometry.counts[i] = slots[i];
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ shmq-broker: %v");
  std::unique_ptr<shmq::gateway::Gateway> gateway;
  if (!http_listen.empty()) {
    http.listen = http_listen;
    http.socket_path = options.socket_path;
    gateway = std::make_unique<shmq::gateway::Gateway>(http);
    if (shmq::Status s = gateway->bind(); !s.ok()) {
      spdlog::critical("{}", s.message());
      return 1;
    }
    options.on_listening = [&gateway] { gateway->run(); };
  }
  shmq::broker::Server server(options);
  const int rc = server.run();
  if (gateway) gateway->stop();
  return rc;
}
