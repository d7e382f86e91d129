// Durable queues end to end (real broker processes): the Durability
// attribute, power loss (broker SIGKILLed and its segments deleted, as a
// reboot leaves them), journal write failures, and encrypted journals.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "shm/layout.h"
#include "shm/queue_ops.h"
#include "tests/support/broker_process.h"
#include "tests/support/power_loss.h"
#include "tests/support/queue_helpers.h"

namespace shmq {
namespace {

using testing::drain;
using testing::power_loss;
using testing::receive_now;
using testing::remove_segments;
using testing::wait_journaled;

const std::vector<std::string> kSmall = {"--journal-file-mb", "1", "--slots", "1024,64,8,2"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& more) {
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

// After a power loss: every acknowledged (body, MessageId) is in the queue
// again, with its id. *all gets everything drained (body -> MessageId).
template <class Acked>
void expect_acknowledged_back(const testing::BrokerProcess& broker, const std::string& queue, const Acked& acked,
                              std::map<std::string, std::string>* all = nullptr) {
  auto client = broker.connect();
  auto q = client->open_queue(queue);
  ASSERT_TRUE(q.ok());
  auto got = drain(**q);
  if (all) *all = got;
  for (auto& [body, id] : acked) {
    ASSERT_TRUE(got.count(body)) << "acknowledged " << body << " lost";
    EXPECT_EQ(got[body], id);
  }
}

TEST(Durability, AttributeIsValidatedAndShown) {
  testing::BrokerProcess broker(kSmall);
  auto client = broker.connect();
  auto sync = client->create_queue("s", {{"Durability", "sync"}});
  ASSERT_TRUE(sync.ok()) << sync.status().to_string();
  EXPECT_EQ((*sync)->get_attributes({"Durability"}).value()["Durability"], "sync");
  auto dflt = client->create_queue("d");
  ASSERT_TRUE(dflt.ok());
  EXPECT_EQ((*dflt)->get_attributes({"All"}).value()["Durability"], "async");
  auto bad = client->create_queue("b", {{"Durability", "fast"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), "InvalidAttributeValue");
  EXPECT_FALSE(client->open_queue("b").ok()) << "a refused create must create nothing";
  // FIFO queues take the same modes, async by default.
  auto fifo_sync = client->create_queue("f.fifo", {{"FifoQueue", "true"}, {"Durability", "sync"}});
  ASSERT_TRUE(fifo_sync.ok()) << fifo_sync.status().to_string();
  EXPECT_EQ((*fifo_sync)->get_attributes({"Durability"}).value()["Durability"], "sync");
  auto fifo = client->create_queue("g.fifo", {{"FifoQueue", "true"}});
  ASSERT_TRUE(fifo.ok()) << fifo.status().to_string();
  EXPECT_EQ((*fifo)->get_attributes({"All"}).value()["Durability"], "async");
  ASSERT_TRUE(client->set_queue_attributes("g.fifo", {{"Durability", "memory"}}).ok());
  EXPECT_EQ((*fifo)->get_attributes({"Durability"}).value()["Durability"], "memory");
  EXPECT_FALSE(client->set_queue_attributes("g.fifo", {{"Durability", "fast"}}).ok());
  ASSERT_TRUE(client->set_queue_attributes("d", {{"Durability", "memory"}}).ok());
  EXPECT_EQ((*dflt)->get_attributes({"Durability"}).value()["Durability"], "memory");
  // The command line passes it through too.
  std::string out;
  ASSERT_EQ(testing::run_command({testing::cli_path(), "create-queue", "--queue-name", "c", "--attributes",
                                  "Durability=sync"},
                                 &out, {"SHMQ_SOCKET=" + broker.socket()}),
            0)
      << out;
  ASSERT_EQ(testing::run_command({testing::cli_path(), "get-queue-attributes", "--queue-url", "c",
                                  "--attribute-names", "Durability"},
                                 &out, {"SHMQ_SOCKET=" + broker.socket()}),
            0);
  EXPECT_NE(out.find("sync"), std::string::npos) << out;
  ASSERT_EQ(testing::run_command({testing::cli_path(), "get-queue-attributes", "--queue-url", "f.fifo",
                                  "--attribute-names", "Durability"},
                                 &out, {"SHMQ_SOCKET=" + broker.socket()}),
            0);
  EXPECT_NE(out.find("sync"), std::string::npos) << out;
}

TEST(Durability, AsyncMessagesIdsAndDelaysSurviveAReboot) {
  testing::BrokerProcess broker(kSmall);
  std::map<std::string, std::string> sent;  // body -> id
  std::string deleted_body;
  {
    auto client = broker.connect();
    auto q = client->create_queue("a", {{"VisibilityTimeout", "30"}});
    ASSERT_TRUE(q.ok());
    ASSERT_TRUE(client->create_queue("m", {{"Durability", "memory"}}).ok());
    MessageAttributes attrs{{"color", {"String", "blue", ""}}};
    for (int i = 0; i < 40; ++i) {
      std::string body = "async " + std::to_string(i) + std::string(size_t(i) * 37, 'x');
      auto r = (*q)->send(body, i == 7 ? testing::attributes_of(&attrs) : SendOptions{});
      ASSERT_TRUE(r.ok());
      sent[body] = r->message_id.str();
    }
    auto big = std::string(3000, 'B');  // a second size class
    sent[big] = (*q)->send(big).value().message_id.str();
    SendOptions delay = testing::delay_of(120);
    delay.attributes = &attrs;
    delay.aws_trace_header = "Root=1-5759e988-bd862e3fe1be46a994272793";  // journaled with the attributes
    auto delayed = (*q)->send("delayed", delay);
    ASSERT_TRUE(delayed.ok());
    auto leased = receive_now(**q, 1, 300);  // leased at the reboot: comes back visible
    ASSERT_EQ(leased.size(), 1u);
    auto gone = receive_now(**q, 1, 300);
    ASSERT_EQ(gone.size(), 1u);
    deleted_body = gone[0].body_copy();
    ASSERT_TRUE((*q)->remove(gone[0].receipt_handle).ok());
    sent.erase(deleted_body);
    auto mq = client->open_queue("m");
    ASSERT_TRUE((*mq)->send("memory only").ok());
    ASSERT_TRUE(wait_journaled(broker, "a"));
  }
  power_loss(broker);
  auto client = broker.connect();
  auto q = client->open_queue("a");
  ASSERT_TRUE(q.ok());
  auto got = drain(**q);
  EXPECT_EQ(got.size(), sent.size());
  for (auto& [body, id] : sent) {
    ASSERT_TRUE(got.count(body)) << "lost: " << body.substr(0, 20);
    EXPECT_EQ(got[body], id) << "the MessageId changed";
  }
  EXPECT_FALSE(got.count(deleted_body)) << "a deleted message came back";
  EXPECT_FALSE(got.count("delayed")) << "the delay was forgotten";
  ASSERT_TRUE(client->advance_clock(121000).ok());
  auto later = receive_now(**q, 10, 60);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].body_copy(), "delayed");
  EXPECT_EQ(later[0].aws_trace_header, "Root=1-5759e988-bd862e3fe1be46a994272793");
  EXPECT_EQ(later[0].attributes().size(), 1u);
  // A memory queue is recreated empty, as before.
  auto mq = client->open_queue("m");
  ASSERT_TRUE(mq.ok());
  EXPECT_TRUE(receive_now(**mq, 10).empty());
  // New sends after the rebuild never collide with journaled incarnations.
  auto fresh = (*q)->send("after the reboot");
  ASSERT_TRUE(fresh.ok());
  for (auto& [body, id] : sent) EXPECT_NE(id, fresh->message_id.str());
}

// A message that keeps failing must not start over after a reboot: from
// its second receive on, each receive journals its count, so the dead-letter
// move still happens at maxReceiveCount.
void expect_redelivery_count_survives(bool fifo) {
  testing::BrokerProcess broker(kSmall);
  const std::string suffix = fifo ? ".fifo" : "";
  const std::string name = "rc" + suffix, dlq_name = "rc-dlq" + suffix;
  const std::string rp = R"({"deadLetterTargetArn":"arn:aws:sqs:local:000000000000:)" + dlq_name +
                         R"(","maxReceiveCount":"4"})";
  std::map<std::string, std::string> fifo_attrs;
  if (fifo) fifo_attrs = {{"FifoQueue", "true"}, {"ContentBasedDeduplication", "true"}};
  {
    auto client = broker.connect();
    ASSERT_TRUE(client->create_queue(dlq_name, fifo_attrs).ok());
    auto attrs = fifo_attrs;
    attrs["RedrivePolicy"] = rp;
    auto q = client->create_queue(name, attrs);
    ASSERT_TRUE(q.ok()) << q.status().to_string();
    SendOptions o;
    if (fifo) o.message_group_id = "g";
    ASSERT_TRUE((*q)->send("poison", o).ok());
    ASSERT_TRUE(wait_journaled(broker, name));  // its SEND is on disk with count 0
    for (uint32_t expect = 1; expect <= 3; ++expect) {
      auto got = receive_now(**q, 1, 0);  // received and given back at once
      ASSERT_EQ(got.size(), 1u);
      ASSERT_EQ(got[0].receive_count, expect);
    }
    ASSERT_TRUE(wait_journaled(broker, name));
  }
  power_loss(broker);
  auto client = broker.connect();
  auto q = client->open_queue(name);
  ASSERT_TRUE(q.ok());
  auto got = receive_now(**q, 1, 0);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].receive_count, 4u) << "the receive count started over after the reboot";
  // The fourth receive reached maxReceiveCount: the broker moves it.
  auto dlq = client->open_queue(dlq_name);
  ASSERT_TRUE(dlq.ok());
  std::vector<Message> moved;
  for (int i = 0; i < 300 && moved.empty(); ++i) {
    moved = receive_now(**dlq, 1, 60);
    if (moved.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(moved.size(), 1u) << "not moved to the dead-letter queue";
  EXPECT_EQ(moved[0].body_copy(), "poison");
  EXPECT_TRUE(receive_now(**q, 1, 60).empty());
}

TEST(Durability, RedeliveryCountsSurviveAReboot) { expect_redelivery_count_survives(false); }
TEST(Durability, FifoRedeliveryCountsSurviveAReboot) { expect_redelivery_count_survives(true); }

// Sends sync messages from a child process until killed, writing each
// acknowledged one ("<id> <body>\n") to fd.
[[noreturn]] void sync_sender(const std::string& socket, const std::string& queue, int trial, int fd) {
  auto c = Client::connect(socket);
  if (!c.ok()) _exit(3);
  auto q = (*c)->open_queue(queue);
  if (!q.ok()) _exit(4);
  for (int i = 0;; ++i) {
    std::string body = "t" + std::to_string(trial) + "-m" + std::to_string(i);
    auto r = (*q)->send(body);
    if (!r.ok()) _exit(5);
    std::string line = r->message_id.str() + " " + body + "\n";
    if (write(fd, line.data(), line.size()) != ssize_t(line.size())) _exit(6);
  }
}

TEST(Durability, SyncAcknowledgedMessagesSurvivePowerLoss) {
  testing::BrokerProcess broker(kSmall);
  {
    auto client = broker.connect();
    ASSERT_TRUE(client->create_queue("p", {{"Durability", "sync"}}).ok());
  }
  constexpr int kTrials = 100;
  uint64_t acknowledged_total = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    // Let a few sends complete, then the power goes: broker and sender die.
    const std::string acks = testing::kill_during_sends(
        broker, [&](int fd) { sync_sender(broker.socket(), "p", trial, fd); }, 3 + trial % 5);
    remove_segments(broker);
    broker.start();

    std::istringstream in(acks);
    std::string id, body;
    std::map<std::string, std::string> survivors;  // body -> id, acknowledged in this trial
    int acked = 0;
    while (in >> id >> body) {
      survivors[body] = id;
      ++acked;
    }
    ASSERT_GT(acked, 0) << "trial " << trial << ": the sender never got an acknowledgement";
    acknowledged_total += uint64_t(acked);
    auto client = broker.connect();
    auto q = client->open_queue("p");
    ASSERT_TRUE(q.ok());
    auto got = drain(**q);
    for (auto& [b, i] : survivors) {
      ASSERT_TRUE(got.count(b)) << "trial " << trial << ": acknowledged message " << b << " lost";
      ASSERT_EQ(got[b], i) << "trial " << trial << ": MessageId of " << b << " changed";
    }
    for (auto& [b, i] : got) ASSERT_EQ(b[0], 't') << "an invented message: " << b;
    // Keep the queue small: purge what came back. A purge not yet on disk
    // at the next power loss may bring messages back (at-least-once), which
    // the checks above allow.
    ASSERT_TRUE(client->purge_queue("p").ok());
    ASSERT_TRUE(client->advance_clock(61000).ok());  // one purge a minute
  }
  RecordProperty("acknowledged", std::to_string(acknowledged_total));
  EXPECT_GE(acknowledged_total, uint64_t(kTrials) * 3);
}

std::vector<SendBatchEntry> batch_of(const std::string& prefix, int n) {
  std::vector<SendBatchEntry> e(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    e[size_t(i)].id = "e" + std::to_string(i);
    e[size_t(i)].body = prefix + std::to_string(i);
  }
  return e;
}

// A sync send_batch waits for the disk once for all its entries: one group
// commit, not ten fdatasync rounds one after the other.
TEST(Durability, SyncSendBatchWaitsOnceAndSurvivesPowerLoss) {
  testing::BrokerProcess broker(kSmall);
  std::map<std::string, std::string> acked;
  {
    auto client = broker.connect();
    auto q = client->create_queue("b", {{"Durability", "sync"}});
    ASSERT_TRUE(q.ok());
    ASSERT_TRUE((*q)->send("warm-up").ok());
    const uint64_t before = broker.stats()["journal"]["batches"].get<uint64_t>();
    auto r = (*q)->send_batch(batch_of("b", 10));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ(r->successful.size(), 10u);
    const uint64_t batches = broker.stats()["journal"]["batches"].get<uint64_t>() - before;
    EXPECT_LE(batches, 3u) << "the batch's sends each waited for their own fdatasync";
    for (const auto& e : r->successful) acked["b" + e.id.substr(1)] = e.message_id.str();
  }
  power_loss(broker);
  expect_acknowledged_back(broker, "b", acked);
}

class DurabilityFault : public ::testing::TestWithParam<const char*> {};

TEST_P(DurabilityFault, SyncSendsFailAndNothingIsFalselyAcknowledged) {
  testing::BrokerProcess broker(with(kSmall, {"--test-journal-fault", std::string(GetParam()) + ":12"}));
  std::vector<std::pair<std::string, std::string>> acked;
  Status failure;
  {
    auto client = broker.connect();
    auto q = client->create_queue("f", {{"Durability", "sync"}});
    ASSERT_TRUE(q.ok());
    for (int i = 0; i < 200 && failure.ok(); ++i) {
      std::string body = "f" + std::to_string(i);
      auto r = (*q)->send(body);
      if (r.ok())
        acked.emplace_back(body, r->message_id.str());
      else
        failure = r.status();
    }
    ASSERT_FALSE(failure.ok()) << "the injected fault never surfaced";
    EXPECT_NE(failure.message().find("journal failed"), std::string::npos) << failure.to_string();
    // Sticky, and refused before anything changes.
    auto before = testing::counts(**q);
    auto again = (*q)->send("after the failure");
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(testing::counts(**q), before);
    auto stats = broker.stats();
    EXPECT_NE(stats["journal"]["error"].get<std::string>(), "") << stats.dump();
  }
  broker.set_args(kSmall);  // the disk is fine again
  power_loss(broker);
  std::map<std::string, std::string> got;
  expect_acknowledged_back(broker, "f", acked, &got);
  EXPECT_FALSE(got.count("after the failure"));
}

// The same with batches: an entry reported successful is on disk; after the
// failure every entry of a batch fails (SenderFault false).
TEST_P(DurabilityFault, SyncBatchesAcknowledgeNothingFalsely) {
  testing::BrokerProcess broker(with(kSmall, {"--test-journal-fault", std::string(GetParam()) + ":12"}));
  std::map<std::string, std::string> acked;
  bool failed = false;
  {
    auto client = broker.connect();
    auto q = client->create_queue("f", {{"Durability", "sync"}});
    ASSERT_TRUE(q.ok());
    for (int round = 0; round < 100 && !failed; ++round) {
      auto r = (*q)->send_batch(batch_of("r" + std::to_string(round) + "-", 10));
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      for (const auto& e : r->successful)
        acked["r" + std::to_string(round) + "-" + e.id.substr(1)] = e.message_id.str();
      if (!r->failed.empty()) {
        failed = true;
        EXPECT_TRUE(r->successful.empty()) << "a batch that failed its wait acknowledged entries";
        EXPECT_FALSE(r->failed[0].sender_fault);
        EXPECT_NE(r->failed[0].message.find("journal failed"), std::string::npos) << r->failed[0].message;
      }
    }
    ASSERT_TRUE(failed) << "the injected fault never surfaced";
  }
  broker.set_args(kSmall);
  power_loss(broker);
  expect_acknowledged_back(broker, "f", acked);
}

INSTANTIATE_TEST_SUITE_P(Errors, DurabilityFault, ::testing::Values("EIO", "ENOSPC"));

// A sync sender killed while it sleeps for its record's fdatasync leaves its
// lane's bit in JournalControl::durable_sleeping; the broker's repair of the
// dead lane clears it, so later commits stop waking nobody. (A count of
// sleepers stayed up for good: every commit of the queue paid a FUTEX_WAKE.)
TEST(Durability, ASyncSenderKilledAsleepLeavesNoSleeperBehind) {
  testing::BrokerProcess broker(kSmall);
  auto client = broker.connect();
  auto q = client->create_queue("s", {{"Durability", "sync"}});
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  testing::MappedSegment segment(broker, "s");
  ASSERT_TRUE(segment.ok());
  shm::JournalControl& j = segment.view().header->journal;
  // Once the child sleeps the broker is stopped (SIGSTOP): nothing commits,
  // so the child stays in its wait (bit set, re-set after each 50 ms
  // timeout), and the broker cannot reap the child before its bit is read.
  bool died_asleep = false;
  for (int trial = 0; trial < 50 && !died_asleep; ++trial) {
    const pid_t child = testing::fork_client(broker, "s", [](Queue& mine) {
      for (;;) (void)mine.send("sync");
    });
    ASSERT_GE(child, 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!shm::any_lane_bit(j.durable_sleeping) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    kill(broker.pid(), SIGSTOP);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    died_asleep = shm::any_lane_bit(j.durable_sleeping);  // nobody else sends: the dead child's bit
    kill(broker.pid(), SIGCONT);
    ASSERT_TRUE(broker.wait_lanes_free("s")) << "the broker did not reap the dead sender's lane";
    EXPECT_FALSE(shm::any_lane_bit(j.durable_sleeping)) << "the dead sender still counts as asleep";
  }
  ASSERT_TRUE(died_asleep) << "no sender was killed in its durable wait in 50 trials";
  // A commit now (a receive and a delete of one of the child's messages;
  // neither sleeps) wakes nobody: durable_futex is bumped only for sleepers.
  const uint32_t before = j.durable_futex.load();
  auto got = receive_now(**q, 1);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE((*q)->remove(got[0].receipt_handle).ok());
  const shm::RingView& r = segment.view().journal;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (r.pos->head.load() != r.pos->tail.load() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(r.pos->head.load(), r.pos->tail.load()) << "the delete was never committed";
  EXPECT_EQ(j.durable_futex.load(), before) << "a commit woke sleepers when nobody sleeps";
}

TEST(Durability, EncryptedJournalNeedsItsKey) {
  testing::BrokerProcess broker(kSmall);
  const std::string key_a = broker.dir() + "/key-a", key_b = broker.dir() + "/key-b";
  std::ofstream(key_a) << std::string(64, 'a') << "\n";
  std::ofstream(key_b) << std::string(64, 'b') << "\n";
  broker.set_args(with(kSmall, {"--journal-key-file", key_a}));
  broker.restart();
  std::string id;
  {
    auto client = broker.connect();
    auto q = client->create_queue("e", {{"Durability", "sync"}});
    ASSERT_TRUE(q.ok());
    auto r = (*q)->send("top secret payload");
    ASSERT_TRUE(r.ok());
    id = r->message_id.str();
  }
  broker.kill9();
  remove_segments(broker);
  // Wrong key, and no key: the broker refuses to start and says why.
  for (auto extra : std::vector<std::vector<std::string>>{{"--journal-key-file", key_b}, {}}) {
    std::string out;
    std::vector<std::string> argv = {testing::broker_path(), "--socket", broker.socket(), "--data-dir",
                                     broker.dir() + "/data", "--test-clock"};
    argv = with(with(argv, kSmall), extra);
    int rc = testing::run_command(argv, &out);
    EXPECT_NE(rc, 0) << out;
    EXPECT_NE(out.find("encrypted"), std::string::npos) << out;
  }
  broker.start();
  auto client = broker.connect();
  auto q = client->open_queue("e");
  ASSERT_TRUE(q.ok());
  auto got = drain(**q);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got["top secret payload"], id);
}

}  // namespace
}  // namespace shmq
