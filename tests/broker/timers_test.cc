// Time-driven behaviour through a real broker: long polling, delays,
// retention, dead-letter moves and the PurgeQueue rate limit. The test clock
// (advance_clock) replaces sleeping wherever the queue clock decides.
#include <algorithm>
#include <chrono>
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


using Clock = std::chrono::steady_clock;




double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// ---------------------------------------------------------------------------
// Long polling.

TEST(Timers, LongPollWakesOnSend) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("poll");
  ASSERT_TRUE(q.ok()) << q.status().to_string();

  std::vector<double> latencies;
  for (int trial = 0; trial < 5; ++trial) {
    const std::string body = "wake-" + std::to_string(trial);
    Result<std::vector<Message>> got = Status("NotRun", "");
    Clock::time_point returned;
    std::thread receiver([&] {
      got = (*q)->receive({.max_messages = 1, .wait_time_seconds = 5, .visibility_timeout = 30});
      returned = Clock::now();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const Clock::time_point before_send = Clock::now();
    auto sent = (*q)->send(body);
    receiver.join();
    ASSERT_TRUE(sent.ok()) << sent.status().to_string();
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    ASSERT_EQ(got->size(), 1u) << "trial " << trial << ": the long poll returned without the message";
    EXPECT_EQ(got.value()[0].body, body);
    EXPECT_EQ(got.value()[0].message_id, sent->message_id);
    latencies.push_back(ms_between(before_send, returned));
    ASSERT_TRUE((*q)->remove(got.value()[0].receipt_handle).ok());
  }
  std::sort(latencies.begin(), latencies.end());
  const double median = latencies[latencies.size() / 2];
  EXPECT_LT(median, 50.0) << "median send-to-receive latency of a long poll, ms (max "
                          << latencies.back() << ")";
}

TEST(Timers, LongPollOnEmptyQueueWaitsTheFullTime) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("empty");
  ASSERT_TRUE(q.ok());
  const auto t0 = Clock::now();
  auto got = (*q)->receive({.max_messages = 1, .wait_time_seconds = 1});
  const double waited = ms_between(t0, Clock::now());
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(got->size(), 0u);
  EXPECT_GE(waited, 1000.0);
  EXPECT_LT(waited, 3000.0);
}

TEST(Timers, QueueReceiveWaitTimeSecondsIsTheDefaultWait) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("defaultwait", {{"ReceiveMessageWaitTimeSeconds", "1"}});
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  const auto t0 = Clock::now();
  auto got = (*q)->receive({.max_messages = 1});  // wait -1: the queue's
  const double waited = ms_between(t0, Clock::now());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), 0u);
  EXPECT_GE(waited, 1000.0);
  EXPECT_LT(waited, 3000.0);
  // An explicit 0 overrides it: a short poll.
  const auto t1 = Clock::now();
  auto short_poll = (*q)->receive({.max_messages = 1, .wait_time_seconds = 0});
  ASSERT_TRUE(short_poll.ok());
  EXPECT_LT(ms_between(t1, Clock::now()), 1000.0);
}

// ---------------------------------------------------------------------------
// Delays.

TEST(Timers, QueueDelaySeconds) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("delayed", {{"DelaySeconds", "10"}});
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  auto sent = (*q)->send("patience");
  ASSERT_TRUE(sent.ok());
  EXPECT_TRUE(receive_now(**q).empty());
  EXPECT_EQ(counts(**q), (Counts{"0", "0", "1"}));

  // 5 s before it is due: the queue clock also runs in real time, so the
  // margin must outlast a stalled (sanitizer, loaded) test process.
  ASSERT_TRUE(client->advance_clock(5000).ok());
  EXPECT_TRUE(receive_now(**q).empty());
  EXPECT_EQ(counts(**q), (Counts{"0", "0", "1"}));

  ASSERT_TRUE(client->advance_clock(6000).ok());  // 11 s
  EXPECT_EQ(counts(**q), (Counts{"1", "0", "0"}));
  auto got = receive_now(**q);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "patience");
  EXPECT_EQ(got[0].message_id, sent->message_id);
  EXPECT_EQ(got[0].receive_count, 1u);
}

TEST(Timers, PerMessageDelayOverridesQueueDelay) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("override", {{"DelaySeconds", "10"}});
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE((*q)->send("five", delay_of(5)).ok());
  ASSERT_TRUE((*q)->send("ten").ok());
  ASSERT_TRUE((*q)->send("zero", delay_of(0)).ok());

  auto now = receive_now(**q, 10);
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].body, "zero");
  EXPECT_EQ(counts(**q), (Counts{"0", "1", "2"}));

  ASSERT_TRUE(client->advance_clock(6000).ok());
  auto at6 = receive_now(**q, 10);
  ASSERT_EQ(at6.size(), 1u);
  EXPECT_EQ(at6[0].body, "five");

  ASSERT_TRUE(client->advance_clock(5000).ok());  // 11 s
  auto at11 = receive_now(**q, 10);
  ASSERT_EQ(at11.size(), 1u);
  EXPECT_EQ(at11[0].body, "ten");
}

TEST(Timers, DelayOver900Refused) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("bounds");
  ASSERT_TRUE(q.ok());
  auto r = (*q)->send("x", delay_of(901));
  EXPECT_EQ(r.status().code(), "InvalidParameterValue") << r.status().to_string();
  EXPECT_TRUE((*q)->send("x", delay_of(900)).ok());
  EXPECT_EQ(counts(**q), (Counts{"0", "0", "1"}));

  // In a batch the entry fails, the others go.
  auto b = (*q)->send_batch({batch_entry("bad", "b", 901), batch_entry("good", "g")});
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  ASSERT_EQ(b->successful.size(), 1u);
  EXPECT_EQ(b->successful[0].id, "good");
  ASSERT_EQ(b->failed.size(), 1u);
  EXPECT_EQ(b->failed[0].id, "bad");
  EXPECT_EQ(b->failed[0].code, "InvalidParameterValue");
  EXPECT_TRUE(b->failed[0].sender_fault);

  // The queue attribute: InvalidAttributeValue, as SQS answers for attributes.
  auto bad = client->create_queue("bounds2", {{"DelaySeconds", "901"}});
  EXPECT_EQ(bad.status().code(), "InvalidAttributeValue") << bad.status().to_string();
  EXPECT_EQ(client->open_queue("bounds2").status().code(), "QueueDoesNotExist");
  Status set = (*q)->set_attributes({{"DelaySeconds", "901"}});
  EXPECT_EQ(set.code(), "InvalidAttributeValue") << set.to_string();
  auto attrs = (*q)->get_attributes({"DelaySeconds"});
  ASSERT_TRUE(attrs.ok());
  EXPECT_EQ(attrs.value()["DelaySeconds"], "0");
  EXPECT_EQ(counts(**q), (Counts{"1", "0", "1"}));
}

// ---------------------------------------------------------------------------
// Retention.

TEST(Timers, RetentionExpiresVisibleMessages) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("retain", {{"MessageRetentionPeriod", "60"}});
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  ASSERT_TRUE((*q)->send("short-lived").ok());
  ASSERT_TRUE(client->advance_clock(55000).ok());
  EXPECT_EQ(counts(**q), (Counts{"1", "0", "0"}));
  ASSERT_TRUE(client->advance_clock(6000).ok());  // 61 s
  EXPECT_EQ(counts(**q), (Counts{"0", "0", "0"}));
  EXPECT_TRUE(receive_now(**q).empty());
}

TEST(Timers, RetentionExpiresLeasedMessages) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("retain2", {{"MessageRetentionPeriod", "60"}});
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE((*q)->send("leased").ok());
  auto got = receive_now(**q, 1, 600);  // a lease longer than the retention
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(counts(**q), (Counts{"0", "1", "0"}));
  ASSERT_TRUE(client->advance_clock(61000).ok());
  EXPECT_EQ(counts(**q), (Counts{"0", "0", "0"}));
  ASSERT_TRUE(client->advance_clock(600000).ok());  // well past the lease too
  EXPECT_TRUE(receive_now(**q).empty());
  EXPECT_EQ(counts(**q), (Counts{"0", "0", "0"}));
}

TEST(Timers, RetentionExpiresDelayedMessages) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("retain3", {{"MessageRetentionPeriod", "60"}});
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE((*q)->send("never seen", delay_of(120)).ok());
  EXPECT_EQ(counts(**q), (Counts{"0", "0", "1"}));
  ASSERT_TRUE(client->advance_clock(61000).ok());
  EXPECT_EQ(counts(**q), (Counts{"0", "0", "0"}));
  ASSERT_TRUE(client->advance_clock(60000).ok());
  EXPECT_TRUE(receive_now(**q).empty());
}

// ---------------------------------------------------------------------------
// Dead-letter queues.

TEST(Timers, DeadLetterAfterMaxReceiveCount) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto dlq = client->create_queue("dead");
  ASSERT_TRUE(dlq.ok()) << dlq.status().to_string();
  auto dlq_attrs = (*dlq)->get_attributes({"QueueArn"});
  ASSERT_TRUE(dlq_attrs.ok());
  const std::string arn = dlq_attrs.value()["QueueArn"];
  EXPECT_EQ(arn, "arn:aws:sqs:local:000000000000:dead");

  const std::string policy = R"({"deadLetterTargetArn":")" + arn + R"(","maxReceiveCount":"2"})";
  auto src = client->create_queue("source", {{"RedrivePolicy", policy}, {"VisibilityTimeout", "30"}});
  ASSERT_TRUE(src.ok()) << src.status().to_string();

  MessageAttributes attrs{{"color", {"String", "blue", ""}},
                          {"weight", {"Number", "42.5", ""}},
                          {"blob", {"Binary", "", std::string("\x00\x01\xff", 3)}}};
  SendOptions traced = attributes_of(&attrs);
  traced.aws_trace_header = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1";
  auto sent = (*src)->send("doomed", traced);
  ASSERT_TRUE(sent.ok()) << sent.status().to_string();

  auto r1 = receive_now(**src);
  ASSERT_EQ(r1.size(), 1u);
  EXPECT_EQ(r1[0].receive_count, 1u);
  EXPECT_EQ(r1[0].aws_trace_header, traced.aws_trace_header);
  EXPECT_TRUE(r1[0].dead_letter_queue_source_arn.empty()) << "not moved yet";
  EXPECT_EQ(r1[0].attributes().size(), 3u) << "the trace header is no message attribute";
  ASSERT_TRUE(client->advance_clock(31000).ok());
  // One receive is below maxReceiveCount: still in the source.
  EXPECT_TRUE(receive_now(**dlq).empty());
  auto r2 = receive_now(**src);
  ASSERT_EQ(r2.size(), 1u);
  EXPECT_EQ(r2[0].receive_count, 2u);
  ASSERT_TRUE(client->advance_clock(31000).ok());

  // Received twice and not deleted: moved.
  EXPECT_TRUE(receive_now(**src).empty());
  EXPECT_EQ(counts(**src), (Counts{"0", "0", "0"}));
  EXPECT_EQ(counts(**dlq), (Counts{"1", "0", "0"}));
  auto d = receive_now(**dlq);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].body, "doomed");
  auto got_attrs = d[0].attributes();
  ASSERT_EQ(got_attrs.size(), 3u);
  EXPECT_EQ(got_attrs["color"].data_type, "String");
  EXPECT_EQ(got_attrs["color"].string_value, "blue");
  EXPECT_EQ(got_attrs["weight"].data_type, "Number");
  EXPECT_EQ(got_attrs["weight"].string_value, "42.5");
  EXPECT_EQ(got_attrs["blob"].data_type, "Binary");
  EXPECT_EQ(got_attrs["blob"].binary_value, std::string("\x00\x01\xff", 3));
  // A standard queue keeps the original enqueue time ([DG-dlqret]).
  EXPECT_EQ(d[0].sent_timestamp_ms, r1[0].sent_timestamp_ms);
  // The moved message names its source and keeps its trace header (SQS.md 2.3).
  EXPECT_EQ(d[0].dead_letter_queue_source_arn, "arn:aws:sqs:local:000000000000:source");
  EXPECT_EQ(d[0].aws_trace_header, traced.aws_trace_header);

  // The old source handle is stale: it neither deletes nor changes anything.
  Status old = (*src)->remove(r2[0].receipt_handle);
  EXPECT_TRUE(old.ok() || old.code() == "InvalidParameterValue") << old.to_string();
  EXPECT_EQ(counts(**dlq), (Counts{"0", "1", "0"}));
  ASSERT_TRUE((*dlq)->remove(d[0].receipt_handle).ok());
  EXPECT_EQ(counts(**dlq), (Counts{"0", "0", "0"}));
  auto stats = broker.queue_stats("source");
  ASSERT_FALSE(stats.is_null());
  EXPECT_EQ(stats["dlq_moved"], 1);
}

TEST(Timers, DeletedBeforeMaxReceiveCountStaysOutOfDeadLetterQueue) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto dlq = client->create_queue("dead2");
  ASSERT_TRUE(dlq.ok());
  auto src = client->create_queue(
      "source2", {{"RedrivePolicy", R"({"deadLetterTargetArn":"arn:aws:sqs:local:000000000000:dead2","maxReceiveCount":2})"}});
  ASSERT_TRUE(src.ok()) << src.status().to_string();
  ASSERT_TRUE((*src)->send("fine").ok());
  auto r1 = receive_now(**src, 1, 30);
  ASSERT_EQ(r1.size(), 1u);
  ASSERT_TRUE(client->advance_clock(31000).ok());
  auto r2 = receive_now(**src, 1, 30);
  ASSERT_EQ(r2.size(), 1u);
  ASSERT_TRUE((*src)->remove(r2[0].receipt_handle).ok());
  ASSERT_TRUE(client->advance_clock(31000).ok());
  EXPECT_EQ(counts(**dlq), (Counts{"0", "0", "0"}));
  EXPECT_EQ(counts(**src), (Counts{"0", "0", "0"}));
}

TEST(Timers, ChangeVisibilityZeroAtMaxReceiveCountMovesToDeadLetterQueue) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto dlq = client->create_queue("dead3");
  ASSERT_TRUE(dlq.ok());
  auto src = client->create_queue(
      "source3", {{"RedrivePolicy", R"({"deadLetterTargetArn":"arn:aws:sqs:local:000000000000:dead3","maxReceiveCount":"1"})"}});
  ASSERT_TRUE(src.ok()) << src.status().to_string();
  ASSERT_TRUE((*src)->send("give up").ok());
  auto r1 = receive_now(**src, 1, 300);
  ASSERT_EQ(r1.size(), 1u);
  // Received maxReceiveCount times and handed back: it goes to the DLQ, not
  // back to the source.
  ASSERT_TRUE((*src)->change_visibility(r1[0].receipt_handle, 0).ok());
  EXPECT_TRUE(receive_now(**src).empty());
  ASSERT_TRUE(client->advance_clock(1).ok());  // one timer pass
  EXPECT_TRUE(receive_now(**src).empty());
  EXPECT_EQ(counts(**src), (Counts{"0", "0", "0"}));
  auto d = receive_now(**dlq);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].body, "give up");
}

TEST(Timers, DeadLetterRetentionCountsFromOriginalEnqueue) {
  // [DG-dlqret]: on a standard queue the enqueue timestamp is unchanged by the
  // move, and expiry is always based on it: a message that spent 61 s in the
  // source expires from a DLQ with a 120 s retention 59 s after the move.
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto dlq = client->create_queue("dead4", {{"MessageRetentionPeriod", "120"}});
  ASSERT_TRUE(dlq.ok()) << dlq.status().to_string();
  auto src = client->create_queue(
      "source4", {{"VisibilityTimeout", "60"},
                  {"RedrivePolicy", R"({"deadLetterTargetArn":"arn:aws:sqs:local:000000000000:dead4","maxReceiveCount":"1"})"}});
  ASSERT_TRUE(src.ok()) << src.status().to_string();
  ASSERT_TRUE((*src)->send("old news").ok());
  ASSERT_EQ(receive_now(**src).size(), 1u);
  ASSERT_TRUE(client->advance_clock(61000).ok());  // lease over: moved at t = 61 s
  EXPECT_EQ(counts(**dlq), (Counts{"1", "0", "0"}));
  ASSERT_TRUE(client->advance_clock(54000).ok());  // t = 115 s: still within 120 s of the send
  EXPECT_EQ(counts(**dlq), (Counts{"1", "0", "0"}));
  ASSERT_TRUE(client->advance_clock(6000).ok());  // t = 121 s
  EXPECT_EQ(counts(**dlq), (Counts{"0", "0", "0"}))
      << "the DLQ counts retention from the move, not from the original send";
  EXPECT_TRUE(receive_now(**dlq).empty());
}

TEST(Timers, RedrivePolicyNamingMissingQueueFails) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  const std::string policy = R"({"deadLetterTargetArn":"arn:aws:sqs:local:000000000000:nowhere","maxReceiveCount":"2"})";
  auto created = client->create_queue("orphan", {{"RedrivePolicy", policy}});
  EXPECT_EQ(created.status().code(), "InvalidParameterValue") << created.status().to_string();
  EXPECT_EQ(client->open_queue("orphan").status().code(), "QueueDoesNotExist");

  // On an existing queue: refused, the queue keeps its attributes.
  auto q = client->create_queue("plain");
  ASSERT_TRUE(q.ok());
  Status s = (*q)->set_attributes({{"RedrivePolicy", policy}});
  EXPECT_EQ(s.code(), "InvalidParameterValue") << s.to_string();
  auto a = (*q)->get_attributes();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->count("RedrivePolicy"), 0u);
}

// ---------------------------------------------------------------------------
// PurgeQueue.

TEST(Timers, PurgeDeletesEverythingOncePerMinute) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("purge");
  ASSERT_TRUE(q.ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*q)->send("v" + std::to_string(i)).ok());
  ASSERT_TRUE((*q)->send("d", delay_of(30)).ok());
  auto leased = receive_now(**q, 1, 300);
  ASSERT_EQ(leased.size(), 1u);
  EXPECT_EQ(counts(**q), (Counts{"2", "1", "1"}));

  Status p = (*q)->purge();
  ASSERT_TRUE(p.ok()) << p.to_string();
  EXPECT_EQ(counts(**q), (Counts{"0", "0", "0"}));
  EXPECT_TRUE(receive_now(**q, 10).empty());
  ASSERT_TRUE(client->advance_clock(31000).ok());  // the delayed one must not come back
  EXPECT_TRUE(receive_now(**q, 10).empty());

  ASSERT_TRUE((*q)->send("after").ok());
  Status again = client->purge_queue("purge");
  EXPECT_EQ(again.code(), "PurgeQueueInProgress") << again.to_string();
  EXPECT_EQ(counts(**q), (Counts{"1", "0", "0"}));  // the refused purge deleted nothing

  ASSERT_TRUE(client->advance_clock(30000).ok());  // 61 s after the first purge
  Status third = client->purge_queue("purge");
  EXPECT_TRUE(third.ok()) << third.to_string();
  EXPECT_EQ(counts(**q), (Counts{"0", "0", "0"}));
  EXPECT_TRUE(receive_now(**q).empty());
}

}  // namespace
}  // namespace shmq
