// The broker as a process: one per socket, permissions by peer uid, deleted
// queues, clean shutdown on SIGTERM and a restart that keeps queues and
// messages.
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "shm/layout.h"
#include "shm/queue_ops.h"
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


// Waits up to timeout for pid to exit; returns its wait status or -1.
int wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

// ---------------------------------------------------------------------------

TEST(Broker, SecondBrokerOnSameSocketRefusesToStart) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  ASSERT_TRUE(client);
  auto q = client->create_queue("first");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE((*q)->send("still here").ok());

  std::string out;
  // `timeout` guards against a second broker that wrongly starts and serves.
  const int rc = testing::run_command({"timeout", "10", testing::broker_path(), "--socket", broker.socket(),
                                       "--data-dir", broker.dir() + "/data", "--test-clock",
                                       "--log-level", "off"},
                                      &out);
  EXPECT_NE(rc, 0) << "a second broker started on " << broker.socket();
  EXPECT_NE(rc, 124) << "the second broker kept running";
  EXPECT_NE(rc, 127) << "could not run " << testing::broker_path();

  // The first one still serves, on the same socket, with its queue and message.
  EXPECT_EQ(kill(broker.pid(), 0), 0);
  auto fresh = Client::connect(broker.socket());
  ASSERT_TRUE(fresh.ok()) << fresh.status().to_string();
  auto stats = broker.stats();
  ASSERT_FALSE(stats.is_null());
  EXPECT_EQ(stats["broker"]["pid"], broker.pid());
  auto q2 = (*fresh)->open_queue("first");
  ASSERT_TRUE(q2.ok()) << q2.status().to_string();
  auto got = receive_now(**q2);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "still here");
  EXPECT_TRUE((*fresh)->create_queue("second").ok());
}

// ---------------------------------------------------------------------------
// Permissions: a child process that runs as nobody (65534).

constexpr uid_t kNobody = 65534;

// Runs fn in a forked child as uid/gid 65534. fn returns "" on success or what
// went wrong; the result is that text, or a note about how the child ended.
std::string as_nobody(const std::function<std::string()>& fn) {
  int p[2];
  if (pipe(p) != 0) return "pipe failed";
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    close(p[0]);
    std::string report;
    if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0) {
      report = "cannot drop privileges";
    } else if (getuid() != kNobody || geteuid() != kNobody) {
      report = "still privileged";
    } else {
      report = fn();
    }
    if (!report.empty() && write(p[1], report.data(), report.size()) < 0) _exit(3);
    _exit(report.empty() ? 0 : 1);
  }
  close(p[1]);
  std::string report;
  char buf[1024];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof(buf))) > 0) report.append(buf, size_t(n));
  close(p[0]);
  int st = wait_exit(pid, std::chrono::seconds(30));
  if (st == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return "child hung; " + report;
  }
  if (!WIFEXITED(st)) return "child died by signal " + std::to_string(WTERMSIG(st)) + "; " + report;
  if (WEXITSTATUS(st) != 0 && report.empty()) return "child exit " + std::to_string(WEXITSTATUS(st));
  return report;
}

// "" when the status has the expected code, else a description.
std::string expect_code(const char* what, const Status& s, const std::string& code) {
  if (s.code() == code) return "";
  return std::string(what) + ": expected " + (code.empty() ? "OK" : code) + ", got " + s.to_string() + "\n";
}

TEST(Broker, PermissionsFollowGrants) {
  // Two uids are needed; the test suite runs as root (CI does), so this is a
  // failure, not a silent skip, when it cannot switch.
  ASSERT_EQ(getuid(), 0u) << "the permission test needs root to switch to uid 65534";
  testing::BrokerProcess broker;
  // The test directory is 0700; nobody must reach the socket inside it.
  ASSERT_EQ(chmod(broker.dir().c_str(), 0755), 0);
  auto owner = broker.connect();
  ASSERT_TRUE(owner);
  auto q = owner->create_queue("private");
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  ASSERT_TRUE((*q)->send("owner's").ok());
  const std::string socket = broker.socket();

  // No grant: nobody can connect but cannot touch the queue.
  std::string r1 = as_nobody([&]() -> std::string {
    auto c = Client::connect(socket);
    if (!c.ok()) return "connect: " + c.status().to_string();
    std::string err;
    err += expect_code("open_queue", (*c)->open_queue("private").status(), "AccessDenied");
    err += expect_code("get_queue_url", (*c)->get_queue_url("private").status(), "AccessDenied");
    err += expect_code("create_queue (existing)", (*c)->create_queue("private").status(), "AccessDenied");
    err += expect_code("get_queue_attributes", (*c)->get_queue_attributes("private").status(), "AccessDenied");
    err += expect_code("set_queue_attributes",
                       (*c)->set_queue_attributes("private", {{"VisibilityTimeout", "5"}}), "AccessDenied");
    err += expect_code("purge_queue", (*c)->purge_queue("private"), "AccessDenied");
    err += expect_code("delete_queue", (*c)->delete_queue("private"), "AccessDenied");
    err += expect_code("add_permission (to itself)",
                       (*c)->add_permission("private", "sneak", "uid:65534", {"send", "receive", "admin"}),
                       "AccessDenied");
    err += expect_code("open_queue after the refused grant", (*c)->open_queue("private").status(),
                       "AccessDenied");
    auto urls = (*c)->list_queues();
    if (!urls.ok()) err += "list_queues: " + urls.status().to_string() + "\n";
    else if (!urls->empty()) err += "list_queues shows " + urls.value()[0] + "\n";
    return err;
  });
  EXPECT_EQ(r1, "");

  // Nothing changed for the owner.
  {
    auto a = (*q)->get_attributes({"VisibilityTimeout", "ApproximateNumberOfMessages"});
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    EXPECT_EQ(a.value()["VisibilityTimeout"], "30");
    EXPECT_EQ(a.value()["ApproximateNumberOfMessages"], "1");
  }

  // Grant send: nobody can open and send, but not administer.
  Status g = owner->add_permission("private", "l1", "uid:65534", {"send"});
  ASSERT_TRUE(g.ok()) << g.to_string();
  std::string r2 = as_nobody([&]() -> std::string {
    auto c = Client::connect(socket);
    if (!c.ok()) return "connect: " + c.status().to_string();
    std::string err;
    auto oq = (*c)->open_queue("private");
    if (!oq.ok()) return "open_queue with a send grant: " + oq.status().to_string() + "\n";
    auto sent = (*oq)->send("from nobody");
    if (!sent.ok()) err += "send with a send grant: " + sent.status().to_string() + "\n";
    err += expect_code("delete_queue with a send grant", (*c)->delete_queue("private"), "AccessDenied");
    err += expect_code("purge_queue with a send grant", (*c)->purge_queue("private"), "AccessDenied");
    err += expect_code("set_queue_attributes with a send grant",
                       (*c)->set_queue_attributes("private", {{"VisibilityTimeout", "5"}}), "AccessDenied");
    err += expect_code("remove_permission with a send grant", (*c)->remove_permission("private", "l1"),
                       "AccessDenied");
    return err;
  });
  EXPECT_EQ(r2, "");
  {
    auto got = receive_now(**q, 10, 300);
    ASSERT_EQ(got.size(), 2u);
    std::vector<std::string> bodies{std::string(got[0].body), std::string(got[1].body)};
    std::sort(bodies.begin(), bodies.end());
    EXPECT_EQ(bodies, (std::vector<std::string>{"from nobody", "owner's"}));
    for (const auto& m : got) {
      EXPECT_EQ(m.sender_uid, m.body == "from nobody" ? kNobody : 0u) << m.body;
    }
    auto a = (*q)->get_attributes({"VisibilityTimeout"});
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a.value()["VisibilityTimeout"], "30");
  }

  // Revoked: back to nothing.
  Status rm = owner->remove_permission("private", "l1");
  ASSERT_TRUE(rm.ok()) << rm.to_string();
  std::string r3 = as_nobody([&]() -> std::string {
    auto c = Client::connect(socket);
    if (!c.ok()) return "connect: " + c.status().to_string();
    std::string err;
    err += expect_code("open_queue after remove_permission", (*c)->open_queue("private").status(),
                       "AccessDenied");
    err += expect_code("delete_queue after remove_permission", (*c)->delete_queue("private"),
                       "AccessDenied");
    return err;
  });
  EXPECT_EQ(r3, "");
  EXPECT_TRUE(owner->open_queue("private").ok());
  // Removing a label that is not there is an error.
  EXPECT_EQ(owner->remove_permission("private", "l1").code(), "InvalidParameterValue");
}

// ---------------------------------------------------------------------------

TEST(Broker, DeletedQueueFailsForOpenHandles) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("doomed");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE((*q)->send("one").ok());
  ASSERT_TRUE((*q)->send("two").ok());
  auto got = receive_now(**q, 1, 300);
  ASSERT_EQ(got.size(), 1u);

  // A second client holds the queue open too.
  auto other = broker.connect();
  auto q2 = other->open_queue("doomed");
  ASSERT_TRUE(q2.ok());

  ASSERT_TRUE(client->delete_queue("doomed").ok());

  for (Queue* queue : {q->get(), q2->get()}) {
    auto s = queue->send("three");
    EXPECT_EQ(s.status().code(), "QueueDoesNotExist") << s.status().to_string();
    auto r = queue->receive({.max_messages = 1, .wait_time_seconds = 0});
    EXPECT_EQ(r.status().code(), "QueueDoesNotExist") << r.status().to_string();
    auto b = queue->send_batch({batch_entry("a", "x")});
    EXPECT_TRUE(!b.ok() ? b.status().code() == "QueueDoesNotExist"
                        : b->successful.empty() && b->failed.size() == 1 &&
                              b->failed[0].code == "QueueDoesNotExist")
        << "send_batch on a deleted queue";
    EXPECT_EQ(queue->get_attributes().status().code(), "QueueDoesNotExist");
    EXPECT_EQ(queue->purge().code(), "QueueDoesNotExist");
  }
  EXPECT_EQ((*q)->remove(got[0].receipt_handle).code(), "QueueDoesNotExist");
  EXPECT_EQ((*q)->change_visibility(got[0].receipt_handle, 10).code(), "QueueDoesNotExist");
  EXPECT_EQ(client->open_queue("doomed").status().code(), "QueueDoesNotExist");
  EXPECT_EQ(client->get_queue_url("doomed").status().code(), "QueueDoesNotExist");
  EXPECT_EQ(client->delete_queue("doomed").code(), "QueueDoesNotExist");
  auto urls = client->list_queues();
  ASSERT_TRUE(urls.ok());
  EXPECT_TRUE(urls->empty());
}

TEST(Broker, DeleteQueueEndsALongPoll) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("polled");
  ASSERT_TRUE(q.ok());
  Result<std::vector<Message>> got = Status("NotRun", "");
  Clock::time_point returned;
  std::thread receiver([&] {
    got = (*q)->receive({.max_messages = 1, .wait_time_seconds = 20});
    returned = Clock::now();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto deleted = Clock::now();
  ASSERT_TRUE(client->delete_queue("polled").ok());
  receiver.join();
  EXPECT_LT(std::chrono::duration<double>(returned - deleted).count(), 2.0)
      << "a receive on a deleted queue kept waiting";
  if (got.ok()) {
    EXPECT_TRUE(got->empty());
  } else {
    EXPECT_EQ(got.status().code(), "QueueDoesNotExist");
  }
  EXPECT_EQ((*q)->receive({.max_messages = 1, .wait_time_seconds = 1}).status().code(), "QueueDoesNotExist");
}

// A queue "polled" on a real broker, with its segment mapped into the test
// to stage or read what receivers leave in the header.
class BrokerLongPoll : public ::testing::Test {
 protected:
  void SetUp() override {
    auto q = broker_.connect()->create_queue("polled");
    ASSERT_TRUE(q.ok()) << q.status().to_string();
    q_ = q.value();
    segment_ = std::make_unique<testing::MappedSegment>(broker_, "polled");
    ASSERT_TRUE(segment_->ok());
  }
  shm::Header* header() const { return segment_->view().header; }

  testing::BrokerProcess broker_;
  std::shared_ptr<Queue> q_;
  std::unique_ptr<testing::MappedSegment> segment_;
};

// A long-poll receiver stopped (SIGSTOP, a debugger) during its pre-sleep
// spin keeps its bit in Header::spinning, so senders skip the futex wake: the
// broker's tick wakes the sleepers whenever entries wait
// (shm::wake_stranded_receivers). Staged in the header: the sleeping bit of
// lane kMaxLanes - 2 and the spinning bit of lane kMaxLanes - 1, which no
// client holds here (so no repair clears them). Only the broker can bump
// ready_futex then.
TEST_F(BrokerLongPoll, TickWakesLongPollSleepersAStoppedSpinnerWouldStrand) {
  shm::Header* h = header();
  constexpr uint32_t kAsleep = shm::kMaxLanes - 2, kStopped = shm::kMaxLanes - 1;
  shm::set_lane_bit(h->sleeping, kAsleep);
  shm::set_lane_bit(h->spinning, kStopped);
  const uint32_t before = h->ready_futex.load();
  ASSERT_TRUE(q_->send("stranded").ok());
  bool woken = false;
  for (auto deadline = Clock::now() + std::chrono::seconds(5); !woken && Clock::now() < deadline;) {
    woken = h->ready_futex.load() != before;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(woken) << "nothing woke the sleepers while a message waited";
  shm::clear_lane_bit(h->spinning, kStopped);
  shm::clear_lane_bit(h->sleeping, kAsleep);
  EXPECT_EQ(receive_now(*q_).size(), 1u);
}

// A consumer killed while its long poll sleeps leaves its sleeping bit; the
// broker's repair of its lane clears it, so senders go back to skipping the
// futex wake. (A count of sleepers stayed up for good: every send then paid a
// syscall that woke nobody.)
TEST_F(BrokerLongPoll, AReceiverKilledAsleepLeavesNoSleeperBehind) {
  shm::Header* h = header();
  const pid_t child = testing::fork_client(broker_, "polled", [](Queue& mine) {
    (void)mine.receive({.max_messages = 1, .wait_time_seconds = 20});
  });
  ASSERT_GE(child, 0);
  bool asleep = false;
  for (auto deadline = Clock::now() + std::chrono::seconds(10); !asleep && Clock::now() < deadline;) {
    asleep = shm::receivers_sleep(h);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ASSERT_TRUE(asleep) << "the child's long poll never slept";
  ASSERT_TRUE(broker_.wait_lanes_free("polled")) << "the broker did not reap the dead receiver's lane";
  EXPECT_FALSE(shm::receivers_sleep(h)) << "the dead receiver still counts as asleep";
  const uint32_t before = h->ready_futex.load();
  ASSERT_TRUE(q_->send("nobody waits").ok());
  EXPECT_EQ(h->ready_futex.load(), before) << "a send woke sleepers when nobody sleeps";
}

// ---------------------------------------------------------------------------

TEST(Broker, SigtermStopsCleanlyAndRestartKeepsQueuesAndMessages) {
  testing::BrokerProcess broker;
  MessageId kept_id, leased_id;
  {
    auto client = broker.connect();
    auto q = client->create_queue("durable", {{"VisibilityTimeout", "45"}});
    ASSERT_TRUE(q.ok()) << q.status().to_string();
    ASSERT_TRUE(client->create_queue("other").ok());
    MessageAttributes attrs{{"k", {"String", "v", ""}}};
    auto leased = (*q)->send("in flight");
    ASSERT_TRUE(leased.ok());
    leased_id = leased->message_id;
    auto got = receive_now(**q, 1, 30);
    ASSERT_EQ(got.size(), 1u);
    auto sent = (*q)->send("before restart", attributes_of(&attrs));
    ASSERT_TRUE(sent.ok());
    kept_id = sent->message_id;
    ASSERT_TRUE(client->add_permission("durable", "l1", "uid:123", {"send"}).ok());
  }

  const pid_t pid = broker.pid();
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  const int st = wait_exit(pid, std::chrono::seconds(5));
  ASSERT_NE(st, -1) << "the broker did not stop within 5 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(st)) << "status " << st;
  EXPECT_EQ(WEXITSTATUS(st), 0);
  EXPECT_FALSE(Client::connect(broker.socket()).ok()) << "something still answers after SIGTERM";

  broker.start();  // same socket, same data directory
  ASSERT_GT(broker.pid(), 0);
  ASSERT_NE(broker.pid(), pid);
  auto client = broker.connect();
  ASSERT_TRUE(client);
  auto urls = client->list_queues();
  ASSERT_TRUE(urls.ok());
  std::vector<std::string> names;
  for (const auto& u : *urls) names.push_back(Client::queue_name_from_url(u));
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"durable", "other"}));

  auto q = client->open_queue("durable");
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  auto a = (*q)->get_attributes({"VisibilityTimeout"});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.value()["VisibilityTimeout"], "45");
  EXPECT_TRUE(client->add_permission("durable", "l1", "uid:123", {"send"}).code() ==
              "InvalidParameterValue")
      << "the grant made before the restart was lost";

  auto got = receive_now(**q, 10);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "before restart");
  EXPECT_EQ(got[0].message_id, kept_id);
  auto attrs = got[0].attributes();
  EXPECT_EQ(attrs["k"].string_value, "v");
  ASSERT_TRUE((*q)->remove(got[0].receipt_handle).ok());

  // The message leased before the restart comes back when its lease ends.
  ASSERT_TRUE(client->advance_clock(31000).ok());
  auto back = receive_now(**q, 10);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].body, "in flight");
  EXPECT_EQ(back[0].message_id, leased_id);
  EXPECT_EQ(back[0].receive_count, 2u);
}

TEST(Broker, CreateQueueIsIdempotentForSameAttributes) {
  // SQS.md 1.5: the same name with identical attributes returns the existing
  // URL; a different value is QueueNameExists and changes nothing.
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto first = client->create_queue("idem", {{"VisibilityTimeout", "60"}});
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  ASSERT_TRUE((*first)->send("m").ok());
  auto same = client->create_queue("idem", {{"VisibilityTimeout", "60"}});
  ASSERT_TRUE(same.ok()) << same.status().to_string();
  EXPECT_EQ((*same)->url(), (*first)->url());
  auto differs = client->create_queue("idem", {{"VisibilityTimeout", "61"}});
  EXPECT_EQ(differs.status().code(), "QueueNameExists") << differs.status().to_string();
  auto a = client->get_queue_attributes("idem", {"VisibilityTimeout", "ApproximateNumberOfMessages"});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.value()["VisibilityTimeout"], "60");
  EXPECT_EQ(a.value()["ApproximateNumberOfMessages"], "1");

  // A value equal to the default the queue already has is identical too.
  ASSERT_TRUE(client->create_queue("plain").ok());
  auto defaults = client->create_queue("plain", {{"DelaySeconds", "0"}, {"VisibilityTimeout", "30"}});
  EXPECT_TRUE(defaults.ok()) << defaults.status().to_string();
  // Every default GetQueueAttributes shows counts (Durability's too), and
  // only the values it shows: a sync queue is not the async one.
  auto shown = client->get_queue_attributes("plain", {"All"});
  ASSERT_TRUE(shown.ok());
  QueueAttributes settings;
  for (const char* k : {"VisibilityTimeout", "MaximumMessageSize", "MessageRetentionPeriod", "DelaySeconds",
                        "ReceiveMessageWaitTimeSeconds", "SqsManagedSseEnabled", "Durability"})
    settings[k] = shown.value()[k];
  EXPECT_EQ(settings["Durability"], "async");
  auto all_defaults = client->create_queue("plain", settings);
  EXPECT_TRUE(all_defaults.ok()) << all_defaults.status().to_string();
  auto other_durability = client->create_queue("plain", {{"Durability", "sync"}});
  EXPECT_EQ(other_durability.status().code(), "QueueNameExists");
  // A FIFO queue's shown defaults likewise.
  ASSERT_TRUE(client->create_queue("f.fifo", {{"FifoQueue", "true"}}).ok());
  auto fifo_defaults = client->create_queue("f.fifo", {{"FifoQueue", "true"},
                                                       {"ContentBasedDeduplication", "false"},
                                                       {"DeduplicationScope", "queue"},
                                                       {"FifoThroughputLimit", "perQueue"},
                                                       {"Durability", "async"}});
  EXPECT_TRUE(fifo_defaults.ok()) << fifo_defaults.status().to_string();
  auto cbd = client->create_queue("f.fifo", {{"FifoQueue", "true"}, {"ContentBasedDeduplication", "true"}});
  EXPECT_EQ(cbd.status().code(), "QueueNameExists");
}

// SQS.md 1.5 and 2.2: SSE-SQS is on by default; a KMS key, when set, is
// shown with its reuse period (default 300) and SSE-SQS off; a turned-off
// SSE-SQS reads back off. An empty RedrivePolicy, Policy or KmsMasterKeyId
// removes the attribute rather than showing "".
TEST(Broker, QueueAttributesShowEncryptionAndClearedPolicies) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  const std::vector<std::string> sse = {"SqsManagedSseEnabled", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds"};
  ASSERT_TRUE(client->create_queue("plain").ok());
  auto a = client->get_queue_attributes("plain", sse);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(*a, (QueueAttributes{{"SqsManagedSseEnabled", "true"}}));
  ASSERT_TRUE(client->set_queue_attributes("plain", {{"SqsManagedSseEnabled", "false"}}).ok());
  EXPECT_EQ(client->get_queue_attributes("plain", sse).value(), (QueueAttributes{{"SqsManagedSseEnabled", "false"}}));
  // The default counts as identical for CreateQueue.
  EXPECT_TRUE(client->create_queue("plain").ok());
  ASSERT_TRUE(client->create_queue("fresh").ok());
  EXPECT_TRUE(client->create_queue("fresh", {{"SqsManagedSseEnabled", "true"}}).ok());

  ASSERT_TRUE(client->create_queue("kms", {{"KmsMasterKeyId", "alias/aws/sqs"}}).ok());
  EXPECT_EQ(client->get_queue_attributes("kms", sse).value(),
            (QueueAttributes{{"SqsManagedSseEnabled", "false"},
                             {"KmsMasterKeyId", "alias/aws/sqs"},
                             {"KmsDataKeyReusePeriodSeconds", "300"}}));
  ASSERT_TRUE(client->set_queue_attributes("kms", {{"KmsDataKeyReusePeriodSeconds", "600"}}).ok());
  EXPECT_EQ(client->get_queue_attributes("kms", {"KmsDataKeyReusePeriodSeconds"}).value(),
            (QueueAttributes{{"KmsDataKeyReusePeriodSeconds", "600"}}));

  ASSERT_TRUE(client->create_queue("dlq").ok());
  auto dlq_arn = client->get_queue_attributes("dlq", {"QueueArn"});
  ASSERT_TRUE(dlq_arn.ok());
  const std::string redrive =
      R"({"deadLetterTargetArn":")" + dlq_arn.value()["QueueArn"] + R"(","maxReceiveCount":"3"})";
  ASSERT_TRUE(client->create_queue("src", {{"RedrivePolicy", redrive}}).ok());
  ASSERT_EQ(client->get_queue_attributes("src", {"RedrivePolicy"}).value().count("RedrivePolicy"), 1u);
  ASSERT_TRUE(client->set_queue_attributes("src", {{"RedrivePolicy", ""}, {"KmsMasterKeyId", ""}}).ok());
  auto all = client->get_queue_attributes("src", {"All"});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all.value().count("RedrivePolicy"), 0u) << "a removed redrive policy is still shown";
  EXPECT_EQ(all.value().count("KmsMasterKeyId"), 0u);
}

TEST(Broker, OpenQueueKeepsWorkingWhileBrokerIsDown) {
  // DESIGN.md section 1: if the broker is down, clients keep sending and
  // receiving on open queues.
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("resilient");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE((*q)->send("before").ok());
  broker.kill9();
  auto sent = (*q)->send("while down");
  ASSERT_TRUE(sent.ok()) << sent.status().to_string();
  auto got = receive_now(**q, 10, 60);
  ASSERT_EQ(got.size(), 2u);
  ASSERT_TRUE((*q)->remove(got[0].receipt_handle).ok());
  broker.start();
  auto c2 = broker.connect();
  auto q2 = c2->open_queue("resilient");
  ASSERT_TRUE(q2.ok()) << q2.status().to_string();
  auto a = (*q2)->get_attributes({"ApproximateNumberOfMessagesNotVisible"});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.value()["ApproximateNumberOfMessagesNotVisible"], "1");
  ASSERT_TRUE((*q2)->remove(got[1].receipt_handle.str()).ok());
  EXPECT_TRUE(receive_now(**q2).empty());
}

}  // namespace
}  // namespace shmq
