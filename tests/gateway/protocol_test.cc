// The gateway's pure parts: the two wire protocols, error shapes, base64 and
// SigV4 verification (with AWS's published "get-vanilla" test vector).
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/codec.h"
#include "gateway/errors.h"
#include "gateway/protocol.h"
#include "gateway/sigv4.h"

namespace shmq::gateway {
namespace {

using nlohmann::json;

TEST(Protocol, QueryParametersBecomeTheJsonShape) {
  auto r = parse_request(
      "POST", "/", "", "application/x-www-form-urlencoded",
      "Action=SendMessageBatch&Version=2012-11-05&QueueUrl=http%3A%2F%2Fh%2F0%2Fq"
      "&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=hello+world"
      "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=k"
      "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=String"
      "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=v%26"
      "&SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.MessageBody=x"
      "&SendMessageBatchRequestEntry.2.DelaySeconds=5");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->protocol, Protocol::kQuery);
  EXPECT_EQ(r->action, "SendMessageBatch");
  EXPECT_EQ(r->params["QueueUrl"], "http://h/0/q");
  ASSERT_EQ(r->params["Entries"].size(), 2u);
  EXPECT_EQ(r->params["Entries"][0]["MessageBody"], "hello world");
  EXPECT_EQ(r->params["Entries"][0]["MessageAttributes"]["k"]["StringValue"], "v&");
  EXPECT_EQ(r->params["Entries"][1]["DelaySeconds"], "5");
}

TEST(Protocol, QueryMapsAndLists) {
  auto r = parse_request("GET",
                         "/?Action=CreateQueue&QueueName=q&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=40"
                         "&Tag.1.Key=team&Tag.1.Value=x",
                         "", "", "");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->params["Attributes"], json({{"VisibilityTimeout", "40"}}));
  EXPECT_EQ(r->params["tags"], json({{"team", "x"}}));  // CreateQueue's member is lower-case
  auto u = parse_request("POST", "/", "", "application/x-www-form-urlencoded",
                         "Action=UntagQueue&QueueUrl=q&TagKey.2=b&TagKey.1=a");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->params["TagKeys"], json({"a", "b"}));
}

TEST(Protocol, BadRequestsGetSqsErrors) {
  auto code = [](auto r) { return r.ok() ? std::string("OK") : r.status().code(); };
  EXPECT_EQ(code(parse_request("POST", "/", "", "application/x-www-form-urlencoded", "Action=Nope")), "InvalidAction");
  EXPECT_EQ(code(parse_request("POST", "/", "", "application/x-www-form-urlencoded", "QueueUrl=x")), "MissingAction");
  EXPECT_EQ(code(parse_request("POST", "/", "", "application/x-www-form-urlencoded", "Action=ListQueues&a=%zz")),
            "MalformedQueryString");
  EXPECT_EQ(code(parse_request("POST", "/", "", "application/x-www-form-urlencoded",
                               "Action=SendMessageBatch&SendMessageBatchRequestEntry.x.Id=1")),
            "MalformedQueryString");
  EXPECT_EQ(code(parse_request("POST", "/", "AmazonSQS.ListQueues", "application/x-amz-json-1.0", "{not json")),
            "SerializationException");
  EXPECT_EQ(code(parse_request("POST", "/", "AmazonSQS.ListQueues", "application/x-amz-json-1.0", "[1,2]")),
            "SerializationException");
  EXPECT_EQ(code(parse_request("POST", "/", "AmazonSQS.Frobnicate", "application/x-amz-json-1.0", "{}")),
            "InvalidAction");
  EXPECT_EQ(code(parse_request("POST", "/", "", "application/x-amz-json-1.0", "{}")), "MissingAction");
  EXPECT_EQ(code(parse_request("PUT", "/", "", "", "")), "InvalidAction");
}

TEST(Protocol, XmlRepliesAreFlattenedAndEscaped) {
  json result{{"Messages",
               {{{"Body", "a\r\n<&>\"'"},
                 {"Attributes", {{"SentTimestamp", "1"}}},
                 {"MessageAttributes", {{"k", {{"DataType", "String"}, {"StringValue", "v"}}}}}}}}};
  std::string xml = render_result(Protocol::kQuery, "ReceiveMessage", result, "rid");
  EXPECT_NE(xml.find("<ReceiveMessageResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">"
                     "<ReceiveMessageResult><Message>"),
            std::string::npos) << xml;
  EXPECT_NE(xml.find("<Body>a&#xD;\n&lt;&amp;&gt;&quot;&apos;</Body>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute>"), std::string::npos);
  EXPECT_NE(xml.find("<MessageAttribute><Name>k</Name><Value><DataType>String</DataType>"
                     "<StringValue>v</StringValue></Value></MessageAttribute>"),
            std::string::npos) << xml;
  EXPECT_NE(xml.find("<RequestId>rid</RequestId>"), std::string::npos);
  // No output shape: no Result element.
  std::string del = render_result(Protocol::kQuery, "DeleteMessage", json::object(), "r");
  EXPECT_EQ(del.find("DeleteMessageResult"), std::string::npos);
  std::string batch = render_result(Protocol::kQuery, "SendMessageBatch",
                                    json{{"Successful", {{{"Id", "a"}}}}, {"Failed", json::array()}}, "r");
  EXPECT_NE(batch.find("<SendMessageBatchResultEntry><Id>a</Id></SendMessageBatchResultEntry>"), std::string::npos);
}

TEST(Protocol, ErrorShapes) {
  Status s("QueueDoesNotExist", "The specified queue does not exist.");
  json j = json::parse(render_error(Protocol::kJson, s, "r"));
  EXPECT_EQ(j["__type"], "com.amazonaws.sqs#QueueDoesNotExist");
  EXPECT_EQ(j["message"], "The specified queue does not exist.");
  std::string xml = render_error(Protocol::kQuery, s, "r");
  EXPECT_NE(xml.find("<Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code>"), std::string::npos);
  EXPECT_EQ(wire_error("PurgeQueueInProgress").http_status, 403u);
  EXPECT_EQ(wire_error("ReceiptHandleIsInvalid").http_status, 404u);
  EXPECT_EQ(wire_error("InvalidParameterValue").json_type, "com.amazon.coral.service#InvalidParameterValueException");
  EXPECT_EQ(wire_error("InvalidParameterValue").query_code, "InvalidParameterValue");
  EXPECT_EQ(wire_error("InternalError").http_status, 500u);
  EXPECT_FALSE(wire_error("InternalError").sender_fault);
}

TEST(Codec, Base64) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\1\xff", 3)})
    EXPECT_EQ(base64_decode(base64_encode(s)).value(), s);
  EXPECT_EQ(base64_encode("Hello binary world!"), "SGVsbG8gYmluYXJ5IHdvcmxkIQ==");
  EXPECT_FALSE(base64_decode("abc").has_value());
  EXPECT_FALSE(base64_decode("ab=c").has_value());
  EXPECT_FALSE(base64_decode("a$cd").has_value());
}

// AWS's SigV4 test suite, "get-vanilla".
SignedRequest vanilla(const std::string& auth) {
  SignedRequest r;
  r.method = "GET";
  r.target = "/";
  r.headers = {{"host", "example.amazonaws.com"}, {"x-amz-date", "20150830T123600Z"}, {"authorization", auth}};
  return r;
}

TEST(SigV4, VerifiesAwsTestVector) {
  Credentials creds;
  char path[] = "/tmp/shmq-creds-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text = "# test\nAKIDEXAMPLE wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY 123456789012\n";
  ASSERT_EQ(write(fd, text.data(), text.size()), ssize_t(text.size()));
  close(fd);
  ASSERT_TRUE(creds.load(path).ok());
  unlink(path);
  const auto when = std::chrono::system_clock::from_time_t(1440938160);  // 2015-08-30T12:36:00Z
  const std::string good =
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
  auto ok = verify_sigv4(creds, vanilla(good), when);
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(ok.value()->account, "123456789012");

  std::string bad = good;
  bad.back() = '0';
  EXPECT_EQ(verify_sigv4(creds, vanilla(bad), when).status().code(), "SignatureDoesNotMatch");
  std::string other_key = good;
  other_key.replace(other_key.find("AKIDEXAMPLE"), 11, "AKIDNOBODY1");
  EXPECT_EQ(verify_sigv4(creds, vanilla(other_key), when).status().code(), "InvalidClientTokenId");
  EXPECT_EQ(verify_sigv4(creds, vanilla("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830"), when).status().code(),
            "IncompleteSignature");
  EXPECT_EQ(verify_sigv4(creds, vanilla("Basic abc"), when).status().code(), "IncompleteSignature");
  EXPECT_EQ(verify_sigv4(creds, vanilla(good), when + std::chrono::hours(1)).status().code(), "RequestExpired");
  SignedRequest none = vanilla(good);
  none.headers.pop_back();
  EXPECT_EQ(verify_sigv4(creds, none, when).status().code(), "MissingAuthenticationToken");
  SignedRequest tampered = vanilla(good);
  tampered.target = "/other";
  EXPECT_EQ(verify_sigv4(creds, tampered, when).status().code(), "SignatureDoesNotMatch");
}

}  // namespace
}  // namespace shmq::gateway
