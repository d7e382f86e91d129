// shmq-http-floor: the bare-HTTP floor for bench/http_bench.sh. A Boost.Beast
// server built like the gateway (the same Asio thread count, keep-alive, a
// whole request read into a string body) that answers every request with
// one fixed, SQS-sized JSON reply and does no other work. What the gateway
// costs above this is the SQS work: parsing, the queue operation, the reply.
//
//   shmq-http-floor PORT [THREADS]
#include <cstdlib>
#include <iostream>
#include <memory>
#include <thread>
#include <utility>  // std::exchange, which boost/asio/awaitable.hpp (1.74) uses unincluded
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

const std::string kReply =
    R"({"MD5OfMessageBody":"5d41402abc4b2a76b9719d911017c592","MessageId":"5fea7756-0ea4-451a-a703-a558b933e274"})";

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket s) : stream_(std::move(s)) {}
  void read() {
    req_ = {};
    http::async_read(stream_, buffer_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return;
      self->write();
    });
  }

 private:
  void write() {
    auto res = std::make_shared<http::response<http::string_body>>(http::status::ok, req_.version());
    res->set(http::field::server, "floor");
    res->set(http::field::content_type, "application/x-amz-json-1.0");
    res->set("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000");
    res->keep_alive(req_.keep_alive());
    res->body() = kReply;
    res->prepare_payload();
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      if (ec || !res->keep_alive()) return;
      self->read();
    });
  }
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
};

void accept(tcp::acceptor& a, asio::io_context& ioc) {
  a.async_accept(asio::make_strand(ioc), [&](beast::error_code ec, tcp::socket s) {
    if (!ec) {
      s.set_option(tcp::no_delay(true), ec);
      std::make_shared<Session>(std::move(s))->read();
    }
    accept(a, ioc);
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: shmq-http-floor PORT [THREADS]\n";
    return 2;
  }
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  asio::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), uint16_t(std::atoi(argv[1]))));
  accept(a, ioc);
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
}
