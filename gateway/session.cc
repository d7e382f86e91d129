#include "gateway/session.h"

#include <algorithm>
#include <optional>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <spdlog/spdlog.h>

#include "gateway/codec.h"
#include "gateway/errors.h"
#include "gateway/protocol.h"
#include "gateway/shared.h"

namespace shmq::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

namespace {

std::string_view sv(beast::string_view s) { return std::string_view(s.data(), s.size()); }

constexpr auto kFirstPoll = std::chrono::milliseconds(1);
constexpr auto kMaxPoll = std::chrono::milliseconds(20);  // the most a parked receive lags a send

template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... Args>
  Session(std::shared_ptr<GatewayShared> shared, Args&&... args)
      : shared_(std::move(shared)), stream_(std::forward<Args>(args)...), timer_(stream_.get_executor()) {}

  void start() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      read();
    } else {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(shared_->options.read_timeout_s));
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (!ec) self->read();
                              });
    }
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(shared_->options.max_body_bytes);
    parser_->header_limit(64 * 1024);
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(shared_->options.read_timeout_s));
    http::async_read_header(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->on_read(ec);
      if (beast::iequals(self->parser_->get()[http::field::expect], "100-continue")) {
        // curl and some SDKs wait for this before they send a large body.
        auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
        http::async_write(self->stream_, *cont, [self, cont](beast::error_code ec, size_t) {
          if (ec) return self->close();
          self->read_body();
        });
        return;
      }
      self->read_body();
    });
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
      return close();
    if (ec) {
      // Malformed or oversized: answer once, SQS-shaped, then close (the
      // rest of the stream cannot be trusted to frame requests).
      const auto& h = parser_->get();
      protocol_ = detect_protocol(sv(h["x-amz-target"]), sv(h[http::field::content_type]));
      keep_alive_ = false;
      version_ = 11;
      request_id_ = new_request_id();
      if (ec == http::error::body_limit)
        return reply_error(Status("RequestEntityTooLarge",
                                  "The request body is larger than " +
                                      std::to_string(shared_->options.max_body_bytes) + " bytes."));
      return reply_error(Status("MalformedHttpRequest", "Malformed HTTP request: " + ec.message() + "."));
    }
    handle(parser_->release());
  }

  void handle(http::request<http::string_body> req) {
    request_id_ = new_request_id();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    protocol_ = detect_protocol(sv(req["x-amz-target"]), sv(req[http::field::content_type]));
    const std::string target(req.target());
    caller_ = Caller{};
    caller_.host = std::string(req[http::field::host]);
    caller_.path = target.substr(0, target.find('?'));
    if (!shared_->credentials.empty()) {
      SignedRequest sr;
      sr.method = sv(req.method_string());
      sr.target = target;
      sr.body = req.body();
      for (const auto& f : req) {
        std::string name(f.name_string());
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        sr.headers.emplace_back(std::move(name), std::string(f.value()));
      }
      auto who = verify_sigv4(shared_->credentials, sr, std::chrono::system_clock::now());
      if (!who.ok()) return reply_error(who.status());
      caller_.account = who.value()->account;
    }
    auto api = parse_request(sv(req.method_string()), target, sv(req["x-amz-target"]), sv(req[http::field::content_type]),
                             req.body());
    if (!api.ok()) return reply_error(api.status());
    request_ = std::move(api.value());
    attempt_ = Attempt{};
    poll_ = kFirstPoll;
    attempt();
  }

  void attempt() {
    Outcome out = shared_->service->call(request_, caller_, attempt_);
    if (out.pending) {
      // Park: no thread waits; a timer brings us back (1, 2, 4 .. 20 ms).
      const auto left = attempt_.deadline - Clock::now();
      timer_.expires_after(std::min<Clock::duration>(poll_, std::max<Clock::duration>(left, Clock::duration(0))));
      poll_ = std::min<Clock::duration>(poll_ * 2, kMaxPoll);
      beast::get_lowest_layer(stream_).expires_never();
      timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
        if (!ec) self->attempt();
      });
      return;
    }
    if (!out.result.ok()) return reply_error(out.result.status());
    reply(http::status::ok, render_result(protocol_, request_.action, out.result.value(), request_id_), nullptr);
  }

  void reply_error(const Status& s) {
    const WireError w = wire_error(s.code());
    if (w.http_status >= 500) spdlog::warn("gateway: {} ({})", s.to_string(), request_id_);
    const std::string query_error = w.query_code + (w.sender_fault ? ";Sender" : ";Receiver");
    reply(http::status(w.http_status), render_error(protocol_, s, request_id_), &query_error);
  }

  void reply(http::status status, std::string body, const std::string* query_error) {
    auto res = std::make_shared<http::response<http::string_body>>(status, version_);
    res->set(http::field::server, "shmq");
    res->set(http::field::content_type, content_type(protocol_));
    res->set("x-amzn-RequestId", request_id_);
    if (query_error && protocol_ == Protocol::kJson) res->set("x-amzn-query-error", *query_error);
    res->keep_alive(keep_alive_);
    res->body() = std::move(body);
    res->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(shared_->options.read_timeout_s));
    http::async_write(stream_, *res, [self = this->shared_from_this(), res](beast::error_code ec, size_t) {
      if (ec || !self->keep_alive_) return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ec;
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    } else {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {});
    }
  }

  std::shared_ptr<GatewayShared> shared_;
  Stream stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  ApiRequest request_;
  Caller caller_;
  Attempt attempt_;
  Clock::duration poll_ = kFirstPoll;
  std::string request_id_;
  Protocol protocol_ = Protocol::kQuery;
  bool keep_alive_ = true;
  unsigned version_ = 11;
};

}  // namespace

void start_plain_session(asio::ip::tcp::socket socket, std::shared_ptr<GatewayShared> shared) {
  std::make_shared<Session<beast::tcp_stream>>(std::move(shared), std::move(socket))->start();
}

void start_tls_session(asio::ip::tcp::socket socket, asio::ssl::context& tls, std::shared_ptr<GatewayShared> shared) {
  std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(std::move(shared), std::move(socket), tls)->start();
}

}  // namespace shmq::gateway
