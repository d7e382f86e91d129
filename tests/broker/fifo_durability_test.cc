// Durable FIFO queues end to end (real broker processes): power loss with a
// sync FIFO sender (broker and sender SIGKILLed, segments deleted, restart)
// must lose no acknowledged message, keep each group's order, the
// SequenceNumbers and the MessageIds, and keep deduplicating: a duplicate
// sent after the rebuild gets the original MessageId, also for a message
// deleted before the power went.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/broker_process.h"
#include "tests/support/power_loss.h"
#include "tests/support/queue_helpers.h"

namespace shmq {
namespace {

using testing::power_loss;
using testing::receive_now;

// A small class 0, so slots are recycled (in the order the drains below
// delete them) and slot order differs from send order.
const std::vector<std::string> kSmall = {"--journal-file-mb", "1", "--slots", "48,16,4,2"};
constexpr int kGroups = 4;

SendOptions in_group(std::string_view group, std::string_view dedup) {
  SendOptions o;
  o.message_group_id = group;
  o.message_deduplication_id = dedup;
  return o;
}

struct Received {
  std::string body, id, group;
  uint64_t sequence_number = 0;
};

// Receives everything (leases of 10 minutes) and deletes it, in an order
// shuffled within each batch (so the free ring's order gets mixed up).
// Returns the messages in the order they were delivered.
std::vector<Received> drain_fifo(Queue& q, std::mt19937* rng) {
  std::vector<Received> out;
  for (;;) {
    auto got = receive_now(q, 10, 600);
    if (got.empty()) return out;
    for (auto& m : got)
      out.push_back({m.body_copy(), m.message_id.str(), std::string(m.message_group_id), m.sequence_number});
    std::shuffle(got.begin(), got.end(), *rng);
    for (auto& m : got) EXPECT_TRUE(q.remove(m.receipt_handle).ok());
  }
}

// Each group's messages must come in SequenceNumber order, which is the
// order of the sender's counter in their bodies ("...-m<i>").
void expect_group_order(const std::vector<Received>& got, const std::string& context) {
  std::map<std::string, std::pair<uint64_t, int>> last;  // group -> (seq, index)
  for (const Received& r : got) {
    const int index = std::stoi(r.body.substr(r.body.rfind('m') + 1));
    auto it = last.find(r.group);
    if (it != last.end()) {
      EXPECT_GT(r.sequence_number, it->second.first) << context << ": group " << r.group << " out of order at " << r.body;
      EXPECT_GT(index, it->second.second) << context << ": group " << r.group << " out of order at " << r.body;
    }
    last[r.group] = {r.sequence_number, index};
  }
}

// Sends sync FIFO messages round robin over the groups from a child process
// until killed (or the queue is full), writing each acknowledged one
// ("<id> <seq> <group> <body>\n") to fd.
[[noreturn]] void fifo_sender(const std::string& socket, const std::string& queue, int trial, int fd) {
  auto c = Client::connect(socket);
  if (!c.ok()) _exit(3);
  auto q = (*c)->open_queue(queue);
  if (!q.ok()) _exit(4);
  for (int i = 0;; ++i) {
    const std::string body = "t" + std::to_string(trial) + "-m" + std::to_string(i);
    const std::string group = "g" + std::to_string(i % kGroups);
    auto r = (*q)->send(body, in_group(group, body));
    if (!r.ok()) {
      if (r.status().code() != "OverLimit") _exit(5);
      for (;;) pause();  // full: wait for the power to go
    }
    std::string line = r->message_id.str() + " " + std::to_string(r->sequence_number) + " " + group + " " + body + "\n";
    if (write(fd, line.data(), line.size()) != ssize_t(line.size())) _exit(6);
  }
}

struct Ack {
  std::string id, group;
  uint64_t sequence_number = 0;
};

TEST(FifoDurability, SyncAcknowledgedMessagesSurvivePowerLossInOrder) {
  testing::BrokerProcess broker(kSmall);
  {
    auto client = broker.connect();
    ASSERT_TRUE(client->create_queue("p.fifo", {{"FifoQueue", "true"}, {"Durability", "sync"}}).ok());
  }
  std::mt19937 rng(7);
  constexpr int kTrials = 30;
  uint64_t acknowledged_total = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    const std::string context = "trial " + std::to_string(trial);
    const std::string acks = testing::kill_during_sends(
        broker, [&](int fd) { fifo_sender(broker.socket(), "p.fifo", trial, fd); }, 5 + trial % 7);
    testing::remove_segments(broker);
    broker.start();

    std::istringstream in(acks);
    std::map<std::string, Ack> acked;  // body -> what the sender was told
    std::string body;
    Ack a;
    uint64_t highest = 0;
    while (in >> a.id >> a.sequence_number >> a.group >> body) {
      acked[body] = a;
      highest = std::max(highest, a.sequence_number);
    }
    ASSERT_GT(acked.size(), 0u) << context << ": the sender never got an acknowledgement";
    acknowledged_total += acked.size();
    auto client = broker.connect();
    auto q = client->open_queue("p.fifo");
    ASSERT_TRUE(q.ok());

    // A duplicate of an acknowledged message is answered with the original.
    const auto& [first_body, first] = *acked.begin();
    auto dup = (*q)->send(first_body, in_group(first.group, first_body));
    ASSERT_TRUE(dup.ok()) << dup.status().to_string();
    EXPECT_EQ(dup->message_id.str(), first.id) << context << ": a duplicate after the rebuild got a new MessageId";
    EXPECT_EQ(dup->sequence_number, first.sequence_number) << context;
    // The SequenceNumber counter continues above everything journaled.
    const std::string after = "t" + std::to_string(trial) + "-after-m999999";
    auto fresh = (*q)->send(after, in_group("g0", after));
    ASSERT_TRUE(fresh.ok()) << fresh.status().to_string();
    EXPECT_GT(fresh->sequence_number, highest) << context << ": a SequenceNumber was reused";

    auto got = drain_fifo(**q, &rng);
    expect_group_order(got, context);
    std::map<std::string, int> seen;
    for (const Received& r : got) {
      ++seen[r.body];
      ASSERT_EQ(r.body[0], 't') << "an invented message: " << r.body;
    }
    for (const auto& [b, n] : seen) EXPECT_EQ(n, 1) << context << ": " << b << " delivered " << n << " times";
    for (const auto& [b, ack] : acked) {
      auto it = std::find_if(got.begin(), got.end(), [&](const Received& r) { return r.body == b; });
      ASSERT_NE(it, got.end()) << context << ": acknowledged message " << b << " lost";
      EXPECT_EQ(it->id, ack.id) << context << ": MessageId of " << b << " changed";
      EXPECT_EQ(it->sequence_number, ack.sequence_number) << context << ": SequenceNumber of " << b << " changed";
      EXPECT_EQ(it->group, ack.group) << context;
    }
    ASSERT_FALSE(HasFailure()) << context;
    // Fill every free slot and free them all again in a shuffled order: the
    // next trial's messages then sit in slots whose order is not their
    // send order (a rebuild in slot order would break the groups' order).
    for (int i = 0;; ++i) {
      const std::string filler = "t" + std::to_string(trial) + "-fill-m" + std::to_string(i);
      auto r = (*q)->send(filler, in_group("f" + std::to_string(i % 5), filler));
      if (!r.ok()) {
        ASSERT_EQ(r.status().code(), "OverLimit") << r.status().to_string();
        break;
      }
    }
    drain_fifo(**q, &rng);
  }
  RecordProperty("acknowledged", std::to_string(acknowledged_total));
  EXPECT_GE(acknowledged_total, uint64_t(kTrials) * 5);
}

// A duplicate on a sync queue is an acknowledgement of the original: it
// must not come back before the original is on disk. The broker is stopped
// (SIGSTOP) while one thread sends the original (it waits for the disk) and
// another sends the duplicate: the duplicate may not return either until
// the broker runs again, and both then name the same message, which
// survives a power loss.
TEST(FifoDurability, ASyncDuplicateWaitsForTheOriginalToBeOnDisk) {
  testing::BrokerProcess broker(kSmall);
  auto client = broker.connect();
  ASSERT_TRUE(client->create_queue("d.fifo", {{"FifoQueue", "true"}, {"Durability", "sync"}}).ok());
  auto q = client->open_queue("d.fifo");
  ASSERT_TRUE(q.ok());
  std::atomic<int> ready{0};
  std::atomic<bool> go{false}, dup_go{false}, original_back{false}, dup_back{false};
  Result<SendResult> original = Status("NotRun", ""), dup = Status("NotRun", "");
  auto sender = [&](const char* warm, std::atomic<bool>* start, Result<SendResult>* r, std::atomic<bool>* back) {
    // A first send with the broker running: whatever a thread sets up once
    // is done before the broker stops.
    EXPECT_TRUE((*q)->send(warm, in_group("w", warm)).ok());
    ++ready;
    while (!start->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    *r = (*q)->send("the-original", in_group("g", "d1"));
    back->store(true);
  };
  std::thread a(sender, "warm-a", &go, &original, &original_back);
  std::thread b(sender, "warm-b", &dup_go, &dup, &dup_back);
  while (ready.load() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(kill(broker.pid(), SIGSTOP), 0);
  go = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the original is published, not journaled
  dup_go = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const bool dup_early = dup_back.load(), original_early = original_back.load();
  kill(broker.pid(), SIGCONT);
  a.join();
  b.join();
  EXPECT_FALSE(original_early) << "a sync send returned while the broker was stopped";
  EXPECT_FALSE(dup_early) << "the duplicate was acknowledged before the original was on disk";
  ASSERT_TRUE(original.ok()) << original.status().to_string();
  ASSERT_TRUE(dup.ok()) << dup.status().to_string();
  EXPECT_EQ(dup->message_id.str(), original->message_id.str());

  client.reset();
  testing::power_loss(broker);
  client = broker.connect();
  auto q2 = client->open_queue("d.fifo");
  ASSERT_TRUE(q2.ok());
  int found = 0;
  for (auto& m : receive_now(**q2, 10, 600)) found += m.body_copy() == "the-original";
  EXPECT_EQ(found, 1);
}

TEST(FifoDurability, DeletedMessagesKeepDeduplicatingAfterPowerLoss) {
  testing::BrokerProcess broker(kSmall);
  std::map<std::string, std::string> ids;  // dedup id -> MessageId
  {
    auto client = broker.connect();
    auto q = client->create_queue("d.fifo", {{"FifoQueue", "true"}, {"Durability", "sync"}});
    ASSERT_TRUE(q.ok());
    for (const char* d : {"a", "b", "c"}) {
      auto r = (*q)->send(std::string("body ") + d, in_group("g", d));
      ASSERT_TRUE(r.ok());
      ids[d] = r->message_id.str();
    }
    auto got = receive_now(**q, 2, 600);  // a and b, deleted before the power goes
    ASSERT_EQ(got.size(), 2u);
    for (auto& m : got) ASSERT_TRUE((*q)->remove(m.receipt_handle).ok());
    ASSERT_TRUE(testing::wait_journaled(broker, "d.fifo"));
  }
  power_loss(broker);
  auto client = broker.connect();
  auto q = client->open_queue("d.fifo");
  ASSERT_TRUE(q.ok());
  for (const char* d : {"a", "b", "c"}) {
    auto r = (*q)->send(std::string("again ") + d, in_group("g", d));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->message_id.str(), ids[d]) << "dedup id " << d << " was forgotten by the rebuild";
  }
  auto got = receive_now(**q, 10, 600);
  ASSERT_EQ(got.size(), 1u) << "a duplicate was enqueued again";
  EXPECT_EQ(got[0].body_copy(), "body c");
  ASSERT_TRUE((*q)->remove(got[0].receipt_handle).ok());
  // The window is 5 minutes from the first send, on the queue clock.
  ASSERT_TRUE(client->advance_clock(301000).ok());
  auto late = (*q)->send("late a", in_group("g", "a"));
  ASSERT_TRUE(late.ok());
  EXPECT_NE(late->message_id.str(), ids["a"]) << "a dedup entry outlived its window";
}

// Async: a message received and deleted at once is often gone before the
// journal thread copies it (its SEND is dropped); its dedup entry is
// journaled on its own and must still answer after a rebuild.
TEST(FifoDurability, AsyncDedupOutlivesMessagesDeletedBeforeTheyWereJournaled) {
  testing::BrokerProcess broker(kSmall);
  std::vector<std::pair<std::string, std::string>> sent;  // dedup id -> MessageId
  {
    auto client = broker.connect();
    auto q = client->create_queue("a.fifo", {{"FifoQueue", "true"}});
    ASSERT_TRUE(q.ok());
    for (int i = 0; i < 200; ++i) {
      const std::string d = "d" + std::to_string(i);
      auto r = (*q)->send("x", in_group("g" + std::to_string(i % 3), d));
      ASSERT_TRUE(r.ok());
      sent.emplace_back(d, r->message_id.str());
      auto got = receive_now(**q, 1, 600);
      ASSERT_EQ(got.size(), 1u);
      ASSERT_TRUE((*q)->remove(got[0].receipt_handle).ok());
    }
    ASSERT_TRUE(testing::wait_journaled(broker, "a.fifo"));
    RecordProperty("sends_dropped", broker.stats()["journal"]["sends_dropped"].dump());
  }
  power_loss(broker);
  auto client = broker.connect();
  auto q = client->open_queue("a.fifo");
  ASSERT_TRUE(q.ok());
  int i = 0;
  for (const auto& [d, id] : sent) {
    auto r = (*q)->send("x", in_group("g" + std::to_string(i++ % 3), d));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->message_id.str(), id) << "dedup id " << d << " was forgotten";
  }
  EXPECT_TRUE(receive_now(**q, 10).empty()) << "a duplicate was enqueued again";
}

// Async (the default): a message leased at the power loss comes back
// visible at the head of its group, before the later ones; a queue-level
// delay is still running after the rebuild.
TEST(FifoDurability, LeasedMessagesComeBackFirstAndDelaysKeepRunning) {
  testing::BrokerProcess broker(kSmall);
  {
    auto client = broker.connect();
    auto q = client->create_queue("l.fifo", {{"FifoQueue", "true"}});
    ASSERT_TRUE(q.ok());
    auto d = client->create_queue("w.fifo", {{"FifoQueue", "true"}, {"DelaySeconds", "120"}});
    ASSERT_TRUE(d.ok());
    for (const char* b : {"m1", "m2", "m3"}) ASSERT_TRUE((*q)->send(b, in_group("g", b)).ok());
    auto leased = receive_now(**q, 1, 600);
    ASSERT_EQ(leased.size(), 1u);
    ASSERT_EQ(leased[0].body_copy(), "m1");
    ASSERT_TRUE((*d)->send("later", in_group("g", "later")).ok());
    ASSERT_TRUE(testing::wait_journaled(broker, "l.fifo"));
    ASSERT_TRUE(testing::wait_journaled(broker, "w.fifo"));
  }
  power_loss(broker);
  auto client = broker.connect();
  auto q = client->open_queue("l.fifo");
  auto d = client->open_queue("w.fifo");
  ASSERT_TRUE(q.ok() && d.ok());
  std::vector<std::string> order;
  for (auto& m : receive_now(**q, 10, 600)) order.push_back(m.body_copy());
  EXPECT_EQ(order, (std::vector<std::string>{"m1", "m2", "m3"}));
  EXPECT_TRUE(receive_now(**d, 10).empty()) << "the delay was forgotten";
  ASSERT_TRUE(client->advance_clock(121000).ok());
  std::vector<Message> later;
  for (int i = 0; i < 300 && later.empty(); ++i) {  // the broker's timer ends the delay
    later = receive_now(**d, 10);
    if (later.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].body_copy(), "later");
}

// A message the broker moved to its dead-letter queue stays moved after a
// rebuild: the delete in the source queue is journaled (standard and FIFO).
class DeadLetterMoveDurability : public ::testing::TestWithParam<bool> {};

TEST_P(DeadLetterMoveDurability, AMovedMessageDoesNotComeBackInItsSource) {
  const bool fifo = GetParam();
  const std::string sfx = fifo ? ".fifo" : "";
  testing::BrokerProcess broker(kSmall);
  QueueAttributes type;
  if (fifo) type = {{"FifoQueue", "true"}};
  {
    auto client = broker.connect();
    auto dlq = client->create_queue("dead" + sfx, type);
    ASSERT_TRUE(dlq.ok());
    QueueAttributes a = type;
    a["VisibilityTimeout"] = "10";
    a["RedrivePolicy"] = R"({"deadLetterTargetArn":"arn:aws:sqs:local:000000000000:dead)" + sfx + R"(","maxReceiveCount":1})";
    auto src = client->create_queue("src" + sfx, a);
    ASSERT_TRUE(src.ok()) << src.status().to_string();
    SendOptions o = fifo ? in_group("g", "p") : SendOptions{};
    ASSERT_TRUE((*src)->send("poison", o).ok());
    ASSERT_EQ(receive_now(**src, 1).size(), 1u);
    ASSERT_TRUE(testing::wait_journaled(broker, "src" + sfx));
    const uint64_t before = broker.stats()["journal"]["records"].get<uint64_t>();
    ASSERT_TRUE(client->advance_clock(11000).ok());
    // The move is on disk once its two records are: the copy in the
    // dead-letter queue and the delete in the source.
    bool moved = false;
    for (int i = 0; i < 500 && !moved; ++i) {
      moved = broker.queue_stats("src" + sfx)["dlq_moved"] == 1 &&
              broker.stats()["journal"]["records"].get<uint64_t>() >= before + 2;
      if (!moved) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(moved) << broker.stats().dump();
    ASSERT_TRUE(testing::wait_journaled(broker, "src" + sfx));
    ASSERT_TRUE(testing::wait_journaled(broker, "dead" + sfx));
  }
  power_loss(broker);
  auto client = broker.connect();
  auto src = client->open_queue("src" + sfx);
  auto dlq = client->open_queue("dead" + sfx);
  ASSERT_TRUE(src.ok() && dlq.ok());
  EXPECT_TRUE(receive_now(**src, 10).empty()) << "the moved message came back in its source queue";
  auto got = receive_now(**dlq, 10);
  ASSERT_EQ(got.size(), 1u) << "the moved message was lost";
  EXPECT_EQ(got[0].body_copy(), "poison");
}

INSTANTIATE_TEST_SUITE_P(Types, DeadLetterMoveDurability, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Fifo" : "Standard"; });

}  // namespace
}  // namespace shmq
