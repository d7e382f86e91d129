// FIFO queues through a real broker: order within a message group, the group
// lock, deduplication (explicit, content-based, per group, inside and after
// the 5-minute window on the test clock), sequence numbers, batches,
// ReceiveRequestAttemptId, dead-letter moves, purge; and the trucks: many
// groups, many producer and consumer processes, with and without consumers
// SIGKILLed mid-way (DESIGN.md invariant 4).
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/broker_process.h"
#include "tests/support/queue_helpers.h"

namespace shmq {
namespace {

using testing::batch_entry;
using testing::counts;
using testing::Counts;
using testing::receive_now;

SendOptions in_group(std::string_view group, std::string_view dedup = {}) {
  SendOptions o;
  o.message_group_id = group;
  o.message_deduplication_id = dedup;
  return o;
}

std::shared_ptr<Queue> make_fifo(Client& c, const std::string& name, QueueAttributes extra = {}) {
  extra["FifoQueue"] = "true";
  auto q = c.create_queue(name, extra);
  EXPECT_TRUE(q.ok()) << q.status().to_string();
  return q.ok() ? q.value() : nullptr;
}

void send_ok(Queue& q, std::string_view body, std::string_view group, std::string_view dedup) {
  auto r = q.send(body, in_group(group, dedup));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
}

std::vector<std::string> bodies(const std::vector<Message>& ms) {
  std::vector<std::string> out;
  for (const auto& m : ms) out.push_back(std::string(m.body));
  return out;
}

// ---------------------------------------------------------------------------

TEST(Fifo, OrderWithinGroupAndGroupLock) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = make_fifo(*client, "orders.fifo");
  ASSERT_TRUE(q);
  for (int i = 0; i < 5; ++i) send_ok(*q, "a" + std::to_string(i), "A", "a" + std::to_string(i));
  for (int i = 0; i < 3; ++i) send_ok(*q, "b" + std::to_string(i), "B", "b" + std::to_string(i));

  // One receive may take several of a group, in order; then the group is locked.
  auto first = receive_now(*q, 2);
  ASSERT_EQ(first.size(), 2u);
  const std::string g = std::string(first[0].message_group_id);
  EXPECT_EQ(first[1].message_group_id, g);
  EXPECT_EQ(bodies(first), (std::vector<std::string>{g == "A" ? "a0" : "b0", g == "A" ? "a1" : "b1"}));
  EXPECT_LT(first[0].sequence_number, first[1].sequence_number);

  // While A (or B) is leased, only the other group flows.
  auto other = receive_now(*q, 10);
  ASSERT_FALSE(other.empty());
  for (const auto& m : other) EXPECT_NE(m.message_group_id, g) << "a leased group was delivered";
  EXPECT_TRUE(receive_now(*q, 10).empty()) << "both groups are leased";

  // Deleting the first lease's messages releases the group at its next message.
  for (const auto& m : first) ASSERT_TRUE(q->remove(m.receipt_handle).ok());
  auto next = receive_now(*q, 1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].body, g == "A" ? "a2" : "b2");
}

TEST(Fifo, ExpiredLeaseBringsTheHeadBackFirst) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = make_fifo(*client, "expiry.fifo", {{"VisibilityTimeout", "30"}});
  ASSERT_TRUE(q);
  for (int i = 0; i < 4; ++i) send_ok(*q, "m" + std::to_string(i), "g", "d" + std::to_string(i));
  auto got = receive_now(*q, 3);
  ASSERT_EQ(bodies(got), (std::vector<std::string>{"m0", "m1", "m2"}));
  ASSERT_TRUE(q->remove(got[0].receipt_handle).ok());
  EXPECT_TRUE(receive_now(*q, 10).empty()) << "m1 and m2 still leased: m3 must wait";

  ASSERT_TRUE(client->advance_clock(31000).ok());
  // The expired handle is rejected (FIFO: DESIGN.md invariant 3).
  Status late = q->remove(got[1].receipt_handle);
  EXPECT_EQ(late.code(), "InvalidParameterValue") << late.to_string();
  EXPECT_NE(late.message().find("expired"), std::string::npos);

  std::vector<Message> again;
  for (int i = 0; i < 200 && again.empty(); ++i) {
    again = receive_now(*q, 10);
    if (again.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(bodies(again), (std::vector<std::string>{"m1", "m2", "m3"}));
  for (const auto& m : again) EXPECT_EQ(m.receive_count, m.body == "m3" ? 1u : 2u);
}

// SQS answers a repeated delete with the same handle with success, also on a
// FIFO queue, and also once the message's slot has gone back to the queue.
TEST(Fifo, DeletingTwiceWithTheSameHandleIsNoError) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = make_fifo(*client, "twice.fifo");
  ASSERT_TRUE(q);
  for (int i = 0; i < 4; ++i) send_ok(*q, "m" + std::to_string(i), "g", "d" + std::to_string(i));
  auto head = receive_now(*q, 1);
  ASSERT_EQ(bodies(head), (std::vector<std::string>{"m0"}));
  ASSERT_TRUE(q->remove(head[0].receipt_handle).ok());  // the head: its slot is freed at once
  Status again = q->remove(head[0].receipt_handle);
  EXPECT_TRUE(again.ok()) << again.to_string();

  // The batch path: twice in one batch and again in a second one.
  auto two = receive_now(*q, 2);
  ASSERT_EQ(bodies(two), (std::vector<std::string>{"m1", "m2"}));
  const ReceiptHandle h1 = two[0].receipt_handle, h2 = two[1].receipt_handle;
  const ReceiptHandle once[] = {h2, h1, h1}, twice[] = {h1, h2};
  Status st[3];
  auto first = q->remove_batch(once, st);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  for (const Status& s : st) EXPECT_TRUE(s.ok()) << s.to_string();
  auto second = q->remove_batch(twice, std::span<Status>(st, 2));
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_EQ(second.value(), 2u);
  for (const Status& s : std::span<Status>(st, 2)) EXPECT_TRUE(s.ok()) << s.to_string();

  // Nothing was deleted twice: the group goes on with its last message.
  auto rest = receive_now(*q, 10);
  EXPECT_EQ(bodies(rest), (std::vector<std::string>{"m3"}));
}

TEST(Fifo, ChangeVisibilityToZeroReleasesTheGroup) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = make_fifo(*client, "cv.fifo");
  ASSERT_TRUE(q);
  send_ok(*q, "one", "g", "1");
  send_ok(*q, "two", "g", "2");
  auto got = receive_now(*q, 1);
  ASSERT_EQ(bodies(got), (std::vector<std::string>{"one"}));
  ASSERT_TRUE(q->change_visibility(got[0].receipt_handle, 0).ok());
  auto again = receive_now(*q, 2);
  EXPECT_EQ(bodies(again), (std::vector<std::string>{"one", "two"}));
  // The old handle's lease is gone: it can neither delete nor change.
  EXPECT_EQ(q->change_visibility(got[0].receipt_handle, 10).code(), "InvalidParameterValue");
  EXPECT_EQ(q->remove(got[0].receipt_handle).code(), "InvalidParameterValue");
}

TEST(Fifo, DeduplicationWithinAndAfterTheWindow) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = make_fifo(*client, "dedup.fifo");
  ASSERT_TRUE(q);
  auto first = q->send("x", in_group("g", "id-1"));
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  auto dup = q->send("different body", in_group("g", "id-1"));
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(dup->message_id, first->message_id);
  EXPECT_EQ(dup->sequence_number, first->sequence_number);
  // Scope is the queue: another group with the same id is a duplicate too.
  auto dup2 = q->send("y", in_group("other", "id-1"));
  ASSERT_TRUE(dup2.ok());
  EXPECT_EQ(dup2->message_id, first->message_id);

  auto got = receive_now(*q, 10);
  ASSERT_EQ(bodies(got), (std::vector<std::string>{"x"}));
  ASSERT_TRUE(q->remove(got[0].receipt_handle).ok());
  // Remembered after the delete, for 5 minutes from the first send.
  ASSERT_TRUE(client->advance_clock(4 * 60 * 1000).ok());
  auto dup3 = q->send("x", in_group("g", "id-1"));
  ASSERT_TRUE(dup3.ok());
  EXPECT_EQ(dup3->message_id, first->message_id);
  EXPECT_TRUE(receive_now(*q, 10).empty());

  ASSERT_TRUE(client->advance_clock(61 * 1000).ok());
  auto fresh = q->send("x", in_group("g", "id-1"));
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(fresh->message_id, first->message_id);
  EXPECT_GT(fresh->sequence_number, first->sequence_number);
  EXPECT_EQ(bodies(receive_now(*q, 10)), (std::vector<std::string>{"x"}));
}

TEST(Fifo, ContentBasedAndPerGroupDeduplication) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto plain = make_fifo(*client, "plain.fifo");
  ASSERT_TRUE(plain);
  Result<SendResult> no_id = plain->send("body", in_group("g"));
  EXPECT_EQ(no_id.status().code(), "InvalidParameterValue");
  EXPECT_NE(no_id.status().message().find("ContentBasedDeduplication"), std::string::npos);
  EXPECT_EQ(plain->send("body", {}).status().code(), "MissingParameter");
  EXPECT_EQ(plain->send("body", in_group("bad group", "1")).status().code(), "InvalidParameterValue");
  EXPECT_EQ(plain->send("body", in_group(std::string(129, 'g'), "1")).status().code(),
            "InvalidParameterValue");
  SendOptions delayed = in_group("g", "1");
  delayed.delay_seconds = 5;
  EXPECT_EQ(plain->send("body", delayed).status().code(), "InvalidParameterValue");
  EXPECT_TRUE(receive_now(*plain, 10).empty()) << "a rejected send enqueued something";
  // An explicit 0 is no per-message delay: SQS accepts it on FIFO queues.
  SendOptions zero = in_group("g", "0");
  zero.delay_seconds = 0;
  EXPECT_TRUE(plain->send("undelayed", zero).ok());
  std::vector<SendBatchEntry> batch = {batch_entry("a", "in a batch")};
  batch[0].message_group_id = "g";
  batch[0].message_deduplication_id = "b0";
  batch[0].delay_seconds = 0;
  auto sent = plain->send_batch(batch);
  ASSERT_TRUE(sent.ok());
  EXPECT_EQ(sent->successful.size(), 1u);
  batch[0].delay_seconds = 1;
  batch[0].message_deduplication_id = "b1";
  sent = plain->send_batch(batch);
  ASSERT_TRUE(sent.ok());
  ASSERT_EQ(sent->failed.size(), 1u);
  EXPECT_EQ(sent->failed[0].code, "InvalidParameterValue");
  EXPECT_EQ(bodies(receive_now(*plain, 10)), (std::vector<std::string>{"undelayed", "in a batch"}));

  auto cbd = make_fifo(*client, "cbd.fifo", {{"ContentBasedDeduplication", "true"}});
  ASSERT_TRUE(cbd);
  auto a = cbd->send("same", in_group("g"));
  auto b = cbd->send("same", in_group("g"));
  auto c = cbd->send("other", in_group("g"));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->message_id, b->message_id);
  EXPECT_NE(a->message_id, c->message_id);
  auto got = receive_now(*cbd, 10);
  EXPECT_EQ(bodies(got), (std::vector<std::string>{"same", "other"}));
  // The content-based id is the body's SHA-256, as SQS shows it.
  EXPECT_EQ(got[0].message_deduplication_id,
            "0967115f2813a3541eaef77de9d9d5773f1c0c04314b0bbfe4ff3b3b1c55b5d5");

  auto scoped = make_fifo(*client, "scoped.fifo",
                          {{"DeduplicationScope", "messageGroup"}, {"FifoThroughputLimit", "perMessageGroupId"}});
  ASSERT_TRUE(scoped);
  auto s1 = scoped->send("1", in_group("g1", "same-id"));
  auto s2 = scoped->send("2", in_group("g2", "same-id"));
  auto s3 = scoped->send("3", in_group("g1", "same-id"));
  ASSERT_TRUE(s1.ok() && s2.ok() && s3.ok());
  EXPECT_NE(s1->message_id, s2->message_id) << "per-group scope: other groups are not duplicates";
  EXPECT_EQ(s1->message_id, s3->message_id);
  auto attrs = scoped->get_attributes({"All"});
  ASSERT_TRUE(attrs.ok());
  EXPECT_EQ(attrs.value()["DeduplicationScope"], "messageGroup");
  EXPECT_EQ(attrs.value()["FifoThroughputLimit"], "perMessageGroupId");
  EXPECT_EQ(attrs.value()["FifoQueue"], "true");
}

TEST(Fifo, BatchKeepsOrderAndSequenceNumbersIncrease) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = make_fifo(*client, "batch.fifo", {{"ContentBasedDeduplication", "true"}});
  ASSERT_TRUE(q);
  std::vector<SendBatchEntry> entries;
  for (int i = 0; i < 10; ++i) {
    SendBatchEntry e;
    e.id = "e" + std::to_string(i);
    e.body = "p" + std::to_string(i);
    e.message_group_id = i % 2 ? "odd" : "even";
    entries.push_back(e);
  }
  entries[3].message_group_id.clear();  // SQS: InvalidParameterValue inside a batch
  auto r = q->send_batch(entries);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->failed.size(), 1u);
  EXPECT_EQ(r->failed[0].id, "e3");
  EXPECT_EQ(r->failed[0].code, "InvalidParameterValue");
  ASSERT_EQ(r->successful.size(), 9u);
  for (size_t i = 1; i < r->successful.size(); ++i)
    EXPECT_LT(r->successful[i - 1].sequence_number, r->successful[i].sequence_number);

  std::vector<std::string> even, odd;
  for (int round = 0; round < 10; ++round) {
    auto got = receive_now(*q, 10);
    for (const auto& m : got) {
      (m.message_group_id == "even" ? even : odd).push_back(std::string(m.body));
      ASSERT_TRUE(q->remove(m.receipt_handle).ok());
    }
  }
  EXPECT_EQ(even, (std::vector<std::string>{"p0", "p2", "p4", "p6", "p8"}));
  EXPECT_EQ(odd, (std::vector<std::string>{"p1", "p5", "p7", "p9"}));
}

TEST(Fifo, ReceiveRequestAttemptIdReturnsTheSameMessages) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = make_fifo(*client, "attempt.fifo", {{"ContentBasedDeduplication", "true"}});
  ASSERT_TRUE(q);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(q->send("m" + std::to_string(i), in_group("g" + std::to_string(i % 3))).ok());
  ReceiveOptions o;
  o.max_messages = 2;
  o.wait_time_seconds = 0;
  o.receive_request_attempt_id = "attempt-1";
  auto first = q->receive(o);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 2u);
  auto retry = q->receive(o);
  ASSERT_TRUE(retry.ok());
  ASSERT_EQ(retry->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(retry.value()[i].message_id, first.value()[i].message_id);
    EXPECT_EQ(retry.value()[i].receipt_handle.str(), first.value()[i].receipt_handle.str());
  }
  o.receive_request_attempt_id = "attempt-2";
  auto other = q->receive(o);
  ASSERT_TRUE(other.ok());
  for (const auto& m : *other)
    for (const auto& f : *first) EXPECT_NE(m.message_id, f.message_id);
  o.receive_request_attempt_id = "bad id";
  EXPECT_EQ(q->receive(o).status().code(), "InvalidParameterValue");
}

TEST(Fifo, DeadLetterQueueKeepsTheGroup) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto dlq = make_fifo(*client, "dead.fifo");
  ASSERT_TRUE(dlq);
  EXPECT_EQ(client->create_queue("std-src", {{"RedrivePolicy",
      R"({"deadLetterTargetArn":"arn:aws:sqs:local:000000000000:dead.fifo","maxReceiveCount":1})"}}).status().code(),
            "InvalidParameterValue") << "a standard queue cannot use a FIFO dead-letter queue";
  auto src = make_fifo(*client, "src.fifo", {{"VisibilityTimeout", "10"}, {"RedrivePolicy",
      R"({"deadLetterTargetArn":"arn:aws:sqs:local:000000000000:dead.fifo","maxReceiveCount":1})"}});
  ASSERT_TRUE(src);
  send_ok(*src, "poison", "g", "p");
  send_ok(*src, "fine", "g", "f");
  auto got = receive_now(*src, 1);
  ASSERT_EQ(bodies(got), (std::vector<std::string>{"poison"}));
  ASSERT_TRUE(client->advance_clock(11000).ok());
  std::vector<Message> moved;
  for (int i = 0; i < 300 && moved.empty(); ++i) {
    moved = receive_now(*dlq, 10);
    if (moved.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(bodies(moved), (std::vector<std::string>{"poison"}));
  EXPECT_EQ(moved[0].message_group_id, "g");
  EXPECT_EQ(bodies(receive_now(*src, 10)), (std::vector<std::string>{"fine"}));
}

// [DG-dlqret]: on a FIFO queue the enqueue timestamp resets when a message
// moves to its dead-letter queue (a standard queue keeps it:
// Timers.DeadLetterRetentionCountsFromOriginalEnqueue). A message that spent
// 61 s in the source lives its DLQ's whole 120 s retention after the move,
// and its SentTimestamp is the move's.
TEST(Fifo, DeadLetterRetentionCountsFromTheMove) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto dlq = make_fifo(*client, "dead5.fifo", {{"MessageRetentionPeriod", "120"}});
  ASSERT_TRUE(dlq);
  auto src = make_fifo(*client, "source5.fifo", {{"VisibilityTimeout", "60"}, {"RedrivePolicy",
      R"({"deadLetterTargetArn":"arn:aws:sqs:local:000000000000:dead5.fifo","maxReceiveCount":1})"}});
  ASSERT_TRUE(src);
  send_ok(*src, "old news", "g", "n");
  auto first = receive_now(*src, 1);
  ASSERT_EQ(first.size(), 1u);
  const uint64_t sent_ms = first[0].sent_timestamp_ms;
  ASSERT_TRUE(client->advance_clock(61000).ok());  // lease over: moved at t = 61 s
  EXPECT_EQ(counts(*dlq), (testing::Counts{"1", "0", "0"}));
  ASSERT_TRUE(client->advance_clock(60000).ok());  // t = 121 s: past 120 s from the send
  EXPECT_EQ(counts(*dlq), (testing::Counts{"1", "0", "0"}))
      << "the FIFO DLQ counted retention from the original send, not from the move";
  auto moved = receive_now(*dlq, 1, 0);  // visibility 0: look, leave it visible
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_GE(moved[0].sent_timestamp_ms, sent_ms + 61000) << "SentTimestamp is not the move's";
  EXPECT_EQ(moved[0].dead_letter_queue_source_arn, "arn:aws:sqs:local:000000000000:source5.fifo");
  EXPECT_EQ(moved[0].message_group_id, "g");
  ASSERT_TRUE(client->advance_clock(61000).ok());  // t = 182 s: 121 s after the move
  EXPECT_EQ(counts(*dlq), (testing::Counts{"0", "0", "0"}));
}

TEST(Fifo, QueueDelayHoldsEveryGroupUntilDue) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = make_fifo(*client, "delay.fifo", {{"DelaySeconds", "5"}, {"ContentBasedDeduplication", "true"}});
  ASSERT_TRUE(q);
  ASSERT_TRUE(q->send("first", in_group("g")).ok());
  SendOptions zero = in_group("g");
  zero.delay_seconds = 0;  // accepted, but no per-message delay: the queue's still applies
  ASSERT_TRUE(q->send("second", zero).ok());
  EXPECT_TRUE(receive_now(*q, 10).empty()) << "delayed by the queue's DelaySeconds";
  EXPECT_EQ(counts(*q), (Counts{"0", "0", "2"}));
  ASSERT_TRUE(client->advance_clock(6000).ok());
  std::vector<Message> got;
  for (int i = 0; i < 300 && got.size() < 2; ++i) {
    auto more = receive_now(*q, 10);
    got.insert(got.end(), more.begin(), more.end());
    if (got.size() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(bodies(got), (std::vector<std::string>{"first", "second"}));
  // Turning content-based deduplication off makes the id required again.
  ASSERT_TRUE(q->set_attributes({{"ContentBasedDeduplication", "false"}}).ok());
  EXPECT_EQ(q->send("third", in_group("g")).status().code(), "InvalidParameterValue");
}

TEST(Fifo, PurgeEmptiesEveryGroup) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = make_fifo(*client, "purge.fifo", {{"ContentBasedDeduplication", "true"}});
  ASSERT_TRUE(q);
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(q->send("m" + std::to_string(i), in_group("g" + std::to_string(i % 7))).ok());
  auto leased = receive_now(*q, 3);
  ASSERT_FALSE(leased.empty());
  ASSERT_TRUE(q->purge().ok());
  EXPECT_EQ(counts(*q), (Counts{"0", "0", "0"}));
  EXPECT_TRUE(receive_now(*q, 10).empty());
  // The groups work again afterwards, in order.
  ASSERT_TRUE(q->send("after-1", in_group("g1")).ok());
  ASSERT_TRUE(q->send("after-2", in_group("g1")).ok());
  EXPECT_EQ(bodies(receive_now(*q, 10)), (std::vector<std::string>{"after-1", "after-2"}));
}

// ---------------------------------------------------------------------------
// The trucks: every truck (message group) sends its GPS points in order;
// many consumers in several processes check each point against the last one
// seen for its truck, in shared memory, before deleting it.

constexpr int kTrucks = 100;
constexpr int kPoints = 60;
constexpr int kProducers = 4;
constexpr int kConsumerProcs = 4;
constexpr int kThreadsPerConsumer = 25;  // 100 consumers in all

struct Trucks {
  std::atomic<int32_t> last[kTrucks];       // last point processed, -1 none
  std::atomic<uint32_t> processed[kTrucks]; // deliveries processed (with repeats)
  std::atomic<uint32_t> out_of_order;
  std::atomic<uint32_t> repeats;
  std::atomic<uint32_t> errors;
  std::atomic<uint32_t> stop;
  char first_error[256];
};

bool all_done(const Trucks* t) {
  for (int i = 0; i < kTrucks; ++i)
    if (t->last[i].load() != kPoints - 1) return false;
  return true;
}

void note_error(Trucks* t, const std::string& what) {
  if (t->errors.fetch_add(1) == 0) std::snprintf(t->first_error, sizeof t->first_error, "%s", what.c_str());
}

[[noreturn]] void truck_producer(const std::string& socket, Trucks* t, int p) {
  auto c = Client::connect(socket);
  auto q = c.ok() ? (*c)->open_queue("trucks.fifo") : Result<std::shared_ptr<Queue>>(c.status());
  if (!q.ok()) {
    note_error(t, "producer open: " + q.status().to_string());
    _exit(1);
  }
  for (int point = 0; point < kPoints; ++point)
    for (int truck = p; truck < kTrucks; truck += kProducers) {
      const std::string body = std::to_string(truck) + ":" + std::to_string(point);
      const std::string group = "truck_" + std::to_string(truck + 1);
      for (;;) {
        auto r = (*q)->send(body, in_group(group, body));
        if (r.ok()) break;
        if (r.status().code() != "OverLimit") {
          note_error(t, "send: " + r.status().to_string());
          _exit(1);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
  _exit(0);
}

// Consumers delete promptly; with `slow_ms` they sometimes dawdle, so a kill
// lands while they hold leases.
[[noreturn]] void truck_consumer(const std::string& socket, Trucks* t, int visibility) {
  auto c = Client::connect(socket);
  auto q = c.ok() ? (*c)->open_queue("trucks.fifo") : Result<std::shared_ptr<Queue>>(c.status());
  if (!q.ok()) {
    note_error(t, "consumer open: " + q.status().to_string());
    _exit(1);
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreadsPerConsumer; ++i)
    threads.emplace_back([&, i] {
      std::mt19937 rng(unsigned(getpid() * 131 + i));
      Message ms[10];
      while (!t->stop.load()) {
        auto n = (*q)->receive(std::span<Message>(ms), {.max_messages = 1 + int(rng() % 3),
                                                         .wait_time_seconds = 1,
                                                         .visibility_timeout = visibility});
        if (!n.ok()) {
          note_error(t, "receive: " + n.status().to_string());
          return;
        }
        for (size_t k = 0; k < *n; ++k) {
          int truck = -1, point = -1;
          if (std::sscanf(std::string(ms[k].body).c_str(), "%d:%d", &truck, &point) != 2 || truck < 0 ||
              truck >= kTrucks || ms[k].message_group_id != "truck_" + std::to_string(truck + 1)) {
            note_error(t, "bad message " + std::string(ms[k].body));
            continue;
          }
          const int32_t last = t->last[truck].load();
          if (point == last) {
            t->repeats.fetch_add(1);  // redelivered after a lease expired
          } else if (point != last + 1) {
            if (t->out_of_order.fetch_add(1) == 0)
              note_error(t, "truck " + std::to_string(truck) + ": point " + std::to_string(point) +
                                " after " + std::to_string(last));
          }
          t->last[truck].store(std::max(last, point));
          t->processed[truck].fetch_add(1);
          if (rng() % 50 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
          Status s = (*q)->remove(ms[k].receipt_handle);
          if (!s.ok()) note_error(t, "delete: " + s.to_string());
        }
      }
    });
  for (auto& th : threads) th.join();
  _exit(0);
}

void run_trucks(bool kill_consumers) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = make_fifo(*client, "trucks.fifo", {{"VisibilityTimeout", "30"}});
  ASSERT_TRUE(q);
  void* mem = mmap(nullptr, sizeof(Trucks), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  Trucks* t = new (mem) Trucks();
  for (auto& l : t->last) l.store(-1);

  std::fflush(nullptr);
  std::vector<pid_t> producers, consumers;
  for (int p = 0; p < kProducers; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) truck_producer(broker.socket(), t, p);
    producers.push_back(pid);
  }
  auto spawn_consumer = [&] {
    pid_t pid = fork();
    if (pid == 0) truck_consumer(broker.socket(), t, 30);
    consumers.push_back(pid);
  };
  for (int k = 0; k < kConsumerProcs; ++k) spawn_consumer();

  std::mt19937 rng(7);
  int kills = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (!all_done(t) && std::chrono::steady_clock::now() < deadline && t->errors.load() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (kill_consumers && kills < 8 && rng() % 5 == 0) {
      // SIGKILL a consumer process mid-way (all its threads, their leases
      // with them) and start a fresh one.
      const size_t victim = rng() % consumers.size();
      kill(consumers[victim], SIGKILL);
      waitpid(consumers[victim], nullptr, 0);
      consumers.erase(consumers.begin() + long(victim));
      spawn_consumer();
      ++kills;
    }
    // Leases a dead consumer held come back when they expire: move the clock.
    if (kill_consumers && kills > 0) (void)client->advance_clock(1000);
  }
  t->stop.store(1);
  for (pid_t p : producers) {
    int st = 0;
    waitpid(p, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "producer status " << st;
  }
  for (pid_t p : consumers) {
    int st = 0;
    for (int i = 0; i < 500 && waitpid(p, &st, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (kill(p, 0) == 0) {
      kill(p, SIGKILL);
      waitpid(p, &st, 0);
      ADD_FAILURE() << "a consumer hung";
    }
  }
  EXPECT_EQ(t->errors.load(), 0u) << t->first_error;
  EXPECT_EQ(t->out_of_order.load(), 0u) << t->first_error;
  int unfinished = 0;
  for (int i = 0; i < kTrucks; ++i) unfinished += t->last[i].load() != kPoints - 1;
  EXPECT_EQ(unfinished, 0) << "trucks whose last point never arrived";
  if (!kill_consumers) {
    EXPECT_EQ(t->repeats.load(), 0u) << "prompt deletes: every point exactly once";
    for (int i = 0; i < kTrucks; ++i) EXPECT_EQ(t->processed[i].load(), uint32_t(kPoints)) << "truck " << i;
  } else {
    EXPECT_GT(kills, 0);
  }
  // Before this thread takes a lane of its own.
  EXPECT_TRUE(broker.wait_lanes_free("trucks.fifo")) << "a dead consumer's lane was never repaired";
  EXPECT_TRUE(receive_now(*q, 10).empty());
  munmap(mem, sizeof(Trucks));
}

TEST(FifoTrucks, EveryTruckInOrderExactlyOnce) { run_trucks(false); }

TEST(FifoTrucks, ConsumersKilledMidwayLoseNothingAndKeepOrder) { run_trucks(true); }

}  // namespace
}  // namespace shmq
