// DESIGN.md invariant 6: bad input gets a clear error (SQS's error code) and
// changes nothing. Each test checks the refused request left the queue as it
// was.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "libclient/src/control_channel.h"
#include "shm/validation.h"
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





// A broker, a queue "q" holding one visible message and one leased message
// (whose handle the tests forge), and a second queue "other".
class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = broker_.connect();
    ASSERT_TRUE(client_);
    auto q = client_->create_queue("q");
    ASSERT_TRUE(q.ok()) << q.status().to_string();
    q_ = q.value();
    ASSERT_TRUE(q_->send("leased-one").ok());
    auto got = receive_now(*q_, 1, 300);
    ASSERT_EQ(got.size(), 1u);
    leased_ = got[0].receipt_handle;
    ASSERT_TRUE(q_->send("visible-one").ok());
    ASSERT_EQ(counts(*q_), (Counts{"1", "1", "0"}));
  }

  // The queue is exactly as SetUp left it, and the real handle still works.
  void ExpectUnchanged() {
    EXPECT_EQ(counts(*q_), (Counts{"1", "1", "0"}));
  }
  void ExpectRealHandleStillWorks() {
    Status s = q_->remove(leased_.str());
    EXPECT_TRUE(s.ok()) << s.to_string();
    EXPECT_EQ(counts(*q_), (Counts{"1", "0", "0"}));
  }

  testing::BrokerProcess broker_;
  std::shared_ptr<Client> client_;
  std::shared_ptr<Queue> q_;
  ReceiptHandle leased_;
};

// ---------------------------------------------------------------------------
// Receipt handles.

TEST_F(BadInput, GarbageReceiptHandle) {
  Status d = q_->remove("garbage");
  EXPECT_EQ(d.code(), "ReceiptHandleIsInvalid") << d.to_string();
  Status c = q_->change_visibility("garbage", 0);
  EXPECT_EQ(c.code(), "ReceiptHandleIsInvalid") << c.to_string();
  EXPECT_EQ(q_->remove("").code(), "ReceiptHandleIsInvalid");
  EXPECT_EQ(q_->parse_receipt_handle("garbage").status().code(), "ReceiptHandleIsInvalid");
  ExpectUnchanged();
  ExpectRealHandleStillWorks();
}

TEST_F(BadInput, TruncatedReceiptHandle) {
  const std::string h = leased_.str();
  ASSERT_GT(h.size(), 2u);
  for (size_t len : {h.size() - 1, h.size() / 2, size_t(1)}) {
    const std::string t = h.substr(0, len);
    Status d = q_->remove(t);
    EXPECT_EQ(d.code(), "ReceiptHandleIsInvalid") << "length " << len << ": " << d.to_string();
    Status c = q_->change_visibility(t, 0);
    EXPECT_EQ(c.code(), "ReceiptHandleIsInvalid") << "length " << len << ": " << c.to_string();
  }
  // One character too many is not a handle either.
  EXPECT_EQ(q_->remove(h + "0").code(), "ReceiptHandleIsInvalid");
  ExpectUnchanged();
  ExpectRealHandleStillWorks();
}

TEST_F(BadInput, OneCharacterModifiedReceiptHandle) {
  const std::string h = leased_.str();
  int accepted = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    for (char repl : {'0', '7', 'f', 'z', 'A'}) {
      if (h[i] == repl) continue;
      std::string forged = h;
      forged[i] = repl;
      Status c = q_->change_visibility(forged, 0);
      if (c.code() != "ReceiptHandleIsInvalid") {
        ++accepted;
        ADD_FAILURE() << "change_visibility accepted forged handle " << forged << " (position " << i
                      << "): " << c.to_string();
      }
      Status d = q_->remove(forged);
      if (d.code() != "ReceiptHandleIsInvalid") {
        ++accepted;
        ADD_FAILURE() << "remove accepted forged handle " << forged << " (position " << i
                      << "): " << d.to_string();
      }
      if (accepted > 5) return;
    }
  }
  ExpectUnchanged();
  ExpectRealHandleStillWorks();
}

TEST_F(BadInput, ModifiedReceiptHandleStruct) {
  // The struct form is checked as well as the text.
  for (int field = 0; field < 5; ++field) {
    ReceiptHandle forged = leased_;
    switch (field) {
      case 0: forged.queue_uid ^= 1; break;
      case 1: forged.slot ^= 1; break;
      case 2: forged.gen ^= 1; break;
      case 3: forged.check ^= 1; break;
      case 4: forged.seq ^= 1; break;
    }
    Status d = q_->remove(forged);
    EXPECT_EQ(d.code(), "ReceiptHandleIsInvalid") << "field " << field << ": " << d.to_string();
    Status c = q_->change_visibility(forged, 0);
    EXPECT_EQ(c.code(), "ReceiptHandleIsInvalid") << "field " << field << ": " << c.to_string();
  }
  ExpectUnchanged();
  ExpectRealHandleStillWorks();
}

TEST_F(BadInput, ReceiptHandleOfAnotherQueue) {
  auto other = client_->create_queue("other");
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->send("elsewhere").ok());
  auto got = receive_now(**other, 1, 300);
  ASSERT_EQ(got.size(), 1u);
  const ReceiptHandle foreign = got[0].receipt_handle;

  Status d = q_->remove(foreign.str());
  EXPECT_EQ(d.code(), "ReceiptHandleIsInvalid") << d.to_string();
  EXPECT_EQ(q_->remove(foreign).code(), "ReceiptHandleIsInvalid");
  Status c = q_->change_visibility(foreign.str(), 0);
  EXPECT_EQ(c.code(), "ReceiptHandleIsInvalid") << c.to_string();
  EXPECT_EQ(q_->change_visibility(foreign, 0).code(), "ReceiptHandleIsInvalid");
  // And the other way round.
  EXPECT_EQ((*other)->remove(leased_.str()).code(), "ReceiptHandleIsInvalid");

  ExpectUnchanged();
  EXPECT_EQ(counts(**other), (Counts{"0", "1", "0"}));
  ExpectRealHandleStillWorks();
  EXPECT_TRUE((*other)->remove(foreign).ok());
}

// ---------------------------------------------------------------------------
// Message bodies.

TEST_F(BadInput, BodyOverLoweredMaximumMessageSize) {
  auto small = client_->create_queue("small", {{"MaximumMessageSize", "1024"}});
  ASSERT_TRUE(small.ok()) << small.status().to_string();
  auto r = (*small)->send(std::string(1025, 'a'));
  EXPECT_EQ(r.status().code(), "InvalidParameterValue") << r.status().to_string();
  EXPECT_NE(r.status().message().find("1024"), std::string::npos) << r.status().message();
  EXPECT_EQ(counts(**small), (Counts{"0", "0", "0"}));
  // Attributes count toward the size: 1000 + "k"(1) + "String"(6) + 18 = 1025.
  MessageAttributes a{{"k", {"String", std::string(18, 'v'), ""}}};
  auto ra = (*small)->send(std::string(1000, 'b'), attributes_of(&a));
  EXPECT_EQ(ra.status().code(), "InvalidParameterValue") << ra.status().to_string();
  EXPECT_EQ(counts(**small), (Counts{"0", "0", "0"}));
  // Exactly the maximum is fine.
  EXPECT_TRUE((*small)->send(std::string(1024, 'c')).ok());
  MessageAttributes a17{{"k", {"String", std::string(17, 'v'), ""}}};
  EXPECT_TRUE((*small)->send(std::string(1000, 'd'), attributes_of(&a17)).ok());
  EXPECT_EQ(counts(**small), (Counts{"2", "0", "0"}));
  ExpectUnchanged();
}

TEST_F(BadInput, BodyOverDefaultMaximumMessageSize) {
  auto r = q_->send(std::string(1048576 + 1, 'x'));
  EXPECT_EQ(r.status().code(), "InvalidParameterValue") << r.status().to_string();
  ExpectUnchanged();
  auto ok = q_->send(std::string(1048576, 'y'));
  EXPECT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(counts(*q_), (Counts{"2", "1", "0"}));
}

// Ten one-letter-valued String attributes; *counted: the bytes SQS counts for them.
MessageAttributes ten_attributes(size_t* counted) {
  MessageAttributes a;
  *counted = 0;
  for (int i = 0; i < 10; ++i) {
    const std::string name = "a" + std::to_string(i);
    a[name] = {"String", "v", ""};
    *counted += name.size() + 6 + 1;
  }
  return a;
}

// The one message of this body size that receives bring (leased), or none.
std::vector<Message> receive_body_of_size(Queue& q, size_t size) {
  std::vector<Message> got;
  for (int i = 0; i < 100 && got.empty(); ++i) {
    for (auto& m : receive_now(q, 10))
      if (m.body.size() == size) got.push_back(m);
  }
  return got;
}

// SQS counts a message's size as its body plus the attributes' names, types
// and values: a message of exactly the maximum with ten attributes is valid,
// whatever the attributes' encoding takes in the segment (the reserve in
// each payload), and one byte more is not.
TEST_F(BadInput, MaximumSizeWithTenAttributesFits) {
  size_t attrs = 0;
  const MessageAttributes a = ten_attributes(&attrs);
  auto over = q_->send(std::string(1048576 - attrs + 1, 'o'), attributes_of(&a));
  EXPECT_EQ(over.status().code(), "InvalidParameterValue") << over.status().to_string();
  ExpectUnchanged();
  auto exact = q_->send(std::string(1048576 - attrs, 'e'), attributes_of(&a));
  ASSERT_TRUE(exact.ok()) << exact.status().to_string();
  auto got = receive_body_of_size(*q_, 1048576 - attrs);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].attributes().size(), 10u);
  EXPECT_EQ(got[0].attributes().at("a9").string_value, "v");
}

// Message system attributes count toward no size limit either: the largest
// message with ten attributes still fits with the longest AWSTraceHeader
// (the largest class's kSystemAttributesReserve), and a longer header is
// refused with nothing enqueued.
TEST_F(BadInput, MaximumSizeFitsWithTheLongestTraceHeader) {
  size_t attrs = 0;
  const MessageAttributes a = ten_attributes(&attrs);
  SendOptions o = attributes_of(&a);
  const std::string too_long(shm::kMaxTraceHeaderLength + 1, 't');
  o.aws_trace_header = too_long;
  auto over = q_->send("small", o);
  EXPECT_EQ(over.status().code(), "InvalidParameterValue") << over.status().to_string();
  ExpectUnchanged();
  const std::string longest(shm::kMaxTraceHeaderLength, 't');
  o.aws_trace_header = longest;
  auto exact = q_->send(std::string(1048576 - attrs, 'e'), o);
  ASSERT_TRUE(exact.ok()) << exact.status().to_string();
  auto got = receive_body_of_size(*q_, 1048576 - attrs);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].attributes().size(), 10u);
  EXPECT_EQ(got[0].aws_trace_header, longest);
}

TEST_F(BadInput, EmptyBody) {
  auto r = q_->send("");
  EXPECT_EQ(r.status().code(), "MissingParameter") << r.status().to_string();
  ExpectUnchanged();
}

TEST_F(BadInput, InvalidCharactersInBody) {
  const std::vector<std::string> bad = {
      "a\x01" "b",         // control character
      std::string("nul\0", 4),
      "\x1f",
      "abc\xff",           // not UTF-8
      "\xc3",              // truncated sequence
      "\xc0\xaf",          // overlong
      "\xed\xa0\x80",      // a surrogate
      "\xef\xbf\xbe",      // U+FFFE
  };
  for (const auto& body : bad) {
    auto r = q_->send(body);
    EXPECT_EQ(r.status().code(), "InvalidMessageContents")
        << ::testing::PrintToString(body) << ": " << r.status().to_string();
  }
  ExpectUnchanged();
  // Tab, newline, carriage return and multi-byte characters are allowed.
  EXPECT_TRUE(q_->send("tab\there\nnew\rline \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80").ok());
}

// ---------------------------------------------------------------------------
// Message attributes.

TEST_F(BadInput, TooManyMessageAttributes) {
  MessageAttributes a;
  for (int i = 0; i < 11; ++i) a["a" + std::to_string(i)] = {"String", "v", ""};
  auto r = q_->send("body", attributes_of(&a));
  EXPECT_EQ(r.status().code(), "InvalidParameterValue") << r.status().to_string();
  a.erase("a10");
  EXPECT_EQ(counts(*q_), (Counts{"1", "1", "0"}));
  EXPECT_TRUE(q_->send("body", attributes_of(&a)).ok());  // 10 is fine
}

TEST_F(BadInput, ReservedAttributeName) {
  for (const char* name : {"AWS.x", "aws.x", "Amazon.y", ".lead", "trail.", "a..b", "sp ace"}) {
    MessageAttributes a{{name, {"String", "v", ""}}};
    auto r = q_->send("body", attributes_of(&a));
    EXPECT_EQ(r.status().code(), "InvalidParameterValue") << name << ": " << r.status().to_string();
  }
  ExpectUnchanged();
}

TEST_F(BadInput, EmptyAttributeValue) {
  MessageAttributes s{{"k", {"String", "", ""}}};
  auto r = q_->send("body", attributes_of(&s));
  EXPECT_EQ(r.status().code(), "InvalidParameterValue") << r.status().to_string();
  MessageAttributes b{{"k", {"Binary", "", ""}}};
  auto rb = q_->send("body", attributes_of(&b));
  EXPECT_EQ(rb.status().code(), "InvalidParameterValue") << rb.status().to_string();
  MessageAttributes t{{"k", {"Text", "v", ""}}};
  auto rt = q_->send("body", attributes_of(&t));
  EXPECT_EQ(rt.status().code(), "InvalidParameterValue") << rt.status().to_string();
  MessageAttributes n{{"k", {"Number", "twelve", ""}}};
  auto rn = q_->send("body", attributes_of(&n));
  EXPECT_EQ(rn.status().code(), "InvalidParameterValue") << rn.status().to_string();
  ExpectUnchanged();
}

// ---------------------------------------------------------------------------
// Queue names and attributes.

TEST_F(BadInput, InvalidQueueNames) {
  const std::vector<std::string> bad = {std::string(81, 'n'), "bad name", "bad.name", "bad/name",
                                        "bad:name", "b\xc3\xa9", "", "standard.fifo"};
  for (const auto& name : bad) {
    auto r = client_->create_queue(name);
    EXPECT_EQ(r.status().code(), "InvalidParameterValue")
        << ::testing::PrintToString(name) << ": " << r.status().to_string();
  }
  auto urls = client_->list_queues();
  ASSERT_TRUE(urls.ok());
  std::vector<std::string> names;
  for (const auto& u : *urls) names.push_back(Client::queue_name_from_url(u));
  EXPECT_EQ(names, (std::vector<std::string>{"q"})) << "a refused create_queue made a queue";
  // 80 characters of the allowed set is fine.
  auto longest = client_->create_queue(std::string(78, 'L') + "_-");
  EXPECT_TRUE(longest.ok()) << longest.status().to_string();
  ExpectUnchanged();
}

TEST_F(BadInput, UnknownQueueAttribute) {
  auto r = client_->create_queue("newq", {{"NoSuchAttribute", "1"}});
  EXPECT_EQ(r.status().code(), "InvalidAttributeName") << r.status().to_string();
  EXPECT_EQ(client_->open_queue("newq").status().code(), "QueueDoesNotExist");
  Status s = q_->set_attributes({{"NoSuchAttribute", "1"}});
  EXPECT_EQ(s.code(), "InvalidAttributeName") << s.to_string();
  auto g = q_->get_attributes({"NoSuchAttribute"});
  EXPECT_EQ(g.status().code(), "InvalidAttributeName") << g.status().to_string();
  // Known names this queue does not show are no error, only absent.
  auto known = q_->get_attributes({"RedrivePolicy", "RedriveAllowPolicy", "Policy", "FifoQueue",
                                   "ContentBasedDeduplication", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds"});
  ASSERT_TRUE(known.ok()) << known.status().to_string();
  EXPECT_TRUE(known->empty());
  // And every name All shows may be asked for by name.
  const auto all = q_->get_attributes({"All"});
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  for (const auto& [name, value] : all.value()) {
    EXPECT_TRUE(shm::is_known_queue_attribute(name)) << name;
    auto one = q_->get_attributes({name});
    ASSERT_TRUE(one.ok()) << name << ": " << one.status().to_string();
    EXPECT_EQ(one->size(), 1u) << name;
  }
  ExpectUnchanged();
}

TEST_F(BadInput, VisibilityTimeoutAttributeOutOfRange) {
  auto r = client_->create_queue("vt", {{"VisibilityTimeout", "43201"}});
  EXPECT_EQ(r.status().code(), "InvalidAttributeValue") << r.status().to_string();
  EXPECT_EQ(client_->open_queue("vt").status().code(), "QueueDoesNotExist");
  for (const char* v : {"43201", "-1", "abc", ""}) {
    Status s = q_->set_attributes({{"VisibilityTimeout", v}});
    EXPECT_EQ(s.code(), "InvalidAttributeValue") << "'" << v << "': " << s.to_string();
  }
  // A refused set changes no attribute, not even the valid ones beside it.
  Status mixed = q_->set_attributes({{"DelaySeconds", "5"}, {"VisibilityTimeout", "43201"}});
  EXPECT_EQ(mixed.code(), "InvalidAttributeValue") << mixed.to_string();
  auto a = q_->get_attributes({"VisibilityTimeout", "DelaySeconds"});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.value()["VisibilityTimeout"], "30");
  EXPECT_EQ(a.value()["DelaySeconds"], "0");
  EXPECT_TRUE(q_->set_attributes({{"VisibilityTimeout", "43200"}}).ok());
  ExpectUnchanged();
}

// ---------------------------------------------------------------------------
// ReceiveMessage parameters.

TEST_F(BadInput, ReceiveParametersOutOfRange) {
  auto r11 = q_->receive({.max_messages = 11, .wait_time_seconds = 0});
  EXPECT_EQ(r11.status().code(), "InvalidParameterValue") << r11.status().to_string();
  auto r0 = q_->receive({.max_messages = 0, .wait_time_seconds = 0});
  EXPECT_EQ(r0.status().code(), "InvalidParameterValue") << r0.status().to_string();
  auto w21 = q_->receive({.max_messages = 1, .wait_time_seconds = 21});
  EXPECT_EQ(w21.status().code(), "InvalidParameterValue") << w21.status().to_string();
  auto v = q_->receive({.max_messages = 1, .wait_time_seconds = 0, .visibility_timeout = 43201});
  EXPECT_EQ(v.status().code(), "InvalidParameterValue") << v.status().to_string();
  // Nothing was leased by the refused receives.
  ExpectUnchanged();
}

// ---------------------------------------------------------------------------
// Batches.

std::vector<SendBatchEntry> entries(int n, const std::string& prefix = "e") {
  std::vector<SendBatchEntry> out;
  for (int i = 0; i < n; ++i) out.push_back(batch_entry(prefix + std::to_string(i), "b" + std::to_string(i)));
  return out;
}

std::vector<BatchHandleEntry> handle_entries(int n, const std::string& handle) {
  std::vector<BatchHandleEntry> out;
  for (int i = 0; i < n; ++i) out.push_back({"h" + std::to_string(i), handle, 0});
  return out;
}

TEST_F(BadInput, BatchTooManyEntries) {
  auto s = q_->send_batch(entries(11));
  EXPECT_EQ(s.status().code(), "TooManyEntriesInBatchRequest") << s.status().to_string();
  auto d = q_->remove_batch(handle_entries(11, leased_.str()));
  EXPECT_EQ(d.status().code(), "TooManyEntriesInBatchRequest") << d.status().to_string();
  auto c = q_->change_visibility_batch(handle_entries(11, leased_.str()));
  EXPECT_EQ(c.status().code(), "TooManyEntriesInBatchRequest") << c.status().to_string();
  ExpectUnchanged();
  ExpectRealHandleStillWorks();
}

TEST_F(BadInput, BatchDuplicateIds) {
  auto e = entries(3);
  e[2].id = e[0].id;
  auto s = q_->send_batch(e);
  EXPECT_EQ(s.status().code(), "BatchEntryIdsNotDistinct") << s.status().to_string();
  auto h = handle_entries(2, leased_.str());
  h[1].id = h[0].id;
  auto d = q_->remove_batch(h);
  EXPECT_EQ(d.status().code(), "BatchEntryIdsNotDistinct") << d.status().to_string();
  auto c = q_->change_visibility_batch(h);
  EXPECT_EQ(c.status().code(), "BatchEntryIdsNotDistinct") << c.status().to_string();
  ExpectUnchanged();
  ExpectRealHandleStillWorks();
}

TEST_F(BadInput, BatchEmpty) {
  auto s = q_->send_batch({});
  EXPECT_EQ(s.status().code(), "EmptyBatchRequest") << s.status().to_string();
  auto d = q_->remove_batch({});
  EXPECT_EQ(d.status().code(), "EmptyBatchRequest") << d.status().to_string();
  auto c = q_->change_visibility_batch({});
  EXPECT_EQ(c.status().code(), "EmptyBatchRequest") << c.status().to_string();
  ExpectUnchanged();
}

TEST_F(BadInput, BatchInvalidEntryId) {
  for (const std::string& id :
       {std::string("bad id"), std::string("bad.id"), std::string(), std::string(81, 'i')}) {
    auto e = entries(2);
    e[1].id = id;
    auto s = q_->send_batch(e);
    EXPECT_EQ(s.status().code(), "InvalidBatchEntryId") << "'" << id << "': " << s.status().to_string();
    auto h = handle_entries(2, leased_.str());
    h[0].id = id;
    auto d = q_->remove_batch(h);
    EXPECT_EQ(d.status().code(), "InvalidBatchEntryId") << "'" << id << "': " << d.status().to_string();
  }
  ExpectUnchanged();
  ExpectRealHandleStillWorks();
}

TEST_F(BadInput, BatchWithOneBadEntrySendsTheRest) {
  auto e = entries(3);
  e[1].body = "";
  e[0].body = "hello";
  auto r = q_->send_batch(e);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->successful.size(), 2u);
  EXPECT_EQ(r->successful[0].id, "e0");
  EXPECT_EQ(r->successful[0].index, 0u);
  EXPECT_EQ(r->successful[1].id, "e2");
  EXPECT_EQ(r->successful[1].index, 2u);
  ASSERT_EQ(r->failed.size(), 1u);
  EXPECT_EQ(r->failed[0].id, "e1");
  EXPECT_EQ(r->failed[0].code, "MissingParameter");
  EXPECT_TRUE(r->failed[0].sender_fault);
  EXPECT_EQ(counts(*q_), (Counts{"3", "1", "0"}));

  // Delete batch: a good handle and a garbage one.
  auto got = receive_now(*q_, 1, 300);
  ASSERT_EQ(got.size(), 1u);
  auto d = q_->remove_batch({{"good", got[0].receipt_handle.str(), 0}, {"bad", "garbage", 0}});
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(d->successful, (std::vector<std::string>{"good"}));
  ASSERT_EQ(d->failed.size(), 1u);
  EXPECT_EQ(d->failed[0].id, "bad");
  EXPECT_EQ(d->failed[0].code, "ReceiptHandleIsInvalid");
  EXPECT_EQ(counts(*q_), (Counts{"2", "1", "0"}));

  // Change visibility batch: the real handle to 0, a garbage one.
  auto c = q_->change_visibility_batch({{"bad", "garbage", 0}, {"real", leased_.str(), 0}});
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->successful, (std::vector<std::string>{"real"}));
  ASSERT_EQ(c->failed.size(), 1u);
  EXPECT_EQ(c->failed[0].code, "ReceiptHandleIsInvalid");
  EXPECT_EQ(counts(*q_), (Counts{"3", "0", "0"}));
}

// ---------------------------------------------------------------------------
// Raw, malformed control requests.

class RawSocket {
 public:
  explicit RawSocket(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), std::min(path.size(), sizeof(addr.sun_path) - 1));
    connected_ = fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    timeval tv{5, 0};
    if (fd_ >= 0) setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~RawSocket() {
    if (fd_ >= 0) close(fd_);
  }
  bool connected() const { return connected_; }
  // Sends one message and returns the reply ("" when none came).
  std::string ask(const std::string& text) {
    if (send(fd_, text.data(), text.size(), MSG_NOSIGNAL) != ssize_t(text.size())) return "";
    std::string buf(1 << 20, '\0');
    ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
    if (n <= 0) return "";
    buf.resize(size_t(n));
    return buf;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

// The reply is a JSON error: ok false and an SQS error code.
void ExpectErrorReply(const std::string& request, const std::string& reply) {
  SCOPED_TRACE("request: " + request);
  ASSERT_FALSE(reply.empty()) << "no reply: the broker closed the connection or died";
  auto j = nlohmann::json::parse(reply, nullptr, false);
  ASSERT_TRUE(j.is_object()) << reply;
  EXPECT_EQ(j.value("ok", true), false) << reply;
  ASSERT_TRUE(j.contains("code") && j["code"].is_string()) << reply;
  EXPECT_FALSE(j["code"].get<std::string>().empty()) << reply;
}

TEST_F(BadInput, MalformedControlRequests) {
  const pid_t broker_pid = broker_.pid();
  {
    RawSocket raw(broker_.socket());
    ASSERT_TRUE(raw.connected()) << std::strerror(errno);
    for (const std::string& req : {std::string("not json"), std::string("{}"), std::string("[]"),
                                  std::string("\"hello\""), std::string("{\"op\":5}"),
                                  std::string(R"({"op":"hello","version":99})"),
                                  std::string(R"({"op":"hello","version":"1"})"),
                                  std::string(R"({"op":"create_queue","name":5})"),
                                  std::string("{\"op\":\"hel"), std::string("\xff\xfe\x00", 3)}) {
      ExpectErrorReply(req, raw.ask(req));
    }
  }
  {
    // After a proper hello: requests with fields of the wrong type.
    RawSocket raw(broker_.socket());
    ASSERT_TRUE(raw.connected());
    const std::string hello = nlohmann::json{{"op", "hello"}, {"version", wire::kProtocolVersion}}.dump();
    auto hr = nlohmann::json::parse(raw.ask(hello), nullptr, false);
    ASSERT_TRUE(hr.is_object());
    ASSERT_EQ(hr.value("ok", false), true) << hr.dump();
    for (const std::string& req : {
             std::string(R"({"op":"create_queue","name":5})"),
             std::string(R"({"op":"create_queue","name":["q"]})"),
             std::string(R"({"op":"create_queue","name":"typed","attributes":"VisibilityTimeout=5"})"),
             std::string(R"({"op":"open_queue","name":null})"),
             std::string(R"({"op":"open_queue"})"),
             std::string(R"({"op":"get_queue_attributes","name":"q","names":"All"})"),
             std::string(R"({"op":"set_queue_attributes","name":"q","attributes":[1,2]})"),
             std::string(R"({"op":"list_queues","prefix":7})"),
             std::string(R"({"op":"advance_clock","ms":"lots"})"),
             std::string(R"({"op":"advance_clock","ms":-5})"),
             std::string(R"({"op":"add_permission","name":"q","label":"x","principal":"uid:1","actions":"send"})"),
             std::string(R"({"op":"add_permission","name":"q","label":7,"principal":"uid:1","actions":["send"]})"),
             std::string(R"({"op":"no_such_op","name":"q"})"),
             std::string("not json"),
         }) {
      ExpectErrorReply(req, raw.ask(req));
    }
    // The connection still serves a good request after all that.
    auto ok = nlohmann::json::parse(raw.ask(R"({"op":"get_queue_url","name":"q"})"), nullptr, false);
    EXPECT_TRUE(ok.is_object() && ok.value("ok", false)) << ok.dump();
  }
  // The broker is the same process, still up, and nothing was created.
  EXPECT_EQ(broker_.pid(), broker_pid);
  EXPECT_EQ(kill(broker_pid, 0), 0);
  auto fresh = Client::connect(broker_.socket());
  ASSERT_TRUE(fresh.ok()) << fresh.status().to_string();
  auto urls = (*fresh)->list_queues();
  ASSERT_TRUE(urls.ok());
  ASSERT_EQ(urls->size(), 1u);
  EXPECT_EQ(Client::queue_name_from_url(urls.value()[0]), "q");
  auto attrs = (*fresh)->get_queue_attributes("q", {"VisibilityTimeout"});
  ASSERT_TRUE(attrs.ok());
  EXPECT_EQ(attrs.value()["VisibilityTimeout"], "30");
  EXPECT_TRUE((*fresh)->create_queue("afterwards").ok());
  auto q = (*fresh)->open_queue("q");
  ASSERT_TRUE(q.ok());
  ExpectUnchanged();
  auto got = receive_now(**q);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "visible-one");
}

}  // namespace
}  // namespace shmq
