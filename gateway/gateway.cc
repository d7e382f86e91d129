#include "gateway/gateway.h"

#include <fstream>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <spdlog/spdlog.h>

#include "gateway/session.h"
#include "gateway/shared.h"
#include "shmq/client.h"

namespace shmq::gateway {

namespace asio = boost::asio;
using asio::ip::tcp;

struct Gateway::Impl {
  std::shared_ptr<GatewayShared> shared = std::make_shared<GatewayShared>();
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::unique_ptr<asio::ssl::context> tls;
  std::vector<std::thread> threads;
  std::string host;
  uint16_t port = 0;

  void accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](boost::system::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        if (tls) start_tls_session(std::move(socket), *tls, shared);
        else start_plain_session(std::move(socket), shared);
      }
      accept();
    });
  }
};

Gateway::Gateway(GatewayOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->shared->options = std::move(options);
}

Gateway::~Gateway() { stop(); }

uint16_t Gateway::port() const { return impl_->port; }

Status Gateway::bind() {
  GatewayOptions& o = impl_->shared->options;
  const size_t colon = o.listen.rfind(':');
  if (colon == std::string::npos) return Status("InvalidParameterValue", "--http takes HOST:PORT, not " + o.listen);
  std::string host = o.listen.substr(0, colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    port = std::stoi(o.listen.substr(colon + 1));
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535) return Status("InvalidParameterValue", "bad port in --http " + o.listen);
  if (!o.credentials_file.empty())
    if (Status s = impl_->shared->credentials.load(o.credentials_file); !s.ok()) return s;
  if (o.tls_cert.empty() != o.tls_key.empty())
    return Status("InvalidParameterValue", "--tls-cert and --tls-key go together");
  try {
    if (!o.tls_cert.empty()) {
      impl_->tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
      impl_->tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                              asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                              asio::ssl::context::no_tlsv1_1);
      impl_->tls->use_certificate_chain_file(o.tls_cert);
      impl_->tls->use_private_key_file(o.tls_key, asio::ssl::context::pem);
    }
    const tcp::endpoint ep(asio::ip::make_address(host), uint16_t(port));
    impl_->acceptor.open(ep.protocol());
    impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
    impl_->acceptor.bind(ep);
    impl_->acceptor.listen(asio::socket_base::max_listen_connections);
    impl_->port = impl_->acceptor.local_endpoint().port();
  } catch (const std::exception& e) {
    return Status("InvalidParameterValue", "cannot serve HTTP on " + o.listen + ": " + e.what());
  }
  impl_->host = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (!o.port_file.empty()) {
    std::ofstream f(o.port_file + ".tmp");
    f << impl_->port << "\n";
    f.close();
    std::rename((o.port_file + ".tmp").c_str(), o.port_file.c_str());
  }
  return Status::OK();
}

void Gateway::run() {
  Impl* impl = impl_.get();
  const GatewayOptions& o = impl->shared->options;
  // The first thread connects to the broker (whose loop may not run yet),
  // builds the service, starts accepting, then all threads serve.
  impl->threads.emplace_back([impl] {
    const GatewayOptions& o = impl->shared->options;
    std::shared_ptr<Client> client;
    for (int i = 0; i < 100 && !client; ++i) {
      auto c = Client::connect(o.socket_path);
      if (c.ok()) client = c.value();
      else std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!client) {
      spdlog::critical("HTTP gateway: cannot connect to the broker at {}", o.socket_path);
      return;
    }
    ServiceOptions so;
    so.region = o.region;
    so.scheme = impl->tls ? "https" : "http";
    so.default_host = impl->host + ":" + std::to_string(impl->port);
    so.authorize = !impl->shared->credentials.empty();
    impl->shared->service = std::make_unique<Service>(client, so);
    asio::post(impl->ioc, [impl] { impl->accept(); });
    impl->ioc.run();
  });
  auto guard = std::make_shared<asio::executor_work_guard<asio::io_context::executor_type>>(impl->ioc.get_executor());
  for (int i = 1; i < std::max(1, o.threads); ++i)
    impl->threads.emplace_back([impl, guard] { impl->ioc.run(); });
  spdlog::info("HTTP gateway listening on {}://{}:{} (region {}, {} thread(s))", impl->tls ? "https" : "http",
               impl->host, impl->port, o.region, std::max(1, o.threads));
  if (impl->shared->credentials.empty())
    spdlog::warn("HTTP gateway: no --credentials-file: every request is accepted without a signature");
  else
    spdlog::info("HTTP gateway: SigV4 signatures required ({})", o.credentials_file);
}

void Gateway::stop() {
  if (!impl_) return;
  impl_->ioc.stop();
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->threads.clear();
}

}  // namespace shmq::gateway
