// The real `shmq` CLI against a real broker: output is the AWS CLI's JSON,
// exit codes are the AWS CLI's (0, 252 usage, 254 service error, 255 cannot
// connect).
#include <algorithm>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/broker_process.h"

namespace shmq {
namespace {

using nlohmann::json;

struct CliRun {
  int rc = -1;
  std::string out;
  json doc;  // parsed stdout, null when stdout was empty, discarded when not JSON
};

class Cli : public ::testing::Test {
 protected:
  CliRun shmq(std::vector<std::string> args, const std::string& socket = "") {
    args.insert(args.begin(), testing::cli_path());
    CliRun r;
    r.rc = testing::run_command(args, &r.out, {"SHMQ_SOCKET=" + (socket.empty() ? broker_.socket() : socket)});
    if (!r.out.empty()) r.doc = json::parse(r.out, nullptr, false);
    return r;
  }

  testing::BrokerProcess broker_;
};

bool is_uuid(const std::string& s) {
  static const std::regex re("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$");
  return std::regex_match(s, re);
}

TEST_F(Cli, FullCycle) {
  // create-queue
  CliRun created = shmq({"create-queue", "--queue-name", "cliq"});
  ASSERT_EQ(created.rc, 0) << created.out;
  ASSERT_TRUE(created.doc.is_object()) << created.out;
  ASSERT_TRUE(created.doc.contains("QueueUrl")) << created.out;
  EXPECT_EQ(created.doc.size(), 1u) << created.out;
  const std::string url = created.doc["QueueUrl"];
  EXPECT_EQ(Client::queue_name_from_url(url), "cliq");
  {
    auto c = broker_.connect();
    auto lib_url = c->get_queue_url("cliq");
    ASSERT_TRUE(lib_url.ok());
    EXPECT_EQ(*lib_url, url);
  }

  // send-message
  CliRun sent = shmq({"send-message", "--queue-url", url, "--message-body", "hello"});
  ASSERT_EQ(sent.rc, 0) << sent.out;
  ASSERT_TRUE(sent.doc.is_object()) << sent.out;
  EXPECT_EQ(sent.doc.value("MD5OfMessageBody", ""), "5d41402abc4b2a76b9719d911017c592");  // md5("hello")
  const std::string id = sent.doc.value("MessageId", "");
  EXPECT_TRUE(is_uuid(id)) << id;
  EXPECT_FALSE(sent.doc.contains("MD5OfMessageAttributes"));

  // receive-message
  CliRun received = shmq({"receive-message", "--queue-url", url, "--visibility-timeout", "60"});
  ASSERT_EQ(received.rc, 0) << received.out;
  ASSERT_TRUE(received.doc.is_object()) << received.out;
  ASSERT_TRUE(received.doc.contains("Messages")) << received.out;
  ASSERT_EQ(received.doc["Messages"].size(), 1u) << received.out;
  const json& m = received.doc["Messages"][0];
  EXPECT_EQ(m.value("Body", ""), "hello");
  EXPECT_EQ(m.value("MessageId", ""), id);
  EXPECT_EQ(m.value("MD5OfBody", ""), "5d41402abc4b2a76b9719d911017c592");
  const std::string handle = m.value("ReceiptHandle", "");
  ASSERT_FALSE(handle.empty()) << received.out;

  // Leased: a second receive prints nothing.
  CliRun leased = shmq({"receive-message", "--queue-url", url});
  EXPECT_EQ(leased.rc, 0);
  EXPECT_EQ(leased.out, "");

  // A bad receipt handle is a service error, and deletes nothing.
  CliRun bad = shmq({"delete-message", "--queue-url", url, "--receipt-handle", "garbage"});
  EXPECT_EQ(bad.rc, 254) << bad.out;
  EXPECT_EQ(bad.out, "");
  CliRun attrs_leased = shmq({"get-queue-attributes", "--queue-url", url, "--attribute-names", "All"});
  ASSERT_EQ(attrs_leased.rc, 0);
  ASSERT_TRUE(attrs_leased.doc.is_object()) << attrs_leased.out;
  EXPECT_EQ(attrs_leased.doc["Attributes"].value("ApproximateNumberOfMessagesNotVisible", ""), "1")
      << attrs_leased.out;

  // delete-message
  CliRun deleted = shmq({"delete-message", "--queue-url", url, "--receipt-handle", handle});
  EXPECT_EQ(deleted.rc, 0) << deleted.out;
  EXPECT_EQ(deleted.out, "");

  // Nothing left: receive prints nothing, even after the lease would have ended.
  ASSERT_TRUE(broker_.connect()->advance_clock(61000).ok());
  CliRun empty = shmq({"receive-message", "--queue-url", url});
  EXPECT_EQ(empty.rc, 0);
  EXPECT_EQ(empty.out, "");

  // get-queue-attributes
  CliRun attrs = shmq({"get-queue-attributes", "--queue-url", url});
  ASSERT_EQ(attrs.rc, 0) << attrs.out;
  ASSERT_TRUE(attrs.doc.is_object()) << attrs.out;
  ASSERT_TRUE(attrs.doc.contains("Attributes")) << attrs.out;
  const json& a = attrs.doc["Attributes"];
  EXPECT_EQ(a.value("ApproximateNumberOfMessages", "?"), "0");
  EXPECT_EQ(a.value("ApproximateNumberOfMessagesNotVisible", "?"), "0");
  EXPECT_EQ(a.value("VisibilityTimeout", "?"), "30");
  EXPECT_EQ(a.value("QueueArn", "?"), "arn:aws:sqs:local:000000000000:cliq");

  // list-queues
  ASSERT_EQ(shmq({"create-queue", "--queue-name", "another"}).rc, 0);
  CliRun listed = shmq({"list-queues"});
  ASSERT_EQ(listed.rc, 0) << listed.out;
  ASSERT_TRUE(listed.doc.is_object()) << listed.out;
  ASSERT_TRUE(listed.doc.contains("QueueUrls")) << listed.out;
  std::vector<std::string> urls = listed.doc["QueueUrls"];
  EXPECT_NE(std::find(urls.begin(), urls.end(), url), urls.end()) << listed.out;
  EXPECT_EQ(urls.size(), 2u);
  CliRun prefixed = shmq({"list-queues", "--queue-name-prefix", "cli"});
  ASSERT_EQ(prefixed.rc, 0);
  ASSERT_TRUE(prefixed.doc.is_object()) << prefixed.out;
  EXPECT_EQ(prefixed.doc["QueueUrls"], json::array({url}));

  // stats
  CliRun stats = shmq({"stats"});
  ASSERT_EQ(stats.rc, 0) << stats.out;
  ASSERT_TRUE(stats.doc.is_object()) << stats.out;
  ASSERT_TRUE(stats.doc.contains("queues")) << stats.out;
  ASSERT_TRUE(stats.doc["queues"].is_array());
  bool found = false;
  for (const auto& q : stats.doc["queues"]) found |= q.value("name", "") == "cliq";
  EXPECT_TRUE(found) << stats.out;
}

// The batch answer carries each entry's digests, matched to its own entry
// (the failed middle entry must not shift them).
TEST_F(Cli, SendMessageBatchDigestsPerEntry) {
  ASSERT_EQ(shmq({"create-queue", "--queue-name", "batched"}).rc, 0);
  CliRun sent = shmq({"send-message-batch", "--queue-name", "batched", "--entries",
                      R"([{"Id":"a","MessageBody":"hello"},{"Id":"bad","MessageBody":""},)"
                      R"({"Id":"c","MessageBody":"x","MessageAttributes":{"color":{"DataType":"String","StringValue":"blue"}}}])"});
  ASSERT_EQ(sent.rc, 0) << sent.out;
  ASSERT_TRUE(sent.doc.is_object()) << sent.out;
  const json& ok = sent.doc["Successful"];
  ASSERT_EQ(ok.size(), 2u) << sent.out;
  EXPECT_EQ(ok[0].value("Id", ""), "a");
  EXPECT_EQ(ok[0].value("MD5OfMessageBody", ""), "5d41402abc4b2a76b9719d911017c592");  // md5("hello")
  EXPECT_FALSE(ok[0].contains("MD5OfMessageAttributes"));
  EXPECT_EQ(ok[1].value("Id", ""), "c");
  EXPECT_EQ(ok[1].value("MD5OfMessageBody", ""), "9dd4e461268c8034f5c8564e155c67a6");  // md5("x")
  EXPECT_EQ(ok[1].value("MD5OfMessageAttributes", ""), "da1b33cc3cbfe8b1630921e78e6b9880");
  ASSERT_EQ(sent.doc["Failed"].size(), 1u) << sent.out;
  EXPECT_EQ(sent.doc["Failed"][0].value("Id", ""), "bad");
}

TEST_F(Cli, SendMessageWithAttributesAndName) {
  ASSERT_EQ(shmq({"create-queue", "--queue-name", "named"}).rc, 0);
  CliRun sent = shmq({"send-message", "--queue-name", "named", "--message-body", "x", "--message-attributes",
                   R"({"color":{"DataType":"String","StringValue":"blue"}})"});
  ASSERT_EQ(sent.rc, 0) << sent.out;
  ASSERT_TRUE(sent.doc.is_object()) << sent.out;
  EXPECT_EQ(sent.doc.value("MD5OfMessageBody", ""), "9dd4e461268c8034f5c8564e155c67a6");  // md5("x")
  // SQS's algorithm: big-endian length-prefixed name, type, transport byte 1, value.
  EXPECT_EQ(sent.doc.value("MD5OfMessageAttributes", ""), "da1b33cc3cbfe8b1630921e78e6b9880");
  CliRun got = shmq({"receive-message", "--queue-name", "named", "--message-attribute-names", "All"});
  ASSERT_EQ(got.rc, 0) << got.out;
  ASSERT_TRUE(got.doc.is_object()) << got.out;
  const json& m = got.doc["Messages"][0];
  EXPECT_EQ(m["MessageAttributes"]["color"]["StringValue"], "blue");
  EXPECT_EQ(m["MessageAttributes"]["color"]["DataType"], "String");
  EXPECT_EQ(m.value("MD5OfMessageAttributes", ""), sent.doc.value("MD5OfMessageAttributes", "?"));
}

// AWSTraceHeader, the message system attribute a sender sets (aws sqs
// send-message --message-system-attributes): its digest, its return on
// receive, apart from the message attributes; other names refused.
TEST_F(Cli, SendMessageWithTraceHeader) {
  ASSERT_EQ(shmq({"create-queue", "--queue-name", "traced"}).rc, 0);
  const std::string trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
  CliRun sent = shmq({"send-message", "--queue-name", "traced", "--message-body", "x",
                      "--message-system-attributes",
                      R"({"AWSTraceHeader":{"DataType":"String","StringValue":")" + trace + R"("}})"});
  ASSERT_EQ(sent.rc, 0) << sent.out;
  EXPECT_EQ(sent.doc.value("MD5OfMessageSystemAttributes", ""), "5ae4d5d7636402d80f4eb6d213245a88");
  EXPECT_FALSE(sent.doc.contains("MD5OfMessageAttributes"));
  CliRun bad = shmq({"send-message", "--queue-name", "traced", "--message-body", "y",
                     "--message-system-attributes", R"({"SenderId":{"DataType":"String","StringValue":"me"}})"});
  EXPECT_EQ(bad.rc, 254) << bad.out;  // a service error, as the AWS CLI exits
  CliRun got = shmq({"receive-message", "--queue-name", "traced", "--message-system-attribute-names",
                     "AWSTraceHeader", "--message-attribute-names", "All", "--max-number-of-messages", "10"});
  ASSERT_EQ(got.rc, 0) << got.out;
  ASSERT_EQ(got.doc["Messages"].size(), 1u) << got.out << " (the refused send enqueued nothing)";
  const json& m = got.doc["Messages"][0];
  EXPECT_EQ(m["Attributes"].value("AWSTraceHeader", ""), trace);
  EXPECT_EQ(m["Attributes"].size(), 1u) << "only what was asked for";
  EXPECT_FALSE(m.contains("MessageAttributes")) << "a system attribute is no message attribute";
}

TEST_F(Cli, FifoGroupsDeduplicationAndSequenceNumbers) {
  CliRun created = shmq({"create-queue", "--queue-name", "cli.fifo", "--attributes", "FifoQueue=true"});
  ASSERT_EQ(created.rc, 0) << created.out;
  const std::string url = created.doc.value("QueueUrl", "");
  CliRun missing = shmq({"send-message", "--queue-url", url, "--message-body", "x"});
  EXPECT_EQ(missing.rc, 254) << missing.out;  // MissingParameter: MessageGroupId
  CliRun first = shmq({"send-message", "--queue-url", url, "--message-body", "one",
                       "--message-group-id", "g", "--message-deduplication-id", "d1"});
  ASSERT_EQ(first.rc, 0) << first.out;
  CliRun again = shmq({"send-message", "--queue-url", url, "--message-body", "one",
                       "--message-group-id", "g", "--message-deduplication-id", "d1"});
  ASSERT_EQ(again.rc, 0) << again.out;
  EXPECT_EQ(again.doc.value("MessageId", "a"), first.doc.value("MessageId", "b")) << "a duplicate";
  CliRun second = shmq({"send-message", "--queue-url", url, "--message-body", "two",
                        "--message-group-id", "g", "--message-deduplication-id", "d2"});
  ASSERT_EQ(second.rc, 0) << second.out;
  EXPECT_LT(std::stoull(first.doc.value("SequenceNumber", "0")),
            std::stoull(second.doc.value("SequenceNumber", "0")));

  CliRun received = shmq({"receive-message", "--queue-url", url, "--max-number-of-messages", "10",
                          "--attribute-names", "All", "--receive-request-attempt-id", "try-1"});
  ASSERT_EQ(received.rc, 0) << received.out;
  ASSERT_EQ(received.doc["Messages"].size(), 2u) << received.out;
  EXPECT_EQ(received.doc["Messages"][0].value("Body", ""), "one");
  EXPECT_EQ(received.doc["Messages"][1].value("Body", ""), "two");
  const json& attrs = received.doc["Messages"][0]["Attributes"];
  EXPECT_EQ(attrs.value("MessageGroupId", ""), "g") << received.out;
  EXPECT_EQ(attrs.value("MessageDeduplicationId", ""), "d1") << received.out;
  EXPECT_EQ(attrs.value("SequenceNumber", ""), first.doc.value("SequenceNumber", "-")) << received.out;
}

TEST_F(Cli, ErrorExitCodes) {
  // Service errors: 254.
  CliRun missing = shmq({"send-message", "--queue-name", "nope", "--message-body", "x"});
  EXPECT_EQ(missing.rc, 254);
  EXPECT_EQ(missing.out, "");
  ASSERT_EQ(shmq({"create-queue", "--queue-name", "e"}).rc, 0);
  EXPECT_EQ(shmq({"receive-message", "--queue-name", "e", "--max-number-of-messages", "11"}).rc, 254);
  EXPECT_EQ(shmq({"create-queue", "--queue-name", "bad name"}).rc, 254);
  // Usage errors: 252.
  EXPECT_EQ(shmq({"send-message", "--message-body", "x"}).rc, 252);  // no queue
  EXPECT_EQ(shmq({"no-such-command"}).rc, 252);
  // No broker: 255.
  CliRun unreachable = shmq({"list-queues"}, broker_.dir() + "/nothing-here.sock");
  EXPECT_EQ(unreachable.rc, 255);
  EXPECT_EQ(unreachable.out, "");
}

TEST_F(Cli, TagsDeadLetterSourcesAndMoveTasks) {
  ASSERT_EQ(shmq({"create-queue", "--queue-name", "dlq"}).rc, 0);
  ASSERT_EQ(shmq({"create-queue", "--queue-name", "src", "--attributes",
                  R"({"RedrivePolicy":"{\"deadLetterTargetArn\":\"arn:aws:sqs:local:000000000000:dlq\",\"maxReceiveCount\":\"1\"}"})"})
                .rc,
            0);
  EXPECT_EQ(shmq({"tag-queue", "--queue-name", "src", "--tags", "a=b,c=d"}).rc, 0);
  EXPECT_EQ(shmq({"untag-queue", "--queue-name", "src", "--tag-keys", "c"}).rc, 0);
  CliRun tags = shmq({"list-queue-tags", "--queue-name", "src"});
  EXPECT_EQ(tags.doc, json({{"Tags", {{"a", "b"}}}})) << tags.out;
  EXPECT_EQ(shmq({"tag-queue", "--queue-name", "src", "--tags", "novalue"}).rc, 252);
  CliRun sources = shmq({"list-dead-letter-source-queues", "--queue-name", "dlq"});
  ASSERT_EQ(sources.doc["queueUrls"].size(), 1u) << sources.out;
  EXPECT_EQ(Client::queue_name_from_url(sources.doc["queueUrls"][0].get<std::string>()), "src");
  CliRun started = shmq({"start-message-move-task", "--source-arn", "arn:aws:sqs:local:000000000000:dlq"});
  ASSERT_EQ(started.rc, 0) << started.out;
  EXPECT_FALSE(started.doc["TaskHandle"].get<std::string>().empty());
  CliRun listed = shmq({"list-message-move-tasks", "--source-arn", "dlq", "--max-results", "10"});
  ASSERT_EQ(listed.rc, 0);
  EXPECT_EQ(listed.doc["Results"][0]["SourceArn"], "arn:aws:sqs:local:000000000000:dlq") << listed.out;
  EXPECT_EQ(shmq({"start-message-move-task", "--source-arn", "src"}).rc, 254) << "src is not a DLQ";
  EXPECT_EQ(shmq({"cancel-message-move-task", "--task-handle", "nope"}).rc, 254);
}

}  // namespace
}  // namespace shmq
