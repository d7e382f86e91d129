// The engine pieces behind the HTTP gateway's extra actions, through the
// client API: tags (persisted), dead-letter sources, the grants list, and
// message move tasks (redrive back to each message's source, to a
// destination, at a rate; cancel; the errors SQS gives).
#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/broker_process.h"
#include "tests/support/queue_helpers.h"

namespace shmq::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Waits (polling, bounded) until the most recent task of source is no longer RUNNING.
MessageMoveTask wait_task(Client& c, const std::string& source, int timeout_ms = 10000) {
  const auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto tasks = c.list_message_move_tasks(source, 1);
    EXPECT_TRUE(tasks.ok()) << tasks.status().to_string();
    if (!tasks.ok() || tasks->empty()) return {};
    if (tasks->front().status != "RUNNING" || Clock::now() > until) return tasks->front();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// A RedrivePolicy into the queue "dlq" after one receive.
const std::string kToDlqAfterOne =
    R"({"deadLetterTargetArn":"arn:aws:sqs:local:000000000000:dlq","maxReceiveCount":"1"})";

// Sends n messages to src and lets them die into its DLQ (maxReceiveCount 1).
void fill_dlq(Client& c, Queue& src, int n) {
  for (int i = 0; i < n; ++i) ASSERT_TRUE(src.send(src.name() + "-" + std::to_string(i)).ok());
  for (int got = 0; got < n;) got += int(receive_now(src, 10, 1).size());
  ASSERT_TRUE(c.advance_clock(1500).ok());  // the leases end; the timer moves them
}

TEST(EngineOps, TagsArePersistedAndValidated) {
  BrokerProcess broker;
  auto c = broker.connect();
  ASSERT_TRUE(c->create_queue("t").ok());
  ASSERT_TRUE(c->tag_queue("t", {{"team", "shmq"}, {"env", "dev"}}).ok());
  ASSERT_TRUE(c->untag_queue("t", {"env", "absent"}).ok());
  EXPECT_EQ(c->tag_queue("t", {{"aws:x", "1"}}).code(), "InvalidParameterValue");
  EXPECT_EQ(c->tag_queue("t", {{"", "1"}}).code(), "InvalidParameterValue");
  EXPECT_EQ(c->tag_queue("t", {{"k", std::string(257, 'v')}}).code(), "InvalidParameterValue");
  std::map<std::string, std::string> many;
  for (int i = 0; i < 51; ++i) many["k" + std::to_string(i)] = "v";
  EXPECT_EQ(c->tag_queue("t", many).code(), "InvalidParameterValue");
  EXPECT_EQ(c->tag_queue("nope", {{"a", "b"}}).code(), "QueueDoesNotExist");
  broker.restart();
  c = broker.connect();
  auto tags = c->list_queue_tags("shmq://localhost/000000000000/t");
  ASSERT_TRUE(tags.ok()) << tags.status().to_string();
  EXPECT_EQ(tags.value(), (std::map<std::string, std::string>{{"team", "shmq"}}));
}

TEST(EngineOps, DeadLetterSourcesAndGrants) {
  BrokerProcess broker;
  auto c = broker.connect();
  ASSERT_TRUE(c->create_queue("dlq").ok());
  const std::string rp = R"({"deadLetterTargetArn":"arn:aws:sqs:local:000000000000:dlq","maxReceiveCount":"3"})";
  ASSERT_TRUE(c->create_queue("a", {{"RedrivePolicy", rp}}).ok());
  ASSERT_TRUE(c->create_queue("b", {{"RedrivePolicy", rp}}).ok());
  ASSERT_TRUE(c->create_queue("c").ok());
  auto sources = c->list_dead_letter_source_queues("dlq");
  ASSERT_TRUE(sources.ok());
  EXPECT_EQ(sources.value(), (std::vector<std::string>{"shmq://localhost/000000000000/a",
                                                        "shmq://localhost/000000000000/b"}));
  EXPECT_TRUE(c->list_dead_letter_source_queues("c")->empty());
  ASSERT_TRUE(c->add_permission("a", "http", "account:111122223333,444455556666", {"SendMessage"}).ok());
  EXPECT_EQ(c->add_permission("a", "bad", "account:12ab", {"SendMessage"}).code(), "InvalidParameterValue");
  EXPECT_EQ(c->add_permission("a", "bad", "uid:1", {"SendMessage"}).code(), "InvalidParameterValue");
  auto grants = c->list_permissions("a");
  ASSERT_TRUE(grants.ok());
  ASSERT_EQ(grants->size(), 1u);
  EXPECT_EQ(grants->at(0).principal, "account:111122223333,444455556666");
}

TEST(EngineOps, MoveTaskRedrivesEachMessageToItsSource) {
  BrokerProcess broker;
  auto c = broker.connect();
  ASSERT_TRUE(c->create_queue("dlq").ok());
  auto a = c->create_queue("a", {{"RedrivePolicy", kToDlqAfterOne}});
  auto b = c->create_queue("b", {{"RedrivePolicy", kToDlqAfterOne}});
  ASSERT_TRUE(a.ok() && b.ok());
  const MessageAttributes attrs{{"k", {"String", "v", ""}}};
  ASSERT_TRUE((*a)->send("with-attrs", attributes_of(&attrs)).ok());
  fill_dlq(*c, **a, 3);
  fill_dlq(*c, **b, 2);
  auto dlq = c->open_queue("dlq");
  ASSERT_TRUE(dlq.ok());
  EXPECT_EQ(counts(**dlq).visible, "6");

  auto handle = c->start_message_move_task("arn:aws:sqs:us-east-1:000000000000:dlq");
  ASSERT_TRUE(handle.ok()) << handle.status().to_string();
  MessageMoveTask t = wait_task(*c, "dlq");
  EXPECT_EQ(t.status, "COMPLETED");
  EXPECT_EQ(t.moved, 6u);
  EXPECT_EQ(t.to_move, 6u);
  EXPECT_TRUE(t.task_handle.empty()) << "the handle is listed only while RUNNING";
  EXPECT_EQ(counts(**dlq).visible, "0");
  std::vector<std::string> in_a, in_b;
  for (auto& m : receive_now(**a, 10)) {
    in_a.push_back(m.body_copy());
    if (m.body == "with-attrs") {
      EXPECT_EQ(m.attributes().at("k").string_value, "v");
    }
    EXPECT_EQ(m.receive_count, 1u) << "a redriven message starts its receive count anew";
  }
  for (auto& m : receive_now(**b, 10)) in_b.push_back(m.body_copy());
  std::sort(in_a.begin(), in_a.end());
  std::sort(in_b.begin(), in_b.end());
  EXPECT_EQ(in_a, (std::vector<std::string>{"a-0", "a-1", "a-2", "with-attrs"}));
  EXPECT_EQ(in_b, (std::vector<std::string>{"b-0", "b-1"}));
  EXPECT_EQ(c->cancel_message_move_task(handle.value()).status().code(), "InvalidParameterValue");
}

// SQS's size is the body plus the message attributes' names, types and
// values: a message of exactly the maximum, with attributes and a trace
// header, goes to the dead-letter queue (which adds DeadLetterQueueSourceArn)
// and back with its move task, neither counting against the limit.
TEST(EngineOps, MoveTaskRedrivesAMessageOfTheMaximumSize) {
  BrokerProcess broker;
  auto c = broker.connect();
  ASSERT_TRUE(c->create_queue("dlq").ok());
  auto src = c->create_queue("src", {{"RedrivePolicy", kToDlqAfterOne}});
  ASSERT_TRUE(src.ok());
  const MessageAttributes attrs{{"k", {"String", "v", ""}}};
  const std::string body(1048576 - (1 + 6 + 1), 'm');  // k, String, v
  SendOptions o = attributes_of(&attrs);
  o.aws_trace_header = "Root=1-5759e988-bd862e3fe1be46a994272793";
  ASSERT_TRUE((*src)->send(body, o).ok());
  ASSERT_EQ(receive_now(**src, 1, 1).size(), 1u);
  ASSERT_TRUE(c->advance_clock(1500).ok());  // the lease ends: moved
  auto dlq = c->open_queue("dlq");
  ASSERT_TRUE(dlq.ok());
  ASSERT_EQ(counts(**dlq).visible, "1");
  ASSERT_TRUE(c->start_message_move_task("dlq").ok());
  MessageMoveTask t = wait_task(*c, "dlq");
  EXPECT_EQ(t.status, "COMPLETED") << t.failure_reason;
  EXPECT_EQ(t.moved, 1u);
  auto back = receive_now(**src, 1);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].body.size(), body.size());
  EXPECT_EQ(back[0].attributes().at("k").string_value, "v");
  EXPECT_EQ(back[0].aws_trace_header, o.aws_trace_header);
}

TEST(EngineOps, MoveTaskToADestinationAtARate) {
  BrokerProcess broker;
  auto c = broker.connect();
  ASSERT_TRUE(c->create_queue("dlq").ok());
  auto src = c->create_queue(
      "src", {{"RedrivePolicy", kToDlqAfterOne}});
  auto dst = c->create_queue("dst");
  ASSERT_TRUE(src.ok() && dst.ok());
  fill_dlq(*c, **src, 20);
  const auto t0 = Clock::now();
  auto handle = c->start_message_move_task("dlq", "arn:aws:sqs:local:000000000000:dst", 25);
  ASSERT_TRUE(handle.ok()) << handle.status().to_string();
  EXPECT_EQ(c->start_message_move_task("dlq").status().code(), "InvalidParameterValue") << "one task per source";
  MessageMoveTask t = wait_task(*c, "dlq");
  EXPECT_EQ(t.status, "COMPLETED");
  EXPECT_EQ(t.moved, 20u);
  EXPECT_EQ(t.destination, "dst");
  EXPECT_EQ(t.max_per_second, 25);
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(500)) << "20 messages at 25/s take most of a second";
  EXPECT_EQ(counts(**dst).visible, "20");
}

TEST(EngineOps, MoveTaskCancelAndErrors) {
  BrokerProcess broker;
  auto c = broker.connect();
  ASSERT_TRUE(c->create_queue("dlq").ok());
  auto src = c->create_queue(
      "src", {{"RedrivePolicy", kToDlqAfterOne}});
  ASSERT_TRUE(src.ok());
  fill_dlq(*c, **src, 30);
  auto handle = c->start_message_move_task("dlq", "", 1);
  ASSERT_TRUE(handle.ok());
  auto moved = c->cancel_message_move_task(handle.value());
  ASSERT_TRUE(moved.ok()) << moved.status().to_string();
  EXPECT_LT(moved.value(), 30u);
  auto tasks = c->list_message_move_tasks("dlq", 10);
  ASSERT_TRUE(tasks.ok());
  EXPECT_EQ(tasks->front().status, "CANCELLED");

  EXPECT_EQ(c->start_message_move_task("src").status().code(), "InvalidParameterValue") << "not a DLQ";
  EXPECT_EQ(c->start_message_move_task("nope").status().code(), "ResourceNotFoundException");
  EXPECT_EQ(c->start_message_move_task("dlq", "nope").status().code(), "ResourceNotFoundException");
  EXPECT_EQ(c->start_message_move_task("dlq", "", 501).status().code(), "InvalidParameterValue");
  EXPECT_EQ(c->cancel_message_move_task("ffff").status().code(), "ResourceNotFoundException");
  EXPECT_EQ(c->list_message_move_tasks("dlq", 11).status().code(), "InvalidParameterValue");
  EXPECT_EQ(c->list_message_move_tasks("nope").status().code(), "ResourceNotFoundException");
}

TEST(EngineOps, MoveTaskRedrivesAFifoQueueInGroupOrder) {
  BrokerProcess broker;
  auto c = broker.connect();
  ASSERT_TRUE(c->create_queue("dlq.fifo", {{"FifoQueue", "true"}}).ok());
  auto src = c->create_queue(
      "src.fifo", {{"FifoQueue", "true"},
                   {"RedrivePolicy", R"({"deadLetterTargetArn":"arn:aws:sqs:local:000000000000:dlq.fifo","maxReceiveCount":"1"})"}});
  ASSERT_TRUE(src.ok()) << src.status().to_string();
  for (int i = 0; i < 4; ++i) {
    SendOptions o;
    const std::string dedup = "d" + std::to_string(i);
    o.message_group_id = i % 2 ? "odd" : "even";
    o.message_deduplication_id = dedup;
    ASSERT_TRUE((*src)->send("m" + std::to_string(i), o).ok());
  }
  for (int got = 0; got < 4;) got += int(receive_now(**src, 10, 1).size());
  ASSERT_TRUE(c->advance_clock(1500).ok());
  ASSERT_TRUE(c->start_message_move_task("dlq.fifo").ok());
  MessageMoveTask t = wait_task(*c, "dlq.fifo");
  EXPECT_EQ(t.status, "COMPLETED") << t.failure_reason;
  EXPECT_EQ(t.moved, 4u);
  std::map<std::string, std::vector<std::string>> by_group;
  for (int round = 0; round < 4; ++round)
    for (auto& m : receive_now(**src, 10, 30)) {
      by_group[std::string(m.message_group_id)].push_back(m.body_copy());
      ASSERT_TRUE((*src)->remove(m.receipt_handle).ok());
    }
  EXPECT_EQ(by_group["even"], (std::vector<std::string>{"m0", "m2"}));
  EXPECT_EQ(by_group["odd"], (std::vector<std::string>{"m1", "m3"}));
}

}  // namespace
}  // namespace shmq::testing
