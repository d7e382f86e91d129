// The basic SQS cycle through a real broker: send, receive, delete.
#include <gtest/gtest.h>

#include "tests/support/broker_process.h"

namespace shmq {
namespace {

TEST(RoundTrip, SendReceiveDelete) {
  testing::BrokerProcess broker;
  auto client = broker.connect();
  auto q = client->create_queue("orders");
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  auto sent = (*q)->send("hello");
  ASSERT_TRUE(sent.ok()) << sent.status().to_string();

  auto got = (*q)->receive();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  const Message& m = got.value()[0];
  EXPECT_EQ(m.body, "hello");
  EXPECT_EQ(m.message_id, sent->message_id);
  EXPECT_EQ(m.receive_count, 1u);

  // Leased: nobody else gets it.
  auto again = (*q)->receive();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->size(), 0u);

  ASSERT_TRUE((*q)->remove(m.receipt_handle.str()).ok());
  // Deleting twice is not an error (SQS).
  EXPECT_TRUE((*q)->remove(m.receipt_handle).ok());

  auto attrs = (*q)->get_attributes();
  ASSERT_TRUE(attrs.ok());
  EXPECT_EQ(attrs.value()["ApproximateNumberOfMessages"], "0");
  EXPECT_EQ(attrs.value()["ApproximateNumberOfMessagesNotVisible"], "0");
}

TEST(RoundTrip, OpenFromSecondClientAndListQueues) {
  testing::BrokerProcess broker;
  auto a = broker.connect();
  ASSERT_TRUE(a->create_queue("alpha").ok());
  ASSERT_TRUE(a->create_queue("beta").ok());
  auto b = broker.connect();
  auto q = b->open_queue("alpha");
  ASSERT_TRUE(q.ok());
  auto urls = b->list_queues("al");
  ASSERT_TRUE(urls.ok());
  ASSERT_EQ(urls->size(), 1u);
  EXPECT_EQ(Client::queue_name_from_url(urls.value()[0]), "alpha");
  EXPECT_EQ(b->open_queue("gamma").status().code(), "QueueDoesNotExist");
}

}  // namespace
}  // namespace shmq
