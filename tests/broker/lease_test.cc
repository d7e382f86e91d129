// Leases (visibility timeouts) through a real broker: exclusivity under
// concurrent producer and consumer processes, expiry and redelivery, stale
// receipt handles (DESIGN.md invariants 2 and 3), ChangeMessageVisibility and
// the approximate counts.
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/broker_process.h"
#include "tests/support/queue_helpers.h"

namespace shmq {
namespace {

using testing::attributes_of;
using testing::batch_entry;
using testing::counts;
using testing::Counts;
using testing::delay_of;
using testing::receive_now;



// The three approximate counts, as strings (as SQS returns them).


// Receives with wait 0 and the given visibility timeout.

// ---------------------------------------------------------------------------
// Lease exclusivity with 4 producer and 4 consumer processes.

constexpr int kMessages = 20000;
constexpr int kProducers = 4;
constexpr int kConsumers = 4;
constexpr int64_t kMaxBacklog = 20;

// Lives in a MAP_SHARED anonymous mapping, shared by the parent and every child.
struct Shared {
  std::atomic<uint32_t> deliveries[kMessages];  // how many times each message was received
  std::atomic<uint32_t> deleted_total;
  std::atomic<uint32_t> sent_total;
  std::atomic<uint32_t> bad_bodies;
  std::atomic<uint32_t> errors;
  std::atomic<uint32_t> consumer_got[kConsumers];
  char first_error[512];
  std::atomic<uint32_t> first_error_taken;
};
static_assert(std::atomic<uint32_t>::is_always_lock_free);

void record_error(Shared* sh, const std::string& what) {
  sh->errors.fetch_add(1);
  if (sh->first_error_taken.exchange(1) == 0)
    std::snprintf(sh->first_error, sizeof(sh->first_error), "%s", what.c_str());
}

std::string body_for(int i) { return "lease-msg-" + std::to_string(i) + "-end"; }

// -1 when the body is not one of ours.
int index_of(std::string_view body) {
  constexpr std::string_view pre = "lease-msg-", post = "-end";
  if (body.size() <= pre.size() + post.size() || body.substr(0, pre.size()) != pre ||
      body.substr(body.size() - post.size()) != post)
    return -1;
  std::string_view digits = body.substr(pre.size(), body.size() - pre.size() - post.size());
  int v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
    if (v >= kMessages) return -1;
  }
  if (body != body_for(v)) return -1;  // no leading zeros or other aliases
  return v;
}

[[noreturn]] void producer_main(const std::string& socket, Shared* sh, int p) {
  auto c = Client::connect(socket);
  if (!c.ok()) {
    record_error(sh, "producer connect: " + c.status().to_string());
    _exit(2);
  }
  auto q = c.value()->open_queue("lease");
  if (!q.ok()) {
    record_error(sh, "producer open: " + q.status().to_string());
    _exit(3);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
  for (int i = p; i < kMessages; i += kProducers) {
    const std::string body = body_for(i);
    // Keep the backlog short, so that a message whose lease ended early would
    // reach another consumer within the first one's hold.
    while (int64_t(sh->sent_total.load()) - int64_t(sh->deleted_total.load()) > kMaxBacklog &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    for (;;) {
      auto r = (*q)->send(body);
      if (r.ok()) break;
      // A full queue is back-pressure, not an error: wait for the consumers.
      if (r.status().code() == "OverLimit" && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      record_error(sh, "send: " + r.status().to_string());
      _exit(4);
    }
    sh->sent_total.fetch_add(1);
  }
  _exit(0);
}

[[noreturn]] void consumer_main(const std::string& socket, Shared* sh, int k) {
  auto c = Client::connect(socket);
  if (!c.ok()) {
    record_error(sh, "consumer connect: " + c.status().to_string());
    _exit(2);
  }
  auto q = c.value()->open_queue("lease");
  if (!q.ok()) {
    record_error(sh, "consumer open: " + q.status().to_string());
    _exit(3);
  }
  Message m[10];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(45);
  while (sh->deleted_total.load() < uint32_t(kMessages) && std::chrono::steady_clock::now() < deadline) {
    auto n = (*q)->receive(std::span<Message>(m),
                           {.max_messages = 10, .wait_time_seconds = 1, .visibility_timeout = 60});
    if (!n.ok()) {
      record_error(sh, "receive: " + n.status().to_string());
      _exit(4);
    }
    for (size_t i = 0; i < *n; ++i) {
      const int idx = index_of(m[i].body);
      if (idx < 0) {
        sh->bad_bodies.fetch_add(1);
        record_error(sh, "unexpected body: " + std::string(m[i].body.substr(0, 100)));
      } else {
        sh->deliveries[idx].fetch_add(1);
      }
      sh->consumer_got[k].fetch_add(1);
    }
    // Hold the batch briefly (still far inside the 60 s lease), so that a
    // lease that ended early would be seen by another consumer.
    if (*n > 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    for (size_t i = 0; i < *n; ++i) {
      Status s = (*q)->remove(m[i].receipt_handle);
      if (!s.ok()) {
        record_error(sh, "delete: " + s.to_string());
        _exit(5);
      }
      sh->deleted_total.fetch_add(1);
    }
  }
  _exit(0);
}

TEST(Lease, ExclusiveAcrossProducerAndConsumerProcesses) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  ASSERT_TRUE(client);
  auto q = client->create_queue("lease");
  ASSERT_TRUE(q.ok()) << q.status().to_string();

  void* mem = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  Shared* sh = new (mem) Shared();  // zero-filled by mmap; atomics start at 0

  std::fflush(nullptr);  // no buffered output duplicated into the children
  std::vector<pid_t> kids;
  for (int k = 0; k < kConsumers; ++k) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) consumer_main(broker.socket(), sh, k);
    kids.push_back(pid);
  }
  for (int p = 0; p < kProducers; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) producer_main(broker.socket(), sh, p);
    kids.push_back(pid);
  }

  // Reap everyone; kill stragglers after a generous deadline.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(55);
  std::vector<int> statuses(kids.size(), -1);
  size_t left = kids.size();
  while (left > 0) {
    for (size_t i = 0; i < kids.size(); ++i) {
      if (statuses[i] != -1) continue;
      int st;
      if (waitpid(kids[i], &st, WNOHANG) == kids[i]) {
        statuses[i] = st;
        --left;
      }
    }
    if (left == 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      for (size_t i = 0; i < kids.size(); ++i)
        if (statuses[i] == -1) {
          kill(kids[i], SIGKILL);
          waitpid(kids[i], &statuses[i], 0);
          ADD_FAILURE() << "child " << i << " hung";
        }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (size_t i = 0; i < kids.size(); ++i)
    EXPECT_TRUE(WIFEXITED(statuses[i]) && WEXITSTATUS(statuses[i]) == 0)
        << (i < size_t(kConsumers) ? "consumer " : "producer ") << i << " status " << statuses[i];

  EXPECT_EQ(sh->errors.load(), 0u) << "first error: " << sh->first_error;
  EXPECT_EQ(sh->bad_bodies.load(), 0u);
  EXPECT_EQ(sh->sent_total.load(), uint32_t(kMessages));
  EXPECT_EQ(sh->deleted_total.load(), uint32_t(kMessages));
  int missing = 0, duplicated = 0, first_missing = -1, first_dup = -1;
  for (int i = 0; i < kMessages; ++i) {
    const uint32_t d = sh->deliveries[i].load();
    if (d == 0 && missing++ == 0) first_missing = i;
    if (d > 1 && duplicated++ == 0) first_dup = i;
  }
  EXPECT_EQ(missing, 0) << "first missing message: " << first_missing;
  EXPECT_EQ(duplicated, 0) << "first message delivered twice: " << first_dup;
  uint32_t sum = 0;
  for (int k = 0; k < kConsumers; ++k) sum += sh->consumer_got[k].load();
  EXPECT_EQ(sum, uint32_t(kMessages));

  // Nothing is left, nothing is in flight.
  EXPECT_EQ(counts(**q), (Counts{"0", "0", "0"}));
  EXPECT_TRUE(receive_now(**q).empty());
  munmap(mem, sizeof(Shared));
}

// ---------------------------------------------------------------------------
// Expiry and redelivery; stale handles.

TEST(Lease, ExpiryRedeliversWithNewHandle) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("expiry");
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  auto sent = (*q)->send("expiring");
  ASSERT_TRUE(sent.ok()) << sent.status().to_string();

  auto first = receive_now(**q, 1, 30);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].receive_count, 1u);
  EXPECT_EQ(first[0].message_id, sent->message_id);
  const std::string h1 = first[0].receipt_handle.str();

  // Leased: not before the 30 s are over.
  // (5 s early: the queue clock also runs in real time.)
  ASSERT_TRUE(client->advance_clock(25000).ok());
  EXPECT_TRUE(receive_now(**q).empty());
  EXPECT_EQ(counts(**q), (Counts{"0", "1", "0"}));

  ASSERT_TRUE(client->advance_clock(6000).ok());  // 31 s after the receive
  EXPECT_EQ(counts(**q), (Counts{"1", "0", "0"}));
  auto second = receive_now(**q, 1, 30);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].message_id, sent->message_id);
  EXPECT_EQ(second[0].body, "expiring");
  EXPECT_EQ(second[0].receive_count, 2u);
  EXPECT_NE(second[0].receipt_handle.str(), h1);
  EXPECT_EQ(second[0].first_receive_timestamp_ms, first[0].first_receive_timestamp_ms);
  ASSERT_TRUE((*q)->remove(second[0].receipt_handle).ok());
  EXPECT_EQ(counts(**q), (Counts{"0", "0", "0"}));
}

TEST(Lease, ExpiredHandleDeletesWhileNobodyElseHoldsIt) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("stale1");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE((*q)->send("m").ok());
  auto got = receive_now(**q, 1, 30);
  ASSERT_EQ(got.size(), 1u);
  const std::string h = got[0].receipt_handle.str();

  ASSERT_TRUE(client->advance_clock(31000).ok());
  EXPECT_EQ(counts(**q), (Counts{"1", "0", "0"}));
  // Expired, not received again: the old handle still deletes (SQS, invariant 3).
  Status s = (*q)->remove(h);
  EXPECT_TRUE(s.ok()) << s.to_string();
  EXPECT_TRUE(receive_now(**q).empty());
  EXPECT_EQ(counts(**q), (Counts{"0", "0", "0"}));
}

TEST(Lease, ExpiredHandleChangesVisibilityWhileNobodyElseHoldsIt) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("stale1b");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE((*q)->send("m").ok());
  auto got = receive_now(**q, 1, 30);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(client->advance_clock(31000).ok());
  // SQS accepts the change on a standard queue ([LS-snap]); the message is
  // leased again by this handle.
  Status s = (*q)->change_visibility(got[0].receipt_handle.str(), 60);
  EXPECT_TRUE(s.ok()) << s.to_string();
  EXPECT_TRUE(receive_now(**q).empty());
  EXPECT_EQ(counts(**q), (Counts{"0", "1", "0"}));
  EXPECT_TRUE((*q)->remove(got[0].receipt_handle).ok());
  EXPECT_EQ(counts(**q), (Counts{"0", "0", "0"}));
}

TEST(Lease, StaleHandleLosesOnceAnotherReceiveLeasedIt) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("stale2");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE((*q)->send("contested").ok());
  auto first = receive_now(**q, 1, 30);
  ASSERT_EQ(first.size(), 1u);
  const std::string old_handle = first[0].receipt_handle.str();

  ASSERT_TRUE(client->advance_clock(31000).ok());
  // Another consumer (its own client) leases it now.
  auto other = broker.connect();
  auto q2 = other->open_queue("stale2");
  ASSERT_TRUE(q2.ok());
  auto second = receive_now(**q2, 1, 30);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].receive_count, 2u);

  Status del = (*q)->remove(old_handle);
  EXPECT_EQ(del.code(), "InvalidParameterValue") << del.to_string();
  EXPECT_NE(del.message().find("expired"), std::string::npos) << del.message();
  Status del_struct = (*q)->remove(first[0].receipt_handle);
  EXPECT_EQ(del_struct.code(), "InvalidParameterValue") << del_struct.to_string();

  Status cv = (*q)->change_visibility(old_handle, 0);
  EXPECT_EQ(cv.code(), "InvalidParameterValue") << cv.to_string();
  EXPECT_NE(cv.message().find("expired"), std::string::npos) << cv.message();
  Status cv2 = (*q)->change_visibility(old_handle, 300);
  EXPECT_EQ(cv2.code(), "InvalidParameterValue") << cv2.to_string();

  // Nothing changed: still leased by the second consumer, for its 30 s.
  EXPECT_EQ(counts(**q), (Counts{"0", "1", "0"}));
  EXPECT_TRUE(receive_now(**q).empty());

  Status ok = (*q2)->remove(second[0].receipt_handle.str());
  EXPECT_TRUE(ok.ok()) << ok.to_string();
  EXPECT_EQ(counts(**q), (Counts{"0", "0", "0"}));
  ASSERT_TRUE(client->advance_clock(31000).ok());
  EXPECT_TRUE(receive_now(**q).empty());
}

// ---------------------------------------------------------------------------
// ChangeMessageVisibility.

TEST(Lease, ChangeVisibilityExtends) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("extend");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE((*q)->send("long job").ok());
  auto got = receive_now(**q, 1, 30);
  ASSERT_EQ(got.size(), 1u);

  ASSERT_TRUE(client->advance_clock(10000).ok());
  // The new timeout counts from now: the lease ends at 10 + 120 = 130 s.
  Status s = (*q)->change_visibility(got[0].receipt_handle, 120);
  ASSERT_TRUE(s.ok()) << s.to_string();
  ASSERT_TRUE(client->advance_clock(25000).ok());  // 35 s: past the original 30
  EXPECT_TRUE(receive_now(**q).empty());
  EXPECT_EQ(counts(**q), (Counts{"0", "1", "0"}));
  ASSERT_TRUE(client->advance_clock(90000).ok());  // 125 s
  EXPECT_TRUE(receive_now(**q).empty());
  ASSERT_TRUE(client->advance_clock(6000).ok());  // 131 s
  auto again = receive_now(**q);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].receive_count, 2u);
  EXPECT_EQ(again[0].body, "long job");
}

TEST(Lease, ChangeVisibilityShortens) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("shorten");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE((*q)->send("m").ok());
  auto got = receive_now(**q, 1, 300);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE((*q)->change_visibility(got[0].receipt_handle, 10).ok());
  ASSERT_TRUE(client->advance_clock(5000).ok());
  EXPECT_TRUE(receive_now(**q).empty());
  ASSERT_TRUE(client->advance_clock(6000).ok());
  EXPECT_EQ(receive_now(**q).size(), 1u);
}

TEST(Lease, ChangeVisibilityZeroMakesVisibleAtOnce) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("zero");
  ASSERT_TRUE(q.ok());
  auto sent = (*q)->send("back");
  ASSERT_TRUE(sent.ok());
  auto got = receive_now(**q, 1, 300);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE((*q)->change_visibility(got[0].receipt_handle.str(), 0).ok());
  // No clock advance, no wait.
  auto again = receive_now(**q, 1, 300);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].message_id, sent->message_id);
  EXPECT_EQ(again[0].receive_count, 2u);
  // The first handle is stale now.
  EXPECT_EQ((*q)->remove(got[0].receipt_handle).code(), "InvalidParameterValue");
  EXPECT_TRUE((*q)->remove(again[0].receipt_handle).ok());
  EXPECT_EQ(counts(**q), (Counts{"0", "0", "0"}));
}

TEST(Lease, ReceiveWithVisibilityTimeoutZeroLeavesMessageVisible) {
  // [BC] / LocalStack's AWS-validated test_receive_terminate_visibility_timeout:
  // a receive with VisibilityTimeout=0 does not hide the message; the next
  // receive gets it at once.
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("vt0");
  ASSERT_TRUE(q.ok());
  auto sent = (*q)->send("peek");
  ASSERT_TRUE(sent.ok());
  auto first = receive_now(**q, 1, 0);
  ASSERT_EQ(first.size(), 1u);
  auto second = receive_now(**q, 1, 30);
  ASSERT_EQ(second.size(), 1u) << "a message received with VisibilityTimeout=0 stayed hidden";
  EXPECT_EQ(second[0].message_id, sent->message_id);
  EXPECT_EQ(second[0].receive_count, 2u);
}

TEST(Lease, ChangedTimeoutIsNotRemembered) {
  // [BC]: the next receive uses the queue's VisibilityTimeout again.
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("forget", {{"VisibilityTimeout", "20"}});
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE((*q)->send("m").ok());
  auto got = receive_now(**q, 1, 300);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE((*q)->change_visibility(got[0].receipt_handle, 600).ok());
  ASSERT_TRUE((*q)->change_visibility(got[0].receipt_handle, 0).ok());
  auto again = receive_now(**q);  // the queue's 20 s
  ASSERT_EQ(again.size(), 1u);
  ASSERT_TRUE(client->advance_clock(15000).ok());
  EXPECT_TRUE(receive_now(**q).empty());
  ASSERT_TRUE(client->advance_clock(6000).ok());
  auto third = receive_now(**q);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].receive_count, 3u);
}

TEST(Lease, ChangeVisibilityOfDeletedMessageFails) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("deleted");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE((*q)->send("m").ok());
  auto got = receive_now(**q, 1, 30);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE((*q)->remove(got[0].receipt_handle).ok());
  Status s = (*q)->change_visibility(got[0].receipt_handle, 10);
  EXPECT_EQ(s.code(), "InvalidParameterValue") << s.to_string();
  Status s0 = (*q)->change_visibility(got[0].receipt_handle.str(), 0);
  EXPECT_EQ(s0.code(), "InvalidParameterValue") << s0.to_string();
  EXPECT_EQ(counts(**q), (Counts{"0", "0", "0"}));
  EXPECT_TRUE(receive_now(**q).empty());
}

TEST(Lease, ChangeVisibilityTwelveHourCap) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("cap");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE((*q)->send("m").ok());
  auto got = receive_now(**q, 1, 30);
  ASSERT_EQ(got.size(), 1u);
  const ReceiptHandle h = got[0].receipt_handle;

  Status s = (*q)->change_visibility(h, 43200);  // 12 h from the receive: allowed
  EXPECT_TRUE(s.ok()) << s.to_string();
  ASSERT_TRUE(client->advance_clock(1000 * 1000).ok());
  Status over = (*q)->change_visibility(h, 43200);  // would end 12 h + 1000 s after the receive
  EXPECT_EQ(over.code(), "InvalidParameterValue") << over.to_string();
  Status over1 = (*q)->change_visibility(h, 43200 - 1000 + 1);
  EXPECT_EQ(over1.code(), "InvalidParameterValue") << over1.to_string();
  // Still leased by the accepted change.
  EXPECT_TRUE(receive_now(**q).empty());
  EXPECT_EQ(counts(**q), (Counts{"0", "1", "0"}));
  // Up to the cap is fine (1 s short of it: the real clock moved a little
  // since the receive too).
  Status at_cap = (*q)->change_visibility(h, 43200 - 1000 - 1);
  EXPECT_TRUE(at_cap.ok()) << at_cap.to_string();
  // Out of range values are refused as such.
  EXPECT_EQ((*q)->change_visibility(h, 43201).code(), "InvalidParameterValue");
  EXPECT_EQ((*q)->change_visibility(h, -1).code(), "InvalidParameterValue");
  EXPECT_TRUE((*q)->remove(h).ok());
}

// ---------------------------------------------------------------------------
// Approximate counts.

TEST(Lease, QueueAttributeCounts) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("counts");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(counts(**q), (Counts{"0", "0", "0"}));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*q)->send("plain" + std::to_string(i)).ok());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE((*q)->send("later", delay_of(60)).ok());
  EXPECT_EQ(counts(**q), (Counts{"5", "0", "2"}));

  auto a = receive_now(**q, 1, 30);
  auto b = receive_now(**q, 1, 30);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0].body.substr(0, 5), "plain");  // delayed messages are not delivered
  EXPECT_EQ(b[0].body.substr(0, 5), "plain");
  EXPECT_EQ(counts(**q), (Counts{"3", "2", "2"}));

  ASSERT_TRUE((*q)->remove(a[0].receipt_handle).ok());
  EXPECT_EQ(counts(**q), (Counts{"3", "1", "2"}));

  // 31 s: b's lease expired; the delayed ones are still waiting.
  ASSERT_TRUE(client->advance_clock(31000).ok());
  EXPECT_EQ(counts(**q), (Counts{"4", "0", "2"}));
  // 61 s: the delays are over too.
  ASSERT_TRUE(client->advance_clock(30000).ok());
  EXPECT_EQ(counts(**q), (Counts{"6", "0", "0"}));

  // Drain: exactly the 6 remaining messages come out.
  int drained = 0;
  for (;;) {
    auto got = receive_now(**q, 10, 30);
    if (got.empty()) break;
    for (auto& m : got) {
      ASSERT_TRUE((*q)->remove(m.receipt_handle).ok());
      ++drained;
    }
  }
  EXPECT_EQ(drained, 6);
  EXPECT_EQ(counts(**q), (Counts{"0", "0", "0"}));
}

}  // namespace
}  // namespace shmq
