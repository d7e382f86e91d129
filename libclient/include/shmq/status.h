// Errors are values. A Status is either OK or carries an SQS error name
// ("QueueDoesNotExist", "InvalidParameterValue", ...) and a human message.
// Result<T> is a value or a non-OK Status. Neither throws.
//
// Thread safety: distinct objects may be used from distinct threads; a const
// object may be shared.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace shmq {

class Status {
 public:
  Status() = default;  // OK
  Status(std::string code, std::string message)
      : code_(std::move(code)), message_(std::move(message)) {}

  static Status OK() { return Status(); }

  bool ok() const { return code_.empty(); }
  // The SQS error name, e.g. "ReceiptHandleIsInvalid". Empty when ok().
  const std::string& code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string to_string() const { return ok() ? "OK" : code_ + ": " + message_; }

 private:
  std::string code_;
  std::string message_;
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
