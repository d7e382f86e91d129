// Small helpers the end-to-end tests share: option builders, the three
// approximate counts of a queue, and a receive that does not wait.
#pragma once

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "shmq/client.h"

namespace shmq::testing {

inline SendOptions delay_of(int seconds) {
  SendOptions o;
  o.delay_seconds = seconds;
  return o;
}

inline SendOptions attributes_of(const MessageAttributes* attributes) {
  SendOptions o;
  o.attributes = attributes;
  return o;
}

inline SendBatchEntry batch_entry(std::string id, std::string body, int delay_seconds = -1) {
  SendBatchEntry e;
  e.id = std::move(id);
  e.body = std::move(body);
  e.delay_seconds = delay_seconds;
  return e;
}

// The three approximate counts, as strings (as SQS returns them).
struct Counts {
  std::string visible, not_visible, delayed;
  bool operator==(const Counts&) const = default;
};
inline std::ostream& operator<<(std::ostream& os, const Counts& c) {
  return os << "{visible " << c.visible << ", not_visible " << c.not_visible << ", delayed "
            << c.delayed << "}";
}

inline Counts counts(Queue& q) {
  auto a = q.get_attributes({"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                             "ApproximateNumberOfMessagesDelayed"});
  EXPECT_TRUE(a.ok()) << a.status().to_string();
  if (!a.ok()) return {};
  return {a.value()["ApproximateNumberOfMessages"], a.value()["ApproximateNumberOfMessagesNotVisible"],
          a.value()["ApproximateNumberOfMessagesDelayed"]};
}

// Receives with wait 0 and the given visibility timeout.
inline std::vector<Message> receive_now(Queue& q, int max = 1, int visibility = -1) {
  auto r = q.receive({.max_messages = max, .wait_time_seconds = 0, .visibility_timeout = visibility});
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? r.value() : std::vector<Message>{};
}

}  // namespace shmq::testing
