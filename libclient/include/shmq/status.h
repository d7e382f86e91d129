// Errors are values. A Status is either OK or carries an SQS error name
// ("QueueDoesNotExist", "InvalidParameterValue", ...) and a human message.
// Result<T> is a value or a non-OK Status. Neither throws.
//
// Thread safety: distinct objects may be used from distinct threads; a const
// object may be shared.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <variant>

namespace shmq {

// As in LevelDB, an OK Status is one null pointer: the data path creates,
// returns and drops OK statuses on every call, and they cost nothing there
// (two empty strings each did: measured in bench/RESULTS.md, session 13).
class Status {
 public:
  Status() noexcept = default;  // OK
  // An empty code is OK (the message is then dropped).
  Status(std::string code, std::string message)
      : state_(code.empty() ? nullptr : std::make_unique<State>(State{std::move(code), std::move(message)})) {}
  Status(const Status& o) : state_(o.state_ ? std::make_unique<State>(*o.state_) : nullptr) {}
  Status& operator=(const Status& o) {
    if (this != &o) state_ = o.state_ ? std::make_unique<State>(*o.state_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status OK() { return Status(); }

  bool ok() const { return state_ == nullptr; }
  // The SQS error name, e.g. "ReceiptHandleIsInvalid". Empty when ok().
  const std::string& code() const { return state_ ? state_->code : empty(); }
  const std::string& message() const { return state_ ? state_->message : empty(); }
  std::string to_string() const { return ok() ? "OK" : state_->code + ": " + state_->message; }

 private:
  struct State {
    std::string code;
    std::string message;
  };
  static const std::string& empty() {
    static const std::string kEmpty;
    return kEmpty;
  }
  std::unique_ptr<State> state_;
};

template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Status status) : v_(std::move(status)) {}  // NOLINT
  Result(std::string code, std::string message) : v_(Status(std::move(code), std::move(message))) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  // REQUIRES: !ok() for a meaningful error; OK otherwise.
  Status status() const { return ok() ? Status::OK() : std::get<1>(v_); }
  // REQUIRES: ok().
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace shmq
