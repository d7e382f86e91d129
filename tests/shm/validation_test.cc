// Tests for shm/validation.h: SQS's input rules, digests and the attribute wire form.
// Error codes and texts are asserted exactly where SQS (../shared/SQS.md) fixes them.

#include "shm/validation.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace shmq::shm {
namespace {

// gmock is not linked: a substring check that prints both sides when it fails.
::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << '"' << text << "\" does not contain \"" << part << '"';
}

MessageAttributeValue str(std::string type, std::string value) {
  return MessageAttributeValue{std::move(type), std::move(value), ""};
}
MessageAttributeValue bin(std::string value, std::string type = "Binary") {
  return MessageAttributeValue{std::move(type), "", std::move(value)};
}
MessageAttributes one(const std::string& name, MessageAttributeValue value) {
  return MessageAttributes{{name, std::move(value)}};
}
// Status of a single String attribute named `name`.
Status attribute_named(const std::string& name) {
  return validate_message_attributes(one(name, str("String", "v")));
}
Status queue_attribute(const std::string& name, const std::string& value, bool creating = true,
                       bool fifo = false) {
  return validate_queue_attributes({{name, value}}, creating, fifo);
}

// ----------------------------------------------------------------- queue names

TEST(QueueName, AcceptsSqsNames) {
  EXPECT_TRUE(validate_queue_name("orders", false).ok());
  EXPECT_TRUE(validate_queue_name("A-z_09", false).ok());
  EXPECT_TRUE(validate_queue_name("x", false).ok());
  EXPECT_TRUE(validate_queue_name(std::string(80, 'q'), false).ok());
  EXPECT_TRUE(validate_queue_name("orders.fifo", true).ok());
  EXPECT_TRUE(validate_queue_name(std::string(75, 'q') + ".fifo", true).ok());
}

TEST(QueueName, RejectsBadStandardNames) {
  for (const std::string& name :
       {std::string(), std::string(81, 'q'), std::string("has space"), std::string("dot.ted"),
        std::string("orders.fifo"), std::string("sl/ash"), std::string("caf\xc3\xa9")}) {
    Status s = validate_queue_name(name, false);
    EXPECT_EQ(s.code(), "InvalidParameterValue") << name;
    EXPECT_EQ(
        s.message(),
        "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
        << name;
  }
}

TEST(QueueName, FifoSuffixIsRequiredAndCounts) {
  for (const std::string& name :
       {std::string("orders"), std::string(".fifo"), std::string(76, 'q') + ".fifo",
        std::string("or ders.fifo"), std::string("orders.FIFO"), std::string("a.b.fifo")}) {
    Status s = validate_queue_name(name, true);
    EXPECT_EQ(s.code(), "InvalidParameterValue") << name;
    EXPECT_TRUE(Contains(s.message(), "must end with .fifo suffix and be 1 to 80 in length."))
        << name;
  }
}

// ------------------------------------------------------------------------ body

TEST(Body, EmptyIsMissingParameter) {
  Status s = validate_body("");
  EXPECT_EQ(s.code(), "MissingParameter");
  EXPECT_EQ(s.message(), "The request must contain the parameter MessageBody.");
}

TEST(Body, AcceptsAllowedCharacters) {
  EXPECT_TRUE(validate_body("hello").ok());
  EXPECT_TRUE(validate_body("tab\tnewline\ncr\r").ok());
  EXPECT_TRUE(validate_body("caf\xc3\xa9").ok());             // U+00E9
  EXPECT_TRUE(validate_body("\xed\x9f\xbf").ok());            // U+D7FF
  EXPECT_TRUE(validate_body("\xee\x80\x80").ok());            // U+E000
  EXPECT_TRUE(validate_body("\xef\xbf\xbd").ok());            // U+FFFD
  EXPECT_TRUE(validate_body("\xf0\x9f\x98\x80 smile").ok());  // U+1F600, 4 bytes
  EXPECT_TRUE(validate_body("\xf4\x8f\xbf\xbf").ok());        // U+10FFFF
  EXPECT_TRUE(validate_body(std::string(1 << 20, 'x')).ok());
}

TEST(Body, RejectsDisallowedCodePointsNamingThem) {
  struct Case {
    std::string body;
    std::string shown;
  };
  const Case cases[] = {
      {std::string("a\0b", 3), "#x0"},
      {"\x01", "#x1"},
      {"ok\x08", "#x8"},
      {"\x0b", "#xB"},
      {"\x1f", "#x1F"},
      {"\xed\xa0\x80", "#xD800"},   // lone high surrogate
      {"x\xed\xbf\xbf", "#xDFFF"},  // lone low surrogate
      {"\xef\xbf\xbe", "#xFFFE"},
      {"\xef\xbf\xbf", "#xFFFF"},
  };
  for (const auto& c : cases) {
    Status s = validate_body(c.body);
    EXPECT_EQ(s.code(), "InvalidMessageContents") << c.shown;
    EXPECT_EQ(s.message(), "Invalid binary character '" + c.shown +
                               "' was found in the message body, the set of allowed characters "
                               "is #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | "
                               "[#x10000-#x10FFFF].");
  }
}

TEST(Body, RejectsMalformedUtf8) {
  for (const std::string& body : {
           std::string("\x80"),              // stray continuation
           std::string("\xc3"),              // truncated 2-byte
           std::string("\xe2\x82"),          // truncated 3-byte
           std::string("\xf0\x9f\x98"),      // truncated 4-byte
           std::string("\xc0\xaf"),          // overlong '/'
           std::string("\xe0\x80\xaf"),      // overlong 3-byte
           std::string("\xf0\x80\x80\xaf"),  // overlong 4-byte
           std::string("\xf4\x90\x80\x80"),  // above U+10FFFF
           std::string("\xff"), std::string("\xfe"),
           std::string("\xc3\x28"),    // bad continuation
           std::string("ok\xe2\x82"),  // truncated at the end
       }) {
    Status s = validate_body(body);
    EXPECT_EQ(s.code(), "InvalidMessageContents");
    EXPECT_TRUE(Contains(s.message(), "was found in the message body"));
  }
}

// ---------------------------------------------------------- message attributes

TEST(MessageAttributes, AcceptsEveryDataType) {
  MessageAttributes a{{"s", str("String", "text")},
                      {"n", str("Number", "-12.5e3")},
                      {"f", str("Number.float", "4563442423554324324264524243.32543234")},
                      {"b", bin(std::string("\x00\xff", 2), "Binary")},
                      {"g", bin("GIF89a", "Binary.gif")},
                      {"custom", str("String.json", "{}")}};
  EXPECT_EQ(validate_message_attributes(a).to_string(), "OK");
  EXPECT_TRUE(validate_message_attributes({}).ok());
}

TEST(MessageAttributes, AtMostTen) {
  MessageAttributes a;
  for (int i = 0; i < 10; ++i) a["a" + std::to_string(i)] = str("String", "v");
  EXPECT_TRUE(validate_message_attributes(a).ok());
  a["eleven"] = str("String", "v");
  Status s = validate_message_attributes(a);
  EXPECT_EQ(s.code(), "InvalidParameterValue");
  EXPECT_EQ(s.message(), "Number of message attributes [11] exceeds the allowed maximum [10].");
}

TEST(MessageAttributes, NameRules) {
  EXPECT_TRUE(attribute_named("a.b-c_D9").ok());
  EXPECT_TRUE(attribute_named(std::string(256, 'n')).ok());
  EXPECT_TRUE(attribute_named("AWS").ok());  // only the dotted prefix is reserved
  EXPECT_TRUE(attribute_named("AmazonX.y").ok());
  EXPECT_TRUE(attribute_named("my.AWS.name").ok());

  EXPECT_EQ(attribute_named(std::string(257, 'n')).message(),
            "Message (user) attribute name must be shorter than 256 bytes.");
  EXPECT_EQ(attribute_named("").message(),
            "The request must contain non-empty message (user) attribute names.");
  for (const char* reserved : {"AWS.x", "aws.x", "Aws.x", "Amazon.x", "amazon.x", "AMAZON.x"}) {
    Status s = attribute_named(reserved);
    EXPECT_EQ(s.code(), "InvalidParameterValue") << reserved;
    EXPECT_TRUE(Contains(s.message(), "reserved for internal use")) << reserved;
  }
  EXPECT_EQ(attribute_named(".lead").message(),
            "Message (user) attribute name must not begin with character '.'.");
  EXPECT_EQ(attribute_named("trail.").message(),
            "Message (user) attribute name must not end with character '.'.");
  EXPECT_EQ(attribute_named("a..b").message(),
            "Message (user) attribute name must not have successive '.' characters.");
  Status space = attribute_named("a b");
  EXPECT_EQ(space.code(), "InvalidParameterValue");
  EXPECT_EQ(space.message(),
            "Invalid non-alphanumeric character '#x20' was found in the message attribute name. "
            "Can only include alphanumeric characters, hyphens, underscores, or dots.");
  EXPECT_TRUE(Contains(attribute_named("caf\xc3\xa9").message(), "'#xE9'"));
  EXPECT_EQ(attribute_named("a/b").code(), "InvalidParameterValue");
}

TEST(MessageAttributes, DataTypeRules) {
  for (const char* type : {"String", "Number", "Binary", "Number.float", "String.x.y"}) {
    MessageAttributeValue v =
        std::string(type).starts_with("Binary") ? bin("x", type) : str(type, "1");
    EXPECT_TRUE(validate_message_attributes(one("a", v)).ok()) << type;
  }
  for (const char* type : {"Foo", "string", "Strings", "String.", ".String", "Number float"}) {
    Status s = validate_message_attributes(one("a", str(type, "1")));
    EXPECT_EQ(s.code(), "InvalidParameterValue") << type;
    EXPECT_EQ(s.message(),
              "The type of message (user) attribute 'a' is invalid. You must use only the "
              "following supported type prefixes: Binary, Number, String.")
        << type;
  }
  EXPECT_EQ(validate_message_attributes(one("a", str("", "1"))).message(),
            "The message (user) attribute 'a' must contain a non-empty message attribute type.");
  EXPECT_TRUE(
      validate_message_attributes(one("a", str("String." + std::string(249, 'l'), "v"))).ok());
  EXPECT_EQ(
      validate_message_attributes(one("a", str("String." + std::string(250, 'l'), "v"))).message(),
      "Message (user) attribute type must be shorter than 256 bytes.");
}

TEST(MessageAttributes, ValueMustBeNonEmptyAndOfTheRightKind) {
  Status s = validate_message_attributes(one("X", str("String", "")));
  EXPECT_EQ(s.code(), "InvalidParameterValue");
  EXPECT_EQ(s.message(),
            "Message (user) attribute 'X' must contain a non-empty value of type 'String'.");
  EXPECT_EQ(validate_message_attributes(one("X", bin(""))).message(),
            "Message (user) attribute 'X' must contain a non-empty value of type 'Binary'.");
  // A value in the other field does not count: it would be silently dropped.
  EXPECT_EQ(validate_message_attributes(one("X", bin("raw", "String"))).code(),
            "InvalidParameterValue");
  EXPECT_EQ(validate_message_attributes(one("X", str("Binary", "text"))).code(),
            "InvalidParameterValue");
  EXPECT_EQ(
      validate_message_attributes(one("X", MessageAttributeValue{"String", "a", "b"})).message(),
      "Message (user) attribute 'X' must have a single value.");
}

TEST(MessageAttributes, StringValuesFollowBodyCharacterRules) {
  EXPECT_TRUE(validate_message_attributes(one("a", str("String", "\xf0\x9f\x98\x80\t"))).ok());
  Status s = validate_message_attributes(one("a", str("String", "bad\x01")));
  EXPECT_EQ(s.code(), "InvalidParameterValue");
  EXPECT_TRUE(Contains(s.message(), "'#x1' was found in the message attribute 'a' value"));
  EXPECT_EQ(validate_message_attributes(one("a", str("String", "\xc3"))).code(),
            "InvalidParameterValue");
  // Binary values are raw bytes: anything goes.
  EXPECT_TRUE(validate_message_attributes(one("a", bin(std::string("\0\x01\xff", 3)))).ok());
}

TEST(MessageAttributes, NumberValuesMustParse) {
  for (const char* n : {"0", "-1", "+7", "3.25", ".5", "5.", "1e10", "-2.5E-3", "1e126", "1e-128",
                        "0e999999", "00012", "12345678901234567890123456789012345678"}) {
    EXPECT_TRUE(validate_message_attributes(one("n", str("Number", n))).ok()) << n;
  }
  for (const char* n :
       {"abc", "1,5", "1.2.3", "--1", "1e", "e5", ".", "+", "1 ", " 1", "0x10", "NaN", "Infinity",
        "1e127", "1e-129", "123456789012345678901234567890123456789"}) {
    Status s = validate_message_attributes(one("n", str("Number.int", n)));
    EXPECT_EQ(s.code(), "InvalidParameterValue") << n;
    EXPECT_EQ(s.message(), "Can't cast the value of message (user) attribute 'n' to a number.")
        << n;
  }
}

TEST(MessageAttributes, SizeCountsNameTypeAndValue) {
  MessageAttributes a{{"name", str("String", "value")}, {"b", bin("12345", "Binary.x")}};
  EXPECT_EQ(message_attributes_size(a), (4 + 6 + 5) + (1 + 8 + 5));
  EXPECT_EQ(message_attributes_size({}), 0u);
}

// ------------------------------------------------------------------- msg size

TEST(MessageSize, LimitIsInclusiveWithSqsText) {
  EXPECT_TRUE(validate_message_size(1048576, 0, 1048576).ok());
  EXPECT_TRUE(validate_message_size(1000, 24, 1024).ok());
  Status s = validate_message_size(1048576, 1, 1048576);
  EXPECT_EQ(s.code(), "InvalidParameterValue");
  EXPECT_EQ(s.message(),
            "One or more parameters are invalid. Reason: Message must be shorter than 1048576 "
            "bytes.");
  EXPECT_EQ(validate_message_size(1000, 25, 1024).message(),
            "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes.");
  EXPECT_FALSE(validate_message_size(SIZE_MAX, SIZE_MAX, 1024).ok());  // no overflow
  EXPECT_FALSE(validate_message_size(1, SIZE_MAX, 1024).ok());
}

// -------------------------------------------------------------------- batches

TEST(BatchIds, CountRules) {
  Status empty = validate_batch_ids(std::vector<std::string>{});
  EXPECT_EQ(empty.code(), "EmptyBatchRequest");
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back("id" + std::to_string(i));
  EXPECT_TRUE(validate_batch_ids(ids).ok());
  for (int i = 10; i < 20; ++i) ids.push_back("id" + std::to_string(i));
  Status many = validate_batch_ids(ids);
  EXPECT_EQ(many.code(), "TooManyEntriesInBatchRequest");
  EXPECT_EQ(many.message(), "Maximum number of entries per request are 10. You have sent 20.");
}

TEST(BatchIds, IdCharsetLengthAndDistinctness) {
  EXPECT_TRUE(validate_batch_ids({"a", "B-1_z", std::string(80, 'x')}).ok());
  for (const std::string& id : {std::string(), std::string(81, 'x'), std::string("a.b"),
                                std::string("a b"), std::string("\xc3\xa9")}) {
    Status s = validate_batch_ids({"ok", id});
    EXPECT_EQ(s.code(), "InvalidBatchEntryId") << id;
    EXPECT_EQ(s.message(),
              "A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
              "It can be at most 80 letters long.");
  }
  Status dup = validate_batch_ids({"a", "b", "a"});
  EXPECT_EQ(dup.code(), "BatchEntryIdsNotDistinct");
  EXPECT_EQ(dup.message(), "Id a repeated.");
  EXPECT_TRUE(validate_batch_ids({"a", "A"}).ok());  // ids are case-sensitive
  // The check compares length and last character before the whole id.
  EXPECT_TRUE(validate_batch_ids({"a-1", "b-1", "a_1", "a-2"}).ok());
  Status late = validate_batch_ids({"x", "entry-0001", "entry-0002", "entry-0001"});
  EXPECT_EQ(late.code(), "BatchEntryIdsNotDistinct");
  EXPECT_EQ(late.message(), "Id entry-0001 repeated.");
  const std::string_view views[] = {"q", "r", "q"};
  EXPECT_EQ(validate_batch_ids(std::span<const std::string_view>(views)).code(), "BatchEntryIdsNotDistinct");
}

// --------------------------------------------------------------------- tokens

TEST(Token, AlphanumericsAndPunctuationUpTo128) {
  EXPECT_TRUE(validate_token("group-1", "MessageGroupId").ok());
  EXPECT_TRUE(validate_token("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "MessageGroupId").ok());
  EXPECT_TRUE(validate_token(std::string(128, 'g'), "MessageDeduplicationId").ok());
  Status s = validate_token("bad value", "MessageGroupId");
  EXPECT_EQ(s.code(), "InvalidParameterValue");
  EXPECT_EQ(s.message(),
            "Value bad value for parameter MessageGroupId is invalid. Reason: MessageGroupId can "
            "only include alphanumeric and punctuation characters. 1 to 128 in length.");
  for (const std::string& v : {std::string(), std::string(129, 'g'), std::string("tab\t"),
                               std::string("caf\xc3\xa9"), std::string("\x7f")}) {
    Status t = validate_token(v, "ReceiveRequestAttemptId");
    EXPECT_EQ(t.code(), "InvalidParameterValue");
    EXPECT_TRUE(Contains(t.message(), "for parameter ReceiveRequestAttemptId is invalid."));
  }
}

// ----------------------------------------------------------- queue attributes

TEST(QueueAttributes, AcceptsEveryKnownName) {
  const QueueAttributes standard{
      {"DelaySeconds", "0"},
      {"MaximumMessageSize", "1048576"},
      {"MessageRetentionPeriod", "345600"},
      {"Policy", R"({"Version":"2012-10-17","Statement":[]})"},
      {"ReceiveMessageWaitTimeSeconds", "20"},
      {"VisibilityTimeout", "30"},
      {"RedrivePolicy", R"({"deadLetterTargetArn":"arn:aws:sqs:r:1:dlq","maxReceiveCount":5})"},
      {"RedriveAllowPolicy", R"({"redrivePermission":"allowAll"})"},
      {"FifoQueue", "false"},
      {"KmsMasterKeyId", "alias/aws/sqs"},
      {"KmsDataKeyReusePeriodSeconds", "300"},
      {"SqsManagedSseEnabled", "false"},
      {"Durability", "sync"},
  };
  EXPECT_TRUE(validate_queue_attributes(standard, true, false).ok());
  QueueAttributes fifo = standard;
  fifo["FifoQueue"] = "true";
  fifo["ContentBasedDeduplication"] = "true";
  fifo["DeduplicationScope"] = "messageGroup";
  fifo["FifoThroughputLimit"] = "perMessageGroupId";
  EXPECT_TRUE(validate_queue_attributes(fifo, true, true).ok());
  fifo.erase("FifoQueue");
  EXPECT_TRUE(validate_queue_attributes(fifo, false, true).ok());
  EXPECT_TRUE(validate_queue_attributes({}, true, false).ok());
}

// Every attribute SQS's GetQueueAttributes documents (SQS.md 2.2), and
// shmq's Durability, is known; anything else is not.
TEST(QueueAttributes, KnownNamesForGetQueueAttributes) {
  for (const char* name :
       {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessagesNotVisible",
        "CreatedTimestamp", "DelaySeconds", "LastModifiedTimestamp", "MaximumMessageSize", "MessageRetentionPeriod",
        "Policy", "QueueArn", "ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "RedrivePolicy",
        "RedriveAllowPolicy", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled", "FifoQueue",
        "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit", "Durability"})
    EXPECT_TRUE(is_known_queue_attribute(name)) << name;
  for (const char* name : {"", "All", "NoSuchAttribute", "visibilitytimeout", "QueueUrl", "SenderId"})
    EXPECT_FALSE(is_known_queue_attribute(name)) << name;
}

TEST(QueueAttributes, IntegerRanges) {
  struct Range {
    const char* name;
    int min, max;
  };
  const Range ranges[] = {{"VisibilityTimeout", 0, 43200},
                          {"MessageRetentionPeriod", 60, 1209600},
                          {"DelaySeconds", 0, 900},
                          {"MaximumMessageSize", 1024, 1048576},
                          {"ReceiveMessageWaitTimeSeconds", 0, 20},
                          {"KmsDataKeyReusePeriodSeconds", 60, 86400}};
  for (const auto& r : ranges) {
    EXPECT_TRUE(queue_attribute(r.name, std::to_string(r.min)).ok()) << r.name;
    EXPECT_TRUE(queue_attribute(r.name, std::to_string(r.max)).ok()) << r.name;
    EXPECT_TRUE(queue_attribute(r.name, std::to_string(r.max), false).ok()) << r.name;
    const std::string expected = "Invalid value for the parameter " + std::string(r.name) +
                                 ". Reason: Must be an integer from " + std::to_string(r.min) +
                                 " to " + std::to_string(r.max) + ".";
    for (const std::string& bad :
         {std::to_string(r.min - 1), std::to_string(r.max + 1), std::string("-1"), std::string(""),
          std::string("1.5"), std::string("ten"), std::string(" 30"), std::string("30 "),
          std::string("+30"), std::string("0x1E"), std::string("-"),
          std::string("99999999999999999999999999")}) {
      Status s = queue_attribute(r.name, bad);
      EXPECT_EQ(s.code(), "InvalidAttributeValue") << r.name << "=" << bad;
      EXPECT_EQ(s.message(), expected) << r.name << "=" << bad;
    }
  }
}

TEST(QueueAttributes, UnknownAndReadOnlyNames) {
  for (const char* name : {"X", "visibilitytimeout", "QueueArn", "ApproximateNumberOfMessages",
                           "CreatedTimestamp", "All"}) {
    Status s = queue_attribute(name, "1");
    EXPECT_EQ(s.code(), "InvalidAttributeName") << name;
    EXPECT_EQ(s.message(), "Unknown Attribute " + std::string(name) + ".");
  }
}

TEST(QueueAttributes, FifoQueueOnlyWhenCreating) {
  EXPECT_TRUE(queue_attribute("FifoQueue", "true", true, true).ok());
  EXPECT_TRUE(queue_attribute("FifoQueue", "false", true, false).ok());
  Status set = queue_attribute("FifoQueue", "true", false, true);
  EXPECT_EQ(set.code(), "InvalidAttributeValue");
  EXPECT_TRUE(Contains(set.message(), "Reason: Modifying queue type is not supported."));
  EXPECT_EQ(queue_attribute("FifoQueue", "false", false, false).code(), "InvalidAttributeValue");
  EXPECT_EQ(queue_attribute("FifoQueue", "yes", true, true).code(), "InvalidAttributeValue");
  EXPECT_EQ(queue_attribute("FifoQueue", "true", true, false).code(), "InvalidParameterValue");
  EXPECT_EQ(queue_attribute("FifoQueue", "false", true, true).code(), "InvalidParameterValue");
}

TEST(QueueAttributes, FifoOnlyAttributesOnStandardQueue) {
  Status cbd = queue_attribute("ContentBasedDeduplication", "true", true, false);
  EXPECT_EQ(cbd.code(), "InvalidAttributeName");
  EXPECT_EQ(cbd.message(), "Unknown Attribute ContentBasedDeduplication.");
  EXPECT_EQ(queue_attribute("ContentBasedDeduplication", "false", false, false).code(),
            "InvalidAttributeName");
  Status scope = queue_attribute("DeduplicationScope", "queue", true, false);
  EXPECT_EQ(scope.code(), "InvalidAttributeName");
  EXPECT_EQ(scope.message(),
            "You can specify the DeduplicationScope only when FifoQueue is set to true.");
  EXPECT_EQ(queue_attribute("FifoThroughputLimit", "perQueue", true, false).code(),
            "InvalidAttributeName");
}

TEST(QueueAttributes, EnumeratedValues) {
  for (const char* v : {"memory", "async", "sync"}) {
    EXPECT_TRUE(queue_attribute("Durability", v).ok()) << v;
    EXPECT_TRUE(queue_attribute("Durability", v, false, true).ok()) << v;
  }
  for (const char* v : {"", "Sync", "fsync", "memory "}) {
    Status s = queue_attribute("Durability", v);
    EXPECT_EQ(s.code(), "InvalidAttributeValue") << v;
    EXPECT_EQ(s.message(),
              "Invalid value for the parameter Durability. Reason: Must be one of: memory, async, "
              "sync.");
  }
  EXPECT_EQ(queue_attribute("ContentBasedDeduplication", "yes", true, true).code(),
            "InvalidAttributeValue");
  EXPECT_EQ(queue_attribute("DeduplicationScope", "group", true, true).code(),
            "InvalidAttributeValue");
  EXPECT_EQ(queue_attribute("FifoThroughputLimit", "perGroup", true, true).code(),
            "InvalidAttributeValue");
  EXPECT_EQ(queue_attribute("SqsManagedSseEnabled", "1").code(), "InvalidAttributeValue");
}

TEST(QueueAttributes, CrossAttributeRules) {
  // High throughput needs per-group deduplication; the create default scope is "queue".
  EXPECT_EQ(queue_attribute("FifoThroughputLimit", "perMessageGroupId", true, true).code(),
            "InvalidAttributeValue");
  EXPECT_TRUE(queue_attribute("FifoThroughputLimit", "perMessageGroupId", false, true).ok());
  EXPECT_EQ(validate_queue_attributes(
                {{"FifoThroughputLimit", "perMessageGroupId"}, {"DeduplicationScope", "queue"}},
                false, true)
                .code(),
            "InvalidAttributeValue");
  EXPECT_EQ(validate_queue_attributes(
                {{"SqsManagedSseEnabled", "true"}, {"KmsMasterKeyId", "alias/k"}}, true, false)
                .code(),
            "InvalidAttributeValue");
}

TEST(QueueAttributes, JsonValuedAttributes) {
  EXPECT_TRUE(queue_attribute("RedrivePolicy", "", false).ok());  // "" removes it
  EXPECT_TRUE(queue_attribute("Policy", "", false).ok());
  EXPECT_EQ(queue_attribute("Policy", "{not json").code(), "InvalidAttributeValue");
  EXPECT_EQ(queue_attribute("Policy", "[]").code(), "InvalidAttributeValue");
  EXPECT_EQ(queue_attribute("Policy", "{\"a\":\"" + std::string(8200, 'x') + "\"}").code(),
            "InvalidAttributeValue");
  EXPECT_EQ(queue_attribute("RedrivePolicy", "{").code(), "InvalidAttributeValue");
  EXPECT_EQ(queue_attribute("RedrivePolicy", R"({"deadLetterTargetArn":"a"})").code(),
            "InvalidAttributeValue");

  EXPECT_TRUE(queue_attribute("RedriveAllowPolicy", R"({"redrivePermission":"denyAll"})").ok());
  EXPECT_TRUE(queue_attribute("RedriveAllowPolicy",
                              R"({"redrivePermission":"byQueue","sourceQueueArns":["arn:a"]})")
                  .ok());
  for (
      const char* bad :
      {"{}", "[]", "nope", R"({"redrivePermission":"all"})", R"({"redrivePermission":1})",
       R"({"redrivePermission":"byQueue"})",
       R"({"redrivePermission":"byQueue","sourceQueueArns":[]})",
       R"({"redrivePermission":"byQueue","sourceQueueArns":"arn"})",
       R"({"redrivePermission":"byQueue","sourceQueueArns":[1]})",
       R"({"redrivePermission":"byQueue","sourceQueueArns":["1","2","3","4","5","6","7","8","9","10","11"]})"}) {
    EXPECT_EQ(queue_attribute("RedriveAllowPolicy", bad).code(), "InvalidAttributeValue") << bad;
  }
}

// -------------------------------------------------------------- redrive policy

TEST(RedrivePolicy, ParsesNumberOrNumericString) {
  auto a =
      parse_redrive_policy(R"({"deadLetterTargetArn":"arn:aws:sqs:r:1:dlq","maxReceiveCount":5})");
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->dead_letter_target_arn, "arn:aws:sqs:r:1:dlq");
  EXPECT_EQ(a->max_receive_count, 5);
  auto b = parse_redrive_policy(R"({"maxReceiveCount":"1000","deadLetterTargetArn":"arn:x"})");
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_EQ(b->max_receive_count, 1000);
  auto c = parse_redrive_policy(R"( { "deadLetterTargetArn" : "d", "maxReceiveCount" : 1 } )");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->max_receive_count, 1);
}

TEST(RedrivePolicy, MaxReceiveCountRange) {
  for (const char* count :
       {"0", "1001", "-1", "\"0\"", "\"1001\"", "\"-5\"", "\"abc\"", "\"\"", "\" 5\"", "5.5", "5.0",
        "1e3", "true", "null", "[5]", "{}", "18446744073709551615", "-9223372036854775808",
        "99999999999999999999999"}) {
    const std::string json =
        std::string(R"({"deadLetterTargetArn":"arn:x","maxReceiveCount":)") + count + "}";
    auto r = parse_redrive_policy(json);
    ASSERT_FALSE(r.ok()) << count;
    EXPECT_EQ(r.status().code(), "InvalidAttributeValue") << count;
    EXPECT_TRUE(Contains(r.status().message(),
                         "for parameter RedrivePolicy is invalid. Reason: "
                         "Invalid value for maxReceiveCount: "))
        << count;
    EXPECT_TRUE(Contains(r.status().message(), "valid values are from 1 to 1000 both inclusive."));
  }
  auto zero = parse_redrive_policy(R"({"deadLetterTargetArn":"arn:x","maxReceiveCount":0})");
  EXPECT_EQ(zero.status().message(),
            R"(Value {"deadLetterTargetArn":"arn:x","maxReceiveCount":0} for parameter )"
            "RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: 0, valid values "
            "are from 1 to 1000 both inclusive.");
}

TEST(RedrivePolicy, ShapeErrors) {
  auto missing_arn = parse_redrive_policy(R"({"maxReceiveCount":"1000"})");
  EXPECT_EQ(missing_arn.status().code(), "InvalidAttributeValue");
  EXPECT_EQ(missing_arn.status().message(),
            R"(Value {"maxReceiveCount":"1000"} for parameter RedrivePolicy is invalid. Reason: )"
            "Redrive policy does not contain mandatory attribute: deadLetterTargetArn.");
  EXPECT_TRUE(Contains(parse_redrive_policy(R"({"deadLetterTargetArn":"a"})").status().message(),
                       "does not contain mandatory attribute: maxReceiveCount."));
  EXPECT_TRUE(
      Contains(parse_redrive_policy(R"({"deadLetterTargetArn":"a","maxReceiveCount":1,"x":1})")
                   .status()
                   .message(),
               "Only following attributes are supported: [deadLetterTargetArn, maxReceiveCount]."));
  for (const char* bad : {"", "{", "[]", "\"s\"", "42", "null", "{\"a\":}", "\xff",
                          R"({"deadLetterTargetArn":5,"maxReceiveCount":1})",
                          R"({"deadLetterTargetArn":"","maxReceiveCount":1})",
                          R"({"deadLetterTargetArn":null,"maxReceiveCount":1})"}) {
    auto r = parse_redrive_policy(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), "InvalidAttributeValue") << bad;
  }
  // Deep nesting is bad input, not a stack overflow.
  EXPECT_FALSE(parse_redrive_policy(std::string(100000, '[')).ok());
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_FALSE(parse_redrive_policy(deep).ok());
  auto nested =
      parse_redrive_policy(R"({"deadLetterTargetArn":"a","maxReceiveCount":)" + deep + "}");
  EXPECT_EQ(nested.status().code(), "InvalidAttributeValue");
}

// ------------------------------------------------------------------------ MD5

TEST(Md5, BodyDigest) {
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_hex("some message"), "df49b60423903e095b80d9b4a92eb065");
  EXPECT_EQ(md5_hex("The quick brown fox jumps over the lazy dog"),
            "9e107d9d372bb6826bd81d3542a419d6");
}

// The four vectors from SQS.md 3.4.
TEST(Md5, MessageAttributesVectors) {
  const auto s = str("String", "attribValue 1");
  const auto n = str("Number.float", "4563442423554324324264524243.32543234");
  const auto b = bin("Hello binary world!");
  EXPECT_EQ(md5_of_message_attributes(one("attribName1", s)), "19e27d4e946b072f3f58da80d94fd778");
  EXPECT_EQ(md5_of_message_attributes(one("customNumberTypeAttrib", n)),
            "9fe1b90bbd9965bdf77bac517c7d2495");
  EXPECT_EQ(md5_of_message_attributes(one("binaryAttribute", b)),
            "31a92b15d92f8db860eda32aceb656c3");
  EXPECT_EQ(md5_of_message_attributes(
                {{"attribName1", s}, {"customNumberTypeAttrib", n}, {"binaryAttribute", b}}),
            "c932db14a896c663f83c260297d594ff");
  EXPECT_EQ(md5_of_message_attributes({}), "");
}

// ------------------------------------------------------------- wire encoding

MessageAttributes sample_attributes() {
  return {{"attribName1", str("String", "attribValue 1")},
          {"customNumberTypeAttrib", str("Number.float", "4563442423554324324264524243.32543234")},
          {"binaryAttribute", bin(std::string("Hello\0binary\xff", 13))},
          {"utf8", str("String.text", "caf\xc3\xa9 \xf0\x9f\x98\x80")}};
}

std::string encode(const MessageAttributes& a) {
  std::string blob(encoded_attributes_size(a), '\0');
  encode_attributes(a, blob.data());
  return blob;
}

bool same(const MessageAttributes& x, const MessageAttributes& y) {
  if (x.size() != y.size()) return false;
  for (auto i = x.begin(), j = y.begin(); i != x.end(); ++i, ++j) {
    if (i->first != j->first || i->second.data_type != j->second.data_type ||
        i->second.string_value != j->second.string_value ||
        i->second.binary_value != j->second.binary_value) {
      return false;
    }
  }
  return true;
}

TEST(AttributeEncoding, RoundTrip) {
  const MessageAttributes a = sample_attributes();
  const std::string blob = encode(a);
  auto back = decode_attributes(blob);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_TRUE(same(*back, a));
  EXPECT_EQ(md5_of_message_attributes(*back), md5_of_message_attributes(a));
}

TEST(AttributeEncoding, LayoutIsLittleEndianAsDocumented) {
  const std::string blob = encode(one("ab", str("String", "xyz")));
  const std::string expected(
      "\x01\x00"  // count
      "\x02\x00"
      "ab"  // name
      "\x06\x00"
      "String"  // type
      "\x01"    // kind: string
      "\x03\x00\x00\x00"
      "xyz",  // value
      2 + 2 + 2 + 2 + 6 + 1 + 4 + 3);
  EXPECT_EQ(blob, expected);
  EXPECT_EQ(encode(one("b", bin("\x07", "Binary")))[2 + 2 + 1 + 2 + 6], '\x02');
}

TEST(AttributeEncoding, EmptyAttributes) {
  EXPECT_EQ(encoded_attributes_size({}), 0u);
  auto empty = decode_attributes("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  auto zero_count = decode_attributes(std::string("\0\0", 2));
  ASSERT_TRUE(zero_count.ok());
  EXPECT_TRUE(zero_count->empty());
}

TEST(AttributeEncoding, EveryTruncationIsAnError) {
  const std::string blob = encode(sample_attributes());
  for (size_t n = 1; n < blob.size(); ++n) {
    // A fresh heap copy of exactly n bytes, so ASan flags any read past the end.
    std::vector<char> copy(blob.begin(), blob.begin() + static_cast<long>(n));
    auto r = decode_attributes(std::string_view(copy.data(), copy.size()));
    ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes decoded";
    EXPECT_EQ(r.status().code(), "InternalError");
  }
}

TEST(AttributeEncoding, CorruptBlobsAreErrors) {
  const std::string blob = encode(one("ab", str("String", "xyz")));
  std::string trailing = blob + "!";
  EXPECT_EQ(decode_attributes(trailing).status().code(), "InternalError");
  std::string more = blob;
  more[0] = 2;  // claims a second attribute that is not there
  EXPECT_EQ(decode_attributes(more).status().code(), "InternalError");
  std::string kind = blob;
  kind[2 + 2 + 2 + 2 + 6] = 2;  // binary kind on a String type
  EXPECT_EQ(decode_attributes(kind).status().code(), "InternalError");
  kind[2 + 2 + 2 + 2 + 6] = 9;
  EXPECT_EQ(decode_attributes(kind).status().code(), "InternalError");
  std::string huge = blob;
  huge[2 + 2 + 2 + 2 + 6 + 1 + 3] = '\xff';  // value length far past the end
  EXPECT_EQ(decode_attributes(huge).status().code(), "InternalError");
  std::string twice = blob;
  twice[0] = 2;
  twice += blob.substr(2);  // the same name twice
  EXPECT_EQ(decode_attributes(twice).status().code(), "InternalError");
  EXPECT_EQ(decode_attributes(std::string(1, '\x01')).status().code(), "InternalError");
  EXPECT_EQ(decode_attributes(std::string("\xff\xff", 2)).status().code(), "InternalError");
}

// ------------------------------------------------- message system attributes

constexpr std::string_view kTrace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

std::string encode(const MessageAttributes* a, const SystemAttributes& sys) {
  std::string blob(encoded_attributes_size(a, sys), '\0');
  encode_attributes(a, sys, blob.data());
  return blob;
}

TEST(SystemAttributes, RideBesideMessageAttributesWithoutBecomingOne) {
  const MessageAttributes a = sample_attributes();
  const std::string blob = encode(&a, SystemAttributes{kTrace, {}});
  EXPECT_EQ(blob.size(), encode(a).size() + 2 + 2 + 14 + 1 + 4 + 6 + kTrace.size());
  auto back = decode_attributes(blob);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_TRUE(same(*back, a));  // not among the message attributes, nor in their MD5
  EXPECT_EQ(md5_of_message_attributes(*back), md5_of_message_attributes(a));
  const SystemAttributes sys = system_attributes_of(blob);
  EXPECT_EQ(sys.trace_header, kTrace);
  EXPECT_TRUE(sys.dead_letter_source_arn.empty());
  EXPECT_TRUE(system_attributes_of(encode(a)).empty());

  // Alone: a blob of one system entry, and no message attributes.
  const std::string alone = encode(nullptr, SystemAttributes{kTrace, {}});
  ASSERT_TRUE(decode_attributes(alone).ok());
  EXPECT_TRUE(decode_attributes(alone).value().empty());
  EXPECT_EQ(system_attributes_of(alone).trace_header, kTrace);
  EXPECT_EQ(encoded_attributes_size(nullptr, SystemAttributes{}), 0u);

  // A user attribute may be called AWSTraceHeader too: the two stay apart.
  const MessageAttributes named = one("AWSTraceHeader", str("String", "user's"));
  const std::string both = encode(&named, SystemAttributes{kTrace, {}});
  ASSERT_TRUE(decode_attributes(both).ok());
  EXPECT_EQ(decode_attributes(both).value().at("AWSTraceHeader").string_value, "user's");
  EXPECT_EQ(system_attributes_of(both).trace_header, kTrace);
}

TEST(SystemAttributes, DeadLetterSourceIsAddedOrReplacedKeepingTheRest) {
  const MessageAttributes a = sample_attributes();
  const std::string blob = encode(&a, SystemAttributes{kTrace, {}});
  const std::string moved = with_dead_letter_source(blob, "arn:aws:sqs:local:000000000000:first");
  ASSERT_TRUE(decode_attributes(moved).ok());
  EXPECT_TRUE(same(decode_attributes(moved).value(), a));
  EXPECT_EQ(system_attributes_of(moved).trace_header, kTrace);
  EXPECT_EQ(system_attributes_of(moved).dead_letter_source_arn, "arn:aws:sqs:local:000000000000:first");
  // Moved on again: the last source is named, once.
  const std::string again = with_dead_letter_source(moved, "arn:aws:sqs:local:000000000000:second");
  EXPECT_EQ(system_attributes_of(again).dead_letter_source_arn, "arn:aws:sqs:local:000000000000:second");
  EXPECT_EQ(again.size(), moved.size() + 1);
  EXPECT_TRUE(same(decode_attributes(again).value(), a));
  // From nothing, and a corrupt blob left as it was.
  const std::string bare = with_dead_letter_source("", "arn:x");
  EXPECT_EQ(system_attributes_of(bare).dead_letter_source_arn, "arn:x");
  EXPECT_TRUE(decode_attributes(bare).value().empty());
  EXPECT_EQ(with_dead_letter_source("\x05", "arn:x"), "\x05");
}

TEST(SystemAttributes, SizeCountsOnlyMessageAttributes) {
  const MessageAttributes a = sample_attributes();
  const std::string blob = with_dead_letter_source(encode(&a, SystemAttributes{kTrace, {}}), "arn:x");
  EXPECT_EQ(counted_attributes_size(blob), message_attributes_size(a));
  EXPECT_EQ(counted_attributes_size(""), 0u);
  EXPECT_EQ(counted_attributes_size("\x05"), 1u) << "a corrupt blob counts whole";
}

TEST(SystemAttributes, DeadLetterSourceLeavesAFullCountAlone) {
  // 65 535 empty entries: one more would wrap the u16 count.
  std::string blob("\xff\xff", 2);
  for (int i = 0; i < 0xffff; ++i) blob += std::string("\0\0\0\0\x01\0\0\0\0", 9);
  EXPECT_EQ(with_dead_letter_source(blob, "arn:x"), blob);
  // One fewer takes the source as the 65 535th entry.
  blob[0] = '\xfe';
  blob.resize(blob.size() - 9);
  EXPECT_EQ(system_attributes_of(with_dead_letter_source(blob, "arn:x")).dead_letter_source_arn, "arn:x");
}

TEST(SystemAttributes, CorruptSystemEntriesAreErrors) {
  std::string blob = encode(nullptr, SystemAttributes{kTrace, {}});
  const size_t kind_at = 2 + 2 + 14 + 2 + 6;
  ASSERT_EQ(blob[kind_at], '\x03');
  std::string typed = blob;
  typed[2 + 2 + 14 + 2] = 'X';  // "Xtring": a system entry is of type String only
  EXPECT_EQ(decode_attributes(typed).status().code(), "InternalError");
  EXPECT_TRUE(system_attributes_of(typed).empty());
  for (size_t n = 1; n < blob.size(); ++n) {
    std::vector<char> copy(blob.begin(), blob.begin() + static_cast<long>(n));
    EXPECT_TRUE(system_attributes_of(std::string_view(copy.data(), copy.size())).empty()) << n;
  }
}

TEST(SystemAttributes, DigestIsSqsAlgorithmOverTheSystemAttributes) {
  // The vector an SQS emulator checks against the AWS SDK's computation.
  EXPECT_EQ(md5_of_message_attributes(one("AWSTraceHeader", str("String", std::string(kTrace)))),
            "5ae4d5d7636402d80f4eb6d213245a88");
}

TEST(SystemAttributes, SendersMaySetOnlyAWSTraceHeader) {
  EXPECT_TRUE(validate_message_system_attributes({}).ok());
  EXPECT_TRUE(validate_message_system_attributes(one("AWSTraceHeader", str("String", "Root=1-a"))).ok());
  EXPECT_EQ(validate_message_system_attributes(one("SenderId", str("String", "x"))).code(), "InvalidParameterValue");
  EXPECT_EQ(validate_message_system_attributes(one("DeadLetterQueueSourceArn", str("String", "x"))).code(),
            "InvalidParameterValue");
  EXPECT_EQ(validate_message_system_attributes(one("AWSTraceHeader", str("Number", "1"))).code(),
            "InvalidParameterValue");
  EXPECT_EQ(validate_message_system_attributes(one("AWSTraceHeader", str("String", ""))).code(),
            "InvalidParameterValue");
  EXPECT_EQ(validate_message_system_attributes(
                one("AWSTraceHeader", str("String", std::string(kMaxTraceHeaderLength + 1, 'a'))))
                .code(),
            "InvalidParameterValue");
  EXPECT_TRUE(validate_trace_header(std::string(kMaxTraceHeaderLength, 'a')).ok());
  EXPECT_EQ(validate_trace_header("a\x01b").code(), "InvalidMessageContents");
}

// Every byte flipped to every value: decode may succeed or fail, but must never read
// out of bounds (ASan), and what it accepts must survive another round trip.
TEST(AttributeEncoding, MutatedBlobsNeverReadOutOfBounds) {
  const std::string blob = encode(sample_attributes());
  for (size_t i = 0; i < blob.size(); ++i) {
    for (int v : {0x00, 0x01, 0x02, 0x7f, 0x80, 0xff}) {
      std::vector<char> copy(blob.begin(), blob.end());
      copy[i] = static_cast<char>(v);
      auto r = decode_attributes(std::string_view(copy.data(), copy.size()));
      if (!r.ok()) continue;
      auto again = decode_attributes(encode(*r));
      ASSERT_TRUE(again.ok()) << i << "=" << v;
      EXPECT_TRUE(same(*again, *r)) << i << "=" << v;
    }
  }
}

}  // namespace
}  // namespace shmq::shm

namespace shmq::shm {
namespace {

// The eight-bytes-at-a-time fast path must not miss a bad byte at any offset.
TEST(BodyFastPath, BadByteAtEveryOffsetIsFound) {
  for (size_t len : {7u, 8u, 9u, 16u, 41u}) {
    for (size_t p = 0; p < len; ++p) {
      for (char bad : {'\x01', '\x1f', '\xff', '\x80'}) {
        std::string body(len, 'a');
        body[p] = bad;
        EXPECT_EQ(validate_body(body).code(), "InvalidMessageContents") << "len " << len << " at " << p;
      }
      std::string ok(len, '~');
      ok[p] = '\t';
      EXPECT_TRUE(validate_body(ok).ok()) << "len " << len << " at " << p;
    }
  }
}

}  // namespace
}  // namespace shmq::shm
