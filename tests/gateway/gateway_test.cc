// The HTTP gateway of a real broker, spoken to with raw sockets: malformed
// HTTP, oversized and truncated requests, bad JSON and form data, unknown
// actions, wrong parameter types, slow clients, pipelining, keep-alive and
// parked long polls. Every bad request must get an SQS-shaped error (or a
// closed connection) and the broker must keep serving.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/broker_process.h"

namespace shmq::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string port_file() {
  char path[] = "/tmp/shmq-gw-port-XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  unlink(path);
  return path;
}

class Gateway : public ::testing::Test {
 protected:
  Gateway()
      : port_path_(port_file()),
        broker_({"--http", "127.0.0.1:0", "--http-port-file", port_path_, "--http-timeout", "2",
                 "--http-max-body", "65536"}) {
    for (int i = 0; i < 200 && port_ == 0; ++i) {
      std::ifstream f(port_path_);
      f >> port_;
      if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_NE(port_, 0) << "the gateway did not write its port";
  }
  ~Gateway() override { unlink(port_path_.c_str()); }

  int connect_socket() const {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
  }

  static void send_all(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += size_t(n);
    }
  }

  struct Response {
    int status = 0;
    std::string head;
    std::string body;
    bool closed = false;  // the server closed after it
  };

  // Reads one response (Content-Length framed) from fd, using *buf for leftovers.
  static Response read_response(int fd, std::string* buf) {
    Response r;
    auto fill = [&] {
      char tmp[65536];
      ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
      if (n <= 0) return false;
      buf->append(tmp, size_t(n));
      return true;
    };
    size_t end;
    while ((end = buf->find("\r\n\r\n")) == std::string::npos)
      if (!fill()) {
        r.closed = true;
        return r;
      }
    r.head = buf->substr(0, end);
    r.status = std::atoi(r.head.substr(9, 3).c_str());
    size_t len = 0;
    auto cl = r.head.find("Content-Length: ");
    if (cl != std::string::npos) len = size_t(std::atol(r.head.c_str() + cl + 16));
    while (buf->size() < end + 4 + len)
      if (!fill()) break;
    r.body = buf->substr(end + 4, len);
    buf->erase(0, end + 4 + len);
    return r;
  }

  // One request on a fresh connection.
  Response exchange(const std::string& raw) const {
    int fd = connect_socket();
    send_all(fd, raw);
    std::string buf;
    Response r = read_response(fd, &buf);
    close(fd);
    return r;
  }

  static std::string json_request(const std::string& action, const std::string& body, bool keep_alive = true) {
    return "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-amz-json-1.0\r\n"
           "X-Amz-Target: AmazonSQS." + action + "\r\n" + (keep_alive ? "" : "Connection: close\r\n") +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  static std::string query_request(const std::string& form) {
    return "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
           "Content-Length: " + std::to_string(form.size()) + "\r\n\r\n" + form;
  }

  // The broker still answers a normal request.
  void expect_alive() const {
    Response r = exchange(json_request("ListQueues", "{}"));
    EXPECT_EQ(r.status, 200) << r.head;
    int st = 0;
    EXPECT_EQ(waitpid(broker_.pid(), &st, WNOHANG), 0) << "the broker exited";
  }

  static json json_error(const Response& r) {
    json j = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.body;
    return j;
  }

  std::string port_path_;
  BrokerProcess broker_;
  int port_ = 0;
};

TEST_F(Gateway, GarbageIsAnsweredAndClosed) {
  Response r = exchange("THIS IS NOT HTTP\r\n\r\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("<ErrorResponse"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("<Code>MalformedHttpRequest</Code>"), std::string::npos) << r.body;
  r = exchange("GET / HTTP/1.1\r\nBad Header Line\r\n\r\n");
  EXPECT_EQ(r.status, 400);
  r = exchange(std::string("POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"));
  EXPECT_EQ(r.status, 400);
  r = exchange("POST / HTTP/1.1\r\nX-Big: " + std::string(100000, 'a') + "\r\n\r\n");
  EXPECT_EQ(r.status, 400);
  expect_alive();
}

TEST_F(Gateway, OversizedBodiesAreRefusedBeforeTheyArrive) {
  // Content-Length over --http-max-body: refused from the header alone.
  Response r = exchange(
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: AmazonSQS.SendMessage\r\n"
      "Content-Length: 104857600\r\n\r\n{\"QueueUrl\":");
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.head.find("x-amzn-query-error: RequestEntityTooLarge;Sender"), std::string::npos) << r.head;
  EXPECT_EQ(json_error(r)["__type"], "com.amazon.coral.service#RequestEntityTooLarge");
  // Chunked bodies are counted too.
  std::string chunked =
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i) chunked += "1000\r\n" + std::string(4096, 'a') + "\r\n";
  chunked += "0\r\n\r\n";
  r = exchange(chunked);
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("<Code>RequestEntityTooLarge</Code>"), std::string::npos);
  expect_alive();
}

TEST_F(Gateway, BadJsonAndFormsGetSqsErrors) {
  Response r = exchange(json_request("ListQueues", "{\"QueueNamePrefix\": "));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json_error(r)["__type"], "com.amazon.coral.service#SerializationException");
  EXPECT_NE(r.head.find("x-amzn-query-error: SerializationException;Sender"), std::string::npos);

  r = exchange(json_request("CreateQueue", "{\"QueueName\": 5}"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json_error(r)["__type"], "com.amazon.coral.service#InvalidParameterValueException");

  r = exchange(json_request("ReceiveMessage", "{\"QueueUrl\": \"http://h/0/none\", \"MaxNumberOfMessages\": \"x\"}"));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.head.find("x-amzn-query-error: InvalidParameterValue;Sender"), std::string::npos);

  r = exchange(json_request("SendMessage", "{\"QueueUrl\": \"http://h/0/none\", \"MessageBody\": \"x\"}"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json_error(r)["__type"], "com.amazonaws.sqs#QueueDoesNotExist");
  EXPECT_NE(r.head.find("x-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;Sender"), std::string::npos);

  r = exchange(json_request("SendMessage", "{\"MessageBody\": \"x\"}"));
  EXPECT_EQ(json_error(r)["__type"], "com.amazon.coral.service#MissingRequiredParameterException");

  r = exchange(query_request("Action=ListQueues&QueueNamePrefix=%G1"));
  EXPECT_EQ(r.status, 404);  // MalformedQueryString is 404 in SQS
  EXPECT_NE(r.body.find("<Code>MalformedQueryString</Code>"), std::string::npos) << r.body;

  r = exchange(query_request("Action=SendMessageBatch&QueueUrl=q&SendMessageBatchRequestEntry.1.Id=a"));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("<Code>"), std::string::npos) << r.body;
  expect_alive();
}

TEST_F(Gateway, UnknownActionsAreInvalidAction) {
  Response r = exchange(json_request("DoSomething", "{}"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json_error(r)["__type"], "com.amazon.coral.service#InvalidAction");
  r = exchange(query_request("Action=DoSomething&Version=2012-11-05"));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("<Code>InvalidAction</Code>"), std::string::npos);
  r = exchange(query_request("Version=2012-11-05"));
  EXPECT_NE(r.body.find("<Code>MissingAction</Code>"), std::string::npos);
  expect_alive();
}

TEST_F(Gateway, BadMessagesChangeNothing) {
  ASSERT_EQ(exchange(json_request("CreateQueue", R"({"QueueName":"q"})")).status, 200);
  const std::string q = R"("QueueUrl":"http://localhost/000000000000/q")";
  Response r = exchange(json_request(
      "SendMessage", "{" + q + R"(,"MessageBody":"x","MessageAttributes":{"b":{"DataType":"Binary","BinaryValue":"***"}}})"));
  EXPECT_EQ(r.status, 400);
  r = exchange(json_request("SendMessage", "{" + q + R"(,"MessageBody":"bad \u0001 char"})"));
  EXPECT_EQ(json_error(r)["__type"], "com.amazonaws.sqs#InvalidMessageContents");
  r = exchange(json_request("SendMessageBatch", "{" + q + R"(,"Entries":[]})"));
  EXPECT_EQ(json_error(r)["__type"], "com.amazonaws.sqs#EmptyBatchRequest");
  r = exchange(json_request("SendMessageBatch", "{" + q + R"(,"Entries":"no"})"));
  EXPECT_EQ(r.status, 400);
  r = exchange(json_request("DeleteMessage", "{" + q + R"(,"ReceiptHandle":"forged"})"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json_error(r)["__type"], "com.amazonaws.sqs#ReceiptHandleIsInvalid");
  r = exchange(json_request("ReceiveMessage", "{" + q + R"(,"WaitTimeSeconds":21})"));
  EXPECT_EQ(json_error(r)["message"],
            "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.");
  r = exchange(json_request("GetQueueAttributes", "{" + q + R"(,"AttributeNames":["All"]})"));
  EXPECT_EQ(json::parse(r.body)["Attributes"]["ApproximateNumberOfMessages"], "0");
  expect_alive();
}

// CreateQueue on an existing queue with other tags is QueueNameExists and
// leaves the queue's tags alone; the same tags (or none) return its URL.
TEST_F(Gateway, CreateQueueWithOtherTagsIsRefused) {
  ASSERT_EQ(exchange(json_request("CreateQueue", R"({"QueueName":"t","tags":{"a":"b"}})")).status, 200);
  Response r = exchange(json_request("CreateQueue", R"({"QueueName":"t","tags":{"x":"y"}})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json_error(r)["__type"], "com.amazonaws.sqs#QueueNameExists");
  EXPECT_EQ(exchange(json_request("CreateQueue", R"({"QueueName":"t","tags":{"a":"b"}})")).status, 200);
  EXPECT_EQ(exchange(json_request("CreateQueue", R"({"QueueName":"t"})")).status, 200);
  r = exchange(json_request("ListQueueTags", R"({"QueueUrl":"http://localhost/000000000000/t"})"));
  EXPECT_EQ(json::parse(r.body)["Tags"], json({{"a", "b"}}));
  expect_alive();
}

TEST_F(Gateway, KeepAliveAndPipelining) {
  int fd = connect_socket();
  // Three requests in one write: three answers, in order, on one connection.
  send_all(fd, json_request("CreateQueue", R"({"QueueName":"p1"})") +
                   json_request("GetQueueUrl", R"({"QueueName":"p1"})") +
                   json_request("GetQueueUrl", R"({"QueueName":"nope"})"));
  std::string buf;
  Response a = read_response(fd, &buf), b = read_response(fd, &buf), c = read_response(fd, &buf);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(json::parse(b.body)["QueueUrl"], "http://localhost/000000000000/p1");
  EXPECT_EQ(c.status, 400);
  for (int i = 0; i < 20; ++i) {
    send_all(fd, json_request("SendMessage", R"({"QueueUrl":"http://localhost/000000000000/p1","MessageBody":"m"})"));
    EXPECT_EQ(read_response(fd, &buf).status, 200);
  }
  send_all(fd, json_request("ListQueues", "{}", /*keep_alive=*/false));
  EXPECT_EQ(read_response(fd, &buf).status, 200);
  EXPECT_TRUE(read_response(fd, &buf).closed) << "Connection: close is honoured";
  close(fd);
}

TEST_F(Gateway, SlowClientsAreCutOff) {
  int fd = connect_socket();
  send_all(fd, "POST / HTTP/1.1\r\nHost: x\r\nContent-Len");  // and then nothing (--http-timeout 2)
  const auto t0 = Clock::now();
  std::string buf;
  Response r = read_response(fd, &buf);
  EXPECT_TRUE(r.closed);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(8));
  close(fd);
  // A truncated body, then the client goes away: nothing breaks.
  fd = connect_socket();
  send_all(fd, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nAction=");
  close(fd);
  expect_alive();
}

TEST_F(Gateway, LongPollsDoNotHoldThreads) {
  ASSERT_EQ(exchange(json_request("CreateQueue", R"({"QueueName":"lp"})")).status, 200);
  const std::string q = R"("QueueUrl":"http://localhost/000000000000/lp")";
  // Far more parked receives than gateway threads (2)...
  std::vector<int> parked;
  for (int i = 0; i < 16; ++i) {
    int fd = connect_socket();
    send_all(fd, json_request("ReceiveMessage", "{" + q + R"(,"WaitTimeSeconds":3})"));
    parked.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // ...and other requests are still answered at once.
  const auto t0 = Clock::now();
  EXPECT_EQ(exchange(json_request("SendMessage", "{" + q + R"(,"MessageBody":"one"})")).status, 200);
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(1500));  // blocked: ~3 s
  int got = 0, empty = 0;
  for (int fd : parked) {
    std::string buf;
    Response r = read_response(fd, &buf);
    EXPECT_EQ(r.status, 200);
    json j = json::parse(r.body, nullptr, false);
    if (j.contains("Messages")) ++got;
    else ++empty;
    close(fd);
  }
  EXPECT_EQ(got, 1);  // exactly one parked receive got the message
  EXPECT_EQ(empty, 15);
  expect_alive();
}

}  // namespace
}  // namespace shmq::testing
