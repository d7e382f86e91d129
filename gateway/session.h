// One HTTP connection: reads requests one after another (pipelined requests
// wait in the read buffer and are answered in order), answers each through
// the Service, and parks a long-polling ReceiveMessage on a timer instead of
// a thread. Plain TCP or TLS.
//
// Thread safety: a session runs on its own strand.
#pragma once

#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

namespace shmq::gateway {

struct GatewayShared;  // gateway.cc: service, credentials, options

void start_plain_session(boost::asio::ip::tcp::socket socket, std::shared_ptr<GatewayShared> shared);
void start_tls_session(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& tls,
                       std::shared_ptr<GatewayShared> shared);

}  // namespace shmq::gateway
