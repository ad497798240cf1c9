// Errors as values: a Status carries an errno-style code and a message that
// names what failed (file, offset, reason). Result<T> is a value or a Status.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "common/check.h"

namespace paxlock {

class Status {
 public:
  Status() = default;
  static Status error(int code, std::string message) { return Status(code, std::move(message)); }

  bool ok() const { return code_ == 0; }
  int code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Status(int code, std::string message) : code_(code), message_(std::move(message)) {
    if (code_ == 0) code_ = -1;  // an error always has a nonzero code
  }
  int code_ = 0;
  std::string message_;
};

template <class T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) { PAXLOCK_CHECK(!status_.ok()); }  // NOLINT

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() {
    PAXLOCK_CHECK(ok());
    return *value_;
  }
  const T& value() const {
    PAXLOCK_CHECK(ok());
    return *value_;
  }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace paxlock
